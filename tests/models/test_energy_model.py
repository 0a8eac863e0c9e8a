"""The tier model: numpy predictor == PyMC graph, recovery of known parameters, diagnostics, baselines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from measurement.errors import InputError
from models.baselines import fit_baselines
from models.energy import DATASET_FACTOR, PARAMS, EnergyPosterior, build_model, fit, log_energy_numpy, term_energies
from models.evaluate import grouped_folds
from models.features import TERMS
from models.sampling import Diagnostics, FitConfig, FitError, thin, until_converged
from tests.fakes.energy import TIERS, TRUE, synthetic_runs


def test_numpy_predictor_matches_the_pymc_graph(synthetic_frame) -> None:
    """Per data set: the graph's mu equals the numpy predictor with that data set's cost factors applied."""
    model = build_model(synthetic_frame, TIERS)
    rng = np.random.default_rng(1)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}
    outputs = model.unobserved_value_vars  # constrained parameter values and the deterministic mu
    values = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    named = {v.name: np.asarray(x) for v, x in zip(outputs, values, strict=True)}
    post = {name: named[name][None, ...] for name in PARAMS}  # every saved variable of the parameter table
    datasets = np.unique(synthetic_frame["dataset"].astype(str))
    assert len(datasets) == 3 and np.abs(named["z_dataset"]).min() > 0  # the factors really differ
    for d, name in enumerate(datasets):
        rows = (synthetic_frame["dataset"] == name).to_numpy()
        shifted = {**post, "log_c": post["log_c"] + named["sigma_dataset"] * named["z_dataset"][d]}
        expected = log_energy_numpy(shifted, synthetic_frame[rows])[0]
        assert np.allclose(expected, named["mu"][rows], rtol=1e-9, atol=1e-9)
    factors = (named["sigma_dataset"] * named["z_dataset"])[None, ...]  # what a fit keeps, by data-set name
    posterior = _posterior({**post, DATASET_FACTOR: factors}, tuple(datasets))
    assert np.allclose(posterior.log_energy(synthetic_frame)[0], named["mu"], rtol=1e-9, atol=1e-9)


def _posterior(draws: dict, datasets: tuple[str, ...] = ()) -> EnergyPosterior:
    return EnergyPosterior(draws, TIERS, Diagnostics(0, 1.0, 1000, len(draws["r"]), 1, 1.0), datasets)


def _true_posterior(n: int, factors: dict[str, np.ndarray] | None = None, **overrides) -> EnergyPosterior:
    """TRUE repeated ``n`` times; ``factors``: fitted ln cost factors (per term) of named data sets."""
    draws = {k: np.repeat(np.asarray(v, float)[None, ...], n, axis=0) for k, v in {**TRUE, **overrides}.items()}
    if factors:
        draws[DATASET_FACTOR] = np.repeat(np.array(list(factors.values()), float)[None], n, axis=0)
    return _posterior(draws, tuple(factors or ()))


def test_a_data_set_the_fit_saw_is_predicted_with_its_own_cost_factors(synthetic_frame) -> None:
    """Rows on a fitted data set carry its factors (log_c shifted per term); rows on any other data set, or
    without one, the population's; a mixed frame (gathered) equals its parts (broadcast); the predictive
    interval of a known data set has no new data set's spread in it."""
    rows = synthetic_frame[synthetic_frame["phase"] == "train"].head(12).copy()
    shift = np.array([0.3, -0.2, 0.1, 0.2])
    known = _true_posterior(4000, factors={"seen": shift}, sigma_dataset=np.full(len(TERMS), 0.3))
    population = _true_posterior(4000, sigma_dataset=np.full(len(TERMS), 0.3))
    shifted = _true_posterior(4000, log_c=TRUE["log_c"] + shift)
    on = rows.assign(dataset="seen")
    assert np.allclose(known.log_energy(on), shifted.log_energy(rows), rtol=1e-12, atol=1e-12)
    for other in (rows.assign(dataset="never seen"), rows.drop(columns="dataset")):
        assert np.array_equal(known.log_energy(other), population.log_energy(rows))
    mixed = rows.assign(dataset=np.where(np.arange(len(rows)) % 2 == 0, "seen", "never seen"))
    even = np.arange(len(rows)) % 2 == 0
    together = known.log_energy(mixed)
    assert np.allclose(together[:, even], known.log_energy(on[even]), rtol=1e-12, atol=1e-12)
    assert np.array_equal(together[:, ~even], population.log_energy(rows[~even]))
    assert known.knows("seen") and not known.knows("never seen")

    def width(posterior, frame):
        return np.diff(np.percentile(posterior.predictive_log_energy(frame), [5, 95], axis=0), axis=0)[0]

    t90 = 2.132  # Student-t, 4 degrees of freedom, 95th percentile
    assert np.allclose(width(known, on), 2 * t90 * TRUE["sigma"][0], rtol=0.1)  # run noise only
    tiered, rest = term_energies(population.draws, rows)
    mostly_tiered = tiered[0].sum(axis=-1) > 9 * rest[0]  # a data set's factor scales the tiered terms only
    wider = width(known, rows.assign(dataset="never seen")) > 1.5 * width(known, on)
    assert mostly_tiered.sum() >= 3 and np.all(wider[mostly_tiered])


