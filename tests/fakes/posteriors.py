"""A posterior and a profile scattered around the true parameters of tests/fakes/energy.py: no sampling needed."""

from __future__ import annotations

import numpy as np

from models.energy import DATASET_FACTOR, EnergyPosterior
from models.features import TERMS
from models.profile import Profile, ProfileMetadata
from models.sampling import Diagnostics
from tests.fakes.energy import TIERS, TRUE
from tests.fakes.measurement import FP

DIAGNOSTICS = Diagnostics(divergences=0, max_r_hat=1.0, min_ess_bulk=500.0, draws=200, chains=1, fit_s=1.0)


def fake_posterior(
    draws: int = 200, scatter: float = 0.05, seed: int = 0, datasets: tuple[str, ...] = ()
) -> EnergyPosterior:
    """``draws`` draws of TRUE plus Gaussian scatter (tier capacities kept ordered); with ``datasets``, also
    each one's ln cost factors per term, as a fit that saw them keeps (drawn around 0 with ``sigma_dataset``)."""
    rng = np.random.default_rng(seed)
    values = {k: np.asarray(v, float)[None] + scatter * rng.standard_normal((draws, *np.shape(v)))
              for k, v in TRUE.items()}  # fmt: skip
    values["log_S"] = np.sort(values["log_S"], axis=1)
    for scale in ("r", "sigma", "sigma_dataset"):  # positive by construction in a real posterior
        values[scale] = np.abs(values[scale])
    if datasets:
        z = rng.standard_normal((draws, len(datasets), len(TERMS)))
        values[DATASET_FACTOR] = values["sigma_dataset"][:, None, :] * z
    return EnergyPosterior(values, TIERS, DIAGNOSTICS, tuple(datasets))


def fake_profile(estimated: bool = True) -> Profile:
    """An unsaved profile around :func:`fake_posterior` (no accuracy models) on the fake machine FP."""
    kind = "estimated" if estimated else "measured"
    meta = ProfileMetadata(FP, (kind,), ("estimate" if estimated else "rapl",), TIERS, (1, 2), 2, DIAGNOSTICS,
                           files={"energy.nc": "0" * 64})  # fmt: skip
    return Profile(fake_posterior(), meta, name="fake profile")
