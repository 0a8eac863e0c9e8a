"""A store of schema version 1 (before runs recorded their worker and hardware) is upgraded in place, in one
transaction, and keeps its runs; a run's hardware is its own, not only its sweep's."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.records import EXPORT_COLUMNS
from measurement.store import SCHEMA, SCHEMA_VERSION, RunStore, StoreError
from tests.fakes.measurement import FP, FP_GPU, run_context
from tests.fakes.pool import fake_result

V1_SCHEMA = SCHEMA.replace(
    "finished_unix_s REAL NOT NULL, worker TEXT NOT NULL DEFAULT 'local',\n"
    "    hardware_id INTEGER REFERENCES hardware(id), learning_rate REAL, constant_accuracy REAL,\n"
    "    UNIQUE (sweep_id, run_key)",
    "finished_unix_s REAL NOT NULL, UNIQUE (sweep_id, run_key)",
).replace("sentinel TEXT, ", "")  # version 4 added the sweep's sentinel, 6 the learning rate, 7 the floor


def _version_1_store(path: Path) -> None:
    assert V1_SCHEMA != SCHEMA, "the version-1 runs table is derived from today's: update the replacement"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO hardware VALUES (1, ?, ?, 0)", (FP.digest(), json.dumps(FP.to_dict())))
        conn.execute("INSERT INTO sweeps VALUES (1, 1, 'calibrate', 'h', '{}', 'synthetic:300,6,3', 'estimate',"
                     " 'estimated', 1.0, 'complete', 0)")  # fmt: skip
        conn.execute(
            "INSERT INTO runs VALUES (1, 1, 'rectangle/d2/s64/b16/r0', 'rectangle', 2, 64, 70, '[9, 3]', 6, 3,"
            " 'synthetic:300,6,3', 'x', 'multiclass', 240, 5760, 16, 0, 1, 'cpu', 'estimate', 'estimated', 1.0,"
            " 1.1, 0.3, 0.5, 'ok', NULL, 5)"
        )
        for phase in ("train", "inference"):
            conn.execute("INSERT INTO measurements (run_id, phase, batch_size, energy_per_datum_j) VALUES (1, ?, 16,"
                         " 1e-4)", (phase,))  # fmt: skip


def test_a_version_1_store_is_upgraded_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _version_1_store(path)
    with RunStore(path, readonly=True) as store:  # even a read-only open (advisor runs) upgrades it
        frame = store.frame()
    assert tuple(frame.columns) == EXPORT_COLUMNS and len(frame) == 2
    assert set(frame["worker"]) == {"local"} and set(frame["hardware"]) == {FP.digest()}
    assert set(frame["run_key"]) == {"rectangle/d2/s64/b16/r0"}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
        assert conn.execute("SELECT hardware_id, worker FROM runs").fetchone() == (1, "local")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with RunStore(path) as store:  # opening it again changes nothing
        assert store.completed_keys(1) == {"rectangle/d2/s64/b16/r0"}
        machines = store.hardware_runs()
    assert [(m.digest, m.runs) for m in machines] == [(FP.digest(), 1)]


def test_a_failed_upgrade_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _version_1_store(path)
    with sqlite3.connect(path) as conn:  # a column of that name already there: the second ALTER fails
        conn.execute("ALTER TABLE runs ADD COLUMN hardware_id INTEGER")
    with pytest.raises(StoreError, match="cannot write run store"):
        RunStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == "1"  # rolled back as a whole
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert "worker" not in columns


def test_a_run_records_its_own_worker_and_hardware(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic:300,6,3")
    arch = size_architecture("rectangle", 2, 64, dataset.input_dim, dataset.output_dim)
    with RunStore(tmp_path / "s.sqlite") as store:
        sweep = store.open_sweep(store.hardware_id(FP), "calibrate", "h", {}, "synthetic:300,6,3", "replay", "measured")
        store.record_run(sweep, "a/r0", fake_result(arch), run_context(dataset))
        store.record_run(sweep, "b/r0", fake_result(arch), run_context(dataset), "tcp://w:1", store.hardware_id(FP_GPU))
        frame = store.frame()
    assert frame.groupby("run_key")["worker"].first().to_dict() == {"a/r0": "local", "b/r0": "tcp://w:1"}
    assert frame.groupby("run_key")["hardware"].first().to_dict() == {"a/r0": FP.digest(), "b/r0": FP_GPU.digest()}


STORES = Path(__file__).resolve().parents[1] / "data" / "stores"


@pytest.mark.parametrize(("fixture", "learning_rate"), [("probe_v5.sqlite", 3e-4), ("calibration_v3.sqlite", 1e-4)])
def test_an_older_store_fills_each_runs_learning_rate_from_its_sweeps_config(
    tmp_path: Path, fixture: str, learning_rate: float
) -> None:
    """probe_v5 was written by the code before schema 6 at lr 3e-4; calibration_v3 by older code at the default."""
    path = tmp_path / fixture
    shutil.copyfile(STORES / fixture, path)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    with RunStore(path, readonly=True) as store:
        frame, curves = store.frame(), store.curves_frame()
    assert before > 0 and frame["run_id"].nunique() == before
    assert set(frame["learning_rate"]) == {learning_rate}
    assert curves.empty or set(curves["learning_rate"]) == {learning_rate}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION) == "7"


def test_the_upgrade_leaves_measured_programs_without_a_learning_rate(tmp_path: Path) -> None:
    """A user's measured program has no recipe the store knows; a sweep whose plan has no config gets the
    default a sweep then trained with."""
    path = tmp_path / "v5.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace("learning_rate REAL, constant_accuracy REAL,", ""))
        conn.execute("INSERT INTO meta VALUES ('schema_version', '5')")
        conn.execute("INSERT INTO hardware VALUES (1, ?, ?, 0)", (FP.digest(), json.dumps(FP.to_dict())))
        for sweep, kind, plan in ((1, "measure", '{"label": "x"}'), (2, "probe", "{}"),
                                  (3, "probe", '{"config": {"learning_rate": 0.003}}')):  # fmt: skip
            conn.execute("INSERT INTO sweeps VALUES (?, 1, ?, ?, ?, 'd', 'estimate', 'estimated', 1.0, 'complete', 0,"
                         " NULL)", (sweep, kind, f"h{sweep}", plan))  # fmt: skip
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, 'rectangle/d2/s64/b16/r0', 'rectangle', 2, 64, 70, '[9, 3]', 6, 3,"
                " 'd', 'x', 'multiclass', 240, 5760, 16, 0, 1, 'cpu', 'estimate', 'estimated', 1.0,"
                " 1.1, 0.3, 0.5, 'ok', NULL, 5, 'local', 1)",
                (sweep, sweep),
            )
    RunStore(path).close()
    with sqlite3.connect(path) as conn:
        rates = dict(conn.execute("SELECT sweep_id, learning_rate FROM runs").fetchall())
    assert rates == {1: None, 2: 1e-4, 3: 0.003}


def test_a_run_records_the_learning_rate_it_trained_with(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic:300,6,3")
    arch = size_architecture("rectangle", 2, 64, dataset.input_dim, dataset.output_dim)
    context = dataclasses.replace(run_context(dataset), learning_rate=3e-3)
    with RunStore(tmp_path / "s.sqlite") as store:
        sweep = store.open_sweep(store.hardware_id(FP), "probe", "h", {}, "synthetic:300,6,3", "replay", "measured")
        store.record_run(sweep, "rectangle/d2/s64/b64/lr0.003/r0", fake_result(arch), context)
        frame = store.frame()
    assert tuple(frame.columns) == EXPORT_COLUMNS and set(frame["learning_rate"]) == {3e-3}


def test_an_older_store_gains_the_floor_column_empty_and_new_runs_record_it(tmp_path: Path) -> None:
    """Schema 7: ``runs.constant_accuracy``; runs of a store written before it read as not recorded (the
    accuracy model then falls back to guessing), a new run records its data set's."""
    path = tmp_path / "v6.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace("constant_accuracy REAL,", ""))
        conn.execute("INSERT INTO meta VALUES ('schema_version', '6')")
    dataset = load_dataset("synthetic:300,6,3")
    arch = size_architecture("rectangle", 2, 64, dataset.input_dim, dataset.output_dim)
    with RunStore(path) as store:
        sweep = store.open_sweep(store.hardware_id(FP), "probe", "h", {}, "synthetic:300,6,3", "replay", "measured")
        store.record_run(sweep, "rectangle/d2/s64/b64/r0", fake_result(arch), run_context(dataset))
        frame = store.frame()
    assert tuple(frame.columns) == EXPORT_COLUMNS
    assert set(frame["constant_accuracy"]) == {dataset.constant_accuracy} and 0 < dataset.constant_accuracy < 1
