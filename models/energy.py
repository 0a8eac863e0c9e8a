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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from measurement.tiers import Tier, tier_index, tier_label
from models.features import PHASES
from models.sampling import Diagnostics, FitConfig, FitError, diagnose, draws_dataset, pymc, sample, thin

MODEL_VERSION = "energy-tiers-1"
STUDENT_NU = 4.0
N_WINDOWS_DEFAULT = 5
LOG_CAPACITY_BOUNDS = (float(np.log(2**10)), float(np.log(2**40)))
"""A cache tier's capacity lies between 1 KiB and 1 TiB: the prior's support, and what a profile may hold."""
PARAMS = ("log_c1", "r", "log_S", "log_tau", "log_o", "log_k", "sigma")


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
    pm = pymc()
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
        transforms = pm.distributions.transforms
        log_s = pm.Normal(  # truncated by the interval transform (fixed mu, sigma: the normaliser is a constant)
            "log_S",
            mu=prior_log_s,
            sigma=1.0,
            dims="tier",
            transform=transforms.Chain([transforms.Interval(*LOG_CAPACITY_BOUNDS), transforms.ordered]),
            initval=np.clip(prior_log_s, LOG_CAPACITY_BOUNDS[0] + 0.1, LOG_CAPACITY_BOUNDS[1] - 0.1),
        )  # ordered: steps cannot swap places (no label switching); bounded: a cache is 1 KiB .. 1 TiB
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


def fit(frame: pd.DataFrame, config: FitConfig, tiers: tuple[Tier, ...]) -> EnergyPosterior:
    """Sample the posterior of a training frame (see features.training_frame) with tier priors ``tiers``."""
    idata, fit_s = sample(build_model(frame, tiers), config)
    return EnergyPosterior.from_idata(idata, tiers, diagnose(idata, list(PARAMS), config, fit_s))


@dataclass(frozen=True)
class EnergyPosterior:
    """Posterior draws in numpy and the tiers they refer to: all the advisor needs to predict."""

    draws: dict[str, np.ndarray]
    tiers: tuple[Tier, ...]
    diagnostics: Diagnostics

    @classmethod
    def from_idata(cls, idata, tiers: tuple[Tier, ...], diagnostics: Diagnostics) -> EnergyPosterior:
        """Thin an InferenceData (or its posterior group) into numpy draws (the shared rule)."""
        posterior = getattr(idata, "posterior", idata)
        return cls(thin(posterior, PARAMS), tuple(tiers), diagnostics)

    def to_dataset(self):
        """The draws as an InferenceData-style posterior group (xarray), for saving."""
        dims = {"log_c1": ("phase",), "r": ("phase", "tier"), "log_S": ("tier",), "log_o": ("phase",),
                "log_k": ("phase",), "sigma": ("phase",)}  # fmt: skip
        return draws_dataset(self.draws, dims, {"phase": list(PHASES), "tier": [t.name for t in self.tiers]})

    def to_idata(self):
        """The draws as ArviZ InferenceData (for users' own analysis)."""
        from models.sampling import arviz

        return arviz().InferenceData(posterior=self.to_dataset())

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

    def cost_summary(self) -> dict[str, tuple[float, dict[str, float]]]:
        """Per phase: posterior median cost per FLOP (J) and the median step factor r of each tier."""
        c1 = np.exp(self.draws["log_c1"])
        return {
            phase: (float(np.median(c1[:, p])),
                    {t.name: float(np.median(self.draws["r"][:, p, k])) for k, t in enumerate(self.tiers)})
            for p, phase in enumerate(PHASES)
        }  # fmt: skip

    def fitted_tiers(self) -> tuple[Tier, ...]:
        """The tiers at their posterior median capacities (the data may move a step away from its seed)."""
        medians = np.exp(np.median(self.draws["log_S"], axis=0))
        return tuple(Tier(t.name, int(np.rint(m))) for t, m in zip(self.tiers, medians, strict=True))

    def tier_index(self, log_ws: np.ndarray) -> np.ndarray:
        """Which fitted tier each working set (ln bytes) falls in."""
        return np.atleast_1d(tier_index(np.exp(np.asarray(log_ws, float)), self.fitted_tiers()))

    def tier_label(self, index: int) -> str:
        """``<=L1d`` … ``>L3`` (names of the tiers the capacities were seeded from)."""
        return tier_label(index, self.tiers)

    def with_draws(self, n: int) -> EnergyPosterior:
        """A copy keeping the first ``n`` draws (faster predictions)."""
        return dataclasses.replace(self, draws={k: v[:n] for k, v in self.draws.items()})
