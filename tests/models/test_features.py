"""Feature definitions: effective batches, physical amounts per phase, and honest tier labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from measurement.architecture import Architecture, Shape, param_count, size_architecture
from measurement.cost import GEMM_TILE_COLUMNS, cost
from measurement.records import calibration_noise_floor
from measurement.tiers import Tier, fitted_tier_labels, format_bytes
from models.features import (
    AMOUNT_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_DEFINITIONS,
    TAIL_FLOPS_FLOOR,
    TERM_UNITS,
    TERMS,
    WORKING_SET_COLUMNS,
    arch_features,
    config_features,
    correct_drift,
    effective_batch_size,
    features_frame,
    split_test_samples,
)


@pytest.mark.parametrize(
    ("batch", "samples", "expected"),
    [(256, 142, 142), (256, 1000, 250), (256, 1024, 256), (1024, 6553, 936), (16, None, 16), (64, float("nan"), 64)],
)
def test_effective_batch_is_the_mean_step_the_harness_takes(batch, samples, expected) -> None:
    assert effective_batch_size(batch, samples) == expected


def test_small_data_sets_use_their_effective_batch_per_phase() -> None:
    rows = pd.DataFrame([
        {"shape": "rectangle", "depth": 3, "target_size": 2**12, "input_dim": 13, "output_dim": 3,
         "batch_size": 256, "phase": phase, "train_samples": 142}
        for phase in ("train", "inference")
    ])  # fmt: skip
    nominal = features_frame(rows)  # a user's prediction: inference at the batch they will deploy with
    assert np.exp(nominal["log_batch"]).round().tolist() == [142.0, 256.0]
    runs = features_frame(rows.assign(test_samples=split_test_samples(rows["train_samples"])))
    assert np.exp(runs["log_batch"]).round().tolist() == [142.0, 36.0]  # a run's inference: its 36 test rows


def test_amounts_follow_the_cost_module_per_phase() -> None:
    arch = size_architecture("trapezoid", 4, 2**14, 784, 10)
    c = cost(arch, 64)
    train = config_features("trapezoid", 4, 2**14, 784, 10, 64, "train")
    infer = config_features("trapezoid", 4, 2**14, 784, 10, 64, "inference")
    assert np.exp(train["log_flops"]) == pytest.approx(c.train_flops_per_datum)
    assert np.exp(infer["log_flops"]) == pytest.approx(c.inference_flops_per_datum)
    assert np.exp(train["log_optimizer_bytes"]) == pytest.approx(10 * np.exp(infer["log_optimizer_bytes"]))
    assert np.exp(train["log_layers_per_datum"]) == pytest.approx(4 / 64)
    assert train["log_ws_optimizer_bytes"] == pytest.approx(np.log(4 * c.param_bytes))
    assert np.exp(train["log_tail_flops"]) == pytest.approx(c.train_tail_flops_per_datum)
    assert np.exp(infer["log_tail_flops"]) == pytest.approx(c.inference_tail_flops_per_datum)
    fast = arch_features([arch], 64, "train")
    assert list(fast.columns[: len(FEATURE_COLUMNS)]) == list(FEATURE_COLUMNS)
    assert np.allclose(fast.loc[0, list(FEATURE_COLUMNS)].to_numpy(float), [train[k] for k in FEATURE_COLUMNS])


def test_a_network_of_whole_gemm_tiles_has_a_finite_tail_feature() -> None:
    """16 inputs -> 32 -> 16: no tail FLOPs; the feature holds the floor (ln 0 would poison a fit)."""
    arch = Architecture(Shape.RECTANGLE, 2, 1024, 16, 16, (32, 16), param_count((32, 16), 16))
    for phase in ("train", "inference"):
        value = arch_features([arch], 64, phase).loc[0, "log_tail_flops"]
        assert value == pytest.approx(np.log(TAIL_FLOPS_FLOOR))


def test_every_term_has_a_unit_an_amount_and_a_working_set_and_the_definitions_hash_the_constants() -> None:
    """The feature hash hashes the definitions' text: the tail's must state the tile width and floor in use,
    or a change of either would leave old profiles loadable."""
    assert set(TERM_UNITS) == set(AMOUNT_COLUMNS) == set(WORKING_SET_COLUMNS) == set(TERMS)
    text = FEATURE_DEFINITIONS["log_tail_flops"]
    assert f"whole {GEMM_TILE_COLUMNS}-column tiles" in text
    assert float(text.split("floor ")[1].rstrip(")")) == TAIL_FLOPS_FLOOR


SEEDED = (Tier("L1d", 48 * 1024), Tier("L2", 2 * 2**20), Tier("L3", 480 * 2**20))


def test_tier_labels_keep_a_cache_name_only_where_the_fit_kept_its_size() -> None:
    fitted = (Tier("L1d", 60 * 1024), Tier("L2", 64 * 2**20), Tier("L3", 500 * 2**20))
    labels = fitted_tier_labels(SEEDED, fitted)
    assert labels[0] == "<=L1d ~60 KiB"
    assert labels[1] == "tier 2 <=~64 MiB (seeded L2)"  # moved 32x from its seed: not called L2
    assert labels[2] == "<=L3 ~500 MiB" and labels[3] == "tier 4 >~500 MiB"
    short = fitted_tier_labels(SEEDED, fitted, short=True)
    assert short == ("<=L1d", "T2 <=64MiB", "<=L3", "T4 >500MiB")


def test_format_bytes() -> None:
    assert [format_bytes(v) for v in (512, 1536, 48 * 1024, 2 * 2**20, 1.5 * 2**40)] == [
        "512 B", "1.5 KiB", "48 KiB", "2 MiB", "1.5 TiB",
    ]  # fmt: skip


def _sentinel_runs(trend: float, noise_sd: float = 0.0) -> pd.DataFrame:
    """A calibration whose sentinel (measured 9 times) and one other config drift by ``trend`` per hour."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(18):
        key = "rectangle/d4/s16384/b256" if i % 2 == 0 else f"trapezoid/d3/s{2 ** (5 + i)}/b64"
        t = 1000.0 + 200.0 * i
        energy = 1e-4 * np.exp(trend * (t - 1000.0) / 3600 + noise_sd * rng.standard_normal())
        for phase in ("train", "inference"):
            rows.append(
                {
                    "sweep_id": 1,
                    "run_key": f"{key}/r{i}",
                    "status": "ok",
                    "phase": phase,
                    "energy_per_datum_j": energy,
                    "raw_energy_per_datum_j": 2 * energy,
                    "finished_unix_s": t,
                }
            )
    return pd.DataFrame(rows)


