"""``advisor calibrate`` and ``advisor runs`` end to end, and bad input.

Output and argument checks call the entry point in-process; the replay-meter run and its export use the installed
binary (the smoke test of both commands). Kills mid-run are in tests/reliability/test_kill_resume.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.fakes.cli import DATA, assert_one_line_error, call_cli, run_cli

FAST = ["--windows", "3", "--window", "0.02s", "--idle", "0.05s", "--dataset", "synthetic:400,5,3"]


def test_calibrate_small_sweep_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = call_cli("calibrate", "--budget", "2m", "--max-runs", "4", "--json", *FAST, home=tmp_path,
                              monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["committed_now"] == 4 and summary["complete"]
    assert summary["meter_kind"] == "estimated"
    assert "ESTIMATED" in err  # the progress header says so
    parquet = tmp_path / "runs.parquet"
    code, _, err = call_cli(
        "runs", "--format", "parquet", "--out", str(parquet), home=tmp_path, monkeypatch=monkeypatch
    )
    assert code == 0, err
    frame = pd.read_parquet(parquet)
    assert len(frame) == 8 and (frame["meter_kind"] == "estimated").all()
    _, out, _ = call_cli("calibrate", "--budget", "2m", "--max-runs", "4", "--json", *FAST, home=tmp_path,
                         monkeypatch=monkeypatch)  # fmt: skip
    assert json.loads(out)["committed_now"] == 0  # same plan: nothing redone


def test_calibrate_with_replay_meter_is_labelled_measured(tmp_path: Path) -> None:
    result = run_cli("calibrate", "--max-runs", "2", "--json", "--meter", "replay", "--replay",
                     str(DATA / "replay_readings.csv"), *FAST, home=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["meter"] == "replay"
    export = run_cli("runs", home=tmp_path)  # CSV on stdout
    assert export.returncode == 0, export.stderr
    frame = pd.read_csv(io.StringIO(export.stdout))
    assert len(frame) == 4 and (frame["meter"] == "replay").all()


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
def test_bad_input_one_line_exit_2_store_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], fragment: str
) -> None:
    result = call_cli("calibrate", *extra, home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs.sqlite").exists()


def test_trace_without_timestamps_and_dataset_without_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("watts\n100\n110\n")
    result = call_cli("calibrate", "--meter", "trace", "--trace", str(trace), home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, "timestamp")
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(30)))
    assert_one_line_error(
        call_cli("calibrate", "--dataset", str(data), home=tmp_path, monkeypatch=monkeypatch), "target"
    )
    assert not (tmp_path / "runs.sqlite").exists()


def test_runs_export_without_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(call_cli("runs", home=tmp_path, monkeypatch=monkeypatch), "no run store")
