"""What a run is, as data: train config, metered windows, phase and run records, run keys, the noise floor.

Torch-free on purpose: the store, the models and the advisor read and write these records without
loading torch. Only the harness (which produces them) and the network builder import torch.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from measurement.architecture import Architecture
from measurement.errors import InputError
from measurement.meters.base import MeterKind

DEFAULT_IDLE_S = 2.0
"""Length of the idle measurement before a sweep (and every ``idle_every_s``); 0 for the replay meter."""

EXPORT_COLUMNS: tuple[str, ...] = (
    "run_id", "sweep_id", "sweep_kind", "hardware", "worker", "run_key", "shape", "depth", "target_size",
    "params", "widths_json", "input_dim", "output_dim", "dataset", "dataset_hash", "task", "train_samples",
    "train_bytes", "batch_size", "train_batch_size", "epochs_trained", "threads", "device", "meter",
    "meter_kind", "idle_power_w", "phase", "energy_per_datum_j", "raw_energy_per_datum_j", "spread",
    "samples_per_s", "test_loss", "test_accuracy", "wall_s", "status", "reject_reason", "finished_unix_s",
)  # fmt: skip
"""Columns of a run export (``advisor runs``, ``RunStore.frame``): one row per run and phase. ``hardware`` is
the digest of the machine the run was measured on, ``worker`` what measured it (``local``, or a Dask worker)."""


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

    phase: str
    windows: tuple[Window, ...]
    energy_per_datum_j: float
    raw_energy_per_datum_j: float
    spread: float
    samples_per_s: float
    reject_reason: str | None = None


@dataclass(frozen=True)
class RunResult:
    """Everything one training run measured."""

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


_KEY = re.compile(r"(?P<shape>[a-z0-9_]+)/d(?P<depth>\d+)/s(?P<size>\d+)/b(?P<batch>\d+)(?:/r(?P<repeat>\d+))?")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan; ``repeat`` > 0 re-measures an earlier config to estimate noise.

    Its key (``shape/dD/sSIZE/bBATCH/rREPEAT``) names the run in the store; :func:`parse_run_key` reads it back.
    """

    shape: str
    depth: int
    size: int
    batch_size: int
    repeat: int = 0

    @property
    def config_key(self) -> str:
        """The config without its repeat index."""
        return f"{self.shape}/d{self.depth}/s{self.size}/b{self.batch_size}"

    @property
    def key(self) -> str:
        """Unique key within a sweep."""
        return f"{self.config_key}/r{self.repeat}"


def parse_run_key(key: str) -> PlannedRun:
    """The run a key names (the inverse of :attr:`PlannedRun.key`; a key without ``/rN`` is repeat 0).

    Raises:
        InputError: for text that is not a run key.
    """
    match = _KEY.fullmatch(str(key))
    if match is None:
        raise InputError(f"not a run key: {key!r} (expected shape/dD/sSIZE/bBATCH/rREPEAT)")
    return PlannedRun(match["shape"], int(match["depth"]), int(match["size"]), int(match["batch"]),
                      int(match["repeat"] or 0))  # fmt: skip


def config_key(run_key: str) -> str:
    """The config part of a run key (repeats of one config share it)."""
    return parse_run_key(run_key).config_key


def relative_difference(a: float, b: float) -> float:
    """|a - b| relative to their mean: how two repeats of one config disagree."""
    return abs(a - b) / ((a + b) / 2)


def repeat_differences(values: list[float]) -> list[float]:
    """Relative differences of every pair of repeats of one config."""
    return [relative_difference(values[i], values[j]) for i in range(len(values)) for j in range(i + 1, len(values))]


def noise_floor(frame) -> tuple[float | None, int]:
    """Median relative difference between repeats of the same config (train phase, ok runs), and the pairs.

    ``frame`` is a run export (:data:`EXPORT_COLUMNS`); repeats pair only within one sweep.
    """
    ok = frame[(frame["status"] == "ok") & (frame["phase"] == "train")]
    if ok.empty:
        return None, 0
    configs = ok["run_key"].map(config_key)
    diffs: list[float] = []
    for _, group in ok.groupby([ok["sweep_id"], configs]):
        diffs += repeat_differences(group["energy_per_datum_j"].to_list())
    return (statistics.median(diffs) if diffs else None), len(diffs)
