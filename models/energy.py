"""Bayesian energy model with cache tiers (PyMC), and its vectorised numpy posterior predictor.

For an observation in phase p (train | inference) energy per datum is a sum of physical terms
(amounts from :mod:`models.features`, counted as in :mod:`measurement.cost`):

    E = sum_t A_pt * c_t(W_pt)  +  o_p * D / B  +  q_p / B  +  k_p    t in (compute, activation, optimizer, gemm_tail)
    c_t(W) = exp(log_c_t + sum_k ln(1 + r_k) * sigmoid((ln W - ln S_k) / tau))

A_t is the term's amount per datum (FLOPs; activation bytes; optimizer bytes, which scale as params / B; the
FLOPs of GEMM output columns outside whole vector tiles, which cost extra on top of their FLOPs) and W_t the
working set that holds those operands; its cost per unit is multiplied by 1 + r_k (r >= 0, so tier
costs are positive and ordered) as W_t outgrows each cache capacity S_k. The capacities (ordered, priors centred on the
fingerprint's cache sizes, bounded 1 KiB..1 TiB) and the step width tau are shared by every term and phase
(the same caches), and so are the base costs c_t per term and the step factors r_k per tier: a FLOP, or a
byte moved, costs the same in a forward pass whether it trains or infers, and a tier multiplies the cost
of whatever lives in it by the same factor; the phases differ in their amounts and overheads. The sampler
sees each term's cost at an *anchor* tier, the one holding the median working set of that term's runs, and
log_c (the cost below every step) is derived from it: sampled directly, log_c and the first step's r form a
ridge (nearly every working set lies above L1, so only their sum is known) that NUTS crawled along. (Costs and
steps per phase and term made the posterior a maze of trade-offs between terms: NUTS mixed at an effective
sample size of 5 in 800 draws on a 10-minute calibration; per phase alone, 66 in 1,600 and three minutes.)
o_p is a per-layer-per-step overhead (kernel launches, per-tensor optimizer work), q_p a fixed per-step
overhead (the Python loop, the batch call, the loss), k_p a per-datum constant. Without q the fit bends o
to fit shallow and deep networks at once and misses both. The terms are summed in linear space (log-sum-exp
in the graph). The likelihood is a Student-t on ln E whose scale adds the model's sigma_p to each run's own
measurement noise (from its window spread), so the fit knows the noise it was fit on.

Each data set d (an input width of the calibration, or a probed data set) scales each term's cost by its own
factor exp(sigma_dataset_t * z_dt), z ~ N(0, 1): the same network costs a little more or less per FLOP or byte
on other operand shapes, and a user's network is always on a data set the fit has not seen. The fitted spread
sigma_dataset enters the predictive interval of a new measurement (a new data set's factors, drawn once per
posterior draw); on such a data set the posterior mean is the population's. Without it the predictive
interval was learnt on the calibration's own widths and held 75% of runs at unseen widths
(benchmarks/transfer.py). The fitted factors of the data sets the fit saw are kept (``log_factor_dataset``, by
name): a config on one of them (a probed data set the advisor recommends for, a held-out config of k-fold) is
predicted with its own factors, and its interval carries their posterior uncertainty instead of a new data
set's spread.

Why several terms: a model with one FLOPs term learns "big working set -> expensive FLOPs" from wide-and-thin
calibration networks (activation-bound) and over-predicts compute-bound networks several-fold. Why the tail
term: a GEMM whose output is 15 columns wide runs at a third of the rate of one 16 wide (measurement.cost); with
one cost per FLOP, 2048-input networks with narrow first layers were off 0.55-1.9x in the calibration's own
fit, and the transfer benchmark's inference phase 4.1x its noise floor (with the term: 2.2x from the shipped
profile, 2.9x from the calibration alone).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from measurement.tiers import Tier, fitted_tier_labels, tier_index
from models.energy_params import (
    DATASET_FACTOR,
    DIMS,
    LOG_CAPACITY_BOUNDS,
    PARAMS,
    PRIORS,
    STUDENT_NU,
    TABLE,
    UNTIERED,
    Centre,
    EnergyPriors,
    Param,
    Prior,
)
from models.features import AMOUNT_COLUMNS, PHASES, TERMS, WORKING_SET_COLUMNS
from models.machine_state import MachineState
from models.sampling import (
    Diagnostics,
    FitConfig,
    FitError,
    Sampler,
    diagnose,
    draws_dataset,
    pymc,
    sample,
    thin,
    until_converged,
)

__all__ = ["DATASET_FACTOR", "DIMS", "LOG_CAPACITY_BOUNDS", "PARAMS", "PRIORS", "EnergyPosterior", "EnergyPriors"]
MODEL_VERSION = "energy-terms-5"
N_WINDOWS_DEFAULT = 5
ENERGY_FIT = FitConfig(draws=1000, tune=1000, chains=2, low_rank_mass_matrix=True, max_draws=8000)
"""How ``advisor fit`` samples the energy model: until converged (r_hat <= 1.01, bulk ESS >= 400), from 1,000
draws per chain after 1,000 tuning steps, doubling both up to 8,000 draws (at most four fits, 15,000 draws per
chain in all). The low-rank mass matrix halves the leapfrog steps per draw (~42 -> ~22 on the reference runs)
and raises the ESS of the slowest-mixing variable, the L1 capacity, about threefold; the longer tuning lets it
adapt (on the reference runs, 1,000 draws after 500 tuning steps left that capacity at r_hat 1.013-1.018, after
1,000 at 1.000-1.010). docs/decisions/0001-fused-energy-kernel.md has the numbers."""


def measurement_sd(spread: np.ndarray, windows: int = N_WINDOWS_DEFAULT) -> np.ndarray:
    """Standard error of a run's median on the log scale, from its window IQR / median."""
    spread = np.nan_to_num(np.asarray(spread, float), nan=0.0)
    return 1.2533 * (spread / 1.349) / np.sqrt(windows)


