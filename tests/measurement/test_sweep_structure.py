"""Typed seams: torch-free records and store, the export columns, device tiers in the planner and the
summary, the summary tallied run by run, and a rejected idle window stopping a sweep."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from measurement.architecture import SHAPES, size_architecture
from measurement.cost import cost
from measurement.datasets import load_dataset
from measurement.harness import measure_idle_power, train_and_measure
from measurement.meters.base import MeterError, MeterKind, Reading
from measurement.meters.estimate import EstimateMeter
from measurement.records import EXPORT_COLUMNS, PlannedRun, TrainConfig, noise_floor
from measurement.store import RunStore
from measurement.sweep import SweepSpec, plan_calibration, run_sweep
from measurement.tiers import device_tiers, tier_index, tier_labels
from tests.fakes.cli import run_python
from tests.fakes.measurement import FAST, FP, FP_GPU, run_context

DATASET = "synthetic:600,6,3"


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


def test_records_store_sweep_and_tiers_do_not_import_torch(tmp_path: Path) -> None:
    code = f"""
import sys
import measurement.records, measurement.tiers, measurement.store, measurement.sweep, measurement.meters.auto
from measurement.hardware import CacheLevel, Fingerprint
from measurement.records import TrainConfig
from measurement.store import RunStore
from measurement.sweep import plan_calibration
fp = Fingerprint("fake", 2, (CacheLevel(1, "Data", 32768, 1), CacheLevel(2, "Unified", 2**20, 1)), 2**33, "x86_64")
assert plan_calibration(fp, 16, 4, 60, TrainConfig(), 1638)
with RunStore({str(tmp_path / "s.sqlite")!r}) as store:
    store.frame()
print("torch" in sys.modules)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", "reading the store or planning a sweep imported torch"


def test_frame_has_exactly_the_export_columns(tmp_path: Path, dataset) -> None:
    arch = size_architecture("rectangle", 3, 2**9, dataset.input_dim, dataset.output_dim)
    result = train_and_measure(arch, dataset, EstimateMeter(), FAST)
    with RunStore(tmp_path / "s.sqlite") as store:
        assert tuple(store.frame().columns) == EXPORT_COLUMNS  # empty store: same columns
        sweep = store.open_sweep(store.hardware_id(FP), "calibrate", "h", {}, "synthetic", "estimate", "estimated")
        store.record_run(sweep, "rectangle/d3/s512/b64/r0", result, run_context(dataset))
        assert tuple(store.frame().columns) == EXPORT_COLUMNS
        assert tuple(store.frame(include_rejected=False).columns) == EXPORT_COLUMNS
        (committed,) = store.committed_runs(sweep)
    assert committed.run_key == "rectangle/d3/s512/b64/r0" and committed.arch == arch
    assert committed.batch_size == 64 and committed.ok == (result.reject_reason is None)
    assert committed.energy_per_datum_j == result.train.energy_per_datum_j


def _tier_shape_pairs(runs: list[PlannedRun], tiers) -> set[tuple[int, str]]:
    return {
        (tier_index(cost(size_architecture(r.shape, r.depth, r.size, 16, 4), r.batch_size).train_working_set_bytes,
                    tiers), r.shape)
        for r in runs
    }  # fmt: skip


def _without_sentinel(runs: list[PlannedRun]) -> list[PlannedRun]:
    """The plan without its sentinel (planned first, re-measured throughout)."""
    return [r for r in runs if r.config_key != runs[0].config_key]


def test_cuda_sweep_is_planned_against_gpu_tiers() -> None:
    gpu_tiers = device_tiers(FP_GPU, "cuda")
    assert [t.name for t in gpu_tiers] == ["L2", "HBM"]
    cuda = plan_calibration(FP_GPU, 16, 4, 600, TrainConfig(device="cuda"), 1638)
    # the coverage round (cheapest first, before the fill; the sentinel interleaved) is one run per GPU tier x shape
    assert _tier_shape_pairs(_without_sentinel(cuda)[:16], gpu_tiers) == {(t, s.value) for t in (0, 1) for s in SHAPES}
    cpu = plan_calibration(FP_GPU, 16, 4, 600, TrainConfig(device="cpu"), 1638)
    assert cpu == plan_calibration(FP, 16, 4, 600, TrainConfig(), 1638)  # the CPU caches; the GPU is ignored
    cpu_tiers = device_tiers(FP_GPU, "cpu")
    assert _tier_shape_pairs(_without_sentinel(cpu)[:32], cpu_tiers) == {(t, s.value) for t in range(4) for s in SHAPES}
    assert cuda != cpu


