"""Run a sweep on this machine, and the policies every executor shares.

The executor walks the plan, skips runs already committed (resume) and runs that the budget says no longer
fit, and commits each finished run in one transaction. Its policies are small separate pieces: the budget
(:class:`~measurement.sweep.timing.Budget`), idle re-measurement (:class:`IdlePower`), the meter-failure limit
(:class:`MeterFailures`), progress events (:class:`Progress`), the commits (:class:`Ledger`) and the summary,
tallied run by run (:class:`~measurement.sweep.events.SweepTally`). The pool executor
(:mod:`measurement.sweep.pool`) uses the same pieces. Torch is imported only when a run trains.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from measurement.architecture import Architecture, size_architecture
from measurement.datasets import Dataset
from measurement.hardware import Fingerprint
from measurement.meters.base import EnergyMeter, MeterError, MeterKind
from measurement.records import (
    DEFAULT_IDLE_EVERY_S,
    DEFAULT_IDLE_S,
    PlannedRun,
    RunResult,
    SweepStatus,
    TrainConfig,
)
from measurement.store import RunContext, RunStore
from measurement.sweep.events import SweepEvent, SweepEventKind, SweepSpec, SweepSummary, SweepTally, sweep_datasets
from measurement.sweep.timing import DEFAULT_TIME_MODEL, Budget, TimeModel
from measurement.tiers import device_tiers

MAX_METER_FAILURES = 3


@dataclass(frozen=True)
class MeterLabel:
    """The meter a sweep is recorded with: its name and kind."""

    name: str
    kind: MeterKind


@dataclass
class SweepStart:
    """A sweep opened in the store: the runs left to do and the starting state of its policies."""

    sweep_id: int
    todo: list[PlannedRun]
    already: int
    archs: dict[str, Architecture]
    budget: Budget
    tally: SweepTally


def start_sweep(
    spec: SweepSpec,
    store: RunStore,
    fp: Fingerprint,
    meter: MeterLabel,
    datasets: tuple[Dataset, ...],
    budget_s: float,
    time_model: TimeModel,
    began: float,
) -> SweepStart:
    """Open (or continue) the sweep on ``fp``'s hardware, recording its plan and sentinel, and skip the runs
    it has already committed; the budget counts from ``began``."""
    sweep_id = store.open_sweep(
        store.hardware_id(fp),
        kind=spec.kind,
        plan_hash=spec.digest(),
        plan=spec.to_dict(),
        dataset=spec.dataset,
        meter=meter.name,
        meter_kind=meter.kind,
        sentinel=spec.sentinel,
    )
    done_keys = store.completed_keys(sweep_id)
    todo = [r for r in spec.runs if r.key not in done_keys]
    archs = {}
    for r in spec.runs:
        data = datasets[r.data]
        archs[r.key] = size_architecture(r.shape, r.depth, r.size, data.input_dim, data.output_dim)
    budget = Budget(began, budget_s, _predictions(todo, archs, spec.config, datasets, time_model))
    tally = SweepTally.seeded(
        device_tiers(fp, spec.config.device),
        store.committed_runs(sweep_id),
        dataset_names=spec.dataset_names,
        sentinel=store.sweep_sentinel(sweep_id),
    )
    return SweepStart(
        sweep_id=sweep_id, todo=todo, already=len(spec.runs) - len(todo), archs=archs, budget=budget, tally=tally
    )


def _predictions(
    todo: list[PlannedRun],
    archs: dict[str, Architecture],
    config: TrainConfig,
    datasets: tuple[Dataset, ...],
    model: TimeModel,
) -> dict[str, float]:
    """Predicted seconds of each run left to do (on its own data set), in plan order."""
    predicted = {}
    for r in todo:
        data = datasets[r.data]
        test_samples = int(data.x_test.shape[0])
        predicted[r.key] = model.run_s(archs[r.key], r.batch_size, config, test_samples, data.train_samples)
    return predicted


def finish_sweep(
    spec: SweepSpec, start: SweepStart, ledger: Ledger, meter: MeterLabel, budget_s: float, idle_w: float
) -> SweepSummary:
    """Mark the sweep complete, interrupted or partial; the invocation's summary; the ``done`` event."""
    store, outcome, events = ledger.store, ledger.outcome, ledger.events
    complete = store.completed_keys(start.sweep_id) >= {r.key for r in spec.runs}
    if complete:
        status = SweepStatus.COMPLETE
    else:
        status = SweepStatus.INTERRUPTED if outcome.interrupted else SweepStatus.PARTIAL
    store.set_sweep_status(start.sweep_id, status)
    floor, pairs = start.tally.noise_floor()
    drift = start.tally.drift()
    summary = SweepSummary(
        sweep_id=start.sweep_id,
        planned=len(spec.runs),
        committed_now=len(outcome.keys),
        already_done=start.already,
        rejected_now=outcome.rejected,
        elapsed_s=events.clock() - events.began,
        budget_s=budget_s,
        interrupted=outcome.interrupted,
        complete=complete,
        meter=meter.name,
        meter_kind=meter.kind,
        idle_power_w=idle_w,
        tiers=start.tally.tier_counts(),
        shapes=dict(start.tally.by_shape),
        noise_floor=floor,
        repeat_pairs=pairs,
        stop_reason=outcome.stop_reason,
        workers=dict(sorted((events.by_worker or {}).items())),
        requeued=outcome.requeued,
        datasets=start.tally.dataset_counts(),
        drift=drift.value,
        drift_count=drift.count,
    )
    events.emit(SweepEventKind.DONE)
    return summary


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
class MeterFailures:
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
class Progress:
    """Progress events for a UI; ``done`` counts the runs committed in this sweep so far, ``by_worker``
    (a sweep over a pool only) those committed in this invocation per worker."""

    callback: Callable[[SweepEvent], None]
    clock: Callable[[], float]
    began: float
    budget_s: float
    expected: int
    meter_kind: MeterKind
    done: int
    by_worker: Counter[str] | None = None

    @classmethod
    def counting(
        cls,
        start: SweepStart,
        callback: Callable[[SweepEvent], None],
        clock: Callable[[], float],
        began: float,
        budget_s: float,
        meter_kind: MeterKind,
        reserved_s: float,
        lanes: int | None = None,
    ) -> Progress:
        """Events counting on from the runs ``start`` found done, towards those forecast to fit the budget
        less ``reserved_s`` (on ``lanes`` workers side by side, each counted on its own; None: this machine)."""
        return cls(
            callback=callback,
            clock=clock,
            began=began,
            budget_s=budget_s,
            expected=start.already + start.budget.fit_count(reserved_s, lanes=lanes or 1),
            meter_kind=meter_kind,
            done=start.already,
            by_worker=None if lanes is None else Counter(),
        )

    def count(self, worker: str) -> None:
        """One more run committed, by ``worker``."""
        self.done += 1
        if self.by_worker is not None:
            self.by_worker[worker] += 1

    def emit(self, kind: SweepEventKind, label: str = "", result: RunResult | None = None, worker: str = "") -> None:
        """Report an event of ``kind``."""
        event = SweepEvent(
            kind=kind,
            done=self.done,
            expected=self.expected,
            elapsed_s=self.clock() - self.began,
            budget_s=self.budget_s,
            label=label,
            meter_kind=self.meter_kind,
            result=result,
            worker=worker,
            workers=tuple(sorted(self.by_worker.items())) if self.by_worker is not None else (),
        )
        self.callback(event)


