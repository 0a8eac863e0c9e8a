"""Posterior-predictive checks of an accuracy model on probe runs its fit never saw: every fifth run, or whole
recipes (every run of one learning rate), the way a user's advice leaves the probed recipes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.accuracy.model import fit, score_of
from models.accuracy.recipe import Nets
from models.sampling import FitConfig

HOLDOUT_EVERY = 5
CHECK_FIT = FitConfig(draws=300, tune=500, chains=1, target_accept=0.95, init="jitter+adapt_diag", sampler="pymc")


class HoldOut(enum.StrEnum):
    """What a check holds out."""

    RUNS = "runs"  # every HOLDOUT_EVERY-th probe run, all its checkpoints with it
    RECIPE = "recipe"  # every run of one probed learning rate (the middle one of those probed)


@dataclass(frozen=True)
class AccuracyCheck:
    """A posterior-predictive check of one dataset's accuracy model on probe runs it was not fit on.

    Attributes:
        held_out: what was held out (runs, or a whole recipe).
        runs: held-out runs.
        points: held-out checkpoints.
        median_abs_error: median |posterior-mean score - observed| (accuracy, or -ln loss for regression).
        coverage_90: share of held-out checkpoints inside their 90% predictive interval (~0.9 is honest).
    """

    dataset: str
    runs: int
    points: int
    median_abs_error: float
    coverage_90: float
    held_out: HoldOut = HoldOut.RUNS


def held_out_rows(frame: pd.DataFrame, held_out: HoldOut) -> pd.Series | None:
    """Which rows a check holds out; None when the frame cannot spare them (one learning rate probed)."""
    if held_out is HoldOut.RUNS:
        runs = np.sort(frame["run_id"].unique())
        return frame["run_id"].isin(set(runs[HOLDOUT_EVERY // 2 :: HOLDOUT_EVERY]))
    rates = np.sort(frame["learning_rate"].unique())
    if len(rates) < 3:
        return None
    return frame["learning_rate"] == rates[len(rates) // 2]


def holdout_check(
    frame: pd.DataFrame, config: FitConfig = CHECK_FIT, held_out: HoldOut = HoldOut.RUNS
) -> AccuracyCheck | None:
    """Fit one dataset's curves (:func:`~models.accuracy.model.curve_frame` rows) without the held-out rows,
    then predict them; None when nothing can be held out that way."""
    held = held_out_rows(frame, held_out)
    if held is None or not held.any() or frame.loc[~held, "run_id"].nunique() < 5:
        return None
    posterior = fit(frame[~held], config)
    test = frame[held]
    nets = Nets.of(test["params"], test["depth"], test["shape"], test["learning_rate"], test["batch_size"])
    curves = posterior.curves(nets)
    epochs = test["epoch"].to_numpy(float)
    mu = curves.mean(epochs)
    draws = mu + curves.sd(epochs) * np.random.default_rng(0).standard_normal(mu.shape)
    lo, hi = np.percentile(draws, [5, 95], axis=0)
    observed = score_of(test, posterior.task)
    return AccuracyCheck(
        dataset=str(frame["dataset"].iloc[0]),
        runs=int(test["run_id"].nunique()),
        points=len(test),
        median_abs_error=float(np.median(np.abs(mu.mean(axis=0) - observed))),
        coverage_90=float(np.mean((observed >= lo) & (observed <= hi))),
        held_out=held_out,
    )
