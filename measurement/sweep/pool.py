"""Run a sweep over a pool of workers (Dask: :mod:`measurement.cluster`, whose workers run
:mod:`measurement.distributed`): the seam between the executor and whatever measures.

:func:`run_sweep_on_pool` walks the same plan with the same policies as :func:`measurement.sweep.run_sweep`:
this process stays the store's only writer, at most one run is in flight per worker, and a run lost with its
worker is re-queued once, then recorded as failed.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from measurement.architecture import Architecture
from measurement.datasets import Dataset
from measurement.hardware import Fingerprint
from measurement.meters.base import MeterKind
from measurement.records import (
    DEFAULT_IDLE_EVERY_S,
    DEFAULT_IDLE_S,
    Phase,
    PhaseResult,
    PlannedRun,
    RunResult,
    SweepStatus,
    TrainConfig,
)
from measurement.store import RunStore
from measurement.sweep.events import SweepEvent, SweepEventKind, SweepSpec, SweepSummary, sweep_datasets
from measurement.sweep.serial import (
    Ledger,
    MeterFailures,
    MeterLabel,
    Progress,
    finish_sweep,
    run_config,
    run_label,
    start_sweep,
)
from measurement.sweep.timing import DEFAULT_TIME_MODEL, Budget, TimeModel

LOST_RUN_ATTEMPTS = 2
"""A run lost with its worker is re-queued until it has been lost this many times, then recorded as failed."""
NO_WORKER_PATIENCE_S = 300.0
"""How long a pool sweep with runs left waits for a worker to (re)appear before it stops."""
POLL_S = 0.5

log = logging.getLogger(__name__)


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
    time_model: TimeModel = DEFAULT_TIME_MODEL,
    idle_s: float = DEFAULT_IDLE_S,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    began: float | None = None,
    idle_every_s: float = DEFAULT_IDLE_EVERY_S,
) -> SweepSummary:
    """Run (or resume) a sweep on a pool of workers; this process commits each run as its result arrives.

    The policies are :func:`measurement.sweep.run_sweep`'s: committed runs are skipped, the budget is checked
    before each submission, ``MAX_METER_FAILURES`` meter errors in a row (on one worker) stop the sweep,
    Ctrl-C keeps what was committed. At most one run is in flight per worker. Each worker measures its own
    idle power with its own meter, before its first run and every ``idle_every_s`` (the workers' setting);
    the budget check reserves ``idle_s`` for it before a run on a worker whose measurement is due. A run lost
    with its worker is queued again; lost a second time, it is recorded as failed (status rejected, with the
    reason). ``fp`` is the hardware the plan was made for (the sweep's); each run records the worker and
    hardware it ran on.

    Args:
        dataset: the sweep's data sets, as :func:`measurement.sweep.run_sweep` takes them (each worker loads
            its own copies).
        meter: the sweep's meter name and kind (``measured`` / ``estimated``), as the workers reported them.
        began: as :func:`measurement.sweep.run_sweep`'s.
    """
    began = clock() if began is None else began
    datasets = sweep_datasets(spec, dataset)
    label = MeterLabel(meter[0], MeterKind(meter[1]))
    start = start_sweep(spec, store, fp, label, datasets, budget_s, time_model, began)
    lanes = max(1, len(pool.workers()))
    reserved_s = idle_s + clock() - began
    events = Progress.counting(start, progress, clock, began, budget_s, label.kind, reserved_s, lanes=lanes)
    ledger = Ledger.of(spec, store, datasets, start, events)
    executor = _PoolExecutor(
        spec=spec,
        pool=pool,
        archs=start.archs,
        budget=start.budget,
        ledger=ledger,
        meter=label,
        clock=clock,
        idle_s=idle_s,
        idle_every_s=idle_every_s,
    )
    executor.walk(start.todo, should_stop)
    idle_w = statistics.fmean(executor.idle_w.values()) if executor.idle_w else 0.0
    return finish_sweep(spec, start, ledger, label, budget_s, idle_w)


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
    budget: Budget
    ledger: Ledger
    meter: MeterLabel
    clock: Callable[[], float]
    idle_s: float = 0.0
    idle_every_s: float = DEFAULT_IDLE_EVERY_S
    flights: dict[object, _Flight] = field(default_factory=dict)
    idle_at_s: dict[str, float] = field(default_factory=dict)
    """When each worker last measured idle power, on this process's clock (the hand-over of the run it came
    with: no later than the measurement, so a due one is never missed)."""
    losses: Counter[str] = field(default_factory=Counter)
    failures: dict[str, MeterFailures] = field(default_factory=dict)
    hardware: dict[str, int] = field(default_factory=dict)
    idle_w: dict[str, float] = field(default_factory=dict)

    def walk(self, todo: list[PlannedRun], should_stop: Callable[[], bool]) -> None:
        """Run ``todo`` until done, stopped, out of budget or interrupted; runs in flight when a stop is
        asked for are waited for and committed; Ctrl-C drops them (never half-written). What happened is in
        the ledger's outcome."""
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
            self._hand_over(worker, run)
        if asked and not self.flights:
            queue.clear()

    def _hand_over(self, worker: str, run: PlannedRun) -> None:
        """Submit ``run`` to ``worker`` with the seconds left before the deadline; report it started."""
        arch = self.archs[run.key]
        remote = RemoteRun(
            run_key=run.key,
            arch=arch,
            config=run_config(self.spec.config, run),
            remaining_s=self.budget.deadline - self.clock(),
            data=run.data,
        )
        self.flights[self.pool.submit(worker, remote)] = _Flight(run, worker, self.clock())
        label = run_label(run, arch, self.spec.dataset_names)
        self.ledger.events.emit(SweepEventKind.RUN_STARTED, label, worker=worker)

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
            self.ledger.store.set_sweep_status(self.ledger.sweep_id, SweepStatus.RUNNING, remote.idle_power_w)
            label = f"idle power {remote.idle_power_w:.2f} W on {remote.host}"
            self.ledger.events.emit(SweepEventKind.IDLE, label, worker=remote.worker)
        if remote.result is None:  # the idle measurement failed: the run never started
            self._stop(f"idle measurement failed on {remote.host}: {remote.idle_error}")
            return
        self._record(flight, remote, remote.result)

    def _record(self, flight: _Flight, remote: RemoteResult, result: RunResult) -> None:
        """Commit a finished run with its worker and hardware; apply the budget and meter-failure policies."""
        run = flight.run
        self.ledger.commit(run, result, remote.worker, self._hardware_id(remote.fingerprint))
        self.budget.observe(run.key, result.wall_s)
        stop_reason = self.failures.setdefault(remote.worker, MeterFailures()).stop_reason(result)
        self.ledger.events.emit(SweepEventKind.RUN_FINISHED, self.archs[run.key].label, result, worker=remote.worker)
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
            label = run_label(run, arch, self.spec.dataset_names)
            self.ledger.events.emit(SweepEventKind.RUN_LOST, f"{label} lost: queued again", worker=flight.worker)
            return
        result = lost_result(arch, self.meter.name, self.meter.kind, f"lost with its worker twice: {reason}")
        self.ledger.commit(run, result, flight.worker)
        self.ledger.events.emit(SweepEventKind.RUN_FINISHED, arch.label, result, worker=flight.worker)

    def _hardware_id(self, fp: Fingerprint) -> int:
        """The store's id of a worker's hardware (inserted the first time it is seen)."""
        digest = fp.digest()
        if digest not in self.hardware:
            self.hardware[digest] = self.ledger.store.hardware_id(fp)
        return self.hardware[digest]


def lost_result(arch: Architecture, meter: str, kind: MeterKind, reason: str) -> RunResult:
    """The record of a run that never came back: both phases rejected with ``reason``, nothing measured."""
    train, inference = (
        PhaseResult(
            phase=phase,
            windows=(),
            energy_per_datum_j=math.nan,
            raw_energy_per_datum_j=math.nan,
            spread=math.nan,
            samples_per_s=0.0,
            reject_reason=reason,
        )
        for phase in Phase
    )
    return RunResult(
        arch=arch,
        meter=meter,
        meter_kind=kind,
        idle_power_w=0.0,
        train=train,
        inference=inference,
        test_loss=math.nan,
        test_accuracy=None,
        epochs_trained=0.0,
        wall_s=0.0,
    )
