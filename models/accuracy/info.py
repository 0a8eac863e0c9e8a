"""What an accuracy posterior was fit on (:class:`AccuracyInfo`), in the profile's JSON form, checked on load."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from measurement.architecture import BEYOND_GRID_LIMITS, SHAPES
from models import schema
from models.sampling import Diagnostics

ACCURACY_VERSION = "accuracy-recipe-1"
TASKS = ("multiclass", "binary", "regression")
_MAX_FRONTIER = 100
_MAX_CONFIGS = 5_000
FRONTIER_MARGIN = 0.02
"""A probed run within this many accuracy points of the best probed run is near the frontier."""
REGRESSION_FRONTIER_FACTOR = 1.25
"""A regression run whose test loss is within this factor of the best probed one is near the frontier."""


@dataclass(frozen=True)
class ProbedRun:
    """One probed run, at its best checkpoint: the network, the recipe, the epochs and the score there.

    Attributes:
        score: test accuracy (classification) or test loss (regression) at ``epochs``.
    """

    shape: str
    depth: int
    params: int
    learning_rate: float
    batch_size: int
    epochs: float
    score: float

    @property
    def compute(self) -> float:
        """Parameters x epochs: what training it to ``epochs`` costs, up to the data set's size and the
        machine (for ranking runs by cost)."""
        return float(self.params) * self.epochs

    def near(self, best: ProbedRun, task: str) -> bool:
        """Whether this run scored within :data:`FRONTIER_MARGIN` accuracy points of ``best`` (a regression's
        test loss: within :data:`REGRESSION_FRONTIER_FACTOR` times it)."""
        if task == "regression":
            return self.score <= best.score * REGRESSION_FRONTIER_FACTOR
        return self.score >= best.score - FRONTIER_MARGIN

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ProbedRun:
        """Read and check the JSON form."""
        data = schema.obj(data, where)
        shape = schema.text(data, "shape", where)
        if shape not in {s.value for s in SHAPES}:
            raise schema.SchemaError(f"{where}.shape: unknown shape {shape[:40]!r}")
        return cls(
            shape=shape,
            depth=schema.integer(data, "depth", where, 1, 10_000),
            params=schema.integer(data, "params", where, 1, 2**50),
            learning_rate=schema.number(data, "learning_rate", where, 1e-12, 100.0),
            batch_size=schema.integer(data, "batch_size", where, 1, 2**31),
            epochs=schema.number(data, "epochs", where, 0.0, 1e7),
            score=schema.number(data, "score", where),
        )


@dataclass(frozen=True)
class ProbedConfig:
    """A probed (network, recipe): the configs whose own offset a posterior holds (``config_mean``)."""

    shape: str
    depth: int
    params: int
    learning_rate: float
    batch_size: int

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ProbedConfig:
        """Read and check the JSON form."""
        run = ProbedRun.from_dict({**schema.obj(data, where), "epochs": 1.0, "score": 0.0}, where)
        return cls(run.shape, run.depth, run.params, run.learning_rate, run.batch_size)


@dataclass(frozen=True)
class AccuracyInfo:
    """What an accuracy posterior was fit on: the dataset's task and dims, the probed ranges, diagnostics.

    Attributes:
        log_params_range: ln parameters of the smallest and largest probed network.
        epochs: the median epochs the probe runs trained.
        log_epochs_range: ln epochs of the earliest and latest checkpoint observed.
        log_params_ref: the ln parameters the rate's size slope is centred on (a constant of the fit).
        log_lr_range: ln learning rate of the lowest and highest probed recipe.
        log_batch_range: ln batch size of the smallest and largest probed recipe.
        log_lr_ref: the ln learning rate the recipe's terms are centred on (the probes' median).
        log_batch_ref: the ln batch size the recipe's terms are centred on (the probes' median).
        frontier: the probed configs with the best scores and the cost front (the cheapest at each score),
            best first (what an empty answer names and ``advisor probe --extend`` centres on).
        configs: the probed configs, in the order of the posterior's ``config_mean`` and ``config_var``
            (empty for a posterior fit before configs and seeds were told apart: no config has its own offset).
    """

    task: str
    chance: float
    log_params_range: tuple[float, float]
    runs: int
    epochs: float
    input_dim: int
    train_samples: int
    output_dim: int
    best_observed: float
    log_epochs_range: tuple[float, float]
    log_params_ref: float
    diagnostics: Diagnostics
    log_lr_range: tuple[float, float]
    log_batch_range: tuple[float, float]
    log_lr_ref: float
    log_batch_ref: float
    frontier: tuple[ProbedRun, ...] = ()
    configs: tuple[ProbedConfig, ...] = ()
    version: str = ACCURACY_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        ranges = ("log_params_range", "log_epochs_range", "log_lr_range", "log_batch_range")
        return {
            **asdict(self),
            **{name: list(getattr(self, name)) for name in ranges},
            "frontier": [asdict(run) for run in self.frontier],
            "configs": [asdict(config) for config in self.configs],
            "diagnostics": self.diagnostics.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> AccuracyInfo:
        """Read and check the JSON form (task known, dims and counts in range, the ranges ordered)."""
        data = schema.obj(data, where)
        task = schema.text(data, "task", where)
        if task not in TASKS:
            raise schema.SchemaError(f"{where}.task: expected one of {', '.join(TASKS)}")
        version = schema.text(data, "version", where)
        if version != ACCURACY_VERSION:
            raise schema.SchemaError(
                f"{where}.version: accuracy model {version!r}, this advisor uses "
                f"{ACCURACY_VERSION!r}: re-run 'advisor fit'"
            )
        frontier = schema.array(data, "frontier", where, max_len=_MAX_FRONTIER)
        configs = schema.array(data, "configs", where, max_len=_MAX_CONFIGS) if "configs" in data else []
        return cls(
            task=task,
            chance=schema.number(data, "chance", where, 0.0, 1.0),
            log_params_range=_range(data, "log_params_range", where, 0.0, 60.0),
            runs=schema.integer(data, "runs", where, 1, 10**7),
            epochs=schema.number(data, "epochs", where, 0, 1e7),
            input_dim=schema.integer(data, "input_dim", where, *BEYOND_GRID_LIMITS.dim),
            train_samples=schema.integer(data, "train_samples", where, 1, 2**40),
            output_dim=schema.integer(data, "output_dim", where, *BEYOND_GRID_LIMITS.dim),
            best_observed=schema.number(data, "best_observed", where),
            log_epochs_range=_range(data, "log_epochs_range", where, -30.0, 30.0),
            log_params_ref=schema.number(data, "log_params_ref", where, 0.0, 60.0),
            diagnostics=Diagnostics.from_dict(data.get("diagnostics"), f"{where}.diagnostics"),
            log_lr_range=_range(data, "log_lr_range", where, -30.0, 5.0),
            log_batch_range=_range(data, "log_batch_range", where, 0.0, 25.0),
            log_lr_ref=schema.number(data, "log_lr_ref", where, -30.0, 5.0),
            log_batch_ref=schema.number(data, "log_batch_ref", where, 0.0, 25.0),
            frontier=tuple(ProbedRun.from_dict(run, f"{where}.frontier[{i}]") for i, run in enumerate(frontier)),
            configs=tuple(ProbedConfig.from_dict(c, f"{where}.configs[{i}]") for i, c in enumerate(configs)),
            version=version,
        )


def _range(data: dict, key: str, where: str, low: float, high: float) -> tuple[float, float]:
    """An ordered [low, high] pair within bounds."""
    pair = schema.array(data, key, where, max_len=2)
    if len(pair) != 2:
        raise schema.SchemaError(f"{where}.{key}: expected [low, high]")
    bounds = {"low": pair[0], "high": pair[1]}
    first = schema.number(bounds, "low", f"{where}.{key}", low, high)
    return first, schema.number(bounds, "high", f"{where}.{key}", first, high)
