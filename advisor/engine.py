"""The recommendation engine: candidates x posterior draws -> ranked table, P(meet budget), Pareto front.

Everything is vectorised numpy over posterior draws. Nothing here prints or words a result for a person:
the engine returns data and a typed verdict, and :mod:`advisor.render` says it in words for the CLI, the
TUI and the API alike. Every number of a request is range-checked in :func:`validate`, before any work.
"""

from __future__ import annotations

import dataclasses
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
    Shape,
    parse_shape,
    size_architecture,
)
from measurement.errors import InputError
from models.accuracy import EPOCH_CHOICES, fewest_epochs
from models.features import arch_features, effective_batch_size
from models.profile import Profile

JOULES_PER_KWH = 3.6e6
ENGINE_DRAWS = 500
"""Posterior draws per candidate: Monte Carlo error of a 90% interval end is ~1% of its width."""
ACCURACY_DRAWS = 250
"""Accuracy posterior draws used for P(meet) (evenly spaced): the auto-epochs search evaluates it up to ~12
times over the grid. On the reference digits model, P(meet) from 250 of its 1,000 draws is within 0.013 of
the full posterior's for 95% of the networks (at most 0.03), no worse than 400; 400 take 2.5x as long."""
MAX_TOP = 10_000
MAX_EPOCHS = 10**6
MAX_PREDICTIONS = 10**18
MAX_GRID_G_PER_KWH = 5_000.0
"""Above any grid on record (coal is ~1,000 g CO2e/kWh)."""
MAX_SAMPLES = 10**12
AUTO = "auto"


class Objective(enum.StrEnum):
    """What to minimise (the values are the names people type)."""

    ENERGY_PER_DATUM = "energy-per-datum"  # energy per training datum (BUTTER-E's quantity)
    TRAINING_ENERGY = "training-energy"  # energy/datum x train samples x epochs: the energy to reach the budget
    INFERENCE = "inference"  # energy per prediction
    LIFECYCLE = "lifecycle"  # training energy + planned predictions, joules


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
    """One question to the advisor.

    Attributes:
        epochs: how the user will train (an int), or ``"auto"``: per candidate, the fewest epochs among
            ``models.accuracy.EPOCH_CHOICES`` that meet the budget with the confidence.
        train_samples: training set size (default: the dataset's, from its accuracy model).
        predictions: planned predictions (the lifecycle objective's inference part).
        grid_g_per_kwh: grid carbon intensity; adds a CO2e column when set.
    """

    dataset: str
    accuracy: float
    confidence: float = 0.9
    constraints: Constraints = field(default_factory=Constraints)
    batch_size: int = 256
    inference_batch_size: int = 256
    epochs: int | str = AUTO
    train_samples: int | None = None
    predictions: int = 0
    objective: Objective = Objective.ENERGY_PER_DATUM
    grid_g_per_kwh: float | None = None
    top: int = 10


@dataclass(frozen=True)
class Recommendation:
    """The engine's answer: feasible candidates ranked best first, every candidate, the Pareto front.

    Every table has one row per distinct network (identical architectures once, ``shapes`` naming the
    shapes it stands for) and the columns listed in :func:`candidate_table`.

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
    if request.epochs != AUTO:
        _in_range("epochs (an integer or 'auto')", request.epochs, 1, MAX_EPOCHS)
    if request.train_samples is not None:
        _in_range("train samples", request.train_samples, 1, MAX_SAMPLES)
    _in_range("predictions", request.predictions, 0, MAX_PREDICTIONS)
    if request.grid_g_per_kwh is not None:
        _in_range("grid carbon intensity (g/kWh)", request.grid_g_per_kwh, 0.0, MAX_GRID_G_PER_KWH, integer=False)


def validate(request: RecommendRequest, profile: Profile) -> None:
    """Raise InputError (one line) for a request the engine cannot answer; cheap, before any work."""
    _check_numbers(request)
    _check_constraints(request.constraints)
    if request.dataset not in profile.accuracy:
        known = ", ".join(sorted(profile.accuracy)) or "none"
        raise InputError(
            f"the profile has no accuracy model for dataset {str(request.dataset)[:100]!r} (has: "
            f"{known}); run 'advisor probe {str(request.dataset)[:100]}'"
        )
    if profile.accuracy[request.dataset].task != "regression" and not 0 < request.accuracy <= 1:
        raise InputError(f"accuracy budget must be in (0, 1], got {request.accuracy}")
    if profile.accuracy[request.dataset].task == "regression" and not request.accuracy > 0:
        raise InputError(f"a regression budget is a test loss > 0, got {request.accuracy}")
    if request.objective is Objective.LIFECYCLE and not request.predictions:
        raise InputError("objective 'lifecycle' needs the planned number of predictions (predictions > 0)")


def parse_objective(value: Any) -> Objective:
    """An Objective from its name; InputError naming the choices."""
    try:
        return Objective(value)
    except ValueError:
        names = ", ".join(o.value for o in Objective)
        raise InputError(f"unknown objective {str(value)[:50]!r} (choose from: {names})") from None


def parse_epochs(value: Any) -> int | str:
    """``"auto"``, or a whole number of epochs (an int, or text such as ``"96"``); InputError otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if not text.isdigit() or len(text) > 12:
            raise InputError(f"epochs must be a whole number >= 1 or 'auto', got {value[:40]!r}")
        value = int(text)
    _in_range("epochs (an integer or 'auto')", value, 1, MAX_EPOCHS)
    return int(value)


