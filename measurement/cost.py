"""Computational cost of a catalogue network: multiply-accumulates, FLOPs and working-set bytes.

These are the raw quantities the energy model turns into features. Conventions (float32 unless told):

- MACs per datum: ``sum(fan_in * width)`` over the Linear layers (biases and ReLU are ignored, as usual).
- Training FLOPs per datum: ``6 * MACs`` (forward 2, backward 4: gradients for inputs and weights).
- Inference FLOPs per datum: ``2 * MACs``.
- Training working set per step (batch B): parameters + gradients + Adam's two moments (4 copies of the
  parameters) + the activations kept for the backward pass, ``B * (input + sum(widths))`` values.
- Inference working set per step: the parameters plus the largest adjacent pair of activation buffers
  ``B * max(fan_in + width)``, since a forward-only pass frees each input once the layer is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from measurement.architecture import Architecture

FLOAT32_BYTES = 4
ADAM_COPIES = 4
"""Parameters, gradients, and Adam's first and second moments."""


@dataclass(frozen=True)
class Cost:
    """Per-datum and per-step cost of one architecture at one batch size.

    Attributes:
        batch_size: samples per step.
        macs_per_datum: multiply-accumulates of one forward pass for one datum.
        train_flops_per_datum: FLOPs of one training step, per datum (forward + backward).
        inference_flops_per_datum: FLOPs of one forward pass, per datum.
        param_bytes: bytes of the parameters alone.
        activation_bytes: bytes of the activations kept for backward over one batch.
        train_working_set_bytes: parameters, gradients, Adam state and activations for one step.
        inference_working_set_bytes: parameters and the live activation buffers of a forward pass.
    """

    batch_size: int
    macs_per_datum: int
    train_flops_per_datum: int
    inference_flops_per_datum: int
    param_bytes: int
    activation_bytes: int
    train_working_set_bytes: int
    inference_working_set_bytes: int


def cost(arch: Architecture, batch_size: int, dtype_bytes: int = FLOAT32_BYTES) -> Cost:
    """Compute the cost of ``arch`` for steps of ``batch_size`` samples.

    Raises:
        ValueError: if ``batch_size`` or ``dtype_bytes`` is not a positive integer.
    """
    if batch_size < 1 or dtype_bytes < 1:
        raise ValueError(f"batch size and dtype bytes must be positive, got {batch_size}, {dtype_bytes}")
    fan_ins = (arch.input_dim, *arch.widths[:-1])
    macs = sum(f * w for f, w in zip(fan_ins, arch.widths, strict=True))
    param_bytes = arch.params * dtype_bytes
    activation_bytes = batch_size * (arch.input_dim + sum(arch.widths)) * dtype_bytes
    live_pair = max(f + w for f, w in zip(fan_ins, arch.widths, strict=True))
    return Cost(
        batch_size=batch_size,
        macs_per_datum=macs,
        train_flops_per_datum=6 * macs,
        inference_flops_per_datum=2 * macs,
        param_bytes=param_bytes,
        activation_bytes=activation_bytes,
        train_working_set_bytes=ADAM_COPIES * param_bytes + activation_bytes,
        inference_working_set_bytes=param_bytes + batch_size * live_pair * dtype_bytes,
    )


def describe(arch: Architecture, batch_size: int = 256) -> dict:
    """One flat, JSON-ready row: the architecture, its realised size and its cost at ``batch_size``."""
    c = cost(arch, batch_size)
    return {
        "label": arch.label,
        "shape": arch.shape.value,
        "depth": arch.depth,
        "target_size": arch.target_size,
        "input_dim": arch.input_dim,
        "output_dim": arch.output_dim,
        "widths": list(arch.widths),
        "params": arch.params,
        "relative_error": round(arch.relative_error, 6),
        "off_target": arch.off_target,
        "batch_size": batch_size,
        "macs_per_datum": c.macs_per_datum,
        "train_flops_per_datum": c.train_flops_per_datum,
        "inference_flops_per_datum": c.inference_flops_per_datum,
        "param_bytes": c.param_bytes,
        "activation_bytes": c.activation_bytes,
        "train_working_set_bytes": c.train_working_set_bytes,
        "inference_working_set_bytes": c.inference_working_set_bytes,
    }
