"""The model contract both Bayesian models share: sampler settings, diagnostics, thinning, PyMC set-up.

PyMC and ArviZ are imported only here, only when a fit runs: reading a profile or advising never loads
them. The first import points PyTensor's compile cache at a persistent per-user folder (unless the user
set one in PYTENSOR_FLAGS) so a fit's C code is compiled once, and hides three known, harmless
warnings (no BLAS, the experimental dense mass-matrix adaptation, ArviZ's daily refactor notice) only
around our own calls instead of changing the process's warning filters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from measurement.errors import InputError
from measurement.lifecycle import parent_bound_context
from models import schema

T = TypeVar("T")
MAX_DRAWS = 1000
"""Posterior draws kept after a fit (a seeded random subset of chains x draws, in order): one rule for both models."""

_QUIET = (
    ("PyTensor could not link to a BLAS", UserWarning),
    ("QuadPotentialFullAdapt is an experimental", UserWarning),
    ("\nArviZ is undergoing a major refactor", FutureWarning),
    ("ArviZ is undergoing a major refactor", FutureWarning),
)


class FitError(InputError):
    """The data cannot support a fit (too few runs, a phase missing …)."""


class Sampler(enum.StrEnum):
    """Which NUTS implementation samples a model."""

    NUTPIE = "nutpie"
    """NUTS in Rust over a numba-compiled model (or the energy model's fused kernel)."""
    PYMC = "pymc"
    """PyMC's own NUTS over C code: no numba compile, so it starts sooner on one-off small models."""


SAMPLERS = tuple(s.value for s in Sampler)
_POLL_S = 0.1  # how often the main thread looks for Ctrl-C while nutpie samples
MIN_ESS_BULK = 400
"""The bulk effective sample size a converged fit reaches on every judged variable (Vehtari et al. 2021)."""
MAX_R_HAT = 1.01


def check_sampler(name: object) -> Sampler:
    """The sampler of that name; an unknown one is refused (one line, before any work)."""
    try:
        return Sampler(name)
    except ValueError:
        raise InputError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r:.40}") from None


