"""A fake energy posterior and fit: predicts each run's own measurement times a known factor, and records
what it was fit on (to prove a held-out run never reached its own fit); and a fake of the boosted-trees
baseline (a constant and a fixed interval), for tests of what is done with the baselines, not of the trees."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tests.fakes.energy import TIERS

DRAWS = 200


@dataclass(frozen=True)
class FactorPosterior:
    """ln E draws = measured ln E + ln factor (every draw alike); predictive adds N(0, noise_sd) on ln E."""

    train: pd.DataFrame
    factor: float = 1.2
    noise_sd: float = 0.3
    tiers: tuple = TIERS
    diagnostics: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(divergences=1))
    machine: object = None

    def log_energy(self, x: pd.DataFrame) -> np.ndarray:
        return np.tile(x["log_energy"].to_numpy(float) + np.log(self.factor), (DRAWS, 1))

    def predictive_log_energy(self, x: pd.DataFrame, seed: int = 0) -> np.ndarray:
        mu = self.log_energy(x)
        rng = np.random.default_rng(seed)
        noisy = mu + self.noise_sd * rng.standard_normal(mu.shape)
        day = 0.0 if self.machine is None else self.machine.residual_sigma  # as the real posterior adds it
        return noisy + day * rng.standard_normal((len(mu), 1))

    def with_machine(self, state) -> FactorPosterior:
        return replace(self, machine=state)


class RecordingFit:
    """``energy.fit``'s signature; keeps every training frame it was given."""

    def __init__(self, factor: float = 1.2, noise_sd: float = 0.3) -> None:
        self.factor, self.noise_sd = factor, noise_sd
        self.trained_on: list[pd.DataFrame] = []

    def __call__(self, frame: pd.DataFrame, config, tiers) -> FactorPosterior:
        self.trained_on.append(frame.copy())
        return FactorPosterior(frame, self.factor, self.noise_sd, tuple(tiers))


@dataclass(frozen=True)
class ConstantRegressor:
    """A fitted regressor's ``predict`` that answers ``value`` for every row."""

    value: float

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.full(len(matrix), self.value)


def constant_boosted(frame: pd.DataFrame, half_width: float = 1.0):
    """``models.baselines.fit_boosted``'s signature, without the trees: the training runs' median ln E, and an
    interval ``half_width`` either side of it (in ln E)."""
    from models.baselines import BOOSTED_COLUMNS, BOOSTED_TREES, BoostedBaseline

    centre = float(np.median(frame["log_energy"]))
    return BoostedBaseline(BOOSTED_TREES, BOOSTED_COLUMNS, ConstantRegressor(centre),
                           ConstantRegressor(centre - half_width), ConstantRegressor(centre + half_width))  # fmt: skip
