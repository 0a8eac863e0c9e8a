"""Computational cost of a catalogue network: multiply-accumulates, FLOPs and working-set bytes.

These are the raw quantities the energy model turns into features. Conventions (float32 unless told):

- MACs per datum: ``sum(fan_in * width)`` over the Linear layers (biases and ReLU are ignored, as usual).
- Training FLOPs per datum: ``6 * MACs`` (forward 2, backward 4: gradients for inputs and weights).
- Inference FLOPs per datum: ``2 * MACs``.
- Training working set per step (batch B): parameters + gradients + Adam's two moments (4 copies of the
  parameters) + the activations kept for the backward pass, ``B * (input + sum(widths))`` values.
- Inference working set per step: the parameters plus the largest adjacent pair of activation buffers
  ``B * max(fan_in + width)``, since a forward-only pass frees each input once the layer is done.

Memory traffic per datum (the energy model's traffic terms; values counted once per read or write):

- Activation traffic, training: the batch gather reads and writes the input (2 I: shuffled rows are
  copied); the forward pass reads each layer's input and writes its output (I + sum(widths[:-1]) +
  sum(widths)); the backward pass reads each layer's stored input and its output gradient and writes its
  input gradient (all but the first layer's): (I + sum(widths[:-1])) + sum(widths) + sum(widths[:-1]).
  Each hidden layer's ReLU is its own kernel: forward it reads the layer's output and writes its
  activation (2 H, H = sum(widths[:-1])), backward it reads the activation and the gradient and writes the
  gradient (3 H); a residual skip (``rectangle_residual``, every hidden layer after the first, widths R)
  adds two tensors into a third, forward (3 R) and backward (3 R). Inference: the forward pass only (the
  harness slices contiguous test rows: a view, no gather). Without the ReLU traffic, which grows with the
  hidden widths and not the input, the per-byte cost learnt at one input width mispriced the others.
- Optimizer (parameter) traffic, training: per step the forward and backward passes read the weights twice and
  write their gradients (3 P); Adam reads parameters, gradients and both moments and writes parameters and
  moments (7 P); the gradients are dropped, not zeroed (``zero_grad(set_to_none=True)``): 10 P values per
  step, so 10 P / B per datum. Inference: the weights are read once per step, P / B per datum.
- GEMM tail FLOPs per datum: the FLOPs of output columns outside whole tiles of ``GEMM_TILE_COLUMNS``. A
  GEMM's micro-kernel fills a tile of 16 float32 columns of its output (one 512-bit vector) at a time; the
  remaining ``n mod 16`` columns (all of them when n < 16) run a masked or scalar path at a third of the
  rate or less (measured here with torch's CPU matmul, 256 rows: 15 output columns 23 GFLOP/s, 16
  columns 73). Forward, a layer's output has ``width`` columns; backward, both the weight gradient
  (``width x fan_in``) and the input gradient (``B x fan_in``, all but the first layer) have ``fan_in``.
  Without it one cost per FLOP priced a 2048-input network with a 15-wide first layer at half its
  measured energy. (A 1-wide layer is a matrix-vector product, not a slow tail: such networks stay
  over-predicted, 1.3-1.4x in inference.)
- Working sets that decide each term's cache tier (after BUTTER-E's forward, backward and inter-layer working
  sets): compute, the largest single layer's GEMM operands ``f * w + B * (f + w)``; activations, what a step
  keeps live (training: every activation, ``B * (I + sum(widths))``; inference: the largest adjacent pair);
  optimizer, the parameters with what the optimizer streams with them (training: parameters, gradients and
  both moments, 4 P; inference: P).
"""

from __future__ import annotations

from dataclasses import dataclass

from measurement.architecture import Architecture

