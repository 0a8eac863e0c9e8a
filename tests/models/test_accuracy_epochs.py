"""The accuracy model over the recipe and training length: curve observations, monotone curves, the recipe's
effects, fewest epochs, recovery from simulated learning curves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from measurement.architecture import SHAPES
from models import accuracy, schema
from models.accuracy import (
    EPOCH_CHOICES,
    FRONTIER_MARGIN,
    AccuracyInfo,
    AccuracyPosterior,
    HoldOut,
    Nets,
    ProbedRun,
    curve_frame,
    fewest_epochs,
)
from models.sampling import Diagnostics, FitConfig

DIAG = Diagnostics(0, 1.0, 400.0, 400, 2, 1.0)


def _info(**changes) -> AccuracyInfo:
    base = dict(task="multiclass", chance=0.1, log_params_range=(np.log(100), np.log(1e6)), runs=40, epochs=200.0,
                input_dim=64, train_samples=1437, output_dim=10, best_observed=0.98,
                log_epochs_range=(0.0, np.log(200)), log_params_ref=np.log(1e4), diagnostics=DIAG,
                log_lr_range=(np.log(1e-4), np.log(1e-2)), log_batch_range=(np.log(32), np.log(1024)),
                log_lr_ref=np.log(1e-3), log_batch_ref=np.log(256),
                frontier=(ProbedRun("rectangle", 3, 5000, 1e-3, 64, 32.0, 0.97),))  # fmt: skip
    return AccuracyInfo(**{**base, **changes})


def _posterior(n: int = 50, seed: int = 0, **info) -> AccuracyPosterior:
    rng = np.random.default_rng(seed)
    draws = {
        "floor": np.full(n, 0.1), "top": 0.98 + 0.005 * rng.standard_normal(n),
        "m": np.log(3000) + 0.1 * rng.standard_normal(n), "log_s": np.full(n, np.log(0.8)),
        "b_depth": 0.05 * rng.standard_normal(n), "g_shape": 0.1 * rng.standard_normal((n, 8)),
        "h0": np.log(20) + 0.1 * rng.standard_normal(n), "h_p": np.full(n, -0.4), "h_d": np.zeros(n),
        "log_se": np.full(n, np.log(0.6)), "sigma": np.full(n, 0.01), "sigma_run": np.full(n, 0.01),
        "a_lr": 0.7 + 0.05 * rng.standard_normal(n), "a_b": np.full(n, 0.5), "l_hi": np.full(n, np.log(0.05)),
    }  # fmt: skip
    return AccuracyPosterior(draws, _info(**info))


CONFIGS = Nets.of([300, 3000, 30000, 300000, 3e6], [3, 4, 2, 6, 8],
                  ["rectangle", "trapezoid", "exponential", "wide_first_2x", "rectangle_residual"],
                  [1e-4, 1e-3, 3e-3, 1e-2, 1e-3], [32, 256, 64, 1024, 16])  # fmt: skip


def test_accuracy_rises_with_epochs_for_every_draw() -> None:
    post = _posterior()
    scores = np.stack([post.mean_score(CONFIGS, e) for e in EPOCH_CHOICES])  # (epochs, draws, configs)
    assert np.all(np.diff(scores, axis=0) >= -1e-12)
    assert np.all(scores >= 0.1 - 1e-12) and np.all(scores <= 1.0)


def test_bigger_networks_learn_faster_when_the_rate_slope_says_so() -> None:
    post = _posterior()
    nets = Nets.of([3e3, 3e5], [3, 3], ["rectangle"] * 2)
    early = post.mean_score(nets, 8).mean(axis=0)
    late = post.mean_score(nets, 1000).mean(axis=0)
    assert (early / late)[1] > (early / late)[0]  # the big one is nearer its plateau after 8 epochs


def test_a_higher_learning_rate_learns_in_fewer_epochs_until_it_is_too_high() -> None:
    post = _posterior()
    rates = np.array([1e-4, 1e-3, 1e-2, 0.3])
    nets = Nets.of(np.full(4, 3e4), np.full(4, 3), ["rectangle"] * 4, rates, 256)
    early = post.mean_score(nets, 4).mean(axis=0)
    plateau = post.mean_score(nets, 1e6).mean(axis=0)
    assert early[0] < early[1] < early[2]  # more progress per epoch with a bigger step
    assert plateau[3] < plateau[1] - 0.3  # far above l_hi the plateau falls
    batches = Nets.of(np.full(2, 3e4), np.full(2, 3), ["rectangle"] * 2, 1e-3, np.array([32, 1024]))
    assert np.all(np.diff(post.mean_score(batches, 4).mean(axis=0)) < 0)  # fewer steps per epoch: slower


def test_fewest_epochs_equals_an_exhaustive_search() -> None:
    post = _posterior()
    for budget in (0.5, 0.9, 0.95):
        epochs, p = fewest_epochs(post, budget, 0.9, CONFIGS)
        for i in range(len(CONFIGS)):
            ps = np.array([post.prob_meets(budget, CONFIGS.take([i]), e)[0] for e in EPOCH_CHOICES])
            meets = np.flatnonzero(ps >= 0.9)
            if meets.size:
                assert epochs[i] == EPOCH_CHOICES[meets[0]] and p[i] == pytest.approx(ps[meets[0]])
            else:
                assert np.isnan(epochs[i]) and p[i] < 0.9


def test_the_spread_widens_beyond_the_probed_epochs_and_sizes() -> None:
    post = _posterior()
    nets = Nets.of([1e4, 1e4, 1e8, 1e4, 1e4], [3] * 5, ["rectangle"] * 5, [1e-3, 1e-3, 1e-3, 1e-1, 1e-3],
                   [256, 256, 256, 256, 8])  # fmt: skip
    sd = post.predictive_sd(nets, np.array([100.0, 1000.0, 100.0, 100.0, 100.0])).mean(axis=0)
    assert sd[0] == pytest.approx(np.sqrt(2) * 0.01)
    assert np.all(sd[1:] > sd[0])  # beyond the probed epochs, sizes, learning rates and batch sizes


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
    frame = curve_frame(runs.assign(train_batch_size=64), curves)
    assert sorted(frame.loc[frame["run_id"] == 1, "epoch"]) == [1.0, 2.0, 4.0, 8.0]
    assert set(frame["learning_rate"]) == {1e-4} and set(frame["batch_size"]) == {64}  # no lr recorded: BUTTER's
    assert frame.loc[frame["run_id"] == 2, "epoch"].tolist() == [8.0]  # no curve: its final metrics
    assert set(frame["run_id"]) == {1, 2}  # diverged and inference rows dropped
    assert len(curve_frame(runs.assign(train_batch_size=64))) == 2
    recorded = curve_frame(runs.assign(train_batch_size=64, learning_rate=[3e-3, 1e-2, 1e-2, 1e-2]), curves)
    assert recorded.groupby("run_id")["learning_rate"].first().to_dict() == {1: 3e-3, 2: 1e-2}


def test_a_config_retrained_on_the_same_seed_counts_as_one_trajectory() -> None:
    base = {"sweep_kind": "probe", "phase": "train", "status": "ok", "dataset": "d", "task": "multiclass",
            "shape": "rectangle", "depth": 3, "params": 1000, "input_dim": 64, "output_dim": 10,
            "train_samples": 100, "train_batch_size": 64, "test_loss": 0.5}  # fmt: skip
    key = "rectangle/d3/s1024/b64/lr0.001/r"
    runs = pd.DataFrame([
        {**base, "run_id": 1, "run_key": key + "0", "epochs_trained": 4.0, "test_accuracy": 0.7},
        {**base, "run_id": 2, "run_key": key + "0", "epochs_trained": 8.0, "test_accuracy": 0.8},
        {**base, "run_id": 3, "run_key": key + "1", "epochs_trained": 8.0, "test_accuracy": 0.78},
        {**base, "run_id": 4, "run_key": None, "epochs_trained": 8.0, "test_accuracy": 0.75},
        {**base, "run_id": 5, "run_key": None, "epochs_trained": 8.0, "test_accuracy": 0.76},
    ])  # fmt: skip
    curves = pd.DataFrame({"run_id": [1, 1, 1, 2, 2, 2, 2], "epoch": [1.0, 2.0, 4.0, 1.0, 2.0, 4.0, 8.0],
                           "test_loss": 0.5, "test_accuracy": [0.5, 0.6, 0.7, 0.5, 0.6, 0.7, 0.8]})  # fmt: skip
    frame = curve_frame(runs, curves)
    assert sorted(set(frame["run_id"])) == [2, 3, 4, 5]  # run 1 is run 2's first half; another seed stays
    assert frame.loc[frame["run_id"] == 2, "epoch"].tolist() == [1.0, 2.0, 4.0, 8.0]
    assert len(curve_frame(runs.drop(columns="run_key"), curves)) == 3 + 4 + 3  # no keys: every run


def test_the_floor_is_the_majority_share_where_the_curves_start_there_never_below_guessing() -> None:
    frame = _simulated_curves(runs=8)
    first = frame["epoch"] == 1.0
    majority = frame.assign(test_accuracy=np.where(first, 0.503, frame["test_accuracy"]), constant_accuracy=0.503)
    assert accuracy.chance_level(majority.drop(columns="constant_accuracy"), 3, "multiclass") == pytest.approx(1 / 3)
    assert accuracy.chance_level(majority, 3, "multiclass") == pytest.approx(0.503)  # splice's case
    minority = np.where(first & (frame["run_id"] % 2 == 0), 0.333, majority["test_accuracy"])  # half start under
    assert accuracy.chance_level(majority.assign(test_accuracy=minority), 2, "binary") == pytest.approx(0.5)
    assert accuracy.chance_level(majority.assign(constant_accuracy=0.078), 10, "multiclass") == pytest.approx(0.1)
    assert accuracy.chance_level(majority.assign(constant_accuracy=np.nan), 2, "binary") == pytest.approx(0.5)
    ends = majority[majority["epoch"] == majority["epoch"].max()]  # no curves: a run's end is not its start
    assert accuracy.chance_level(ends, 3, "multiclass") == pytest.approx(1 / 3)
    runs = frame.groupby("run_id").tail(1).rename(columns={"epoch": "epochs_trained"})
    runs = runs.assign(sweep_kind="probe", phase="train", status="ok", train_batch_size=runs["batch_size"])
    carried = curve_frame(runs.assign(constant_accuracy=0.666), frame.drop(columns=["learning_rate", "batch_size"]))
    assert set(carried["constant_accuracy"]) == {0.666} and len(carried) == len(frame)
    assert curve_frame(runs)["constant_accuracy"].isna().all()  # an older export: not recorded


def test_a_config_retrained_by_a_later_rung_is_named_once_in_the_frontier() -> None:
    frame = _simulated_curves(runs=6)
    again = frame[frame["run_id"] == 0].assign(run_id=99)  # rung 1 re-trains rung 0's config, same seed
    best = accuracy.frontier(pd.concat([frame, again]), "multiclass", runs=7)
    keys = [(r.shape, r.depth, r.params, r.learning_rate, r.batch_size, r.epochs, r.score) for r in best]
    assert len(keys) == len(set(keys)) == 6


def test_the_frontier_names_the_best_runs_and_the_cheapest_at_each_score_best_first() -> None:
    frame = _simulated_curves()
    named = accuracy.frontier(frame, "multiclass", runs=3)
    assert [run.score for run in named] == sorted((run.score for run in named), reverse=True)
    best = frame.sort_values("test_accuracy").groupby("run_id").tail(1).sort_values("test_accuracy")[::-1]
    assert [r.score for r in named[:3]] == pytest.approx(best["test_accuracy"].head(3).tolist())
    assert named[0].learning_rate == best["learning_rate"].iloc[0]
    rest = best.iloc[3:].assign(compute=best["params"] * best["epoch"])
    for run in named[3:]:  # the cost front: no other run is both cheaper and at least as good
        assert not ((rest["compute"] < run.compute) & (rest["test_accuracy"] >= run.score)).any()
    cheapest_good = rest[rest["test_accuracy"] >= named[0].score - FRONTIER_MARGIN]["compute"].min()
    assert min(r.compute for r in named[3:]) <= cheapest_good  # the cheapest run near the best is named


def test_info_round_trips_and_refuses_an_older_model() -> None:
    info = _info()
    again = AccuracyInfo.from_dict(json.loads(json.dumps(info.to_dict())), "acc")
    assert again == info
    with pytest.raises(schema.SchemaError, match="re-run 'advisor fit'"):
        AccuracyInfo.from_dict({**info.to_dict(), "version": "accuracy-saturating-1"}, "acc")
    with pytest.raises(schema.SchemaError, match="log_epochs_range"):
        AccuracyInfo.from_dict({**info.to_dict(), "log_epochs_range": [5.0, 1.0]}, "acc")


TRUE_A_LR, TRUE_A_B = 0.8, 0.4
RATES = (1e-4, 1e-3, 1e-2)


def _simulated_curves(seed: int = 0, runs: int = 36) -> pd.DataFrame:
    """Learning curves from the model's own form: three learning rates, two batch sizes, sizes and depths."""
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(runs):
        log_p, depth = rng.uniform(np.log(100), np.log(1e6)), int(rng.choice([2, 3, 4, 6, 8]))
        lr, batch = RATES[run % 3], (32, 256)[(run // 3) % 2]
        asym = 0.1 + 0.88 / (1 + np.exp(-(log_p - np.log(3000)) / 0.8))
        recipe = -TRUE_A_LR * np.log(lr / 1e-3) + TRUE_A_B * np.log(batch / 256)
        half, offset = np.log(20) - 0.4 * (log_p - np.log(1e4)) + recipe, 0.01 * rng.standard_normal()
        for e in (1, 2, 4, 8, 16, 32, 64, 128, 200):
            acc = 0.1 + (asym - 0.1) / (1 + np.exp(-(np.log(e) - half) / 0.6)) + offset + 0.01 * rng.standard_normal()
            rows.append({"run_id": run, "dataset": "d", "task": "multiclass", "shape": SHAPES[run % 8].value,
                         "depth": depth, "params": int(np.exp(log_p)), "input_dim": 64, "output_dim": 10,
                         "train_samples": 1437, "epoch": float(e), "test_loss": 1.0, "test_accuracy": acc,
                         "learning_rate": lr, "batch_size": batch})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_recovers_the_learning_rate_slope_and_predicts_held_out_epochs() -> None:
    frame = _simulated_curves()
    post = accuracy.fit(frame[frame["epoch"] <= 64], FitConfig(draws=200, tune=400, chains=1, sampler="pymc"))
    assert post.diagnostics.divergences <= 5
    lo, hi = np.percentile(post.draws["h_p"], [1, 99])
    assert lo <= -0.4 <= hi and hi < 0  # bigger networks learn faster, and the fit knows it
    lo, hi = np.percentile(post.draws["a_lr"], [1, 99])
    assert lo <= TRUE_A_LR <= hi and lo > 0.4  # a bigger step learns faster, by the simulated amount
    lo, hi = np.percentile(post.draws["a_b"], [1, 99])
    assert lo <= TRUE_A_B <= hi
    late = frame[frame["epoch"] == 128]
    nets = Nets.of(late["params"], late["depth"], late["shape"], late["learning_rate"], late["batch_size"])
    predicted = post.expected(nets, 128)
    assert np.median(np.abs(predicted - late["test_accuracy"].to_numpy())) < 0.03


@pytest.mark.slow
def test_holdout_check_scores_runs_the_fit_never_saw() -> None:
    frame = _simulated_curves(seed=3)
    config = FitConfig(draws=150, tune=300, chains=1, sampler="pymc")
    check = accuracy.holdout_check(frame, config)
    assert check.runs == 7 and check.points == 7 * 9  # every fifth of 36 runs, all their checkpoints
    assert check.median_abs_error < 0.05
    assert 0.6 <= check.coverage_90 <= 1.0
    recipe = accuracy.holdout_check(frame, config, HoldOut.RECIPE)  # every run at lr 1e-3, predicted from the others
    assert recipe.held_out is HoldOut.RECIPE and recipe.runs == 12
    assert recipe.median_abs_error < 0.06 and recipe.coverage_90 >= 0.6
    assert accuracy.holdout_check(frame[frame["learning_rate"] == 1e-3], config, HoldOut.RECIPE) is None


@pytest.mark.parametrize("confidence", [0.3, 0.6, 0.9])
def test_fewest_epochs_is_exhaustive_outside_the_probed_epochs_too(confidence) -> None:
    """Probes that started at 8 epochs: below 8 and beyond 200 the spread widens and P need not rise."""
    post = _posterior(log_epochs_range=(np.log(8), np.log(200)))
    for budget in (0.3, 0.8, 0.95):
        epochs, _ = fewest_epochs(post, budget, confidence, CONFIGS)
        for i in range(len(CONFIGS)):
            ps = np.array([post.prob_meets(budget, CONFIGS.take([i]), e)[0] for e in EPOCH_CHOICES])
            meets = np.flatnonzero(ps >= confidence)
            expected = EPOCH_CHOICES[meets[0]] if meets.size else None
            assert (np.isnan(epochs[i]) and expected is None) or epochs[i] == expected, (budget, i, ps)
