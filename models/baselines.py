"""Baselines fit on the same runs: energy proportional to FLOPs, to parameters, and a log-log regression.

Each predicts ln energy per datum per phase; they answer "is the cache-tier model worth its parameters?".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.features import PHASES


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


def _design(x: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), *[x[c].to_numpy(float) for c in columns]])


def _proportional(frame: pd.DataFrame, name: str, column: str) -> Baseline:
    coefficients = {}
    for phase in PHASES:
        rows = frame[frame["phase"] == phase]
        offset = float(np.median(rows["log_energy"] - rows[column])) if len(rows) else 0.0
        coefficients[phase] = np.array([offset, 1.0])
    return Baseline(name, (column,), coefficients)


def fit_baselines(frame: pd.DataFrame) -> list[Baseline]:
    """Energy ∝ FLOPs, energy ∝ parameters (log-space median offsets), and OLS on ln(params, depth, batch)."""
    loglog_columns = ("log_params", "log_depth", "log_batch")
    coefficients = {}
    for phase in PHASES:
        rows = frame[frame["phase"] == phase]
        if len(rows) <= len(loglog_columns) + 1:
            coefficients[phase] = np.zeros(len(loglog_columns) + 1)
            continue
        coefficients[phase], *_ = np.linalg.lstsq(_design(rows, loglog_columns), rows["log_energy"], rcond=None)
    return [
        _proportional(frame, "energy ∝ FLOPs", "log_flops"),
        _proportional(frame, "energy ∝ params", "log_params"),
        Baseline("log-log regression", loglog_columns, coefficients),
    ]
