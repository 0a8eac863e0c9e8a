"""``advisor calibrate`` and ``advisor runs`` end to end, bad input, and a kill -9 in the middle."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.advisor.cli_helpers import DATA, assert_one_line_error, run_cli

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
