"""A question to the advisor: the request, its constraints and objective, checked before any work.

Every number of a request is range-checked in :func:`validate` (one line, :class:`InputError`), so the engine
(:mod:`advisor.engine`) and the candidate search (:mod:`advisor.candidates`) only ever see answerable requests.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from measurement.architecture import DEPTHS, GRID_LIMITS, MAX_BATCH, SIZES, parse_shape
from measurement.errors import InputError
from models.profile import Profile

JOULES_PER_KWH = 3.6e6
MAX_TOP = 10_000
MAX_EPOCHS = 10**6
MAX_PREDICTIONS = 10**18
MAX_GRID_G_PER_KWH = 5_000.0
"""Above any grid on record (coal is ~1,000 g CO2e/kWh)."""
MAX_SAMPLES = 10**12
AUTO = "auto"
MIN_LEARNING_RATE, MAX_LEARNING_RATE = 1e-7, 1.0


class Objective(enum.StrEnum):
    """What to minimise (the values are the names people type)."""

    ENERGY_PER_DATUM = "energy-per-datum"  # energy per training datum (BUTTER-E's quantity)
    TRAINING_ENERGY = "training-energy"  # energy/datum x train samples x epochs: the energy to reach the budget
    INFERENCE = "inference"  # energy per prediction
    LIFECYCLE = "lifecycle"  # training energy + planned predictions, joules


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
        learning_rate: Adam's learning rate the user will train with, or ``"auto"``: searched over
            ``models.accuracy.LEARNING_RATES``.
        batch_size: the training batch size the user will train with, or ``"auto"``: searched over
            ``models.accuracy.BATCH_SIZES`` (at most the training set).
        train_samples: training set size (default: the dataset's, from its accuracy model).
        predictions: planned predictions (the lifecycle objective's inference part).
        grid_g_per_kwh: grid carbon intensity; adds a CO2e column when set.
    """

    dataset: str
    accuracy: float
    confidence: float = 0.9
    constraints: Constraints = field(default_factory=Constraints)
    batch_size: int | str = AUTO
    learning_rate: float | str = AUTO
    inference_batch_size: int = 256
    epochs: int | str = AUTO
    train_samples: int | None = None
    predictions: int = 0
    objective: Objective = Objective.ENERGY_PER_DATUM
    grid_g_per_kwh: float | None = None
    top: int = 10


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
    for name, hi in (("inference_batch_size", MAX_BATCH), ("top", MAX_TOP)):
        _in_range(name.replace("_", " "), getattr(request, name), 1, hi)
    if request.batch_size != AUTO:
        _in_range("batch size (an integer or 'auto')", request.batch_size, 1, MAX_BATCH)
    if request.learning_rate != AUTO:
        _in_range(
            "learning rate (a number or 'auto')", request.learning_rate, MIN_LEARNING_RATE, MAX_LEARNING_RATE, False
        )
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


def _parse_count(value: Any, what: str, maximum: int) -> int | str:
    """``"auto"``, or a whole number in 1..``maximum`` (an int, or its text); InputError naming ``what``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if not text.isdigit() or len(text) > 12:
            raise InputError(f"{what} must be a whole number >= 1 or 'auto', got {value[:40]!r}")
        value = int(text)
    _in_range(f"{what} (an integer or 'auto')", value, 1, maximum)
    return int(value)


def parse_epochs(value: Any) -> int | str:
    """``"auto"``, or a whole number of epochs (an int, or text such as ``"96"``); InputError otherwise."""
    return _parse_count(value, "epochs", MAX_EPOCHS)


def parse_learning_rate(value: Any) -> float | str:
    """``"auto"``, or a learning rate (a number, or text such as ``"1e-3"``); InputError otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        try:
            value = float(text) if len(text) <= 40 else math.nan
        except ValueError:
            raise InputError(f"learning rate must be a number or 'auto', got {value[:40]!r}") from None
    _in_range("learning rate (a number or 'auto')", value, MIN_LEARNING_RATE, MAX_LEARNING_RATE, integer=False)
    return float(value)


def parse_batch_size(value: Any) -> int | str:
    """``"auto"``, or a whole batch size (an int, or text such as ``"64"``); InputError otherwise."""
    return _parse_count(value, "batch size", MAX_BATCH)


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
    rest["learning_rate"] = parse_learning_rate(rest.get("learning_rate", AUTO))
    rest["batch_size"] = parse_batch_size(rest.get("batch_size", AUTO))
    request = RecommendRequest(
        dataset=dataset, accuracy=accuracy, confidence=confidence, constraints=Constraints(**constraints), **rest
    )
    validate(request, profile)
    return request
