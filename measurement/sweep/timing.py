"""How long a run takes: the run-time model that plans a sweep, and the budget that decides, run by run,
whether the next one still fits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from measurement.architecture import Architecture
from measurement.cost import cost
from measurement.records import TrainConfig

UNSEEN_SCALE = 2.0
"""A run predicted more than twice as long as any finished run is assumed to take at least this many times
its prediction when the budget decides whether it still fits."""


@dataclass(frozen=True)
class TimeModel:
    """Predicts a run's wall time from its cost (the sweep's :class:`Budget` scales it by what finished runs took).

    A step costs its overheads, its FLOPs at ``flops_per_s`` and its memory traffic — activations read and
    written, and the optimizer's parameter state — at ``bytes_per_s``. Without the traffic term, wide and
    shallow networks (a 1.3 M-wide hidden layer on 8 inputs: 1.8 FLOPs per byte moved) were predicted 4-7x
    too fast on a 2-vCPU VM (measured 0.07-6.3 s per step, 2.7-7 GB/s), and one 10-minute calibration that
    planned them ended 4.7% over its budget.
    """

    step_overhead_s: float = 2e-4
    layer_overhead_s: float = 4e-5
    flops_per_s: float = 2.0e10
    bytes_per_s: float = 3.0e9
    setup_s: float = 0.3

    def step_s(self, arch: Architecture, batch_size: int) -> float:
        """Seconds for one training step."""
        c = cost(arch, batch_size)
        traffic_bytes = c.train_activation_bytes_per_datum + c.train_optimizer_bytes_per_datum
        return (
            self.step_overhead_s
            + self.layer_overhead_s * arch.depth
            + batch_size * self._work_s(c.train_flops_per_datum, traffic_bytes)
        )

    def inference_pass_s(self, arch: Architecture, batch_size: int, samples: int) -> float:
        """Seconds for one forward pass over ``samples`` rows in batches of ``batch_size`` (or all rows at once,
        when fewer)."""
        batch_size = min(batch_size, max(samples, 1))
        c = cost(arch, batch_size)
        traffic_bytes = c.inference_activation_bytes_per_datum + c.inference_optimizer_bytes_per_datum
        return self.step_overhead_s * math.ceil(samples / batch_size) + samples * self._work_s(
            c.inference_flops_per_datum, traffic_bytes
        )

    def _work_s(self, flops: float, traffic_bytes: float) -> float:
        """Seconds for ``flops`` and ``traffic_bytes`` of memory traffic (one datum's)."""
        return flops / self.flops_per_s + traffic_bytes / self.bytes_per_s

    def run_s(
        self, arch: Architecture, batch_size: int, config: TrainConfig, test_samples: int, train_samples: int = 0
    ) -> float:
        """Seconds for a whole run under ``config``: set-up, warm-up, both phases' windows, extra epochs."""
        step = self.step_s(arch, batch_size)
        epochs_s = config.epochs * math.ceil(train_samples / batch_size) * step
        infer_pass = self.inference_pass_s(arch, config.inference_batch_size, test_samples)
        train = config.warmup_steps * step + config.windows * max(config.window_s, step)
        infer = 2 * infer_pass + config.windows * max(config.window_s, infer_pass)
        return self.setup_s + arch.params * 2e-8 + epochs_s + train + infer  # the windows come after the epochs


@dataclass
class Budget:
    """The budget policy: a run starts only if its predicted time, scaled (:meth:`scale`) by how long
    finished runs of about its predicted length or longer took relative to their predictions, still fits
    before ``began + budget_s``.

    Why per length: the time model over-predicts short runs (their fixed-length windows dominate) and
    under-predicts long ones (compute bound); one scale for all, learnt mostly from short runs, let a long
    last run start that could not finish (a 10-minute calibration took 646 s).
    """

    began: float
    budget_s: float
    predicted: dict[str, float]
    seen: list[tuple[float, float]] = field(default_factory=list)
    """(predicted seconds, wall / predicted) of each finished run."""

    @property
    def deadline(self) -> float:
        """The clock value the sweep must end by."""
        return self.began + self.budget_s

    def fit_count(self, reserved_s: float, lanes: int = 1) -> int:
        """How many of the runs, in order and unscaled, fit the budget less ``reserved_s`` (the forecast)
        on ``lanes`` workers running side by side."""
        total = count = 0
        for seconds in self.predicted.values():
            if total + seconds <= lanes * (self.budget_s - reserved_s):
                total += seconds
                count += 1
        return count

    def scale(self, predicted_s: float) -> float:
        """The factor a prediction of ``predicted_s`` is scaled by: the 90th percentile of the wall/predicted
        ratios of finished runs predicted at least half as long; with none, the largest ratio so far and at
        least ``UNSEEN_SCALE`` (a length never seen: err long); 1 before any run finished."""
        if not self.seen:
            return 1.0
        similar = [ratio for seconds, ratio in self.seen if seconds >= predicted_s / 2]
        if similar:
            return float(np.percentile(similar, 90))
        return max(UNSEEN_SCALE, *(ratio for _, ratio in self.seen))

    def fits(self, run_key: str, now: float, extra_s: float = 0.0) -> bool:
        """Whether the run, as predicted and scaled, ends before the deadline if started at ``now``, after
        ``extra_s`` seconds of something else (an idle measurement)."""
        predicted_s = self.predicted[run_key]
        return now - self.began + extra_s + self.scale(predicted_s) * predicted_s <= self.budget_s

    def observe(self, run_key: str, wall_s: float) -> None:
        """Learn from a finished run how far off its prediction was."""
        predicted_s = max(self.predicted[run_key], 1e-3)
        self.seen.append((predicted_s, wall_s / predicted_s))


DEFAULT_TIME_MODEL = TimeModel()
"""The time model planners and executors use unless given another."""
