"""The probe planner spreads networks and recipes: every learning rate and batch size appears, about equally
often, in a seeded design; a recipe the user fixes restricts its axis, and a fixed recipe plans exactly what
the planner planned before it searched recipes."""

from __future__ import annotations

from collections import Counter

import pytest

from measurement.records import TrainConfig
from measurement.sweep import (
    PROBE_BATCH_SIZES,
    PROBE_LEARNING_RATES,
    SweepSpec,
    plan_probe,
    probe_batch_sizes,
)

DIGITS = (64, 10, 360, 1437)
"""digits' input width, classes, test and training rows."""
SHORT = TrainConfig(epochs=8)


def _plan(config: TrainConfig = SHORT, dims: tuple[int, int, int, int] = DIGITS, **kwargs):
    return plan_probe(dims[0], dims[1], 300.0, config, dims[2], dims[3], **kwargs)


def test_every_learning_rate_and_batch_appears_about_equally_often() -> None:
    plan = _plan(max_runs=35)
    lrs, batches = Counter(r.learning_rate for r in plan), Counter(r.batch_size for r in plan)
    assert len(plan) == 35
    assert set(lrs) == set(PROBE_LEARNING_RATES) and set(batches) == set(PROBE_BATCH_SIZES)
    assert max(lrs.values()) - min(lrs.values()) <= 1 and max(batches.values()) - min(batches.values()) <= 1
    first = plan[:7]  # the first runs already span both axes: a budget that stops early still has them
    assert {r.learning_rate for r in first} == set(PROBE_LEARNING_RATES)
    assert len({r.batch_size for r in first}) >= 6
    assert len({(r.learning_rate, r.batch_size) for r in plan}) >= 30  # pairs spread, not one batch per rate


def test_sizes_still_run_coarse_to_fine_beside_the_recipes() -> None:
    plan = _plan(max_runs=6)
    exponents = [r.size.bit_length() - 1 for r in plan]
    assert exponents[:4] == [9, 13, 17, 11]  # every fourth exponent first (2^5, 2^7 are off target for digits)
    assert all(r.key.count("/lr") == 1 for r in plan)


def test_batches_are_capped_at_the_training_set() -> None:
    assert probe_batch_sizes(PROBE_BATCH_SIZES, 300) == (16, 32, 64, 128, 256, 300)
    assert probe_batch_sizes(PROBE_BATCH_SIZES, 10) == (10,)
    plan = _plan(dims=(6, 3, 60, 300), max_runs=30)
    assert max(r.batch_size for r in plan) == 300 and {r.batch_size for r in plan} == {16, 32, 64, 128, 256, 300}


def test_the_design_is_seeded() -> None:
    assert _plan(seed=4, max_runs=20) == _plan(seed=4, max_runs=20)
    assert _plan(seed=4, max_runs=20) != _plan(seed=5, max_runs=20)


def test_more_runs_than_three_rounds_of_sizes_are_planned_when_asked_for() -> None:
    plan = _plan(max_runs=90)
    assert len(plan) == 90 and len(set(plan)) == 90


def test_a_fixed_learning_rate_or_batch_restricts_its_axis() -> None:
    config = TrainConfig(epochs=8, learning_rate=3e-3, batch_size=64)
    fixed_lr = _plan(config, learning_rates=None, max_runs=20)
    assert {r.learning_rate for r in fixed_lr} == {None} and all("/lr" not in r.key for r in fixed_lr)
    assert set(r.batch_size for r in fixed_lr) == set(PROBE_BATCH_SIZES)
    fixed_batch = _plan(config, batch_sizes=None, max_runs=20)
    assert {r.batch_size for r in fixed_batch} == {64}
    assert {r.learning_rate for r in fixed_batch} == set(PROBE_LEARNING_RATES)
    chosen = _plan(config, learning_rates=(1e-3, 1e-2), batch_sizes=(32,), max_runs=20)
    assert Counter(r.learning_rate for r in chosen) == {1e-3: 10, 1e-2: 10}


@pytest.mark.parametrize("max_runs", [None, 20])
def test_a_fixed_recipe_plans_what_the_planner_planned_before_recipes(max_runs: int | None) -> None:
    """The keys and the digest a fixed-recipe probe sweep is found by in a store written before recipes were
    searched (computed with the code of commit e4ea620): such a sweep resumes."""
    config = TrainConfig(epochs=256)
    plan = _plan(config, learning_rates=None, batch_sizes=None, max_runs=max_runs)
    assert [r.key for r in plan[:4]] == ["rectangle_residual/d3/s512/b256/r0", "wide_first_4x/d4/s8192/b256/r0",
                                         "trapezoid/d6/s131072/b256/r0", "exponential/d2/s2048/b256/r0"]  # fmt: skip
    if max_runs is not None:
        spec = SweepSpec("probe", "digits", "abc", config, plan.runs, 300.0, sentinel=plan.sentinel)
        assert spec.digest() == "0cba1f2fe6bff633"