@dataclass
class Outcome:
    """What one invocation's walk over the plan did."""

    keys: set[str] = field(default_factory=set)
    rejected: int = 0
    interrupted: bool = False
    stop_reason: str | None = None
    requeued: int = 0


@dataclass
class Ledger:
    """Commits finished runs, one transaction each, and counts them (outcome, progress, tally)."""

    store: RunStore
    sweep_id: int
    contexts: tuple[RunContext, ...]
    events: Progress
    tally: SweepTally
    outcome: Outcome = field(default_factory=Outcome)

    @classmethod
    def of(
        cls, spec: SweepSpec, store: RunStore, datasets: tuple[Dataset, ...], start: SweepStart, events: Progress
    ) -> Ledger:
        """The ledger of a started sweep (:func:`start_sweep`), reporting to ``events``."""
        return cls(
            store=store,
            sweep_id=start.sweep_id,
            contexts=run_contexts(spec, datasets),
            events=events,
            tally=start.tally,
        )

    def commit(self, run: PlannedRun, result: RunResult, worker: str = "local", hardware_id: int | None = None) -> None:
        """Write the run in one transaction (with who measured it, on what, and on which data set), then
        count it."""
        context = self.contexts[run.data]
        lr = context.learning_rate if run.learning_rate is None else run.learning_rate
        ctx = dataclasses.replace(context, batch_size=run.batch_size, learning_rate=lr)
        self.store.record_run(self.sweep_id, run.key, result, ctx, worker, hardware_id)
        self.outcome.keys.add(run.key)
        self.outcome.rejected += result.reject_reason is not None
        self.events.count(worker)
        self.tally.add_result(run.key, result, run.batch_size)


def run_label(run: PlannedRun, arch: Architecture, names: tuple[str, ...] = ()) -> str:
    """What a progress line calls a run: architecture, batch size, its learning rate when it sets one, its data
    set when the sweep has several, and its repeat index if any."""
    lr = f" lr{run.learning_rate:g}" if run.learning_rate is not None else ""
    data = f" on {names[run.data]}" if len(names) > 1 else ""
    repeat = f" (repeat {run.repeat})" if run.repeat else ""
    return f"{arch.label} b{run.batch_size}{lr}{data}{repeat}"


