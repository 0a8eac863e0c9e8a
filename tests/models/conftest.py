"""Shared fixtures: synthetic runs drawn from known tier parameters, one small real fit reused by the tests of
a fit's behaviour, and a fake posterior of the same shape for the tests of what is done with one."""

from __future__ import annotations

import pandas as pd
import pytest

from models.energy import EnergyPosterior, fit
from models.sampling import FitConfig
from tests.fakes.energy import TIERS, synthetic_runs
from tests.fakes.posteriors import fake_posterior


@pytest.fixture(scope="session")
def synthetic_frame() -> pd.DataFrame:
    return synthetic_runs()


@pytest.fixture(scope="session")
def small_fit(synthetic_frame):
    return fit(synthetic_frame, FitConfig(draws=200, tune=300, chains=1), TIERS)


@pytest.fixture(scope="session")
def fake_fit(synthetic_frame) -> EnergyPosterior:
    """What ``small_fit`` holds (draws of every parameter, cost factors of each synthetic data set, one-chain
    diagnostics), drawn around the true parameters instead of sampled: for save/load and prediction plumbing."""
    return fake_posterior(datasets=tuple(sorted(synthetic_frame["dataset"].astype(str).unique())))
