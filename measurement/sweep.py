"""Plan a calibration sweep that spans the device's cache tiers within a time budget, and run it.

The plan is an ordered list of runs, longer than the budget will allow: a coverage round first (every
cache tier of the sweep's device x every shape, cheapest configs, varied depths), then stratified random
fill, with repeats of earlier configs interleaved to measure the noise floor. The executor walks the
list, skips runs already committed (resume) and runs that its time model says no longer fit in the
budget, and commits each finished run in one transaction. Its policies are small separate pieces: the
budget (:class:`_Budget`), idle re-measurement (:class:`IdlePower`), the meter-failure limit
(:class:`_MeterFailures`), progress events (:class:`_Progress`) and the summary, tallied run by run
(:class:`SweepTally`). Torch is imported only when a run trains.

:func:`run_sweep_on_pool` walks the same plan with the same policies over a pool of workers (Dask:
:mod:`measurement.cluster`): this process stays the store's only writer, at most one run is in flight
per worker, and a run lost with its worker is re-queued once, then recorded as failed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from measurement.architecture import DEPTHS, SHAPES, SIZES, Architecture, size_architecture
from measurement.cost import cost
from measurement.datasets import Dataset
from measurement.hardware import Fingerprint
from measurement.meters.base import EnergyMeter, MeterError, MeterKind
from measurement.records import (
    DEFAULT_IDLE_S,
    CommittedRun,
    PhaseResult,
    PlannedRun,
    RunResult,
    TrainConfig,
    parse_run_key,
    repeat_differences,
)
from measurement.store import RunContext, RunStore
from measurement.tiers import Tier, device_tiers, is_cuda, tier_index, tier_labels

CALIBRATION_BATCH_SIZES = (16, 64, 256, 1024)
MAX_RUN_SHARE_OF_BUDGET = 0.12
REPEAT_EVERY = 6
MAX_PLAN_RUNS = 2000
MAX_METER_FAILURES = 3
LOST_RUN_ATTEMPTS = 2
"""A run lost with its worker is re-queued until it has been lost this many times, then recorded as failed."""
NO_WORKER_PATIENCE_S = 300.0
"""How long a pool sweep with runs left waits for a worker to (re)appear before it stops."""
POLL_S = 0.5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeModel:
    """Predicts a run's wall time from its cost (run_sweep scales it by what finished runs took)."""

    step_overhead_s: float = 2e-4
    layer_overhead_s: float = 4e-5
    flops_per_s: float = 2.0e10
    setup_s: float = 0.3

    def step_s(self, arch: Architecture, batch_size: int) -> float:
        """Seconds for one training step."""
        flops = cost(arch, batch_size).train_flops_per_datum * batch_size
        return self.step_overhead_s + self.layer_overhead_s * arch.depth + flops / self.flops_per_s

    def run_s(
        self, arch: Architecture, batch_size: int, config: TrainConfig, test_samples: int, train_samples: int = 0
    ) -> float:
        """Seconds for a whole run under ``config``: set-up, warm-up, both phases' windows, extra epochs."""
        step = self.step_s(arch, batch_size)
        epochs_s = config.epochs * math.ceil(train_samples / batch_size) * step
        infer_pass = self.step_overhead_s + cost(arch, 1).inference_flops_per_datum * test_samples / self.flops_per_s
        train = config.warmup_steps * step + config.windows * max(config.window_s, step)
        infer = 2 * infer_pass + config.windows * max(config.window_s, infer_pass)
        return self.setup_s + arch.params * 2e-8 + max(train, epochs_s) + infer


@dataclass(frozen=True)
class _Candidate:
    """A run the calibration planner may pick: its cache tier and predicted seconds."""

    run: PlannedRun
    tier: int
    seconds: float


def plan_calibration(
    fp: Fingerprint,
    input_dim: int,
    output_dim: int,
    budget_s: float,
    config: TrainConfig,
    test_samples: int,
    time_model: TimeModel = TimeModel(),
    batch_sizes: tuple[int, ...] = CALIBRATION_BATCH_SIZES,
    seed: int = 0,
    max_runs: int | None = None,
) -> list[PlannedRun]:
    """An ordered plan whose predicted time is about three budgets (the executor stops in time).

    Working sets are placed in the tiers of ``config.device`` (:func:`measurement.tiers.device_tiers`):
    a CUDA sweep spans the GPU's L2 and memory, a CPU sweep the CPU caches. The coverage round (every
    tier x every shape, cheap configs) comes first, cheapest first; then a fill that gives each tier
    about equal time, with a repeat of an earlier config every ``REPEAT_EVERY`` new runs.
    """
    rng = random.Random(seed)
    tiers = device_tiers(fp, config.device)
    memory_cap = _memory_cap(fp, config.device)
    candidates = _candidates(
        tiers, memory_cap, input_dim, output_dim, budget_s, config, test_samples, time_model, batch_sizes
    )
    if not candidates:
        return []
    chosen, tier_time = _coverage(candidates, rng)
    limit = max_runs or MAX_PLAN_RUNS
    _fill(chosen, tier_time, candidates, rng, budget_s, limit)
    return [run for run, _ in chosen][:limit]


