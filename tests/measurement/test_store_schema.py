"""A store of schema version 1 (before runs recorded their worker and hardware) is upgraded in place, in one
transaction, and keeps its runs; a run's hardware is its own, not only its sweep's."""

from __future__ import annotations

import json
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
    "    hardware_id INTEGER REFERENCES hardware(id), UNIQUE (sweep_id, run_key)",
    "finished_unix_s REAL NOT NULL, UNIQUE (sweep_id, run_key)",
).replace("sentinel TEXT, ", "")  # version 4 added the sweep's sentinel


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