@dataclass(frozen=True)
class FitConfig:
    """Sampler settings.

    Attributes:
        cores: processes (pymc) or threads (nutpie) for the chains; None = one per chain up to the cores.
        init: PyMC's NUTS initialisation; the dense mass matrix suits the correlated tier parameters.
        sampler: :class:`Sampler` (nutpie: the per-step cost of PyMC's Python sampler dominated our small
            models, about 4x the time).
        low_rank_mass_matrix: nutpie only: adapt a diagonal mass matrix plus a low-rank correction from the
            draws and their gradients, so that a few strongly correlated directions (a ridge) do not set the
            step size of all the others.
        max_draws: sample until converged (:meth:`Diagnostics.converged`): a fit that is not is sampled again
            with twice the draws and tuning steps, while the draws stay within ``max_draws`` (the bound: at most
            log2(max_draws / draws) more fits, each twice as long as the one before). None: one fit.
    """

    draws: int = 1000
    tune: int = 500
    chains: int = 2
    target_accept: float = 0.9
    seed: int = 0
    cores: int | None = None
    init: str = "jitter+adapt_full"
    sampler: Sampler = Sampler.NUTPIE
    low_rank_mass_matrix: bool = False
    max_draws: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampler", check_sampler(self.sampler))

    def longer(self) -> FitConfig | None:
        """The next, longer fit of :attr:`max_draws`'s rule (twice the draws and tuning steps), or None when it
        would exceed the bound."""
        if self.max_draws is None or 2 * self.draws > self.max_draws:
            return None
        return dataclasses.replace(self, draws=2 * self.draws, tune=2 * self.tune)

    def sample_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``pm.sample`` for these settings.

        Chains sampled in parallel run in forked processes that die with this one (a ``kill -9`` of
        ``advisor fit`` leaves no sampler behind).
        """
        kwargs = {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "cores": sampler_cores(self),
            "random_seed": self.seed,
            "init": self.init,
            "target_accept": self.target_accept,
            "progressbar": False,
            "compute_convergence_checks": False,
            "idata_kwargs": {"log_likelihood": False},
        }
        context = parent_bound_context()
        if kwargs["cores"] > 1 and context is not None:
            kwargs["mp_ctx"] = context
        return kwargs


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of a fit."""

    divergences: int
    max_r_hat: float
    min_ess_bulk: float
    draws: int
    chains: int
    fit_s: float

    @property
    def converged(self) -> bool:
        """r_hat <= 1.01 (when there are several chains), bulk ESS >= 400, and < 1% divergent draws."""
        return not self.problems()

    def problems(self) -> list[str]:
        """Human-readable reasons the fit is not trustworthy (empty when converged)."""
        out = []
        if self.chains >= 2 and not self.max_r_hat <= MAX_R_HAT:
            out.append(f"max r_hat {self.max_r_hat:.3f} > {MAX_R_HAT}")
        if not self.min_ess_bulk >= MIN_ESS_BULK:
            out.append(f"min bulk ESS {self.min_ess_bulk:.0f} < {MIN_ESS_BULK}")
        if self.divergences > 0.01 * self.draws * self.chains:
            out.append(f"{self.divergences} divergent transitions")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``converged`` included for readers of the file; an undefined r_hat is null)."""
        r_hat = None if math.isnan(self.max_r_hat) else self.max_r_hat
        return {**asdict(self), "max_r_hat": r_hat, "converged": self.converged}

    @classmethod
    def from_dict(cls, data: Any, where: str = "diagnostics") -> Diagnostics:
        """Read and check the JSON form."""
        data = schema.obj(data, where)
        return cls(
            divergences=schema.integer(data, "divergences", where),
            max_r_hat=_or_nan(schema.optional_number(data, "max_r_hat", where, 0.0, 1e6)),
            min_ess_bulk=schema.number(data, "min_ess_bulk", where, 0.0, 1e12, nan_ok=True),
            draws=schema.integer(data, "draws", where, 1, 10**7),
            chains=schema.integer(data, "chains", where, 1, 1024),
            fit_s=schema.number(data, "fit_s", where, 0.0, 1e9),
        )


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def sampler_cores(config: FitConfig) -> int:
    """How many processes (pymc) or threads (nutpie) sample the chains."""
    return config.cores or max(1, min(config.chains, os.cpu_count() or 1))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide the known harmless PyTensor/PyMC/ArviZ warnings inside this block only."""
    with warnings.catch_warnings():
        for message, category in _QUIET:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def pytensor_cache_dir() -> str:
    """Where fits keep PyTensor's compiled C and numba code: $ADVISOR_PYTENSOR_CACHE, else the user's cache."""
    from platformdirs import user_cache_dir

    return os.environ.get("ADVISOR_PYTENSOR_CACHE") or os.path.join(user_cache_dir("energy-advisor"), "pytensor")


def _persistent_pytensor_cache() -> None:
    if "base_compiledir" in os.environ.get("PYTENSOR_FLAGS", ""):
        return
    cache = pytensor_cache_dir()
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache}"]))


def pymc():
    """Import PyMC for a fit (first call: persistent compile cache, known warnings hidden)."""
    import sys

    if "pytensor" not in sys.modules:
        _persistent_pytensor_cache()  # read by PyTensor at import: must precede it
    with quiet():
        import pymc as pm
    return pm


def numba_kernel(func):
    """``func`` compiled by numba (no Python objects, GIL released, IEEE arithmetic) and cached on disk (see
    :func:`_numba_cache`)."""
    import numba as nb

    with _numba_cache():
        # numpy's error model: a division by zero gives inf/NaN (a divergence to nutpie), not a Python exception
        return nb.njit(cache=True, nogil=True, error_model="numpy")(func)


def numba_callback(signature):
    """A decorator compiling a function into a C callback of ``signature`` (numba's ``cfunc``: called from native
    code without the GIL), with IEEE arithmetic and cached on disk as :func:`numba_kernel`'s functions are."""
    import numba as nb

    def decorate(func):
        with _numba_cache():
            return nb.cfunc(signature, cache=True, error_model="numpy")(func)

    return decorate


@contextlib.contextmanager
def _numba_cache() -> Iterator[None]:
    """Functions decorated inside cache in ``NUMBA_CACHE_DIR`` if the user set one, else beside PyTensor's compile
    cache (``pytensor_cache_dir()/numba``: the benchmarks' cold runs empty both). numba picks a function's cache
    folder when it is decorated, so only that moment sees ours; numba's setting is put back after (other
    libraries' functions keep numba's default)."""
    import numba as nb

    previous = nb.config.CACHE_DIR
    nb.config.CACHE_DIR = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(pytensor_cache_dir(), "numba")
    try:
        yield
    finally:
        nb.config.CACHE_DIR = previous


