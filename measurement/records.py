"""What a run is, as data: train config, metered windows, phase and run records, run keys, the kinds a sweep,
a phase and a run's status take, the sweep's sentinel, noise floor and drift.

Torch-free on purpose: the store, the models and the advisor read and write these records without
loading torch. Only the harness (which produces them) and the network builder import torch.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import re
import statistics
from dataclasses import dataclass, field

from measurement.architecture import Architecture
from measurement.errors import InputError
from measurement.meters.base import MeterKind

DEFAULT_IDLE_S = 2.0
"""Length of the idle measurement before a sweep (and every ``idle_every_s``); 0 for the replay meter."""
DEFAULT_IDLE_EVERY_S = 300.0
"""How often a sweep (or each worker of a pool) measures idle power again."""

NO_SENTINEL = ""
"""A sweep's recorded sentinel when its plan has none (a probe). A recorded sentinel is a config key; None
means none was recorded (a store written before sweeps recorded theirs: the sentinel is inferred)."""

EXPORT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "sweep_kind",
    "hardware",
    "worker",
    "run_key",
    "shape",
    "depth",
    "target_size",
    "params",
    "widths_json",
    "input_dim",
    "output_dim",
    "dataset",
    "dataset_hash",
    "task",
    "train_samples",
    "train_bytes",
    "batch_size",
    "train_batch_size",
    "learning_rate",
    "constant_accuracy",
    "epochs_trained",
    "threads",
    "device",
    "meter",
    "meter_kind",
    "idle_power_w",
    "phase",
    "energy_per_datum_j",
    "raw_energy_per_datum_j",
    "spread",
    "samples_per_s",
    "test_loss",
    "test_accuracy",
    "wall_s",
    "status",
    "reject_reason",
    "finished_unix_s",
    "sentinel",
)
"""Columns of a run export (``advisor runs``, ``RunStore.frame``): one row per run and phase. ``hardware`` is
the digest of the machine the run was measured on, ``worker`` what measured it (``local``, or a Dask worker),
``sentinel`` 1 for a run of its sweep's sentinel config, else 0 (empty: the sweep recorded none, an older store),
``learning_rate`` Adam's learning rate the run trained with (empty for a user's measured program),
``constant_accuracy`` the test accuracy of always predicting the training set's most frequent class (empty for
regression, measured programs and older stores)."""

CURVE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "sweep_kind",
    "hardware",
    "run_key",
    "dataset",
    "task",
    "shape",
    "depth",
    "params",
    "input_dim",
    "output_dim",
    "train_samples",
    "batch_size",
    "learning_rate",
    "epoch",
    "train_loss",
    "test_loss",
    "test_accuracy",
)
"""Columns of a learning-curve export (``advisor runs --curves``, ``RunStore.curves_frame``): one row per run
and checkpoint; ``epoch`` is the epochs trained at the checkpoint, ``train_loss`` the mean loss of that epoch's
steps, ``test_accuracy`` empty for regression; ``batch_size`` and ``learning_rate`` are the run's training recipe."""


class SweepKind(enum.StrEnum):
    """What a sweep measures: a calibration of the energy model, a probe of one data set's accuracy, or a user's
    own program (``advisor measure``: one run per sweep, left out of fits unless asked for), or a recheck of the
    machine's state against a profile (``advisor calibrate --recheck``: a fixed panel, never in fits)."""

    CALIBRATE = "calibrate"
    PROBE = "probe"
    MEASURE = "measure"
    RECHECK = "recheck"


