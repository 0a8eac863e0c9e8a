"""Plan a calibration sweep that spans the device's cache tiers within a time budget, and run it.

The plan is an ordered list of runs over one or several data sets (input widths), longer than the budget
will allow: a coverage round first (every cache tier of the sweep's device x every shape, data sets in
turn, cheapest configs, varied depths), then a fill stratified by (tier, data set), with repeats of earlier
configs interleaved to measure the noise floor and a sentinel config re-measured throughout for drift.
The executor walks the list, skips runs already committed (resume) and runs that its time model says no
longer fit in the budget, and commits each finished run in one transaction. Its policies are small separate pieces: the
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from measurement.architecture import DEPTHS, SHAPES, SIZES, Architecture, size_architecture
from measurement.cost import cost
from measurement.datasets import Dataset
from measurement.errors import InputError
from measurement.hardware import Fingerprint
from measurement.meters.base import EnergyMeter, MeterError, MeterKind
from measurement.records import (
    DEFAULT_IDLE_EVERY_S,
    DEFAULT_IDLE_S,
    CommittedRun,
    Drift,
    PhaseResult,
    PlannedRun,
    RunResult,
    TrainConfig,
    parse_run_key,
    sentinel_drift,
    sweep_repeat_differences,
)
from measurement.store import RunContext, RunStore
from measurement.tiers import Tier, device_tiers, is_cuda, tier_index, tier_labels

CALIBRATION_BATCH_SIZES = (16, 64, 256, 1024)
MAX_RUN_SHARE_OF_BUDGET = 0.12
REPEAT_EVERY = 6
SENTINEL = ("rectangle", 4, 2**14, 256)
"""The sentinel config (shape, depth, size, batch), planned first on the middle data set and re-measured
throughout the sweep: its drift says how far the machine's speed moved."""
SENTINEL_EVERY = 12
SENTINEL_EVERY_SHARE = 0.08
SENTINEL_MIN_GAP = 4
"""The sentinel is measured again after ``SENTINEL_EVERY`` runs, or ``SENTINEL_EVERY_SHARE`` of the budget,
whichever is sooner, but never after fewer than ``SENTINEL_MIN_GAP`` runs (short budgets)."""
MAX_PLAN_RUNS = 2000
MAX_METER_FAILURES = 3
LOST_RUN_ATTEMPTS = 2
"""A run lost with its worker is re-queued until it has been lost this many times, then recorded as failed."""
NO_WORKER_PATIENCE_S = 300.0
"""How long a pool sweep with runs left waits for a worker to (re)appear before it stops."""
POLL_S = 0.5
UNSEEN_SCALE = 2.0
"""A run predicted more than twice as long as any finished run is assumed to take at least this many times
its prediction when the budget decides whether it still fits."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeModel:
    """Predicts a run's wall time from its cost (run_sweep scales it by what finished runs took).

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


@dataclass(frozen=True)
class DataDims:
    """What the planner needs of one data set of a sweep: its widths and its test and training rows."""

    input_dim: int
    output_dim: int
    test_samples: int
    train_samples: int = 0


@dataclass(frozen=True)
class _Candidate:
    """A run the calibration planner may pick: its cache tier and predicted seconds."""

    run: PlannedRun
    tier: int
    seconds: float

    @property
    def stratum(self) -> tuple[int, int]:
        """(tier, data set): the fill gives each about equal time."""
        return self.tier, self.run.data


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
    """A calibration plan on one data set (:func:`plan_calibration_across` with one)."""
    data = (DataDims(input_dim, output_dim, test_samples),)
    return plan_calibration_across(fp, data, budget_s, config, time_model, batch_sizes, seed, max_runs)


