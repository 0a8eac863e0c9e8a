"""Bayesian energy model with cache tiers (PyMC), and its vectorised numpy posterior predictor.

For an observation in phase p (train | inference) with FLOPs per datum F, working set W, depth D and
batch size B, energy per datum is

    E = F * c_p(W)  +  o_p * D / B  +  k_p
    c_p(W) = c1_p * (1 + sum_k r_pk * sigmoid((ln W - ln S_k) / tau_k))

a cost per FLOP that steps up (r_pk >= 0, so tier costs are positive and ordered) as the working set
crosses each cache capacity S_k, a per-layer-per-step overhead o_p and a per-datum constant k_p. The
capacities S_k (ordered) and the step width tau are shared by both phases (the same caches); costs are per phase.
ln S_k has a prior centred on the fingerprint's cache size: the data may move it. The likelihood is a
Student-t on ln E whose scale adds the model's sigma_p to each run's own measurement noise (from its
window spread), so the fit knows the noise it was fit on.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from measurement.errors import InputError
from models.features import PHASES

MODEL_VERSION = "energy-tiers-1"
STUDENT_NU = 4.0
N_WINDOWS_DEFAULT = 5
PARAMS = ("log_c1", "r", "log_S", "log_tau", "log_o", "log_k", "sigma")


@dataclass(frozen=True)
class Tier:
    """A cache capacity prior: name (L1d, L2 …) and size in bytes."""

    name: str
    size_bytes: int


@dataclass(frozen=True)
class FitConfig:
    """Sampler settings. The defaults give a converged fit of a 10-minute calibration in seconds."""

    draws: int = 800
    tune: int = 600
    chains: int = 2
    target_accept: float = 0.9
    seed: int = 0
    cores: int | None = None
    """Processes for the chains; None = one per chain up to the machine's cores (2 here)."""
    init: str = "jitter+adapt_full"
    """Dense mass matrix: the tier parameters are correlated; it halves the leapfrog steps per draw."""


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of a fit."""

    divergences: int
    max_r_hat: float
    min_ess_bulk: float
    draws: int
    chains: int
    fit_s: float

    @property
    def converged(self) -> bool:
        """r_hat <= 1.01 (when there are several chains), bulk ESS >= 100, and < 1% divergent draws."""
        r_hat_ok = self.chains < 2 or self.max_r_hat <= 1.01
        return r_hat_ok and self.min_ess_bulk >= 100 and self.divergences <= 0.01 * self.draws * self.chains

    def problems(self) -> list[str]:
        """Human-readable reasons the fit is not trustworthy (empty when converged)."""
        out = []
        if self.chains >= 2 and self.max_r_hat > 1.01:
            out.append(f"max r_hat {self.max_r_hat:.3f} > 1.01")
        if self.min_ess_bulk < 100:
            out.append(f"min bulk ESS {self.min_ess_bulk:.0f} < 100")
        if self.divergences > 0.01 * self.draws * self.chains:
            out.append(f"{self.divergences} divergent transitions")
        return out


class FitError(InputError):
    """The data cannot support a fit (too few runs, a phase missing …)."""


def measurement_sd(spread: np.ndarray, windows: int = N_WINDOWS_DEFAULT) -> np.ndarray:
    """Standard error of a run's median on the log scale, from its window IQR / median."""
    spread = np.nan_to_num(np.asarray(spread, float), nan=0.0)
    return 1.2533 * (spread / 1.349) / np.sqrt(windows)


