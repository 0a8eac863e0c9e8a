"""kill -9 at random moments during calibrate and probe; after resume nothing is lost or duplicated."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakes.cli import ADVISOR

FAST = ["--windows", "3", "--window", "0.1s", "--idle", "0.05s", "--json"]
KILLS = 10
RUNS = {"calibrate": 20, "probe": 20}
SEEDS = {"calibrate": 1, "probe": 2}


def _keys(store: Path) -> list[str]:
    if not store.exists():
        return []
    try:
        with sqlite3.connect(store, timeout=10) as conn:
            return [r[0] for r in conn.execute("SELECT run_key FROM runs")]
    except sqlite3.OperationalError:
        return []


def _kill_and_resume(tmp_path: Path, command: list[str], kind: str) -> dict:
    rng = random.Random(SEEDS[kind])
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path)}
    store = tmp_path / "runs.sqlite"
    kills = 0
    for _ in range(KILLS):
        proc = subprocess.Popen([ADVISOR, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 5.0))  # anywhere: imports, planning, mid-run, mid-commit
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        keys = _keys(store)
        assert len(keys) == len(set(keys)), "a run was committed twice"
        if len(keys) == RUNS[kind]:
            break
    resumed = subprocess.run([ADVISOR, *command], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    keys = _keys(store)
    with sqlite3.connect(store) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        phases = conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        orphans = conn.execute("SELECT COUNT(*) FROM runs r WHERE NOT EXISTS "
                               "(SELECT 1 FROM measurements m WHERE m.run_id = r.id)").fetchone()[0]  # fmt: skip
        status = conn.execute("SELECT status FROM sweeps WHERE kind = ?", (kind,)).fetchone()[0]
    print(f"\n{kind}: {kills} kill -9, then resume: {len(keys)} runs, each once")
    return {"kills": kills, "keys": keys, "integrity": integrity, "phases": phases, "orphans": orphans,
            "status": status}  # fmt: skip


@pytest.mark.slow
def test_calibrate_survives_kill_9(tmp_path: Path) -> None:
    runs = RUNS["calibrate"]
    command = ["calibrate", "--max-runs", str(runs), "--dataset", "synthetic:400,5,3", *FAST]
    outcome = _kill_and_resume(tmp_path, command, "calibrate")
    assert outcome["kills"] >= 8
    assert len(outcome["keys"]) == len(set(outcome["keys"])) == runs
    assert outcome["integrity"] == "ok" and outcome["phases"] == 2 * runs and outcome["orphans"] == 0
    assert outcome["status"] == "complete"


@pytest.mark.slow
def test_probe_survives_kill_9(tmp_path: Path) -> None:
    runs = RUNS["probe"]
    command = ["probe", "synthetic:2000,8,3", "--epochs", "20", "--max-runs", str(runs), "--no-fit", *FAST]
    outcome = _kill_and_resume(tmp_path, command, "probe")
    assert outcome["kills"] >= 8
    assert len(outcome["keys"]) == len(set(outcome["keys"])) == runs
    assert outcome["integrity"] == "ok" and outcome["phases"] == 2 * runs and outcome["orphans"] == 0
    assert outcome["status"] == "complete"