def plan_calibration_across(
    fp: Fingerprint,
    data: Sequence[DataDims],
    budget_s: float,
    config: TrainConfig,
    time_model: TimeModel = TimeModel(),
    batch_sizes: tuple[int, ...] = CALIBRATION_BATCH_SIZES,
    seed: int = 0,
    max_runs: int | None = None,
) -> list[PlannedRun]:
    """An ordered plan over the data sets ``data`` whose predicted time is about three budgets (the
    executor stops in time).

    Working sets are placed in the tiers of ``config.device`` (:func:`measurement.tiers.device_tiers`).
    The sentinel (:func:`_sentinel`, on the middle data set) comes first and again every
    ``SENTINEL_EVERY`` runs or ``SENTINEL_EVERY_SHARE`` of the budget, whichever is sooner; then the
    coverage round (every tier x every shape, data sets in turn, and every reachable (tier, data set)
    at least once), cheapest first; then a fill that gives each (tier, data set) stratum about equal
    time, with a repeat of an earlier config every ``REPEAT_EVERY`` new runs.
    """
    rng = random.Random(seed)
    tiers = device_tiers(fp, config.device)
    memory_cap = _memory_cap(fp, config.device)
    candidates = [
        c
        for index, dims in enumerate(data)
        for c in _candidates(tiers, memory_cap, index, dims, budget_s, config, time_model, batch_sizes)
    ]
    sentinel = _sentinel(candidates, len(data) // 2)
    if sentinel is None:
        return []
    candidates = [c for c in candidates if c.run != sentinel.run]
    chosen, stratum_time = _coverage(candidates, rng, len(data))
    limit = max_runs or MAX_PLAN_RUNS
    _fill(chosen, stratum_time, candidates, rng, budget_s, limit, sentinel.run.config_key)
    return _with_sentinel(chosen, sentinel, budget_s)[:limit]


def _memory_cap(fp: Fingerprint, device: str) -> float:
    """The largest working set worth planning: a quarter of the device's memory."""
    if is_cuda(device) and fp.gpu is not None:
        return fp.gpu.memory_bytes / 4
    return (fp.memory_bytes or 8 * 2**30) / 4


def _candidates(
    tiers: tuple[Tier, ...],
    memory_cap: float,
    data: int,
    dims: DataDims,
    budget_s: float,
    config: TrainConfig,
    time_model: TimeModel,
    batch_sizes: tuple[int, ...],
) -> list[_Candidate]:
    """Every on-target (shape, depth, size, batch) on data set ``data`` whose working set and predicted
    time are small enough."""
    found: list[tuple[PlannedRun, int, float]] = []  # run, working set, predicted seconds
    for shape in SHAPES:
        for depth in DEPTHS:
            if depth == 2 and shape is not SHAPES[0]:
                continue  # at depth 2 every shape is [w, O]: measure it once, as rectangle
            for size in SIZES:
                arch = size_architecture(shape, depth, size, dims.input_dim, dims.output_dim)
                if arch.off_target:
                    continue
                for batch in batch_sizes:
                    ws = cost(arch, batch).train_working_set_bytes
                    seconds = time_model.run_s(arch, batch, config, dims.test_samples, dims.train_samples)
                    if ws <= memory_cap and seconds <= MAX_RUN_SHARE_OF_BUDGET * budget_s:
                        found.append((PlannedRun(shape.value, depth, size, batch, data=data), ws, seconds))
    if not found:
        return []
    indices = tier_index(np.array([ws for _, ws, _ in found], dtype=float), tiers)
    return [_Candidate(run, int(t), seconds) for (run, _, seconds), t in zip(found, indices, strict=True)]


def _sentinel(candidates: list[_Candidate], data: int) -> _Candidate | None:
    """The sentinel: :data:`SENTINEL` on data set ``data`` when it can be planned there, else the candidate
    nearest to it (in size, depth, batch, shape; on the nearest data set that has one)."""
    if not candidates:
        return None
    shape, depth, size, batch = SENTINEL

    def distance(c: _Candidate) -> tuple[float, ...]:
        r = c.run
        return (abs(r.data - data), abs(math.log2(r.size / size)), abs(r.depth - depth),
                abs(math.log2(r.batch_size / batch)), r.shape != shape, r.data)  # fmt: skip

    return min(candidates, key=distance)


def _pick(pool: list[_Candidate], rng: random.Random) -> _Candidate:
    """One of the six cheapest of ``pool`` (varied depths, still cheap)."""
    pool = sorted(pool, key=lambda c: c.seconds)
    return rng.choice(pool[: min(6, len(pool))])


def _coverage(
    candidates: list[_Candidate], rng: random.Random, data_count: int
) -> tuple[list[tuple[PlannedRun, float]], Counter[tuple[int, int]]]:
    """One cheap run per tier x shape (data sets assigned in turn, the next in turn that has one), then one
    more for each reachable (tier, data set) still without a run; cheapest first.

    Returns:
        The chosen runs with their predicted seconds, and the predicted time spent per (tier, data set).
    """
    cells: dict[tuple[int, str, int], list[_Candidate]] = {}
    for c in candidates:
        cells.setdefault((c.tier, c.run.shape, c.run.data), []).append(c)
    picks: list[_Candidate] = []
    turn = 0
    for tier in sorted({c.tier for c in candidates}):
        for shape in SHAPES:
            order = [(turn + offset) % data_count for offset in range(data_count)]
            pools = [cells[key] for d in order if (key := (tier, shape.value, d)) in cells]
            if pools:
                picks.append(_pick(pools[0], rng))
            turn += 1
    covered = {c.stratum for c in picks}
    for stratum in sorted({c.stratum for c in candidates} - covered):
        picks.append(_pick([c for c in candidates if c.stratum == stratum], rng))
    stratum_time: Counter[tuple[int, int]] = Counter()
    for c in picks:
        stratum_time[c.stratum] += c.seconds
    picks.sort(key=lambda c: c.seconds)
    return [(c.run, c.seconds) for c in picks], stratum_time


def _fill(
    chosen: list[tuple[PlannedRun, float]],
    stratum_time: Counter[tuple[int, int]],
    candidates: list[_Candidate],
    rng: random.Random,
    budget_s: float,
    limit: int,
    sentinel_key: str,
) -> None:
    """Append runs to ``chosen`` until about three budgets: the (tier, data set) stratum with the least time
    so far next, a repeat of an earlier (cheaper than median) config after every ``REPEAT_EVERY`` new runs
    (a config not repeated yet where there is one; never the sentinel, which has its own repeats)."""
    queues = _fill_queues(candidates, {run.key for run, _ in chosen}, rng)
    total = sum(s for _, s in chosen)
    new_runs = 0
    repeats: Counter[str] = Counter()
    while len(chosen) < limit and total < 3 * budget_s and any(queues.values()):
        stratum = min((t for t in queues if queues[t]), key=lambda t: (stratum_time[t], t))  # equal time each
        run, seconds = queues[stratum].pop()
        chosen.append((run, seconds))
        total += seconds
        stratum_time[stratum] += seconds
        new_runs += 1
        if new_runs % REPEAT_EVERY == 0 and len(chosen) < limit:
            median_s = statistics.median(s for _, s in chosen)
            bases = [(r, s) for r, s in chosen if s <= median_s and r.repeat == 0 and r.config_key != sentinel_key]
            fresh = [(r, s) for r, s in bases if not repeats[r.config_key]]
            base, base_s = rng.choice(fresh or bases)
            repeats[base.config_key] += 1
            chosen.append((dataclasses.replace(base, repeat=repeats[base.config_key]), base_s))
            total += base_s


def _fill_queues(
    candidates: list[_Candidate], used: set[str], rng: random.Random
) -> dict[tuple[int, int], list[tuple[PlannedRun, float]]]:
    """Per (tier, data set), the unused candidates in weighted random order without replacement
    (Efraimidis-Spirakis keys, cheaper runs more likely): ``pop()`` gives the next one."""
    keyed: dict[tuple[int, int], list[tuple[PlannedRun, float, float]]] = {
        t: [] for t in sorted({c.stratum for c in candidates})
    }
    for c in candidates:
        if c.run.key not in used:
            keyed[c.stratum].append((c.run, c.seconds, rng.random() ** math.sqrt(max(c.seconds, 1e-3))))
    return {stratum: [(r, s) for r, s, _ in sorted(queue, key=lambda q: q[2])] for stratum, queue in keyed.items()}


def _with_sentinel(chosen: list[tuple[PlannedRun, float]], sentinel: _Candidate, budget_s: float) -> list[PlannedRun]:
    """The plan with the sentinel first and again (repeat 1, 2, ...) after every ``SENTINEL_EVERY`` runs or
    ``SENTINEL_EVERY_SHARE`` of the budget in predicted seconds, whichever comes first (at least
    ``SENTINEL_MIN_GAP`` runs apart)."""
    plan = [sentinel.run]
    repeat, runs, seconds = 0, 0, 0.0
    for run, run_s in chosen:
        if runs >= SENTINEL_EVERY or (runs >= SENTINEL_MIN_GAP and seconds >= SENTINEL_EVERY_SHARE * budget_s):
            repeat += 1
            plan.append(dataclasses.replace(sentinel.run, repeat=repeat))
            runs, seconds = 0, 0.0
        plan.append(run)
        runs += 1
        seconds += run_s
    return plan


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
    accuracy curve; runs predicted to take more than a fifth of the budget are left out: with long probe
    epochs that caps the largest sizes (digits, 256 epochs, 300 s: 2^10 .. 2^18, the largest plateau soonest).
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
    """Everything that defines a sweep; its hash identifies the sweep in the store (for resume).

    Attributes:
        dataset: the first data set's name (runs with ``data`` 0), ``dataset_hash`` its fingerprint.
        extra_datasets: (name, fingerprint) of the data sets 1, 2, ... (runs with ``data`` > 0); stored only
            when there are any, so a one-data-set plan keeps its digest.
    """

    kind: str
    dataset: str
    dataset_hash: str
    config: TrainConfig
    runs: tuple[PlannedRun, ...]
    budget_s: float
    extra_datasets: tuple[tuple[str, str], ...] = ()

    @property
    def datasets(self) -> tuple[tuple[str, str], ...]:
        """(name, fingerprint) of every data set, in ``PlannedRun.data`` order."""
        return ((self.dataset, self.dataset_hash), *self.extra_datasets)

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """Every data set's name, in ``PlannedRun.data`` order."""
        return tuple(name for name, _ in self.datasets)

    def to_dict(self) -> dict:
        """JSON-ready form, stored with the sweep."""
        extra = {"extra_datasets": [list(d) for d in self.extra_datasets]} if self.extra_datasets else {}
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "config": dataclasses.asdict(self.config),
            "runs": [r.to_dict() for r in self.runs],
            "budget_s": self.budget_s,
        } | extra

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
            extra_datasets=tuple((str(name), str(digest)) for name, digest in data.get("extra_datasets", ())),
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
    datasets: dict[str, int] = field(default_factory=dict)
    """Accepted runs per data set (every data set of the sweep included)."""
    drift: float | None = None
    """The sentinel's drift over the sweep so far (:class:`measurement.records.Drift`; None: too few)."""
    drift_count: int = 0
    """The sentinel's accepted measurements."""

    @property
    def drift_is_real(self) -> bool | None:
        """Whether the drift exceeds twice the repeat-noise floor (None when either is unknown)."""
        return Drift(self.drift, self.drift_count).is_real(self.noise_floor)


