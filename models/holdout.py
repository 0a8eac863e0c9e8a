"""Held-out predictions: which runs each evaluation scheme holds out, and what a fit on the rest predicts.

Every scheme is a list of splits of one training frame (see ``features.training_frame``): rows to fit on and
rows to predict, each held-out row labelled with its group. A held-out row is never in its own fit.

- ``kfold``: grouped k-fold: all rows of a config (repeats, both phases) fall in one fold (in distribution);
- ``width``: leave-one-input-width-out among the calibration runs (``sweep_kind`` "calibrate"): each input
  width is predicted from the calibration runs at the other widths;
- ``dataset``: the probe runs (``sweep_kind`` "probe") of each data set predicted from the calibration runs
  alone (one fit);
- ``day``: leave-one-calibration-day-out (UTC days of the runs' finish times): each day's calibration runs
  predicted from the other days', with the day-to-day spread learnt from the other days' sentinels
  (:mod:`models.machine_state`) in the interval, as a user's prediction on a new day carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from measurement.errors import InputError, first_line
from measurement.tiers import Tier
from models import energy
from models.baselines import fit_baselines
from models.machine_state import DAY_S, MachineState, learn_day_variation, sentinel_day_series
from models.sampling import FitConfig, FitError

SCHEMES = ("kfold", "width", "dataset", "day")
SCHEME_TITLES = {
    "kfold": "grouped k-fold (in distribution)",
    "width": "leave-one-input-width-out (calibration runs)",
    "dataset": "new data set (probe runs predicted from the calibration alone)",
    "day": "leave-one-calibration-day-out (the day-to-day spread in the interval)",
}
CALIBRATE, PROBE = "calibrate", "probe"
EVAL_FIT = FitConfig(draws=300, tune=500, chains=1)
PREDICTION_COLUMNS = (
    "group",
    "phase",
    "config",
    "dataset",
    "input_dim",
    "params",
    "measured_j",
    "predicted_j",
    "predicted_p5_j",
    "predicted_p95_j",
)
"""Columns of :attr:`HeldOut.runs`: energies in J per datum; p5/p95: the 90% predictive interval of one run."""

FitFn = Callable[[pd.DataFrame, FitConfig, tuple[Tier, ...]], Any]
"""``energy.fit``'s signature: tests inject a fake posterior (``log_energy``, ``predictive_log_energy``)."""


@dataclass(frozen=True)
class Split:
    """One fit: the rows it trains on, the rows it predicts (boolean masks over the frame), their group labels."""

    train: np.ndarray
    test: np.ndarray
    groups: np.ndarray


@dataclass(frozen=True)
class HeldOut:
    """Per-run held-out predictions of one scheme.

    Attributes:
        scheme: ``kfold``, ``width`` or ``dataset``.
        runs: one row per held-out observation, :data:`PREDICTION_COLUMNS`.
        baselines: the baselines' predictions (J per datum) of the same rows, one column per baseline, each
            fitted on the same training part as the model.
        baseline_p5, baseline_p95: the 90% interval (J per datum) of each baseline that states one (the boosted
            trees), one column per such baseline, the same rows.
        skipped: why the scheme could not run (``runs`` is then empty), else None.
        divergences: NUTS divergences summed over the scheme's fits.
        fits: how many fits the scheme made.
    """

    scheme: str
    runs: pd.DataFrame
    baselines: pd.DataFrame
    skipped: str | None = None
    divergences: int = 0
    fits: int = 0
    baseline_p5: pd.DataFrame = field(default_factory=pd.DataFrame)
    baseline_p95: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def empty(cls, scheme: str, skipped: str | None) -> HeldOut:
        """No held-out rows (:data:`PREDICTION_COLUMNS` without rows, no baselines): the scheme did not run."""
        return cls(
            scheme=scheme,
            runs=pd.DataFrame(columns=list(PREDICTION_COLUMNS)),
            baselines=pd.DataFrame(),
            skipped=skipped,
        )


def calibration_mask(frame: pd.DataFrame) -> np.ndarray:
    """Rows from calibration sweeps (every row when the frame does not say which sweep it came from)."""
    if "sweep_kind" not in frame:
        return np.ones(len(frame), bool)
    return (frame["sweep_kind"] == CALIBRATE).to_numpy()


def grouped_folds(frame: pd.DataFrame, k: int, seed: int = 0) -> list[np.ndarray]:
    """Row masks of k folds; all rows of a config (repeats, both phases) fall in the same fold."""
    configs = frame["config"].unique()
    order = np.random.default_rng(seed).permutation(len(configs))
    fold_of = {configs[i]: n % k for n, i in enumerate(order)}
    assignment = frame["config"].map(fold_of).to_numpy()
    return [assignment == f for f in range(k)]


