"""Plan a sweep: an ordered list of runs longer than the budget will allow (the executor stops in time).

A calibration plan spans the cache tiers of the sweep's device over one or several data sets (input widths):
a coverage round first (every tier x every shape, data sets in turn, cheapest configs, varied depths), then a
fill stratified by (tier, data set), with repeats of earlier configs interleaved to measure the noise floor
and a sentinel config re-measured throughout for drift; the plan records which config its sentinel is. A
probe plan spreads sizes, shapes, depths, learning rates and batch sizes over one data set for the accuracy model.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from measurement.architecture import DEPTHS, SHAPES, SIZES, size_architecture
from measurement.cost import cost
from measurement.hardware import Fingerprint
from measurement.records import NO_SENTINEL, PlannedRun, TrainConfig
from measurement.sweep.timing import DEFAULT_TIME_MODEL, TimeModel
from measurement.tiers import Tier, device_tiers, is_cuda, tier_index

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
PROBE_DEPTHS = (2, 3, 4, 6, 8)
PROBE_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
"""Adam learning rates a probe spreads over, log-spaced: BUTTER's 1e-4 to the 1e-3 .. 1e-2 people train with."""
PROBE_BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
"""Batch sizes a probe spreads over (capped at the training set: :func:`probe_batch_sizes`)."""
PROBE_ROUNDS = 3
MAX_PROBE_ROUNDS = 16
"""A probe plan walks the sizes three times (each time other shapes and depths), more while it needs more runs."""


@dataclass(frozen=True)
class Plan(Sequence[PlannedRun]):
    """An ordered plan: its runs (a plan reads as the sequence of them) and the config of its sentinel.

    Attributes:
        runs: the runs in the order the executor walks them.
        sentinel: the config key of the sentinel the plan re-measures for drift (:data:`NO_SENTINEL`: none).
    """

    runs: tuple[PlannedRun, ...] = ()
    sentinel: str = NO_SENTINEL

    @overload
    def __getitem__(self, index: int) -> PlannedRun: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[PlannedRun, ...]: ...

    def __getitem__(self, index: int | slice) -> PlannedRun | tuple[PlannedRun, ...]:
        return self.runs[index]

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[PlannedRun]:
        return iter(self.runs)


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


@dataclass(frozen=True)
class _Limits:
    """What bounds the calibration planner's choice: the budget, the protocol and its time model."""

    budget_s: float
    config: TrainConfig
    time_model: TimeModel
    batch_sizes: tuple[int, ...]


def plan_calibration(
    fp: Fingerprint,
    input_dim: int,
    output_dim: int,
    budget_s: float,
    config: TrainConfig,
    test_samples: int,
    time_model: TimeModel = DEFAULT_TIME_MODEL,
    batch_sizes: tuple[int, ...] = CALIBRATION_BATCH_SIZES,
    seed: int = 0,
    max_runs: int | None = None,
) -> Plan:
    """A calibration plan on one data set (:func:`plan_calibration_across` with one)."""
    data = (DataDims(input_dim, output_dim, test_samples),)
    return plan_calibration_across(
        fp, data, budget_s, config, time_model=time_model, batch_sizes=batch_sizes, seed=seed, max_runs=max_runs
    )


