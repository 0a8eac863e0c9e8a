"""``advisor calibrate`` / ``advisor probe`` on Dask: a local cluster and an existing scheduler, the ``worker``
column and the machines of ``advisor runs``, ``advisor fit --hardware``; bad cluster options and
out-of-range numbers refused in one line before any work; without a cluster, Dask is never imported."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.store import RunStore
from tests.fakes.cli import ADVISOR, DATA, assert_one_line_error, call_cli, run_cli
from tests.fakes.measurement import FP, run_context
from tests.fakes.pool import fake_result

pytest.importorskip("distributed")

REPLAY = ["--meter", "replay", "--replay", str(DATA / "replay_readings.csv")]
DATASET = "synthetic:300,6,3"
TINY = ["--dataset", DATASET, "--window", "0.01s", "--windows", "3", "--json"]


@pytest.mark.slow
def test_calibrate_on_two_local_workers_records_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end on a real two-worker Dask cluster (the fast tier: the store's side just below, and the pool
    executor on a real cluster in tests/measurement/test_dask_sweep.py)."""
    result = run_cli("calibrate", "--cluster", "local:2", *REPLAY, "--max-runs", "12", *TINY, home=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["committed_now"] == 12 and summary["complete"] and len(summary["workers"]) == 2
    assert "on 2 Dask workers" in result.stderr and "Traceback" not in result.stderr
    export = run_cli("runs", home=tmp_path)
    frame = pd.read_csv(io.StringIO(export.stdout))
    assert len(frame) == 24 and frame["worker"].nunique() == 2 and frame["run_key"].nunique() == 12
    assert frame["worker"].str.startswith("tcp://").all() and frame["hardware"].nunique() == 1
    code, out, err = call_cli("runs", "--hardware", home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    header, line = out.strip().splitlines()
    assert header.split()[:3] == ["hardware", "runs", "cores"]
    assert line.split()[:2] == [frame["hardware"].iloc[0], "12"]
    assert_one_line_error(call_cli("fit", "--hardware", "feedbeef", home=tmp_path, monkeypatch=monkeypatch),
                          "advisor runs --hardware")  # fmt: skip


def test_runs_lists_the_machines_and_fit_points_to_that_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store as a two-worker sweep leaves it (runs recorded with their workers' addresses, no training):
    the export's worker column, ``runs --hardware``, and ``fit --hardware`` naming an unknown machine."""
    dataset = load_dataset(DATASET)
    with RunStore(tmp_path / "runs.sqlite") as store:
        hardware = store.hardware_id(FP)
        sweep = store.open_sweep(hardware, "calibrate", "h", {}, DATASET, "replay", "measured")
        for i, worker in enumerate(("tcp://w1:1", "tcp://w2:2", "tcp://w1:1")):
            arch = size_architecture("rectangle", 2, 64 << i, dataset.input_dim, dataset.output_dim)
            store.record_run(sweep, f"rectangle/d2/s{64 << i}/b64/r0", fake_result(arch), run_context(dataset, DATASET),
                             worker=worker, hardware_id=hardware)  # fmt: skip
    code, out, err = call_cli("runs", home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert len(frame) == 6 and sorted(frame["worker"].unique()) == ["tcp://w1:1", "tcp://w2:2"]
    assert frame["hardware"].nunique() == 1
    code, out, err = call_cli("runs", "--hardware", home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    header, line = out.strip().splitlines()
    assert header.split()[:3] == ["hardware", "runs", "cores"]
    assert line.split()[:3] == [frame["hardware"].iloc[0], "3", str(FP.logical_cores)]
    assert_one_line_error(call_cli("fit", "--hardware", "feedbeef", home=tmp_path, monkeypatch=monkeypatch),
                          "advisor runs --hardware")  # fmt: skip


@pytest.mark.slow
def test_probe_on_an_existing_scheduler(tmp_path: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_cli("probe", "synthetic:300,6,3", "--scheduler", cluster.scheduler_address, "--workers", "2",
                         *REPLAY, "--max-runs", "4", "--epochs", "1", "--no-fit", *TINY[2:], home=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(cluster.workers) == 2  # an existing cluster is left running
    report = json.loads(result.stdout)
    assert report["sweep"]["committed_now"] == 4 and report["sweep"]["complete"]
    assert sum(report["sweep"]["workers"].values()) == 4


def test_a_meter_a_worker_cannot_use_is_one_line_naming_the_worker(tmp_path: Path) -> None:
    if Path("/sys/class/powercap/intel-rapl:0").exists():
        pytest.skip("this machine has RAPL: the workers could use it")
    result = run_cli("calibrate", "--cluster", "local:1", "--meter", "rapl", *TINY, home=tmp_path)
    assert_one_line_error(result, "on worker tcp://")
    assert not (tmp_path / "runs.sqlite").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--cluster", "local:0"], "1 to 256"),
        (["--cluster", "kubernetes"], "unknown cluster"),
        (["--cluster", "local:2", "--scheduler", "tcp://10.0.0.1:8786"], "not both"),
        (["--scheduler", "http//nowhere"], "not a dask scheduler address"),
        (["--workers", "3"], "--workers needs --cluster"),
        (["--cluster", "slurm", "--workers", "999"], "1 to 256"),
        (["--cluster", "local:2", "--workers", "0"], "workers"),
        (["--windows", "5000"], "windows (--windows) must be an integer 1 to 1000"),
        (["--window", "0.0001s"], "window length"),
        (["--window", "20m"], "window length"),
        (["--threads", "2000"], "threads"),
        (["--max-runs", "200000"], "max runs"),
        (["--seed", "-1"], "seed"),
        (["--seed", str(2**32)], "seed"),
        (["--idle", "2h"], "idle length"),
        (["--budget", "60d"], "budget"),
    ],
)
def test_bad_cluster_options_and_numbers_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], fragment: str
) -> None:
    assert_one_line_error(call_cli("calibrate", *extra, home=tmp_path, monkeypatch=monkeypatch), fragment)
    assert not (tmp_path / "runs.sqlite").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [(["--epochs", "200000"], "epochs"), (["--batch-size", str(2**21)], "batch size"), (["--cluster", "pbs:3"], "pbs")],
)
def test_probe_refuses_out_of_range_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], fragment: str
) -> None:
    result = call_cli("probe", "synthetic:300,6,3", *extra, home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs.sqlite").exists()


def test_without_a_cluster_dask_is_never_imported(tmp_path: Path) -> None:
    code = f"""
import sys
from advisor.cli import main
code = main(["calibrate", "--max-runs", "1", "--store", {str(tmp_path / "s.sqlite")!r}, *{REPLAY + TINY!r}])
print(code, sorted(m for m in ("dask", "distributed", "dask_jobqueue") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 []"
    assert Path(ADVISOR).exists()
