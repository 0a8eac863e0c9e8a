"""A user's measured program as data, and how the run store writes it (torch-free).

``advisor measure`` (a command, a ``with`` block, a decorated function) produces one :class:`MeasuredRun`:
its windows (each phase block is one metered window; the gaps between are windows of the whole too), the
meter and its kind, the idle power subtracted, the datums reported, the network it trained when named, and how
it ended. The store writes it as a sweep of kind ``measure`` holding one run, in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from measurement.architecture import Architecture, Shape
from measurement.hardware import Fingerprint
from measurement.meters.base import MeterKind
from measurement.records import RunStatus, SweepKind, SweepStatus, Window

TOTAL = "total"
"""The phase name of a measurement as a whole (reserved: a user's phase may not take it)."""
MEASURED_TABLE = """
CREATE TABLE IF NOT EXISTS measured (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id), label TEXT NOT NULL, command_json TEXT, job_id TEXT,
    exit_code INTEGER, status TEXT NOT NULL CHECK (status IN ('ok', 'rejected', 'failed')), energy_j REAL,
    raw_energy_j REAL, duration_s REAL NOT NULL, datums INTEGER NOT NULL
);
"""
"""What a measured run records beyond a ``runs`` row (schema version 5): its label, command, batch-job id, exit
code, status (``failed`` apart from ``rejected``) and whole-run energies."""
MEASURED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "hardware",
    "label",
    "command",
    "job_id",
    "exit_code",
    "status",
    "reject_reason",
    "meter",
    "meter_kind",
    "idle_power_w",
    "energy_j",
    "raw_energy_j",
    "duration_s",
    "datums",
    "energy_per_datum_j",
    "shape",
    "depth",
    "params",
    "widths_json",
    "input_dim",
    "output_dim",
    "batch_size",
    "finished_unix_s",
)
"""Columns of the measured-runs export (``advisor runs --measured``): one row per measured program. ``energy_j``
is idle-subtracted, ``raw_energy_j`` not; ``command`` is a JSON list (empty for a ``with`` block); the network
columns are empty (0) where the measurement named no network."""


@dataclass(frozen=True)
class MeasuredPhase:
    """One named phase of a measurement (or :data:`TOTAL`, the whole): its windows and datums.

    Attributes:
        name: the phase's name (``train``, ``eval`` …; :data:`TOTAL` for the whole measurement).
        windows: one per block of the phase (the whole: every window, phases and the gaps between them).
        datums: the datums reported inside the phase (the whole: every one reported).
        reject_reason: why the phase is not a measurement (a meter error, energy below the meter's floor).
    """

    name: str
    windows: tuple[Window, ...]
    datums: int = 0
    reject_reason: str | None = None

    @property
    def energy_j(self) -> float:
        """Idle-subtracted energy of the phase, joules."""
        return float(sum(w.standardised_j for w in self.windows))

    @property
    def raw_energy_j(self) -> float:
        """Energy as the meter read it, joules."""
        return float(sum(w.energy_j for w in self.windows))

    @property
    def duration_s(self) -> float:
        """Metered seconds of the phase."""
        return float(sum(w.duration_s for w in self.windows))

    @property
    def energy_per_datum_j(self) -> float | None:
        """Idle-subtracted energy per reported datum (None: no datums reported)."""
        return self.energy_j / self.datums if self.datums > 0 else None

    @property
    def samples_per_s(self) -> float | None:
        """Datums per metered second (None: no datums or no time)."""
        return self.datums / self.duration_s if self.datums > 0 and self.duration_s > 0 else None

    @property
    def spread(self) -> float:
        """Interquartile range over median of the windows' energies per second (0 with fewer than 4 windows)."""
        rates = [w.standardised_j / w.duration_s for w in self.windows if w.duration_s > 0]
        if len(rates) < 4 or not statistics.median(rates) > 0:
            return 0.0
        q25, q75 = np.percentile(rates, [25, 75])
        return float((q75 - q25) / statistics.median(rates))


