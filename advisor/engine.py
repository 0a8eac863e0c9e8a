"""The recommendation engine: candidates x posterior draws -> ranked table, P(meet budget), Pareto front.

Everything is vectorised numpy over posterior draws. Nothing here prints or words a result for a person:
the engine returns data and a typed verdict, and :mod:`advisor.render` says it in words for the CLI, the
TUI and the API alike. Every number of a request is range-checked in :func:`validate`, before any work.
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from measurement.architecture import (
    DEPTHS,
    GRID_LIMITS,
    MAX_BATCH,
    SHAPES,
    SIZES,
    Architecture,
    parse_shape,
    size_architecture,
)
from measurement.errors import InputError
from models.features import arch_features
from models.profile import Profile

JOULES_PER_KWH = 3.6e6
ENGINE_DRAWS = 500
"""Posterior draws per candidate: Monte Carlo error of a 90% interval end is ~1% of its width."""
MAX_TOP = 10_000
MAX_EPOCHS = 10**6
MAX_INFERENCES = 10**18
MAX_CARBON_G_PER_KWH = 5_000.0
"""Above any grid on record (coal is ~1,000 g CO2e/kWh)."""
MAX_SAMPLES = 10**12


class Objective(enum.StrEnum):
    """What to minimise."""

    TRAIN = "train"  # energy per training datum (BUTTER-E's quantity)
    INFERENCE = "inference"  # energy per predicted datum
    LIFECYCLE = "lifecycle"  # planned training + planned inference, joules


class Verdict(enum.StrEnum):
    """Whether any candidate meets the budget with the requested confidence."""

    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"


@dataclass(frozen=True)
class Constraints:
    """Restrictions on the candidate grid (default: the whole BUTTER grid)."""

    shapes: tuple[str, ...] | None = None
    min_depth: int = DEPTHS[0]
    max_depth: int = DEPTHS[-1]
    min_size: int = SIZES[0]
    max_size: int = SIZES[-1]
    max_params: int | None = None


@dataclass(frozen=True)
class RecommendRequest:
    """One question to the advisor."""

    dataset: str
    accuracy: float
    confidence: float = 0.9
    constraints: Constraints = field(default_factory=Constraints)
    batch_size: int = 256
    inference_batch_size: int = 256
    epochs: int | None = None
    train_samples: int | None = None
    inferences: int = 0
    objective: Objective = Objective.TRAIN
    carbon_g_per_kwh: float | None = None
    top: int = 10


@dataclass(frozen=True)
class Recommendation:
    """The engine's answer: feasible candidates ranked best first, every candidate, the Pareto front.

    Attributes:
        feasible: how many candidates meet the budget with the requested confidence.
        best_achievable: the best posterior-mean score over all candidates (accuracy, or loss for regression).
        regression: whether the budget is a test loss (lower is better) rather than an accuracy.
    """

    request: RecommendRequest
    table: pd.DataFrame
    pareto: pd.DataFrame
    candidates: pd.DataFrame
    feasible: int
    best_achievable: float
    regression: bool
    estimated: bool

    @property
    def verdict(self) -> Verdict:
        """FEASIBLE when at least one candidate meets the budget."""
        return Verdict.FEASIBLE if self.feasible else Verdict.INFEASIBLE


def _in_range(name: str, value: Any, lo: float, hi: float, integer: bool = True) -> None:
    ok = (
        isinstance(value, int | np.integer) and not isinstance(value, bool)
        if integer
        else (isinstance(value, int | float | np.number) and not isinstance(value, bool) and math.isfinite(value))
    )
    if not ok or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise InputError(f"{name} must be {kind} in [{lo:g}, {hi:g}], got {value!r}"[:300])


def _check_constraints(c: Constraints) -> None:
    _in_range("min depth", c.min_depth, *GRID_LIMITS.depth)
    _in_range("max depth", c.max_depth, *GRID_LIMITS.depth)
    _in_range("min size", c.min_size, *GRID_LIMITS.size)
    _in_range("max size", c.max_size, *GRID_LIMITS.size)
    if c.max_params is not None:
        _in_range("max params", c.max_params, 1, 2**40)
    if c.shapes is not None:
        if not c.shapes:
            raise InputError("the shape constraint is empty: name at least one shape")
        for name in c.shapes:
            parse_shape(name)


def _check_numbers(request: RecommendRequest) -> None:
    _in_range("confidence", request.confidence, 0.0, 1.0, integer=False)
    if not 0 < request.confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {request.confidence}")
    _in_range("accuracy budget", request.accuracy, 0.0, 1e12, integer=False)
    for name, hi in (("batch_size", MAX_BATCH), ("inference_batch_size", MAX_BATCH), ("top", MAX_TOP)):
        _in_range(name.replace("_", " "), getattr(request, name), 1, hi)
    if request.epochs is not None:
        _in_range("epochs", request.epochs, 1, MAX_EPOCHS)
    if request.train_samples is not None:
        _in_range("train samples", request.train_samples, 1, MAX_SAMPLES)
    _in_range("inferences", request.inferences, 0, MAX_INFERENCES)
    if request.carbon_g_per_kwh is not None:
        _in_range("carbon intensity (g/kWh)", request.carbon_g_per_kwh, 0.0, MAX_CARBON_G_PER_KWH, integer=False)


def validate(request: RecommendRequest, profile: Profile) -> None:
    """Raise InputError (one line) for a request the engine cannot answer; cheap, before any work."""
    _check_numbers(request)
    _check_constraints(request.constraints)
    if request.dataset not in profile.accuracy:
        known = ", ".join(sorted(profile.accuracy)) or "none"
        raise InputError(f"the profile has no accuracy model for dataset {str(request.dataset)[:100]!r} (has: "
                         f"{known}); run 'advisor probe {str(request.dataset)[:100]}'")  # fmt: skip
    if profile.accuracy[request.dataset].task != "regression" and not 0 < request.accuracy <= 1:
        raise InputError(f"accuracy budget must be in (0, 1], got {request.accuracy}")
    if profile.accuracy[request.dataset].task == "regression" and not request.accuracy > 0:
        raise InputError(f"a regression budget is a test loss > 0, got {request.accuracy}")
    if request.objective is Objective.LIFECYCLE and not (request.epochs and request.inferences):
        raise InputError("objective 'lifecycle' needs planned epochs and inferences")


def build_request(profile: Profile, dataset: str, accuracy: float, confidence: float = 0.9,
                  **options: Any) -> RecommendRequest:  # fmt: skip
    """A validated request from keyword options (the Python API's and the UIs' form of a question).

    Raises:
        InputError: unknown options, an unknown objective, or any number out of its range.
    """
    constraint_names = {f.name for f in fields(Constraints)}
    request_names = {f.name for f in fields(RecommendRequest)} - {"dataset", "accuracy", "confidence", "constraints"}
    unknown = set(options) - constraint_names - request_names
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}")
    constraints = {k: v for k, v in options.items() if k in constraint_names}
    if constraints.get("shapes") is not None:
        constraints["shapes"] = tuple(constraints["shapes"])
    rest = {k: v for k, v in options.items() if k in request_names}
    try:
        rest["objective"] = Objective(rest.get("objective", "train"))
    except ValueError:
        raise InputError(f"unknown objective {str(rest['objective'])[:50]!r} (train, inference or lifecycle)") from None
    if rest.get("epochs") and rest.get("train_samples") is None and dataset in profile.accuracy:
        rest["train_samples"] = profile.accuracy[dataset].info.train_samples
    request = RecommendRequest(dataset, accuracy, confidence, Constraints(**constraints), **rest)
    validate(request, profile)
    return request


@functools.lru_cache(maxsize=16)
def candidate_grid(input_dim: int, output_dim: int) -> tuple[Architecture, ...]:
    """The whole BUTTER grid for these dims, off-target configs dropped (cached: built once per dims)."""
    archs = (size_architecture(s, d, n, input_dim, output_dim) for s in SHAPES for d in DEPTHS for n in SIZES)
    return tuple(a for a in archs if not a.off_target)


def _filter(archs: tuple[Architecture, ...], c: Constraints) -> list[Architecture]:
    shapes = set(c.shapes) if c.shapes else None
    return [
        a for a in archs
        if (shapes is None or a.shape.value in shapes) and c.min_depth <= a.depth <= c.max_depth
        and c.min_size <= a.target_size <= c.max_size and (c.max_params is None or a.params <= c.max_params)
    ]  # fmt: skip


def _energy_draws(profile: Profile, archs: list[Architecture], batch: int, phase: str) -> tuple[np.ndarray, np.ndarray]:
    feats = arch_features(archs, batch, phase)
    posterior = profile.energy.with_draws(ENGINE_DRAWS)
    return np.exp(posterior.log_energy(feats)), feats["log_ws"].to_numpy()


def _mean_and_interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = np.percentile(draws, [5, 95], axis=0)
    return draws.mean(axis=0), lo, hi


def pareto_front(energy: np.ndarray, accuracy: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Indices of candidates no other candidate beats on both energy (lower) and accuracy."""
    order = np.lexsort((-accuracy if higher_is_better else accuracy, energy))
    front, best = [], -np.inf
    for i in order:
        value = accuracy[i] if higher_is_better else -accuracy[i]
        if value > best:
            front.append(i)
            best = value
    return np.array(front, dtype=int)


