"""The BUTTER architecture catalogue: shapes, depths, sizes and the width search.

A shape fixes the relative widths of the layers; the first layer's width ``w`` is the one free
scale, chosen so that the trainable parameter count is as close as possible to a target size.
Definitions follow DESIGN.md "Shapes" (after NREL's BUTTER framework, ``dense_by_size``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from measurement.errors import InputError

DEPTHS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20)
SIZES: tuple[int, ...] = tuple(2**k for k in range(5, 25))
OFF_TARGET_TOLERANCE = 0.20
"""A config whose closest count is further than this from the target is flagged ``off_target``."""
MAX_WIDTH = 2**30


@dataclass(frozen=True)
class Limits:
    """The range of each number that defines a config (inclusive)."""

    depth: tuple[int, int]
    size: tuple[int, int]
    dim: tuple[int, int]


MAX_BATCH = 2**20
"""The largest batch any request may name (training or inference)."""
GRID_LIMITS = Limits(depth=(DEPTHS[0], DEPTHS[-1]), size=(1, SIZES[-1]), dim=(1, 2**20))
"""The BUTTER grid's own limits: what a request may ask without saying it means to go beyond them."""
BEYOND_GRID_LIMITS = Limits(depth=(2, 1000), size=(1, 2**40), dim=(1, 2**30))
"""Hard limits (``--beyond-grid``): any config inside them is sized in well under a second."""


class Shape(enum.StrEnum):
    """The eight BUTTER network shapes."""

    RECTANGLE = "rectangle"
    RECTANGLE_RESIDUAL = "rectangle_residual"
    TRAPEZOID = "trapezoid"
    EXPONENTIAL = "exponential"
    WIDE_FIRST_2X = "wide_first_2x"
    WIDE_FIRST_4X = "wide_first_4x"
    WIDE_FIRST_8X = "wide_first_8x"
    WIDE_FIRST_16X = "wide_first_16x"

    @property
    def residual(self) -> bool:
        """Whether hidden layers after the first add an identity skip."""
        return self is Shape.RECTANGLE_RESIDUAL


SHAPES: tuple[Shape, ...] = tuple(Shape)
_WIDE_FIRST_RATIO = {
    Shape.WIDE_FIRST_2X: 2,
    Shape.WIDE_FIRST_4X: 4,
    Shape.WIDE_FIRST_8X: 8,
    Shape.WIDE_FIRST_16X: 16,
}


class ArchitectureError(InputError):
    """An architecture request that cannot be satisfied (unknown shape, bad depth or size)."""


def parse_shape(name: str) -> Shape:
    """Return the Shape called ``name``, or raise ArchitectureError listing the valid ones."""
    try:
        return Shape(name)
    except ValueError:
        valid = ", ".join(s.value for s in Shape)
        raise ArchitectureError(f"unknown shape {name!r} (choose from: {valid})") from None


def layer_widths(shape: Shape, depth: int, first_width: int, output_dim: int) -> tuple[int, ...]:
    """Widths of every Linear layer (output layer included) for a first-layer width.

    Args:
        shape: network shape.
        depth: number of Linear layers, >= 2.
        first_width: width ``w`` of the first layer, >= 1.
        output_dim: width of the output layer.

    Returns:
        ``depth`` integer widths, the last equal to ``output_dim``, all >= 1.
    """
    _check_depth(depth)
    w, o, d = first_width, output_dim, depth
    if d == 2:
        return (w, o)
    if shape in (Shape.RECTANGLE, Shape.RECTANGLE_RESIDUAL):
        hidden = [w] * (d - 1)
    elif shape is Shape.TRAPEZOID:
        hidden = [max(1, round(w - k * (w - o) / (d - 1))) for k in range(d - 1)]
    elif shape is Shape.EXPONENTIAL:
        ratio = (o / w) ** (1.0 / (d - 1))
        hidden = [w] + [max(o, round(w * ratio**k)) for k in range(1, d - 1)]
    else:
        narrow = max(1, round(w / _WIDE_FIRST_RATIO[shape]))
        hidden = [w] + [narrow] * (d - 2)
    return (*hidden, o)


def param_count(widths: tuple[int, ...], input_dim: int) -> int:
    """Trainable parameters (weights and biases of every Linear layer)."""
    total, fan_in = 0, input_dim
    for width in widths:
        total += (fan_in + 1) * width
        fan_in = width
    return total


