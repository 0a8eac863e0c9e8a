"""The fused numba density nutpie samples is the PyMC model: same log density, gradient and variables."""

from __future__ import annotations

import os

import numpy as np
import pytest

from models.energy import PARAMS, build_model, energy_data, fit
from models.energy_density import EnergyDensity
from models.sampling import FitConfig
from tests.fakes.cli import run_python
from tests.fakes.energy import TIERS, synthetic_runs

FOUR_TIERS = (*TIERS[:2], TIERS[2].__class__("L2.5", 4 * 2**20), TIERS[2])


def _pair(frame, tiers=TIERS):
    """The PyMC model and the fused density of one frame."""
    return build_model(frame, tiers), EnergyDensity(energy_data(frame, tiers))


def _point(model, density, theta):
    """``theta`` (the density's unconstrained vector) as a PyMC point: the same transforms, in the same order."""
    slices = density.layout.slices()
    assert [v.name.removesuffix("_log__").removesuffix("_interval__") for v in model.value_vars] == list(slices)
    initial = model.initial_point()
    return {v.name: theta[s].reshape(np.shape(initial[v.name])) for v, (s, _) in zip(model.value_vars, slices.values(),
                                                                                     strict=True)}  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "tiers"),
    [(synthetic_runs(), TIERS), (synthetic_runs(40, seed=3, widths=((64, 3),)), TIERS),
     (synthetic_runs(50, seed=4), FOUR_TIERS)],
    ids=["three-data-sets", "one-data-set", "four-tiers"],
)  # fmt: skip
def test_log_density_and_gradient_equal_the_pymc_graphs(frame, tiers) -> None:
    """At random points (priors, Jacobians of every transform, Student-t likelihood with per-run noise), the
    kernel's log density equals PyMC's (to 1e-6 of a few hundred) and its gradient PyMC's (to 1e-9)."""
    frame = frame.assign(spread=np.random.default_rng(0).uniform(0.0, 0.2, len(frame)))  # per-run noise too
    model, density = _pair(frame, tiers)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    rng = np.random.default_rng(1)
    for seed in range(4):
        theta = density.initial_point(seed) + rng.normal(0.0, 0.5, density.layout.n_dim)
        value, grad = density.logp_and_grad(theta)
        point = _point(model, density, theta)
        assert value == pytest.approx(float(logp(point)), abs=1e-6)
        assert np.allclose(grad, dlogp(point), rtol=1e-9, atol=1e-9)


def test_expand_gives_the_variables_pymc_derives_from_the_same_point() -> None:
    frame = synthetic_runs(50, seed=2)
    model, density = _pair(frame)
    theta = density.initial_point(5)
    outputs = model.unobserved_value_vars  # constrained values and deterministics, as functions of the point
    values = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(_point(model, density, theta))
    named = {var.name: value for var, value in zip(outputs, values, strict=True)}
    expanded = density.expand(theta)
    for name in (*PARAMS, "log_c_anchor", "z_dataset"):
        assert np.allclose(expanded[name], named[name], rtol=1e-12, atol=1e-12), name
    assert np.all(np.diff(expanded["log_S"]) > 0)  # ordered capacities


def test_the_start_is_pymcs_initial_point() -> None:
    model, density = _pair(synthetic_runs(50, seed=2))
    initial = model.initial_point()
    expected = np.concatenate([np.ravel(initial[v.name]) for v in model.value_vars])
    assert np.allclose(density.start_point(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.slow  # fresh interpreters / PyMC's own sampler: 20-40 s; runs in CI's whole suite
def test_the_kernel_is_cached_beside_pytensors_cache(tmp_path) -> None:
    """A fresh interpreter that imports nutpie (and so numba) first still caches the kernel under
    ADVISOR_PYTENSOR_CACHE, and a user's NUMBA_CACHE_DIR wins."""
    code = (
        "import nutpie, numpy as np\n"
        "from models.energy import energy_data\nfrom models.energy_density import EnergyDensity\n"
        "from tests.fakes.energy import TIERS, synthetic_runs\n"
        "d = EnergyDensity(energy_data(synthetic_runs(20), TIERS)); d.logp_and_grad(d.start_point())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    result = run_python(code, env={**env, "ADVISOR_PYTENSOR_CACHE": str(tmp_path / "ours")})
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "ours" / "numba").rglob("energy_density*.nbi"))
    result = run_python(code, env={**env, "ADVISOR_PYTENSOR_CACHE": str(tmp_path / "x"),
                                   "NUMBA_CACHE_DIR": str(tmp_path / "theirs")})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "theirs").rglob("energy_density*.nbi")) and not (tmp_path / "x" / "numba").exists()