def log_energy_numpy(post: dict[str, np.ndarray], x: pd.DataFrame) -> np.ndarray:
    """ln E for every posterior draw (rows) and config (columns): the predictor used everywhere.

    Summed in linear space (ln E lies within about -40..5 here, far from under/overflow); a call whose
    configs share one phase slices the parameters instead of gathering them (the engine's fast path).
    """
    ph = x["phase_index"].to_numpy()
    one = int(ph[0]) if len(ph) and (ph == ph[0]).all() else None
    index = (slice(None), one) if one is not None else (slice(None), ph)

    def per_phase(name: str) -> np.ndarray:  # (draws, 1) or (draws, configs)
        values = post[name][index]
        return values[:, None] if one is not None else values

    r = post["r"][:, one, None, :] if one is not None else post["r"][:, ph, :]
    log_ws = x["log_ws"].to_numpy()
    tau = np.exp(post["log_tau"])[:, None, None]
    steps = special.expit((log_ws[None, :, None] - post["log_S"][:, None, :]) / tau)
    cost_per_flop = np.exp(per_phase("log_c1")) * (1.0 + (r * steps).sum(axis=-1))
    flops = np.exp(x["log_flops"].to_numpy())[None, :]
    per_step = np.exp((x["log_depth"] - x["log_batch"]).to_numpy())[None, :]
    energy = flops * cost_per_flop + np.exp(per_phase("log_o")) * per_step + np.exp(per_phase("log_k"))
    return np.log(energy)


def build_model(frame: pd.DataFrame, tiers: tuple[Tier, ...]):
    """The PyMC model for a training frame (see features.training_frame)."""
    import pymc as pm
    import pytensor.tensor as pt

    if frame.empty or len(frame) < 8:
        raise FitError(f"need at least 8 usable runs to fit, got {len(frame)}")
    missing = [p for p in PHASES if p not in set(frame["phase"])]
    if missing:
        raise FitError(f"no usable runs for phase(s) {missing}")
    y = frame["log_energy"].to_numpy(float)
    ph = frame["phase_index"].to_numpy()
    log_flops, log_ws = frame["log_flops"].to_numpy(float), frame["log_ws"].to_numpy(float)
    per_layer = (frame["log_depth"] - frame["log_batch"]).to_numpy(float)
    meas_sd = measurement_sd(frame.get("spread", pd.Series(np.zeros(len(frame)))).to_numpy())
    c1_guess = [np.median((y - log_flops)[ph == i]) for i in range(len(PHASES))]
    o_guess = [np.median((y - per_layer)[ph == i]) for i in range(len(PHASES))]
    k_guess = [np.min(y[ph == i]) - 1.0 for i in range(len(PHASES))]
    coords = {"phase": list(PHASES), "tier": [t.name for t in tiers], "obs": np.arange(len(y))}
    with pm.Model(coords=coords) as model:
        log_c1 = pm.Normal("log_c1", mu=np.array(c1_guess) - 1.0, sigma=3.0, dims="phase")
        r = pm.HalfNormal("r", sigma=1.5, dims=("phase", "tier"))
        prior_log_s = np.log([t.size_bytes for t in tiers])
        log_s = pm.Normal(
            "log_S",
            mu=prior_log_s,
            sigma=1.0,
            dims="tier",
            transform=pm.distributions.transforms.ordered,
            initval=prior_log_s,
        )  # ordered: steps cannot swap places (no label switching between tiers)
        log_tau = pm.Normal("log_tau", mu=np.log(0.5), sigma=0.5)
        log_o = pm.Normal("log_o", mu=np.array(o_guess) - 1.0, sigma=3.0, dims="phase")
        log_k = pm.Normal("log_k", mu=np.array(k_guess), sigma=3.0, dims="phase")
        sigma = pm.HalfNormal("sigma", sigma=0.5, dims="phase")
        steps = pm.math.sigmoid((log_ws[:, None] - log_s[None, :]) / pt.exp(log_tau))
        cost_log = log_c1[ph] + pt.log1p((r[ph, :] * steps).sum(axis=1))
        flops_term = log_flops + cost_log
        overhead = log_o[ph] + per_layer
        mu = pt.logaddexp(pt.logaddexp(flops_term, overhead), log_k[ph])
        pm.Deterministic("mu", mu, dims="obs")
        scale = pt.sqrt(sigma[ph] ** 2 + meas_sd**2)
        pm.StudentT("log_energy", nu=STUDENT_NU, mu=mu, sigma=scale, observed=y, dims="obs")
    return model