def kfold_splits(frame: pd.DataFrame, folds: int, seed: int = 0) -> list[Split]:
    """Grouped k-fold: fold f predicted from the others, its rows labelled ``fold f`` (1-based)."""
    masks = grouped_folds(frame, folds, seed)
    return [Split(~mask, mask, np.full(int(mask.sum()), f"fold {f + 1}", dtype=object)) for f, mask in enumerate(masks)]


def width_splits(frame: pd.DataFrame) -> tuple[list[Split], str | None]:
    """Each calibration input width predicted from the calibration runs at the other widths (or why not)."""
    calibration = calibration_mask(frame)
    widths = sorted({int(w) for w in frame.loc[calibration, "input_dim"]})
    if len(widths) < 2:
        return [], f"needs calibration runs at 2 or more input widths; they have {len(widths)}"
    splits = []
    for width in widths:
        test = calibration & (frame["input_dim"].to_numpy() == width)
        splits.append(Split(calibration & ~test, test, np.full(int(test.sum()), str(width), dtype=object)))
    return splits, None


def dataset_splits(frame: pd.DataFrame) -> tuple[list[Split], str | None]:
    """The probe runs of every data set predicted from one fit on the calibration runs (or why not)."""
    calibration = calibration_mask(frame)
    probes = (frame["sweep_kind"] == PROBE).to_numpy() if "sweep_kind" in frame else np.zeros(len(frame), bool)
    if not calibration.any():
        return [], "no calibration runs to fit on"
    if not probes.any():
        return [], "no probe runs ('advisor probe DATASET' measures some)"
    return [Split(calibration, probes, frame.loc[probes, "dataset"].astype(str).to_numpy())], None