def arviz():
    """Import ArviZ without its daily FutureWarning."""
    with quiet():
        import arviz as az
    return az


@contextlib.contextmanager
def _noticing_interrupts() -> Iterator[list[int]]:
    """Record SIGINTs (still raising KeyboardInterrupt as usual) while the block runs in the main thread.

    A KeyboardInterrupt raised inside a finalizer or a ctypes callback (numba's compiler runs both) is "ignored"
    by Python, so the list, not the exception, is the record: callers check it.
    """
    hits: list[int] = []
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None or previous == signal.SIG_IGN:  # not ours to handle, or Ctrl-C ignored on purpose
        yield hits
        return

    def handler(signum, frame) -> None:
        hits.append(signum)
        if callable(previous):  # the installed handler (Python's default raises KeyboardInterrupt)
            previous(signum, frame)
        else:
            signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        with _hiding_ignored_interrupts():
            yield hits
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _hiding_ignored_interrupts() -> Iterator[None]:
    """Keep the KeyboardInterrupts Python ignores (raised in finalizers, callbacks) off stderr, where it would
    print a traceback for each; any other unraisable error still reaches the hook installed before."""
    previous_hook = sys.unraisablehook

    def unraisable(info) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        if sys.unraisablehook is unraisable:  # not one another party installed meanwhile
            sys.unraisablehook = previous_hook


def sample(model, config: FitConfig, var_names: list[str] | None = None, compiled: Any = None):
    """Run NUTS on ``model`` with ``config``; returns (InferenceData, seconds).

    Args:
        model: the PyMC model (None when ``compiled`` is given and the sampler is nutpie).
        config: sampler settings.
        var_names: the variables to keep (default: all); deterministics per observation cost nutpie a
            computation per draw.
        compiled: nutpie only: a callable returning a ready nutpie model (a ``CompiledModel`` over C callbacks)
            to sample instead of compiling ``model`` (the energy model's fused density,
            :mod:`models.energy_density`); called here, so that its cost counts in the fit's time.

    PyMC's sampler catches Ctrl-C and returns (or fails on) a truncated trace, and an interrupt during nutpie's
    compile may be swallowed; a fit interrupted by the user must not be saved as if it had finished, so an
    interrupt seen during sampling is raised again as KeyboardInterrupt.
    """
    pm = pymc() if model is not None or config.sampler is not Sampler.NUTPIE else None
    context = model if model is not None else contextlib.nullcontext()
    began = time.perf_counter()
    with context, quiet(), _noticing_interrupts() as interrupts:
        try:
            if config.sampler is Sampler.NUTPIE:
                idata = _nutpie(model, config, var_names, interrupts, compiled)
            else:
                idata = pm.sample(**config.sample_kwargs(), var_names=var_names)
        except Exception:
            if interrupts:
                raise KeyboardInterrupt from None
            raise
    if interrupts:
        raise KeyboardInterrupt
    return idata, time.perf_counter() - began


def _nutpie(model, config: FitConfig, var_names: list[str] | None, interrupts: list[int], compiled: Any):
    """Sample with nutpie: ``compiled()`` where given, else ``model`` compiled (its numba code is cached on disk;
    the C callbacks nutpie builds around that code are rebuilt on each compile, about 11 s here).

    nutpie's own wait turns Ctrl-C into a truncated trace, and an interrupt during numba's compile may have been
    swallowed (see ``_noticing_interrupts``): so the sampler runs in the background, the main thread polls
    ``interrupts`` and cancels it (discarding the draws) on the first one.
    """
    import nutpie

    if compiled is not None:
        compiled = compiled()
    else:
        compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
    if interrupts:
        raise KeyboardInterrupt
    sampler = nutpie.sample(
        compiled,
        draws=config.draws,
        tune=config.tune,
        chains=config.chains,
        cores=sampler_cores(config),
        seed=config.seed,
        target_accept=config.target_accept,
        progress_bar=False,
        blocking=False,
        low_rank_modified_mass_matrix=config.low_rank_mass_matrix,
    )
    try:
        while not _finished(sampler):
            if interrupts:
                raise KeyboardInterrupt
            time.sleep(_POLL_S)
    except BaseException:
        sampler.cancel()
        raise
    return sampler.wait()