@dataclass
class SweepTally:
    """What a sweep's accepted runs add up to, accumulated run by run (never re-read from the store).

    Fed every run as it is committed (:meth:`add_result`), and seeded once with the runs an earlier
    invocation of the same sweep committed (:meth:`add_committed`). Rejected runs count in none of it.

    Attributes:
        tiers: the tiers of the sweep's device; working sets are counted per tier label.
        by_tier: accepted runs per tier label.
        by_shape: accepted runs per shape.
        dataset_names: the sweep's data sets, in ``PlannedRun.data`` order.
        by_dataset: accepted runs per data set name.
        energies: idle-standardised training energy per datum of the accepted runs, per config key, in
            commit order.
    """

    tiers: tuple[Tier, ...]
    by_tier: Counter[str] = field(default_factory=Counter)
    by_shape: Counter[str] = field(default_factory=Counter)
    energies: dict[str, list[float]] = field(default_factory=dict)
    dataset_names: tuple[str, ...] = ()
    by_dataset: Counter[str] = field(default_factory=Counter)

    @classmethod
    def seeded(
        cls, tiers: tuple[Tier, ...], committed: list[CommittedRun], dataset_names: tuple[str, ...] = ()
    ) -> SweepTally:
        """A tally of ``tiers`` that already counts the runs an earlier invocation committed."""
        tally = cls(tiers, dataset_names=dataset_names)
        for run in committed:
            tally.add_committed(run)
        return tally

    def add(self, run_key: str, arch: Architecture, batch_size: int, energy_per_datum_j: float) -> None:
        """Count one accepted run."""
        working_set = cost(arch, batch_size).train_working_set_bytes
        self.by_tier[tier_labels(self.tiers)[tier_index(working_set, self.tiers)]] += 1
        self.by_shape[arch.shape.value] += 1
        run = parse_run_key(run_key)
        if run.data < len(self.dataset_names):
            self.by_dataset[self.dataset_names[run.data]] += 1
        self.energies.setdefault(run.config_key, []).append(energy_per_datum_j)

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
        diffs = sweep_repeat_differences(self.energies)
        return (statistics.median(diffs) if diffs else None), len(diffs)

    def drift(self) -> Drift:
        """The sentinel's drift (the same figure :func:`measurement.records.drift` gives for the export)."""
        return sentinel_drift(self.energies)

    def dataset_counts(self) -> dict[str, int]:
        """Accepted runs per data set name, every data set of the sweep included."""
        return {name: self.by_dataset.get(name, 0) for name in self.dataset_names}


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
    datasets: tuple[Dataset, ...],
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
    archs = {}
    for r in spec.runs:
        data = datasets[r.data]
        archs[r.key] = size_architecture(r.shape, r.depth, r.size, data.input_dim, data.output_dim)
    budget = _Budget(began, budget_s, _predictions(todo, archs, spec.config, datasets, time_model))
    tiers = device_tiers(fp, spec.config.device)
    tally = SweepTally.seeded(tiers, store.committed_runs(sweep_id), spec.dataset_names)
    return _Start(sweep_id, todo, len(spec.runs) - len(todo), archs, budget, tally)


