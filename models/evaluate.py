"""Grouped hold-out evaluation: whole configs are held out (never only some repeats of one).

For the tier model and each baseline: median absolute percentage error of the point prediction
(posterior median), share of held-out runs within ±10%, and, for the model, 90% interval coverage.
The calibration's repeat-noise floor is reported beside them: no model can beat the meter's noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.baselines import fit_baselines
from models.energy import EnergyPosterior, FitConfig, Tier, fit, measurement_sd, posterior_arrays

EVAL_FIT = FitConfig(draws=300, tune=500, chains=1)


@dataclass(frozen=True)
class Scores:
    """Hold-out scores of one predictor."""

    name: str
    median_ape: float
    within_10pct: float
    coverage_90: float | None = None
    per_phase_median_ape: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """Scores of the model and baselines on the same folds, and the noise floor."""

    folds: int
    held_out: int
    scores: tuple[Scores, ...]
    noise_floor: float | None
    divergences: int


def _scores(name: str, frame: pd.DataFrame, predicted_log: np.ndarray, coverage: float | None = None) -> Scores:
    ape = np.abs(np.exp(predicted_log - frame["log_energy"].to_numpy()) - 1.0)
    per_phase = {p: float(np.median(ape[(frame["phase"] == p).to_numpy()])) for p in frame["phase"].unique()}
    return Scores(name, float(np.median(ape)), float(np.mean(ape <= 0.10)), coverage, per_phase)


def grouped_folds(frame: pd.DataFrame, k: int, seed: int = 0) -> list[np.ndarray]:
    """Row masks of k folds; all rows of a config (repeats, both phases) fall in the same fold."""
    configs = frame["config"].unique()
    order = np.random.default_rng(seed).permutation(len(configs))
    fold_of = {configs[i]: n % k for n, i in enumerate(order)}
    assignment = frame["config"].map(fold_of).to_numpy()
    return [assignment == f for f in range(k)]


def evaluate(
    frame: pd.DataFrame,
    tiers: tuple[Tier, ...],
    folds: int = 5,
    fit_config: FitConfig = EVAL_FIT,
    noise_floor: float | None = None,
    seed: int = 0,
) -> Evaluation:
    """Fit on k-1 folds, score on the held-out fold, for every fold; pool the held-out predictions."""
    if folds < 2 or frame["config"].nunique() < folds:
        raise ValueError(f"need at least {folds} distinct configs for {folds} folds")
    held, model_pred, lo, hi, divergences = [], [], [], [], 0
    baseline_preds: dict[str, list[np.ndarray]] = {}
    for mask in grouped_folds(frame, folds, seed):
        train, test = frame[~mask], frame[mask]
        idata, diagnostics = fit(train, tiers, fit_config)
        divergences += diagnostics.divergences
        posterior = EnergyPosterior(posterior_arrays(idata), tiers)
        mu = posterior.log_energy(test)
        model_pred.append(np.median(mu, axis=0))
        predictive = posterior.predictive_log_energy(test, seed=seed)
        extra = measurement_sd(test.get("spread", pd.Series(np.zeros(len(test)))).to_numpy())
        predictive = predictive + extra[None, :] * np.random.default_rng(seed + 1).standard_normal(predictive.shape)
        lo.append(np.percentile(predictive, 5, axis=0))
        hi.append(np.percentile(predictive, 95, axis=0))
        for baseline in fit_baselines(train):
            baseline_preds.setdefault(baseline.name, []).append(baseline.predict_log(test))
        held.append(test)
    pooled = pd.concat(held, ignore_index=True)
    y = pooled["log_energy"].to_numpy()
    coverage = float(np.mean((y >= np.concatenate(lo)) & (y <= np.concatenate(hi))))
    scores = [_scores("tier model", pooled, np.concatenate(model_pred), coverage)]
    scores += [_scores(name, pooled, np.concatenate(p)) for name, p in baseline_preds.items()]
    return Evaluation(folds, len(pooled), tuple(scores), noise_floor, divergences)
