"""End to end: the shipped reference profile's top recommendation, trained with the project's harness with the
recipe (learning rate, batch) and for the epochs it recommends on 5 new seeds, meets the budget (median over
seeds).

Slow (minutes of training). It reads the shipped profile: it passes once that profile carries accuracy
models over training length (learning curves); a data set the profile lacks fails with a message saying so.
"""

from __future__ import annotations

import math
import statistics

import pytest

import advisor
from measurement.architecture import size_architecture
from measurement.datasets import BUNDLED, load_dataset
from measurement.harness import train_and_measure
from measurement.meters.estimate import EstimateMeter
from measurement.records import TrainConfig

SEEDS = (101, 102, 103, 104, 105)
REGRESSION_CANDIDATES = ("diabetes",)


def _train_top(dataset: str, budget: float) -> tuple[list[float], list[float], dict]:
    """Recommend for ``dataset`` at ``budget`` from the shipped profile, train the top pick on SEEDS: (accuracies,
    losses, the recommended row)."""
    profile = advisor.load_profile()
    if dataset not in profile.accuracy:
        pytest.fail(f"the shipped reference profile has no accuracy model for {dataset!r} (has: "
                    f"{', '.join(sorted(profile.accuracy))}): regenerate it with learning-curve probes")  # fmt: skip
    table = advisor.recommend(profile, dataset, budget, confidence=0.9, top=1)
    assert len(table) == 1, table.attrs["message"]
    top = table.iloc[0].to_dict()
    data = load_dataset(dataset)
    arch = size_architecture(top["shape"], int(top["depth"]), int(top["size"]), data.input_dim, data.output_dim)
    assert "-".join(map(str, arch.widths)) == top["widths"], "the profile's dims differ from the data set's: refit"
    accuracies, losses = [], []
    for seed in SEEDS:
        config = TrainConfig(batch_size=int(top["batch_size"]), learning_rate=float(top["learning_rate"]),
                             epochs=int(top["epochs"]), windows=3, window_s=0.01, warmup_steps=1,
                             seed=seed)  # fmt: skip
        result = train_and_measure(arch, data, EstimateMeter(), config)
        accuracies.append(result.test_accuracy)
        losses.append(result.test_loss)
    return accuracies, losses, top


@pytest.mark.slow
def test_top_recommendation_for_digits_reaches_95_percent() -> None:
    accuracies, _, top = _train_top("digits", 0.95)
    assert statistics.median(accuracies) >= 0.95, (top, accuracies)


@pytest.mark.slow
def test_top_recommendation_for_a_regression_set_meets_its_loss_budget() -> None:
    profile = advisor.load_profile()
    names = [n for n, acc in profile.accuracy.items() if acc.task == "regression" and n in BUNDLED]
    if not names:
        pytest.fail(f"the shipped reference profile has no regression accuracy model on a bundled data set "
                    f"(wanted one of {REGRESSION_CANDIDATES}; bundled: {', '.join(BUNDLED)}; profile has: "
                    f"{', '.join(sorted(profile.accuracy))})")  # fmt: skip
    name = names[0]
    best_loss = float(profile.datasets[name].best_observed)
    budget = 2.0 * math.exp(-best_loss)  # best_observed is -ln(loss) for regression: twice the best loss
    _, losses, top = _train_top(name, budget)
    assert statistics.median(losses) <= budget, (top, losses, budget)
