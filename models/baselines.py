"""Baselines fit on the same runs: energy proportional to FLOPs, to parameters, a log-log regression, and
gradient-boosted trees on the energy model's own features.

Each predicts ln energy per datum per phase; they answer "is the cache-tier model worth its parameters?". The
proportional lines and the regression are what a back-of-the-envelope estimate does; the boosted trees
(scikit-learn's histogram gradient boosting) are what a data scientist would fit first, and the only baseline
with a 90% interval (quantile-loss trees at 5% and 95%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from models.features import FEATURE_COLUMNS, PHASES

BOOSTED_TREES = "gradient-boosted trees"
"""The name of the gradient-boosted baseline wherever its scores appear."""
BOOSTED_COLUMNS = (*FEATURE_COLUMNS, "phase_index")
"""What the boosted trees see: every feature the energy model sees (amounts, working sets, ln depth, ln batch,
ln params...) and the phase."""
BOOSTED_ITERATIONS = 100
"""Boosting rounds per model (scikit-learn's default; no early stopping): three models fit in about a second on
800 runs with one thread."""
BOOSTED_SEED = 0
INTERVAL_QUANTILES = (0.05, 0.95)
"""The quantiles of the boosted baseline's 90% interval."""


@dataclass(frozen=True)
class Baseline:
    """A fitted baseline: per-phase coefficients of a linear predictor of ln E."""

    name: str
    columns: tuple[str, ...]
    coefficients: dict[str, np.ndarray]

    def predict_log(self, x: pd.DataFrame) -> np.ndarray:
        """ln E predictions for each row."""
        out = np.empty(len(x))
        for phase, coef in self.coefficients.items():
            rows = (x["phase"] == phase).to_numpy()
            out[rows] = _design(x[rows], self.columns) @ coef
        return out

    def interval_log(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """None: a line states no interval."""
        return None


@dataclass(frozen=True)
class BoostedBaseline:
    """Gradient-boosted trees of ln E on :data:`BOOSTED_COLUMNS`: squared loss for the point, quantile loss for
    the interval.

    Attributes:
        point: the squared-loss model (a ``HistGradientBoostingRegressor``, fitted; never refitted).
        low, high: the quantile-loss models at :data:`INTERVAL_QUANTILES`.
    """

    name: str
    columns: tuple[str, ...]
    point: Any
    low: Any
    high: Any

    def predict_log(self, x: pd.DataFrame) -> np.ndarray:
        """ln E predictions for each row."""
        with threadpool_limits(1, user_api="openmp"):
            return self.point.predict(_matrix(x, self.columns))

    def interval_log(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The 90% interval of ln E for each row (the two quantile models, ordered where they cross)."""
        matrix = _matrix(x, self.columns)
        with threadpool_limits(1, user_api="openmp"):
            low, high = self.low.predict(matrix), self.high.predict(matrix)
        return np.minimum(low, high), np.maximum(low, high)


def _design(x: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), *[x[c].to_numpy(float) for c in columns]])


def _matrix(x: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    return x.loc[:, list(columns)].to_numpy(float)


def _proportional(frame: pd.DataFrame, name: str, column: str) -> Baseline:
    coefficients = {}
    for phase in PHASES:
        rows = frame[frame["phase"] == phase]
        offset = float(np.median(rows["log_energy"] - rows[column])) if len(rows) else 0.0
        coefficients[phase] = np.array([offset, 1.0])
    return Baseline(name, (column,), coefficients)


def _log_log(frame: pd.DataFrame) -> Baseline:
    columns = ("log_params", "log_depth", "log_batch")
    coefficients = {}
    for phase in PHASES:
        rows = frame[frame["phase"] == phase]
        if len(rows) <= len(columns) + 1:
            coefficients[phase] = np.zeros(len(columns) + 1)
            continue
        coefficients[phase], *_ = np.linalg.lstsq(_design(rows, columns), rows["log_energy"], rcond=None)
    return Baseline("log-log regression", columns, coefficients)


def fit_boosted(frame: pd.DataFrame) -> BoostedBaseline:
    """Gradient-boosted trees on a training frame (``features.training_frame``; at least one row).

    Deterministic: a fixed seed, no early stopping (no random validation split), :data:`BOOSTED_ITERATIONS`
    rounds, one thread (on a small frame threads cost more than they save, and they are shared).
    """
    matrix, target = _matrix(frame, BOOSTED_COLUMNS), frame["log_energy"].to_numpy(float)
    losses = ({"loss": "squared_error"}, *({"loss": "quantile", "quantile": q} for q in INTERVAL_QUANTILES))
    models = []
    from sklearn.ensemble import HistGradientBoostingRegressor  # ~1.5 s to import: only when fitting

    with threadpool_limits(1, user_api="openmp"):
        for loss in losses:
            model = HistGradientBoostingRegressor(
                max_iter=BOOSTED_ITERATIONS, early_stopping=False, random_state=BOOSTED_SEED, **loss
            )
            models.append(model.fit(matrix, target))
    return BoostedBaseline(BOOSTED_TREES, BOOSTED_COLUMNS, *models)


def fit_baselines(frame: pd.DataFrame) -> list[Baseline | BoostedBaseline]:
    """Energy ∝ FLOPs, energy ∝ parameters (log-space median offsets), OLS on ln(params, depth, batch), and
    gradient-boosted trees on the energy model's features (:func:`fit_boosted`)."""
    return [
        _proportional(frame, "energy ∝ FLOPs", "log_flops"),
        _proportional(frame, "energy ∝ params", "log_params"),
        _log_log(frame),
        fit_boosted(frame),
    ]
