"""Train one catalogue network and measure the energy of its training and inference phases.

Protocol (why each step is there):
- warm-up steps first, unmetered: allocator, caches and thread pools settle;
- training is metered as several windows of whole steps, each long enough for the meter to resolve
  (``window_s``); the run's figure is the median window, its spread the window IQR / median;
- windows whose throughput falls below half the run's upper-quartile throughput are outliers (the machine was busy);
  they are kept, flagged, and left out of the median; a run with a majority of outliers is rejected;
- on CUDA the device is synchronised before every meter read;
- idle power (measured by the sweep) times the window length is subtracted: both values are kept;
- a phase whose idle-subtracted (dynamic) energy is not above its meter's floor (resolution, or noise x
  window length) is rejected with that reason: it cannot be told from idle;
- inference is its own phase: forward-only passes over the test set, metered the same way.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from measurement.architecture import Architecture
from measurement.datasets import Dataset, Task
from measurement.meters.base import EnergyMeter, MeterError, Reading
from measurement.meters.idle import measure_idle_power as measure_idle_power  # its home: torch-free
from measurement.network import build_module
from measurement.records import CurvePoint, Phase, PhaseResult, RunResult, TrainConfig, Window

OUTLIER_THROUGHPUT_RATIO = 0.5
MIN_WINDOWS = 3
_DEFAULT_CONFIG = TrainConfig()


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
        return _failed(meter, exc, work())
    datums = work()
    sync()
    try:
        reading = meter.stop()
    except MeterError as exc:
        return _failed(meter, exc, datums)
    window = Window(
        energy_j=reading.energy_j,
        duration_s=reading.duration_s,
        datums=datums,
        standardised_j=reading.energy_j - idle_power_w * reading.duration_s,
    )
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


def _failed(meter: EnergyMeter, exc: MeterError, datums: int) -> tuple[Window, Reading]:
    """The window of ``datums`` a failed meter could not measure, and its reading rejected with the error."""
    window = Window(energy_j=math.nan, duration_s=1.0, datums=datums, standardised_j=math.nan)
    reading = Reading(
        energy_j=math.nan, duration_s=1.0, meter=meter.name, kind=meter.kind, reject_reason=f"meter error: {exc}"
    )
    return window, reading


def below_floor(windows: list[Window], readings: list[Reading]) -> str | None:
    """The reject reason of a phase whose dynamic energy its meter cannot tell from zero, else None.

    The median window's idle-subtracted energy must exceed the (upper) median of its readings' floors
    (:attr:`~measurement.meters.base.Reading.floor_j`: the meter's resolution, or its noise x the window's
    length): a trace flat at the idle power gives ~1e-10 J a window, rounding error, not a measurement.
    """
    if not windows:
        return None
    dynamic_j = statistics.median(w.standardised_j for w in windows)
    middle = sorted(readings, key=lambda r: r.floor_j)[len(readings) // 2]
    floor_j = middle.floor_j
    if dynamic_j > floor_j:
        return None
    return (
        f"dynamic energy {dynamic_j:.3g} J a window is not above the meter's floor of {floor_j:.3g} J "
        f"({middle.floor_basis()}): the run cannot be told from idle"
    )


def summarise(phase: Phase, windows: list[Window], readings: list[Reading]) -> PhaseResult:
    """Flag throughput outliers, take the median of the rest, and apply the quality filters (the last: the
    dynamic energy must be above the meter's floor, :func:`below_floor`)."""
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
    if reason is None and len(readings) == len(windows):
        reason = below_floor(kept, [r for w, r in zip(flagged, readings, strict=True) if not w.outlier])
    spread = 0.0
    if len(per_datum) >= 4 and median > 0:
        q = np.percentile(per_datum, [25, 75])
        spread = float((q[1] - q[0]) / median)
    rate = statistics.median(w.samples_per_s for w in kept) if kept else 0.0
    return PhaseResult(
        phase=phase,
        windows=tuple(flagged),
        energy_per_datum_j=median,
        raw_energy_per_datum_j=statistics.median(raw),
        spread=spread,
        samples_per_s=rate,
        reject_reason=reason,
    )


class _Trainer:
    """A model in training: its loss, its optimiser, an endless stream of shuffled batches, and the
    number of datums trained so far (warm-up, epochs and metered windows alike)."""

    def __init__(self, arch: Architecture, dataset: Dataset, config: TrainConfig, device: torch.device) -> None:
        self.model = build_module(arch).to(device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.batch_size = config.batch_size
        self.loss_fn = _loss_fn(dataset.task)
        self.task = dataset.task
        self.x_train, self.y_train, self.x_test, self.y_test = _tensors(dataset, device)
        gen = torch.Generator().manual_seed(config.seed)
        self.batches = _batches(self.x_train, self.y_train, config.batch_size, gen)
        self.datums_done = 0
        self.recording = True
        self.step_losses: list[tuple[int, torch.Tensor]] = []

    def steps(self, count: int) -> int:
        """Take ``count`` optimiser steps; return the datums they processed.

        While ``recording`` (warm-up and the requested epochs, never the metered windows) each step's loss
        is kept, detached, with the datums done after it: the learning curve's training loss.
        """
        datums = 0
        for _ in range(count):
            xb, yb = next(self.batches)
            self.optimiser.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
            self.optimiser.step()
            datums += xb.shape[0]
            if self.recording:
                self.step_losses.append((self.datums_done + datums, loss.detach()))
        self.datums_done += datums
        return datums

    def evaluate(self) -> tuple[float, float | None]:
        """Test loss and accuracy (None for regression) now; unmetered, the model left in training mode."""
        return _evaluate(self.model, self.loss_fn, self.task, self.x_test, self.y_test)

    def train_until(self, datums: int, epoch_datums: int) -> None:
        """Train until at least ``datums`` datums are done (partial last batches), keeping the losses of
        the steps that may fall in the last ``epoch_datums`` (one epoch) only."""
        self.recording = False
        self.steps(max(0, datums - epoch_datums - self.datums_done) // self.batch_size)  # all end before it
        self.recording = True
        while self.datums_done < datums:
            self.steps(math.ceil((datums - self.datums_done) / self.batch_size))

    def epoch_train_loss(self, epoch_datums: int) -> float:
        """Mean loss of the steps of the last epoch (of every step, before one epoch is done); older
        steps are forgotten."""
        since = self.datums_done - epoch_datums
        self.step_losses = [(done, loss) for done, loss in self.step_losses if done > since]
        if not self.step_losses:
            return math.nan
        return float(torch.stack([loss for _, loss in self.step_losses]).mean())


def _check_dims(arch: Architecture, dataset: Dataset) -> None:
    if (arch.input_dim, arch.output_dim) != (dataset.input_dim, dataset.output_dim):
        raise ValueError(
            f"{arch.label} is sized for {arch.input_dim}->{arch.output_dim}, dataset is "
            f"{dataset.input_dim}->{dataset.output_dim}"
        )


def _warm_up(trainer: _Trainer, sync: _Sync, config: TrainConfig, clock: Callable[[], float]) -> float:
    """Unmetered warm-up steps (at least one; more up to ``warmup_steps`` while under ``window_s``).

    Returns:
        Seconds per step, which sizes the metered windows.
    """
    sync()
    t0 = clock()
    warm = 0
    while warm < max(config.warmup_steps, 1) and (warm == 0 or clock() - t0 < config.window_s):
        trainer.steps(1)
        warm += 1
    sync()
    return max((clock() - t0) / warm, 1e-6)


def curve_checkpoints(epochs: float) -> tuple[float, ...]:
    """The epochs at which a run of ``epochs`` epochs records its learning curve: 1, 2, 4, 8, … up to
    ``epochs``, and ``epochs`` itself (a run shorter than one epoch records only its end; none for 0).

    >>> curve_checkpoints(10)
    (1, 2, 4, 8, 10)
    """
    if not epochs > 0:
        return ()
    points: list[float] = []
    power = 1
    while power < epochs:
        points.append(power)
        power *= 2
    return (*points, epochs)


def _train_epochs(trainer: _Trainer, dataset: Dataset, config: TrainConfig) -> tuple[CurvePoint, ...]:
    """Train until ``config.epochs`` epochs' worth of datums are done, evaluating the test set (unmetered)
    at each of :func:`curve_checkpoints`; return the learning curve.

    Each point's epoch is the epochs actually trained, warm-up included; a checkpoint is skipped when the
    warm-up has already carried the run past the next one.
    """
    n = dataset.train_samples
    targets = [math.ceil(n * epoch) for epoch in curve_checkpoints(config.epochs)]
    curve = []
    for index, target in enumerate(targets):
        trainer.train_until(target, n)
        if index + 1 < len(targets) and trainer.datums_done >= targets[index + 1]:
            continue
        test_loss, test_accuracy = trainer.evaluate()
        train_loss = trainer.epoch_train_loss(n)
        epoch = trainer.datums_done / n
        curve.append(CurvePoint(epoch=epoch, train_loss=train_loss, test_loss=test_loss, test_accuracy=test_accuracy))
    trainer.recording = False
    trainer.step_losses = []
    return tuple(curve)


def _past(deadline: float | None, clock: Callable[[], float]) -> Callable[[], bool]:
    """Whether ``clock()`` has passed ``deadline`` (never, without one)."""
    return lambda: deadline is not None and clock() > deadline


def train_and_measure(
    arch: Architecture,
    dataset: Dataset,
    meter: EnergyMeter,
    config: TrainConfig = _DEFAULT_CONFIG,
    idle_power_w: float = 0.0,
    clock: Callable[[], float] = time.perf_counter,
    deadline: float | None = None,
) -> RunResult:
    """Train ``arch`` on ``dataset`` and measure both phases with ``meter``.

    Warm-up sizes the windows, the requested epochs come next (with the learning curve: unmetered test
    metrics at :func:`curve_checkpoints`; the last are the run's test metrics), then the metered
    training windows, then the inference phase. ``deadline`` (a ``clock()`` value) cuts the run short
    when passed: each phase then stops after ``MIN_WINDOWS`` windows, so a sweep never overruns its
    budget by a whole run.

    Raises:
        ValueError: if the architecture's dims do not match the dataset.
    """
    _check_dims(arch, dataset)
    began = clock()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    sync = _Sync(device)
    trainer = _Trainer(arch, dataset, config, device)
    step_s = _warm_up(trainer, sync, config, clock)
    steps_per_window = max(1, math.ceil(config.window_s / step_s))
    curve = _train_epochs(trainer, dataset, config)
    test_loss, test_accuracy = (curve[-1].test_loss, curve[-1].test_accuracy) if curve else trainer.evaluate()
    epochs_trained = trainer.datums_done / dataset.train_samples  # before the metered windows train on
    late = _past(deadline, clock)
    train = _measure_windows(meter, idle_power_w, sync, config, late, lambda: trainer.steps(steps_per_window))
    inference = _measure_inference(trainer.model, trainer.x_test, meter, idle_power_w, sync, config, late)
    return RunResult(
        arch=arch,
        meter=meter.name,
        meter_kind=meter.kind,
        idle_power_w=idle_power_w,
        train=summarise(Phase.TRAIN, *train),
        inference=summarise(Phase.INFERENCE, *inference),
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        epochs_trained=epochs_trained,
        wall_s=clock() - began,
        extra={"steps_per_window": steps_per_window, "warmup_step_s": step_s},
        curve=curve,
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