def _memory_cap(fp: Fingerprint, device: str) -> float:
    """The largest working set worth planning: a quarter of the device's memory."""
    if is_cuda(device) and fp.gpu is not None:
        return fp.gpu.memory_bytes / 4
    return (fp.memory_bytes or 8 * 2**30) / 4


def _candidates(
    tiers: tuple[Tier, ...],
    memory_cap: float,
    input_dim: int,
    output_dim: int,
    budget_s: float,
    config: TrainConfig,
    test_samples: int,
    time_model: TimeModel,
    batch_sizes: tuple[int, ...],
) -> list[_Candidate]:
    """Every on-target (shape, depth, size, batch) whose working set and predicted time are small enough."""
    found: list[tuple[PlannedRun, int, float]] = []  # run, working set, predicted seconds
    for shape in SHAPES:
        for depth in DEPTHS:
            if depth == 2 and shape is not SHAPES[0]:
                continue  # at depth 2 every shape is [w, O]: measure it once, as rectangle
            for size in SIZES:
                arch = size_architecture(shape, depth, size, input_dim, output_dim)
                if arch.off_target:
                    continue
                for batch in batch_sizes:
                    ws = cost(arch, batch).train_working_set_bytes
                    seconds = time_model.run_s(arch, batch, config, test_samples)
                    if ws <= memory_cap and seconds <= MAX_RUN_SHARE_OF_BUDGET * budget_s:
                        found.append((PlannedRun(shape.value, depth, size, batch), ws, seconds))
    if not found:
        return []
    indices = tier_index(np.array([ws for _, ws, _ in found], dtype=float), tiers)
    return [_Candidate(run, int(t), seconds) for (run, _, seconds), t in zip(found, indices, strict=True)]


def _coverage(candidates: list[_Candidate], rng: random.Random) -> tuple[list[tuple[PlannedRun, float]], Counter[int]]:
    """One cheap run per tier x shape (among the six cheapest, for varied depths), cheapest first.

    Returns:
        The chosen runs with their predicted seconds, and the predicted time spent per tier.
    """
    chosen: list[tuple[PlannedRun, float]] = []
    tier_time: Counter[int] = Counter()
    for tier in sorted({c.tier for c in candidates}):
        for shape in SHAPES:
            pool = [c for c in candidates if c.tier == tier and c.run.shape == shape.value]
            pool.sort(key=lambda c: c.seconds)
            if pool:
                pick = rng.choice(pool[: min(6, len(pool))])
                chosen.append((pick.run, pick.seconds))
                tier_time[tier] += pick.seconds
    chosen.sort(key=lambda c: c[1])
    return chosen, tier_time


def _fill(
    chosen: list[tuple[PlannedRun, float]],
    tier_time: Counter[int],
    candidates: list[_Candidate],
    rng: random.Random,
    budget_s: float,
    limit: int,
) -> None:
    """Append runs to ``chosen`` until about three budgets: the tier with the least time so far next,
    a repeat of an earlier (cheaper than median) config after every ``REPEAT_EVERY`` new runs."""
    queues = _fill_queues(candidates, {run.key for run, _ in chosen}, rng)
    total = sum(s for _, s in chosen)
    new_runs = 0
    repeats: Counter[str] = Counter()
    while len(chosen) < limit and total < 3 * budget_s and any(queues.values()):
        tier = min((t for t in queues if queues[t]), key=lambda t: (tier_time[t], t))  # equal time per tier
        run, seconds = queues[tier].pop()
        chosen.append((run, seconds))
        total += seconds
        tier_time[tier] += seconds
        new_runs += 1
        if new_runs % REPEAT_EVERY == 0 and len(chosen) < limit:
            median_s = statistics.median(s for _, s in chosen)
            base = rng.choice([r for r, s in chosen if s <= median_s and r.repeat == 0])
            repeats[base.config_key] += 1
            chosen.append((dataclasses.replace(base, repeat=repeats[base.config_key]), 0.0))


def _fill_queues(
    candidates: list[_Candidate], used: set[str], rng: random.Random
) -> dict[int, list[tuple[PlannedRun, float]]]:
    """Per tier, the unused candidates in weighted random order without replacement (Efraimidis-Spirakis
    keys, cheaper runs more likely): ``pop()`` gives the next one."""
    keyed: dict[int, list[tuple[PlannedRun, float, float]]] = {t: [] for t in sorted({c.tier for c in candidates})}
    for c in candidates:
        if c.run.key not in used:
            keyed[c.tier].append((c.run, c.seconds, rng.random() ** math.sqrt(max(c.seconds, 1e-3))))
    return {tier: [(r, s) for r, s, _ in sorted(queue, key=lambda q: q[2])] for tier, queue in keyed.items()}


PROBE_DEPTHS = (2, 3, 4, 6, 8)


