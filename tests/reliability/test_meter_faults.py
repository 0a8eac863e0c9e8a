"""Meter faults during sweeps become reject reasons (or a clean stop), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from measurement.datasets import load_dataset
from measurement.meters.nvml import NvmlMeter
from measurement.meters.rapl import RaplMeter
from measurement.meters.trace import TraceMeter
from measurement.records import PlannedRun, TrainConfig
from measurement.store import RunStore
from measurement.sweep import SweepSpec, run_sweep
from tests.fakes.measurement import FP, FakeClock, FakeNvml, PowercapTree

CONFIG = TrainConfig(windows=3, window_s=0.005, warmup_steps=1, batch_size=64, inference_batch_size=64)
RUNS = tuple(PlannedRun("rectangle", 2, 64 * (i + 1), 64) for i in range(5))


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("synthetic:300,4,3")


def _sweep(tmp_path: Path, meter, dataset):
    spec = SweepSpec("calibrate", "synthetic:300,4,3", dataset.fingerprint(), CONFIG, RUNS, 60.0)
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep(spec, store, meter, dataset, FP, 60.0, idle_s=0)
        return summary, store.frame()


def test_rapl_counter_going_backwards_is_rejected(tmp_path: Path) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 5_000_000_000, max_range_uj=262_143_328_850)
    clock = FakeClock()
    meter = RaplMeter(tree.root, clock=clock)
    meter.start()
    tree.set("intel-rapl:0", 1_000_000)  # a reset: a "wrap" would mean 257 kJ in one second
    clock.advance(1.0)
    reading = meter.stop()
    assert reading.reject_reason and "went backwards" in reading.reject_reason


def test_rapl_eacces_mid_sweep_rejects_runs_then_stops_cleanly(tmp_path: Path, dataset) -> None:
    tree = PowercapTree(tmp_path / "powercap")
    tree.add("intel-rapl:0", "package-0", 0)
    reads = {"n": 0}

    def flaky(path: Path) -> str:
        if path.name == "energy_uj":
            reads["n"] += 1
            if reads["n"] > 8:  # readable at first, then the udev rule is gone
                raise PermissionError(13, "Permission denied", str(path))
            tree.set("intel-rapl:0", reads["n"] * 1_000_000)
        return path.read_text()

    summary, frame = _sweep(tmp_path, RaplMeter(tree.root, reader=flaky), dataset)
    train = frame[frame["phase"] == "train"]
    assert summary.stop_reason and "meter errors" in summary.stop_reason
    rejected = train[train["status"] == "rejected"]
    assert len(rejected) >= 3 and rejected["reject_reason"].str.contains("udev").all()
    assert len(train) < len(RUNS)  # stopped early instead of rejecting everything


def test_nvml_energy_call_failing_mid_run_rejects_the_run(tmp_path: Path, dataset) -> None:
    nvml = FakeNvml(energy_mj=0)
    calls = {"n": 0}
    original = nvml.nvmlDeviceGetTotalEnergyConsumption

    def sometimes_not_supported(handle):
        calls["n"] += 1
        if calls["n"] in (5, 6):
            raise nvml.NVMLError("NVML_ERROR_NOT_SUPPORTED")
        nvml.energy_mj += 500
        return original(handle)

    meter = NvmlMeter(nvml=nvml)
    nvml.nvmlDeviceGetTotalEnergyConsumption = sometimes_not_supported
    summary, frame = _sweep(tmp_path, meter, dataset)
    train = frame[frame["phase"] == "train"]
    assert summary.stop_reason is None and len(train) == len(RUNS)
    reasons = frame["reject_reason"].dropna()
    assert reasons.str.contains("NOT_SUPPORTED").any()
    assert (frame["status"] == "ok").any()


def test_trace_that_stopped_logging_rejects_runs_with_the_reason(tmp_path: Path, dataset) -> None:
    import time

    trace = tmp_path / "trace.csv"
    now = time.time()  # the logger died a second ago: the trace ends before every run
    trace.write_text("timestamp,watts\n" + "".join(f"{now - 31 + i * 0.5},150\n" for i in range(61)))
    summary, frame = _sweep(tmp_path, TraceMeter(trace, max_gap_s=2.0), dataset)
    assert (frame["status"] == "rejected").all()
    assert frame["reject_reason"].str.contains("does not cover").all()
    assert summary.committed_now == len(RUNS) and summary.stop_reason is None
