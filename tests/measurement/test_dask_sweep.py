"""A sweep on a real Dask LocalCluster (2 single-threaded worker processes, replay meter): every planned run
committed exactly once, from both workers; a worker killed mid-sweep loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from measurement.cluster import ClusterSession, parse_cluster, start_cluster
from measurement.datasets import load_dataset
from measurement.distributed import WorkerSetup
from measurement.meters.auto import build_meter_options
from measurement.store import RunStore
from measurement.sweep import SweepEvent, SweepSpec, plan_calibration, run_sweep_on_pool
from tests.fakes.cli import DATA
from tests.fakes.measurement import FAST

pytest.importorskip("distributed")

DATASET = "synthetic:300,6,3"
OPTIONS = build_meter_options("replay", replay_path=DATA / "replay_readings.csv")


@pytest.fixture(scope="module")
def session() -> Iterator[ClusterSession]:
    with start_cluster(parse_cluster("local:2"), OPTIONS) as started:
        yield started


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


@pytest.fixture(scope="module")
def spec(session: ClusterSession, dataset) -> SweepSpec:
    runs = plan_calibration(session.fingerprint, dataset.input_dim, dataset.output_dim, 600, FAST,
                            int(dataset.x_test.shape[0]), max_runs=12)  # fmt: skip
    return SweepSpec("calibrate", DATASET, dataset.fingerprint(), FAST, tuple(runs), 600.0)


def _setup(dataset) -> WorkerSetup:
    return WorkerSetup(OPTIONS, DATASET, None, 0, dataset.fingerprint(), idle_s=0.0)


def _store(path: Path) -> tuple[list[tuple], str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT run_key, worker, status FROM runs ORDER BY id").fetchall()
        return rows, conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_every_planned_run_once_from_both_workers(tmp_path: Path, session: ClusterSession, spec, dataset) -> None:
    workers = set(session.reports)
    assert len(workers) == 2 and {r.meter for r in session.reports.values()} == {"replay"}
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, session.pool(_setup(dataset)), dataset, session.fingerprint,
                                    session.meter, 600.0)  # fmt: skip
        hardware = set(store.frame()["hardware"])
    rows, integrity = _store(tmp_path / "s.sqlite")
    assert sorted(k for k, _, _ in rows) == sorted(r.key for r in spec.runs)  # every planned run, once
    assert {w for _, w, _ in rows} == workers and all(s == "ok" for _, _, s in rows)
    assert summary.complete and summary.committed_now == 12 and set(summary.workers) == workers
    assert integrity == "ok" and hardware == {session.fingerprint.digest()}


@pytest.mark.slow
def test_killing_a_worker_mid_sweep_loses_and_duplicates_nothing(
    tmp_path: Path, session: ClusterSession, spec, dataset
) -> None:
    pids = session.client.run(os.getpid)
    started: list[str] = []

    def kill_the_fourth(event: SweepEvent) -> None:
        if event.kind == "run_started":
            started.append(event.worker)
            if len(started) == 4:  # its run is in flight on that worker, pinned there
                os.kill(pids[event.worker], signal.SIGKILL)

    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, session.pool(_setup(dataset)), dataset, session.fingerprint,
                                    session.meter, 600.0, progress=kill_the_fourth)  # fmt: skip
    rows, integrity = _store(tmp_path / "s.sqlite")
    keys = [k for k, _, _ in rows]
    assert len(keys) == len(set(keys)) == 12 and set(keys) == {r.key for r in spec.runs}
    assert all(s == "ok" for _, _, s in rows)  # the lost run was measured again, on a live worker
    assert summary.requeued == 1 and summary.complete and integrity == "ok"
    assert pids[started[3]] not in session.client.run(os.getpid).values()  # the nanny started a new one
