"""The BUTTER architecture catalogue as the advisor's UIs see it: describe one config or the whole grid."""

from __future__ import annotations

from typing import Any

from measurement.architecture import SHAPES, ArchitectureError, grid, parse_shape, size_architecture
from measurement.cost import describe

SHAPE_NAMES: tuple[str, ...] = tuple(s.value for s in SHAPES)


def shape_name(text: str) -> str:
    """The canonical name of a BUTTER shape; ArchitectureError (an InputError) listing the shapes otherwise."""
    return parse_shape(text).value


def describe_config(shape: str, depth: int, size: int, input_dim: int, output_dim: int,
                    batch_size: int = 256) -> dict[str, Any]:  # fmt: skip
    """Realised widths, parameters, FLOPs and working sets of one config."""
    return describe(size_architecture(shape, depth, size, input_dim, output_dim), batch_size)


def describe_grid(input_dim: int, output_dim: int, batch_size: int = 256) -> list[dict[str, Any]]:
    """:func:`describe_config` for every shape x depth x size of the BUTTER grid."""
    return [describe(a, batch_size) for a in grid(input_dim, output_dim)]


__all__ = ["SHAPE_NAMES", "ArchitectureError", "describe_config", "describe_grid", "shape_name"]
