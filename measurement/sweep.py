"""Plan a calibration sweep that spans this machine's cache tiers within a time budget, and run it.

The plan is an ordered list of runs, longer than the budget will allow: a coverage round first (every
cache tier x every shape, cheapest configs, varied depths), then stratified random fill, with repeats of
earlier configs interleaved to measure the noise floor. The executor walks the list, skips runs already
committed (resume) and runs that its time model says no longer fit in the budget, and commits each
finished run in one transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from measurement.architecture import DEPTHS, SHAPES, SIZES, Architecture, size_architecture
from measurement.cost import cost
from measurement.datasets import Dataset
from measurement.hardware import Fingerprint
from measurement.harness import RunResult, TrainConfig, measure_idle_power, train_and_measure
from measurement.meters.base import EnergyMeter, MeterError
from measurement.store import RunContext, RunStore

CALIBRATION_BATCH_SIZES = (16, 64, 256, 1024)
MAX_RUN_SHARE_OF_BUDGET = 0.12
REPEAT_EVERY = 6
MAX_PLAN_RUNS = 2000
MAX_METER_FAILURES = 3


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan; ``repeat`` > 0 re-measures an earlier config to estimate noise."""

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


def tier_labels(fp: Fingerprint) -> tuple[str, ...]:
    """Names of the working-set tiers: ``<=L1d``, ``<=L2``, ``<=L3``, ``>L3``."""
    names = [name for name, _ in fp.cpu_tiers()]
    return (*(f"<={n}" for n in names), f">{names[-1]}" if names else "all")


def tier_of(working_set_bytes: int, fp: Fingerprint) -> int:
    """Index of the tier a working set falls in (0 = fits the smallest cache)."""
    return sum(working_set_bytes > size for _, size in fp.cpu_tiers())


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
    """An ordered plan whose predicted time is about three budgets (the executor stops in time)."""
    rng = random.Random(seed)
    memory_cap = (fp.memory_bytes or 8 * 2**30) / 4
    candidates: list[tuple[PlannedRun, int, float]] = []  # run, tier, predicted seconds
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
                    if ws > memory_cap or seconds > MAX_RUN_SHARE_OF_BUDGET * budget_s:
                        continue
                    candidates.append((PlannedRun(shape.value, depth, size, batch), tier_of(ws, fp), seconds))
    if not candidates:
        return []
    tiers = sorted({t for _, t, _ in candidates})
    chosen: list[tuple[PlannedRun, float]] = []
    used: set[str] = set()
    tier_time: Counter[int] = Counter()
    for tier in tiers:  # coverage: every tier x every shape, cheap, with varied depths
        for shape in SHAPES:
            pool = sorted((c for c in candidates if c[1] == tier and c[0].shape == shape.value), key=lambda c: c[2])
            if pool:
                pick = rng.choice(pool[: min(6, len(pool))])
                chosen.append((pick[0], pick[2]))
                used.add(pick[0].key)
                tier_time[tier] += pick[2]
    chosen.sort(key=lambda c: c[1])
    # Fill: weighted sampling without replacement (Efraimidis-Spirakis keys), cheaper runs more likely.
    queues: dict[int, list[tuple[PlannedRun, float]]] = {t: [] for t in tiers}
    for run, tier, seconds in candidates:
        if run.key not in used:
            queues[tier].append((run, seconds, rng.random() ** math.sqrt(max(seconds, 1e-3))))
    for tier in tiers:
        queues[tier] = [(r, s) for r, s, _ in sorted(queues[tier], key=lambda q: q[2])]  # pop() = largest key
    total = sum(s for _, s in chosen)
    limit = max_runs or MAX_PLAN_RUNS
    new_runs = 0
    repeats: Counter[str] = Counter()
    while len(chosen) < limit and total < 3 * budget_s and any(queues.values()):
        tier = min((t for t in tiers if queues[t]), key=lambda t: (tier_time[t], t))  # equal time per tier
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
    return [run for run, _ in chosen][:limit]


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

    kind: str  # "idle", "run_started", "run_finished", "done"
    done: int
    expected: int
    elapsed_s: float
    budget_s: float
    label: str = ""
    meter_kind: str = ""
    result: RunResult | None = None


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


def noise_floor(frame) -> tuple[float | None, int]:
    """Median relative difference between repeats of the same config (train phase, ok runs)."""
    ok = frame[(frame["status"] == "ok") & (frame["phase"] == "train")].copy()
    if ok.empty:
        return None, 0
    ok["config"] = ok["run_key"].str.rsplit("/", n=1).str[0]
    diffs = []
    for _, group in ok.groupby(["sweep_id", "config"]):
        values = group["energy_per_datum_j"].to_list()
        for i in range(len(values)):
            for j in range(i + 1, len(values)):
                diffs.append(abs(values[i] - values[j]) / ((values[i] + values[j]) / 2))
    return (statistics.median(diffs) if diffs else None), len(diffs)