def run_config(config: TrainConfig, run: PlannedRun) -> TrainConfig:
    """The sweep's config with this run's batch size and learning rate (when it sets one), and a seed per
    repeat."""
    return dataclasses.replace(
        config,
        batch_size=run.batch_size,
        learning_rate=run.learning_rate_or(config.learning_rate),
        seed=config.seed + run.repeat,
    )


def run_contexts(spec: SweepSpec, datasets: tuple[Dataset, ...]) -> tuple[RunContext, ...]:
    """Per data set, what the runs on it are recorded with: the data set and the protocol (each run with
    its own batch size and learning rate)."""
    c = spec.config
    return tuple(
        RunContext(
            dataset=name,
            dataset_hash=digest,
            task=data.task,
            train_samples=data.train_samples,
            train_bytes=data.train_bytes,
            batch_size=c.batch_size,
            inference_batch_size=c.inference_batch_size,
            threads=c.threads,
            device=c.device,
            learning_rate=c.learning_rate,
            constant_accuracy=data.constant_accuracy,
        )
        for (name, digest), data in zip(spec.datasets, datasets, strict=True)
    )


def run_sweep(
    spec: SweepSpec,
    store: RunStore,
    meter: EnergyMeter,
    dataset: Dataset | Sequence[Dataset],
    fp: Fingerprint,
    budget_s: float,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    time_model: TimeModel = DEFAULT_TIME_MODEL,
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
    label = MeterLabel(meter.name, meter.kind)
    start = start_sweep(spec, store, fp, label, datasets, budget_s, time_model, began)
    reserved_s = idle_s + clock() - began
    events = Progress.counting(start, progress, clock, began, budget_s, label.kind, reserved_s)
    ledger = Ledger.of(spec, store, datasets, start, events)
    idle = IdlePower(meter, idle_s, idle_every_s, clock)
    executor = _Executor(
        spec=spec,
        meter=meter,
        datasets=datasets,
        archs=start.archs,
        budget=start.budget,
        idle=idle,
        failures=MeterFailures(),
        ledger=ledger,
        clock=clock,
    )
    executor.walk(start.todo, should_stop)
    return finish_sweep(spec, start, ledger, label, budget_s, idle.watts)


@dataclass
class _Executor:
    """Walks the runs left to do: idle power when due, the budget check, train, commit, tally, report."""

    spec: SweepSpec
    meter: EnergyMeter
    datasets: tuple[Dataset, ...]
    archs: dict[str, Architecture]
    budget: Budget
    idle: IdlePower
    failures: MeterFailures
    ledger: Ledger
    clock: Callable[[], float]

    def walk(self, todo: list[PlannedRun], should_stop: Callable[[], bool]) -> None:
        """Run ``todo`` in order until done, stopped, out of budget or interrupted (Ctrl-C); what happened is
        in the ledger's outcome."""
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

    def _measure_idle(self) -> bool:
        """Measure idle power; on a meter failure set the stop reason and return False."""
        try:
            watts = self.idle.measure()
        except MeterError as exc:
            self.ledger.outcome.stop_reason = f"idle measurement failed: {exc}"
            return False
        self.ledger.store.set_sweep_status(self.ledger.sweep_id, SweepStatus.RUNNING, watts)
        self.ledger.events.emit(SweepEventKind.IDLE, f"idle power {watts:.2f} W")
        return True

    def _run(self, run: PlannedRun) -> bool:
        """Train, measure and commit one run; False when the meter-failure limit says stop."""
        arch = self.archs[run.key]
        self.ledger.events.emit(SweepEventKind.RUN_STARTED, run_label(run, arch, self.spec.dataset_names))
        config = run_config(self.spec.config, run)
        dataset = self.datasets[run.data]
        result = _train(arch, dataset, self.meter, config, self.idle.watts, self.clock, self.budget.deadline)
        self.ledger.commit(run, result)
        self.budget.observe(run.key, result.wall_s)
        stop_reason = self.failures.stop_reason(result)
        self.ledger.events.emit(SweepEventKind.RUN_FINISHED, arch.label, result)
        if stop_reason is not None:
            self.ledger.outcome.stop_reason = stop_reason
            return False
        return True


def _train(
    arch: Architecture,
    dataset: Dataset,
    meter: EnergyMeter,
    config: TrainConfig,
    idle_w: float,
    clock: Callable[[], float],
    deadline: float,
) -> RunResult:
    """Train and measure one run (torch is imported here, not when the sweep package is)."""
    from measurement.harness import train_and_measure

    return train_and_measure(arch, dataset, meter, config, idle_power_w=idle_w, clock=clock, deadline=deadline)
