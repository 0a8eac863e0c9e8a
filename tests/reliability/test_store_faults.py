"""A full disk, a read-only location, and two calibrations on one store."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.harness import train_and_measure
from measurement.meters.estimate import EstimateMeter
from measurement.records import TrainConfig
from measurement.store import RunContext, RunStore, StoreError
from tests.fakes.cli import ADVISOR, assert_one_line_error, call_cli, run_cli
from tests.fakes.measurement import FP


def test_full_disk_leaves_no_partial_rows(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic:300,4,3")
    arch = size_architecture("rectangle", 3, 256, dataset.input_dim, dataset.output_dim)
    result = train_and_measure(arch, dataset, EstimateMeter(), TrainConfig(windows=3, window_s=0.005))
    ctx = RunContext("synthetic", dataset.fingerprint(), "multiclass", 240, 3840, 256, 256, 1, "cpu")
    with RunStore(tmp_path / "s.sqlite") as store:
        sweep = store.open_sweep(store.hardware_id(FP), "calibrate", "h", {}, "synthetic", "estimate", "estimated")
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    committed = 0
    with RunStore(tmp_path / "s.sqlite", max_pages=pages + 2) as store, pytest.raises(StoreError, match="full"):
        for i in range(1000):
            store.record_run(sweep, f"k{i}", result, ctx)
            committed += 1
    with RunStore(tmp_path / "s.sqlite") as store:
        runs = store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        phases = store.conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        windows = store.conn.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert runs == committed and phases == 2 * committed and windows == 6 * committed


def test_read_only_location_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = call_cli("calibrate", "--max-runs", "1", "--store", "/proc/advisor/runs.sqlite", "--dataset",
                      "synthetic:200,4,2", home=tmp_path, monkeypatch=monkeypatch)  # fmt: skip
    assert_one_line_error(result, "cannot open run store")


@pytest.mark.slow
def test_second_calibration_on_the_same_store_refuses(tmp_path: Path) -> None:
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path)}
    first = subprocess.Popen([ADVISOR, "calibrate", "--budget", "40s", "--dataset", "synthetic:400,5,3", "--json",
                              "--windows", "3", "--window", "0.05s"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    lock = tmp_path / "runs.sqlite.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (lock.exists() and (tmp_path / "runs.sqlite").exists()):
        time.sleep(0.1)
    time.sleep(1.0)
    second = run_cli("calibrate", "--budget", "20s", "--dataset", "synthetic:400,5,3", home=tmp_path)
    assert_one_line_error(second, "another calibration or probe is writing")
    _, err = first.communicate(timeout=180)
    assert first.returncode == 0, err  # the first one was not disturbed
