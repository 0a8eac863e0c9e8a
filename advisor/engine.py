"""The recommendation engine: candidates x posterior draws -> ranked table, P(meet budget), Pareto front.

Everything is vectorised numpy over posterior draws; nothing here prints. The CLI, the TUI and the
Python API all call :func:`recommend`.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from measurement.architecture import DEPTHS, SHAPES, SIZES, Architecture, parse_shape, size_architecture
from measurement.errors import InputError
from models.features import arch_features
from models.profile import Profile

JOULES_PER_KWH = 3.6e6
ENGINE_DRAWS = 500
"""Posterior draws per candidate: Monte Carlo error of a 90% interval end is ~1% of its width."""


class Objective(enum.StrEnum):
    """What to minimise."""

    TRAIN = "train"  # energy per training datum (BUTTER-E's quantity)
    INFERENCE = "inference"  # energy per predicted datum
    LIFECYCLE = "lifecycle"  # planned training + planned inference, joules


@dataclass(frozen=True)
class Constraints:
    """Restrictions on the candidate grid (default: the whole BUTTER grid)."""

    shapes: tuple[str, ...] | None = None
    min_depth: int = 2
    max_depth: int = 20
    min_size: int = 2**5
    max_size: int = 2**24
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
    """The engine's answer: feasible candidates ranked best first, the Pareto front, and a message."""

    table: pd.DataFrame
    pareto: pd.DataFrame
    candidates: pd.DataFrame
    message: str
    best_achievable: float
    estimated: bool


def validate(request: RecommendRequest, profile: Profile) -> None:
    """Raise InputError (one line) for a request the engine cannot answer."""
    if not 0 < request.confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {request.confidence}")
    if request.dataset not in profile.accuracy:
        known = ", ".join(sorted(profile.accuracy)) or "none"
        raise InputError(
            f"the profile has no accuracy model for dataset {request.dataset!r} (has: {known}); "
            f"run 'advisor probe {request.dataset}'"
        )
    task = profile.accuracy[request.dataset].task
    if task != "regression" and not 0 < request.accuracy <= 1:
        raise InputError(f"accuracy budget must be in (0, 1], got {request.accuracy}")
    if task == "regression" and not request.accuracy > 0:
        raise InputError(f"a regression budget is a test loss > 0, got {request.accuracy}")
    c = request.constraints
    if c.shapes is not None:
        if not c.shapes:
            raise InputError("the shape constraint is empty: name at least one shape")
        for name in c.shapes:
            parse_shape(name)
    if request.objective is Objective.LIFECYCLE and not (request.epochs and request.inferences):
        raise InputError("--objective lifecycle needs --epochs and --inferences")
    for name in ("batch_size", "inference_batch_size", "top"):
        if getattr(request, name) < 1:
            raise InputError(f"{name.replace('_', ' ')} must be >= 1")


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


def recommend(profile: Profile, request: RecommendRequest) -> Recommendation:
    """Rank the candidates that meet the accuracy budget with the requested confidence.

    An infeasible budget is not an error: the table is empty and the message names the best
    achievable accuracy (or loss).
    """
    validate(request, profile)
    acc = profile.accuracy[request.dataset]
    archs = _filter(candidate_grid(int(acc.info["input_dim"]), int(acc.info["output_dim"])), request.constraints)
    if not archs:
        raise InputError("no candidate satisfies the constraints (check shapes, depth and size ranges, max params)")
    params = np.array([a.params for a in archs])
    depth = np.array([a.depth for a in archs])
    shapes = [a.shape.value for a in archs]
    train_e, train_ws = _energy_draws(profile, archs, request.batch_size, "train")
    infer_e, _ = _energy_draws(profile, archs, request.inference_batch_size, "inference")
    p_meet = acc.prob_meets(request.accuracy, params, depth, shapes)
    expected = acc.expected(params, depth, shapes)
    samples = request.train_samples or 0
    planned_train = train_e * (request.epochs or 0) * samples
    planned_infer = infer_e * request.inferences
    objective = {
        Objective.TRAIN: train_e, Objective.INFERENCE: infer_e, Objective.LIFECYCLE: planned_train + planned_infer,
    }[request.objective]  # fmt: skip
    tiers = profile.energy.tier_index(train_ws)
    train_mean, train_lo, train_hi = _mean_and_interval(train_e)
    if objective is train_e:
        obj_mean, obj_lo, obj_hi = train_mean, train_lo, train_hi
    else:
        obj_mean, obj_lo, obj_hi = _mean_and_interval(objective)
    table = pd.DataFrame({
        "shape": shapes, "depth": depth, "size": [a.target_size for a in archs], "params": params,
        "widths": [_summarise_widths(a.widths) for a in archs],
        "energy_per_datum_j": train_mean, "energy_p05_j": train_lo, "energy_p95_j": train_hi,
        "inference_energy_per_datum_j": infer_e.mean(axis=0),
        "objective_j": obj_mean, "objective_p05_j": obj_lo, "objective_p95_j": obj_hi,
        "p_meet": p_meet, "expected_score": expected,
        "tier": [profile.energy.tier_label(int(t)) for t in tiers],
    })  # fmt: skip
    if request.epochs and samples:
        table["planned_train_j"] = planned_train.mean(axis=0)
    if request.inferences:
        table["planned_inference_j"] = planned_infer.mean(axis=0)
    if request.carbon_g_per_kwh is not None:
        table["co2_g"] = table["objective_j"] / JOULES_PER_KWH * request.carbon_g_per_kwh
    regression = acc.task == "regression"
    feasible = table[table["p_meet"] >= request.confidence]
    ranked = feasible.sort_values(["objective_j", "params", "p_meet"], ascending=[True, True, False], kind="stable")
    ranked = ranked.head(request.top).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    best = float(table["expected_score"].min() if regression else table["expected_score"].max())
    front = table.iloc[pareto_front(table["objective_j"].to_numpy(), expected, higher_is_better=not regression)]
    what = "test loss" if regression else "accuracy"
    if ranked.empty:
        message = (
            f"no candidate reaches {what} {request.accuracy:g} with probability >= {request.confidence:g}; "
            f"best achievable {what} (posterior mean) is {best:.4g}"
        )
    else:
        top = ranked.iloc[0]
        message = (f"{len(feasible)} of {len(table)} candidates meet {what} {request.accuracy:g} with P >= "
                   f"{request.confidence:g}; best: {top['shape']} depth {top['depth']} size {top['size']}")  # fmt: skip
    if profile.estimated:
        message += " (energy is an ESTIMATE: the calibration had no energy counter)"
    return Recommendation(ranked, front.reset_index(drop=True), table, message, best, profile.estimated)


def _summarise_widths(widths: tuple[int, ...]) -> str:
    if len(widths) <= 4:
        return "-".join(map(str, widths))
    return f"{widths[0]}-{widths[1]}-…-{widths[-2]}-{widths[-1]}"