def sweep_datasets(spec: SweepSpec, dataset: Dataset | Sequence[Dataset]) -> tuple[Dataset, ...]:
    """The loaded data sets of ``spec``, one per data set it names (a single Dataset: a one-data-set sweep).

    Raises:
        InputError: when their number differs from the spec's, or one is not the data set the sweep was
            planned with (its fingerprint changed).
    """
    datasets = (dataset,) if isinstance(dataset, Dataset) else tuple(dataset)
    if len(datasets) != len(spec.datasets):
        raise InputError(f"the sweep has {len(spec.datasets)} data sets, {len(datasets)} were given")
    for (name, digest), loaded in zip(spec.datasets, datasets, strict=True):
        if loaded.fingerprint() != digest:
            raise InputError(f"dataset {name} no longer matches the one this sweep started with")
    return datasets


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
    dataset: Dataset | Sequence[Dataset],
    fp: Fingerprint,
    budget_s: float,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    time_model: TimeModel = TimeModel(),
    idle_s: float = DEFAULT_IDLE_S,
    idle_every_s: float = DEFAULT_IDLE_EVERY_S,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    began: float | None = None,
) -> SweepSummary:
    """Run (or resume) a sweep until the plan is done, the budget is spent, or a stop is asked for.

    Runs already committed to this sweep are skipped; runs predicted not to fit the rest of the budget
    are skipped (a cheaper one further on may still fit). Idle power is measured first and again every
    ``idle_every_s``; a failed or rejected idle measurement stops the sweep (``stop_reason``), and so do
    ``MAX_METER_FAILURES`` runs in a row with meter errors. KeyboardInterrupt is caught: the run in
    flight is dropped (never half-written), finished runs stay committed, and the summary says
    ``interrupted``. Torch is imported only when a run trains.

    Args:
        dataset: the sweep's data sets in ``spec.datasets`` order (a single Dataset for a one-data-set sweep).
        began: the ``clock()`` value the budget counts from (default: now); a caller that loaded data and
            planned first passes when it started, so that set-up counts against the budget too.

    Raises:
        InputError: when ``dataset`` does not match the data sets the spec names.
    """
    began = clock() if began is None else began
    datasets = sweep_datasets(spec, dataset)
    label = _MeterLabel(meter.name, meter.kind.value)
    start = _start(spec, store, fp, label, datasets, budget_s, time_model, began)
    expected = start.already + start.budget.fit_count(idle_s + clock() - began)
    events = _Progress(progress, clock, began, budget_s, expected, label.kind, done=start.already)
    ledger = _Ledger(store, start.sweep_id, _contexts(spec, datasets), events, start.tally)
    idle = IdlePower(meter, idle_s, idle_every_s, clock)
    executor = _Executor(spec, meter, datasets, start.archs, start.budget, idle, _MeterFailures(), ledger, clock)
    executor.walk(start.todo, should_stop)
    return _finish(spec, start, ledger, label, began, budget_s, idle.watts)