def run_sweep(
    spec: SweepSpec,
    store: RunStore,
    meter: EnergyMeter,
    dataset: Dataset,
    fp: Fingerprint,
    budget_s: float,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    time_model: TimeModel = TimeModel(),
    idle_s: float = 2.0,
    idle_every_s: float = 300.0,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> SweepSummary:
    """Run (or resume) a sweep until the plan is done, the budget is spent, or a stop is asked for.

    KeyboardInterrupt is caught: the run in flight is dropped (never half-written), finished runs stay
    committed, and the summary says ``interrupted``.
    """
    began = clock()
    sweep_id = store.open_sweep(
        store.hardware_id(fp), spec.kind, spec.digest(), spec.to_dict(), spec.dataset, meter.name, meter.kind.value
    )
    done_keys = store.completed_keys(sweep_id)
    already = sum(r.key in done_keys for r in spec.runs)
    ctx = RunContext(
        spec.dataset, dataset.fingerprint(), dataset.task.value, dataset.train_samples, dataset.train_bytes,
        spec.config.batch_size, spec.config.inference_batch_size, spec.config.threads, spec.config.device,
    )  # fmt: skip
    test_n = int(dataset.x_test.shape[0])
    archs = {
        r.key: size_architecture(r.shape, r.depth, r.size, dataset.input_dim, dataset.output_dim) for r in spec.runs
    }
    todo = [r for r in spec.runs if r.key not in done_keys]
    predicted = {
        r.key: time_model.run_s(archs[r.key], r.batch_size, spec.config, test_n, dataset.train_samples) for r in todo
    }
    expected = already + _fit_count([predicted[r.key] for r in todo], budget_s - idle_s)
    committed = rejected = 0
    ratios: list[float] = []
    interrupted = False
    stop_reason: str | None = None
    meter_failures = 0
    idle_w, last_idle = 0.0, -math.inf

    def event(kind: str, label: str = "", result: RunResult | None = None) -> None:
        progress(SweepEvent(kind, already + committed, expected, clock() - began, budget_s, label, meter.kind.value,
                            result))  # fmt: skip

    try:
        for run in todo:
            if should_stop():
                interrupted = True
                break
            if idle_s > 0 and clock() - last_idle > idle_every_s:
                try:
                    idle_w, last_idle = measure_idle_power(meter, idle_s), clock()
                except MeterError as exc:
                    stop_reason = f"idle measurement failed: {exc}"
                    break
                store.set_sweep_status(sweep_id, "running", idle_w)
                event("idle", f"idle power {idle_w:.2f} W")
            scale = float(np.percentile(ratios, 90)) if ratios else 1.0  # err on the long side
            if clock() - began + scale * predicted[run.key] > budget_s:
                continue  # does not fit any more; a cheaper one further on might
            arch = archs[run.key]
            event("run_started", f"{arch.label} b{run.batch_size}" + (f" (repeat {run.repeat})" if run.repeat else ""))
            config = dataclasses.replace(spec.config, batch_size=run.batch_size, seed=spec.config.seed + run.repeat)
            result = train_and_measure(arch, dataset, meter, config, idle_power_w=idle_w, clock=clock,
                                       deadline=began + budget_s)  # fmt: skip
            store.record_run(sweep_id, run.key, result, dataclasses.replace(ctx, batch_size=run.batch_size))
            committed += 1
            rejected += result.reject_reason is not None
            meter_failures = meter_failures + 1 if (result.reject_reason or "").startswith("meter error") else 0
            if meter_failures >= MAX_METER_FAILURES:
                stop_reason = f"stopped after {meter_failures} runs in a row with meter errors: {result.reject_reason}"
                event("run_finished", arch.label, result)
                break
            ratios.append(result.wall_s / max(predicted[run.key], 1e-3))
            event("run_finished", arch.label, result)
    except KeyboardInterrupt:
        interrupted = True
    complete = store.completed_keys(sweep_id) >= {r.key for r in spec.runs}
    store.set_sweep_status(sweep_id, "complete" if complete else ("interrupted" if interrupted else "partial"))
    summary = _summarise(store, sweep_id, fp, spec, committed, already, rejected, clock() - began, budget_s,
                         interrupted, complete, meter, idle_w)  # fmt: skip
    summary = dataclasses.replace(summary, stop_reason=stop_reason)
    event("done")
    return summary


def _fit_count(seconds: list[float], budget_s: float) -> int:
    total = count = 0
    for s in seconds:
        if total + s <= budget_s:
            total += s
            count += 1
    return count


def _summarise(store, sweep_id, fp, spec, committed, already, rejected, elapsed, budget_s, interrupted, complete,
               meter, idle_w) -> SweepSummary:  # fmt: skip
    from measurement.cost import cost as arch_cost

    frame = store.frame()
    frame = frame[frame["sweep_id"] == sweep_id]
    ok = frame[(frame["status"] == "ok") & (frame["phase"] == "train")]
    labels = tier_labels(fp)
    tiers: Counter[str] = Counter()
    for row in ok.itertuples():
        arch = size_architecture(row.shape, row.depth, row.target_size, row.input_dim, row.output_dim)
        tiers[labels[tier_of(arch_cost(arch, row.batch_size).train_working_set_bytes, fp)]] += 1
    floor, pairs = noise_floor(frame)
    return SweepSummary(
        sweep_id=sweep_id, planned=len(spec.runs), committed_now=committed, already_done=already,
        rejected_now=rejected, elapsed_s=elapsed, budget_s=budget_s, interrupted=interrupted, complete=complete,
        meter=meter.name, meter_kind=meter.kind.value, idle_power_w=idle_w,
        tiers={label: tiers.get(label, 0) for label in labels}, shapes=dict(Counter(ok["shape"])),
        noise_floor=floor, repeat_pairs=pairs,
    )  # fmt: skip