def _candidates(profile: Profile, request: RecommendRequest) -> list[Architecture]:
    info = profile.accuracy[request.dataset].info
    archs = _filter(candidate_grid(info.input_dim, info.output_dim), request.constraints)
    if not archs:
        raise InputError("no candidate satisfies the constraints (check shapes, depth and size ranges, max params)")
    return archs


def _energy_columns(profile: Profile, request: RecommendRequest, archs: list[Architecture]) -> dict[str, Any]:
    """Energy per datum (train, inference), the objective's draws, planned totals, and the training tier."""
    train_e, train_ws = _energy_draws(profile, archs, request.batch_size, "train")
    infer_e, _ = _energy_draws(profile, archs, request.inference_batch_size, "inference")
    planned_train = train_e * (request.epochs or 0) * (request.train_samples or 0)
    planned_infer = infer_e * request.inferences
    objective = {Objective.TRAIN: train_e, Objective.INFERENCE: infer_e,
                 Objective.LIFECYCLE: planned_train + planned_infer}[request.objective]  # fmt: skip
    train_mean, train_lo, train_hi = _mean_and_interval(train_e)
    obj = (train_mean, train_lo, train_hi) if objective is train_e else _mean_and_interval(objective)
    columns = {
        "energy_per_datum_j": train_mean, "energy_p05_j": train_lo, "energy_p95_j": train_hi,
        "inference_energy_per_datum_j": infer_e.mean(axis=0),
        "objective_j": obj[0], "objective_p05_j": obj[1], "objective_p95_j": obj[2],
        "tier": [profile.energy.tier_label(int(t)) for t in profile.energy.tier_index(train_ws)],
    }  # fmt: skip
    if request.epochs and request.train_samples:
        columns["planned_train_j"] = planned_train.mean(axis=0)
    if request.inferences:
        columns["planned_inference_j"] = planned_infer.mean(axis=0)
    return columns