def _predictions(
    todo: list[PlannedRun],
    archs: dict[str, Architecture],
    config: TrainConfig,
    datasets: tuple[Dataset, ...],
    model: TimeModel,
) -> dict[str, float]:
    """Predicted seconds of each run left to do (on its own data set), in plan order."""
    return {
        r.key: model.run_s(archs[r.key], r.batch_size, config, int(datasets[r.data].x_test.shape[0]),
                           datasets[r.data].train_samples)
        for r in todo
    }  # fmt: skip


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
    drift = tally.drift()
    return SweepSummary(
        sweep_id=sweep_id, planned=len(spec.runs), committed_now=len(outcome.keys), already_done=already,
        rejected_now=outcome.rejected, elapsed_s=elapsed_s, budget_s=budget_s, interrupted=outcome.interrupted,
        complete=complete, meter=meter.name, meter_kind=meter.kind, idle_power_w=idle_w,
        tiers=tally.tier_counts(), shapes=dict(tally.by_shape), noise_floor=floor, repeat_pairs=pairs,
        stop_reason=outcome.stop_reason, workers=dict(sorted((by_worker or {}).items())), requeued=outcome.requeued,
        datasets=tally.dataset_counts(), drift=drift.value, drift_count=drift.count,
    )  # fmt: skip


