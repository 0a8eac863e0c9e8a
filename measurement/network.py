"""Build the torch module for a catalogue architecture (torch is imported only here)."""

from __future__ import annotations

import torch
from torch import nn

from measurement.architecture import Architecture


class ButterMLP(nn.Module):
    """A fully connected network with ReLU hidden layers and a linear output layer.

    For ``rectangle_residual`` every hidden layer after the first adds its input to its ReLU output
    (an identity skip; widths are equal so no projection, no extra parameters). The output layer
    returns logits: the loss function applies softmax / sigmoid.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        fan_ins = (arch.input_dim, *arch.widths[:-1])
        self.layers = nn.ModuleList(nn.Linear(f, w) for f, w in zip(fan_ins, arch.widths, strict=True))
        self.residual = arch.shape.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the forward pass on a batch ``x`` of shape (batch, input_dim)."""
        hidden = self.layers[:-1]
        for index, layer in enumerate(hidden):
            out = torch.relu(layer(x))
            x = out + x if self.residual and index > 0 else out
        return self.layers[-1](x)


def build_module(arch: Architecture) -> ButterMLP:
    """Return a freshly initialised module whose parameter count equals ``arch.params``."""
    return ButterMLP(arch)
