"""kill -9 of ``advisor calibrate --cluster local:2`` mid-sweep: no worker outlives it, the store is whole, and
``--resume`` on a new cluster commits the rest (every planned run exactly once)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakes.cli import ADVISOR, DATA
from tests.fakes.processes import alive, descendants

pytest.importorskip("distributed")

RUNS = 16
COMMAND = ["calibrate", "--cluster", "local:2", "--meter", "replay", "--replay", str(DATA / "replay_readings.csv"),
           "--max-runs", str(RUNS), "--dataset", "synthetic:300,6,3", "--window", "0.01s", "--windows", "3",
           "--json"]  # fmt: skip


def _committed(store: Path) -> int:
    try:
        with sqlite3.connect(store, timeout=10) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def _workers(store: Path) -> set[str]:
    with sqlite3.connect(store, timeout=10) as conn:
        return {w for (w,) in conn.execute("SELECT DISTINCT worker FROM runs")}


def _wait_until(condition, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_kill_9_of_the_client_leaves_no_worker_and_resume_completes(tmp_path: Path) -> None:
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path)}
    store = tmp_path / "runs.sqlite"
    client = subprocess.Popen([ADVISOR, *COMMAND], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_until(lambda: _committed(store) >= 4, 240), "no runs committed in time"
        workers = descendants(client.pid)
        assert len(workers) >= 2, workers  # the two worker processes (at least)
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    assert _wait_until(lambda: not alive(workers), 5), f"workers outlived the client: {alive(workers)}"
    before = _workers(store)
    assert 4 <= _committed(store) < RUNS

    resumed = subprocess.run([ADVISOR, *COMMAND, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["complete"] and summary["already_done"] + summary["committed_now"] == RUNS
    with sqlite3.connect(store) as conn:
        keys = [k for (k,) in conn.execute("SELECT run_key FROM runs")]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        phases = conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        status = conn.execute("SELECT status FROM sweeps").fetchall()
    assert len(keys) == len(set(keys)) == RUNS and phases == 2 * RUNS
    assert integrity == "ok" and status == [("complete",)]
    assert _workers(store) - before, "the resumed runs came from the new cluster's workers"