@dataclass
class _Budget:
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
    contexts: tuple[RunContext, ...]
    events: _Progress
    tally: SweepTally
    outcome: _Outcome = field(default_factory=_Outcome)

    def commit(self, run: PlannedRun, result: RunResult, worker: str = "local", hardware_id: int | None = None) -> None:
        """Write the run in one transaction (with who measured it, on what, and on which data set), then
        count it."""
        ctx = dataclasses.replace(self.contexts[run.data], batch_size=run.batch_size)
        self.store.record_run(self.sweep_id, run.key, result, ctx, worker, hardware_id)
        self.outcome.keys.add(run.key)
        self.outcome.rejected += result.reject_reason is not None
        self.events.count(worker)
        self.tally.add_result(run.key, result, run.batch_size)


def _run_label(run: PlannedRun, arch: Architecture, names: tuple[str, ...] = ()) -> str:
    """What a progress line calls a run: architecture, batch size, its data set when the sweep has several,
    and its repeat index if any."""
    data = f" on {names[run.data]}" if len(names) > 1 else ""
    repeat = f" (repeat {run.repeat})" if run.repeat else ""
    return f"{arch.label} b{run.batch_size}{data}{repeat}"


def _run_config(config: TrainConfig, run: PlannedRun) -> TrainConfig:
    """The sweep's config with this run's batch size, and a seed per repeat."""
    return dataclasses.replace(config, batch_size=run.batch_size, seed=config.seed + run.repeat)


@dataclass
class _Executor:
    """Walks the runs left to do: idle power when due, the budget check, train, commit, tally, report."""

    spec: SweepSpec
    meter: EnergyMeter
    datasets: tuple[Dataset, ...]
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
                idle_due = self.idle.due()
                if not self.budget.fits(run.key, self.clock(), self.idle.idle_s if idle_due else 0.0):
                    continue  # does not fit any more; a cheaper one further on might
                if idle_due and not self._measure_idle():
                    break
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
        self.ledger.events.emit("run_started", _run_label(run, arch, self.spec.dataset_names))
        config = _run_config(self.spec.config, run)
        dataset = self.datasets[run.data]
        result = _train(arch, dataset, self.meter, config, self.idle.watts, self.clock, self.budget.deadline)
        self.ledger.commit(run, result)
        self.budget.observe(run.key, result.wall_s)
        stop_reason = self.failures.stop_reason(result)
        self.ledger.events.emit("run_finished", arch.label, result)
        if stop_reason is not None:
            self.ledger.outcome.stop_reason = stop_reason
            return False
        return True


