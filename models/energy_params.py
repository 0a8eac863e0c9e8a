"""The energy model's parameters, defined once: one table from which everything else is derived.

Each row of :data:`TABLE` is one free variable of the model: its name, dimensions, prior (which fixes its
transform: the sampler's unconstrained scale), the prior's centre and scale, the posterior variable a profile
keeps and that variable's plausibility bounds. From the table come

- the PyMC graph's free variables (:func:`models.energy.build_model`, created in the table's order),
- the sampler's unconstrained layout, its start point and the variables a draw expands to
  (:class:`Layout`, used by :mod:`models.energy_density`),
- :data:`PARAMS` and :data:`DIMS` (what a posterior holds) and the checks :mod:`models.profile` applies to a
  saved posterior (:func:`saved_variables`).

:data:`UNTIERED` lists the untiered terms of the energy per datum (an overhead per phase times an amount that
needs no cache tier): the graph, the fused density and the numpy predictor sum them generically. Adding one is a
row here, an entry in :data:`UNTIERED` and its amount's column in :mod:`models.features`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from models.features import PHASES, TERMS

LOG_CAPACITY_BOUNDS = (float(np.log(2**10)), float(np.log(2**40)))
"""A cache tier's capacity lies between 1 KiB and 1 TiB: the prior's support, and what a profile may hold."""
STUDENT_NU = 4.0
"""Degrees of freedom of the Student-t likelihood on ln E."""


class Prior(enum.StrEnum):
    """A free variable's prior; it fixes the variable's transform (the sampler's unconstrained scale)."""

    NORMAL = "normal"
    """Normal(centre, scale), sampled as is."""
    LOG_NORMAL = "log_normal"
    """LogNormal(centre, scale), sampled on the log scale (no funnel at 0)."""
    HALF_NORMAL = "half_normal"
    """HalfNormal(scale), sampled on the log scale."""
    CAPACITY = "capacity"
    """Cache capacities, ln bytes: the sorted values of free capacities, each uniform on
    :data:`LOG_CAPACITY_BOUNDS` (interval transform), with Normal(fingerprint's cache size, scale) priors on the
    sorted values (ordered, no label switching)."""


class Centre(enum.StrEnum):
    """Where a prior's centre comes from, when it is not one of :class:`EnergyPriors`' settings."""

    DATA_GUESS = "data_guess"
    """The data's guess for the saved variable (:func:`models.energy.energy_data`'s ``guesses``)."""
    FINGERPRINT = "fingerprint"
    """The fingerprint's cache sizes (capacities)."""
    ZERO = "zero"


@dataclass(frozen=True)
class EnergyPriors:
    """The settings the table's priors name (one home: the PyMC graph and the fused density read them).

    Attributes:
        cost_sd: sd of the normal priors on ln costs, overheads and constants, around the data's guesses.
        step_log_mu: median of ln r, a tier's step factor (LogNormal: no funnel at 0).
        step_log_sd: its sd.
        capacity_sd: sd of ln S around the fingerprint's cache sizes.
        log_tau_mu: centre of ln tau, the steps' width (a wide prior cost 40% more sampling time).
        log_tau_sd: its sd.
        sigma_scale: HalfNormal scale of the model's sigma per phase.
        dataset_spread_scale: HalfNormal scale of sigma_dataset per term.
        nu: the Student-t likelihood's degrees of freedom.
        log_capacity_bounds: ln S's support (1 KiB..1 TiB).
    """

    cost_sd: float = 3.0
    step_log_mu: float = float(np.log(0.3))
    step_log_sd: float = 1.5
    capacity_sd: float = 1.0
    log_tau_mu: float = float(np.log(0.5))
    log_tau_sd: float = 0.1
    sigma_scale: float = 0.5
    dataset_spread_scale: float = 0.1
    nu: float = STUDENT_NU
    log_capacity_bounds: tuple[float, float] = LOG_CAPACITY_BOUNDS


PRIORS = EnergyPriors()


@dataclass(frozen=True)
class Param:
    """One free variable of the energy model.

    Attributes:
        name: the variable PyMC samples (and the sampler's layout names).
        dims: its dimensions (``term``, ``tier``, ``phase``, ``dataset``).
        prior: its prior, which fixes its transform.
        centre: the prior's centre: an :class:`EnergyPriors` field, or where else it comes from.
        scale: the prior's scale: an :class:`EnergyPriors` field, or a number.
        saved: the posterior variable a profile keeps for it (None: not kept).
        bounds: plausibility bounds of the saved variable's values (what a profile may hold).
    """

    name: str
    dims: tuple[str, ...]
    prior: Prior
    centre: str | Centre | None
    scale: str | float
    saved: str | None
    bounds: tuple[float, float] | None = None

    def centre_value(self, priors: EnergyPriors, guesses: dict[str, np.ndarray], prior_log_s: np.ndarray):
        """The prior's centre for these priors and data (a number or an array over the variable's elements)."""
        if self.centre is Centre.DATA_GUESS:
            return guesses[self.saved or self.name]
        if self.centre is Centre.FINGERPRINT:
            return prior_log_s
        if self.centre is Centre.ZERO or self.centre is None:
            return 0.0
        return float(getattr(priors, self.centre))

    def scale_value(self, priors: EnergyPriors) -> float:
        """The prior's scale for these priors."""
        return float(getattr(priors, self.scale)) if isinstance(self.scale, str) else float(self.scale)

    @property
    def draws(self) -> tuple[str, ...]:
        """The variables a draw holds for this one, in order: the sampled value on its own scale (capacities:
        their sorted values), then a variable derived from it (``log_c`` from ``log_c_anchor``)."""
        if self.prior is Prior.CAPACITY:
            return (self.saved,)
        return (self.name,) if self.saved in (None, self.name) else (self.name, self.saved)


COST_BOUNDS = (-120.0, 20.0)
TABLE: tuple[Param, ...] = (
    # ln cost per unit of each tiered term at its anchor tier; the saved log_c is below every step (see energy.py)
    Param("log_c_anchor", ("term",), Prior.NORMAL, Centre.DATA_GUESS, "cost_sd", "log_c", COST_BOUNDS),
    Param("r", ("tier",), Prior.LOG_NORMAL, "step_log_mu", "step_log_sd", "r", (0.0, 1e6)),
    Param("log_S_unsorted", ("tier",), Prior.CAPACITY, Centre.FINGERPRINT, "capacity_sd", "log_S", LOG_CAPACITY_BOUNDS),
    Param("log_tau", (), Prior.NORMAL, "log_tau_mu", "log_tau_sd", "log_tau", (-20.0, 20.0)),
    Param("log_o", ("phase",), Prior.NORMAL, Centre.DATA_GUESS, "cost_sd", "log_o", COST_BOUNDS),
    Param("log_q", ("phase",), Prior.NORMAL, Centre.DATA_GUESS, "cost_sd", "log_q", COST_BOUNDS),
    Param("log_k", ("phase",), Prior.NORMAL, Centre.DATA_GUESS, "cost_sd", "log_k", COST_BOUNDS),
    Param("sigma", ("phase",), Prior.HALF_NORMAL, None, "sigma_scale", "sigma", (0.0, 100.0)),
    Param("sigma_dataset", ("term",), Prior.HALF_NORMAL, None, "dataset_spread_scale", "sigma_dataset", (0.0, 5.0)),
    Param("z_dataset", ("dataset", "term"), Prior.NORMAL, Centre.ZERO, 1.0, None),  # non-centred data-set factors
)
"""The free variables, in the order of the PyMC graph and of the sampler's unconstrained vector."""


@dataclass(frozen=True)
class Untiered:
    """An untiered term: a per-phase overhead ``param`` (ln J per unit) times an amount per datum.

    Attributes:
        param: the overhead's parameter (a row of :data:`TABLE`, dims ``phase``).
        column: the training frame's column of the amount's logarithm (None: a constant per datum).
        power: the amount is ``exp(power * column)``.
    """

    param: str
    column: str | None
    power: float = 1.0

    def log_amount(self, frame) -> np.ndarray:
        """ln amount per datum of each row of a training (or feature) frame."""
        if self.column is None:
            return np.zeros(len(frame))
        return self.power * frame[self.column].to_numpy(float)


UNTIERED: tuple[Untiered, ...] = (
    Untiered("log_o", "log_layers_per_datum"),  # per layer per step (kernel launches, per-tensor optimizer work)
    Untiered("log_q", "log_batch", -1.0),  # per step (the Python loop, the batch call, the loss)
    Untiered("log_k", None),  # per datum
)

DATASET_FACTOR = "log_factor_dataset"
"""Each fitted data set's ln cost factor per term (sigma_dataset * z_dataset): draws x data sets x terms."""
DATASET_FACTOR_BOUNDS = (-10.0, 10.0)
PARAMS: tuple[str, ...] = tuple(p.saved for p in TABLE if p.saved)
"""The posterior variables a profile keeps (besides :data:`DATASET_FACTOR`)."""
DIMS: dict[str, tuple[str, ...]] = {
    **{p.saved: p.dims for p in TABLE if p.saved and p.dims},
    DATASET_FACTOR: ("dataset", "term"),
}
"""Each posterior variable's dimensions after the draw axis (a scalar has none)."""
BY_NAME: dict[str, Param] = {p.name: p for p in TABLE}


def saved_variables() -> dict[str, tuple[tuple[str, ...], tuple[float, float]]]:
    """Each saved posterior variable's dimensions and plausibility bounds (what a profile may hold)."""
    out = {p.saved: (p.dims, p.bounds) for p in TABLE if p.saved}
    return {**out, DATASET_FACTOR: (DIMS[DATASET_FACTOR], DATASET_FACTOR_BOUNDS)}


@dataclass(frozen=True)
class Layout:
    """Where each free variable sits in the sampler's unconstrained vector (the table's order, each flattened
    row-major), for the sizes of one fit's dimensions.

    Attributes:
        sizes: the length of each dimension (``term``, ``tier``, ``phase``, ``dataset``).
    """

    sizes: dict[str, int]

    @classmethod
    def of(cls, terms: int = len(TERMS), tiers: int = 3, phases: int = len(PHASES), datasets: int = 1) -> Layout:
        """The layout for these dimension sizes."""
        return cls({"term": terms, "tier": tiers, "phase": phases, "dataset": datasets})

    def shape(self, dims: tuple[str, ...]) -> tuple[int, ...]:
        """The shape of a variable with dimensions ``dims``."""
        return tuple(self.sizes[d] for d in dims)

    def slices(self) -> dict[str, tuple[slice, tuple[int, ...]]]:
        """Each free variable's slice of the vector and its shape, in the vector's order."""
        out, start = {}, 0
        for p in TABLE:
            shape = self.shape(p.dims)
            n = math.prod(shape)
            out[p.name] = (slice(start, start + n), shape)
            start += n
        return out

    def expanded(self) -> dict[str, tuple[int, ...]]:
        """Each variable a draw holds and its shape, in the order the sampler writes them."""
        return {name: self.shape(p.dims) for p in TABLE for name in p.draws}

    @property
    def n_dim(self) -> int:
        """Length of the unconstrained vector."""
        return sum(math.prod(self.shape(p.dims)) for p in TABLE)
