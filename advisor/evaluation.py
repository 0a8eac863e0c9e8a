"""``advisor evaluate`` as one library call: runs (store or export) -> grouped hold-out scores (-> profile)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from advisor.api import refuse_reference
from measurement.errors import InputError, first_line
from measurement.hardware import Fingerprint
from measurement.records import noise_floor
from measurement.store import RunStore, default_store_path
from measurement.tiers import FALLBACK_CPU_TIERS, device_tiers
from models.evaluate import Evaluation, check_folds, evaluate
from models.features import training_frame
from models.pipeline import run_device, select_runs
from models.profile import Profile, save_evaluation

__all__ = ["Evaluation", "evaluate_runs", "read_runs"]


def read_runs(path: Path) -> pd.DataFrame:
    """Read a run export (CSV or Parquet) with one clear error for anything else."""
    if not path.is_file():
        raise InputError(f"run export not found: {path}")
    try:
        return pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types
        raise InputError(f"cannot read run export {path}: {first_line(exc)}") from None


def _load(store: Path | None, runs: Path | None) -> tuple[pd.DataFrame, dict[str, Fingerprint]]:
    if runs is None:
        with RunStore(store or default_store_path(), readonly=True) as s:
            return s.frame(), s.fingerprints()
    fp_path = runs.with_name("fingerprint.json")
    fingerprints = {"export": Fingerprint.from_dict(json.loads(fp_path.read_text()))} if fp_path.is_file() else {}
    return read_runs(runs), fingerprints


def evaluate_runs(store: Path | None = None, runs: Path | None = None, folds: int = 5,
                  save_to: Path | None = None) -> Evaluation:  # fmt: skip
    """Evaluate the tier model and the baselines on one machine's runs; store the scores in ``save_to``.

    The fold count and the target profile are checked before any fitting (minutes), not after.
    """
    check_folds(folds, folds)  # the range alone; the data's own limit is checked below
    if save_to is not None:
        refuse_reference(save_to)
        Profile.load(save_to)
    frame, fingerprints = _load(store, runs)
    frame, hardware = select_runs(frame)
    fp = fingerprints.get(hardware) or next(iter(fingerprints.values()), None)
    tiers = device_tiers(fp, run_device(frame)) if fp else FALLBACK_CPU_TIERS
    floor, _ = noise_floor(frame)
    result = evaluate(training_frame(frame), tiers, folds=folds, noise_floor=floor)
    if save_to is not None:
        save_evaluation(save_to, result.summary())
    return result