FLOAT32_BYTES = 4
ADAM_COPIES = 4
"""Parameters, gradients, and Adam's first and second moments."""
TRAIN_PARAM_PASSES = 10
"""Parameter-sized values read or written per training step: 3 by forward/backward, 7 by Adam."""
GEMM_TILE_COLUMNS = 16
"""Output columns a GEMM micro-kernel fills at once: the float32 lanes of a 512-bit vector (AVX-512). On a
256-bit machine tiles are 8 wide, so the count there also holds 8-column remainders that run at full rate
(the fitted cost of the term absorbs the average)."""


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
        train_activation_bytes_per_datum: activation bytes read and written per datum by a training step.
        inference_activation_bytes_per_datum: the same for a forward-only step.
        train_optimizer_bytes_per_datum: parameter, gradient and Adam-state bytes moved per step, / B.
        inference_optimizer_bytes_per_datum: weight bytes read per forward step, / B.
        layer_working_set_bytes: the largest single layer's GEMM operands for one step (weights, input, output).
        inference_live_activation_bytes: the largest adjacent pair of activation buffers of a forward step.
        train_tail_flops_per_datum: FLOPs of a training step outside whole GEMM output tiles, per datum.
        inference_tail_flops_per_datum: the same for a forward pass.
    """

    batch_size: int
    macs_per_datum: int
    train_flops_per_datum: int
    inference_flops_per_datum: int
    param_bytes: int
    activation_bytes: int
    train_working_set_bytes: int
    inference_working_set_bytes: int
    train_activation_bytes_per_datum: int
    inference_activation_bytes_per_datum: int
    train_optimizer_bytes_per_datum: float
    inference_optimizer_bytes_per_datum: float
    layer_working_set_bytes: int
    inference_live_activation_bytes: int
    train_tail_flops_per_datum: int
    inference_tail_flops_per_datum: int


def tail_flops_per_datum(fan_ins: tuple[int, ...], widths: tuple[int, ...]) -> tuple[int, int]:
    """FLOPs per datum of GEMM output columns outside whole tiles of ``GEMM_TILE_COLUMNS`` (module docstring).

    Args:
        fan_ins: each Linear layer's input width.
        widths: each Linear layer's output width.

    Returns:
        (training, inference): forward tails, plus for training the weight gradients' and the input
        gradients' (every layer but the first).
    """
    layers = list(zip(fan_ins, widths, strict=True))
    forward = sum(2 * f * (w % GEMM_TILE_COLUMNS) for f, w in layers)
    backward = [2 * w * (f % GEMM_TILE_COLUMNS) for f, w in layers]  # one layer's weight (or input) gradient
    return forward + sum(backward) + sum(backward[1:]), forward


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
    hidden, outputs = sum(arch.widths[:-1]), sum(arch.widths)
    skipped = sum(arch.widths[1:-1]) if arch.shape.residual else 0
    forward_values = (arch.input_dim + hidden) + outputs + 2 * hidden + 3 * skipped
    inference_values = forward_values
    backward_values = (arch.input_dim + hidden) + outputs + hidden + 3 * hidden + 3 * skipped
    train_values = 2 * arch.input_dim + forward_values + backward_values
    layer_values = max(f * w + batch_size * (f + w) for f, w in zip(fan_ins, arch.widths, strict=True))
    train_tail, inference_tail = tail_flops_per_datum(fan_ins, arch.widths)
    return Cost(
        batch_size=batch_size,
        macs_per_datum=macs,
        train_flops_per_datum=6 * macs,
        inference_flops_per_datum=2 * macs,
        param_bytes=param_bytes,
        activation_bytes=activation_bytes,
        train_working_set_bytes=ADAM_COPIES * param_bytes + activation_bytes,
        inference_working_set_bytes=param_bytes + batch_size * live_pair * dtype_bytes,
        inference_live_activation_bytes=batch_size * live_pair * dtype_bytes,
        train_activation_bytes_per_datum=train_values * dtype_bytes,
        inference_activation_bytes_per_datum=inference_values * dtype_bytes,
        train_optimizer_bytes_per_datum=TRAIN_PARAM_PASSES * param_bytes / batch_size,
        inference_optimizer_bytes_per_datum=param_bytes / batch_size,
        layer_working_set_bytes=layer_values * dtype_bytes,
        train_tail_flops_per_datum=train_tail,
        inference_tail_flops_per_datum=inference_tail,
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
        "train_activation_bytes_per_datum": c.train_activation_bytes_per_datum,
        "train_optimizer_bytes_per_datum": c.train_optimizer_bytes_per_datum,
        "layer_working_set_bytes": c.layer_working_set_bytes,
    }
