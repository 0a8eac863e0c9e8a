"""``advisor evaluate`` as one library call: runs (store or export) -> hold-out scores (-> profile).

Schemes: ``kfold`` (grouped k-fold, in distribution), ``width`` (leave-one-input-width-out among the
calibration runs), ``dataset`` (each data set's probe runs predicted from the calibration alone), ``day``
(each calibration day predicted from the others, the day-to-day spread in the interval); see
:mod:`models.holdout`. The transfer schemes are judged against the repeat-noise floor of the calibration runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from advisor.api import refuse_reference
from advisor.fitting import named_runs
from measurement.errors import InputError
from measurement.hardware import Fingerprint
from measurement.records import calibration_noise_floor, noise_floor
from measurement.store import RunStore, default_store_path
from measurement.tables import TableError, read_table
from measurement.tiers import FALLBACK_CPU_TIERS, device_tiers
from models.accuracy import HoldOut, curve_frame, holdout_check
from models.evaluate import (
    BOOSTED_TREES,
    EVAL_FIT,
    HELD_OUT_PARAMS_LINE,
    SCHEMES,
    Evaluation,
    EvaluationSummary,
    check_folds,
    evaluate,
    evaluate_transfer,
)
from models.features import correct_drift, training_frame
from models.holdout import SCHEME_TITLES
from models.pipeline import run_device, select_runs, without_rechecks
from models.profile import Profile, save_evaluation
from models.sampling import FitConfig

__all__ = [
    "BOOSTED_TREES",
    "HELD_OUT_PARAMS_LINE",
    "SCHEME_TITLES",
    "Evaluation",
    "evaluate_runs",
    "parse_schemes",
    "read_runs",
]


ALL_SCHEMES = (*SCHEMES, "accuracy")
"""The energy model's schemes, and ``accuracy``: each data set's accuracy model against held-out probe runs."""


def parse_schemes(text: str) -> tuple[str, ...]:
    """``kfold``, ``width``, ``dataset``, ``day``, ``accuracy``, ``all`` or a comma-separated list -> the schemes,
    in order.

    Raises:
        InputError: anything else (one line).
    """
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in (*ALL_SCHEMES, "all")]
    if not names or unknown:
        raise InputError(
            f"scheme must be kfold, width, dataset, day, accuracy or all (or a comma-separated list), got {text!r:.60}"
        )
    return ALL_SCHEMES if "all" in names else tuple(s for s in ALL_SCHEMES if s in names)


def read_runs(path: Path) -> pd.DataFrame:
    """Read a run export (CSV, compressed or not, or Parquet) within the data-file bounds of
    :mod:`measurement.tables`, with one clear error for anything else."""
    if not path.is_file():
        raise InputError(f"run export not found: {path}")
    try:
        return read_table(path)
    except TableError as exc:
        raise InputError(f"cannot read run export {exc}") from None


def _load(store: Path | None, runs: Path | None) -> tuple[pd.DataFrame, dict[str, Fingerprint], pd.DataFrame | None]:
    """Runs, fingerprints and learning curves from a store, or from an export (with ``fingerprint.json`` and
    ``curves.csv`` beside it, where present)."""
    if runs is None:
        with RunStore(store or default_store_path(), readonly=True) as s:
            return s.frame(), s.fingerprints(), s.curves_frame()
    fp_path, curves_path = runs.with_name("fingerprint.json"), runs.with_name("curves.csv")
    fingerprints = {"export": Fingerprint.from_dict(json.loads(fp_path.read_text()))} if fp_path.is_file() else {}
    frame = without_rechecks(read_runs(runs))  # an export holds the machine's rechecks: never evaluated
    return frame, fingerprints, _read_curves(curves_path) if curves_path.is_file() else None


CURVE_NEEDS = ("run_id", "epoch", "test_loss", "test_accuracy")


def _read_curves(path: Path) -> pd.DataFrame:
    """A learning-curve export beside a run export, refused in one line unless it has the columns needed."""
    curves = read_runs(path)
    missing = [c for c in CURVE_NEEDS if c not in curves.columns]
    if missing:
        raise InputError(f"{path}: not a learning-curve export ('advisor runs --curves'): no column(s) {missing}")
    return curves


def evaluate_runs(
    store: Path | None = None,
    runs: Path | None = None,
    folds: int = 5,
    save_to: Path | None = None,
    schemes: str = "all",
    fit_config: FitConfig = EVAL_FIT,
) -> Evaluation:
    """Evaluate the tier model and the baselines on one machine's runs; store the scores in ``save_to``.

    ``schemes`` (see :func:`parse_schemes`), the fold count and the target profile are checked before any
    fitting (minutes), not after. Saving keeps the stored figures of the schemes not run this time.
    """
    chosen = parse_schemes(schemes)
    check_folds(folds, folds)  # the range alone; the data's own limit is checked below
    stored = None
    if save_to is not None:
        refuse_reference(save_to)
        stored = Profile.load(save_to).metadata.evaluation
    frame, fingerprints, curves = _load(store, runs)
    frame, hardware = select_runs(named_runs(frame))  # data sets by name (a file's stem), as the fit sees them
    frame, _ = correct_drift(frame, calibration_noise_floor(frame))  # as the fit does
    fp = fingerprints.get(hardware) or next(iter(fingerprints.values()), None)
    tiers = device_tiers(fp, run_device(frame)) if fp else FALLBACK_CPU_TIERS
    data = training_frame(frame)
    if "kfold" in chosen:
        result = evaluate(data, tiers, folds=folds, fit_config=fit_config, noise_floor=noise_floor(frame)[0])
    else:
        result = Evaluation(folds=None, held_out=0, scores=(), noise_floor=noise_floor(frame)[0], divergences=0)
    floor = calibration_noise_floor(frame)
    transfer = tuple(
        evaluate_transfer(data, s, tiers, floor, fit_config) for s in chosen if s in ("width", "dataset", "day")
    )
    checks = accuracy_checks(frame, curves) if "accuracy" in chosen else ()
    result = dataclasses.replace(result, transfer=transfer, accuracy=checks)
    if save_to is not None:
        save_evaluation(save_to, merge_summaries(result.summary(), stored, chosen))
    return result


def accuracy_checks(runs: pd.DataFrame, curves: pd.DataFrame | None) -> tuple:
    """Each probed data set's accuracy model fit without every fifth probe run and scored on those runs; and,
    where at least three learning rates were probed, fit without every run of the middle one (a whole recipe
    the fit never saw) and scored on those."""
    frame = curve_frame(runs, curves)
    checks = (
        holdout_check(group, held_out=held)
        for _, group in frame.groupby("dataset")
        if group["run_id"].nunique() >= 7
        for held in HoldOut
    )
    return tuple(check for check in checks if check is not None)


def merge_summaries(
    new: EvaluationSummary, old: EvaluationSummary | None, schemes: tuple[str, ...]
) -> EvaluationSummary:
    """``new`` with the stored figures of the schemes it did not run kept from ``old``."""
    if old is None:
        return new
    if "kfold" not in schemes:
        new = dataclasses.replace(
            new, folds=old.folds, held_out=old.held_out, noise_floor=old.noise_floor, scores=old.scores
        )
    return dataclasses.replace(new, transfer={**old.transfer, **new.transfer})
