"""The width search: closest count, tolerance, off-target flags, and the torch module agrees."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from measurement.architecture import (
    DEPTHS,
    SHAPES,
    SIZES,
    ArchitectureError,
    Shape,
    grid,
    layer_widths,
    param_count,
    size_architecture,
)


def _count(shape: Shape, depth: int, w: int, i: int, o: int) -> int:
    return param_count(layer_widths(shape, depth, w, o), i)


def _assert_closest(arch, window: int = 64) -> None:
    """No first-layer width near the chosen one (or anywhere, since counts are monotone) is closer."""
    best_gap = abs(arch.params - arch.target_size)
    w0 = arch.widths[0]
    for w in range(max(1, w0 - window), w0 + window):
        count = _count(arch.shape, arch.depth, w, arch.input_dim, arch.output_dim)
        assert abs(count - arch.target_size) >= best_gap, (arch.label, w, count)


def _assert_monotone_boundary(arch) -> None:
    """Counts are non-decreasing in w, so the closest count sits next to the target crossing."""
    w0 = arch.widths[0]
    below = _count(arch.shape, arch.depth, max(1, w0 - 1), arch.input_dim, arch.output_dim)
    above = _count(arch.shape, arch.depth, w0 + 1, arch.input_dim, arch.output_dim)
    assert below <= arch.params <= above


@pytest.mark.parametrize(("input_dim", "output_dim"), [(784, 10), (8, 1)])
def test_whole_grid_is_closest_and_within_tolerance(input_dim: int, output_dim: int) -> None:
    archs = grid(input_dim, output_dim)
    assert len(archs) == 8 * 14 * 20
    rng = random.Random(0)
    for arch in rng.sample(archs, 400):
        _assert_closest(arch)
    for arch in archs:
        _assert_monotone_boundary(arch)
        assert len(arch.widths) == arch.depth and arch.widths[-1] == output_dim
        assert min(arch.widths) >= 1
        w = arch.widths[0]
        step = _count(arch.shape, arch.depth, w + 1, input_dim, output_dim) - arch.params
        if w > 1:
            step = max(step, arch.params - _count(arch.shape, arch.depth, w - 1, input_dim, output_dim))
        if step < 0.05 * arch.target_size:
            assert abs(arch.relative_error) <= 0.05, arch.label
        assert arch.off_target == (abs(arch.relative_error) > 0.20)


def test_off_target_configs_exist_for_small_sizes_with_wide_inputs_and_are_kept() -> None:
    archs = grid(784, 10)
    off = [a for a in archs if a.off_target]
    assert off, "the smallest sizes cannot be reached with 784 inputs"
    assert all(a.target_size <= 2**13 for a in off)
    assert size_architecture("rectangle", 2, 32, 784, 10).off_target


@given(
    shape=st.sampled_from(SHAPES),
    depth=st.sampled_from(DEPTHS),
    size=st.sampled_from(SIZES),
    input_dim=st.integers(1, 3000),
    output_dim=st.integers(1, 200),
)
@settings(max_examples=150, deadline=None)
def test_property_closest_for_random_dims(shape, depth, size, input_dim, output_dim) -> None:
    arch = size_architecture(shape, depth, size, input_dim, output_dim)
    assert arch.params == param_count(arch.widths, input_dim)
    assert arch.widths[-1] == output_dim
    _assert_closest(arch, window=16)


def test_shape_definitions_by_hand() -> None:
    assert layer_widths(Shape.RECTANGLE, 4, 10, 3) == (10, 10, 10, 3)
    assert layer_widths(Shape.TRAPEZOID, 4, 10, 1) == (10, 7, 4, 1)
    assert layer_widths(Shape.EXPONENTIAL, 3, 100, 1) == (100, 10, 1)
    assert layer_widths(Shape.WIDE_FIRST_4X, 5, 40, 2) == (40, 10, 10, 10, 2)
    assert layer_widths(Shape.WIDE_FIRST_16X, 3, 8, 2) == (8, 1, 2)  # never below 1
    for shape in SHAPES:
        assert layer_widths(shape, 2, 17, 5) == (17, 5)
    # (3+1)*10 + (10+1)*10 + (10+1)*2 = 40 + 110 + 22
    assert param_count((10, 10, 2), 3) == 172


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("triangle", 3, 100, 4, 1), "unknown shape"),
        (("rectangle", 0, 100, 4, 1), "depth"),
        (("rectangle", 1, 100, 4, 1), "depth"),
        (("rectangle", 3, -5, 4, 1), "size"),
        (("rectangle", 3, 100, 0, 1), "input dim"),
    ],
)
def test_bad_requests_raise_architecture_error(args, message) -> None:
    with pytest.raises(ArchitectureError, match=message):
        size_architecture(*args)
