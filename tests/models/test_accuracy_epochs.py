"""The accuracy model over training length: curve observations, monotone curves, fewest epochs, recovery."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from measurement.architecture import SHAPES
from models import accuracy, schema
from models.accuracy import EPOCH_CHOICES, AccuracyInfo, AccuracyPosterior, curve_frame, fewest_epochs
from models.sampling import Diagnostics, FitConfig

DIAG = Diagnostics(0, 1.0, 400.0, 400, 2, 1.0)


def _info(**changes) -> AccuracyInfo:
    base = dict(task="multiclass", chance=0.1, log_params_range=(np.log(100), np.log(1e6)), runs=40, epochs=200.0,
                input_dim=64, train_samples=1437, output_dim=10, best_observed=0.98,
                log_epochs_range=(0.0, np.log(200)), log_params_ref=np.log(1e4), diagnostics=DIAG)  # fmt: skip
    return AccuracyInfo(**{**base, **changes})


def _posterior(n: int = 50, seed: int = 0, **info) -> AccuracyPosterior:
    rng = np.random.default_rng(seed)
    draws = {
        "floor": np.full(n, 0.1), "top": 0.98 + 0.005 * rng.standard_normal(n),
        "m": np.log(3000) + 0.1 * rng.standard_normal(n), "log_s": np.full(n, np.log(0.8)),
        "b_depth": 0.05 * rng.standard_normal(n), "g_shape": 0.1 * rng.standard_normal((n, 8)),
        "h0": np.log(20) + 0.1 * rng.standard_normal(n), "h_p": np.full(n, -0.4), "h_d": np.zeros(n),
        "log_se": np.full(n, np.log(0.6)), "sigma": np.full(n, 0.01), "sigma_run": np.full(n, 0.01),
    }  # fmt: skip
    return AccuracyPosterior(draws, _info(**info))


CONFIGS = (np.array([300, 3000, 30000, 300000, 3e6]), np.array([3, 4, 2, 6, 8]),
           ["rectangle", "trapezoid", "exponential", "wide_first_2x", "rectangle_residual"])  # fmt: skip


def test_accuracy_rises_with_epochs_for_every_draw() -> None:
    post = _posterior()
    scores = np.stack([post.mean_score(*CONFIGS, e) for e in EPOCH_CHOICES])  # (epochs, draws, configs)
    assert np.all(np.diff(scores, axis=0) >= -1e-12)
    assert np.all(scores >= 0.1 - 1e-12) and np.all(scores <= 1.0)


def test_bigger_networks_learn_faster_when_the_rate_slope_says_so() -> None:
    post = _posterior()
    params = np.array([3e3, 3e5])
    early = post.mean_score(params, np.array([3, 3]), ["rectangle"] * 2, 8).mean(axis=0)
    late = post.mean_score(params, np.array([3, 3]), ["rectangle"] * 2, 1000).mean(axis=0)
    assert (early / late)[1] > (early / late)[0]  # the big one is nearer its plateau after 8 epochs


def test_fewest_epochs_equals_an_exhaustive_search() -> None:
    post = _posterior()
    for budget in (0.5, 0.9, 0.95):
        epochs, p = fewest_epochs(post, budget, 0.9, *CONFIGS)
        for i in range(len(CONFIGS[0])):
            one = (CONFIGS[0][i : i + 1], CONFIGS[1][i : i + 1], CONFIGS[2][i : i + 1])
            ps = np.array([post.prob_meets(budget, *one, e)[0] for e in EPOCH_CHOICES])
            meets = np.flatnonzero(ps >= 0.9)
            if meets.size:
                assert epochs[i] == EPOCH_CHOICES[meets[0]] and p[i] == pytest.approx(ps[meets[0]])
            else:
                assert np.isnan(epochs[i]) and p[i] < 0.9


def test_the_spread_widens_beyond_the_probed_epochs_and_sizes() -> None:
    post = _posterior()
    sd = post.predictive_sd(np.array([1e4, 1e4, 1e8]), np.array([100.0, 1000.0, 100.0])).mean(axis=0)
    assert sd[1] > sd[0] and sd[2] > sd[0]
    assert sd[0] == pytest.approx(np.sqrt(2) * 0.01)


def test_curve_observations_fall_back_to_final_metrics_and_drop_diverged_runs() -> None:
    base = {
        "sweep_kind": "probe",
        "phase": "train",
        "status": "ok",
        "dataset": "d",
        "task": "multiclass",
        "shape": "rectangle",
        "depth": 3,
        "params": 1000,
        "input_dim": 64,
        "output_dim": 10,
        "train_samples": 100,
    }
    runs = pd.DataFrame([
        {**base, "run_id": 1, "epochs_trained": 8.0, "test_loss": 0.5, "test_accuracy": 0.8},
        {**base, "run_id": 2, "epochs_trained": 8.0, "test_loss": 0.4, "test_accuracy": 0.85},
        {**base, "run_id": 3, "epochs_trained": 8.0, "test_loss": float("nan"), "test_accuracy": float("nan")},
        {**base, "run_id": 4, "phase": "inference", "epochs_trained": 8.0, "test_loss": 0.4, "test_accuracy": 0.85},
    ])  # fmt: skip
    curves = pd.DataFrame({"run_id": [1, 1, 1, 1], "epoch": [1.0, 2.0, 4.0, 8.0], "train_loss": 1.0,
                           "test_loss": [2.0, 1.0, 0.7, 0.5], "test_accuracy": [0.3, 0.5, 0.7, 0.8]})  # fmt: skip
    frame = curve_frame(runs, curves)
    assert sorted(frame.loc[frame["run_id"] == 1, "epoch"]) == [1.0, 2.0, 4.0, 8.0]
    assert frame.loc[frame["run_id"] == 2, "epoch"].tolist() == [8.0]  # no curve: its final metrics
    assert set(frame["run_id"]) == {1, 2}  # diverged and inference rows dropped
    assert len(curve_frame(runs)) == 2


def test_info_round_trips_and_refuses_an_older_model() -> None:
    info = _info()
    again = AccuracyInfo.from_dict(json.loads(json.dumps(info.to_dict())), "acc")
    assert again == info
    with pytest.raises(schema.SchemaError, match="re-run 'advisor fit'"):
        AccuracyInfo.from_dict({**info.to_dict(), "version": "accuracy-saturating-1"}, "acc")
    with pytest.raises(schema.SchemaError, match="log_epochs_range"):
        AccuracyInfo.from_dict({**info.to_dict(), "log_epochs_range": [5.0, 1.0]}, "acc")


def _simulated_curves(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(30):
        log_p, depth = rng.uniform(np.log(100), np.log(1e6)), int(rng.choice([2, 3, 4, 6, 8]))
        asym = 0.1 + 0.88 / (1 + np.exp(-(log_p - np.log(3000)) / 0.8))
        half, offset = np.log(20) - 0.4 * (log_p - np.log(1e4)), 0.01 * rng.standard_normal()
        for e in (1, 2, 4, 8, 16, 32, 64, 128, 200):
            acc = 0.1 + (asym - 0.1) / (1 + np.exp(-(np.log(e) - half) / 0.6)) + offset + 0.01 * rng.standard_normal()
            rows.append({"run_id": run, "dataset": "d", "task": "multiclass", "shape": SHAPES[run % 8].value,
                         "depth": depth, "params": int(np.exp(log_p)), "input_dim": 64, "output_dim": 10,
                         "train_samples": 1437, "epoch": float(e), "test_loss": 1.0, "test_accuracy": acc})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_recovers_the_learning_rate_slope_and_predicts_held_out_epochs() -> None:
    frame = _simulated_curves()
    post = accuracy.fit(frame[frame["epoch"] <= 64], FitConfig(draws=200, tune=400, chains=1, sampler="pymc"))
    assert post.diagnostics.divergences <= 5
    lo, hi = np.percentile(post.draws["h_p"], [1, 99])
    assert lo <= -0.4 <= hi and hi < 0  # bigger networks learn faster, and the fit knows it
    late = frame[frame["epoch"] == 128]
    predicted = post.expected(late["params"].to_numpy(), late["depth"].to_numpy(), list(late["shape"]), 128)
    assert np.median(np.abs(predicted - late["test_accuracy"].to_numpy())) < 0.03


@pytest.mark.slow
def test_holdout_check_scores_runs_the_fit_never_saw() -> None:
    frame = _simulated_curves(seed=3)
    check = accuracy.holdout_check(frame, FitConfig(draws=150, tune=300, chains=1, sampler="pymc"))
    assert check.runs == 6 and check.points == 6 * 9  # every fifth of 30 runs, all their checkpoints
    assert check.median_abs_error < 0.05
    assert 0.6 <= check.coverage_90 <= 1.0


@pytest.mark.parametrize("confidence", [0.3, 0.6, 0.9])
def test_fewest_epochs_is_exhaustive_outside_the_probed_epochs_too(confidence) -> None:
    """Probes that started at 8 epochs: below 8 and beyond 200 the spread widens and P need not rise."""
    post = _posterior(log_epochs_range=(np.log(8), np.log(200)))
    for budget in (0.3, 0.8, 0.95):
        epochs, _ = fewest_epochs(post, budget, confidence, *CONFIGS)
        for i in range(len(CONFIGS[0])):
            one = (CONFIGS[0][i : i + 1], CONFIGS[1][i : i + 1], CONFIGS[2][i : i + 1])
            ps = np.array([post.prob_meets(budget, *one, e)[0] for e in EPOCH_CHOICES])
            meets = np.flatnonzero(ps >= confidence)
            expected = EPOCH_CHOICES[meets[0]] if meets.size else None
            assert (np.isnan(epochs[i]) and expected is None) or epochs[i] == expected, (budget, i, ps)
