"""Train one catalogue network and measure the energy of its training and inference phases.

Protocol (why each step is there):
- warm-up steps first, unmetered: allocator, caches and thread pools settle;
- training is metered as several windows of whole steps, each long enough for the meter to resolve
  (``window_s``); the run's figure is the median window, its spread the window IQR / median;
- windows whose throughput falls below half the run's upper-quartile throughput are outliers (the machine was busy);
  they are kept, flagged, and left out of the median; a run with a majority of outliers is rejected;
- on CUDA the device is synchronised before every meter read;
- idle power (measured by the sweep) times the window length is subtracted: both values are kept;
- inference is its own phase: forward-only passes over the test set, metered the same way.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from measurement.architecture import Architecture
from measurement.datasets import Dataset, Task
from measurement.meters.base import EnergyMeter, MeterError, MeterKind, Reading
from measurement.network import build_module

OUTLIER_THROUGHPUT_RATIO = 0.5
MIN_WINDOWS = 3


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


def _loss_fn(task: Task) -> nn.Module:
    if task is Task.MULTICLASS:
        return nn.CrossEntropyLoss()
    if task is Task.BINARY:
        return nn.BCEWithLogitsLoss()
    return _SigmoidMSE()


class _SigmoidMSE(nn.Module):
    """Sigmoid output + MSE on min-max scaled targets (BUTTER's regression head)."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(torch.sigmoid(logits), target)


def _tensors(dataset: Dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    def target(y: np.ndarray) -> torch.Tensor:
        if dataset.task is Task.MULTICLASS:
            return torch.as_tensor(y, dtype=torch.long, device=device)
        return torch.as_tensor(y, dtype=torch.float32, device=device)[:, None]

    return (
        torch.as_tensor(dataset.x_train, dtype=torch.float32, device=device),
        target(dataset.y_train),
        torch.as_tensor(dataset.x_test, dtype=torch.float32, device=device),
        target(dataset.y_test),
    )


def _batches(x: torch.Tensor, y: torch.Tensor, batch: int, gen: torch.Generator) -> Iterator[tuple]:
    """Shuffled mini-batches, epoch after epoch, forever."""
    n = x.shape[0]
    while True:
        order = torch.randperm(n, generator=gen).to(x.device)
        for start in range(0, n, batch):
            index = order[start : start + batch]
            yield x[index], y[index]


class _Sync:
    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def _metered(
    meter: EnergyMeter, idle_power_w: float, sync: Callable[[], None], work: Callable[[], int]
) -> tuple[Window, Reading]:
    """One metered window. A meter that fails (unreadable counter, NVML error …) rejects the window
    with the error as its reason instead of ending the sweep."""
    sync()
    try:
        meter.start()
    except MeterError as exc:
        datums = work()
        return Window(math.nan, 1.0, datums, math.nan), _failed(meter, exc)
    datums = work()
    sync()
    try:
        reading = meter.stop()
    except MeterError as exc:
        return Window(math.nan, 1.0, datums, math.nan), _failed(meter, exc)
    window = Window(reading.energy_j, reading.duration_s, datums, reading.energy_j - idle_power_w * reading.duration_s)
    return window, reading


def _measure_windows(
    meter: EnergyMeter,
    idle_power_w: float,
    sync: Callable[[], None],
    config: TrainConfig,
    late: Callable[[], bool],
    work: Callable[[], int],
) -> tuple[list[Window], list[Reading]]:
    """``config.windows`` metered windows of ``work``; past the deadline, stop after MIN_WINDOWS."""
    windows, readings = [], []
    for index in range(config.windows):
        if index >= MIN_WINDOWS and late():
            break
        window, reading = _metered(meter, idle_power_w, sync, work)
        windows.append(window)
        readings.append(reading)
    return windows, readings


def _failed(meter: EnergyMeter, exc: MeterError) -> Reading:
    return Reading(math.nan, 1.0, meter.name, meter.kind, reject_reason=f"meter error: {exc}")


def summarise(phase: str, windows: list[Window], readings: list[Reading]) -> PhaseResult:
    """Flag throughput outliers, take the median of the rest, and apply the quality filters."""
    reason = next((r.reject_reason for r in readings if r.reject_reason), None)
    reference_rate = float(np.percentile([w.samples_per_s for w in windows], 75))
    flagged = [replace(w, outlier=w.samples_per_s < OUTLIER_THROUGHPUT_RATIO * reference_rate) for w in windows]
    kept = [w for w in flagged if not w.outlier]
    if reason is None and len(kept) * 2 < len(flagged):
        reason = f"throughput outliers in {len(flagged) - len(kept)} of {len(flagged)} windows"
    per_datum = [w.energy_per_datum_j for w in kept] or [math.nan]
    raw = [w.energy_j / w.datums for w in kept] or [math.nan]
    median = statistics.median(per_datum)
    if reason is None and not median > 0:
        reason = "non-positive idle-standardised energy (idle power above the run's power)"
    spread = 0.0
    if len(per_datum) >= 4 and median > 0:
        q = np.percentile(per_datum, [25, 75])
        spread = float((q[1] - q[0]) / median)
    rate = statistics.median(w.samples_per_s for w in kept) if kept else 0.0
    return PhaseResult(phase, tuple(flagged), median, statistics.median(raw), spread, rate, reason)


def train_and_measure(
    arch: Architecture,
    dataset: Dataset,
    meter: EnergyMeter,
    config: TrainConfig = TrainConfig(),
    idle_power_w: float = 0.0,
    clock: Callable[[], float] = time.perf_counter,
    deadline: float | None = None,
) -> RunResult:
    """Train ``arch`` on ``dataset`` and measure both phases with ``meter``.

    ``deadline`` (a ``clock()`` value) cuts the run short when passed: each phase then stops after
    ``MIN_WINDOWS`` windows, so a sweep never overruns its budget by a whole run.

    Raises:
        ValueError: if the architecture's dims do not match the dataset.
    """
    if (arch.input_dim, arch.output_dim) != (dataset.input_dim, dataset.output_dim):
        raise ValueError(
            f"{arch.label} is sized for {arch.input_dim}->{arch.output_dim}, dataset is "
            f"{dataset.input_dim}->{dataset.output_dim}"
        )
    began = clock()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    sync = _Sync(device)
    model = build_module(arch).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = _loss_fn(dataset.task)
    x_train, y_train, x_test, y_test = _tensors(dataset, device)
    gen = torch.Generator().manual_seed(config.seed)
    batches = _batches(x_train, y_train, config.batch_size, gen)
    datums_done = 0

    def train_steps(count: int) -> int:
        nonlocal datums_done
        datums = 0
        for _ in range(count):
            xb, yb = next(batches)
            optimiser.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            optimiser.step()
            datums += xb.shape[0]
        datums_done += datums
        return datums

    def late() -> bool:
        return deadline is not None and clock() > deadline

    sync()
    t0 = clock()
    warm = 0
    while warm < max(config.warmup_steps, 1) and (warm == 0 or clock() - t0 < config.window_s):
        train_steps(1)
        warm += 1
    sync()
    step_s = max((clock() - t0) / warm, 1e-6)
    steps_per_window = max(1, math.ceil(config.window_s / step_s))
    epoch_datums = dataset.train_samples * config.epochs
    while datums_done < epoch_datums:  # accuracy is taken after the requested epochs (partial last batches)
        train_steps(math.ceil((epoch_datums - datums_done) / config.batch_size))
    epochs_trained = datums_done / dataset.train_samples
    test_loss, test_accuracy = _evaluate(model, loss_fn, dataset.task, x_test, y_test)
    train_windows, train_readings = _measure_windows(
        meter, idle_power_w, sync, config, late, lambda: train_steps(steps_per_window)
    )
    inference_windows, inference_readings = _measure_inference(model, x_test, meter, idle_power_w, sync, config, late)
    return RunResult(
        arch=arch,
        meter=meter.name,
        meter_kind=meter.kind,
        idle_power_w=idle_power_w,
        train=summarise("train", train_windows, train_readings),
        inference=summarise("inference", inference_windows, inference_readings),
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        epochs_trained=epochs_trained,
        wall_s=clock() - began,
        extra={"steps_per_window": steps_per_window, "warmup_step_s": step_s},
    )


@torch.no_grad()
def _evaluate(model: nn.Module, loss_fn: nn.Module, task: Task, x: torch.Tensor, y: torch.Tensor):
    model.eval()
    logits = model(x)
    loss = float(loss_fn(logits, y))
    if task is Task.MULTICLASS:
        accuracy = float((logits.argmax(dim=1) == y).float().mean())
    elif task is Task.BINARY:
        accuracy = float(((logits > 0).float() == y).float().mean())
    else:
        accuracy = None
    model.train()
    return loss, accuracy


@torch.no_grad()
def _measure_inference(model, x_test, meter, idle_power_w, sync, config: TrainConfig, late):
    model.eval()
    batch = config.inference_batch_size

    def one_pass() -> int:
        for start in range(0, x_test.shape[0], batch):
            model(x_test[start : start + batch])
        return int(x_test.shape[0])

    one_pass()  # warm-up
    sync()
    t0 = time.perf_counter()
    one_pass()
    sync()
    passes = max(1, math.ceil(config.window_s / max(time.perf_counter() - t0, 1e-6)))
    windows, readings = _measure_windows(
        meter, idle_power_w, sync, config, late, lambda: sum(one_pass() for _ in range(passes))
    )
    model.train()
    return windows, readings


def measure_idle_power(
    meter: EnergyMeter, duration_s: float = 2.0, sleep: Callable[[float], None] = time.sleep
) -> float:
    """Mean power over an idle interval (the process sleeps), used to standardise runs."""
    meter.start()
    sleep(duration_s)
    reading = meter.stop()
    if reading.reject_reason or not math.isfinite(reading.energy_j):
        return 0.0
    return max(reading.power_w, 0.0)