def _phase_gather(post: dict[str, np.ndarray], x: pd.DataFrame):
    """A function taking a parameter with a leading phase axis (after draws) to (draws, configs, ...);
    a call whose configs share one phase broadcasts instead of gathering (the engine's fast path)."""
    ph = x["phase_index"].to_numpy()
    one = int(ph[0]) if len(ph) and (ph == ph[0]).all() else None
    if one is not None:
        return lambda name: post[name][:, one][:, None, ...]
    return lambda name: post[name][:, ph]


def dataset_positions(x: pd.DataFrame, datasets: tuple[str, ...]) -> np.ndarray:
    """Each config's position in ``datasets`` (by its ``dataset`` column), -1 where the fit did not see it."""
    if not datasets or "dataset" not in x:
        return np.full(len(x), -1)
    where = {name: i for i, name in enumerate(datasets)}
    return np.array([where.get(name, -1) for name in x["dataset"].astype(str)], dtype=int)


def _log_costs(post: dict[str, np.ndarray], x: pd.DataFrame, datasets: tuple[str, ...]) -> np.ndarray:
    """ln base cost per term, (draws x 1 x terms) or, where configs lie on fitted data sets, (draws x configs x
    terms): the population's, times each known data set's own factor."""
    log_c = post["log_c"][:, None, :]
    positions = dataset_positions(x, datasets)
    if DATASET_FACTOR not in post or (positions < 0).all():
        return log_c
    factors = post[DATASET_FACTOR]
    if (positions == positions[0]).all():  # one data set (the engine's grid): broadcast, not gather
        return log_c + factors[:, positions[:1], :]
    padded = np.concatenate([factors, np.zeros_like(factors[:, :1])], axis=1)  # position -1: no factor
    return log_c + padded[:, positions, :]