def build_request(
    profile: Profile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any
) -> RecommendRequest:
    """A validated request from keyword options (the Python API's and the UIs' form of a question).

    Raises:
        InputError: unknown options, an unknown objective, bad epochs, or any number out of its range.
    """
    constraint_names = {f.name for f in fields(Constraints)}
    request_names = {f.name for f in fields(RecommendRequest)} - {"dataset", "accuracy", "confidence", "constraints"}
    unknown = set(options) - constraint_names - request_names
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}")
    constraints = {k: v for k, v in options.items() if k in constraint_names}
    if constraints.get("shapes") is not None:
        constraints["shapes"] = tuple(constraints["shapes"])
    rest = {k: v for k, v in options.items() if k in request_names and v is not None}
    rest["objective"] = parse_objective(rest.get("objective", Objective.ENERGY_PER_DATUM))
    rest["epochs"] = parse_epochs(rest.get("epochs", AUTO))
    request = RecommendRequest(
        dataset=dataset, accuracy=accuracy, confidence=confidence, constraints=Constraints(**constraints), **rest
    )
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
        a
        for a in archs
        if (shapes is None or a.shape.value in shapes)
        and c.min_depth <= a.depth <= c.max_depth
        and c.min_size <= a.target_size <= c.max_size
        and (c.max_params is None or a.params <= c.max_params)
    ]


def _distinct(archs: list[Architecture]) -> tuple[list[Architecture], list[tuple[str, ...]]]:
    """One architecture per distinct network, and the shapes each stands for.

    Two candidates are one network when their widths are equal and both are, or both are not, residual (a
    residual net at depth 2 has no skip: it is a rectangle). At depth 2 every shape is [w, O]. The first of a
    group in grid order (rectangle first) represents it.
    """
    groups: dict[tuple, list[Architecture]] = {}
    for arch in archs:
        residual = arch.shape is Shape.RECTANGLE_RESIDUAL and arch.depth > 2
        groups.setdefault((arch.widths, residual), []).append(arch)
    names = [tuple(dict.fromkeys(a.shape.value for a in group)) for group in groups.values()]
    return [group[0] for group in groups.values()], names


@functools.lru_cache(maxsize=32)
def _features(archs: tuple[Architecture, ...], batch: int, phase: str) -> pd.DataFrame:
    """The energy model's features of ``archs`` (cached: a UI asks again for the same grid on every keystroke)."""
    return arch_features(list(archs), batch, phase)


