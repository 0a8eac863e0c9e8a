"""A kept nutpie compiled model serves the next fit of the same structure by a data swap, and the sampler cannot
tell: the draws equal a fresh compile's, seed for seed. Only fits that opt in are kept or reuse."""

from __future__ import annotations

import numpy as np
import pytest

from models import nutpie_cache
from models.energy import PARAMS, build_model, fit
from models.sampling import FitConfig, pymc, sample, thin
from tests.fakes.energy import TIERS, synthetic_runs

QUICK = FitConfig(draws=40, tune=40, chains=1, seed=3)


@pytest.fixture(autouse=True)
def no_kept_models():
    """Each test starts, and leaves the session, with nothing kept."""
    nutpie_cache.clear()
    yield
    nutpie_cache.clear()


def _kept_callbacks() -> list:
    return [compiled.compiled_logp_func for _, compiled in nutpie_cache._ENTRIES.values()]


@pytest.mark.slow
def test_a_reused_compiled_model_gives_a_fresh_compiles_draws() -> None:
    first, second = synthetic_runs(60, seed=1), synthetic_runs(80, seed=2)  # other data, other lengths
    fit(first, QUICK, TIERS)  # compiles, and keeps the compiled model (energy.fit opts in)
    (callbacks,) = _kept_callbacks()
    reused = fit(second, QUICK, TIERS)  # swaps the second frame's data into it
    assert _kept_callbacks() == [callbacks], "the second fit compiled again"
    names = ["log_c_anchor", *PARAMS]
    fresh, _ = sample(build_model(second, TIERS), QUICK, var_names=names)  # not opted in: compiles, keeps nothing
    assert _kept_callbacks() == [callbacks]
    fresh_draws = thin(fresh.posterior, PARAMS)
    for name in PARAMS:
        np.testing.assert_array_equal(reused.draws[name], fresh_draws[name], err_msg=name)
    assert not np.array_equal(fresh_draws["log_k"], fit(first, QUICK, TIERS).draws["log_k"])  # data mattered


def test_the_structure_key_tells_other_shapes_labels_and_initial_values_apart() -> None:
    pymc()
    frame = synthetic_runs(40, seed=1)
    key = nutpie_cache.structure_key(build_model(frame, TIERS), ["r"])
    assert nutpie_cache.structure_key(build_model(synthetic_runs(70, seed=5), TIERS), ["r"]) == key  # data only
    one_width = frame[frame["input_dim"] == frame["input_dim"].iloc[0]]
    assert nutpie_cache.structure_key(build_model(one_width, TIERS), ["r"]) != key  # fewer data-set factors
    moved = tuple(type(t)(t.name, t.size_bytes * 2) for t in TIERS)
    assert nutpie_cache.structure_key(build_model(frame, moved), ["r"]) != key  # another initial capacity
    renamed = tuple(type(t)(f"{t.name}x", t.size_bytes) for t in TIERS)
    assert nutpie_cache.structure_key(build_model(frame, renamed), ["r"]) != key  # the trace's tier labels
    assert nutpie_cache.structure_key(build_model(frame, TIERS), ["r", "sigma"]) != key
    with_factors = nutpie_cache.structure_key(build_model(frame, TIERS), ["r", "z_dataset"])
    renamed_sets = frame.assign(dataset=frame["dataset"] + " (another split)")  # as evaluation's splits differ
    assert nutpie_cache.structure_key(build_model(renamed_sets, TIERS), ["r", "z_dataset"]) == with_factors
