"""The run store: one SQLite file (WAL) holding hardware, sweeps, runs, phase measurements, windows, learning
curves and users' measured programs.

A run and everything it measured (its learning curve included) are written in one transaction when it
finishes, so a killed sweep leaves only whole runs behind and resumes by skipping the keys already
committed. A sweep records its plan and the config of its sentinel (the drift and noise-floor figures read
it). One calibration at a time may write a store: :meth:`RunStore.sweep_lock` takes an exclusive
lock file beside it. Each run records the worker that measured it (``local`` for a sweep on this machine)
and that worker's hardware; a store of an older schema is upgraded in place, in one transaction, when it
is opened (the tables and the upgrades are :mod:`measurement.store_schema`'s). A measured program (``advisor
measure``, :mod:`measurement.measured`) is a ``measure`` sweep of one run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from measurement.architecture import Architecture, Shape
from measurement.atomic import atomic_path
from measurement.errors import InputError
from measurement.hardware import Fingerprint
from measurement.measured import MEASURED_QUERY, MeasuredRun, insert_measured
from measurement.meters.base import MeterKind
from measurement.records import (
    CommittedRun,
    CurvePoint,
    Phase,
    PhaseResult,
    RunResult,
    RunScore,
    RunStatus,
    SweepKind,
    SweepStatus,
)
from measurement.store_schema import CURVE_QUERY, EXPORT_QUERY, MIGRATIONS, SCHEMA, SCHEMA_VERSION, migrate

if TYPE_CHECKING:
    from measurement.datasets import Task

STORE_FILENAME = "runs.sqlite"


class StoreError(InputError):
    """The store cannot be opened, written or locked; the message says what to do."""


@dataclass(frozen=True)
class RunContext:
    """What a run record needs beyond the harness result: the dataset and protocol it ran with (``learning_rate``:
    Adam's, as the run trained; None: not known; ``constant_accuracy``: the data set's
    :attr:`~measurement.datasets.Dataset.constant_accuracy`)."""

    dataset: str
    dataset_hash: str
    task: Task
    train_samples: int
    train_bytes: int
    batch_size: int
    inference_batch_size: int
    threads: int
    device: str
    learning_rate: float | None = None
    constant_accuracy: float | None = None


@dataclass(frozen=True)
class HardwareRuns:
    """One machine in the store: its id (the fingerprint's digest), fingerprint and run count."""

    digest: str
    fingerprint: Fingerprint
    runs: int


def advisor_home() -> Path:
    """Where the store and the profile live: ``$ADVISOR_HOME``, else the platform's user data dir."""
    home = os.environ.get("ADVISOR_HOME")
    if home:
        return Path(home)
    from platformdirs import user_data_dir

    return Path(user_data_dir("energy-advisor"))


def default_store_path() -> Path:
    """``<advisor home>/runs.sqlite``."""
    return advisor_home() / STORE_FILENAME


class RunStore:
    """A connection to one store file. Use as a context manager, or call close()."""

    def __init__(self, path: Path | str, readonly: bool = False, max_pages: int | None = None) -> None:
        """Open (creating if needed) the store at ``path``.

        ``max_pages`` caps the database size (SQLite ``max_page_count``): a quota, and how the tests
        reproduce a full disk.
        """
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise StoreError(f"no run store at {self.path} (run 'advisor calibrate' first, or pass --store)")
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
            self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self._create_if_new()
                if max_pages is not None:
                    self.conn.execute(f"PRAGMA max_page_count = {int(max_pages)}")
            version = self._schema_version()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open run store {self.path}: {exc}") from None
        self._lock_handle = None
        if version in MIGRATIONS:
            try:
                self._upgrade(readonly)
            except BaseException:
                self.conn.close()
                raise
        elif version != SCHEMA_VERSION:
            self.conn.close()
            raise StoreError(f"{self.path} is not a run store of schema version {SCHEMA_VERSION}")

    def _create_if_new(self) -> None:
        """Create today's schema in a file that has none (an older store's tables are left to :meth:`_upgrade`,
        whose single transaction adds what its version lacks)."""
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        if self.conn.execute("SELECT 1 FROM meta WHERE key = 'schema_version'").fetchone() is None:
            self.conn.executescript(SCHEMA)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _schema_version(self) -> int | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            return int(row[0]) if row else None
        except ValueError:
            return None

    def _upgrade(self, readonly: bool) -> None:
        """Bring an older store to :data:`SCHEMA_VERSION` in one transaction (a read-only open upgrades
        through a writable connection first); its runs are kept, recorded as measured ``local``ly."""
        if readonly:
            self.conn.close()
            try:
                RunStore(self.path).close()  # upgrades
            except StoreError as exc:
                raise StoreError(f"{self.path} has an older schema and cannot be upgraded here: {exc}") from None
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30, isolation_level=None)
            return
        with self.transaction() as conn:
            version = migrate(conn, self._schema_version())  # another process may have upgraded it meanwhile
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))

    def close(self) -> None:
        """Close the connection and release the sweep lock."""
        self.conn.close()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error (including KeyboardInterrupt)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write run store {self.path}: {exc}") from None
        try:
            yield self.conn
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"cannot write run store {self.path}: {exc}") from None
        except BaseException:
            self._rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"cannot write run store {self.path}: {exc}") from None

    def _rollback(self) -> None:
        if self.conn.in_transaction:  # SQLite has already rolled back after SQLITE_FULL and the like
            self.conn.execute("ROLLBACK")

    @staticmethod
    def ensure_unlocked(path: Path) -> None:
        """Refuse early (before any work) when another process holds ``path``'s sweep lock."""
        lock = Path(f"{path}.lock")
        if not lock.exists():
            return
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"another calibration or probe is writing {path}; wait for it or use another --store"
                ) from None
            fcntl.flock(handle, fcntl.LOCK_UN)

    def sweep_lock(self) -> None:
        """Take the store's exclusive sweep lock for this object's lifetime, or refuse clearly."""
        handle = open(f"{self.path}.lock", "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreError(
                f"another calibration or probe is writing {self.path}; wait for it or use another --store"
            ) from None
        self._lock_handle = handle

    def hardware_id(self, fp: Fingerprint) -> int:
        """Insert the fingerprint if new; return its id."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO hardware (digest, fingerprint_json, created_unix_s) VALUES (?, ?, ?)",
                (fp.digest(), json.dumps(fp.to_dict()), time.time()),
            )
            return conn.execute("SELECT id FROM hardware WHERE digest = ?", (fp.digest(),)).fetchone()[0]

    def open_sweep(
        self,
        hardware_id: int,
        kind: SweepKind,
        plan_hash: str,
        plan: dict,
        dataset: str,
        meter: str,
        meter_kind: MeterKind,
        sentinel: str | None = None,
    ) -> int:
        """Return the sweep with this plan on this hardware, creating it if new.

        Args:
            sentinel: the config key of the plan's sentinel (:data:`~measurement.records.NO_SENTINEL`: none;
                None: not known). A sweep that has not recorded its sentinel (an older store) records it now.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, meter FROM sweeps WHERE hardware_id = ? AND plan_hash = ?", (hardware_id, plan_hash)
            ).fetchone()
            if row is not None:
                if row[1] != meter:
                    raise StoreError(
                        f"sweep {row[0]} was measured with meter {row[1]!r}, not {meter!r}: "
                        "resume with the same meter, or change the plan"
                    )
                conn.execute(
                    "UPDATE sweeps SET status = ?, sentinel = COALESCE(sentinel, ?) WHERE id = ?",
                    (SweepStatus.RUNNING, sentinel, row[0]),
                )
                return row[0]
            cur = conn.execute(
                "INSERT INTO sweeps (hardware_id, kind, plan_hash, plan_json, dataset, meter, meter_kind, status,"
                " created_unix_s, sentinel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    hardware_id,
                    kind,
                    plan_hash,
                    json.dumps(plan),
                    dataset,
                    meter,
                    meter_kind,
                    SweepStatus.RUNNING,
                    time.time(),
                    sentinel,
                ),
            )
            return int(cur.lastrowid)

    def sweep_sentinel(self, sweep_id: int) -> str | None:
        """The config key of the sweep's sentinel as recorded (:data:`~measurement.records.NO_SENTINEL`: its plan
        has none; None: not recorded, a sweep of an older store)."""
        row = self.conn.execute("SELECT sentinel FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return row[0] if row else None

    def latest_unfinished_sweep(self, kind: SweepKind) -> tuple[int, dict] | None:
        """The newest sweep of ``kind`` that is not complete, with its stored plan."""
        row = self.conn.execute(
            "SELECT id, plan_json FROM sweeps WHERE kind = ? AND status != ? ORDER BY id DESC LIMIT 1",
            (kind, SweepStatus.COMPLETE),
        ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def sweep_dataset_specs(self, kind: SweepKind) -> list[str]:
        """The data set (a name, or a file's absolute path) of each sweep of ``kind``, newest first."""
        rows = self.conn.execute("SELECT dataset FROM sweeps WHERE kind = ? ORDER BY id DESC", (kind,))
        return [row[0] for row in rows]

    def find_sweep(self, plan_hash: str, hardware_id: int | None = None) -> tuple[int, SweepStatus, dict] | None:
        """The sweep with this plan (on this hardware; None: on any, the first): its id, status and stored plan."""
        row = self.conn.execute(
            "SELECT id, status, plan_json FROM sweeps WHERE plan_hash = ? AND (? IS NULL OR hardware_id = ?)"
            " ORDER BY id LIMIT 1",
            (plan_hash, hardware_id, hardware_id),
        ).fetchone()
        return (row[0], SweepStatus(row[1]), json.loads(row[2])) if row else None

    def run_scores(self, sweep_id: int) -> list[RunScore]:
        """How each committed run of a sweep trained (accepted or not: a rejected energy measurement leaves its
        test metrics valid), in commit order."""
        rows = self.conn.execute(
            "SELECT run_key, params, test_loss, test_accuracy FROM runs WHERE sweep_id = ? ORDER BY id", (sweep_id,)
        )
        return [
            RunScore(run_key=key, params=params, test_loss=_finite(loss), test_accuracy=acc)
            for key, params, loss, acc in rows
        ]

    def set_sweep_status(self, sweep_id: int, status: SweepStatus, idle_power_w: float | None = None) -> None:
        """Mark a sweep running / interrupted / complete (and remember its idle power)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE sweeps SET status = ?, idle_power_w = COALESCE(?, idle_power_w) WHERE id = ?",
                (status, idle_power_w, sweep_id),
            )

    def completed_keys(self, sweep_id: int) -> set[str]:
        """Run keys already committed in this sweep (ok or rejected: both are finished)."""
        rows = self.conn.execute("SELECT run_key FROM runs WHERE sweep_id = ?", (sweep_id,))
        return {r[0] for r in rows}

    def record_run(
        self,
        sweep_id: int,
        run_key: str,
        result: RunResult,
        ctx: RunContext,
        worker: str = "local",
        hardware_id: int | None = None,
    ) -> int:
        """Commit one finished run, its two phases, their windows and its learning curve in a single transaction.

        Args:
            worker: what measured it: ``local`` for this machine, else the Dask worker's address.
            hardware_id: the hardware it ran on (:meth:`hardware_id`); None means the sweep's hardware.
        """
        with self.transaction() as conn:
            if hardware_id is None:  # the sweep's (NULL for no such sweep: the insert then fails on its key)
                sql = "SELECT (SELECT hardware_id FROM sweeps WHERE id = ?)"
                hardware_id = conn.execute(sql, (sweep_id,)).fetchone()[0]
            row = _run_row(sweep_id, run_key, result, ctx) | {"worker": worker, "hardware_id": hardware_id}
            cur = conn.execute(
                f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values())
            )
            run_id = int(cur.lastrowid)
            for phase, batch in ((result.train, ctx.batch_size), (result.inference, ctx.inference_batch_size)):
                _insert_phase(conn, run_id, phase, batch)
            _insert_curve(conn, run_id, result.curve)
            return run_id

    def committed_runs(self, sweep_id: int) -> list[CommittedRun]:
        """The runs committed in one sweep, with their training phase, in commit order (one targeted query)."""
        rows = self.conn.execute(
            "SELECT r.run_key, r.shape, r.depth, r.target_size, r.input_dim, r.output_dim, r.widths_json, r.params,"
            " r.batch_size, m.energy_per_datum_j, r.status = ? AND m.reject_reason IS NULL"
            " FROM runs r JOIN measurements m ON m.run_id = r.id AND m.phase = ?"
            " WHERE r.sweep_id = ? ORDER BY r.id",
            (RunStatus.OK, Phase.TRAIN, sweep_id),
        )
        return [
            CommittedRun(
                run_key=key,
                arch=Architecture(
                    shape=Shape(shape),
                    depth=depth,
                    target_size=size,
                    input_dim=n_in,
                    output_dim=n_out,
                    widths=tuple(json.loads(widths)),
                    params=params,
                ),
                batch_size=batch,
                energy_per_datum_j=energy,
                ok=bool(ok),
            )
            for key, shape, depth, size, n_in, n_out, widths, params, batch, energy, ok in rows
        ]

    def frame(self, include_rejected: bool = True, include_measured: bool = False, include_rechecks: bool = False):
        """All runs, one row per run and phase, as a pandas DataFrame with exactly the columns
        :data:`~measurement.records.EXPORT_COLUMNS`, in that order (the export format); rejected and failed runs
        only ``include_rejected``, users' measured programs (sweep kind ``measure``: run key their label, phases
        theirs and ``total``) only ``include_measured``, rechecks of the machine (sweep kind ``recheck``) only
        ``include_rechecks``: fits and evaluations leave both out."""
        import pandas as pd

        kept = ((SweepKind.MEASURE, include_measured), (SweepKind.RECHECK, include_rechecks))
        left_out = [kind for kind, keep in kept if not keep]
        where = f"WHERE s.kind NOT IN ({', '.join(repr(str(k)) for k in left_out)})" if left_out else ""
        frame = pd.read_sql_query(EXPORT_QUERY.format(where=where), self.conn)
        if not include_rejected:
            frame = frame[frame["status"] == "ok"].reset_index(drop=True)
        return frame

    def record_measured(self, fp: Fingerprint, run: MeasuredRun) -> int:
        """Commit one measured program (machine, sweep, run, phases, windows) in one transaction; return its id."""
        with self.transaction() as conn:
            return insert_measured(conn, fp, run)

    def measured_frame(self):
        """Every measured program, one row each, with the columns :data:`~measurement.measured.MEASURED_COLUMNS`."""
        import pandas as pd

        return pd.read_sql_query(MEASURED_QUERY, self.conn)

    def curves_frame(self):
        """Every learning-curve checkpoint, one row per run and checkpoint (in run, then epoch order), as a
        pandas DataFrame with exactly the columns :data:`~measurement.records.CURVE_COLUMNS`."""
        import pandas as pd

        return pd.read_sql_query(CURVE_QUERY, self.conn)

    def windows_frame(self):
        """Every metered window (for noise studies), joined to its run and phase."""
        import pandas as pd

        return pd.read_sql_query(
            "SELECT m.run_id, m.phase, w.* FROM windows w JOIN measurements m ON m.id = w.measurement_id",
            self.conn,
        )

    def fingerprints(self) -> dict[str, Fingerprint]:
        """Every hardware fingerprint in the store by digest."""
        rows = self.conn.execute("SELECT digest, fingerprint_json FROM hardware")
        return {d: Fingerprint.from_dict(json.loads(j)) for d, j in rows}

    def hardware_runs(self) -> list[HardwareRuns]:
        """Every machine in the store with how many runs (ok or rejected) it measured, most runs first."""
        rows = self.conn.execute(
            "SELECT h.digest, h.fingerprint_json, (SELECT COUNT(*) FROM runs r JOIN sweeps s ON s.id = r.sweep_id"
            " WHERE COALESCE(r.hardware_id, s.hardware_id) = h.id) AS n FROM hardware h ORDER BY n DESC, h.id"
        )
        return [HardwareRuns(d, Fingerprint.from_dict(json.loads(j)), n) for d, j, n in rows]


def _run_row(sweep_id: int, run_key: str, result: RunResult, ctx: RunContext) -> dict[str, object]:
    """The ``runs`` row of one finished run, by column (worker and hardware apart)."""
    arch = result.arch
    return {
        "sweep_id": sweep_id,
        "run_key": run_key,
        "shape": arch.shape,
        "depth": arch.depth,
        "target_size": arch.target_size,
        "params": arch.params,
        "widths_json": json.dumps(list(arch.widths)),
        "input_dim": arch.input_dim,
        "output_dim": arch.output_dim,
        "dataset": ctx.dataset,
        "dataset_hash": ctx.dataset_hash,
        "task": ctx.task,
        "train_samples": ctx.train_samples,
        "train_bytes": ctx.train_bytes,
        "batch_size": ctx.batch_size,
        "learning_rate": ctx.learning_rate,
        "constant_accuracy": ctx.constant_accuracy,
        "epochs_trained": result.epochs_trained,
        "threads": ctx.threads,
        "device": ctx.device,
        "meter": result.meter,
        "meter_kind": result.meter_kind,
        "idle_power_w": result.idle_power_w,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "wall_s": result.wall_s,
        "status": RunStatus.REJECTED if result.reject_reason else RunStatus.OK,
        "reject_reason": result.reject_reason,
        "finished_unix_s": time.time(),
    }


def _insert_phase(conn: sqlite3.Connection, run_id: int, phase: PhaseResult, batch_size: int) -> None:
    cur = conn.execute(
        "INSERT INTO measurements (run_id, phase, batch_size, energy_per_datum_j, raw_energy_per_datum_j, spread,"
        " samples_per_s, reject_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            phase.phase,
            batch_size,
            _finite(phase.energy_per_datum_j),
            _finite(phase.raw_energy_per_datum_j),
            phase.spread,
            phase.samples_per_s,
            phase.reject_reason,
        ),
    )
    windows = [
        (cur.lastrowid, i, _finite(w.energy_j, 0.0), w.duration_s, w.datums, _finite(w.standardised_j, 0.0), w.outlier)
        for i, w in enumerate(phase.windows)
    ]
    conn.executemany("INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?)", windows)


def _insert_curve(conn: sqlite3.Connection, run_id: int, curve: tuple[CurvePoint, ...]) -> None:
    conn.executemany(
        "INSERT INTO curves (run_id, epoch, train_loss, test_loss, test_accuracy) VALUES (?, ?, ?, ?, ?)",
        [(run_id, p.epoch, _finite(p.train_loss), _finite(p.test_loss), p.test_accuracy) for p in curve],
    )


def _finite(value: float, default: float | None = None) -> float | None:
    return value if value == value and abs(value) != float("inf") else default


def export(frame, path: Path, fmt: str) -> None:
    """Write ``frame`` to ``path`` atomically as CSV or Parquet."""
    try:
        with atomic_path(path) as tmp:
            if fmt == "parquet":
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_csv(tmp, index=False)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from None