def _contexts(spec: SweepSpec, datasets: tuple[Dataset, ...]) -> tuple[RunContext, ...]:
    """Per data set, what the runs on it are recorded with: the data set and the protocol (each run with
    its own batch size)."""
    c = spec.config
    return tuple(
        RunContext(name, digest, data.task.value, data.train_samples, data.train_bytes, c.batch_size,
                   c.inference_batch_size, c.threads, c.device)
        for (name, digest), data in zip(spec.datasets, datasets, strict=True)
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
    data: int = 0
    """Which of the sweep's data sets to train on (:attr:`SweepSpec.datasets` order)."""


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
    dataset: Dataset | Sequence[Dataset],
    fp: Fingerprint,
    meter: tuple[str, str],
    budget_s: float,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    time_model: TimeModel = TimeModel(),
    idle_s: float = DEFAULT_IDLE_S,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    began: float | None = None,
    idle_every_s: float = DEFAULT_IDLE_EVERY_S,
) -> SweepSummary:
    """Run (or resume) a sweep on a pool of workers; this process commits each run as its result arrives.

    The policies are :func:`run_sweep`'s: committed runs are skipped, the budget is checked before each
    submission, ``MAX_METER_FAILURES`` meter errors in a row (on one worker) stop the sweep, Ctrl-C keeps
    what was committed. At most one run is in flight per worker. Each worker measures its own idle power
    with its own meter, before its first run and every ``idle_every_s`` (the workers' setting); the budget
    check reserves ``idle_s`` for it before a run on a worker whose measurement is due. A run lost with its
    worker is queued again; lost a second time, it is recorded as failed (status rejected, with the reason).
    ``fp`` is the hardware the plan was made for (the sweep's); each run records the worker and hardware it
    ran on.

    Args:
        dataset: the sweep's data sets, as :func:`run_sweep` takes them (each worker loads its own copies).
        meter: the sweep's meter name and kind (``measured`` / ``estimated``), as the workers reported them.
        began: as :func:`run_sweep`'s.
    """
    began = clock() if began is None else began
    datasets = sweep_datasets(spec, dataset)
    label = _MeterLabel(*meter)
    start = _start(spec, store, fp, label, datasets, budget_s, time_model, began)
    expected = start.already + start.budget.fit_count(idle_s + clock() - began, lanes=max(1, len(pool.workers())))
    events = _Progress(progress, clock, began, budget_s, expected, label.kind, done=start.already, by_worker=Counter())
    ledger = _Ledger(store, start.sweep_id, _contexts(spec, datasets), events, start.tally)
    executor = _PoolExecutor(spec, pool, start.archs, start.budget, ledger, label, clock, idle_s, idle_every_s)
    executor.walk(start.todo, should_stop)
    idle_w = statistics.fmean(executor.idle_w.values()) if executor.idle_w else 0.0
    return _finish(spec, start, ledger, label, began, budget_s, idle_w)


@dataclass(frozen=True)
class _Flight:
    """A run in flight: the planned run, the worker measuring it, and when it was handed over."""

    run: PlannedRun
    worker: str
    submitted_s: float = 0.0


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
    idle_s: float = 0.0
    idle_every_s: float = DEFAULT_IDLE_EVERY_S
    flights: dict[object, _Flight] = field(default_factory=dict)
    idle_at_s: dict[str, float] = field(default_factory=dict)
    """When each worker last measured idle power, on this process's clock (the hand-over of the run it came
    with: no later than the measurement, so a due one is never missed)."""
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
        """Give each free worker the next run that still fits the budget after the worker's due idle measurement.

        A run that fits no worker any more (not even one with no idle measurement due) is dropped; one that
        fits only without the idle window stays queued for a worker that has measured. When every worker is
        free and none can take a run, none ever will (a worker stops being due only by running): the rest is
        dropped.
        """
        busy = {flight.worker for flight in self.flights.values()}
        asked = False
        for worker in self.pool.workers():
            if worker in busy:
                continue
            asked = True
            while queue and not self.budget.fits(queue[0].key, self.clock()):
                queue.popleft()  # does not fit any more; a cheaper one further on might
            idle_s = self._idle_due_s(worker)
            run = next((r for r in queue if self.budget.fits(r.key, self.clock(), idle_s)), None)
            if run is None:
                continue
            queue.remove(run)
            arch = self.archs[run.key]
            remaining_s = self.budget.deadline - self.clock()
            remote = RemoteRun(run.key, arch, _run_config(self.spec.config, run), remaining_s, run.data)
            self.flights[self.pool.submit(worker, remote)] = _Flight(run, worker, self.clock())
            self.ledger.events.emit("run_started", _run_label(run, arch, self.spec.dataset_names), worker=worker)
        if asked and not self.flights:
            queue.clear()

    def _idle_due_s(self, worker: str) -> float:
        """The idle measurement ``worker`` makes before its next run: ``idle_s`` when due, else 0."""
        last = self.idle_at_s.get(worker)
        due = self.idle_s > 0 and (last is None or self.clock() - last > self.idle_every_s)
        return self.idle_s if due else 0.0

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
            self.idle_at_s[flight.worker] = flight.submitted_s
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
            label = _run_label(run, arch, self.spec.dataset_names)
            self.ledger.events.emit("run_lost", f"{label} lost: queued again", worker=flight.worker)
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