def test_initial_points_are_jittered_per_seed_and_a_wild_point_is_non_finite_not_an_error() -> None:
    density = EnergyDensity(energy_data(synthetic_runs(40, seed=1), TIERS))
    first, again, other = density.initial_point(0), density.initial_point(0), density.initial_point(1)
    assert np.array_equal(first, again) and not np.allclose(first, other)
    assert np.isfinite(density.logp_and_grad(first)[0])
    wild = np.full(density.layout.n_dim, 800.0)  # exp overflows: nutpie counts a divergence, it must not raise
    assert not np.isfinite(density.logp_and_grad(wild)[0])
    sharp = first.copy()
    sharp[density.layout.slices()["log_tau"][0]] = -8.0  # tau 3e-4: both halves of a tier step over/underflow
    value, _ = density.logp_and_grad(sharp)  # returns (IEEE inf/NaN: a divergence) instead of raising
    assert isinstance(value, float) and value != np.inf  # ZeroDivisionError here panicked nutpie's sampler


def test_a_nutpie_fit_is_seeded_and_keeps_every_parameter(synthetic_frame) -> None:
    config = FitConfig(draws=40, tune=60, chains=1, seed=3)
    one, two = fit(synthetic_frame, config, TIERS), fit(synthetic_frame, config, TIERS)
    for name in PARAMS:
        assert np.array_equal(one.draws[name], two.draws[name]), name
        assert np.isfinite(one.draws[name]).all()
    other = fit(synthetic_frame, FitConfig(draws=40, tune=60, chains=1, seed=4), TIERS)
    assert not np.array_equal(one.draws["r"], other.draws["r"])
    assert one.datasets == tuple(sorted(synthetic_frame["dataset"].astype(str).unique()))


def test_nutpies_c_callbacks_give_the_kernels_values_and_flag_a_wild_point() -> None:
    """The C callbacks nutpie calls (through their user-data pointer to the packed buffer) return the same log
    density, gradient and variables as the kernel's Python entry points; a wrong dimension is an error (< 0), a
    non-finite point a divergence (> 0)."""
    import ctypes

    from models.energy_callbacks import expand_callback as _expand_callback
    from models.energy_callbacks import logp_callback as _logp_callback

    density = EnergyDensity(energy_data(synthetic_runs(40, seed=6), TIERS))
    n, data = density.layout.n_dim, density.packed.ctypes.data_as(ctypes.c_void_p)
    shapes = density.layout.expanded()
    n_expanded = sum(int(np.prod(shape, dtype=int)) for shape in shapes.values())
    for seed in range(3):
        theta = density.initial_point(seed)
        grad, logp, out = np.empty(n), np.empty(1), np.empty(n_expanded)
        pointers = [a.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) for a in (theta, grad, logp, out)]
        assert _logp_callback.ctypes(n, pointers[0], pointers[1], pointers[2], data) == 0
        value, expected = density.logp_and_grad(theta)
        assert logp[0] == value and np.array_equal(grad, expected)
        assert _expand_callback.ctypes(n, n_expanded, pointers[0], pointers[3], data) == 0
        assert np.array_equal(out, np.concatenate([np.ravel(v) for v in density.expand(theta).values()]))
    assert _logp_callback.ctypes(n + 1, pointers[0], pointers[1], pointers[2], data) < 0
    wild = np.full(n, 800.0)
    code = _logp_callback.ctypes(n, wild.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), pointers[1], pointers[2],
                                 data)  # fmt: skip
    assert code > 0


