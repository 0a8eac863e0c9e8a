"""The sentinel is recorded, not inferred: a plan names it, the sweep stores it, and the drift and noise-floor
figures (the summary's and the export's alike) read it; only a sweep that recorded none (an older store) falls
back to "the config measured most often". Kinds travel as enums and are stored as the same strings as before."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from measurement.datasets import load_dataset
from measurement.meters.base import MeterKind
from measurement.records import NO_SENTINEL, PlannedRun, SweepKind, drift, drift_of, noise_floor, sentinel_key
from measurement.store import RunStore
from measurement.sweep import SweepSpec, plan_calibration, plan_probe, run_sweep_on_pool
from tests.fakes.measurement import FAST, FP
from tests.fakes.pool import FakePool, fake_result

DATASET = "synthetic:300,4,3"
SENTINEL = PlannedRun("rectangle", 2, 64, 64)
BUSY = PlannedRun("trapezoid", 3, 128, 16)
"""Measured more often than the sentinel: the config the old rule would take for it."""
ORDER = (SENTINEL, BUSY, BUSY, SENTINEL, BUSY, BUSY, SENTINEL, BUSY, SENTINEL)
RUNS = tuple(dataclasses.replace(run, repeat=ORDER[:i].count(run)) for i, run in enumerate(ORDER))
ENERGIES = {SENTINEL.config_key: [1.0, 1.1, 1.2, 1.4], BUSY.config_key: [5.0, 5.5, 5.0, 4.5, 5.0]}


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


def _sweep(tmp_path: Path, dataset, sentinel: str | None, kind: SweepKind = SweepKind.CALIBRATE):
    """Run :data:`RUNS` on a scripted pool (energies from :data:`ENERGIES`, in order per config); the summary,
    the export and the sweep's stored kind, status and meter kind."""
    queues = {key: iter(values) for key, values in ENERGIES.items()}

    def result(remote):
        return fake_result(remote.arch, energy_per_datum_j=next(queues[remote.run_key.rsplit("/r", 1)[0]]))

    spec = SweepSpec(kind, DATASET, dataset.fingerprint(), FAST, RUNS, 600.0, sentinel=sentinel)
    with RunStore(tmp_path / "s.sqlite") as store:
        pool = FakePool(("tcp://w1:1",), result=result)
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, ("replay", MeterKind.MEASURED), 600.0)
        frame = store.frame()
        stored = store.conn.execute("SELECT kind, status, meter_kind, typeof(kind), sentinel FROM sweeps").fetchone()
    return summary, frame, stored


def test_a_recorded_sentinel_is_the_one_drift_and_the_floor_use(tmp_path: Path, dataset) -> None:
    summary, frame, stored = _sweep(tmp_path, dataset, SENTINEL.config_key)
    assert stored == ("calibrate", "complete", "measured", "text", SENTINEL.config_key)  # the strings of before
    flagged = frame.loc[frame["sentinel"] == 1, "run_key"]
    assert set(flagged) == {f"{SENTINEL.config_key}/r{i}" for i in range(4)} and set(frame["sentinel"]) == {0, 1}
    expected = drift(frame)
    assert (expected.config_key, expected.count) == (SENTINEL.config_key, 4)  # not BUSY, measured 5 times
    assert summary.drift == expected.value == pytest.approx(drift_of(ENERGIES[SENTINEL.config_key]))
    assert summary.drift_count == 4
    floor, pairs = noise_floor(frame)
    assert (summary.noise_floor, summary.repeat_pairs) == (floor, pairs) and pairs == 4  # BUSY's pairs only


def test_a_sweep_without_a_sentinel_has_no_drift(tmp_path: Path, dataset) -> None:
    summary, frame, stored = _sweep(tmp_path, dataset, NO_SENTINEL, kind=SweepKind.PROBE)
    assert stored[0] == "probe" and stored[-1] == NO_SENTINEL and set(frame["sentinel"]) == {0}
    assert drift(frame).count == 0 and (summary.drift, summary.drift_count) == (None, 0)
    assert noise_floor(frame)[1] == summary.repeat_pairs == 7  # every config's pairs count


def test_a_sweep_that_recorded_none_infers_its_sentinel_as_before(tmp_path: Path, dataset) -> None:
    summary, frame, stored = _sweep(tmp_path, dataset, None)
    assert stored[-1] is None and frame["sentinel"].isna().all()
    assert drift(frame).config_key == BUSY.config_key == sentinel_key(ENERGIES, None)  # the most measured
    assert summary.drift_count == 5 and (summary.noise_floor, summary.repeat_pairs) == noise_floor(frame)
    without_flags = frame.drop(columns="sentinel")  # an export written before the column
    assert drift(without_flags) == drift(frame) and noise_floor(without_flags) == noise_floor(frame)


def test_plans_record_their_sentinel() -> None:
    plan = plan_calibration(FP, 16, 4, 120, FAST, 600)
    repeats = [r.repeat for r in plan if r.config_key == plan.sentinel]
    assert plan.sentinel == plan[0].config_key and repeats == list(range(len(repeats))) and len(repeats) >= 4
    assert plan_probe(16, 4, 120, FAST, 600, 2400).sentinel == NO_SENTINEL


def test_the_sentinel_stays_out_of_the_digest_and_reads_back() -> None:
    spec = SweepSpec(SweepKind.CALIBRATE, DATASET, "abc", FAST, RUNS, 60.0)
    recorded = SweepSpec(SweepKind.CALIBRATE, DATASET, "abc", FAST, RUNS, 60.0, sentinel=SENTINEL.config_key)
    assert "sentinel" not in spec.to_dict() and recorded.to_dict()["sentinel"] == SENTINEL.config_key
    assert recorded.digest() == spec.digest()
    assert SweepSpec.from_dict(recorded.to_dict()) == recorded and SweepSpec.from_dict(spec.to_dict()) == spec
    assert SweepSpec("probe", DATASET, "abc", FAST, (), 60.0).kind is SweepKind.PROBE


def test_records_read_flags_per_sweep() -> None:
    rows = [
        (1, "a/d2/s64/b64/r0", 1, 1.0),
        (1, "b/d2/s64/b64/r0", 0, 3.0),
        (1, "a/d2/s64/b64/r1", 1, 1.5),
        (1, "b/d2/s64/b64/r1", 0, 3.1),
        (2, "c/d2/s64/b64/r0", None, 2.0),  # sweep 2 recorded no sentinel (an older store)
        (2, "c/d2/s64/b64/r1", None, 2.2),
    ]
    frame = pd.DataFrame(rows, columns=["sweep_id", "run_key", "sentinel", "energy_per_datum_j"])
    frame = frame.assign(run_id=range(len(frame)), status="ok", phase="train")
    assert noise_floor(frame)[1] == 2  # sweep 1: b's pair (a is its sentinel); sweep 2: c's pair (2 < 4 measured)
    assert drift(frame, sweep_id=1).config_key == "a/d2/s64/b64" and drift(frame, sweep_id=2).count == 2
