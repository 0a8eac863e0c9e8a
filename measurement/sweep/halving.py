"""Successive halving for probes: many short runs, the promising ones continued.

Rung 0 trains many (network, recipe) configs for a few epochs; each later rung continues the best 1/``eta``
(``eta`` = 3) of the rung before, ranked by the final test score (accuracy, or minus the test loss for regression;
ties: fewer parameters), for ``eta`` times the epochs. A continued run trains again from scratch for the longer
length on a new seed (its repeat index one up; no checkpoint is carried over), so every rung's runs are whole runs
with learning curves recorded at 1, 2, 4, ... epochs as any run's, and a continued config's runs are replicates:
the accuracy model tells how far a config lies from its curve from how far its seeds scatter (on the same seed the
shorter run's curve was the longer one's first checkpoints, value for value). Each rung is a probe sweep of its own
in the store (its own plan and ``config.epochs``); a rung's plan follows from the plan seed and the store's results
of the rung before, so an interrupted probe resumes by planning the same rungs again and skipping the runs already
committed.

The budget: each rung gets an equal share of what is left when it starts (the whole budget over the rungs
for rung 0; a rung that ends early leaves its unspent time to the rungs after it). Rung 0's epochs come from
the time model: the most epochs (a power of two) at which at least :data:`MIN_RUNG0_CONFIGS` configs fit its
share, no more than the top rung needs to train :data:`MIN_PROBE_STEPS` steps at the middle batch size (the
least power of two at which it does); the
number of rungs (2-4) is the most whose top rung reaches that length (more rungs: more, shorter runs in rung 0),
else the number reaching furthest.
Leftover share in rung 0 plans more configs (at most :data:`MAX_RUNG0_CONFIGS`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from measurement.architecture import size_architecture
from measurement.records import PlannedRun, RunScore, SweepStatus, TrainConfig
from measurement.store import RunStore
from measurement.sweep.events import HalvingSchedule, Rung, SweepEvent, SweepEventKind, SweepSpec, SweepSummary
from measurement.sweep.plan import DataDims, Plan, plan_probe, probe_batch_sizes
from measurement.sweep.timing import DEFAULT_TIME_MODEL, TimeModel

ETA = 3
MIN_RUNG0_CONFIGS = 27
MAX_RUNG0_CONFIGS = 81
MIN_RUNGS, MAX_RUNGS = 2, 4
MAX_RUNG0_EPOCHS = 256
MIN_PROBE_STEPS = 1500
"""The longest rung aims at this many optimiser steps at the middle batch size (a probe run short of it stops
small networks long before their plateau: wine, 142 rows, one step per epoch at batch 256)."""

RunRung = Callable[[SweepSpec, float, Callable[[SweepEvent], None]], SweepSummary]
"""Runs one rung's sweep: (spec, the clock time left to it in seconds, progress) -> its summary."""


