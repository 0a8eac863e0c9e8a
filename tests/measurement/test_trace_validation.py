"""Power traces are cleaned by stated rules, and a run its meter cannot tell from idle is rejected."""

from __future__ import annotations

import dataclasses
import gzip
import math
import time
from pathlib import Path

import numpy as np
import pytest

from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.harness import below_floor, measure_idle_power, summarise, train_and_measure
from measurement.meters.auto import MeterChoice, MeterOptions, choose_meter
from measurement.meters.base import FLOOR_NOISE_SIGMAS, MeterKind, Reading
from measurement.meters.trace import TraceError, TraceMeter, load_trace
from measurement.records import Window
from measurement.store import RunStore
from measurement.tables import TABLE_MAX_ROWS
from tests.fakes.measurement import FAST, FP, FakeClock, run_context

STEADY = dataclasses.replace(FAST, window_s=0.2)
"""Windows long enough that a busy shared machine does not make them throughput outliers."""


def _write(path: Path, rows: list[tuple[float, float]]) -> Path:
    path.write_text("timestamp,watts\n" + "".join(f"{t!r},{w!r}\n" for t, w in rows))
    return path


def test_conflicting_duplicate_timestamps_are_refused_with_the_instant(tmp_path: Path) -> None:
    # the hostile trace: two meters merged, 100 W and 900 W at the same instants
    rows = [(float(t), 100.0) for t in range(20)] + [(float(t), 900.0) for t in range(10, 20)]
    path = _write(tmp_path / "merged.csv", rows)
    with pytest.raises(TraceError, match=r"10 timestamp\(s\) carry conflicting watts \(first at 10\.000 s: 100 W"):
        load_trace(path)
    with pytest.raises(TraceError, match="900 W"):
        TraceMeter(path)
    with pytest.raises(TraceError, match="one instant must have one reading"):  # the CLI's path: exit 2
        choose_meter(MeterOptions(choice=MeterChoice.TRACE, trace_path=path))


def test_a_duplicate_is_judged_after_invalid_rows_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,watts\n0,100\n1,nan\n1,120\n2,-5\n2,130\n3,140\n")
    trace = load_trace(path)
    assert list(trace.power_w) == [100.0, 120.0, 130.0, 140.0] and trace.dropped_rows == 2
    path.write_text("timestamp,watts\n1,nan\n2,nan\n2,-1\n")
    with pytest.raises(TraceError, match="fewer than two valid"):
        load_trace(path)


def test_exact_duplicates_collapse_and_out_of_order_rows_are_sorted(tmp_path: Path) -> None:
    rows = [(2.0, 120.0), (0.0, 100.0), (1.0, 110.0), (1.0, 110.0), (4.0, 140.0), (3.0, 130.0), (3.0, 130.0)]
    trace = load_trace(_write(tmp_path / "t.csv", rows))
    assert list(trace.unix_s) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(trace.power_w) == [100.0, 110.0, 120.0, 130.0, 140.0]
    assert (trace.collapsed_rows, trace.out_of_order_rows, trace.dropped_rows) == (2, 2, 0)
    in_order = load_trace(_write(tmp_path / "sorted.csv", sorted(set(rows))))
    assert trace.integrate(0.5, 3.5, 2.0) == in_order.integrate(0.5, 3.5, 2.0)


def test_the_meter_states_the_rules_it_applied(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path / "t.csv", [(1.0, 100.0), (0.0, 100.0), (1.0, 100.0), (2.0, 101.0)])
    with caplog.at_level("WARNING"):
        meter, steps = choose_meter(MeterOptions(choice=MeterChoice.TRACE, trace_path=path))
    assert "1 exact duplicates collapsed" in steps[0].detail and "1 out of order (sorted)" in steps[0].detail
    assert "1 exact duplicates collapsed" in caplog.text
    assert isinstance(meter, TraceMeter)


def test_resolution_and_noise_of_a_trace(tmp_path: Path) -> None:
    whole = load_trace(_write(tmp_path / "w.csv", [(float(t), 100.0 + t % 3) for t in range(30)]))
    assert whole.resolution_w == 1.0
    tenths = load_trace(_write(tmp_path / "d.csv", [(float(t), 100.0 + 0.1 * (t % 3)) for t in range(30)]))
    assert tenths.resolution_w == pytest.approx(0.1)
    flat = load_trace(_write(tmp_path / "f.csv", [(float(t), 100.0) for t in range(30)]))
    assert flat.noise_w == 0.0
    # alternating 90/110 W: every consecutive step is 20 W, so the noise is 1.4826 x 20 / sqrt 2
    noisy = load_trace(_write(tmp_path / "n.csv", [(float(t), 90.0 + 20.0 * (t % 2)) for t in range(30)]))
    assert noisy.noise_w == pytest.approx(1.4826 * 20.0 / math.sqrt(2.0))
    # a load step (100 -> 300 W once) is not noise: the median ignores it
    step = load_trace(_write(tmp_path / "s.csv", [(float(t), 100.0 if t < 15 else 300.0) for t in range(30)]))
    assert step.noise_w == 0.0


