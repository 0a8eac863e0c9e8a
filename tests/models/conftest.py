"""Shared fixtures: synthetic runs drawn from known tier parameters, and one small fit reused by tests."""

from __future__ import annotations

import pandas as pd
import pytest

from models.energy import fit
from models.sampling import FitConfig
from tests.fakes.energy import TIERS, synthetic_runs


@pytest.fixture(scope="session")
def synthetic_frame() -> pd.DataFrame:
    return synthetic_runs()


@pytest.fixture(scope="session")
def small_fit(synthetic_frame):
    return fit(synthetic_frame, FitConfig(draws=200, tune=300, chains=1), TIERS)
