"""Bayesian accuracy model per dataset: a saturating curve in log parameters, with depth and shape effects.

For classification the score is test accuracy, rising from the chance level c to an asymptote ``top``:

    acc = c + (top - c) * sigmoid((ln P - m + b_depth * (ln D - ln 4) + g_shape) / s)

For regression the score is -ln(test loss) with a free floor. Observations are Normal around the curve
(sigma = run-to-run noise). Far from the probed parameter range the curve is extrapolation: the predictive
scale grows by ``EXTRAPOLATION_SD`` per e-fold outside it, so P(meet budget) stays honest there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from measurement.architecture import BEYOND_GRID_LIMITS, SHAPES
from models import schema
from models.sampling import Diagnostics, FitConfig, FitError, diagnose, draws_dataset, pymc, sample, thin

ACCURACY_VERSION = "accuracy-saturating-1"
EXTRAPOLATION_SD = 0.04
REFERENCE_LOG_DEPTH = float(np.log(4))
PARAMS = ("floor", "top", "m", "log_s", "b_depth", "g_shape", "sigma")


def _score(frame: pd.DataFrame, task: str) -> np.ndarray:
    if task == "regression":
        return -np.log(np.clip(frame["test_loss"].to_numpy(float), 1e-12, None))
    return frame["test_accuracy"].to_numpy(float)


def chance_level(frame: pd.DataFrame, output_dim: int, task: str) -> float:
    """Accuracy of guessing: 1/K for multi-class, 0.5 for binary (a lower bound on the floor)."""
    return 1.0 / output_dim if task == "multiclass" else 0.5


def build_model(frame: pd.DataFrame, task: str, chance: float):
    """The PyMC accuracy model for one dataset's runs (one row per run)."""
    pm = pymc()
    import pytensor.tensor as pt

    if len(frame) < 5:
        raise FitError(f"need at least 5 probe runs to fit an accuracy model, got {len(frame)}")
    y = _score(frame, task)
    log_p = np.log(frame["params"].to_numpy(float))
    log_d = np.log(frame["depth"].to_numpy(float)) - REFERENCE_LOG_DEPTH
    shape_idx = frame["shape"].map({s.value: i for i, s in enumerate(SHAPES)}).to_numpy()
    coords = {"shape": [s.value for s in SHAPES]}
    with pm.Model(coords=coords) as model:
        if task == "regression":
            floor = pm.Normal("floor", mu=float(np.min(y)), sigma=1.0)
            top = pm.Deterministic("top", floor + pm.HalfNormal("gain", sigma=2.0 * (np.ptp(y) + 0.1)))
        else:
            floor = pm.Deterministic("floor", pt.as_tensor_variable(chance))
            top_logit = pm.Normal("top_logit", mu=2.0, sigma=1.5)  # no hard wall at 1: smooth geometry
            top = pm.Deterministic("top", chance + (1.0 - chance) * pm.math.sigmoid(top_logit))
        m = pm.Normal("m", mu=float(np.median(log_p)), sigma=2.0)
        log_s = pm.Normal("log_s", mu=0.0, sigma=0.7)
        b_depth = pm.Normal("b_depth", mu=0.0, sigma=0.5)
        shape_sd = pm.HalfNormal("shape_sd", sigma=0.5)
        g_raw = pm.Normal("g_raw", mu=0.0, sigma=1.0, dims="shape")  # non-centred: no funnel
        g_shape = pm.Deterministic("g_shape", shape_sd * g_raw, dims="shape")
        z = (log_p - m + b_depth * log_d + g_shape[shape_idx]) / pt.exp(log_s)
        mu = floor + (top - floor) * pm.math.sigmoid(z)
        sigma = pm.HalfNormal("sigma", sigma=0.1 if task != "regression" else 0.5)
        pm.Normal("score", mu=mu, sigma=sigma, observed=y)
    return model


ACCURACY_FIT = FitConfig(draws=500, tune=1000, chains=4, target_accept=0.95, init="jitter+adapt_diag")
TASKS = ("multiclass", "binary", "regression")


@dataclass(frozen=True)
class AccuracyInfo:
    """What an accuracy posterior was fit on: the dataset's task and dims, the probed range, diagnostics."""

    task: str
    chance: float
    log_params_range: tuple[float, float]
    runs: int
    epochs: float
    input_dim: int
    train_samples: int
    output_dim: int
    best_observed: float
    diagnostics: Diagnostics
    version: str = ACCURACY_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "log_params_range": list(self.log_params_range),
                "diagnostics": self.diagnostics.to_dict()}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, where: str) -> AccuracyInfo:
        """Read and check the JSON form (task known, dims and counts in range, the range ordered)."""
        data = schema.obj(data, where)
        task = schema.text(data, "task", where)
        if task not in TASKS:
            raise schema.SchemaError(f"{where}.task: expected one of {', '.join(TASKS)}")
        low_high = schema.array(data, "log_params_range", where, max_len=2)
        if len(low_high) != 2:
            raise schema.SchemaError(f"{where}.log_params_range: expected [low, high]")
        bounds = {"low": low_high[0], "high": low_high[1]}
        low = schema.number(bounds, "low", f"{where}.log_params_range", 0.0, 60.0)
        high = schema.number(bounds, "high", f"{where}.log_params_range", low, 60.0)
        version = schema.text(data, "version", where)
        if version != ACCURACY_VERSION:
            raise schema.SchemaError(f"{where}.version: accuracy model {version!r}, this advisor uses "
                                     f"{ACCURACY_VERSION!r}: re-run 'advisor fit'")  # fmt: skip
        return cls(
            task=task, chance=schema.number(data, "chance", where, 0.0, 1.0), log_params_range=(low, high),
            runs=schema.integer(data, "runs", where, 1, 10**7), epochs=schema.number(data, "epochs", where, 0, 1e7),
            input_dim=schema.integer(data, "input_dim", where, *BEYOND_GRID_LIMITS.dim),
            train_samples=schema.integer(data, "train_samples", where, 1, 2**40),
            output_dim=schema.integer(data, "output_dim", where, *BEYOND_GRID_LIMITS.dim),
            best_observed=schema.number(data, "best_observed", where),
            diagnostics=Diagnostics.from_dict(data.get("diagnostics"), f"{where}.diagnostics"), version=version,
        )  # fmt: skip


