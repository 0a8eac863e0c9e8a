"""``predict``: effective batches for small training sets, both intervals, and refused inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from measurement.errors import InputError
from models.energy import EnergyPosterior
from models.features import TERMS
from models.predict import predict
from models.sampling import Diagnostics
from tests.fakes.energy import TIERS, TRUE

_RNG = np.random.default_rng(0)
_DRAWS = {k: np.asarray(v)[None, ...] + 0.05 * _RNG.standard_normal((200, *np.shape(v))) for k, v in TRUE.items()}
_DRAWS["r"], _DRAWS["sigma"] = np.abs(_DRAWS["r"]), np.abs(_DRAWS["sigma"])
_DRAWS["sigma_dataset"] = np.abs(_DRAWS["sigma_dataset"])
POSTERIOR = EnergyPosterior(_DRAWS, TIERS, Diagnostics(0, 1.0, 400.0, 400, 2, 1.0))
CONFIG = {"shape": ["rectangle"], "depth": [3], "size": [4096], "input_dim": [13], "output_dim": [3]}


def test_a_training_set_smaller_than_the_batch_costs_more_per_datum() -> None:
    """142 training rows at batch 256 train in steps of 142: more per-step overhead per datum."""
    full = predict(POSTERIOR, pd.DataFrame(CONFIG), estimated=True)
    small = predict(POSTERIOR, pd.DataFrame({**CONFIG, "train_samples": [142]}), estimated=True)
    large = predict(POSTERIOR, pd.DataFrame({**CONFIG, "train_samples": [10**6]}), estimated=True)
    assert small["energy_median_j"][0] > full["energy_median_j"][0]
    assert large["energy_median_j"][0] == pytest.approx(full["energy_median_j"][0], rel=1e-3)


def test_the_predictive_interval_contains_the_credible_one() -> None:
    row = predict(POSTERIOR, pd.DataFrame(CONFIG), estimated=False).iloc[0]
    assert row["predictive_p05_j"] < row["energy_p05_j"] < row["energy_median_j"] < row["energy_p95_j"]
    assert row["energy_p95_j"] < row["predictive_p95_j"]
    # the credible interval is the spread of the mean over draws; the predictive one adds sigma (~5% here)
    assert (
        np.log(row["predictive_p95_j"] / row["predictive_p05_j"])
        > np.log(row["energy_p95_j"] / row["energy_p05_j"]) + 0.1
    )


@pytest.mark.parametrize("samples", [0, -5, 2.5, 2**41])
def test_bad_train_samples_are_refused_in_one_line(samples) -> None:
    with pytest.raises(InputError, match="train samples"):
        predict(POSTERIOR, pd.DataFrame({**CONFIG, "train_samples": [samples]}), estimated=True)


def _knowing(factor: np.ndarray) -> EnergyPosterior:
    """POSTERIOR, with fitted ln cost factors ``factor`` (per term) for the data set ``wine``."""
    draws = {**_DRAWS, "log_factor_dataset": np.broadcast_to(factor, (200, 1, len(TERMS))).copy()}
    return EnergyPosterior(draws, TIERS, POSTERIOR.diagnostics, ("wine",))


def test_a_data_set_the_fit_saw_uses_its_cost_factors_and_an_unknown_one_is_refused() -> None:
    posterior = _knowing(np.full(len(TERMS), np.log(1.5)))
    unseen = predict(posterior, pd.DataFrame(CONFIG), estimated=True).iloc[0]
    seen = predict(posterior, pd.DataFrame({**CONFIG, "dataset": ["wine"]}), estimated=True).iloc[0]
    assert seen["dataset"] == "wine"
    assert 1.1 < seen["energy_median_j"] / unseen["energy_median_j"] <= 1.5  # the tiered terms cost 1.5x
    blank = predict(posterior, pd.DataFrame({**CONFIG, "dataset": [None]}), estimated=True).iloc[0]
    assert blank["energy_median_j"] == unseen["energy_median_j"]
    with pytest.raises(InputError, match="did not see data set 'iris' \\(it saw: wine\\)"):
        predict(posterior, pd.DataFrame({**CONFIG, "dataset": ["iris"]}), estimated=True)
    with pytest.raises(InputError, match="it saw: none"):
        predict(POSTERIOR, pd.DataFrame({**CONFIG, "dataset": ["wine"]}), estimated=True)