@dataclass(frozen=True)
class Architecture:
    """One sized network of the catalogue.

    Attributes:
        shape: the BUTTER shape.
        depth: number of Linear layers, output layer included.
        target_size: the parameter count asked for (a label, not a feature).
        input_dim: width of the input after preprocessing.
        output_dim: width of the output layer.
        widths: width of every Linear layer.
        params: the realised trainable parameter count (the feature).
    """

    shape: Shape
    depth: int
    target_size: int
    input_dim: int
    output_dim: int
    widths: tuple[int, ...]
    params: int

    @property
    def relative_error(self) -> float:
        """Signed relative distance of the realised count from the target."""
        return (self.params - self.target_size) / self.target_size

    @property
    def off_target(self) -> bool:
        """True when the closest count is more than 20% from the target (BUTTER skipped these)."""
        return abs(self.relative_error) > OFF_TARGET_TOLERANCE

    @property
    def label(self) -> str:
        """A short human label, e.g. ``rectangle/d4/2^12``."""
        exponent = self.target_size.bit_length() - 1
        size = f"2^{exponent}" if self.target_size == 2**exponent else str(self.target_size)
        return f"{self.shape.value}/d{self.depth}/{size}"


def size_architecture(
    shape: Shape | str, depth: int, target_size: int, input_dim: int, output_dim: int
) -> Architecture:
    """Find the first-layer width whose parameter count is closest to ``target_size``.

    The count is non-decreasing in ``w`` for every shape, so a bisection on the integer ``w`` in
    ``[1, 2**30)`` finds the boundary; the closer of its two sides wins (ties go to the smaller net).

    Raises:
        ArchitectureError: on an unknown shape or a non-positive depth, size or dimension.
    """
    shape = parse_shape(shape) if isinstance(shape, str) else shape
    check_config(depth, target_size, input_dim, output_dim, BEYOND_GRID_LIMITS)
    depth, target_size, input_dim, output_dim = (int(v) for v in (depth, target_size, input_dim, output_dim))

    def count(w: int) -> int:
        return param_count(layer_widths(shape, depth, w, output_dim), input_dim)

    lo, hi = 1, MAX_WIDTH - 1
    if count(hi) < target_size:
        raise ArchitectureError(f"size {target_size} is beyond the largest width searched")
    while lo < hi:  # smallest w with count(w) >= target
        mid = (lo + hi) // 2
        if count(mid) >= target_size:
            hi = mid
        else:
            lo = mid + 1
    candidates = {max(1, lo - 1), lo}
    best = min(sorted(candidates), key=lambda w: abs(count(w) - target_size))
    widths = layer_widths(shape, depth, best, output_dim)
    return Architecture(
        shape=shape,
        depth=depth,
        target_size=target_size,
        input_dim=input_dim,
        output_dim=output_dim,
        widths=widths,
        params=param_count(widths, input_dim),
    )


def grid(
    input_dim: int,
    output_dim: int,
    shapes: tuple[Shape, ...] = SHAPES,
    depths: tuple[int, ...] = DEPTHS,
    sizes: tuple[int, ...] = SIZES,
) -> list[Architecture]:
    """Every (shape, depth, size) of the grid, off-target configs included (they carry a flag)."""
    return [
        size_architecture(shape, depth, size, input_dim, output_dim)
        for shape in shapes
        for depth in depths
        for size in sizes
    ]


def check_config(
    depth: object, size: object, input_dim: object, output_dim: object, limits: Limits = GRID_LIMITS
) -> None:
    """Refuse a config outside ``limits`` (ArchitectureError naming the number and its range), before any work.

    ``GRID_LIMITS`` are the BUTTER grid's; a caller passes ``BEYOND_GRID_LIMITS`` only when the user asked
    to go beyond them explicitly.
    """
    hint = "" if limits is BEYOND_GRID_LIMITS else " (beyond the BUTTER grid only with --beyond-grid)"
    for name, value, (lo, hi) in (
        ("depth", depth, limits.depth),
        ("size", size, limits.size),
        ("input dim", input_dim, limits.dim),
        ("output dim", output_dim, limits.dim),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
            raise ArchitectureError(f"{name} must be an integer in [{lo:,}, {hi:,}]{hint}, got {value!r}"[:300])


def check_batch(batch_size: object) -> None:
    """Refuse a batch size outside [1, MAX_BATCH] (ArchitectureError), before any work."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or not 1 <= batch_size <= MAX_BATCH:
        raise ArchitectureError(f"batch size must be an integer in [1, {MAX_BATCH:,}], got {batch_size!r}"[:200])


def _check_depth(depth: int) -> None:
    if not isinstance(depth, int | np.integer) or isinstance(depth, bool) or depth < 2:
        raise ArchitectureError(f"depth must be an integer >= 2 (Linear layers, output included), got {depth!r}")