def fit(frame: pd.DataFrame, config: FitConfig = ACCURACY_FIT) -> AccuracyPosterior:
    """Sample the accuracy posterior of one dataset's probe runs (one row per run, train phase)."""
    task = str(frame["task"].iloc[0]) if len(frame) else "multiclass"
    output_dim = int(frame["output_dim"].iloc[0]) if len(frame) else 1
    chance = chance_level(frame, output_dim, task)
    idata, fit_s = sample(build_model(frame, task, chance), config)
    diagnostics = diagnose(idata, ["top", "m", "log_s", "b_depth", "g_raw", "sigma"], config, fit_s)
    log_p = np.log(frame["params"].to_numpy(float))
    info = AccuracyInfo(
        task=task, chance=chance, log_params_range=(float(log_p.min()), float(log_p.max())), runs=len(frame),
        epochs=float(frame["epochs_trained"].median()), input_dim=int(frame["input_dim"].iloc[0]),
        train_samples=int(frame["train_samples"].iloc[0]), output_dim=output_dim,
        best_observed=float(np.max(_score(frame, task))), diagnostics=diagnostics,
    )  # fmt: skip
    return AccuracyPosterior.from_idata(idata, info)


@dataclass(frozen=True)
class AccuracyPosterior:
    """Accuracy posterior draws for one dataset, in numpy, with what the curve was fit on."""

    draws: dict[str, np.ndarray]
    info: AccuracyInfo

    @classmethod
    def from_idata(cls, idata, info: AccuracyInfo) -> AccuracyPosterior:
        """Thin an InferenceData (or its posterior group) into numpy draws (the shared rule)."""
        return cls(thin(getattr(idata, "posterior", idata), PARAMS), info)

    def to_dataset(self):
        """The draws as an InferenceData-style posterior group (xarray), for saving."""
        return draws_dataset(self.draws, {"g_shape": ("shape",)}, {"shape": [s.value for s in SHAPES]})

    @property
    def diagnostics(self) -> Diagnostics:
        """Convergence of the fit behind these draws."""
        return self.info.diagnostics

    @property
    def task(self) -> str:
        """multiclass, binary or regression."""
        return self.info.task

    def mean_score(self, params: np.ndarray, depth: np.ndarray, shapes: list[str]) -> np.ndarray:
        """Curve value per draw (rows) and config (columns), without run noise."""
        d = self.draws
        log_p = np.log(np.asarray(params, float))[None, :]
        log_d = (np.log(np.asarray(depth, float)) - REFERENCE_LOG_DEPTH)[None, :]
        idx = np.array([[s.value for s in SHAPES].index(s) for s in shapes])
        z = (log_p - d["m"][:, None] + d["b_depth"][:, None] * log_d + d["g_shape"][:, idx]) / np.exp(d["log_s"])[
            :, None
        ]
        return d["floor"][:, None] + (d["top"] - d["floor"])[:, None] * special.expit(z)

    def predictive_sd(self, params: np.ndarray) -> np.ndarray:
        """Run-to-run noise per draw and config, widened outside the probed parameter range."""
        lo, hi = self.info.log_params_range
        log_p = np.log(np.asarray(params, float))
        outside = np.clip(lo - log_p, 0, None) + np.clip(log_p - hi, 0, None)
        return np.sqrt(self.draws["sigma"][:, None] ** 2 + (EXTRAPOLATION_SD * outside)[None, :] ** 2)

    def budget_score(self, budget: float) -> float:
        """The budget on the model's scale: accuracy as is; a regression loss budget as -ln(loss)."""
        return -float(np.log(budget)) if self.task == "regression" else float(budget)

    def prob_meets(self, budget: float, params: np.ndarray, depth: np.ndarray, shapes: list[str]) -> np.ndarray:
        """P(a new training run of each config reaches the budget), averaged over the posterior."""
        mu = self.mean_score(params, depth, shapes)
        sd = self.predictive_sd(params)
        return stats.norm.sf(self.budget_score(budget), loc=mu, scale=sd).mean(axis=0)

    def expected(self, params: np.ndarray, depth: np.ndarray, shapes: list[str]) -> np.ndarray:
        """Posterior mean accuracy (or loss, for regression) per config."""
        score = self.mean_score(params, depth, shapes).mean(axis=0)
        return np.exp(-score) if self.task == "regression" else score