def test_a_real_drift_is_removed_and_noise_is_left_alone() -> None:
    runs = _sentinel_runs(trend=0.3)
    corrected, done = correct_drift(runs, noise_floor=0.02)
    found = done.drift
    assert done.applied and found.value > 0.1 and found.count == 9
    flat = corrected[(corrected["phase"] == "train")]["energy_per_datum_j"].to_numpy()
    assert np.ptp(np.log(flat)) < 1e-9  # the trend was the only variation: it is gone, in both phases
    assert np.allclose(corrected["raw_energy_per_datum_j"], 2 * corrected["energy_per_datum_j"])
    same, done = correct_drift(runs, noise_floor=0.5)  # within 2x the floor: left alone as noise
    assert (
        not done.applied
        and not done.refused
        and done.message() is None
        and same["energy_per_datum_j"].equals(runs["energy_per_datum_j"])
    )


def _with_repeats(runs: pd.DataFrame, trend: float, sweep_id: int = 1, configs: int = 4) -> pd.DataFrame:
    """``runs`` plus ``configs`` configs each measured twice, 15 minutes apart, drifting by ``trend`` per hour
    (0: the machine's speed held and only the sentinel moved); the second of each pair reads 0.5% lower than
    the machine's speed alone would give, so an undrifted pair differs by 0.5%."""
    rows = []
    for j in range(configs):
        for t, jitter in ((1100.0 + 600 * j, 1.0025), (2000.0 + 600 * j, 0.9975)):
            energy = 3e-5 * (j + 1) * np.exp(trend * (t - 1000.0) / 3600) * jitter
            rows += [{"sweep_id": sweep_id, "run_key": f"exponential/d5/s{2 ** (10 + j)}/b32/r{t:.0f}",
                      "status": "ok", "phase": phase, "energy_per_datum_j": energy,
                      "raw_energy_per_datum_j": 2 * energy, "finished_unix_s": t}
                     for phase in ("train", "inference")]  # fmt: skip
    return pd.concat([runs, pd.DataFrame(rows)], ignore_index=True)