def plan_probe(
    input_dim: int,
    output_dim: int,
    budget_s: float,
    config: TrainConfig,
    test_samples: int,
    train_samples: int,
    time_model: TimeModel = TimeModel(),
    seed: int = 0,
    max_runs: int | None = None,
) -> list[PlannedRun]:
    """A designed set of trainings on one dataset for the accuracy model (batch = config's).

    Sizes are spread over 2^5 .. 2^20 in a coarse-to-fine order (every fourth size exponent first, then
    the gaps), each size with a different shape and depth in turn, so a short budget still spans the
    accuracy curve; runs predicted to take more than a fifth of the budget are left out.
    """
    rng = random.Random(seed)
    exponents = list(range(5, 21))
    order = [e for step in (4, 2, 1) for e in exponents[::step]]
    order = list(dict.fromkeys(order))
    runs: list[PlannedRun] = []
    shapes = list(SHAPES)
    rng.shuffle(shapes)
    for round_index in range(3):
        for i, exponent in enumerate(order):
            shape = shapes[(i + 3 * round_index) % len(shapes)]
            depth = PROBE_DEPTHS[(i + round_index) % len(PROBE_DEPTHS)]
            arch = size_architecture(shape, depth, 2**exponent, input_dim, output_dim)
            seconds = time_model.run_s(arch, config.batch_size, config, test_samples, train_samples)
            run = PlannedRun(shape.value, depth, 2**exponent, config.batch_size)
            if arch.off_target or seconds > budget_s / 5 or run in runs:
                continue
            runs.append(run)
    return runs[:max_runs] if max_runs else runs


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep; its hash identifies the sweep in the store (for resume)."""

    kind: str
    dataset: str
    dataset_hash: str
    config: TrainConfig
    runs: tuple[PlannedRun, ...]
    budget_s: float

    def to_dict(self) -> dict:
        """JSON-ready form, stored with the sweep."""
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "config": dataclasses.asdict(self.config),
            "runs": [dataclasses.asdict(r) for r in self.runs],
            "budget_s": self.budget_s,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SweepSpec:
        """Rebuild a stored plan."""
        return cls(
            kind=data["kind"],
            dataset=data["dataset"],
            dataset_hash=data["dataset_hash"],
            config=TrainConfig(**data["config"]),
            runs=tuple(PlannedRun(**r) for r in data["runs"]),
            budget_s=float(data["budget_s"]),
        )

    def digest(self) -> str:
        """Stable hash of the plan (budget excluded: a longer budget continues the same sweep)."""
        data = self.to_dict()
        data.pop("budget_s")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepEvent:
    """Progress report for a UI: what just happened and where the sweep stands."""

    kind: str  # "idle", "run_started", "run_finished", "run_lost", "done"
    done: int
    expected: int
    elapsed_s: float
    budget_s: float
    label: str = ""
    meter_kind: str = ""
    result: RunResult | None = None
    worker: str = ""
    workers: tuple[tuple[str, int], ...] = ()
    """Runs committed per worker in this invocation (a sweep over a pool of workers; empty otherwise)."""


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep invocation did, and the noise floor of the whole sweep so far."""

    sweep_id: int
    planned: int
    committed_now: int
    already_done: int
    rejected_now: int
    elapsed_s: float
    budget_s: float
    interrupted: bool
    complete: bool
    meter: str
    meter_kind: str
    idle_power_w: float
    tiers: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, int] = field(default_factory=dict)
    noise_floor: float | None = None
    repeat_pairs: int = 0
    stop_reason: str | None = None
    workers: dict[str, int] = field(default_factory=dict)
    """Runs committed per worker this time (a sweep over a pool of workers; empty on one machine)."""
    requeued: int = 0
    """Runs lost with their worker and queued again."""


@dataclass
class SweepTally:
    """What a sweep's accepted runs add up to, accumulated run by run (never re-read from the store).

    Fed every run as it is committed (:meth:`add_result`), and seeded once with the runs an earlier
    invocation of the same sweep committed (:meth:`add_committed`). Rejected runs count in none of it.

    Attributes:
        tiers: the tiers of the sweep's device; working sets are counted per tier label.
        by_tier: accepted runs per tier label.
        by_shape: accepted runs per shape.
        energies: idle-standardised training energy per datum of the accepted runs, per config key.
    """

    tiers: tuple[Tier, ...]
    by_tier: Counter[str] = field(default_factory=Counter)
    by_shape: Counter[str] = field(default_factory=Counter)
    energies: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def seeded(cls, tiers: tuple[Tier, ...], committed: list[CommittedRun]) -> SweepTally:
        """A tally of ``tiers`` that already counts the runs an earlier invocation committed."""
        tally = cls(tiers)
        for run in committed:
            tally.add_committed(run)
        return tally

    def add(self, run_key: str, arch: Architecture, batch_size: int, energy_per_datum_j: float) -> None:
        """Count one accepted run."""
        working_set = cost(arch, batch_size).train_working_set_bytes
        self.by_tier[tier_labels(self.tiers)[tier_index(working_set, self.tiers)]] += 1
        self.by_shape[arch.shape.value] += 1
        self.energies.setdefault(parse_run_key(run_key).config_key, []).append(energy_per_datum_j)

    def add_result(self, run_key: str, result: RunResult, batch_size: int) -> None:
        """Count a run just committed (nothing when it was rejected)."""
        if result.reject_reason is None:
            self.add(run_key, result.arch, batch_size, result.train.energy_per_datum_j)

    def add_committed(self, run: CommittedRun) -> None:
        """Count a run an earlier invocation committed (nothing when it was rejected)."""
        if run.ok and run.energy_per_datum_j is not None:
            self.add(run.run_key, run.arch, run.batch_size, run.energy_per_datum_j)

    def tier_counts(self) -> dict[str, int]:
        """Accepted runs per tier label, every label of the device included."""
        return {label: self.by_tier.get(label, 0) for label in tier_labels(self.tiers)}

    def noise_floor(self) -> tuple[float | None, int]:
        """Median relative difference between repeats of one config, and the number of repeat pairs
        (the same figure :func:`measurement.records.noise_floor` gives for the sweep's export)."""
        diffs = [d for values in self.energies.values() for d in repeat_differences(values)]
        return (statistics.median(diffs) if diffs else None), len(diffs)