def fit(frame: pd.DataFrame, tiers: tuple[Tier, ...], config: FitConfig = FitConfig()):
    """Sample the posterior. Returns (InferenceData, Diagnostics)."""
    import pymc as pm

    model = build_model(frame, tiers)
    began = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains, cores=sampler_cores(config),
            random_seed=config.seed, init=config.init,
            target_accept=config.target_accept, progressbar=False, compute_convergence_checks=False,
            idata_kwargs={"log_likelihood": False},
        )  # fmt: skip
    fit_s = time.perf_counter() - began
    idata.posterior = idata.posterior.drop_vars("mu")
    return idata, diagnose(idata, list(PARAMS), config, fit_s)


def diagnose(idata, var_names: list[str], config: FitConfig, fit_s: float) -> Diagnostics:
    """Divergences, worst r_hat (several chains only) and worst bulk ESS over ``var_names``."""
    import arviz as az

    ess = az.ess(idata, var_names=var_names, method="bulk")
    min_ess = min(float(np.nanmin(ess[v].to_numpy())) for v in var_names)
    max_r_hat = float("nan")
    if config.chains > 1:
        r_hat = az.rhat(idata, var_names=var_names)
        max_r_hat = max(float(np.nanmax(r_hat[v].to_numpy())) for v in var_names)
    return Diagnostics(
        divergences=int(idata.sample_stats["diverging"].sum()), max_r_hat=max_r_hat, min_ess_bulk=min_ess,
        draws=config.draws, chains=config.chains, fit_s=fit_s,
    )  # fmt: skip


def sampler_cores(config: FitConfig) -> int:
    """How many processes sample the chains."""
    import os

    return config.cores or max(1, min(config.chains, os.cpu_count() or 1))


def posterior_arrays(idata, max_draws: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Flatten chains x draws into one axis (thinned to ``max_draws``) as plain numpy arrays."""
    post = idata.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    keep = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max_draws), replace=False))
    out = {}
    for name in PARAMS:
        values = post[name].to_numpy()
        out[name] = values.reshape(n, *values.shape[2:])[keep]
    return out


@dataclass(frozen=True)
class EnergyPosterior:
    """Posterior draws in numpy and the tiers they refer to: all the advisor needs to predict."""

    draws: dict[str, np.ndarray]
    tiers: tuple[Tier, ...]

    def log_energy(self, features: pd.DataFrame) -> np.ndarray:
        """ln E draws (n_draws x n_configs), without observation noise."""
        return log_energy_numpy(self.draws, features)

    def predictive_log_energy(self, features: pd.DataFrame, seed: int = 0) -> np.ndarray:
        """ln E draws including the model's observation noise (for intervals on new measurements)."""
        mu = self.log_energy(features)
        sigma = self.draws["sigma"][:, features["phase_index"].to_numpy()]
        noise = np.random.default_rng(seed).standard_t(STUDENT_NU, size=mu.shape)
        return mu + sigma * noise

    def tier_capacities_bytes(self) -> dict[str, tuple[float, float, float]]:
        """Posterior median and 90% interval of each tier capacity."""
        sizes = np.exp(self.draws["log_S"])
        return {t.name: tuple(np.percentile(sizes[:, i], [50, 5, 95])) for i, t in enumerate(self.tiers)}

    def tier_index(self, log_ws: np.ndarray) -> np.ndarray:
        """Which tier each working set falls in, by the posterior median capacities."""
        medians = np.median(self.draws["log_S"], axis=0)
        return (np.asarray(log_ws)[:, None] > medians[None, :]).sum(axis=1)

    def tier_label(self, index: int) -> str:
        """``<=L1d`` … ``>L3``."""
        names = [t.name for t in self.tiers]
        return f"<={names[index]}" if index < len(names) else f">{names[-1]}"

    def with_draws(self, n: int) -> EnergyPosterior:
        """A copy keeping the first ``n`` draws (faster predictions)."""
        return dataclasses.replace(self, draws={k: v[:n] for k, v in self.draws.items()})