def test_a_drift_the_repeats_share_is_removed_and_one_they_contradict_is_not() -> None:
    """Repeat pairs minutes apart are an independent check of the sentinel: if the machine slowed, they
    moved apart by its trend and removing it brings them together; if only the sentinel moved (a noisy
    neighbour on a cache-bound config), removing its trend from every run pulls them apart."""
    shared = _with_repeats(_sentinel_runs(trend=0.3), trend=0.3)
    floor = calibration_noise_floor(shared)
    corrected, done = correct_drift(shared, noise_floor=floor)
    assert floor > 0.06 and done.applied and done.floor_after < 0.02 < done.floor_before == pytest.approx(floor)
    pairs = corrected[(corrected["phase"] == "train") & corrected["run_key"].str.startswith("exponential")]
    by_config = pairs.groupby(pairs["run_key"].str.rsplit("/", n=1).str[0])["energy_per_datum_j"]
    assert (by_config.max() / by_config.min() - 1 < 0.006).all()  # the pairs agree again, to their 0.5% jitter
    assert "+22.1% over 9 measurements" in done.message() and "corrected by its trend" in done.message()
    alone = _with_repeats(_sentinel_runs(trend=0.3), trend=0.0)
    floor = calibration_noise_floor(alone)
    same, done = correct_drift(alone, noise_floor=floor)
    assert floor < 0.02 and done.refused and not done.applied and done.floor_after > 0.06
    assert same["energy_per_datum_j"].equals(alone["energy_per_datum_j"])  # nothing rewritten
    assert "noise floor 0.5% -> 8.0%" in done.message() and "not corrected" in done.message()


def test_the_repeats_check_judges_the_drifting_sweep_alone() -> None:
    """A second, quiet calibration with many pairs must not dilute the check of the sweep that drifted."""
    alone = _with_repeats(_sentinel_runs(trend=0.3), trend=0.0)
    quiet = _with_repeats(pd.DataFrame(columns=alone.columns), trend=0.0, sweep_id=2, configs=12)
    both = pd.concat([alone, quiet.assign(finished_unix_s=quiet["finished_unix_s"] + 1e5)], ignore_index=True)
    same, done = correct_drift(both, noise_floor=0.005)
    assert done.drift.sweep_id == 1 and done.refused and not done.applied and done.floor_after > 0.06
    assert same["energy_per_datum_j"].equals(both["energy_per_datum_j"])


def test_an_unusable_sentinel_measurement_neither_poisons_the_sweep_nor_silences_the_verdict() -> None:
    runs = _with_repeats(_sentinel_runs(trend=0.3), trend=0.3)
    sentinel = (runs["run_key"].str.startswith("rectangle") & (runs["phase"] == "train")).to_numpy()
    first = np.flatnonzero(sentinel)[0]
    broken = runs.copy()
    broken.loc[first, "energy_per_datum_j"] = np.nan  # a NaN energy in one sentinel run
    corrected, done = correct_drift(broken, noise_floor=0.02)
    assert done.applied and np.isfinite(corrected.drop(index=first)["energy_per_datum_j"]).all()
    untimed = runs.copy()
    untimed.loc[np.flatnonzero(sentinel)[1:], "finished_unix_s"] = np.nan  # one sentinel run keeps its time
    same, done = correct_drift(untimed, noise_floor=0.02)
    assert done.real and not done.applied and "could not be fitted" in done.message()
    assert same["energy_per_datum_j"].equals(untimed["energy_per_datum_j"])