@dataclass(frozen=True)
class _MeterLabel:
    """The meter a sweep is recorded with: its name and kind (``measured`` / ``estimated``)."""

    name: str
    kind: str


@dataclass
class _Start:
    """A sweep opened in the store: the runs left to do and the starting state of its policies."""

    sweep_id: int
    todo: list[PlannedRun]
    already: int
    archs: dict[str, Architecture]
    budget: _Budget
    tally: SweepTally


def _start(
    spec: SweepSpec,
    store: RunStore,
    fp: Fingerprint,
    meter: _MeterLabel,
    dataset: Dataset,
    budget_s: float,
    time_model: TimeModel,
    began: float,
) -> _Start:
    """Open (or continue) the sweep on ``fp``'s hardware and skip the runs it has already committed."""
    sweep_id = store.open_sweep(
        store.hardware_id(fp), spec.kind, spec.digest(), spec.to_dict(), spec.dataset, meter.name, meter.kind
    )
    done_keys = store.completed_keys(sweep_id)
    todo = [r for r in spec.runs if r.key not in done_keys]
    archs = {
        r.key: size_architecture(r.shape, r.depth, r.size, dataset.input_dim, dataset.output_dim) for r in spec.runs
    }
    budget = _Budget(began, budget_s, _predictions(todo, archs, spec.config, dataset, time_model))
    tally = SweepTally.seeded(device_tiers(fp, spec.config.device), store.committed_runs(sweep_id))
    return _Start(sweep_id, todo, len(spec.runs) - len(todo), archs, budget, tally)


def _finish(
    spec: SweepSpec, start: _Start, ledger: _Ledger, meter: _MeterLabel, began: float, budget_s: float, idle_w: float
) -> SweepSummary:
    """Mark the sweep complete, interrupted or partial; the invocation's summary; the ``done`` event."""
    store, outcome = ledger.store, ledger.outcome
    complete = store.completed_keys(start.sweep_id) >= {r.key for r in spec.runs}
    store.set_sweep_status(
        start.sweep_id, "complete" if complete else ("interrupted" if outcome.interrupted else "partial")
    )
    elapsed_s = ledger.events.clock() - began
    summary = _summary(start.sweep_id, spec, meter, start.already, outcome, complete, elapsed_s, budget_s, idle_w,
                       start.tally, ledger.events.by_worker)  # fmt: skip
    ledger.events.emit("done")
    return summary