def callback_model(*, n_dim, shapes, dims, coords, logp_callback, expand_callback, initial_point, user_data):
    """A nutpie model over C callbacks (numba ``cfunc``s) instead of a compiled PyMC graph: the one place that
    uses nutpie's private ``CompiledPyMCModel`` constructor (nutpie 0.16; pinned in pyproject.toml).

    nutpie calls the callbacks with ``user_data`` (a float64 buffer) as their user data: no Python and no GIL per
    gradient, so the chains' threads run in parallel (through a Python function each call took the GIL, and two
    chains ran ~1.5x slower each than one).

    Args:
        n_dim: length of the unconstrained vector.
        shapes: each variable a draw holds and its shape, in the order the expand callback writes them.
        dims: each variable's dimensions (variables without any are left out).
        coords: labels of each dimension.
        logp_callback: ``logp(dim, x, gradient out, logp out, user data) -> 0 | error``.
        expand_callback: ``expand(dim, expanded dim, x, out, user data) -> 0 | error``.
        initial_point: a chain's start, from its seed.
        user_data: the buffer the callbacks read.
    """
    from nutpie.compile_pymc import CompiledPyMCModel

    names, slices, at = list(shapes), [], 0
    for shape in shapes.values():
        n = math.prod(shape)
        slices.append(slice(at, at + n))
        at += n
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims={n: dims[n] for n in names if n in dims},
        _coords=coords,
        _shapes=dict(shapes),
        compiled_logp_func=logp_callback,
        compiled_expand_func=expand_callback,
        initial_point_func=initial_point,
        shared_data={},
        user_data=user_data,
        n_expanded=at,
        shape_info=(names, slices, list(shapes.values())),
        logp_func=None,
        expand_func=None,
    )


def _finished(sampler) -> bool:
    """Whether nutpie's background sampler is done (0.16 raises TimeoutError for "not yet")."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def until_converged(fit_once: Callable[[FitConfig], T], config: FitConfig) -> T:
    """``fit_once(config)``, then again with :meth:`FitConfig.longer` settings while its result (anything with
    ``diagnostics``, e.g. a posterior) has not converged and the bound allows: the last result, its
    ``diagnostics.fit_s`` the time of every fit."""
    spent_s, attempt = 0.0, config
    while True:
        result = fit_once(attempt)
        spent_s += result.diagnostics.fit_s
        longer = attempt.longer()
        if result.diagnostics.converged or longer is None:
            return dataclasses.replace(result, diagnostics=dataclasses.replace(result.diagnostics, fit_s=spent_s))
        attempt = longer


def diagnose(idata, var_names: list[str], config: FitConfig, fit_s: float) -> Diagnostics:
    """Divergences, worst r_hat (several chains only) and worst bulk ESS over ``var_names``."""
    az = arviz()
    with quiet():
        ess = az.ess(idata, var_names=var_names, method="bulk")
        min_ess = min(float(np.nanmin(ess[v].to_numpy())) for v in var_names)
        max_r_hat = float("nan")
        if config.chains > 1:
            r_hat = az.rhat(idata, var_names=var_names)
            max_r_hat = max(float(np.nanmax(r_hat[v].to_numpy())) for v in var_names)
    return Diagnostics(
        divergences=int(idata.sample_stats["diverging"].sum()),
        max_r_hat=max_r_hat,
        min_ess_bulk=min_ess,
        draws=config.draws,
        chains=config.chains,
        fit_s=fit_s,
    )


def thin(posterior, names: tuple[str, ...], max_draws: int = MAX_DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Flatten chains x draws of an xarray posterior into one axis, keeping a seeded subset of ``max_draws``.

    The one thinning rule of both models (a random subset, kept in sampling order); variables without
    chain/draw dims (constants) are broadcast.
    """
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    n = n_chain * n_draw
    keep = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max_draws), replace=False))
    out = {}
    for name in names:
        values = np.asarray(posterior[name].to_numpy(), float)
        values = np.broadcast_to(values, (n_chain, n_draw, *values.shape[2:]))
        out[name] = np.ascontiguousarray(values.reshape(n, *values.shape[2:])[keep])
    return out


def draws_dataset(draws: dict[str, np.ndarray], dims: dict[str, tuple[str, ...]], coords: dict[str, list]):
    """Thinned draws as an xarray Dataset shaped like an InferenceData posterior (one chain)."""
    import xarray as xr

    variables = {
        name: (("chain", "draw", *dims.get(name, ())), np.asarray(values)[None, ...]) for name, values in draws.items()
    }
    used = {d for name in draws for d in dims.get(name, ())}
    return xr.Dataset(variables, coords={k: v for k, v in coords.items() if k in used})