def test_the_vectorised_exp_is_maths_exp_to_one_ulp_and_keeps_its_edges() -> None:
    """Over the range the kernel meets (and past the reduction's seams at multiples of ln 2 / 2) the
    vectorised exp is within 1 ulp of numpy's; overflow, underflow, infinities and NaN are exp's own."""
    from models.vector_math import exp_into as _exp_into

    rng = np.random.default_rng(0)
    seams = np.log(2) * (np.arange(-40, 41) / 2)
    x = np.concatenate([rng.uniform(-60, 60, 20_000), rng.uniform(-699.9, 699.9, 2_000), seams,
                        np.nextafter(seams, np.inf), [0.0, -0.0, 1e-300, -1e-300]])  # fmt: skip
    out = np.empty_like(x)
    _exp_into(x, out)
    expected = np.exp(x)
    assert np.max(np.abs(out - expected) / np.spacing(expected)) <= 1.0
    edges = np.array([np.nan, np.inf, -np.inf, 709.0, 710.0, -745.0, -800.0, 700.0, -700.0])
    out = np.empty_like(edges)
    _exp_into(edges, out)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, np.exp(edges))


def test_the_vectorised_log_is_maths_log_to_3e_16_and_keeps_its_edges() -> None:
    """From the smallest normal to the largest double, and around 1 and at sqrt(2) (the reduction's seam), the
    vectorised log is within 3e-16 of numpy's (absolute where |ln x| < 1, else relative); zero, negatives,
    subnormals, infinities and NaN are log's own."""
    from models.vector_math import log_into as _log_into

    rng = np.random.default_rng(1)
    near = np.concatenate([1 + rng.uniform(-0.3, 0.5, 5_000), np.sqrt(2) * (1 + rng.uniform(-1e-6, 1e-6, 1_000))])
    seam = [np.nextafter(np.sqrt(2), 0), np.sqrt(2), np.nextafter(np.sqrt(2), 2)]
    x = np.concatenate([np.exp(rng.uniform(-708, 709, 20_000)), near, seam,
                        [2.2250738585072014e-308, 1.0, 2.0, 0.5, np.finfo(float).max]])  # fmt: skip
    out = np.empty_like(x)
    _log_into(x, out)
    expected = np.log(x)
    assert np.all(np.abs(out - expected) <= 3e-16 * np.maximum(1.0, np.abs(expected)))
    edges = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1e-310, 5e-324])
    out = np.empty_like(edges)
    _log_into(edges, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(out, np.log(edges))


def test_tier_steps_saturate_where_one_half_of_a_sigmoid_overflows() -> None:
    """At a tau far below its prior, working sets far from every capacity step fully (to 0 or 1), not to NaN:
    only both halves overflowing at once may give a NaN (a divergence)."""
    from models.energy_density import _tier_steps

    log_ws = np.linspace(np.log(2**7), np.log(2**39), 1_000)
    log_s = np.log([48 * 2**10, 2 * 2**20, 480 * 2**20])
    steps, factor = _tier_steps(log_ws, log_s, np.full(3, 0.5), 0.015)
    assert np.all(np.isfinite(steps)) and np.all(np.isfinite(factor))
    below, above = log_ws < log_s[0] - 1, log_ws > log_s[-1] + 1
    assert np.all(steps[:, below] < 1e-12) and np.all(steps[:, above] > 1 - 1e-12)


def test_capacities_in_any_order_or_tied_give_the_sorted_model() -> None:
    """The free capacities are unsorted: permuting them leaves the log density, every other parameter's
    gradient and the sorted ln S as they were (their own gradient permutes with them), and at an exact tie the
    kernel's gradient is still PyMC's."""
    frame = synthetic_runs(50, seed=2)
    model, density = _pair(frame)
    at = density.layout.slices()["log_S_unsorted"][0]
    theta = density.initial_point(3)
    swapped = theta.copy()
    swapped[at] = theta[at][::-1]
    (value, grad), (value_swapped, grad_swapped) = density.logp_and_grad(theta), density.logp_and_grad(swapped)
    assert value_swapped == pytest.approx(value, rel=1e-12)
    others = np.ones(len(theta), bool)
    others[at] = False
    assert np.allclose(grad_swapped[others], grad[others], rtol=1e-12, atol=1e-12)
    assert np.allclose(grad_swapped[at], grad[at][::-1], rtol=1e-12, atol=1e-12)
    assert np.allclose(density.expand(swapped)["log_S"], density.expand(theta)["log_S"], rtol=1e-12, atol=1e-12)
    tied = theta.copy()
    tied[at.start + 1] = tied[at.start]
    value, grad = density.logp_and_grad(tied)
    point = _point(model, density, tied)
    assert value == pytest.approx(float(model.compile_logp()(point)), abs=1e-6)
    assert np.allclose(grad, model.compile_dlogp()(point), rtol=1e-9, atol=1e-9)