def day_splits(frame: pd.DataFrame) -> tuple[list[Split], str | None]:
    """Each calibration day's runs predicted from the other days' calibration runs (or why not)."""
    calibration = calibration_mask(frame)
    if "finished_unix_s" not in frame:
        return [], "the runs carry no finish times"
    day = (pd.to_numeric(frame["finished_unix_s"], errors="coerce") // DAY_S).to_numpy()
    days = sorted({int(d) for d in day[calibration] if np.isfinite(d)})
    if len(days) < 2:
        return [], f"needs calibration runs on 2 or more days; they were measured on {len(days)}"
    splits = []
    for held in days:
        test = calibration & (day == held)
        label = _day_label(held)
        splits.append(Split(calibration & ~test, test, np.full(int(test.sum()), label, dtype=object)))
    return splits, None


def _day_label(day: int) -> str:
    """``2026-12-07`` for a day number since the epoch (``day N`` where no calendar date has it)."""
    try:
        return pd.Timestamp(day * DAY_S, unit="s").strftime("%Y-%m-%d")
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return f"day {day}"


def _on_another_day(posterior: Any, train: pd.DataFrame) -> Any:
    """The posterior predicting another day: the day-to-day spread learnt from the training days' sentinels."""
    day = learn_day_variation(sentinel_day_series(train))
    return posterior.with_machine(MachineState(None, day, 0.0))


def scheme_splits(frame: pd.DataFrame, scheme: str, folds: int = 5, seed: int = 0) -> tuple[list[Split], str | None]:
    """The splits of ``scheme`` and, when it cannot run on this frame, why (InputError for an unknown scheme)."""
    if scheme == "kfold":
        return kfold_splits(frame, folds, seed), None
    if scheme == "width":
        return width_splits(frame)
    if scheme == "dataset":
        return dataset_splits(frame)
    if scheme == "day":
        return day_splits(frame)
    raise InputError(f"unknown evaluation scheme {scheme!r:.40}: choose from {', '.join(SCHEMES)}")


def held_out_predictions(
    frame: pd.DataFrame,
    scheme: str,
    tiers: tuple[Tier, ...],
    folds: int = 5,
    fit_config: FitConfig = EVAL_FIT,
    seed: int = 0,
    fit_fn: FitFn | None = None,
    baselines: bool = True,
) -> HeldOut:
    """Fit the energy model (and the baselines) on each split's training part; predict its held-out rows.

    Args:
        frame: a training frame (``features.training_frame``) with ``sweep_kind`` for the transfer schemes.
        scheme: ``kfold``, ``width``, ``dataset`` or ``day``.
        tiers: cache tiers seeding the capacity priors.
        folds: folds of the ``kfold`` scheme.
        fit_config: sampler settings of every fit (bounded: :data:`EVAL_FIT`).
        seed: fold assignment and predictive-noise seed.
        fit_fn: the fit (default ``energy.fit``).
        baselines: also fit and score the baselines (else :attr:`HeldOut.baselines` has no columns).
    """
    fit_fn = fit_fn or energy.fit
    splits, skipped = scheme_splits(frame, scheme, folds, seed)
    runs, points, lows, highs, divergences = [], [], [], [], 0
    for split in splits:
        train, test = frame[split.train], frame[split.test]
        try:
            posterior = fit_fn(train, fit_config, tiers)
        except FitError as exc:  # say which split the data could not support
            held = ", ".join(sorted(set(split.groups)))[:80]
            raise FitError(f"{scheme} evaluation, holding out {held}: {first_line(exc)}") from None
        divergences += int(posterior.diagnostics.divergences)
        if scheme == "day":
            posterior = _on_another_day(posterior, train)
        runs.append(model_predictions(posterior, test, split.groups, seed))
        none = pd.DataFrame(index=range(len(test)))
        point, low, high = baseline_predictions(train, test) if baselines else (none, none, none)
        points.append(point)
        lows.append(low)
        highs.append(high)
    if not runs:
        return HeldOut.empty(scheme, skipped)
    return HeldOut(
        scheme=scheme,
        runs=_stack(runs),
        baselines=_stack(points),
        skipped=skipped,
        divergences=divergences,
        fits=len(splits),
        baseline_p5=_stack(lows),
        baseline_p95=_stack(highs),
    )


def _stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def baseline_predictions(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Every baseline fit on ``train``, predicting ``test``: point predictions, then the 5% and 95% bounds of
    those that state an interval (J per datum, one column per baseline)."""
    point, low, high = {}, {}, {}
    for baseline in fit_baselines(train):
        point[baseline.name] = np.exp(baseline.predict_log(test))
        interval = baseline.interval_log(test)
        if interval is not None:
            low[baseline.name], high[baseline.name] = np.exp(interval[0]), np.exp(interval[1])
    rows = range(len(test))
    return pd.DataFrame(point, index=rows), pd.DataFrame(low, index=rows), pd.DataFrame(high, index=rows)


def model_predictions(posterior: Any, rows: pd.DataFrame, groups: Any, seed: int = 0) -> pd.DataFrame:
    """:data:`PREDICTION_COLUMNS` for ``rows``: posterior-median prediction and the 90% predictive interval.

    The interval is for one new measurement: the posterior predictive plus the run's own window noise.
    """
    mu = posterior.log_energy(rows)
    predictive = posterior.predictive_log_energy(rows, seed=seed)
    spread = rows["spread"].to_numpy(float) if "spread" in rows else np.zeros(len(rows))
    extra = energy.measurement_sd(spread)
    predictive = predictive + extra[None, :] * np.random.default_rng(seed + 1).standard_normal(predictive.shape)
    lo, hi = np.percentile(predictive, [5, 95], axis=0)
    params = rows["params"].to_numpy(float) if "params" in rows else np.exp(rows["log_params"].to_numpy(float))
    return pd.DataFrame(
        {
            "group": np.broadcast_to(np.asarray(groups, dtype=object), (len(rows),)),
            "phase": rows["phase"].to_numpy(),
            "config": rows["config"].to_numpy(),
            "dataset": rows["dataset"].astype(str).to_numpy() if "dataset" in rows else "",
            "input_dim": rows["input_dim"].to_numpy(int),
            "params": params,
            "measured_j": np.exp(rows["log_energy"].to_numpy(float)),
            "predicted_j": np.exp(np.median(mu, axis=0)),
            "predicted_p5_j": np.exp(lo),
            "predicted_p95_j": np.exp(hi),
        }
    )


def in_sample_predictions(posterior: Any, frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """:data:`PREDICTION_COLUMNS` of the runs a posterior was fit on (group ``in-sample``), for figures."""
    return model_predictions(posterior, frame, "in-sample", seed)


def figure_predictions(
    frame: pd.DataFrame, tiers: tuple[Tier, ...], fit_config: FitConfig = EVAL_FIT, fit_fn: FitFn | None = None
) -> HeldOut:
    """Held-out predictions for the fit figures: leave-one-input-width-out when the calibration has 2 or more
    widths (and the runs at the other widths support each fit), else grouped k-fold (up to 5 folds; fewer when
    the runs have fewer configs). The figures show the model alone: no baselines are fit.
    """
    try:
        held = held_out_predictions(frame, "width", tiers, fit_config=fit_config, fit_fn=fit_fn, baselines=False)
    except FitError:  # the runs at the other widths cannot support a fit: hold out configs instead
        held = None
    if held is not None and held.skipped is None:
        return held
    folds = min(5, int(frame["config"].nunique()))
    if folds < 2:
        return HeldOut.empty("kfold", "fewer than 2 configs")
    return held_out_predictions(
        frame, "kfold", tiers, folds=folds, fit_config=fit_config, fit_fn=fit_fn, baselines=False
    )
