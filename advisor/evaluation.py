"""Evaluation as one library call: runs (store or export) -> grouped hold-out scores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from measurement.errors import InputError, first_line
from measurement.hardware import Fingerprint
from measurement.store import RunStore, default_store_path
from measurement.sweep import noise_floor
from models.evaluate import Evaluation, evaluate
from models.features import training_frame
from models.pipeline import select_runs
from models.tiers import FALLBACK_CPU_TIERS, tiers_for


def read_runs(path: Path) -> pd.DataFrame:
    """Read a run export (CSV or Parquet) with one clear error for anything else."""
    if not path.is_file():
        raise InputError(f"run export not found: {path}")
    try:
        return pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types
        raise InputError(f"cannot read run export {path}: {first_line(exc)}") from None


def evaluate_runs(store: Path | None = None, runs: Path | None = None, folds: int = 5) -> Evaluation:
    """Evaluate the tier model and the baselines on one machine's runs."""
    fingerprints: dict[str, Fingerprint] = {}
    if runs is not None:
        frame = read_runs(runs)
        fp_path = runs.with_name("fingerprint.json")
        if fp_path.is_file():
            import json

            fingerprints = {"export": Fingerprint.from_dict(json.loads(fp_path.read_text()))}
    else:
        with RunStore(store or default_store_path(), readonly=True) as s:
            frame, fingerprints = s.frame(), s.fingerprints()
    frame, hardware = select_runs(frame)
    fp = fingerprints.get(hardware) or next(iter(fingerprints.values()), None)
    tiers = tiers_for(fp, str(frame["device"].iloc[0])) if fp else FALLBACK_CPU_TIERS
    floor, _ = noise_floor(frame)
    return evaluate(training_frame(frame), tiers, folds=folds, noise_floor=floor)
