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
SMALL = ["--dataset", "synthetic:400,5,3"]
"""One small data set where the fault is found after planning (the default plan spans five and takes seconds)."""


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
        (["--meter", "trace", "--trace", "/nonexistent/trace.csv", *SMALL], "trace file not found"),
        (["--meter", "trace", *SMALL], "--trace"),
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
    result = call_cli("calibrate", "--meter", "trace", "--trace", str(trace), *SMALL, home=tmp_path,
                      monkeypatch=monkeypatch)  # fmt: skip
    assert_one_line_error(result, "timestamp")
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(30)))
    assert_one_line_error(
        call_cli("calibrate", "--dataset", str(data), home=tmp_path, monkeypatch=monkeypatch), "target"
    )
    assert not (tmp_path / "runs.sqlite").exists()


def test_runs_export_without_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(call_cli("runs", home=tmp_path, monkeypatch=monkeypatch), "no run store")


def _csv_dataset(path: Path, rows: int = 80) -> Path:
    """A small CSV data set: three continuous features and a 3-class target."""
    import numpy as np

    values = np.random.default_rng(3).random((rows, 3))
    lines = ["a,b,c,target"] + [f"{a:.4f},{b:.4f},{c:.4f},{i % 3}" for i, (a, b, c) in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_calibrate_over_two_data_sets_interrupted_then_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from advisor import calibration

    data = _csv_dataset(tmp_path / "three.csv")
    request = calibration.CalibrationRequest(
        budget_s=120.0, store=tmp_path / "runs.sqlite", meter=calibration.meter_options("estimate"),
        dataset=("synthetic:400,5,3", str(data)), max_runs=12, idle_s=0.0,
        config=calibration.TrainConfig(windows=3, window_s=0.02),
    )  # fmt: skip
    job = calibration.prepare(request)
    assert [d.input_dim for d in job.datasets] == [5, 3] and len(job.spec.datasets) == 2
    first = calibration.run(job, should_stop=lambda: len(_committed(job)) >= 2)
    assert first.interrupted and first.committed_now == 2
    # the CSV changed since: resuming refuses in one line and writes nothing
    data.write_text(data.read_text().replace("target\n", "target\n9.9,9.9,9.9,0\n", 1))
    common = ["--resume", "--json", "--store", str(tmp_path / "runs.sqlite"), "--meter", "estimate", "--idle", "0.01s"]
    assert_one_line_error(call_cli("calibrate", *common, home=tmp_path, monkeypatch=monkeypatch), "no longer matches")
    _csv_dataset(data)
    code, out, err = call_cli("calibrate", *common, home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["already_done"] == 2 and summary["committed_now"] == 10 and summary["complete"]
    assert set(summary["datasets"]) == {"synthetic:400,5,3", str(data)} and "drift" in summary
    code, out, err = call_cli("runs", "--store", str(tmp_path / "runs.sqlite"), home=tmp_path, monkeypatch=monkeypatch)
    frame = pd.read_csv(io.StringIO(out)).query("phase == 'train'")
    assert dict(frame.groupby("dataset")["input_dim"].first()) == {"synthetic:400,5,3": 5, str(data): 3}
    assert frame["run_key"].is_unique and len(frame) == 12


def _committed(job) -> list:
    """The runs committed so far in the job's store."""
    import sqlite3

    with sqlite3.connect(job.store_path) as conn:
        return conn.execute("SELECT run_key FROM runs").fetchall()


def test_the_default_calibration_spans_five_input_widths_and_the_summary_shows_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from advisor import calibration

    request = calibration.CalibrationRequest(store=tmp_path / "runs.sqlite")
    assert request.dataset_names == calibration.DEFAULT_CALIBRATION_DATASETS
    widths = [int(name.split(",")[1]) for name in request.dataset_names]
    assert widths == [8, 32, 128, 512, 2048] and not {13, 30, 64, 100, 784} & set(widths)  # held out
    args = ["--budget", "2m", "--max-runs", "3", "--meter", "estimate", "--windows", "3", "--window", "0.02s",
            "--idle", "0.05s"]  # fmt: skip
    code, out, err = call_cli("calibrate", *args, home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "sentinel drift" in out and "n/a (" in out and "repeat-noise floor" in out
    code, out, err = call_cli("runs", home=tmp_path, monkeypatch=monkeypatch)
    frame = pd.read_csv(io.StringIO(out))
    assert frame["run_key"].iloc[0] == "rectangle/d4/s16384/b256/x2/r0"  # the sentinel, on the middle width
    assert set(frame["input_dim"]) <= set(widths) and frame["dataset"].iloc[0] == "synthetic:4096,128,10"


@pytest.mark.parametrize(
    ("datasets", "fragment"),
    [(("digits", "digits"), "named twice"), (tuple(f"synthetic:100,{i},2" for i in range(1, 18)), "at most 16")],
)
def test_bad_data_set_lists_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, datasets: tuple[str, ...], fragment: str
) -> None:
    flags = [arg for name in datasets for arg in ("--dataset", name)]
    assert_one_line_error(call_cli("calibrate", *flags, home=tmp_path, monkeypatch=monkeypatch), fragment)
    assert not (tmp_path / "runs.sqlite").exists()
