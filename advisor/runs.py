"""``advisor runs`` as a library call: the run store as a table, written as CSV or Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from measurement.errors import InputError
from measurement.store import RunStore, default_store_path, export


def read_store(store: Path | None = None, ok_only: bool = False) -> pd.DataFrame:
    """Every run and phase in the store (one row each; the export columns)."""
    with RunStore(store or default_store_path(), readonly=True) as s:
        return s.frame(include_rejected=not ok_only)


def write_runs(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    """Write an export atomically; ``fmt`` is ``csv`` or ``parquet``."""
    if fmt not in ("csv", "parquet"):
        raise InputError(f"unknown export format {fmt!r} (csv or parquet)")
    export(frame, out, fmt)