def plan_calibration_across(
    fp: Fingerprint,
    data: Sequence[DataDims],
    budget_s: float,
    config: TrainConfig,
    time_model: TimeModel = DEFAULT_TIME_MODEL,
    batch_sizes: tuple[int, ...] = CALIBRATION_BATCH_SIZES,
    seed: int = 0,
    max_runs: int | None = None,
) -> Plan:
    """An ordered plan over the data sets ``data`` whose predicted time is about three budgets (the
    executor stops in time).

    Working sets are placed in the tiers of ``config.device`` (:func:`measurement.tiers.device_tiers`).
    The sentinel (:func:`_sentinel`, on the middle data set) comes first and again every
    ``SENTINEL_EVERY`` runs or ``SENTINEL_EVERY_SHARE`` of the budget, whichever is sooner; then the
    coverage round (every tier x every shape, data sets in turn, and every reachable (tier, data set)
    at least once), cheapest first; then a fill that gives each (tier, data set) stratum about equal
    time, with a repeat of an earlier config every ``REPEAT_EVERY`` new runs. The plan records its sentinel.
    """
    rng = random.Random(seed)
    tiers = device_tiers(fp, config.device)
    limits = _Limits(budget_s=budget_s, config=config, time_model=time_model, batch_sizes=batch_sizes)
    memory_cap = _memory_cap(fp, config.device)
    candidates = [c for index, dims in enumerate(data) for c in _candidates(tiers, memory_cap, index, dims, limits)]
    sentinel = _sentinel(candidates, len(data) // 2)
    if sentinel is None:
        return Plan()
    candidates = [c for c in candidates if c.run != sentinel.run]
    chosen, stratum_time = _coverage(candidates, rng, len(data))
    limit = max_runs or MAX_PLAN_RUNS
    _fill(chosen, stratum_time, candidates, rng, budget_s, limit, sentinel.run.config_key)
    runs = _with_sentinel(chosen, sentinel, budget_s)[:limit]
    return Plan(tuple(runs), sentinel.run.config_key)


def _memory_cap(fp: Fingerprint, device: str) -> float:
    """The largest working set worth planning: a quarter of the device's memory."""
    if is_cuda(device) and fp.gpu is not None:
        return fp.gpu.memory_bytes / 4
    return (fp.memory_bytes or 8 * 2**30) / 4


def _candidates(
    tiers: tuple[Tier, ...], memory_cap: float, data: int, dims: DataDims, limits: _Limits
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
                for batch in limits.batch_sizes:
                    ws = cost(arch, batch).train_working_set_bytes
                    seconds = limits.time_model.run_s(arch, batch, limits.config, dims.test_samples, dims.train_samples)
                    if ws <= memory_cap and seconds <= MAX_RUN_SHARE_OF_BUDGET * limits.budget_s:
                        run = PlannedRun(shape=shape.value, depth=depth, size=size, batch_size=batch, data=data)
                        found.append((run, ws, seconds))
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
        size_steps, batch_steps = abs(math.log2(r.size / size)), abs(math.log2(r.batch_size / batch))
        return abs(r.data - data), size_steps, abs(r.depth - depth), batch_steps, r.shape != shape, r.data

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


def probe_batch_sizes(batch_sizes: Sequence[int], train_samples: int) -> tuple[int, ...]:
    """The batch sizes a probe spreads over on a training set of ``train_samples`` rows: each capped at it
    (a batch larger than the set is the whole set), in increasing order without duplicates."""
    if train_samples <= 0:
        return tuple(sorted(set(batch_sizes)))
    return tuple(sorted({min(b, train_samples) for b in batch_sizes}))


@dataclass
class _RecipeBalance:
    """Chooses each probe run's recipe (learning rate, batch size) so that every learning rate and every batch
    appears early and about equally often, and pairs of them spread (seeded ties)."""

    learning_rates: tuple[float | None, ...]
    batch_sizes: tuple[int, ...]
    rng: random.Random
    counts: Counter[object] = dataclasses.field(default_factory=Counter)

    def ranked(self) -> list[tuple[float | None, int]]:
        """Every pair, least used first: the rarer of its learning rate and batch, then both, then the pair."""
        pairs = [(lr, b) for lr in self.learning_rates for b in self.batch_sizes]
        if len(pairs) == 1:
            return pairs  # a fixed recipe draws nothing: the plan is the one a fixed recipe always gave
        ties = {pair: self.rng.random() for pair in pairs}
        c = self.counts

        def key(pair: tuple[float | None, int]) -> tuple[int, int, int, float]:
            lr, b = c[("lr", pair[0])], c[("b", pair[1])]
            return max(lr, b), lr + b, c[pair], ties[pair]

        return sorted(pairs, key=key)

    def use(self, pair: tuple[float | None, int]) -> None:
        """Count a pair as planned."""
        self.counts.update((("lr", pair[0]), ("b", pair[1]), pair))


def plan_probe(
    input_dim: int,
    output_dim: int,
    budget_s: float,
    config: TrainConfig,
    test_samples: int,
    train_samples: int,
    time_model: TimeModel = DEFAULT_TIME_MODEL,
    seed: int = 0,
    max_runs: int | None = None,
    learning_rates: Sequence[float] | None = PROBE_LEARNING_RATES,
    batch_sizes: Sequence[int] | None = PROBE_BATCH_SIZES,
) -> Plan:
    """A designed set of trainings on one dataset for the accuracy model, over networks and recipes (no sentinel).

    Sizes are spread over 2^5 .. 2^20 in a coarse-to-fine order (every fourth size exponent first, then
    the gaps), each size with a different shape and depth in turn, so a short budget still spans the
    accuracy curve; each run gets the least-used (learning rate, batch size) pair that fits
    (:class:`_RecipeBalance`, seeded), so every learning rate and batch appears early and about equally often.
    Runs predicted to take more than a fifth of the budget are left out: with long probe epochs that caps the
    largest sizes (digits, 256 epochs, lr 1e-4, batch 256, 300 s: 2^10 .. 2^18). Three rounds of sizes, more
    while ``max_runs`` asks for more runs (at most :data:`MAX_PROBE_ROUNDS`).

    Args:
        learning_rates: Adam learning rates to spread over, each set on its runs; None: the config's alone
            (the runs set none, so their keys are those of a fixed-recipe plan).
        batch_sizes: batch sizes to spread over (capped at ``train_samples``: :func:`probe_batch_sizes`);
            None: the config's alone.
    """
    rng = random.Random(seed)
    exponents = list(range(5, 21))
    order = [e for step in (4, 2, 1) for e in exponents[::step]]
    order = list(dict.fromkeys(order))
    shapes = list(SHAPES)
    rng.shuffle(shapes)
    balance = _RecipeBalance(
        learning_rates=(None,) if learning_rates is None else tuple(learning_rates),
        batch_sizes=(config.batch_size,) if batch_sizes is None else probe_batch_sizes(batch_sizes, train_samples),
        rng=random.Random(f"recipes/{seed}"),
    )
    runs: list[PlannedRun] = []
    for round_index in range(MAX_PROBE_ROUNDS):
        if round_index >= PROBE_ROUNDS and (max_runs is None or len(runs) >= max_runs):
            break
        for i, exponent in enumerate(order):
            shape = shapes[(i + 3 * round_index) % len(shapes)]
            depth = PROBE_DEPTHS[(i + round_index) % len(PROBE_DEPTHS)]
            arch = size_architecture(shape, depth, 2**exponent, input_dim, output_dim)
            if arch.off_target:
                continue
            for lr, batch in balance.ranked():
                run = PlannedRun(shape=shape.value, depth=depth, size=2**exponent, batch_size=batch, learning_rate=lr)
                seconds = time_model.run_s(arch, batch, config, test_samples, train_samples)
                if seconds <= budget_s / 5 and run not in runs:
                    runs.append(run)
                    balance.use((lr, batch))
                    break
    return Plan(tuple(runs[:max_runs] if max_runs else runs), NO_SENTINEL)


EXTEND_REPEAT = 8
"""The repeat index (seed offset) of an extension's re-run of a centre: past any halving rung's (a rung
continues its configs one repeat up, at most three rungs on), so the re-run is a new seed."""
EXTEND_LEARNING_RATES = (1e-4, 3e-2)
"""The learning rates an extension may step to (one factor of ~3 beyond the probe's 1e-2)."""


def plan_extension(
    centres: Sequence[PlannedRun], train_samples: int, max_batch: int = 1024, max_runs: int | None = None
) -> Plan:
    """Runs around the best probed ones: each centre again (a new seed), then its neighbours one step away on
    one axis at a time — size x2 and /2, learning rate x3 and /3, batch x2 and /2 — centres in turn, so a
    short budget still re-measures every centre first. Sizes stay on the grid (2^5..2^24), learning rates in
    :data:`EXTEND_LEARNING_RATES`, batches in 1..min(``max_batch``, ``train_samples``). No sentinel. A config
    given twice (a halving probe trains its best configs again in the next rung) is one centre, and a neighbour
    that is another centre's config (or an earlier neighbour's) is not planned again. At most ``max_runs``."""
    first: dict[str, PlannedRun] = {}
    for centre in centres:  # in order, each config once (a halving rung's runs differ only in their seed)
        first.setdefault(centre.config_key, centre)
    centres = list(first.values())
    runs: list[PlannedRun] = []
    for centre in centres:
        runs.append(dataclasses.replace(centre, repeat=max(centre.repeat + 1, EXTEND_REPEAT)))
    lr_low, lr_high = EXTEND_LEARNING_RATES
    for centre in centres:
        lr = centre.learning_rate or lr_low
        steps = [
            {"size": centre.size * 2},
            {"size": centre.size // 2},
            {"learning_rate": round(min(lr * 3, lr_high), 12)},
            {"learning_rate": round(max(lr / 3, lr_low), 12)},
            {"batch_size": min(centre.batch_size * 2, max_batch, train_samples)},
            {"batch_size": max(centre.batch_size // 2, 1)},
        ]
        for step in steps:
            run = dataclasses.replace(centre, repeat=0, **step)
            if SIZES[0] <= run.size <= SIZES[-1] and run.config_key not in {r.config_key for r in runs}:
                runs.append(run)
    return Plan(tuple(runs[:max_runs] if max_runs else runs), NO_SENTINEL)


RECHECK_PANEL: tuple[tuple[str, int, int, int, float], ...] = (
    ("rectangle", 2, 2**11, 16, 0.0),
    ("trapezoid", 3, 2**16, 64, 0.25),
    (*SENTINEL, 0.5),
    ("wide_first_2x", 4, 2**19, 256, 0.75),
    ("exponential", 5, 2**21, 256, 1.0),
)
"""The recheck's fixed panel (shape, depth, size, batch, position among the data sets by input width: 0 the
narrowest, 1 the widest): the calibration sentinel in the middle, a tiny net at batch 16 (per-step overheads), and
nets whose working sets lie in L1/L2, L3 and beyond it at a server's caches (8 KiB to about 32 MB of weights and
optimizer state)."""


def plan_recheck(data: Sequence[DataDims]) -> Plan:
    """The recheck panel over ``data`` (sorted here by input width), measured twice: a pass in order and a pass
    in reverse (repeat 1), so a drift during the minute shows as a difference between the passes and cancels in
    their mean. The sentinel is recorded as the plan's."""
    if not data:
        return Plan()
    order = sorted(range(len(data)), key=lambda i: data[i].input_dim)
    first = [
        PlannedRun(shape, depth, size, batch, data=order[round(position * (len(order) - 1))])
        for shape, depth, size, batch, position in RECHECK_PANEL
    ]
    second = [dataclasses.replace(run, repeat=1) for run in reversed(first)]
    sentinel = next(run for run in first if (run.shape, run.depth, run.size, run.batch_size) == SENTINEL)
    return Plan(tuple(first + second), sentinel.config_key)