def test_the_predictive_interval_carries_a_new_data_sets_spread(synthetic_frame) -> None:
    """A new measurement on an unseen data set varies by the fitted data-set spread on top of run noise; the
    mean prediction does not (it is the population's)."""
    rows = synthetic_frame[synthetic_frame["phase"] == "train"].head(20)
    none = _true_posterior(4000, sigma_dataset=np.zeros(len(TERMS)))
    spread = _true_posterior(4000, sigma_dataset=np.full(len(TERMS), 0.2))
    assert np.array_equal(none.log_energy(rows), spread.log_energy(rows))
    width = {name: np.diff(np.percentile(p.predictive_log_energy(rows), [5, 95], axis=0), axis=0)[0]
             for name, p in (("none", none), ("spread", spread))}  # fmt: skip
    t90 = 2.132  # Student-t, 4 degrees of freedom, 95th percentile
    assert np.allclose(width["none"], 2 * t90 * TRUE["sigma"][0], rtol=0.1)
    assert np.all(width["spread"] >= 0.95 * width["none"])
    tiered, rest = term_energies(none.draws, rows)
    mostly_tiered = tiered[0].sum(axis=-1) > 9 * rest[0]  # the data-set factor scales the tiered terms only
    assert mostly_tiered.sum() >= 5 and np.all(width["spread"][mostly_tiered] > 1.5 * width["none"][mostly_tiered])


@pytest.mark.slow
def test_synthetic_recovery_predicts_an_unseen_input_width(small_fit) -> None:
    """Fit on runs at input widths 16, 128 and 1024; predict networks at 512 inputs the fit never saw."""
    posterior = small_fit
    assert posterior.diagnostics.divergences <= 5
    unseen = synthetic_runs(n_configs=40, seed=7, noise=0.0, widths=((512, 10),))
    predicted = np.median(posterior.log_energy(unseen), axis=0)
    error = np.abs(np.exp(predicted - unseen["log_energy"].to_numpy()) - 1)
    assert np.median(error) < 0.08 and error.max() < 0.5, (np.median(error), error.max())
    for name in ("log_o", "log_q", "log_k"):  # the overheads are told apart by depth and batch size
        lo, hi = np.percentile(posterior.draws[name], [1, 99], axis=0)
        assert np.all((lo - 0.5 <= TRUE[name]) & (TRUE[name] <= hi + 0.5)), (name, lo, hi, TRUE[name])
    lo, hi = np.percentile(posterior.draws["log_S"][:, 2], [1, 99])  # the big L3 step is identified
    assert lo - 0.5 <= TRUE["log_S"][2] <= hi + 0.5


@pytest.mark.slow  # fresh interpreters / PyMC's own sampler: 20-40 s; runs in CI's whole suite
def test_pymc_sampler_fits_the_same_model_and_unknown_samplers_are_refused(synthetic_frame) -> None:
    posterior = fit(synthetic_frame, FitConfig(draws=30, tune=30, chains=1, sampler="pymc"), TIERS)
    assert all(np.isfinite(posterior.draws[k]).all() for k in PARAMS)
    assert posterior.draws["sigma_dataset"].shape == (30, len(TERMS))
    with pytest.raises(InputError, match="sampler must be one of nutpie, pymc"):
        fit(synthetic_frame, FitConfig(draws=10, tune=10, chains=1, sampler="stan"), TIERS)


def test_fit_refuses_too_little_data(synthetic_frame) -> None:
    with pytest.raises(FitError, match="at least 8"):
        fit(synthetic_frame.head(4), FitConfig(draws=10, tune=10, chains=1), TIERS)
    with pytest.raises(FitError, match="phase"):
        build_model(synthetic_frame[synthetic_frame["phase"] == "train"], TIERS)