@pytest.mark.parametrize(
    ("device", "labels"), [("cuda", ("<=L2", "<=HBM", ">HBM")), ("cpu", ("<=L1d", "<=L2", "<=L3", ">L3"))]
)
def test_summary_tiers_are_the_sweep_devices(tmp_path: Path, dataset, device: str, labels) -> None:
    config = dataclasses.replace(FAST, device=device)
    spec = SweepSpec("calibrate", DATASET, dataset.fingerprint(), config, (), 60.0)
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep(spec, store, EstimateMeter(), dataset, FP_GPU, 60.0, idle_s=0)
    assert tuple(summary.tiers) == labels and summary.complete


def test_summary_is_tallied_run_by_run_and_seeded_on_resume(tmp_path: Path, dataset, monkeypatch) -> None:
    runs = (PlannedRun("rectangle", 2, 64, 64), PlannedRun("trapezoid", 3, 128, 64),
            PlannedRun("rectangle", 2, 64, 64, repeat=1), PlannedRun("exponential", 4, 256, 16))  # fmt: skip
    spec = SweepSpec("calibrate", DATASET, dataset.fingerprint(), FAST, runs, 60.0)
    calls = {"n": 0}

    def stop_after_first() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    with RunStore(tmp_path / "s.sqlite") as store:
        other = dataclasses.replace(spec, runs=runs[:1], kind="probe")  # another sweep: must not be counted
        run_sweep(other, store, EstimateMeter(), dataset, FP, 60.0, idle_s=0)

        def no_full_read(*args, **kwargs):
            raise AssertionError("run_sweep re-read the whole store")

        with monkeypatch.context() as patch:
            patch.setattr(RunStore, "frame", no_full_read)
            first = run_sweep(spec, store, EstimateMeter(), dataset, FP, 60.0, idle_s=0, should_stop=stop_after_first)
            second = run_sweep(spec, store, EstimateMeter(), dataset, FP, 60.0, idle_s=0)
        assert first.committed_now == 1 and second.already_done == 1 and second.complete
        frame = store.frame()
    mine = frame[frame["sweep_id"] == second.sweep_id]
    ok = mine[(mine["status"] == "ok") & (mine["phase"] == "train")]
    tiers = device_tiers(FP)
    expected_tiers = dict.fromkeys(tier_labels(tiers), 0)
    for row in ok.itertuples():
        arch = size_architecture(row.shape, row.depth, row.target_size, row.input_dim, row.output_dim)
        expected_tiers[tier_labels(tiers)[tier_index(cost(arch, row.batch_size).train_working_set_bytes, tiers)]] += 1
    assert second.tiers == expected_tiers
    assert second.shapes == dict(ok["shape"].value_counts())
    assert (second.noise_floor, second.repeat_pairs) == noise_floor(mine)
    assert second.repeat_pairs == 1  # the pair spans both invocations: r0 then, r1 now


class RejectingMeter:
    """A meter whose every window is rejected (a trace with a gap, say)."""

    name = "rejecting"
    kind = MeterKind.MEASURED

    def __init__(self, energy_j: float = math.nan, reason: str | None = "trace gap of 9.0 s") -> None:
        self.energy_j, self.reason = energy_j, reason

    def start(self) -> None:
        pass

    def stop(self) -> Reading:
        return Reading(self.energy_j, 1.0, self.name, self.kind, reject_reason=self.reason)


def test_rejected_idle_window_is_an_error_not_zero_watts() -> None:
    with pytest.raises(MeterError, match=r"idle window rejected: trace gap of 9\.0 s"):
        measure_idle_power(RejectingMeter(), 1.0, sleep=lambda s: None)
    with pytest.raises(MeterError, match="non-finite"):
        measure_idle_power(RejectingMeter(math.inf, reason=None), 1.0, sleep=lambda s: None)
    assert measure_idle_power(RejectingMeter(-5.0, reason=None), 1.0, sleep=lambda s: None) == 0.0  # clamped


def test_rejected_idle_window_stops_the_sweep(tmp_path: Path, dataset) -> None:
    spec = SweepSpec("calibrate", DATASET, dataset.fingerprint(), FAST, (PlannedRun("rectangle", 2, 64, 64),), 60.0)
    events = []
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep(spec, store, RejectingMeter(), dataset, FP, 60.0, idle_s=0.01, progress=events.append)
        assert store.completed_keys(summary.sweep_id) == set()
    assert summary.stop_reason == "idle measurement failed: idle window rejected: trace gap of 9.0 s"
    assert summary.committed_now == 0 and not summary.complete and not summary.interrupted
    assert [e.kind for e in events] == ["done"]