_DRAWS_CACHE: dict[tuple, tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
_DRAWS_CACHE_SIZE = 8


def _energy_draws(
    profile: Profile, archs: list[Architecture], batch: int, phase: str, dataset: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy per datum draws (draws x configs), ln whole-step working sets, and each config's tier label (the
    tier its dominant term was priced in); read-only arrays. On a data set the energy fit saw (a probed one)
    the draws carry its fitted cost factors, else the population's.

    Kept for the last few (posterior, candidates, batch, phase, data set): a new budget, epochs or objective
    over the same candidates (every keystroke in the TUI) reuses them. The entry holds the posterior, so its
    id is not reused.
    """
    key = (id(profile.energy), tuple(archs), batch, phase, dataset)
    hit = _DRAWS_CACHE.get(key)
    if hit is not None and hit[0] is profile.energy:
        return hit[1]
    feats = _features(key[1], batch, phase).assign(dataset=dataset)  # a copy: the cached frame stays as it was
    draws = np.exp(profile.energy.with_draws(ENGINE_DRAWS).log_energy(feats))
    tiers = np.array(profile.energy.tier_labels_of(feats, short=True), dtype=object)
    result = (draws, feats["log_ws_bytes"].to_numpy(copy=True), tiers)
    for array in result:
        array.setflags(write=False)
    if len(_DRAWS_CACHE) >= _DRAWS_CACHE_SIZE:
        _DRAWS_CACHE.pop(next(iter(_DRAWS_CACHE)))
    _DRAWS_CACHE[key] = (profile.energy, result)
    return result


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


def _candidates(profile: Profile, request: RecommendRequest) -> tuple[list[Architecture], list[tuple[str, ...]]]:
    info = profile.accuracy[request.dataset].info
    archs = _filter(candidate_grid(info.input_dim, info.output_dim), request.constraints)
    if not archs:
        raise InputError("no candidate satisfies the constraints (check shapes, depth and size ranges, max params)")
    return _distinct(archs)


def train_samples(profile: Profile, request: RecommendRequest) -> int:
    """The training set size the totals use: the request's, else the dataset's (from its accuracy model)."""
    return int(request.train_samples or profile.accuracy[request.dataset].info.train_samples)


def _accuracy_model(profile: Profile, dataset: str):
    """The dataset's accuracy posterior, thinned to ``ACCURACY_DRAWS`` evenly spaced draws when it has more."""
    model = profile.accuracy[dataset]
    draws = getattr(model, "draws", None)
    if not dataclasses.is_dataclass(model) or not isinstance(draws, dict):
        return model
    n = min(len(v) for v in draws.values())
    if n <= ACCURACY_DRAWS:
        return model
    keep = np.linspace(0, n - 1, ACCURACY_DRAWS).round().astype(int)
    return dataclasses.replace(model, draws={k: v[keep] for k, v in draws.items()})


def _epochs_and_p(model, request: RecommendRequest, params, depth, shapes) -> tuple[np.ndarray, np.ndarray]:
    """Training epochs per candidate (the user's, or the fewest meeting the budget) and P(meet) there.

    With ``epochs="auto"`` a candidate that meets the budget at no choice is shown at the longest choice (its
    P(meet) there), so every row's epochs, P(meet) and expected score describe one training length.
    """
    if request.epochs == AUTO:
        epochs, p_meet = fewest_epochs(model, request.accuracy, request.confidence, params, depth, shapes)
        p_meet, short = np.array(p_meet, float), np.isnan(epochs)
        if short.any():
            longest = float(EPOCH_CHOICES[-1])
            short_shapes = [s for s, k in zip(shapes, short, strict=True) if k]
            p_meet[short] = model.prob_meets(request.accuracy, params[short], depth[short], short_shapes, longest)
        return np.where(short, longest, epochs), p_meet
    epochs = np.full(len(params), float(request.epochs))
    return epochs, np.asarray(model.prob_meets(request.accuracy, params, depth, shapes, epochs), float)


def _energy_columns(
    profile: Profile, request: RecommendRequest, archs: list[Architecture], epochs: np.ndarray
) -> dict[str, Any]:
    """Energy per datum, total training energy at ``epochs``, inference per prediction, the objective, tier."""
    samples = train_samples(profile, request)
    train_batch = effective_batch_size(request.batch_size, samples)
    train_e, train_ws, tiers = _energy_draws(profile, archs, train_batch, phase="train", dataset=request.dataset)
    infer_batch = request.inference_batch_size
    infer_e, _, _ = _energy_draws(profile, archs, infer_batch, phase="inference", dataset=request.dataset)
    training = train_e * (samples * epochs)[None, :]
    lifecycle = training + infer_e * request.predictions
    objective = {
        Objective.ENERGY_PER_DATUM: train_e,
        Objective.TRAINING_ENERGY: training,
        Objective.INFERENCE: infer_e,
        Objective.LIFECYCLE: lifecycle,
    }[request.objective]
    per_datum, total, obj = _mean_and_interval(train_e), _mean_and_interval(training), _mean_and_interval(objective)
    columns = {
        "energy_per_datum_j": per_datum[0],
        "energy_p05_j": per_datum[1],
        "energy_p95_j": per_datum[2],
        "training_energy_j": total[0],
        "training_p05_j": total[1],
        "training_p95_j": total[2],
        "inference_energy_per_prediction_j": infer_e.mean(axis=0),
    }
    if request.grid_g_per_kwh is not None:
        columns["co2e_g"] = lifecycle.mean(axis=0) / JOULES_PER_KWH * request.grid_g_per_kwh
    return {
        **columns,
        "objective_j": obj[0],
        "objective_p05_j": obj[1],
        "objective_p95_j": obj[2],
        "tier": tiers.tolist(),
        "log_ws_bytes": train_ws,
    }


def candidate_table(profile: Profile, request: RecommendRequest) -> pd.DataFrame:
    """Every distinct network with its epochs, energy, objective, P(meet budget) and expected score (unranked).

    Columns: shape (the representative), shapes (every shape it stands for, comma-separated), depth, size,
    widths, params, epochs, energy per datum (mean, 90% interval), total training energy at those epochs (mean,
    90% interval), inference energy per prediction, co2e_g (training + planned predictions; only when a grid
    intensity is given), p_meet, expected_score, tier (of the training working set), feasible, objective_j
    (mean, 90% interval), log_ws_bytes (training working set).
    """
    archs, groups = _candidates(profile, request)
    model = _accuracy_model(profile, request.dataset)
    params = np.array([a.params for a in archs])
    depth = np.array([a.depth for a in archs])
    shapes = [a.shape.value for a in archs]
    epochs, p_meet = _epochs_and_p(model, request, params, depth, shapes)
    energy = _energy_columns(profile, request, archs, epochs)
    head = {
        "shape": shapes,
        "shapes": [",".join(g) for g in groups],
        "depth": depth,
        "size": [a.target_size for a in archs],
        "widths": ["-".join(map(str, a.widths)) for a in archs],
        "params": params,
        "epochs": epochs,
    }
    tail = {
        "p_meet": p_meet,
        "expected_score": np.asarray(model.expected(params, depth, shapes, epochs), float),
        "feasible": p_meet >= request.confidence,
    }
    ordered = [k for k in energy if not k.startswith("objective") and k not in ("tier", "log_ws_bytes")]
    rest = {k: energy[k] for k in ("tier", "objective_j", "objective_p05_j", "objective_p95_j", "log_ws_bytes")}
    return pd.DataFrame({**head, **{k: energy[k] for k in ordered}, **tail, **rest})


def recommend(profile: Profile, request: RecommendRequest) -> Recommendation:
    """Rank the distinct networks that meet the accuracy budget with the requested confidence.

    Ties on the objective break towards fewer parameters, then higher P(meet). An infeasible budget is not an
    error: the table is empty, the verdict INFEASIBLE, and ``best_achievable`` names the best posterior-mean
    accuracy (or loss) at the epochs considered.
    """
    validate(request, profile)
    table = candidate_table(profile, request)
    regression = profile.accuracy[request.dataset].task == "regression"
    feasible = table[table["feasible"]]
    ranked = feasible.sort_values(["objective_j", "params", "p_meet"], ascending=[True, True, False], kind="stable")
    ranked = ranked.head(request.top).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    scores = table["expected_score"].to_numpy()
    best = float(scores.min() if regression else scores.max())
    front = table.iloc[pareto_front(table["objective_j"].to_numpy(), scores, higher_is_better=not regression)]
    return Recommendation(
        request=request,
        table=ranked,
        pareto=front.reset_index(drop=True),
        candidates=table,
        feasible=len(feasible),
        best_achievable=best,
        regression=regression,
        estimated=profile.estimated,
    )