def run_sweep(
    spec: SweepSpec,
    store: RunStore,
    meter: EnergyMeter,
    dataset: Dataset,
    fp: Fingerprint,
    budget_s: float,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    time_model: TimeModel = TimeModel(),
    idle_s: float = DEFAULT_IDLE_S,
    idle_every_s: float = 300.0,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> SweepSummary:
    """Run (or resume) a sweep until the plan is done, the budget is spent, or a stop is asked for.

    Runs already committed to this sweep are skipped; runs predicted not to fit the rest of the budget
    are skipped (a cheaper one further on may still fit). Idle power is measured first and again every
    ``idle_every_s``; a failed or rejected idle measurement stops the sweep (``stop_reason``), and so do
    ``MAX_METER_FAILURES`` runs in a row with meter errors. KeyboardInterrupt is caught: the run in
    flight is dropped (never half-written), finished runs stay committed, and the summary says
    ``interrupted``. Torch is imported only when a run trains.
    """
    began = clock()
    label = _MeterLabel(meter.name, meter.kind.value)
    start = _start(spec, store, fp, label, dataset, budget_s, time_model, began)
    expected = start.already + start.budget.fit_count(idle_s)
    events = _Progress(progress, clock, began, budget_s, expected, label.kind, done=start.already)
    ledger = _Ledger(store, start.sweep_id, _context(spec, dataset), events, start.tally)
    idle = IdlePower(meter, idle_s, idle_every_s, clock)
    executor = _Executor(spec, meter, dataset, start.archs, start.budget, idle, _MeterFailures(), ledger, clock)
    executor.walk(start.todo, should_stop)
    return _finish(spec, start, ledger, label, began, budget_s, idle.watts)


def _predictions(
    todo: list[PlannedRun], archs: dict[str, Architecture], config: TrainConfig, dataset: Dataset, model: TimeModel
) -> dict[str, float]:
    """Predicted seconds of each run left to do, in plan order."""
    test_n = int(dataset.x_test.shape[0])
    return {r.key: model.run_s(archs[r.key], r.batch_size, config, test_n, dataset.train_samples) for r in todo}


def _summary(
    sweep_id: int,
    spec: SweepSpec,
    meter: _MeterLabel,
    already: int,
    outcome: _Outcome,
    complete: bool,
    elapsed_s: float,
    budget_s: float,
    idle_w: float,
    tally: SweepTally,
    by_worker: Counter[str] | None,
) -> SweepSummary:
    """The invocation's summary: its outcome, and the whole sweep's tally."""
    floor, pairs = tally.noise_floor()
    return SweepSummary(
        sweep_id=sweep_id, planned=len(spec.runs), committed_now=len(outcome.keys), already_done=already,
        rejected_now=outcome.rejected, elapsed_s=elapsed_s, budget_s=budget_s, interrupted=outcome.interrupted,
        complete=complete, meter=meter.name, meter_kind=meter.kind, idle_power_w=idle_w,
        tiers=tally.tier_counts(), shapes=dict(tally.by_shape), noise_floor=floor, repeat_pairs=pairs,
        stop_reason=outcome.stop_reason, workers=dict(sorted((by_worker or {}).items())), requeued=outcome.requeued,
    )  # fmt: skip


@dataclass
class _Budget:
    """The budget policy: a run starts only if its predicted time, scaled by how long finished runs took
    relative to their predictions (the 90th percentile of those ratios: err on the long side), still
    fits before ``began + budget_s``."""

    began: float
    budget_s: float
    predicted: dict[str, float]
    ratios: list[float] = field(default_factory=list)

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

    def fits(self, run_key: str, now: float) -> bool:
        """Whether the run, as predicted and scaled, ends before the deadline if started at ``now``."""
        scale = float(np.percentile(self.ratios, 90)) if self.ratios else 1.0
        return now - self.began + scale * self.predicted[run_key] <= self.budget_s

    def observe(self, run_key: str, wall_s: float) -> None:
        """Learn from a finished run how far off its prediction was."""
        self.ratios.append(wall_s / max(self.predicted[run_key], 1e-3))


class IdlePower:
    """Idle power for standardisation: measured before the first run and again every ``every_s``
    (one per meter: a sweep's own, or each worker's in a sweep over a pool)."""

    def __init__(self, meter: EnergyMeter, idle_s: float, every_s: float, clock: Callable[[], float]) -> None:
        self.meter, self.idle_s, self.every_s, self.clock = meter, idle_s, every_s, clock
        self.watts = 0.0
        self._last = -math.inf

    def due(self) -> bool:
        """Whether a (re-)measurement is due (never with ``idle_s`` 0)."""
        return self.idle_s > 0 and self.clock() - self._last > self.every_s

    def measure(self) -> float:
        """Measure idle power now and remember it.

        Raises:
            MeterError: when the meter fails or rejects the idle window.
        """
        from measurement.harness import measure_idle_power  # the harness imports torch

        self.watts = measure_idle_power(self.meter, self.idle_s)
        self._last = self.clock()
        return self.watts


@dataclass
class _MeterFailures:
    """The meter-failure limit: ``limit`` runs in a row rejected for meter errors stop the sweep."""

    limit: int = MAX_METER_FAILURES
    in_a_row: int = 0

    def stop_reason(self, result: RunResult) -> str | None:
        """Count a finished run; the reason to stop once the limit is reached."""
        reason = result.reject_reason or ""
        self.in_a_row = self.in_a_row + 1 if reason.startswith("meter error") else 0
        if self.in_a_row >= self.limit:
            return f"stopped after {self.in_a_row} runs in a row with meter errors: {reason}"
        return None


@dataclass
class _Progress:
    """Progress events for a UI; ``done`` counts the runs committed in this sweep so far, ``by_worker``
    (a sweep over a pool only) those committed in this invocation per worker."""

    callback: Callable[[SweepEvent], None]
    clock: Callable[[], float]
    began: float
    budget_s: float
    expected: int
    meter_kind: str
    done: int
    by_worker: Counter[str] | None = None

    def count(self, worker: str) -> None:
        """One more run committed, by ``worker``."""
        self.done += 1
        if self.by_worker is not None:
            self.by_worker[worker] += 1

    def emit(self, kind: str, label: str = "", result: RunResult | None = None, worker: str = "") -> None:
        """Report an event: ``idle``, ``run_started``, ``run_finished``, ``run_lost`` or ``done``."""
        elapsed_s = self.clock() - self.began
        workers = tuple(sorted(self.by_worker.items())) if self.by_worker is not None else ()
        self.callback(SweepEvent(kind, self.done, self.expected, elapsed_s, self.budget_s, label, self.meter_kind,
                                 result, worker, workers))  # fmt: skip


@dataclass
class _Outcome:
    """What one invocation's walk over the plan did."""

    keys: set[str] = field(default_factory=set)
    rejected: int = 0
    interrupted: bool = False
    stop_reason: str | None = None
    requeued: int = 0


@dataclass
class _Ledger:
    """Commits finished runs, one transaction each, and counts them (outcome, progress, tally)."""

    store: RunStore
    sweep_id: int
    ctx: RunContext
    events: _Progress
    tally: SweepTally
    outcome: _Outcome = field(default_factory=_Outcome)

    def commit(self, run: PlannedRun, result: RunResult, worker: str = "local", hardware_id: int | None = None) -> None:
        """Write the run in one transaction (with who measured it, and on what), then count it."""
        ctx = dataclasses.replace(self.ctx, batch_size=run.batch_size)
        self.store.record_run(self.sweep_id, run.key, result, ctx, worker, hardware_id)
        self.outcome.keys.add(run.key)
        self.outcome.rejected += result.reject_reason is not None
        self.events.count(worker)
        self.tally.add_result(run.key, result, run.batch_size)


def _run_label(run: PlannedRun, arch: Architecture) -> str:
    """What a progress line calls a run: architecture, batch size, and its repeat index if any."""
    repeat = f" (repeat {run.repeat})" if run.repeat else ""
    return f"{arch.label} b{run.batch_size}{repeat}"


def _run_config(config: TrainConfig, run: PlannedRun) -> TrainConfig:
    """The sweep's config with this run's batch size, and a seed per repeat."""
    return dataclasses.replace(config, batch_size=run.batch_size, seed=config.seed + run.repeat)


@dataclass
class _Executor:
    """Walks the runs left to do: idle power when due, the budget check, train, commit, tally, report."""

    spec: SweepSpec
    meter: EnergyMeter
    dataset: Dataset
    archs: dict[str, Architecture]
    budget: _Budget
    idle: IdlePower
    failures: _MeterFailures
    ledger: _Ledger
    clock: Callable[[], float]

    def walk(self, todo: list[PlannedRun], should_stop: Callable[[], bool]) -> _Outcome:
        """Run ``todo`` in order until done, stopped, out of budget or interrupted (Ctrl-C)."""
        outcome = self.ledger.outcome
        try:
            for run in todo:
                if should_stop():
                    outcome.interrupted = True
                    break
                if self.idle.due() and not self._measure_idle():
                    break
                if not self.budget.fits(run.key, self.clock()):
                    continue  # does not fit any more; a cheaper one further on might
                if not self._run(run):
                    break
        except KeyboardInterrupt:
            outcome.interrupted = True
        return outcome

    def _measure_idle(self) -> bool:
        """Measure idle power; on a meter failure set the stop reason and return False."""
        try:
            watts = self.idle.measure()
        except MeterError as exc:
            self.ledger.outcome.stop_reason = f"idle measurement failed: {exc}"
            return False
        self.ledger.store.set_sweep_status(self.ledger.sweep_id, "running", watts)
        self.ledger.events.emit("idle", f"idle power {watts:.2f} W")
        return True

    def _run(self, run: PlannedRun) -> bool:
        """Train, measure and commit one run; False when the meter-failure limit says stop."""
        arch = self.archs[run.key]
        self.ledger.events.emit("run_started", _run_label(run, arch))
        config = _run_config(self.spec.config, run)
        result = _train(arch, self.dataset, self.meter, config, self.idle.watts, self.clock, self.budget.deadline)
        self.ledger.commit(run, result)
        self.budget.observe(run.key, result.wall_s)
        stop_reason = self.failures.stop_reason(result)
        self.ledger.events.emit("run_finished", arch.label, result)
        if stop_reason is not None:
            self.ledger.outcome.stop_reason = stop_reason
            return False
        return True


def _context(spec: SweepSpec, dataset: Dataset) -> RunContext:
    """The dataset and protocol the runs of this sweep are recorded with (each with its own batch size)."""
    c = spec.config
    return RunContext(
        spec.dataset, dataset.fingerprint(), dataset.task.value, dataset.train_samples, dataset.train_bytes,
        c.batch_size, c.inference_batch_size, c.threads, c.device,
    )  # fmt: skip


def _train(
    arch: Architecture,
    dataset: Dataset,
    meter: EnergyMeter,
    config: TrainConfig,
    idle_w: float,
    clock: Callable[[], float],
    deadline: float,
) -> RunResult:
    """Train and measure one run (torch is imported here, not when the sweep module is)."""
    from measurement.harness import train_and_measure

    return train_and_measure(arch, dataset, meter, config, idle_power_w=idle_w, clock=clock, deadline=deadline)


# --- a sweep over a pool of workers (Dask: measurement.cluster) -------------------------------------------------


@dataclass(frozen=True)
class RemoteRun:
    """One run handed to a worker: what to train, and how many seconds are left before the sweep's deadline
    (clocks differ between machines, so the worker sets its own deadline from this)."""

    run_key: str
    arch: Architecture
    config: TrainConfig
    remaining_s: float


@dataclass(frozen=True)
class RemoteResult:
    """What a worker sends back for one run.

    Attributes:
        worker: the worker's address (recorded with the run).
        host: the worker's host name.
        fingerprint: the hardware the run ran on (recorded with the run).
        result: the run's measurements; None when the idle measurement before it failed (the run never ran).
        idle_power_w: the worker's idle power, when it measured it just before this run.
        idle_error: why the idle measurement failed.
    """

    run_key: str
    worker: str
    host: str
    fingerprint: Fingerprint
    result: RunResult | None = None
    idle_power_w: float | None = None
    idle_error: str | None = None


@dataclass(frozen=True)
class PoolEvent:
    """A run that left its worker: the worker's result, or why it was lost (the worker died or left)."""

    handle: object
    result: RemoteResult | None = None
    lost_reason: str | None = None


class RunPool(Protocol):
    """Workers that measure runs (:class:`measurement.cluster.DaskPool` on a Dask cluster)."""

    def workers(self) -> tuple[str, ...]:
        """The workers ready to measure now, in a stable order."""
        ...

    def submit(self, worker: str, run: RemoteRun) -> object:
        """Start ``run`` on ``worker``; a handle that :meth:`finished` reports back."""
        ...

    def finished(self, timeout_s: float) -> list[PoolEvent]:
        """Runs that ended or were lost since the last call, waiting up to ``timeout_s`` for one."""
        ...

    def cancel(self) -> None:
        """Drop every run in flight."""
        ...


def run_sweep_on_pool(
    spec: SweepSpec,
    store: RunStore,
    pool: RunPool,
    dataset: Dataset,
    fp: Fingerprint,
    meter: tuple[str, str],
    budget_s: float,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    time_model: TimeModel = TimeModel(),
    idle_s: float = DEFAULT_IDLE_S,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> SweepSummary:
    """Run (or resume) a sweep on a pool of workers; this process commits each run as its result arrives.

    The policies are :func:`run_sweep`'s: committed runs are skipped, the budget is checked before each
    submission, ``MAX_METER_FAILURES`` meter errors in a row (on one worker) stop the sweep, Ctrl-C keeps
    what was committed. At most one run is in flight per worker. Each worker measures its own idle power
    with its own meter (``idle_s`` only enters the forecast here). A run lost with its worker is queued
    again; lost a second time, it is recorded as failed (status rejected, with the reason). ``fp`` is the
    hardware the plan was made for (the sweep's); each run records the worker and hardware it ran on.

    Args:
        meter: the sweep's meter name and kind (``measured`` / ``estimated``), as the workers reported them.
    """
    began = clock()
    label = _MeterLabel(*meter)
    start = _start(spec, store, fp, label, dataset, budget_s, time_model, began)
    expected = start.already + start.budget.fit_count(idle_s, lanes=max(1, len(pool.workers())))
    events = _Progress(progress, clock, began, budget_s, expected, label.kind, done=start.already, by_worker=Counter())
    ledger = _Ledger(store, start.sweep_id, _context(spec, dataset), events, start.tally)
    executor = _PoolExecutor(spec, pool, start.archs, start.budget, ledger, label, clock)
    executor.walk(start.todo, should_stop)
    idle_w = statistics.fmean(executor.idle_w.values()) if executor.idle_w else 0.0
    return _finish(spec, start, ledger, label, began, budget_s, idle_w)


@dataclass(frozen=True)
class _Flight:
    """A run in flight: the planned run and the worker measuring it."""

    run: PlannedRun
    worker: str


@dataclass
class _PoolExecutor:
    """Hands the runs left to do to free workers (one each), settles each as it comes back."""

    spec: SweepSpec
    pool: RunPool
    archs: dict[str, Architecture]
    budget: _Budget
    ledger: _Ledger
    meter: _MeterLabel
    clock: Callable[[], float]
    flights: dict[object, _Flight] = field(default_factory=dict)
    losses: Counter[str] = field(default_factory=Counter)
    failures: dict[str, _MeterFailures] = field(default_factory=dict)
    hardware: dict[str, int] = field(default_factory=dict)
    idle_w: dict[str, float] = field(default_factory=dict)

    def walk(self, todo: list[PlannedRun], should_stop: Callable[[], bool]) -> _Outcome:
        """Run ``todo`` until done, stopped, out of budget or interrupted; runs in flight when a stop is
        asked for are waited for and committed; Ctrl-C drops them (never half-written)."""
        queue = deque(todo)
        waiting_since: float | None = None
        try:
            while True:
                if not self._stopping(should_stop):
                    self._submit(queue)
                if not self.flights:
                    if not queue or self._stopping(should_stop):
                        break
                    waiting_since = self.clock() if waiting_since is None else waiting_since
                    if self.clock() - waiting_since > NO_WORKER_PATIENCE_S:
                        self.ledger.outcome.stop_reason = f"no worker for {NO_WORKER_PATIENCE_S:.0f} s"
                        break
                else:
                    waiting_since = None
                for event in self.pool.finished(POLL_S):
                    self._settle(event, queue)
        except KeyboardInterrupt:
            self.ledger.outcome.interrupted = True
            self.pool.cancel()
        return self.ledger.outcome

    def _stopping(self, should_stop: Callable[[], bool]) -> bool:
        """Whether no more runs may start (a stop was asked for, or a policy stopped the sweep)."""
        outcome = self.ledger.outcome
        if not (outcome.interrupted or outcome.stop_reason) and should_stop():
            outcome.interrupted = True
        return outcome.interrupted or outcome.stop_reason is not None

    def _submit(self, queue: deque[PlannedRun]) -> None:
        """Give each free worker the next run that still fits the budget (those that do not are skipped)."""
        busy = {flight.worker for flight in self.flights.values()}
        for worker in self.pool.workers():
            if worker in busy:
                continue
            while queue and not self.budget.fits(queue[0].key, self.clock()):
                queue.popleft()  # does not fit any more; a cheaper one further on might
            if not queue:
                return
            run = queue.popleft()
            arch = self.archs[run.key]
            remote = RemoteRun(run.key, arch, _run_config(self.spec.config, run), self.budget.deadline - self.clock())
            self.flights[self.pool.submit(worker, remote)] = _Flight(run, worker)
            self.ledger.events.emit("run_started", _run_label(run, arch), worker=worker)

    def _settle(self, event: PoolEvent, queue: deque[PlannedRun]) -> None:
        """Commit a result (after its worker's idle measurement, if any), or deal with a lost run."""
        flight = self.flights.pop(event.handle, None)
        if flight is None:
            return
        remote = event.result
        if remote is None:
            self._lost(flight, event.lost_reason or "the worker left", queue)
            return
        if remote.idle_power_w is not None:
            self.idle_w[remote.worker] = remote.idle_power_w
            self.ledger.store.set_sweep_status(self.ledger.sweep_id, "running", remote.idle_power_w)
            self.ledger.events.emit("idle", f"idle power {remote.idle_power_w:.2f} W on {remote.host}",
                                    worker=remote.worker)  # fmt: skip
        if remote.result is None:  # the idle measurement failed: the run never started
            self._stop(f"idle measurement failed on {remote.host}: {remote.idle_error}")
            return
        self._record(flight, remote, remote.result)

    def _record(self, flight: _Flight, remote: RemoteResult, result: RunResult) -> None:
        """Commit a finished run with its worker and hardware; apply the budget and meter-failure policies."""
        run = flight.run
        self.ledger.commit(run, result, remote.worker, self._hardware_id(remote.fingerprint))
        self.budget.observe(run.key, result.wall_s)
        stop_reason = self.failures.setdefault(remote.worker, _MeterFailures()).stop_reason(result)
        self.ledger.events.emit("run_finished", self.archs[run.key].label, result, worker=remote.worker)
        if stop_reason is not None:
            self._stop(f"{stop_reason} (on {remote.host}, worker {remote.worker})")

    def _stop(self, reason: str) -> None:
        """Stop starting runs; the first reason given is the one reported."""
        self.ledger.outcome.stop_reason = self.ledger.outcome.stop_reason or reason

    def _lost(self, flight: _Flight, reason: str, queue: deque[PlannedRun]) -> None:
        """Queue a lost run again (first in line), or record it as failed once it has been lost twice."""
        run, arch = flight.run, self.archs[flight.run.key]
        self.losses[run.key] += 1
        if self.losses[run.key] < LOST_RUN_ATTEMPTS:
            log.warning("run %s was lost with worker %s (%s); queued again", run.key, flight.worker, reason)
            self.ledger.outcome.requeued += 1
            queue.appendleft(run)
            self.ledger.events.emit("run_lost", f"{_run_label(run, arch)} lost: queued again", worker=flight.worker)
            return
        result = lost_result(arch, self.meter.name, MeterKind(self.meter.kind), f"lost with its worker twice: {reason}")
        self.ledger.commit(run, result, flight.worker)
        self.ledger.events.emit("run_finished", arch.label, result, worker=flight.worker)

    def _hardware_id(self, fp: Fingerprint) -> int:
        """The store's id of a worker's hardware (inserted the first time it is seen)."""
        digest = fp.digest()
        if digest not in self.hardware:
            self.hardware[digest] = self.ledger.store.hardware_id(fp)
        return self.hardware[digest]


def lost_result(arch: Architecture, meter: str, kind: MeterKind, reason: str) -> RunResult:
    """The record of a run that never came back: both phases rejected with ``reason``, nothing measured."""
    phases = [PhaseResult(phase, (), math.nan, math.nan, math.nan, 0.0, reject_reason=reason)
              for phase in ("train", "inference")]  # fmt: skip
    return RunResult(arch, meter, kind, 0.0, phases[0], phases[1], math.nan, None, 0.0, 0.0)
