"""``advisor calibrate`` and ``advisor runs`` end to end, bad input, and a kill -9 in the middle."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.advisor.cli_helpers import ADVISOR, DATA, assert_one_line_error, run_cli

FAST = ["--windows", "3", "--window", "0.02s", "--idle", "0.05s", "--dataset", "synthetic:400,5,3"]


def test_calibrate_small_sweep_and_export(tmp_path: Path) -> None:
    result = run_cli("calibrate", "--budget", "2m", "--max-runs", "4", "--json", *FAST, home=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["committed_now"] == 4 and summary["complete"]
    assert summary["meter_kind"] == "estimated"
    assert "ESTIMATED" in result.stderr  # the progress header says so
    out = tmp_path / "runs.parquet"
    export = run_cli("runs", "--format", "parquet", "--out", str(out), home=tmp_path)
    assert export.returncode == 0, export.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 8 and (frame["meter_kind"] == "estimated").all()
    again = run_cli("calibrate", "--budget", "2m", "--max-runs", "4", "--json", *FAST, home=tmp_path)
    assert json.loads(again.stdout)["committed_now"] == 0  # same plan: nothing redone


def test_calibrate_with_replay_meter_is_labelled_measured(tmp_path: Path) -> None:
    result = run_cli("calibrate", "--max-runs", "2", "--json", "--meter", "replay", "--replay",
                     str(DATA / "replay_readings.csv"), *FAST, home=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["meter"] == "replay"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--meter", "wattson"], "unknown meter"),
        (["--meter", "trace", "--trace", "/nonexistent/trace.csv"], "trace file not found"),
        (["--meter", "trace"], "--trace"),
        (["--budget", "abc"], "duration"),
        (["--budget", "0"], "duration"),
        (["--dataset", "nosuch"], "unknown dataset"),
        (["--device", "tpu"], "unknown device"),
        (["--core-watts", "-3"], "core-watts"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_bad_input_one_line_exit_2_store_untouched(tmp_path: Path, extra: list[str], fragment: str) -> None:
    result = run_cli("calibrate", *extra, home=tmp_path)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs.sqlite").exists()


def test_trace_without_timestamps_and_dataset_without_target(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("watts\n100\n110\n")
    assert_one_line_error(run_cli("calibrate", "--meter", "trace", "--trace", str(trace), home=tmp_path), "timestamp")
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(30)))
    assert_one_line_error(run_cli("calibrate", "--dataset", str(data), home=tmp_path), "target")
    assert not (tmp_path / "runs.sqlite").exists()


def test_runs_export_without_store(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("runs", home=tmp_path), "no run store")


@pytest.mark.slow
def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    args = ["calibrate", "--max-runs", "8", "--json", *FAST]
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path)}
    store = tmp_path / "runs.sqlite"
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen([ADVISOR, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _committed(store):
            time.sleep(0.05)  # wait until the sweep is writing, then kill at a random moment
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        before = _committed(store)
        assert len(before) == len(set(before))
    assert kills >= 1
    resumed = subprocess.run([ADVISOR, "calibrate", "--resume", "--json", "--idle", "0.05s"], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode in (0, 2), resumed.stderr
    if resumed.returncode == 2:  # the last try may already have finished the sweep
        assert "nothing to resume" in resumed.stderr
    keys = _committed(store)
    assert len(keys) == 8 and len(set(keys)) == 8
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 16
        assert conn.execute("SELECT status FROM sweeps").fetchone()[0] == "complete"


def _committed(store: Path) -> list[str]:
    if not store.exists():
        return []
    try:
        with sqlite3.connect(store, timeout=10) as conn:
            return [r[0] for r in conn.execute("SELECT run_key FROM runs")]
    except sqlite3.OperationalError:
        return []