@dataclass(frozen=True)
class MeasuredNetwork:
    """The MLP a measurement says it trained, as realised widths (``predict_module`` reads them from a module).

    Attributes:
        input_dim: width of the input.
        widths: width of every Linear layer, the output layer's last.
        residual: whether hidden layers after the first add an identity skip (the catalogue's residual form).
        batch_size: the training batch size.
        params: trainable parameters (weights, and biases where the layers have them).
    """

    input_dim: int
    widths: tuple[int, ...]
    residual: bool
    batch_size: int
    params: int

    def architecture(self) -> Architecture:
        """As a sized :class:`~measurement.architecture.Architecture` (its target size is its parameter count)."""
        shape = Shape.RECTANGLE_RESIDUAL if self.residual else Shape.RECTANGLE
        return Architecture(
            shape=shape,
            depth=len(self.widths),
            target_size=self.params,
            input_dim=self.input_dim,
            output_dim=self.widths[-1],
            widths=self.widths,
            params=self.params,
        )


@dataclass(frozen=True)
class MeasuredRun:
    """Everything one measured program produced.

    Attributes:
        label: what the user called it (a command's default: its program's name).
        command: the command line measured (None: a ``with`` block or a decorated function).
        job_id: the batch job it ran in (``slurm:ID``, ``pbs:ID``), None outside one.
        exit_code: the command's exit code (None for a block; 0 for a block that ended normally, 1 for one that
            raised).
        status: ok, rejected (not a trustworthy measurement) or failed (the program failed).
        reject_reason: why it is not ok.
        meter: the meter's name.
        meter_kind: measured or estimated.
        idle_power_w: the idle power subtracted, watts (0 when not measured).
        total: the whole measurement.
        phases: the named phases, in the order first entered.
        network: the network it trained, when named.
        device: the device the meter watched (``cpu``, ``cuda:0``).
        finished_unix_s: when it ended.
    """

    label: str
    command: tuple[str, ...] | None
    job_id: str | None
    exit_code: int | None
    status: RunStatus
    reject_reason: str | None
    meter: str
    meter_kind: MeterKind
    idle_power_w: float
    total: MeasuredPhase
    phases: tuple[MeasuredPhase, ...] = ()
    network: MeasuredNetwork | None = None
    device: str = "cpu"
    finished_unix_s: float = field(default_factory=time.time)

    @property
    def energy_j(self) -> float:
        """Idle-subtracted energy of the whole measurement, joules."""
        return self.total.energy_j

    @property
    def duration_s(self) -> float:
        """Metered seconds."""
        return self.total.duration_s

    def phase(self, name: str) -> MeasuredPhase | None:
        """The phase called ``name`` (:data:`TOTAL`: the whole), None when there is none."""
        return self.total if name == TOTAL else next((p for p in self.phases if p.name == name), None)


def insert_measured(conn: sqlite3.Connection, fp: Fingerprint, run: MeasuredRun) -> int:
    """Write ``run`` as a sweep of kind ``measure`` holding one run, with its phases and windows; return the run's
    id. The caller holds the transaction: the hardware, sweep, run and measurement rows land together or not at
    all."""
    conn.execute(
        "INSERT OR IGNORE INTO hardware (digest, fingerprint_json, created_unix_s) VALUES (?, ?, ?)",
        (fp.digest(), json.dumps(fp.to_dict()), time.time()),
    )
    hardware_id = conn.execute("SELECT id FROM hardware WHERE digest = ?", (fp.digest(),)).fetchone()[0]
    plan = {"label": run.label, "command": list(run.command or ()), "job_id": run.job_id}
    sweep = {
        "hardware_id": hardware_id,
        "kind": SweepKind.MEASURE,
        "plan_hash": uuid.uuid4().hex[:16],
        "plan_json": json.dumps(plan),
        "dataset": run.label,
        "meter": run.meter,
        "meter_kind": run.meter_kind,
        "idle_power_w": run.idle_power_w,
        "status": SweepStatus.COMPLETE,
        "created_unix_s": run.finished_unix_s,
    }
    sweep_id = _insert(conn, "sweeps", sweep)
    run_id = _insert(conn, "runs", _run_row(run) | {"sweep_id": sweep_id, "hardware_id": hardware_id})
    measured = {
        "run_id": run_id,
        "label": run.label,
        "command_json": None if run.command is None else json.dumps(list(run.command)),
        "job_id": run.job_id,
        "exit_code": run.exit_code,
        "status": run.status,
        "energy_j": _finite(run.energy_j),
        "raw_energy_j": _finite(run.total.raw_energy_j),
        "duration_s": run.duration_s,
        "datums": run.total.datums,
    }
    _insert(conn, "measured", measured)
    batch = run.network.batch_size if run.network else 0
    for phase in (run.total, *run.phases):
        _insert_phase(conn, run_id, phase, batch)
    return run_id


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, object]) -> int:
    """Insert ``row`` (column -> value) into ``table`` (one of this module's, never a user's name); its row id."""
    columns, marks = ", ".join(row), ", ".join("?" for _ in row)
    return int(conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values())).lastrowid)


