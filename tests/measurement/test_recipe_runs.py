"""A planned run may set its own learning rate: its key and stored plan say so only then (older keys and plan
digests are unchanged), the executors train with it, and the store and its exports record it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.errors import InputError
from measurement.meters.estimate import EstimateMeter
from measurement.records import PlannedRun, TrainConfig, parse_run_key
from measurement.store import RunStore
from measurement.sweep import SweepSpec, run_sweep, run_sweep_on_pool
from measurement.sweep.serial import run_config, run_label
from tests.fakes.measurement import FAST, FP
from tests.fakes.pool import FakePool, fake_result

DATASET = "synthetic:300,6,3"


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


def test_a_run_without_a_learning_rate_keeps_todays_key_and_form() -> None:
    run = PlannedRun("rectangle", 3, 512, 64, repeat=1, data=2)
    assert run.key == "rectangle/d3/s512/b64/x2/r1"
    assert run.to_dict() == {"shape": "rectangle", "depth": 3, "size": 512, "batch_size": 64, "repeat": 1, "data": 2}
    assert parse_run_key(run.key) == run


@pytest.mark.parametrize("learning_rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1e-5, 0.0015])
def test_a_runs_learning_rate_is_in_its_key_and_reads_back(learning_rate: float) -> None:
    run = PlannedRun("trapezoid", 4, 2048, 32, repeat=2, data=1, learning_rate=learning_rate)
    assert run.key == f"trapezoid/d4/s2048/b32/lr{learning_rate:g}/x1/r2"
    assert parse_run_key(run.key) == run
    assert run.to_dict()["learning_rate"] == learning_rate and PlannedRun(**run.to_dict()) == run
    assert run.config_key != dataclasses.replace(run, learning_rate=None).config_key


def test_a_key_with_a_malformed_learning_rate_is_refused() -> None:
    with pytest.raises(InputError, match="not a run key"):
        parse_run_key("rectangle/d3/s64/b32/lrfast/r0")


def test_the_plan_digest_of_runs_without_a_learning_rate_is_unchanged() -> None:
    """The digest a sweep is found by in the store: the same plan, stored before runs could set a learning rate."""
    runs = (PlannedRun("rectangle", 2, 64, 64), PlannedRun("trapezoid", 3, 128, 64, repeat=1))
    spec = SweepSpec("probe", DATASET, "abc", TrainConfig(), runs, 60.0)
    assert spec.digest() == "82ca10f3f1a4e538"  # computed with the code of commit e4ea620
    assert SweepSpec.from_dict(spec.to_dict()) == spec
    with_lr = dataclasses.replace(spec, runs=(dataclasses.replace(runs[0], learning_rate=1e-3), runs[1]))
    assert with_lr.digest() != spec.digest() and SweepSpec.from_dict(with_lr.to_dict()) == with_lr


def test_run_config_and_label_apply_the_runs_learning_rate() -> None:
    config = TrainConfig(learning_rate=1e-4, seed=7)
    arch = size_architecture("rectangle", 2, 64, 6, 3)
    fixed = run_config(config, PlannedRun("rectangle", 2, 64, 16, repeat=1, learning_rate=3e-3))
    assert (fixed.learning_rate, fixed.batch_size, fixed.seed) == (3e-3, 16, 8)
    assert run_config(config, PlannedRun("rectangle", 2, 64, 16)).learning_rate == 1e-4
    assert run_label(PlannedRun("rectangle", 2, 64, 16, learning_rate=3e-3), arch).endswith("b16 lr0.003")
    assert "lr" not in run_label(PlannedRun("rectangle", 2, 64, 16), arch)


def _runs() -> tuple[PlannedRun, ...]:
    return (PlannedRun("rectangle", 2, 64, 64, learning_rate=3e-3), PlannedRun("rectangle", 2, 64, 64),
            PlannedRun("trapezoid", 3, 128, 32, learning_rate=1e-2))  # fmt: skip


def test_a_sweep_on_this_machine_records_each_runs_learning_rate(tmp_path: Path, dataset) -> None:
    config = dataclasses.replace(FAST, learning_rate=2e-4)
    spec = SweepSpec("probe", DATASET, dataset.fingerprint(), config, _runs(), 60.0)
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep(spec, store, EstimateMeter(), dataset, FP, 60.0, idle_s=0)
        frame = store.frame().query("phase == 'train'")
    assert summary.committed_now == 3
    assert dict(zip(frame["run_key"], frame["learning_rate"], strict=True)) == {
        "rectangle/d2/s64/b64/lr0.003/r0": 3e-3,
        "rectangle/d2/s64/b64/r0": 2e-4,  # the sweep config's
        "trapezoid/d3/s128/b32/lr0.01/r0": 1e-2,
    }


def test_a_sweep_over_a_pool_trains_and_records_each_runs_learning_rate(tmp_path: Path, dataset) -> None:
    trained: dict[str, float] = {}

    def result(run):
        trained[run.run_key] = run.config.learning_rate
        return fake_result(run.arch)

    spec = SweepSpec("probe", DATASET, dataset.fingerprint(), FAST, _runs(), 600.0)
    with RunStore(tmp_path / "s.sqlite") as store:
        run_sweep_on_pool(spec, store, FakePool(result=result), dataset, FP, ("replay", "measured"), 600.0)
        frame = store.frame().query("phase == 'train'")
    expected = {run.key: run.learning_rate or FAST.learning_rate for run in _runs()}
    assert trained == expected
    assert dict(zip(frame["run_key"], frame["learning_rate"], strict=True)) == expected
