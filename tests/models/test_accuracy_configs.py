"""Configs and seeds told apart: a probed config's new seed is centred on its own offset and spreads by its
seeds; runs of one config share it; replicates identify the split; profiles keep it (and older ones load)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import accuracy
from models.accuracy import AccuracyInfo, AccuracyPosterior, Nets, ProbedConfig
from models.accuracy.model import _design
from models.accuracy.posterior import config_index
from models.profile import Profile, ProfileError
from models.sampling import Diagnostics, FitConfig
from tests.fakes.profiles import rehash

DIAG = Diagnostics(0, 1.0, 400.0, 400, 2, 1.0)
NETS = Nets.of([3000, 3000, 3000, 30000], [3, 3, 3, 2], ["rectangle", "rectangle", "trapezoid", "rectangle"],
               [1e-3, 3e-3, 1e-3, 1e-3], [64, 64, 64, 256])  # fmt: skip
PROBED = ProbedConfig("rectangle", 3, 3000, 1e-3, 64)  # NETS[0] exactly; NETS[1] differs only in its rate


def _info(configs=()) -> AccuracyInfo:
    return AccuracyInfo(task="multiclass", chance=0.1, log_params_range=(np.log(100), np.log(1e6)), runs=40,
                        epochs=64.0, input_dim=64, train_samples=1437, output_dim=10, best_observed=0.95,
                        log_epochs_range=(0.0, np.log(200)), log_params_ref=np.log(1e4), diagnostics=DIAG,
                        log_lr_range=(np.log(1e-4), np.log(1e-2)), log_batch_range=(np.log(32), np.log(1024)),
                        log_lr_ref=np.log(1e-3), log_batch_ref=np.log(256), configs=configs)  # fmt: skip


def _posterior(configs=(), offset=0.0, config_var=0.0, sigma_seed=0.004, n=60) -> AccuracyPosterior:
    rng = np.random.default_rng(0)
    draws = {
        "floor": np.full(n, 0.1), "top": np.full(n, 0.95), "m": np.log(3000) + 0.05 * rng.standard_normal(n),
        "log_s": np.zeros(n), "b_depth": np.zeros(n), "g_shape": np.zeros((n, 8)), "h0": np.full(n, np.log(8.0)),
        "h_p": np.zeros(n), "h_d": np.zeros(n), "a_lr": np.full(n, 0.7), "a_b": np.full(n, 0.5),
        "l_hi": np.full(n, np.log(0.05)), "log_se": np.zeros(n), "sigma": np.full(n, 0.005),
        "sigma_run": np.full(n, 0.05),
    }  # fmt: skip
    if configs:
        draws |= {"sigma_seed": np.full(n, sigma_seed), "config_mean": np.full((n, len(configs)), offset),
                  "config_var": np.full((n, len(configs)), config_var)}  # fmt: skip
    return AccuracyPosterior(draws, _info(configs))


def test_a_candidate_is_its_probed_config_only_when_network_and_recipe_both_match() -> None:
    other = ProbedConfig("rectangle", 2, 30000, 1e-3, 256)
    assert config_index((PROBED, other), NETS).tolist() == [0, -1, -1, 1]
    assert config_index((), NETS).tolist() == [-1] * 4


def test_a_new_seed_of_a_probed_config_is_centred_on_its_offset_and_spreads_by_its_seeds() -> None:
    plain, probed = _posterior(), _posterior((PROBED,), offset=0.04)
    epochs = 64
    shift = probed.mean_score(NETS, epochs) - plain.mean_score(NETS, epochs)
    assert np.allclose(shift[:, 0], 0.04, atol=1e-6) and np.allclose(shift[:, 1:], 0.0)  # the others as before
    sd_plain, sd_probed = plain.predictive_sd(NETS, epochs), probed.predictive_sd(NETS, epochs)
    assert np.allclose(sd_probed[:, 0], np.hypot(0.005, 0.004), rtol=1e-5)  # checkpoint noise and seeds alone
    assert np.allclose(sd_probed[:, 1:], sd_plain[:, 1:])  # an unprobed config spreads as any new config
    budget = float(plain.expected(NETS, epochs)[0]) + 0.02
    assert plain.prob_meets(budget, NETS, epochs)[0] < 0.5 < 0.9 < probed.prob_meets(budget, NETS, epochs)[0]


def test_what_the_runs_left_unknown_of_a_config_widens_its_spread() -> None:
    sure, unsure = _posterior((PROBED,), config_var=0.0), _posterior((PROBED,), config_var=0.03**2)
    assert unsure.predictive_sd(NETS, 64)[0, 0] > 4 * sure.predictive_sd(NETS, 64)[0, 0]


def test_curves_keep_each_candidates_offset_through_take_and_draws() -> None:
    curves = _posterior((PROBED,), offset=0.04).curves(NETS)
    picked = curves.take(np.array([3, 0]))
    assert np.allclose(picked.mean(64)[:, 1] - curves.take(np.array([0])).mean(64)[:, 0], 0.0)
    assert picked.config.tolist() == [-1, 0]
    five = curves.draws(np.arange(5))
    assert five.mean(64).shape == (5, 4) and np.allclose(five.mean(64), curves.mean(64)[:5])
    assert _posterior().curves(NETS).config is None  # no probed config: nothing per candidate to carry


def _runs_frame(configs: list[tuple], seeds: int) -> pd.DataFrame:
    rows = []
    for c, (shape, depth, params, lr, batch) in enumerate(configs):
        for s in range(seeds):
            for e in (1, 4, 16):
                network = {"shape": shape, "depth": depth, "params": params, "learning_rate": lr, "batch_size": batch}
                rows.append({"run_id": 10 * c + s, "epoch": e, "test_accuracy": 0.5, "test_loss": 1.0, **network})
    return pd.DataFrame(rows)


def test_runs_that_differ_only_in_their_seed_share_one_config() -> None:
    frame = _runs_frame([("rectangle", 3, 3000, 1e-3, 64), ("rectangle", 3, 3000, 3e-3, 64)], seeds=2)
    x = _design(frame, "multiclass")
    assert x.runs == 4 and len(x.configs) == 2
    assert x.run_config.tolist() == [0, 0, 1, 1]
    assert x.configs[1] == ProbedConfig("rectangle", 3, 3000, 3e-3, 64)


def test_info_keeps_its_configs_and_an_older_info_has_none() -> None:
    info = _info((PROBED,))
    assert AccuracyInfo.from_dict(json.loads(json.dumps(info.to_dict())), "acc") == info
    older = {k: v for k, v in info.to_dict().items() if k != "configs"}
    assert AccuracyInfo.from_dict(older, "acc").configs == ()


def test_a_profile_keeps_each_configs_offset_and_refuses_a_file_without_them(tmp_path: Path) -> None:
    from tests.fakes.posteriors import fake_profile

    probed = _posterior((PROBED,), offset=0.04)
    profile = dataclasses.replace(fake_profile(), accuracy={"digits": probed, "older": _posterior()})
    folder = profile.save(tmp_path / "profile")
    loaded = Profile.load(folder)
    assert np.allclose(loaded.accuracy["digits"].mean_score(NETS, 64), probed.mean_score(NETS, 64))
    assert loaded.accuracy["older"].info.configs == ()
    meta = json.loads((folder / "profile.json").read_text())
    meta["datasets"]["older"]["configs"] = [dataclasses.asdict(PROBED)]  # names configs its file lacks
    (folder / "profile.json").write_text(json.dumps(meta))
    rehash(folder)
    with pytest.raises(ProfileError, match="lacks posterior variable 'sigma_seed'"):
        Profile.load(folder)


def _replicated_curves(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Learning curves of 16 configs, each trained on three seeds: configs far off the curve (sd 0.04), seeds
    close to each other (sd 0.004). Returns the frame and each config's true offset."""
    rng = np.random.default_rng(seed)
    offsets = 0.04 * rng.standard_normal(16)
    rows = []
    for c, off in enumerate(offsets):
        log_p, lr = np.log(300) + 0.5 * c, (1e-4, 1e-3, 1e-2)[c % 3]
        asym = 0.1 + 0.85 / (1 + np.exp(-(log_p - np.log(3000)) / 0.8))
        half = np.log(16) - 0.7 * np.log(lr / 1e-3)
        for s in range(3):
            seed_off = 0.004 * rng.standard_normal()
            for e in (1, 2, 4, 8, 16, 32, 64):
                score = 0.1 + (asym - 0.1) / (1 + np.exp(-(np.log(e) - half))) + off + seed_off
                rows.append({"run_id": 3 * c + s, "dataset": "d", "task": "multiclass", "shape": "rectangle",
                             "depth": 3, "params": int(np.exp(log_p)), "input_dim": 64, "output_dim": 10,
                             "train_samples": 1437, "epoch": float(e), "test_loss": 1.0,
                             "test_accuracy": score + 0.004 * rng.standard_normal(), "learning_rate": lr,
                             "batch_size": 256})  # fmt: skip
    return pd.DataFrame(rows), offsets


@pytest.mark.slow
def test_replicates_tell_a_configs_offset_from_its_seeds() -> None:
    frame, offsets = _replicated_curves()
    post = accuracy.fit(frame, FitConfig(draws=200, tune=300, chains=1, sampler="nutpie", low_rank_mass_matrix=True))
    assert len(post.info.configs) == 16 and post.info.runs == 48
    assert np.percentile(post.draws["sigma_seed"], 95) < 0.015  # seeds scatter little: the fit knows it
    found = post.draws["config_mean"].mean(axis=0)
    centred = offsets - offsets.mean()  # the curve absorbs the offsets' mean
    assert np.corrcoef(found, centred)[0, 1] > 0.8
    nets = Nets.of(np.exp(np.log(300) + 0.5 * np.arange(16)).astype(int), 3, "rectangle",
                   [(1e-4, 1e-3, 1e-2)[c % 3] for c in range(16)], 256)  # fmt: skip
    assert np.median(post.predictive_sd(nets, 64)) < 0.5 * np.median(post.draws["sigma_run"])