def _run_row(run: MeasuredRun) -> dict[str, object]:
    """The ``runs`` row of a measured program: its network's columns where it named one, else empty (0)."""
    net = run.network
    arch = net.architecture() if net else None
    train = run.phase("train") or run.total
    return {
        "run_key": run.label,
        "shape": arch.shape.value if arch else "",
        "depth": arch.depth if arch else 0,
        "target_size": arch.params if arch else 0,
        "params": arch.params if arch else 0,
        "widths_json": json.dumps(list(arch.widths) if arch else []),
        "input_dim": arch.input_dim if arch else 0,
        "output_dim": arch.output_dim if arch else 0,
        "dataset": run.label,
        "dataset_hash": "",
        "task": "",
        "train_samples": train.datums,
        "train_bytes": 0,
        "batch_size": net.batch_size if net else 0,
        "epochs_trained": 0.0,
        "threads": 0,
        "device": run.device,
        "meter": run.meter,
        "meter_kind": run.meter_kind,
        "idle_power_w": run.idle_power_w,
        "wall_s": run.duration_s,
        "status": RunStatus.OK if run.status is RunStatus.OK else RunStatus.REJECTED,  # runs holds ok | rejected
        "reject_reason": run.reject_reason,
        "finished_unix_s": run.finished_unix_s,
    }


def _insert_phase(conn: sqlite3.Connection, run_id: int, phase: MeasuredPhase, batch_size: int) -> None:
    raw = phase.raw_energy_j / phase.datums if phase.datums > 0 else None
    measurement = {
        "run_id": run_id,
        "phase": phase.name,
        "batch_size": batch_size,
        "energy_per_datum_j": _finite(phase.energy_per_datum_j),
        "raw_energy_per_datum_j": _finite(raw),
        "spread": phase.spread,
        "samples_per_s": phase.samples_per_s,
        "reject_reason": phase.reject_reason,
    }
    measurement_id = _insert(conn, "measurements", measurement)
    windows = [
        (measurement_id, i, _finite(w.energy_j, 0.0), w.duration_s, w.datums, _finite(w.standardised_j, 0.0), False)
        for i, w in enumerate(phase.windows)
    ]
    conn.executemany("INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?)", windows)


def _finite(value: float | None, default: float | None = None) -> float | None:
    return value if value is not None and np.isfinite(value) else default


MEASURED_QUERY = (
    "SELECT r.id AS run_id, r.sweep_id, h.digest AS hardware, x.label, COALESCE(x.command_json, '[]') AS command,"
    " x.job_id, x.exit_code, x.status, r.reject_reason, r.meter, r.meter_kind, r.idle_power_w, x.energy_j,"
    " x.raw_energy_j, x.duration_s, x.datums, m.energy_per_datum_j, r.shape, r.depth, r.params, r.widths_json,"
    " r.input_dim, r.output_dim, r.batch_size, r.finished_unix_s"
    " FROM measured x JOIN runs r ON r.id = x.run_id JOIN measurements m ON m.run_id = r.id AND m.phase = 'total'"
    " JOIN sweeps s ON s.id = r.sweep_id JOIN hardware h ON h.id = COALESCE(r.hardware_id, s.hardware_id)"
    " ORDER BY r.id"
)
"""The measured-runs export, one row per measured program, in :data:`MEASURED_COLUMNS` order."""
