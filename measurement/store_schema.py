"""The run store's schema: today's tables, the statements that upgrade an older store one version at a time, and
the queries of the run and learning-curve exports (:mod:`measurement.store` runs them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from measurement.measured import MEASURED_TABLE
from measurement.records import CURVE_COLUMNS, EXPORT_COLUMNS, TrainConfig

SCHEMA_VERSION = 7
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hardware (
    id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, fingerprint_json TEXT NOT NULL, created_unix_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY, hardware_id INTEGER NOT NULL REFERENCES hardware(id), kind TEXT NOT NULL,
    plan_hash TEXT NOT NULL, plan_json TEXT NOT NULL, dataset TEXT NOT NULL, meter TEXT NOT NULL,
    meter_kind TEXT NOT NULL, idle_power_w REAL, status TEXT NOT NULL, created_unix_s REAL NOT NULL,
    sentinel TEXT, UNIQUE (hardware_id, plan_hash)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, sweep_id INTEGER NOT NULL REFERENCES sweeps(id), run_key TEXT NOT NULL,
    shape TEXT NOT NULL, depth INTEGER NOT NULL, target_size INTEGER NOT NULL, params INTEGER NOT NULL,
    widths_json TEXT NOT NULL, input_dim INTEGER NOT NULL, output_dim INTEGER NOT NULL,
    dataset TEXT NOT NULL, dataset_hash TEXT NOT NULL, task TEXT NOT NULL, train_samples INTEGER NOT NULL,
    train_bytes INTEGER NOT NULL, batch_size INTEGER NOT NULL, epochs_trained REAL NOT NULL,
    threads INTEGER NOT NULL, device TEXT NOT NULL, meter TEXT NOT NULL, meter_kind TEXT NOT NULL,
    idle_power_w REAL NOT NULL, test_loss REAL, test_accuracy REAL, wall_s REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'rejected')), reject_reason TEXT,
    finished_unix_s REAL NOT NULL, worker TEXT NOT NULL DEFAULT 'local',
    hardware_id INTEGER REFERENCES hardware(id), learning_rate REAL, constant_accuracy REAL,
    UNIQUE (sweep_id, run_key)
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), phase TEXT NOT NULL,
    batch_size INTEGER NOT NULL, energy_per_datum_j REAL, raw_energy_per_datum_j REAL, spread REAL,
    samples_per_s REAL, reject_reason TEXT, UNIQUE (run_id, phase)
);
CREATE TABLE IF NOT EXISTS windows (
    measurement_id INTEGER NOT NULL REFERENCES measurements(id), idx INTEGER NOT NULL,
    energy_j REAL NOT NULL, duration_s REAL NOT NULL, datums INTEGER NOT NULL,
    standardised_j REAL NOT NULL, outlier INTEGER NOT NULL, PRIMARY KEY (measurement_id, idx)
);
"""
"""Today's tables. ``runs.learning_rate`` (schema version 6) is Adam's learning rate the run trained with; NULL
for a user's measured program (``advisor measure``), whose recipe the store does not know.
``runs.constant_accuracy`` (version 7) is the test accuracy of always predicting the training set's most frequent
class (the accuracy model's floor); NULL for regression, measured programs and runs of older stores."""
CURVES_TABLE = """
CREATE TABLE IF NOT EXISTS curves (
    run_id INTEGER NOT NULL REFERENCES runs(id), epoch REAL NOT NULL, train_loss REAL, test_loss REAL,
    test_accuracy REAL, PRIMARY KEY (run_id, epoch)
);
"""
"""Learning curves (schema version 3): one row per run and checkpoint."""
SCHEMA += CURVES_TABLE + MEASURED_TABLE


Migration = str | Callable[[sqlite3.Connection], None]
"""One step of an upgrade: an SQL statement, or a function of the connection (inside the upgrade's transaction)."""


def _add_learning_rate(conn: sqlite3.Connection) -> None:
    """Schema 5 -> 6: ``runs.learning_rate``, filled for every trained run from its sweep's stored config (the
    plan's ``config.learning_rate``), else the default a sweep then trained with; measured programs stay NULL."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if "learning_rate" not in columns:
        conn.execute("ALTER TABLE runs ADD COLUMN learning_rate REAL")
    conn.execute(
        "UPDATE runs SET learning_rate = COALESCE((SELECT CASE WHEN json_valid(s.plan_json)"
        " THEN json_extract(s.plan_json, '$.config.learning_rate') END FROM sweeps s WHERE s.id = runs.sweep_id), ?)"
        " WHERE learning_rate IS NULL AND (SELECT s.kind FROM sweeps s WHERE s.id = runs.sweep_id) != 'measure'",
        (TrainConfig().learning_rate,),
    )


def _add_constant_accuracy(conn: sqlite3.Connection) -> None:
    """Schema 6 -> 7: ``runs.constant_accuracy``, NULL for the runs already stored (their data sets' class
    shares were not recorded)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if "constant_accuracy" not in columns:
        conn.execute("ALTER TABLE runs ADD COLUMN constant_accuracy REAL")


