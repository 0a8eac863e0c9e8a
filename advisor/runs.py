"""``advisor runs`` as a library call: the run store (or its learning curves) as a table, written as CSV or
Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from measurement.atomic import check_destination
from measurement.errors import InputError
from measurement.store import RunStore, default_store_path, export


@dataclass(frozen=True)
class Machine:
    """One machine in the store (``advisor runs --hardware``): its id, a description, how many runs it measured."""

    hardware: str
    description: str
    cores: int
    runs: int


def list_hardware(store: Path | None = None) -> list[Machine]:
    """The machines the store's runs were measured on, most runs first; ``advisor fit --hardware ID`` fits one."""
    with RunStore(store or default_store_path(), readonly=True) as s:
        return [
            Machine(
                hardware=h.digest, description=h.fingerprint.describe(), cores=h.fingerprint.logical_cores, runs=h.runs
            )
            for h in s.hardware_runs()
        ]


def read_store(store: Path | None = None, ok_only: bool = False) -> pd.DataFrame:
    """Every run and phase in the store (one row each; the export columns), the machine's rechecks included
    (sweep kind ``recheck``; fits leave them out)."""
    with RunStore(store or default_store_path(), readonly=True) as s:
        return s.frame(include_rejected=not ok_only, include_rechecks=True)


def read_measured(store: Path | None = None) -> pd.DataFrame:
    """Every measured program (``advisor measure``; one row each; the measured-run columns)."""
    with RunStore(store or default_store_path(), readonly=True) as s:
        return s.measured_frame()


def read_curves(store: Path | None = None) -> pd.DataFrame:
    """Every run's learning curve (one row per run and checkpoint; the curve columns)."""
    with RunStore(store or default_store_path(), readonly=True) as s:
        return s.curves_frame()


def check_export(out: Path, fmt: str) -> None:
    """Refuse an export that cannot be written, before the store is read (InputError)."""
    if fmt not in ("csv", "parquet"):
        raise InputError(f"unknown export format {fmt!r} (csv or parquet)")
    check_destination(out)


def write_runs(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    """Write an export atomically; ``fmt`` is ``csv`` or ``parquet``."""
    check_export(out, fmt)
    export(frame, out, fmt)