def candidate_table(profile: Profile, request: RecommendRequest) -> pd.DataFrame:
    """Every candidate with its energy, objective, P(meet budget) and expected score (unranked)."""
    archs = _candidates(profile, request)
    acc = profile.accuracy[request.dataset]
    params = np.array([a.params for a in archs])
    depth = np.array([a.depth for a in archs])
    shapes = [a.shape.value for a in archs]
    energy = _energy_columns(profile, request, archs)
    table = pd.DataFrame({
        "shape": shapes, "depth": depth, "size": [a.target_size for a in archs], "params": params,
        "widths": [_summarise_widths(a.widths) for a in archs],
        **{k: v for k, v in energy.items() if k != "tier"},
        "p_meet": acc.prob_meets(request.accuracy, params, depth, shapes),
        "expected_score": acc.expected(params, depth, shapes), "tier": energy["tier"],
    })  # fmt: skip
    if request.carbon_g_per_kwh is not None:
        table["co2_g"] = table["objective_j"] / JOULES_PER_KWH * request.carbon_g_per_kwh
    return table


def recommend(profile: Profile, request: RecommendRequest) -> Recommendation:
    """Rank the candidates that meet the accuracy budget with the requested confidence.

    An infeasible budget is not an error: the table is empty, the verdict INFEASIBLE, and
    ``best_achievable`` names the best posterior-mean accuracy (or loss).
    """
    validate(request, profile)
    table = candidate_table(profile, request)
    regression = profile.accuracy[request.dataset].task == "regression"
    feasible = table[table["p_meet"] >= request.confidence]
    ranked = feasible.sort_values(["objective_j", "params", "p_meet"], ascending=[True, True, False], kind="stable")
    ranked = ranked.head(request.top).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    scores = table["expected_score"].to_numpy()
    best = float(scores.min() if regression else scores.max())
    front = table.iloc[pareto_front(table["objective_j"].to_numpy(), scores, higher_is_better=not regression)]
    return Recommendation(request, ranked, front.reset_index(drop=True), table, len(feasible), best, regression,
                          profile.estimated)  # fmt: skip


def _summarise_widths(widths: tuple[int, ...]) -> str:
    if len(widths) <= 4:
        return "-".join(map(str, widths))
    return f"{widths[0]}-{widths[1]}-…-{widths[-2]}-{widths[-1]}"