MIGRATIONS: dict[int, tuple[Migration, ...]] = {
    1: (
        "ALTER TABLE runs ADD COLUMN worker TEXT NOT NULL DEFAULT 'local'",
        "ALTER TABLE runs ADD COLUMN hardware_id INTEGER REFERENCES hardware(id)",
        "UPDATE runs SET hardware_id = (SELECT s.hardware_id FROM sweeps s WHERE s.id = runs.sweep_id)",
    ),
    2: (CURVES_TABLE,),  # runs of older stores have no curve
    3: ("ALTER TABLE sweeps ADD COLUMN sentinel TEXT",),  # NULL: not recorded (the sentinel is inferred)
    4: (MEASURED_TABLE,),  # measured programs (advisor measure); older stores hold none
    5: (_add_learning_rate,),  # each run's learning rate, from its sweep's config
    6: (_add_constant_accuracy,),  # NULL: not recorded (the accuracy model's floor falls back to guessing)
}
"""Statements that upgrade a store from each older schema version to the next."""


def migrate(conn: sqlite3.Connection, version: int) -> int:
    """Apply every migration from ``version`` on (the caller holds the transaction); the version reached."""
    while version in MIGRATIONS:
        for step in MIGRATIONS[version]:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
        version += 1
    return version


_EXPORT_SQL = {
    "run_id": "r.id",
    "sweep_id": "r.sweep_id",
    "sweep_kind": "s.kind",
    "hardware": "h.digest",
    "batch_size": "m.batch_size",
    "train_batch_size": "r.batch_size",
    "phase": "m.phase",
    "energy_per_datum_j": "m.energy_per_datum_j",
    "raw_energy_per_datum_j": "m.raw_energy_per_datum_j",
    "spread": "m.spread",
    "samples_per_s": "m.samples_per_s",
    "status": "CASE WHEN x.status = 'failed' THEN 'failed'"
    " WHEN r.status = 'ok' AND m.reject_reason IS NULL THEN 'ok' ELSE 'rejected' END",
    "reject_reason": "COALESCE(m.reject_reason, r.reject_reason)",
    # the run's config is the sweep's sentinel: its key is the run key less "/rREPEAT"
    "sentinel": "CASE WHEN s.sentinel IS NULL THEN NULL"
    " WHEN substr(r.run_key, 1, length(s.sentinel) + 2) = s.sentinel || '/r' THEN 1 ELSE 0 END",
}
"""SQL for each export column that is not simply the ``runs`` column of the same name."""
EXPORT_QUERY = (
    "SELECT "
    + ", ".join(f"{_EXPORT_SQL.get(column, f'r.{column}')} AS {column}" for column in EXPORT_COLUMNS)
    + " FROM runs r JOIN measurements m ON m.run_id = r.id JOIN sweeps s ON s.id = r.sweep_id"
    " JOIN hardware h ON h.id = COALESCE(r.hardware_id, s.hardware_id) LEFT JOIN measured x ON x.run_id = r.id"
    " {where} ORDER BY r.id, m.phase DESC"
)
"""The run export (:data:`~measurement.records.EXPORT_COLUMNS`); ``{where}`` filters the sweeps."""
_CURVE_SQL = {
    "run_id": "r.id",
    "sweep_kind": "s.kind",
    "hardware": "h.digest",
    "epoch": "c.epoch",
    "train_loss": "c.train_loss",
    "test_loss": "c.test_loss",
    "test_accuracy": "c.test_accuracy",
}
CURVE_QUERY = (
    "SELECT "
    + ", ".join(f"{_CURVE_SQL.get(column, f'r.{column}')} AS {column}" for column in CURVE_COLUMNS)
    + " FROM curves c JOIN runs r ON r.id = c.run_id JOIN sweeps s ON s.id = r.sweep_id"
    " JOIN hardware h ON h.id = COALESCE(r.hardware_id, s.hardware_id) ORDER BY r.id, c.epoch"
)
"""The learning-curve export (:data:`~measurement.records.CURVE_COLUMNS`)."""
