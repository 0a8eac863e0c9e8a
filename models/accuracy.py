"""Bayesian accuracy model per dataset: a saturating curve in log parameters, with depth and shape effects.

For classification the score is test accuracy, rising from the chance level c to an asymptote ``top``:

    acc = c + (top - c) * sigmoid((ln P - m + b_depth * (ln D - ln 4) + g_shape) / s)

For regression the score is -ln(test loss) with a free floor. Observations are Normal around the curve
(sigma = run-to-run noise). Far from the probed parameter range the curve is extrapolation: the predictive
scale grows by ``EXTRAPOLATION_SD`` per e-fold outside it, so P(meet budget) stays honest there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from measurement.architecture import SHAPES
from models.energy import FitConfig, FitError, diagnose, sampler_cores

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
    import pymc as pm
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


ACCURACY_FIT = FitConfig(draws=500, tune=1000, chains=4, init="jitter+adapt_diag")


def fit(frame: pd.DataFrame, task: str, output_dim: int, config: FitConfig = ACCURACY_FIT):
    """Sample the accuracy posterior for one dataset. Returns (InferenceData, Diagnostics, info dict)."""
    import pymc as pm

    chance = chance_level(frame, output_dim, task)
    model = build_model(frame, task, chance)
    began = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains, cores=sampler_cores(config),
            random_seed=config.seed,
            target_accept=0.95, progressbar=False, compute_convergence_checks=False,
        )  # fmt: skip
    diagnostics = diagnose(
        idata, ["top", "m", "log_s", "b_depth", "g_raw", "sigma"], config, time.perf_counter() - began
    )
    log_p = np.log(frame["params"].to_numpy(float))
    info = {
        "task": task,
        "chance": chance,
        "log_params_range": [float(log_p.min()), float(log_p.max())],
        "runs": len(frame),
        "epochs": float(frame["epochs_trained"].median()),
        "input_dim": int(frame["input_dim"].iloc[0]),
        "train_samples": int(frame["train_samples"].iloc[0]),
        "output_dim": int(output_dim),
        "best_observed": float(np.max(_score(frame, task))),
        "diagnostics": {**diagnostics.__dict__, "converged": diagnostics.converged},
        "version": ACCURACY_VERSION,
    }
    return idata, diagnostics, info


@dataclass(frozen=True)
class AccuracyPosterior:
    """Accuracy posterior draws for one dataset, in numpy, with what the curve was fit on."""

    draws: dict[str, np.ndarray]
    info: dict

    @classmethod
    def from_idata(cls, idata, info: dict, max_draws: int = 1000) -> AccuracyPosterior:
        """Flatten a saved InferenceData into numpy draws."""
        post = idata.posterior
        n = post.sizes["chain"] * post.sizes["draw"]
        out = {}
        for name in PARAMS:
            values = np.asarray(post[name].to_numpy(), float)
            values = np.broadcast_to(values, (post.sizes["chain"], post.sizes["draw"], *values.shape[2:]))
            out[name] = values.reshape(n, *values.shape[2:])[:max_draws]
        return cls(out, dict(info))

    @property
    def task(self) -> str:
        """multiclass, binary or regression."""
        return str(self.info["task"])

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
        lo, hi = self.info["log_params_range"]
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