def test_trace_rows_are_bounded_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "long.csv.gz"
    block = b"".join(b"%d,100\n" % i for i in range(100_000))
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b"timestamp,watts\n")
        for _ in range(TABLE_MAX_ROWS // 100_000 + 1):
            handle.write(block)  # repeated timestamps: refused at the row bound before they are looked at
    with pytest.raises(TraceError, match=f"cannot read trace .*over the bound of {TABLE_MAX_ROWS:,} rows"):
        load_trace(path)


def _reading(energy_j: float, duration_s: float, resolution_j: float = 0.0, noise_w: float = 0.0) -> Reading:
    return Reading(energy_j, duration_s, "trace", MeterKind.MEASURED, resolution_j=resolution_j, noise_w=noise_w)


def test_reading_floor_is_resolution_or_noise_times_duration() -> None:
    assert _reading(100.0, 2.0, resolution_j=2.0).floor_j == 2.0
    noisy = _reading(100.0, 2.0, resolution_j=2.0, noise_w=5.0)
    assert noisy.floor_j == pytest.approx(FLOOR_NOISE_SIGMAS * 5.0 * 2.0)
    assert "noise 5 W x 2 s" in noisy.floor_basis()
    assert "resolution" in _reading(100.0, 2.0, resolution_j=2.0).floor_basis()
    assert _reading(1.0, 1.0).floor_j == 0.0  # an estimate or a replay: no quantum, no noise


def _windows(dynamic_j: float, idle_w: float = 100.0, duration_s: float = 2.0) -> list[Window]:
    energy_j = idle_w * duration_s + dynamic_j
    return [Window(energy_j, duration_s, 500, energy_j - idle_w * duration_s) for _ in range(3)]


def test_a_phase_at_the_floor_is_rejected_and_one_above_it_is_kept() -> None:
    flat = [_reading(200.0, 2.0, resolution_j=1.0 * 2.0)] * 3  # whole watts over 2 s: 2 J
    near_zero = summarise("train", _windows(1e-10), flat)
    assert near_zero.reject_reason is not None
    assert "not above the meter's floor of 2 J" in near_zero.reject_reason
    assert "cannot be told from idle" in near_zero.reject_reason
    assert summarise("train", _windows(10.0), flat).reject_reason is None
    noisy = [_reading(200.0, 2.0, resolution_j=2.0, noise_w=8.0)] * 3  # floor 16 J
    assert "noise 8 W" in (summarise("train", _windows(10.0), noisy).reject_reason or "")
    assert summarise("train", _windows(40.0), noisy).reject_reason is None
    assert below_floor([], []) is None


def _live_trace(path: Path, watts: float, now_s: float) -> Path:
    """A flat trace around now (1 Hz, whole watts), as a PDU logging a machine at rest would write it."""
    return _write(path, [(float(math.floor(now_s)) + k, watts) for k in range(-60, 600)])


def test_a_run_on_a_flat_trace_is_stored_rejected_with_the_reason(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic:600,6,3")
    meter = TraceMeter(_live_trace(tmp_path / "flat.csv", 100.0, time.time()), max_gap_s=5.0)
    idle_w = measure_idle_power(meter, 0.05)
    assert idle_w == pytest.approx(100.0, rel=1e-4)  # unix seconds ~1.8e9 carry ~2e-7 s of rounding
    arch = size_architecture("rectangle", 2, 2**8, dataset.input_dim, dataset.output_dim)
    # 10 mW under the trace: the residue stays positive (an exact match rounds either way, and a negative one
    # is rejected by the older rule), and is far below the trace's 1 W resolution
    result = train_and_measure(arch, dataset, meter, STEADY, idle_power_w=idle_w - 0.01)
    for phase in (result.train, result.inference):
        assert phase.reject_reason and "not above the meter's floor" in phase.reject_reason
        assert abs(phase.energy_per_datum_j) < 1e-6  # what used to be stored as a measurement
    with RunStore(tmp_path / "s.sqlite") as store:
        sweep = store.open_sweep(store.hardware_id(FP), "calibrate", "h", {}, "synthetic", "trace", "measured")
        store.record_run(sweep, "k1", result, run_context(dataset))
        frame = store.frame()
    assert (frame["status"] == "rejected").all()
    assert frame["reject_reason"].str.contains("cannot be told from idle").all()


def test_a_run_above_the_floor_is_kept(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic:600,6,3")
    meter = TraceMeter(_live_trace(tmp_path / "busy.csv", 150.0, time.time()), max_gap_s=5.0)
    arch = size_architecture("rectangle", 2, 2**8, dataset.input_dim, dataset.output_dim)
    result = train_and_measure(arch, dataset, meter, STEADY, idle_power_w=100.0)  # 50 W above idle
    assert result.reject_reason is None
    assert result.train.energy_per_datum_j > 0


def test_fake_clocked_trace_meter_reports_its_floor(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", [(float(t), 100.0 + 0.5 * (t % 2)) for t in range(100)])
    clock, wall = FakeClock(0.0), FakeClock(10.0)
    meter = TraceMeter(path, clock=clock, wall=wall)
    meter.start()
    clock.advance(4.0)
    reading = meter.stop()
    assert reading.resolution_j == pytest.approx(0.1 * 4.0)  # readings with one decimal, over 4 s
    assert reading.noise_w == pytest.approx(1.4826 * 0.5 / math.sqrt(2.0))
    assert reading.floor_j == pytest.approx(FLOOR_NOISE_SIGMAS * reading.noise_w * 4.0)  # the noise dominates
    assert np.isfinite(reading.energy_j) and reading.reject_reason is None