@dataclass(frozen=True)
class ProbeDesign:
    """What a probe plan is made from: the data set's dims, the train config (its epochs set per rung), the
    recipe axes (None: the config's alone; see :func:`measurement.sweep.plan.plan_probe`), seed and time model."""

    dims: DataDims
    config: TrainConfig
    learning_rates: Sequence[float] | None
    batch_sizes: Sequence[int] | None
    seed: int = 0
    time_model: TimeModel = DEFAULT_TIME_MODEL

    def plan(self, budget_s: float, epochs: int, max_runs: int | None) -> Plan:
        """The probe plan of ``epochs`` epochs a run, its runs held to a fifth of ``budget_s`` each."""
        d = self.dims
        return plan_probe(
            d.input_dim,
            d.output_dim,
            budget_s,
            dataclasses.replace(self.config, epochs=epochs),
            d.test_samples,
            d.train_samples,
            time_model=self.time_model,
            seed=self.seed,
            max_runs=max_runs,
            learning_rates=self.learning_rates,
            batch_sizes=self.batch_sizes,
        )

    def run_s(self, run: PlannedRun, epochs: int) -> float:
        """Predicted seconds of ``run`` trained for ``epochs`` epochs."""
        d = self.dims
        arch = size_architecture(run.shape, run.depth, run.size, d.input_dim, d.output_dim)
        config = dataclasses.replace(self.config, epochs=epochs)
        return self.time_model.run_s(arch, run.batch_size, config, d.test_samples, d.train_samples)

    def target_epochs(self) -> int:
        """Epochs for :data:`MIN_PROBE_STEPS` steps at the middle batch size of the probe."""
        d = self.dims
        batches = (self.config.batch_size,) if self.batch_sizes is None else self.batch_sizes
        batches = probe_batch_sizes(batches, d.train_samples)
        middle = batches[len(batches) // 2]
        return math.ceil(MIN_PROBE_STEPS / max(1, math.ceil(d.train_samples / middle)))


def _fitting(design: ProbeDesign, plan: Plan, epochs: int, share_s: float) -> int:
    """How many of the plan's first runs fit ``share_s`` as predicted."""
    totals = itertools.accumulate(design.run_s(run, epochs) for run in plan)
    return sum(1 for total in totals if total <= share_s)


def _rung0(design: ProbeDesign, budget_s: float, rungs: int) -> tuple[int, int]:
    """(epochs, configs) of rung 0 with ``rungs`` rungs: the most epochs (a power of two, from the least at which
    the top rung reaches the target length down) at which :data:`MIN_RUNG0_CONFIGS` configs fit the share;
    (0, n) when none do even at 1 epoch, with n those that fit at 1 epoch."""
    share_s = budget_s / rungs
    epochs = 1
    while epochs * ETA ** (rungs - 1) < design.target_epochs() and epochs < MAX_RUNG0_EPOCHS:
        epochs *= 2
    while True:
        fits = _fitting(design, design.plan(share_s, epochs, MAX_RUNG0_CONFIGS), epochs, share_s)
        if fits >= MIN_RUNG0_CONFIGS or epochs == 1:
            return (epochs if fits >= MIN_RUNG0_CONFIGS else 0), fits
        epochs //= 2


def plan_schedule(design: ProbeDesign, budget_s: float) -> HalvingSchedule:
    """The halving schedule of a probe of ``budget_s`` seconds (the rule: module docstring).

    Raises nothing: a budget too short for :data:`MIN_RUNG0_CONFIGS` short runs gets two rungs of what fits.
    """
    target = design.target_epochs()
    options = {rungs: _rung0(design, budget_s, rungs) for rungs in range(MIN_RUNGS, MAX_RUNGS + 1)}
    feasible = {rungs: epochs for rungs, (epochs, _) in options.items() if epochs}
    if not feasible:
        return HalvingSchedule(MIN_RUNGS, 1, options[MIN_RUNGS][1], budget_s, ETA)
    reaching = [rungs for rungs, epochs in feasible.items() if epochs * ETA ** (rungs - 1) >= target]
    rungs = max(reaching) if reaching else max(feasible, key=lambda r: (feasible[r] * ETA ** (r - 1), -r))
    return HalvingSchedule(rungs, feasible[rungs], options[rungs][1], budget_s, ETA)


def capped(schedule: HalvingSchedule, max_runs: int) -> HalvingSchedule:
    """``schedule`` held to ``max_runs`` runs over all its rungs: the most rung-0 configs (no more than it had)
    whose rungs add up to at most ``max_runs``, with as many of its rungs as keep each rung a choice (a rung
    after one that continued a single config would only train that config again)."""
    for rungs in range(schedule.rungs, 1, -1):
        held = dataclasses.replace(schedule, rungs=rungs, configs0=min(schedule.configs0, max_runs))
        while held.configs0 > 1 and held.total_runs() > max_runs:
            held = dataclasses.replace(held, configs0=held.configs0 - 1)
        if held.total_runs() <= max_runs and held.configs(rungs - 2) > 1:
            return held
    return dataclasses.replace(schedule, rungs=1, configs0=min(schedule.configs0, max_runs))


def first_rung(design: ProbeDesign, schedule: HalvingSchedule) -> Plan:
    """Rung 0's plan: the first ``configs0`` runs of the probe plan at ``epochs0`` epochs."""
    share_s = schedule.budget_s / schedule.rungs
    return Plan(design.plan(share_s, schedule.epochs0, MAX_RUNG0_CONFIGS).runs[: schedule.configs0])


def promote(scores: Sequence[RunScore], runs: Sequence[PlannedRun], count: int) -> tuple[PlannedRun, ...]:
    """The ``count`` best of ``runs`` by their committed scores (higher first; ties: fewer parameters, then plan
    order); runs without a committed score are left out."""
    by_key = {s.run_key: s for s in scores}
    scored = [(index, run, by_key[run.key]) for index, run in enumerate(runs) if run.key in by_key]
    scored.sort(key=lambda item: (-item[2].score, item[2].params, item[0]))
    return tuple(run for _, run, _ in scored[:count])


def next_rung(spec: SweepSpec, scores: Sequence[RunScore]) -> SweepSpec | None:
    """The plan of the rung after ``spec`` from its committed scores: the best 1/eta of its committed runs (at most
    the schedule's count); None after the last rung or when none of its runs was committed."""
    rung = spec.rung
    if rung is None or rung.index + 1 >= rung.schedule.rungs:
        return None
    schedule, index = rung.schedule, rung.index + 1
    planned = {run.key for run in spec.runs}
    committed = sum(1 for score in scores if score.run_key in planned)
    runs = promote(scores, spec.runs, min(schedule.configs(index), -(-committed // schedule.eta)))
    if not runs:
        return None
    runs = tuple(dataclasses.replace(run, repeat=run.repeat + 1) for run in runs)  # a new seed
    config = dataclasses.replace(spec.config, epochs=schedule.epochs(index))
    first = rung.first or spec.digest()
    return dataclasses.replace(spec, config=config, runs=runs, rung=Rung(index, schedule, first))


def rung_label(spec: SweepSpec) -> str:
    """``rung 2/3: 9 runs of 64 epochs``."""
    rung = spec.rung
    prefix = f"rung {rung.index + 1}/{rung.schedule.rungs}: " if rung is not None else ""
    return f"{prefix}{len(spec.runs)} runs of {spec.config.epochs} epochs"


@dataclass(frozen=True)
class HalvingOutcome:
    """What a halving probe did: each rung's spec and, for the rungs run in this invocation, its summary."""

    rungs: tuple[tuple[SweepSpec, SweepSummary | None], ...]
    budget_s: float

    @property
    def summaries(self) -> tuple[SweepSummary, ...]:
        """The summaries of the rungs run now, in order."""
        return tuple(summary for _, summary in self.rungs if summary is not None)

    @property
    def complete(self) -> bool:
        """Whether every rung of the schedule was planned and its sweep completed."""
        last = self.rungs[-1][0] if self.rungs else None
        done = all(summary is None or summary.complete for _, summary in self.rungs)
        return done and last is not None and last.rung is not None and last.rung.index + 1 == last.rung.schedule.rungs


def _closed(store: RunStore, hardware_id: int, spec: SweepSpec) -> tuple[bool, list[RunScore]]:
    """Whether the rung ``spec`` was closed by an earlier invocation (the rung after it, planned from its
    results as they stand, is in the store), and its committed scores."""
    found = store.find_sweep(spec.digest(), hardware_id)
    if found is None:
        return False, []
    scores = store.run_scores(found[0])
    after = next_rung(spec, scores)
    closed = found[1] is SweepStatus.COMPLETE or (
        after is not None and store.find_sweep(after.digest(), hardware_id) is not None
    )
    return closed, scores


def run_halving(
    first: SweepSpec,
    store: RunStore,
    hardware_id: int,
    run_rung: RunRung,
    remaining_s: Callable[[], float],
    progress: Callable[[SweepEvent], None] = lambda event: None,
) -> HalvingOutcome:
    """Run the rungs from ``first`` (rung 0) on: each closed rung is skipped, each other one run (continued if
    an earlier invocation began it) with its share of the budget left; a rung that was interrupted or stopped by
    a policy (meter failures, idle) ends the probe, as does a spent budget.

    Args:
        hardware_id: the store's id of the hardware the rungs run on (their sweeps are found by it).
        run_rung: runs one rung's sweep (:data:`RunRung`).
        remaining_s: the probe's budget left now, in seconds.
    """
    if first.rung is None:
        raise ValueError("run_halving needs a rung-0 spec (SweepSpec.rung set)")
    schedule = first.rung.schedule
    done: list[tuple[SweepSpec, SweepSummary | None]] = []
    spec: SweepSpec | None = first
    while spec is not None and spec.rung is not None:
        closed, scores = _closed(store, hardware_id, spec)
        if not closed:
            left_s = remaining_s()
            if left_s <= 0:
                break
            share_s = left_s / (schedule.rungs - spec.rung.index)
            progress(_rung_event(spec, schedule, left_s))
            summary = run_rung(spec, share_s, progress)
            done.append((spec, summary))
            if summary.interrupted or summary.stop_reason:
                break
            found = store.find_sweep(spec.digest(), hardware_id)
            scores = store.run_scores(found[0]) if found else []
        else:
            done.append((spec, None))
        spec = next_rung(spec, scores)
    return HalvingOutcome(tuple(done), schedule.budget_s)


def _rung_event(spec: SweepSpec, schedule: HalvingSchedule, left_s: float) -> SweepEvent:
    return SweepEvent(
        kind=SweepEventKind.RUNG,
        done=0,
        expected=len(spec.runs),
        elapsed_s=schedule.budget_s - left_s,
        budget_s=schedule.budget_s,
        label=rung_label(spec),
    )


def with_first_rung(spec: SweepSpec, schedule: HalvingSchedule) -> SweepSpec:
    """``spec`` as rung 0 of ``schedule`` (its own digest recorded as the probe's identity)."""
    return dataclasses.replace(spec, rung=Rung(0, schedule, spec.digest()))


def combined_summary(outcome: HalvingOutcome) -> SweepSummary | None:
    """One summary for the rungs run in this invocation (the last one's sweep id, meter and idle power; counts
    and times added; complete when every rung of the schedule is); None when no rung ran."""
    summaries = outcome.summaries
    if not summaries:
        return None
    last = summaries[-1]

    def total(name: str) -> int | float:
        return sum(getattr(s, name) for s in summaries)

    def counts(name: str) -> dict[str, int]:
        merged: dict[str, int] = {}
        for s in summaries:
            for key, value in getattr(s, name).items():
                merged[key] = merged.get(key, 0) + value
        return merged

    return dataclasses.replace(
        last,
        planned=sum(len(spec.runs) for spec, _ in outcome.rungs),
        committed_now=total("committed_now"),
        already_done=total("already_done"),
        rejected_now=total("rejected_now"),
        elapsed_s=total("elapsed_s"),
        budget_s=outcome.budget_s,
        interrupted=any(s.interrupted for s in summaries),
        complete=outcome.complete,
        tiers=counts("tiers"),
        shapes=counts("shapes"),
        datasets=counts("datasets"),
        stop_reason=next((s.stop_reason for s in summaries if s.stop_reason), None),
        requeued=total("requeued"),
        workers=counts("workers"),
    )
