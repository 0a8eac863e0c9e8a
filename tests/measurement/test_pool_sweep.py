"""A sweep over a pool of workers, without Dask (a scripted pool): every planned run committed once by this
process, one run in flight per worker, lost runs queued again once then recorded failed, the worker and
hardware of every run recorded, the serial policies (budget, stop, idle, meter failures) kept."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from measurement.datasets import load_dataset
from measurement.store import RunStore
from measurement.sweep import SweepEvent, SweepSpec, plan_calibration, run_sweep_on_pool
from tests.fakes.measurement import FAST, FP, FP_GPU, FakeClock
from tests.fakes.pool import FakePool, fake_result

DATASET = "synthetic:300,6,3"
METER = ("replay", "measured")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


@pytest.fixture(scope="module")
def spec(dataset) -> SweepSpec:
    runs = plan_calibration(FP, dataset.input_dim, dataset.output_dim, 600, FAST, int(dataset.x_test.shape[0]),
                            max_runs=12)  # fmt: skip
    assert len(runs) == 12
    return SweepSpec("calibrate", DATASET, dataset.fingerprint(), FAST, tuple(runs), 600.0)


def _rows(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT run_key, worker, status, reject_reason FROM runs ORDER BY id").fetchall()


def test_every_planned_run_is_committed_once_by_both_workers(tmp_path: Path, spec, dataset) -> None:
    pool, events = FakePool(), []
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 600.0, progress=events.append)
        frame = store.frame()
    rows = _rows(tmp_path / "s.sqlite")
    assert sorted(k for k, *_ in rows) == sorted(r.key for r in spec.runs)  # each once
    assert {w for _, w, *_ in rows} == {"tcp://w1:1", "tcp://w2:2"}
    assert summary.complete and summary.committed_now == 12 and summary.requeued == 0
    assert summary.workers == {"tcp://w1:1": 6, "tcp://w2:2": 6} and summary.meter == "replay"
    assert set(frame["worker"]) == {"tcp://w1:1", "tcp://w2:2"} and set(frame["hardware"]) == {FP.digest()}
    finished = [e for e in events if e.kind == "run_finished"]
    assert len(finished) == 12 and finished[-1].workers == (("tcp://w1:1", 6), ("tcp://w2:2", 6))
    assert all(e.worker for e in finished)


def test_a_lost_run_is_queued_again_once_then_recorded_failed(tmp_path: Path, spec, dataset) -> None:
    once, twice = spec.runs[0].key, spec.runs[5].key
    pool = FakePool(lose={once: 1, twice: 2})
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 600.0)
        exported = store.frame()
    rows = {k: (status, reason) for k, _, status, reason in _rows(tmp_path / "s.sqlite")}
    assert len(rows) == 12 and sum(k == once for _, k in pool.submitted) == 2
    assert sum(k == twice for _, k in pool.submitted) == 2  # queued again once, never a third time
    assert rows[once] == ("ok", None)
    assert rows[twice][0] == "rejected" and rows[twice][1].startswith("lost with its worker twice: worker")
    assert summary.complete and summary.requeued == 2 and summary.rejected_now == 1
    lost = exported[exported["run_key"] == twice]
    assert len(lost) == 2 and (lost["status"] == "rejected").all()  # both phases, in the export too


def test_each_run_records_the_hardware_it_ran_on(tmp_path: Path, spec, dataset) -> None:
    pool = FakePool(fingerprints={"tcp://w2:2": FP_GPU})
    with RunStore(tmp_path / "s.sqlite") as store:
        run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 600.0)
        frame = store.frame()
        machines = {h.digest: h.runs for h in store.hardware_runs()}
    by_worker = frame.groupby("worker")["hardware"].unique()
    assert list(by_worker["tcp://w1:1"]) == [FP.digest()] and list(by_worker["tcp://w2:2"]) == [FP_GPU.digest()]
    assert machines == {FP.digest(): 6, FP_GPU.digest(): 6}


def test_stop_waits_for_runs_in_flight_and_resume_skips_committed(tmp_path: Path, spec, dataset) -> None:
    pool = FakePool()
    with RunStore(tmp_path / "s.sqlite") as store:
        first = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 600.0, should_stop=lambda: pool.returned >= 5)
        assert first.interrupted and not first.complete and pool.cancelled == 0
        assert first.committed_now == len(_rows(tmp_path / "s.sqlite")) >= 5  # those in flight were committed
        second = run_sweep_on_pool(spec, store, FakePool(), dataset, FP, METER, 600.0)
    assert second.already_done == first.committed_now and second.complete
    keys = [k for k, *_ in _rows(tmp_path / "s.sqlite")]
    assert sorted(keys) == sorted(r.key for r in spec.runs)


def test_budget_skips_runs_that_no_longer_fit(tmp_path: Path, spec, dataset) -> None:
    clock = FakeClock()
    pool = FakePool(on_finished=lambda n: clock.advance(30.0 if n >= 3 else 0.0))
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 60.0, clock=clock)
    assert 3 <= summary.committed_now < 12 and not summary.complete and not summary.interrupted


def test_the_budget_reserves_each_workers_due_idle_measurement(tmp_path: Path, spec, dataset) -> None:
    """A worker measures idle power before its first run and every idle_every_s: a run is handed to it only
    if it fits after that measurement, and once the worker has measured, its next runs reserve nothing."""
    with RunStore(tmp_path / "a.sqlite") as store:  # 59.99 s of idle in a 60 s budget: no run fits
        summary = run_sweep_on_pool(spec, store, FakePool(idle_w=3.0), dataset, FP, METER, 60.0, idle_s=59.99,
                                    clock=FakeClock())  # fmt: skip
    assert summary.committed_now == 0 and not summary.complete
    committed = {}
    for every_s in (0.0, 1e6):  # due before every run, or only before each worker's first
        clock = FakeClock()
        pool = FakePool(idle_w=3.0, on_finished=lambda n, clock=clock: clock.advance(10.0 if n else 0.0))
        with RunStore(tmp_path / f"{every_s}.sqlite") as store:
            summary = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 80.0, idle_s=30.0, clock=clock,
                                        idle_every_s=every_s)  # fmt: skip
        committed[every_s] = summary.committed_now
    assert 0 < committed[0.0] < committed[1e6], committed


def test_a_run_too_long_for_a_due_worker_waits_for_one_that_has_measured(tmp_path: Path, spec, dataset) -> None:
    """At 40 s of 60 a new worker joins (its idle measurement due: 30 s): the runs that fit without it are not
    dropped but go to the workers that have measured."""
    clock = FakeClock()

    def later(n: int) -> None:
        if n == 2 and "tcp://w3:3" not in pool.names:
            clock.advance(40.0)
            pool.names.insert(0, "tcp://w3:3")  # listed first: asked first

    pool = FakePool(idle_w=3.0, on_finished=later)
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 60.0, idle_s=30.0, clock=clock,
                                    idle_every_s=1e6)  # fmt: skip
    assert summary.committed_now == 12 and summary.complete
    assert "tcp://w3:3" not in {worker for worker, _ in pool.submitted}


def test_idle_power_per_worker_and_a_failed_idle_stops(tmp_path: Path, spec, dataset) -> None:
    events: list[SweepEvent] = []
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, FakePool(idle_w=3.0), dataset, FP, METER, 600.0,
                                    progress=events.append)  # fmt: skip
    assert summary.idle_power_w == 3.0 and sum(e.kind == "idle" for e in events) == 2

    class IdleFails(FakePool):
        def finished(self, timeout_s):
            return [dataclasses.replace(e, result=dataclasses.replace(e.result, result=None, idle_error="boom"))
                    for e in super().finished(timeout_s)]  # fmt: skip

    with RunStore(tmp_path / "t.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, IdleFails(), dataset, FP, METER, 600.0)
    assert summary.stop_reason == "idle measurement failed on host-1: boom" and summary.committed_now == 0


def test_meter_errors_in_a_row_on_one_worker_stop_the_sweep(tmp_path: Path, spec, dataset) -> None:
    def result(run):
        bad = run.run_key in {r.key for r in spec.runs[::2]}  # every other run: worker 1's, in turn
        return fake_result(run.arch, reject_reason="meter error: gone" if bad else None)

    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, FakePool(result=result), dataset, FP, METER, 600.0)
    assert summary.stop_reason.startswith("stopped after 3 runs in a row with meter errors")
    assert "tcp://w1:1" in summary.stop_reason and not summary.complete


def test_without_workers_the_sweep_stops_after_waiting(tmp_path: Path, spec, dataset) -> None:
    clock = FakeClock()
    pool = FakePool(workers=(), on_finished=lambda n: clock.advance(10.0))
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, METER, 3600.0, clock=clock)
    assert summary.stop_reason.startswith("no worker for") and summary.committed_now == 0