class SweepStatus(enum.StrEnum):
    """Where a sweep stands in the store."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"  # stopped by the user (Ctrl-C, a stop request)
    PARTIAL = "partial"  # ended with runs left (out of budget, or a policy stopped it)
    COMPLETE = "complete"


class Phase(enum.StrEnum):
    """The two measured phases of a run."""

    TRAIN = "train"
    INFERENCE = "inference"


class RunStatus(enum.StrEnum):
    """Whether a run (or, in an export, a run's phase) was accepted; a measured program that failed (a non-zero
    exit, an exception) is ``failed``: recorded, never a measurement."""

    OK = "ok"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True)
class TrainConfig:
    """How to train and measure. Defaults are BUTTER's (Adam, lr 1e-4, batch 256).

    Attributes:
        epochs: training epochs before the test metrics are taken; the metered windows come after.
        windows: metered windows per phase.
        window_s: target length of one window; at least one step is always taken.
        warmup_steps: unmetered steps before the first window.
        inference_batch_size: batch size of the forward-only phase.
        threads: torch intra-op threads (1 by default: far less noise on small shared machines).
    """

    batch_size: int = 256
    learning_rate: float = 1e-4
    epochs: int = 0
    windows: int = 5
    window_s: float = 0.25
    warmup_steps: int = 3
    inference_batch_size: int = 256
    device: str = "cpu"
    threads: int = 1
    seed: int = 0


@dataclass(frozen=True)
class Window:
    """One metered window: raw reading, datums processed, idle-subtracted energy."""

    energy_j: float
    duration_s: float
    datums: int
    standardised_j: float
    outlier: bool = False

    @property
    def energy_per_datum_j(self) -> float:
        """Idle-standardised energy per datum."""
        return self.standardised_j / self.datums

    @property
    def samples_per_s(self) -> float:
        """Throughput of the window."""
        return self.datums / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class PhaseResult:
    """One phase (train or inference) of one run."""

    phase: Phase
    windows: tuple[Window, ...]
    energy_per_datum_j: float
    raw_energy_per_datum_j: float
    spread: float
    samples_per_s: float
    reject_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", Phase(self.phase))


@dataclass(frozen=True)
class CurvePoint:
    """One learning-curve checkpoint of a run (unmetered: taken before the metered windows).

    Attributes:
        epoch: epochs trained at the checkpoint (1, 2, 4, … and the run's last; warm-up included).
        train_loss: mean training loss over the last epoch's steps (over every step before one epoch).
        test_loss: loss on the test set.
        test_accuracy: accuracy on the test set (None for regression).
    """

    epoch: float
    train_loss: float
    test_loss: float
    test_accuracy: float | None


@dataclass(frozen=True)
class RunResult:
    """Everything one training run measured; ``curve`` is its learning curve (empty when it trained no epochs)."""

    arch: Architecture
    meter: str
    meter_kind: MeterKind
    idle_power_w: float
    train: PhaseResult
    inference: PhaseResult
    test_loss: float
    test_accuracy: float | None
    epochs_trained: float
    wall_s: float
    extra: dict[str, float] = field(default_factory=dict)
    curve: tuple[CurvePoint, ...] = ()

    @property
    def reject_reason(self) -> str | None:
        """The first phase's reject reason, if any."""
        return self.train.reject_reason or self.inference.reject_reason


@dataclass(frozen=True)
class CommittedRun:
    """A run already in the store, as a sweep's summary counts it (see ``RunStore.committed_runs``).

    Attributes:
        run_key: the run's key within its sweep.
        arch: the architecture it trained.
        batch_size: its training batch size.
        energy_per_datum_j: idle-standardised training energy per datum (None when it was not finite).
        ok: whether the run and its training phase were accepted.
    """

    run_key: str
    arch: Architecture
    batch_size: int
    energy_per_datum_j: float | None
    ok: bool


@dataclass(frozen=True)
class RunScore:
    """How well a committed run trained (see ``RunStore.run_scores``): what successive halving ranks by.

    Attributes:
        run_key: the run's key within its sweep.
        params: its network's parameters (ties go to fewer).
        test_loss: its final test loss (None when not finite: it diverged).
        test_accuracy: its final test accuracy (None for regression).
    """

    run_key: str
    params: int
    test_loss: float | None
    test_accuracy: float | None

    @property
    def score(self) -> float:
        """Higher is better: the test accuracy, or for regression minus the test loss; -inf for a diverged run."""
        if self.test_accuracy is not None:
            return self.test_accuracy
        return -self.test_loss if self.test_loss is not None else float("-inf")


_KEY = re.compile(
    r"(?P<shape>[a-z0-9_]+)/d(?P<depth>\d+)/s(?P<size>\d+)/b(?P<batch>\d+)(?:/lr(?P<lr>[0-9.]+(?:e[+-]?\d+)?))?"
    r"(?:/x(?P<data>\d+))?(?:/r(?P<repeat>\d+))?"
)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan; ``repeat`` > 0 re-measures an earlier config to estimate noise and drift.

    ``data`` indexes the sweep's data sets (0: its first, :attr:`measurement.sweep.events.SweepSpec.dataset`);
    ``learning_rate`` is Adam's for this run (None: the sweep config's). Its key
    (``shape/dD/sSIZE/bBATCH/lrLR/xDATA/rREPEAT``, ``/lrLR`` only when the run sets a learning rate and ``/xDATA``
    only when ``data`` > 0, so keys of plans without them are unchanged) names the run in the store;
    :func:`parse_run_key` reads it back.
    """

    shape: str
    depth: int
    size: int
    batch_size: int
    repeat: int = 0
    data: int = 0
    learning_rate: float | None = None

    @property
    def config_key(self) -> str:
        """The config (data set and learning rate included) without its repeat index."""
        lr = f"/lr{self.learning_rate:g}" if self.learning_rate is not None else ""
        data = f"/x{self.data}" if self.data else ""
        return f"{self.shape}/d{self.depth}/s{self.size}/b{self.batch_size}{lr}{data}"

    @property
    def key(self) -> str:
        """Unique key within a sweep."""
        return f"{self.config_key}/r{self.repeat}"

    def learning_rate_or(self, default: float) -> float:
        """The learning rate this run trains with: its own, else ``default`` (the sweep config's)."""
        return default if self.learning_rate is None else self.learning_rate

    def to_dict(self) -> dict:
        """JSON-ready form; ``data`` only when > 0 and ``learning_rate`` only when set (a plan without them
        serialises, and hashes, as before)."""
        out = {
            "shape": self.shape,
            "depth": self.depth,
            "size": self.size,
            "batch_size": self.batch_size,
            "repeat": self.repeat,
        }
        data = {"data": self.data} if self.data else {}
        lr = {"learning_rate": self.learning_rate} if self.learning_rate is not None else {}
        return out | data | lr


def parse_run_key(key: str) -> PlannedRun:
    """The run a key names (the inverse of :attr:`PlannedRun.key`; no ``/rN`` is repeat 0, no ``/xN`` data 0,
    no ``/lrLR`` the sweep's learning rate; a learning rate reads back as the key wrote it, to 6 digits).

    Raises:
        InputError: for text that is not a run key.
    """
    match = _KEY.fullmatch(str(key))
    if match is None:
        raise InputError(f"not a run key: {key!r} (expected shape/dD/sSIZE/bBATCH[/lrLR][/xDATA]/rREPEAT)")
    return PlannedRun(
        shape=match["shape"],
        depth=int(match["depth"]),
        size=int(match["size"]),
        batch_size=int(match["batch"]),
        repeat=int(match["repeat"] or 0),
        data=int(match["data"] or 0),
        learning_rate=float(match["lr"]) if match["lr"] else None,
    )


def config_key(run_key: str) -> str:
    """The config part of a run key (repeats of one config share it)."""
    return parse_run_key(run_key).config_key


def relative_difference(a: float, b: float) -> float:
    """|a - b| relative to their mean: how two repeats of one config disagree."""
    return abs(a - b) / ((a + b) / 2)


def repeat_differences(values: list[float]) -> list[float]:
    """Relative differences of consecutive repeats of one config, in measurement order.

    Consecutive pairs, not every pair: a sentinel config re-measured throughout a sweep would otherwise
    count its far-apart pairs (drift, not repeat noise) many times over.
    """
    return [relative_difference(a, b) for a, b in itertools.pairwise(values)]


def _ok_train(frame):
    """The accepted training-phase rows of a run export, in commit order."""
    ok = frame[(frame["status"] == RunStatus.OK) & (frame["phase"] == Phase.TRAIN)]
    return ok.sort_values("run_id", kind="stable") if "run_id" in ok else ok


def sentinel_key(energies: dict[str, list[float]], recorded: str | None) -> str | None:
    """The config key of a sweep's sentinel: the one its plan recorded (:data:`NO_SENTINEL`: none), or, for a
    sweep that recorded none (an older store), the config measured most often (ties: the one measured first,
    as the planner puts the sentinel first).

    Args:
        energies: the sweep's accepted training energies per config key, in measurement order.
        recorded: the sentinel the sweep recorded (None: not recorded).
    """
    if recorded is not None:
        return recorded or None
    if not energies:
        return None
    return max(energies, key=lambda k: len(energies[k]))  # max keeps the first of equals: insertion order


def sweep_repeat_differences(energies: dict[str, list[float]], recorded: str | None = None) -> list[float]:
    """The repeat differences of one sweep (energies per config key, in measurement order), its sentinel left
    out: the sentinel's pairs lie far apart in time and would fold the drift into the noise floor the drift
    is then judged against. An inferred sentinel (``recorded`` None) is left out only once it has
    :data:`MIN_DRIFT_MEASUREMENTS` measurements (before that it may be any repeated config)."""
    skip = sentinel_key(energies, recorded)
    if recorded is None and skip is not None and len(energies[skip]) < MIN_DRIFT_MEASUREMENTS:
        skip = None
    return [d for key, values in energies.items() if key != skip for d in repeat_differences(values)]


def _energies_by_config(group) -> dict[str, list[float]]:
    """One sweep's accepted training energies per config key, in commit order."""
    energies: dict[str, list[float]] = {}
    for key, energy in zip(group["run_key"].map(config_key), group["energy_per_datum_j"], strict=True):
        energies.setdefault(key, []).append(float(energy))
    return energies


def _recorded_sentinel(group) -> str | None:
    """The sentinel one sweep's export rows record: the config key of a row flagged 1, :data:`NO_SENTINEL` when
    the flags are there but none is set, None when there are no flags (an older store or export)."""
    if "sentinel" not in group:
        return None
    flags = group["sentinel"]
    if not flags.notna().any():
        return None
    flagged = group.loc[flags == 1, "run_key"]
    return config_key(flagged.iloc[0]) if len(flagged) else NO_SENTINEL


def noise_floor(frame) -> tuple[float | None, int]:
    """Median relative difference between consecutive repeats of one config (train phase, ok runs, each
    sweep's sentinel left out), and the number of pairs.

    ``frame`` is a run export (:data:`EXPORT_COLUMNS`); repeats pair only within one sweep.
    """
    ok = _ok_train(frame)
    diffs: list[float] = []
    for _, group in ok.groupby("sweep_id", sort=False):
        diffs += sweep_repeat_differences(_energies_by_config(group), _recorded_sentinel(group))
    return (statistics.median(diffs) if diffs else None), len(diffs)


def calibration_noise_floor(frame) -> float | None:
    """The repeat-noise floor of the calibration runs alone: what transfer scores and drift are judged
    against (probe runs repeat too, but on other data sets and for another purpose)."""
    if "sweep_kind" not in frame:
        return noise_floor(frame)[0]
    return noise_floor(frame[frame["sweep_kind"] == SweepKind.CALIBRATE])[0]


MIN_DRIFT_MEASUREMENTS = 4


@dataclass(frozen=True)
class Drift:
    """How the machine's speed moved over a sweep, from its sentinel config.

    Attributes:
        value: median of the last third of the sentinel's measurements over the median of the first third,
            minus 1 (+0.1: the sentinel cost 10% more at the end); None with fewer than
            :data:`MIN_DRIFT_MEASUREMENTS` measurements.
        count: the sentinel's accepted measurements.
        config_key: the sentinel's config key (None when the sweep has no sentinel measurement).
    """

    value: float | None
    count: int
    config_key: str | None = None
    sweep_id: int | None = None

    def is_real(self, noise_floor: float | None) -> bool | None:
        """Whether the drift exceeds twice the repeat-noise floor (None when either is unknown)."""
        if self.value is None or noise_floor is None:
            return None
        return abs(self.value) > 2 * noise_floor


def drift_of(values: list[float]) -> float | None:
    """Median of the last third over median of the first third, minus 1; None for fewer than 4 values."""
    if len(values) < MIN_DRIFT_MEASUREMENTS:
        return None
    third = len(values) // 3
    return statistics.median(values[-third:]) / statistics.median(values[:third]) - 1


def sentinel_drift(energies: dict[str, list[float]], recorded: str | None = None) -> Drift:
    """The drift of a sweep from its accepted training energies per config key, in measurement order.

    Args:
        recorded: the sentinel the sweep recorded (:func:`sentinel_key`; None: inferred, as for an older
            store). :class:`measurement.sweep.events.SweepTally` and :func:`drift` both use this rule.
    """
    key = sentinel_key(energies, recorded)
    if key is None or key not in energies:
        return Drift(None, 0)
    return Drift(drift_of(energies[key]), len(energies[key]), key)


def drift(frame, sweep_id: int | None = None) -> Drift:
    """The sentinel drift of one sweep in a run export (:data:`EXPORT_COLUMNS`); the same figure as the
    sweep's own summary. The sentinel is the one the sweep recorded (the export's ``sentinel`` flags),
    else, for an older store or export, inferred (:func:`sentinel_key`).

    Args:
        sweep_id: the sweep; None: the sweep whose sentinel was measured most often (the calibration).
    """
    ok = _ok_train(frame)
    found = Drift(None, 0)
    for sweep, group in ok.groupby("sweep_id", sort=True):
        if sweep_id is not None and sweep != sweep_id:
            continue
        candidate = sentinel_drift(_energies_by_config(group), _recorded_sentinel(group))
        if candidate.count > found.count:
            found = dataclasses.replace(candidate, sweep_id=int(sweep))
    return found