def test_diagnostics_judgement() -> None:
    good = Diagnostics(0, 1.005, 400, 500, 2, 1.0)
    assert good.converged and good.problems() == []
    bad = Diagnostics(30, 1.2, 12, 500, 2, 1.0)
    assert not bad.converged
    assert len(bad.problems()) == 3
    assert Diagnostics(0, float("nan"), 400, 300, 1, 1.0).converged  # one chain: r_hat not defined
    assert Diagnostics(0, 1.005, 399, 500, 2, 1.0).problems() == ["min bulk ESS 399 < 400"]
    assert Diagnostics(0, 1.011, 400, 500, 2, 1.0).problems() == ["max r_hat 1.011 > 1.01"]


@dataclass(frozen=True)
class _Fit:
    diagnostics: Diagnostics
    draws: int


def test_sampling_until_converged_doubles_the_draws_within_the_bound() -> None:
    """A fit that has not converged is sampled again with twice the draws and tuning, until it converges or the
    next would pass ``max_draws``; the result carries the time of every fit."""
    seen: list[tuple[int, int]] = []

    def fit_once(config: FitConfig, converges_at: int) -> _Fit:
        seen.append((config.draws, config.tune))
        ess = 400.0 if config.draws >= converges_at else 50.0
        return _Fit(Diagnostics(0, 1.0, ess, config.draws, 2, 1.5), config.draws)

    out = until_converged(lambda c: fit_once(c, 4000), FitConfig(draws=1000, tune=500, max_draws=8000))
    assert seen == [(1000, 500), (2000, 1000), (4000, 2000)]
    assert out.draws == 4000 and out.diagnostics.converged and out.diagnostics.fit_s == pytest.approx(4.5)
    seen.clear()
    out = until_converged(lambda c: fit_once(c, 10**6), FitConfig(draws=1000, tune=500, max_draws=5000))
    assert seen == [(1000, 500), (2000, 1000), (4000, 2000)]  # 8,000 would pass the bound: the last is kept
    assert not out.diagnostics.converged and out.draws == 4000
    seen.clear()
    until_converged(lambda c: fit_once(c, 10**6), FitConfig(draws=1000))  # no bound: one fit
    assert seen == [(1000, 500)]


def test_baselines_are_exact_on_their_own_law(synthetic_frame) -> None:
    frame = synthetic_frame.copy()
    frame["log_energy"] = frame["log_flops"] + np.log(3e-11)
    flops = fit_baselines(frame)[0]
    assert flops.name == "energy ∝ FLOPs"
    assert np.allclose(flops.predict_log(frame), frame["log_energy"])
    loglog = fit_baselines(synthetic_frame)[2]
    assert np.isfinite(loglog.predict_log(synthetic_frame)).all()


def test_grouped_folds_keep_repeats_together() -> None:
    frame = synthetic_runs(n_configs=30)
    folds = grouped_folds(frame, 5)
    assert sum(m.sum() for m in folds) == len(frame)
    for mask in folds:
        held = set(frame.loc[mask, "config"])
        assert not held & set(frame.loc[~mask, "config"])


def test_one_thinning_rule_and_an_idata_round_trip(small_fit, synthetic_frame) -> None:
    posterior = small_fit
    assert posterior.draws["r"].shape == (200, 3) and posterior.draws["log_S"].shape == (200, 3)
    assert posterior.datasets == tuple(sorted(set(synthetic_frame["dataset"])))  # the factors' axis, by name
    assert posterior.draws[DATASET_FACTOR].shape == (200, 3, len(TERMS))  # 3 data sets x the terms
    assert np.all(np.diff(np.median(posterior.draws["log_S"], axis=0)) > 0)  # ordered capacities
    dataset = posterior.to_dataset()
    again = EnergyPosterior.from_idata(posterior.to_idata(), TIERS, posterior.diagnostics)
    assert all(np.array_equal(again.draws[k], posterior.draws[k]) for k in (*PARAMS, DATASET_FACTOR))
    assert again.datasets == posterior.datasets
    few = thin(dataset, PARAMS, max_draws=50)
    assert few["r"].shape == (50, 3) and few["log_S"].shape == (50, 3)
    assert thin(dataset, PARAMS, max_draws=50, seed=3)["log_tau"].shape == (50,)


def test_the_single_phase_fast_path_equals_the_gathered_one(synthetic_frame) -> None:
    """The engine predicts one phase at a time (parameters sliced, not gathered): same numbers."""
    rng = np.random.default_rng(2)
    post = {k: np.asarray(v)[None, ...] + 0.1 * rng.standard_normal((5, *np.shape(v))) for k, v in TRUE.items()}
    post["r"] = np.abs(post["r"])
    mixed = log_energy_numpy(post, synthetic_frame)
    for phase in (0, 1):
        rows = (synthetic_frame["phase_index"] == phase).to_numpy()
        alone = log_energy_numpy(post, synthetic_frame[rows])
        assert np.allclose(alone, mixed[:, rows], rtol=1e-12, atol=1e-12)
