"""Grouped hold-out evaluation: whole configs are held out (never only some repeats of one).

For the tier model and each baseline: median absolute percentage error of the point prediction
(posterior median), share of held-out runs within ±10%, and, for the model, 90% interval coverage.
The calibration's repeat-noise floor is reported beside them: no model can beat the meter's noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from measurement.errors import InputError
from measurement.tiers import Tier
from models import schema
from models.baselines import fit_baselines
from models.energy import fit, measurement_sd
from models.sampling import FitConfig

MAX_FOLDS = 50

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

    def summary(self) -> EvaluationSummary:
        """The compact form stored in a profile and shown by the UIs."""
        scores = {s.name: ScoreSummary(s.median_ape, s.within_10pct, s.coverage_90) for s in self.scores}
        return EvaluationSummary(self.folds, self.held_out, self.noise_floor, scores)


@dataclass(frozen=True)
class ScoreSummary:
    """One predictor's hold-out scores, as stored in a profile."""

    median_ape: float
    within_10pct: float
    coverage_90: float | None = None


@dataclass(frozen=True)
class EvaluationSummary:
    """Hold-out scores stored in a profile: folds, observations, noise floor, scores by predictor name."""

    folds: int
    held_out: int
    noise_floor: float | None
    scores: dict[str, ScoreSummary]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"folds": self.folds, "held_out": self.held_out, "noise_floor": self.noise_floor,
                "scores": {name: vars(s) for name, s in self.scores.items()}}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, where: str = "evaluation") -> EvaluationSummary:
        """Read and check the JSON form (shares in [0, 1], errors non-negative)."""
        data = schema.obj(data, where)
        scores = {}
        for name, entry in schema.mapping(data, "scores", where, max_len=64).items():
            at = f"{where}.scores.{name}"
            entry = schema.obj(entry, at)
            scores[str(name)[:200]] = ScoreSummary(
                schema.number(entry, "median_ape", at, 0.0, 1e9), schema.number(entry, "within_10pct", at, 0.0, 1.0),
                schema.optional_number(entry, "coverage_90", at, 0.0, 1.0),
            )  # fmt: skip
        return cls(schema.integer(data, "folds", where, 2, MAX_FOLDS), schema.integer(data, "held_out", where),
                   schema.optional_number(data, "noise_floor", where, 0.0, 100.0), scores)  # fmt: skip


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


def check_folds(folds: int, configs: int) -> None:
    """Refuse a fold count the data cannot support (InputError, before any fitting)."""
    if not 2 <= folds <= MAX_FOLDS:
        raise InputError(f"folds must be between 2 and {MAX_FOLDS}, got {folds}")
    if configs < folds:
        raise InputError(f"{folds} folds need at least {folds} distinct configs; the runs have {configs}")


def evaluate(
    frame: pd.DataFrame,
    tiers: tuple[Tier, ...],
    folds: int = 5,
    fit_config: FitConfig = EVAL_FIT,
    noise_floor: float | None = None,
    seed: int = 0,
) -> Evaluation:
    """Fit on k-1 folds, score on the held-out fold, for every fold; pool the held-out predictions."""
    check_folds(folds, frame["config"].nunique())
    held, model_pred, lo, hi, divergences = [], [], [], [], 0
    baseline_preds: dict[str, list[np.ndarray]] = {}
    for mask in grouped_folds(frame, folds, seed):
        train, test = frame[~mask], frame[mask]
        posterior = fit(train, fit_config, tiers)
        divergences += posterior.diagnostics.divergences
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