def term_energies(
    post: dict[str, np.ndarray], x: pd.DataFrame, datasets: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Energy per datum of each tiered term (draws x configs x terms) and of the untiered rest (draws x
    configs): the untiered terms (models.energy_params.UNTIERED). Configs on one of ``datasets`` (the names of
    ``post[DATASET_FACTOR]``'s data-set axis) carry that data set's cost factors; others the population's."""
    per_phase = _phase_gather(post, x)
    log_c, r = _log_costs(post, x, datasets), post["r"][:, None, :]  # (draws, 1|configs, terms), (draws, 1, tiers)
    tau = np.exp(post["log_tau"])[:, None, None]
    rest = sum(np.exp(per_phase(u.param) + u.log_amount(x)[None, :]) for u in UNTIERED)
    terms = []
    for t, term in enumerate(TERMS):
        log_ws = x[WORKING_SET_COLUMNS[term]].to_numpy()
        steps = special.expit((log_ws[None, :, None] - post["log_S"][:, None, :]) / tau)
        cost = np.exp(log_c[..., t] + (np.log1p(r) * steps).sum(axis=-1))
        terms.append(np.exp(x[AMOUNT_COLUMNS[term]].to_numpy())[None, :] * cost)
    return np.stack(terms, axis=-1), np.broadcast_to(rest, terms[0].shape)


def log_energy_numpy(post: dict[str, np.ndarray], x: pd.DataFrame, datasets: tuple[str, ...] = ()) -> np.ndarray:
    """ln E for every posterior draw (rows) and config (columns): the predictor used everywhere (``datasets``:
    see :func:`term_energies`).

    Summed in linear space (ln E lies within about -40..5 here, far from under/overflow).
    """
    terms, rest = term_energies(post, x, datasets)
    return np.log(terms.sum(axis=-1) + rest)


def _guesses(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Prior centres from the data: each term alone would explain at most all the energy (a tiered term's cost
    at the 25th percentile of ln E less its amount, an untiered one's per phase; a constant below every run)."""
    y, ph = frame["log_energy"].to_numpy(float), frame["phase_index"].to_numpy()

    def low(values: np.ndarray, i: int) -> float:
        return float(np.quantile(values[ph == i], 0.25))

    guesses = {
        "log_c": np.array([float(np.quantile(y - frame[AMOUNT_COLUMNS[t]].to_numpy(float), 0.25)) - 1.0 for t in TERMS])
    }
    for u in UNTIERED:
        rest = y - u.log_amount(frame)
        per_phase = [(low(rest, i) if u.column else float(np.min(rest[ph == i]))) - 1.0 for i in range(len(PHASES))]
        guesses[u.param] = np.array(per_phase)
    return guesses


@dataclass(frozen=True)
class EnergyData:
    """What a fit of the energy model reads from a training frame: the arrays and prior centres, for either
    sampler (:func:`build_model`'s PyMC graph, :mod:`models.energy_density`'s fused density).

    Attributes:
        amounts: ln amount per datum, observations x terms.
        ws_index: each (observation, term)'s position in ``unique_log_ws``: each distinct working set's tier
            steps are computed once and gathered (terms share working-set columns, phases and repeats share
            values: about half the sigmoids).
        unique_log_ws: the distinct working sets, ln bytes.
        anchor: terms x tiers, 1 where a term's anchor cost includes the tier's step (:func:`_anchors`).
        untiered: ln amount per datum of each untiered term (models.energy_params.UNTIERED), observations x
            terms.
        meas_sd: each run's own measurement noise on the log scale.
        y: ln energy per datum.
        phase_index: each observation's phase (into PHASES).
        dataset_index: each observation's data set (into ``datasets``).
        guesses: prior centres from the data (:func:`_guesses`): ``log_c`` and each untiered overhead.
        prior_log_s: the fingerprint's cache sizes, ln bytes (the capacities' prior centres).
        initial_log_s: where sampling starts the capacities (the seeds, clipped inside the bounds).
        datasets: the data sets, in the order of the data-set axis (:func:`fit_datasets`).
        priors: the priors.
    """

    amounts: np.ndarray
    ws_index: np.ndarray
    unique_log_ws: np.ndarray
    anchor: np.ndarray
    untiered: np.ndarray
    meas_sd: np.ndarray
    y: np.ndarray
    phase_index: np.ndarray
    dataset_index: np.ndarray
    guesses: dict[str, np.ndarray]
    prior_log_s: np.ndarray
    initial_log_s: np.ndarray
    datasets: tuple[str, ...]
    priors: EnergyPriors = PRIORS


def energy_data(frame: pd.DataFrame, tiers: tuple[Tier, ...], priors: EnergyPriors = PRIORS) -> EnergyData:
    """The arrays of a training frame (see features.training_frame) that a fit reads; FitError if the frame
    cannot support one."""
    if frame.empty or len(frame) < 8:
        raise FitError(f"need at least 8 usable runs to fit, got {len(frame)}")
    missing = [p for p in PHASES if p not in set(frame["phase"])]
    if missing:
        raise FitError(f"no usable runs for phase(s) {missing}")
    log_ws = np.stack([frame[WORKING_SET_COLUMNS[t]].to_numpy(float) for t in TERMS], axis=1)
    unique_log_ws, ws_index = np.unique(log_ws, return_inverse=True)
    datasets = fit_datasets(frame)
    prior_log_s = np.log([float(t.size_bytes) for t in tiers])
    lo, hi = priors.log_capacity_bounds
    return EnergyData(
        amounts=np.stack([frame[AMOUNT_COLUMNS[t]].to_numpy(float) for t in TERMS], axis=1),
        ws_index=ws_index.reshape(log_ws.shape),
        unique_log_ws=unique_log_ws,
        anchor=_anchors(log_ws, tiers),
        untiered=np.stack([u.log_amount(frame) for u in UNTIERED], axis=1),
        meas_sd=measurement_sd(frame.get("spread", pd.Series(np.zeros(len(frame)))).to_numpy()),
        y=frame["log_energy"].to_numpy(float),
        phase_index=frame["phase_index"].to_numpy().astype("int64"),
        dataset_index=np.searchsorted(np.asarray(datasets), frame["dataset"].astype(str).to_numpy()),
        guesses=_guesses(frame),
        prior_log_s=prior_log_s,
        initial_log_s=np.clip(prior_log_s, lo + 0.1, hi - 0.1),
        datasets=datasets,
        priors=priors,
    )


def build_model(frame: pd.DataFrame, tiers: tuple[Tier, ...], priors: EnergyPriors = PRIORS):
    """The PyMC model for a training frame (see features.training_frame): the model's definition. Its free
    variables are the parameter table's rows (models.energy_params.TABLE), created in the table's order."""
    pm = pymc()
    import pytensor.tensor as pt

    d = energy_data(frame, tiers, priors)
    coords = {**fit_coords(tiers, len(d.datasets)), "obs": np.arange(len(d.y))}
    with pm.Model(coords=coords) as model:
        # every array the data decide enters as pm.Data: the compiled graph is the same for any calibration
        arrays = {
            "amounts": d.amounts,
            "unique_log_ws": d.unique_log_ws,
            "ws_index": d.ws_index,
            "untiered": d.untiered,
            "meas_sd": d.meas_sd,
            "y": d.y,
            "anchor": d.anchor,
            "phase_index": d.phase_index,
            "dataset_index": d.dataset_index,
            "prior_log_S": d.prior_log_s,
            **{f"guess_{k}": v for k, v in d.guesses.items()},
        }
        data = {name: pm.Data(name, value) for name, value in arrays.items()}
        v = {p.name: _free_variable(pm, p, data, d, priors) for p in TABLE}
        ph, group = data["phase_index"], data["dataset_index"]
        log_step = pt.log1p(v["r"])
        log_c = pm.Deterministic(
            "log_c", v["log_c_anchor"] - (data["anchor"] * log_step[None, :]).sum(axis=1), dims="term"
        )
        log_s = v["log_S_unsorted"]  # the sorted capacities (a Deterministic named log_S)
        steps = pm.math.sigmoid((data["unique_log_ws"][:, None] - log_s[None, :]) / pt.exp(v["log_tau"]))
        log_step_of_ws = (steps * log_step[None, :]).sum(axis=-1)[data["ws_index"]]  # (obs, terms)
        log_cost = log_c[None, :] + v["sigma_dataset"][None, :] * v["z_dataset"][group] + log_step_of_ws
        untiered = [v[u.param][ph] + data["untiered"][:, j] for j, u in enumerate(UNTIERED)]
        parts = pt.concatenate([data["amounts"] + log_cost, pt.stack(untiered, axis=1)], axis=1)
        mu = pm.Deterministic("mu", pm.math.logsumexp(parts, axis=1, keepdims=False), dims="obs")
        scale = pt.sqrt(v["sigma"][ph] ** 2 + data["meas_sd"] ** 2)
        pm.StudentT("log_energy", nu=priors.nu, mu=mu, sigma=scale, observed=data["y"], dims="obs")
    return model


def _free_variable(pm, p: Param, data: dict, d: EnergyData, priors: EnergyPriors):
    """One row of the parameter table as a PyMC variable (the capacities: their sorted values)."""
    dims = p.dims or None
    if p.prior is Prior.CAPACITY:
        return _capacities(pm, d, priors, data["prior_log_S"])
    scale = p.scale_value(priors)
    if p.prior is Prior.HALF_NORMAL:
        return pm.HalfNormal(p.name, sigma=scale, dims=dims)
    if p.centre is Centre.DATA_GUESS:  # the graph's guesses are pm.Data: the same graph for any calibration
        centre = data[f"guess_{p.saved or p.name}"]
    else:
        centre = p.centre_value(priors, {}, d.prior_log_s)
    if p.prior is Prior.LOG_NORMAL:
        return pm.LogNormal(p.name, mu=centre, sigma=scale, dims=dims)
    return pm.Normal(p.name, mu=centre, sigma=scale, dims=dims)


def _anchors(log_ws: np.ndarray, tiers: tuple[Tier, ...]) -> np.ndarray:
    """(terms x tiers) 1 where a term's median working set (ln bytes) lies above the tier's seeded capacity:
    the steps its anchor cost already includes."""
    prior_log_s = np.log([t.size_bytes for t in tiers])
    return (np.median(log_ws, axis=0)[:, None] > prior_log_s[None, :]).astype(float)


def _capacities(pm, d: EnergyData, priors: EnergyPriors, prior_log_s):
    """ln S_k: normal priors at the fingerprint's cache sizes, truncated to 1 KiB..1 TiB and ordered (no label
    switching). Sampled as the sorted values of free capacities, each uniform on the bounds (PyMC's interval
    transform) with the normal priors applied to the sorted values: the same density of ln S as an ordered
    transform (up to constants: each ordered point has k! unsorted ones; neither is normalised for the
    truncation, a constant as mu and sigma are fixed), without the ordered transform's coupling of the
    capacities' coordinates (with it, a poorly identified L1 capacity and the L1-L2 gap correlated at -0.9 in
    the sampler's space, and NUTS took ~130 leapfrog steps per draw instead of ~75)."""
    import pytensor.tensor as pt

    lo, hi = priors.log_capacity_bounds
    unsorted = pm.Uniform("log_S_unsorted", lower=lo, upper=hi, dims="tier", initval=d.initial_log_s)
    log_s = pm.Deterministic("log_S", pt.sort(unsorted), dims="tier")
    prior = pm.logp(pm.Normal.dist(mu=prior_log_s, sigma=priors.capacity_sd), log_s)
    pm.Potential("log_S_prior", prior.sum())
    return log_s


def fit_coords(tiers: tuple[Tier, ...], n_datasets: int) -> dict[str, list[str]]:
    """The labels of a fit's dimensions (either sampler). The data-set axis is labelled by position (fit names
    it afterwards), so the labels are the same for any data."""
    return {
        "phase": list(PHASES),
        "term": list(TERMS),
        "tier": [t.name for t in tiers],
        "dataset": [str(i) for i in range(n_datasets)],
    }


def fit_datasets(frame: pd.DataFrame) -> tuple[str, ...]:
    """The data sets of a training frame in the order of the model's data-set axis."""
    return tuple(str(name) for name in np.unique(frame["dataset"].astype(str).to_numpy()))


def fit(frame: pd.DataFrame, config: FitConfig, tiers: tuple[Tier, ...]) -> EnergyPosterior:
    """Sample the posterior of a training frame (see features.training_frame) with tier priors ``tiers``, until
    converged within ``config.max_draws`` (:meth:`FitConfig.longer`).

    Convergence is judged on the parameters and on each data set's factors (they price configs on it). The
    diagnostics are the last fit's, its time the time of all of them.
    """
    return until_converged(lambda attempt: _fit_once(frame, attempt, tiers), config)


def _fit_once(frame: pd.DataFrame, config: FitConfig, tiers: tuple[Tier, ...]) -> EnergyPosterior:
    """One fit with ``config``'s draws."""
    from models.sampling import arviz

    if config.sampler is Sampler.NUTPIE:
        idata, fit_s = sample(None, config, compiled=lambda: _fused_density(frame, tiers))
    else:
        drawn = list(dict.fromkeys(name for p in TABLE for name in p.draws))
        idata, fit_s = sample(build_model(frame, tiers), config, var_names=drawn)
    posterior = idata.posterior.assign_coords(dataset=list(fit_datasets(frame)))
    factors = (posterior["sigma_dataset"] * posterior["z_dataset"]).transpose("chain", "draw", "dataset", "term")
    posterior = posterior.assign({DATASET_FACTOR: factors})
    judged = arviz().InferenceData(posterior=posterior, sample_stats=idata.sample_stats)
    diagnostics = diagnose(judged, [*PARAMS, DATASET_FACTOR], config, fit_s)
    return EnergyPosterior.from_idata(posterior, tiers, diagnostics)


def _fused_density(frame: pd.DataFrame, tiers: tuple[Tier, ...]):
    """nutpie's model of the fused density (models.energy_density): draws of every variable the parameter
    table's rows expand to."""
    from models.energy_density import EnergyDensity

    data = energy_data(frame, tiers)
    coords = fit_coords(tiers, len(data.datasets))
    dims = {name: p.dims for p in TABLE for name in p.draws if p.dims}
    return EnergyDensity(data).compiled(coords, dims)


@dataclass(frozen=True)
class EnergyPosterior:
    """Posterior draws in numpy and the tiers they refer to: all the advisor needs to predict.

    Attributes:
        draws: each of :data:`PARAMS` (draws first, then :data:`DIMS`), and :data:`DATASET_FACTOR` when the
            fit saw named data sets.
        tiers: the cache tiers the capacities were seeded from (their names label the tier axis).
        diagnostics: the sampler's convergence figures.
        datasets: the data sets the fit saw, in the order of ``draws[DATASET_FACTOR]``'s data-set axis (empty
            when the draws hold no per-data-set factors).
    """

    draws: dict[str, np.ndarray]
    tiers: tuple[Tier, ...]
    diagnostics: Diagnostics
    datasets: tuple[str, ...] = ()
    machine: MachineState | None = None

    def __post_init__(self) -> None:
        factors = self.draws.get(DATASET_FACTOR)
        if (0 if factors is None else np.shape(factors)[1]) != len(self.datasets):
            raise ValueError(
                f"{len(self.datasets)} data-set names for the {DATASET_FACTOR} draws' data-set axis "
                f"of {0 if factors is None else np.shape(factors)[1]}"
            )

    @classmethod
    def from_idata(cls, idata, tiers: tuple[Tier, ...], diagnostics: Diagnostics) -> EnergyPosterior:
        """Thin an InferenceData (or its posterior group) into numpy draws (the shared rule); the data-set
        factors come from ``z_dataset`` (a fit's trace) or ``log_factor_dataset`` (a saved posterior)."""
        posterior = getattr(idata, "posterior", idata)
        draws = thin(posterior, PARAMS)
        names = DATASET_FACTOR if DATASET_FACTOR in posterior else "z_dataset" if "z_dataset" in posterior else None
        if names is None:
            return cls(draws, tuple(tiers), diagnostics)
        values = thin(posterior, (names,))[names]
        if names == "z_dataset":
            values = draws["sigma_dataset"][:, None, :] * values
        datasets = tuple(str(name) for name in posterior["dataset"].to_numpy())
        return cls({**draws, DATASET_FACTOR: values}, tuple(tiers), diagnostics, datasets)

    def to_dataset(self):
        """The draws as an InferenceData-style posterior group (xarray), for saving."""
        coords = {
            "phase": list(PHASES),
            "term": list(TERMS),
            "tier": [t.name for t in self.tiers],
            "dataset": list(self.datasets),
        }
        return draws_dataset(self.draws, DIMS, coords)

    def to_idata(self):
        """The draws as ArviZ InferenceData (for users' own analysis)."""
        from models.sampling import arviz

        return arviz().InferenceData(posterior=self.to_dataset())

    def log_energy(self, features: pd.DataFrame) -> np.ndarray:
        """ln E draws (n_draws x n_configs), without observation noise: a config whose ``dataset`` the fit saw
        with its data set's cost factors, any other the population's; scaled by today's recheck, when the
        posterior carries one (:meth:`with_machine`)."""
        return self._on_the_day(log_energy_numpy(self.draws, features, self.datasets), features)

    def with_machine(self, state: MachineState | None) -> EnergyPosterior:
        """A copy whose predictions apply the machine's state on the day (:mod:`models.machine_state`): the
        recheck's scale per phase, and the day-to-day spread in the predictive interval. None: the
        calibration day's posterior as it was fitted."""
        return dataclasses.replace(self, machine=state)

    def _on_the_day(self, log_e: np.ndarray, features: pd.DataFrame) -> np.ndarray:
        if self.machine is None or self.machine.recheck is None:
            return log_e
        offsets = self.machine.log_offsets(log_e.shape[0])
        return log_e + offsets[:, features["phase_index"].to_numpy()]

    def knows(self, dataset: str) -> bool:
        """Whether the fit saw ``dataset`` (its cost factors are known)."""
        return str(dataset) in self.datasets

    def predictive_log_energy(self, features: pd.DataFrame, seed: int = 0) -> np.ndarray:
        """ln E draws of one new measurement, plus the model's observation noise. On a data set the fit has not
        seen, each draw scales every term's cost by a new data set's factor (shared by those configs, as one
        user's data set is); on a data set it saw, by that data set's fitted factor (in :meth:`log_energy`)."""
        rng = np.random.default_rng(seed)
        offsets = self.draws["sigma_dataset"] * rng.standard_normal(self.draws["sigma_dataset"].shape)
        unseen = dataset_positions(features, self.datasets) < 0
        mu = np.empty((len(offsets), len(features)))
        if unseen.any():
            draws = {**self.draws, "log_c": self.draws["log_c"] + offsets}
            mu[:, unseen] = self._on_the_day(log_energy_numpy(draws, features[unseen], self.datasets), features[unseen])
        if not unseen.all():
            mu[:, ~unseen] = self.log_energy(features[~unseen])
        sigma = self.draws["sigma"][:, features["phase_index"].to_numpy()]
        noisy = mu + sigma * rng.standard_t(STUDENT_NU, size=mu.shape)
        if self.machine is None:
            return noisy
        return noisy + self.machine.residual_sigma * rng.standard_normal((len(mu), 1))  # a day moves every config

    def tier_capacities_bytes(self) -> dict[str, tuple[float, float, float]]:
        """Posterior median and 90% interval of each tier capacity."""
        sizes = np.exp(self.draws["log_S"])
        return {t.name: tuple(np.percentile(sizes[:, i], [50, 5, 95])) for i, t in enumerate(self.tiers)}

    def cost_summary(self) -> tuple[dict[str, float], dict[str, float]]:
        """Posterior median base cost per unit of each term (J per its unit: features.TERM_UNITS), and the median
        step factor r of each tier (shared by terms and phases)."""
        c, r = np.exp(self.draws["log_c"]), self.draws["r"]
        costs = {term: float(np.median(c[:, t])) for t, term in enumerate(TERMS)}
        return costs, {tier.name: float(np.median(r[:, k])) for k, tier in enumerate(self.tiers)}

    def fitted_tiers(self) -> tuple[Tier, ...]:
        """The tiers at their posterior median capacities (the data may move a step away from its seed)."""
        medians = np.exp(np.median(self.draws["log_S"], axis=0))
        return tuple(Tier(t.name, int(np.rint(m))) for t, m in zip(self.tiers, medians, strict=True))

    def dominant_terms(self, features: pd.DataFrame) -> np.ndarray:
        """Index into TERMS of the tiered term that costs most for each config (at the posterior median)."""
        median = {k: np.median(v, axis=0)[None, ...] for k, v in self.draws.items()}
        return term_energies(median, features, self.datasets)[0][0].argmax(axis=-1)

    def tier_labels_of(self, features: pd.DataFrame, short: bool = False) -> list[str]:
        """Each config's tier: where the working set of its dominant term lies (the tier the model priced it
        in), named by :meth:`tier_label` with the term, e.g. ``<=L2 (activation)``; ``short``: the tier alone."""
        dominant = self.dominant_terms(features)
        log_ws = np.stack([features[WORKING_SET_COLUMNS[t]].to_numpy(float) for t in TERMS], axis=-1)
        tiers = self.tier_index(log_ws[np.arange(len(dominant)), dominant])
        return [
            self.tier_label(int(k), short) if short else f"{self.tier_label(int(k))} ({TERMS[d]})"
            for k, d in zip(tiers, dominant, strict=True)
        ]

    def tier_index(self, log_ws: np.ndarray) -> np.ndarray:
        """Which fitted tier each working set (ln bytes) falls in."""
        return np.atleast_1d(tier_index(np.exp(np.asarray(log_ws, float)), self.fitted_tiers()))

    def tier_label(self, index: int, short: bool = False) -> str:
        """The fitted tier's label: the cache's name where the fit kept its capacity near the seed, else its
        position and fitted size with the seed's name (:func:`measurement.tiers.fitted_tier_labels`)."""
        return fitted_tier_labels(self.tiers, self.fitted_tiers(), short)[int(index)]

    def with_draws(self, n: int) -> EnergyPosterior:
        """A copy keeping the first ``n`` draws (faster predictions)."""
        return dataclasses.replace(self, draws={k: v[:n] for k, v in self.draws.items()})
