"""The BUTTER architecture catalogue as the advisor's UIs see it: describe one config or the whole grid."""

from __future__ import annotations

from typing import Any

from measurement.architecture import (
    BEYOND_GRID_LIMITS,
    GRID_LIMITS,
    ArchitectureError,
    check_batch,
    check_config,
    grid,
    parse_shape,
    size_architecture,
)
from measurement.cost import describe


def shape_name(text: str) -> str:
    """The canonical name of a BUTTER shape; ArchitectureError (an InputError) listing the shapes otherwise."""
    return parse_shape(text).value


def describe_config(
    shape: str, depth: int, size: int, input_dim: int, output_dim: int, batch_size: int = 256, beyond_grid: bool = False
) -> dict[str, Any]:
    """Realised widths, parameters, FLOPs and working sets of one config (grid limits unless ``beyond_grid``)."""
    check_config(depth, size, input_dim, output_dim, BEYOND_GRID_LIMITS if beyond_grid else GRID_LIMITS)
    check_batch(batch_size)
    return describe(size_architecture(shape, depth, size, input_dim, output_dim), batch_size)


def describe_grid(
    input_dim: int, output_dim: int, batch_size: int = 256, beyond_grid: bool = False
) -> list[dict[str, Any]]:
    """:func:`describe_config` for every shape x depth x size of the BUTTER grid."""
    check_config(2, 32, input_dim, output_dim, BEYOND_GRID_LIMITS if beyond_grid else GRID_LIMITS)
    check_batch(batch_size)
    return [describe(a, batch_size) for a in grid(input_dim, output_dim)]


__all__ = ["ArchitectureError", "describe_config", "describe_grid", "shape_name"]
