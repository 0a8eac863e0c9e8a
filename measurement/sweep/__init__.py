"""Plan a sweep of training runs within a time budget, run it (on this machine or over a pool of workers),
and resume it.

One module per job: :mod:`~measurement.sweep.timing` (the run-time model and the budget),
:mod:`~measurement.sweep.plan` (calibration and probe plans, with their sentinel),
:mod:`~measurement.sweep.events` (the spec stored with a sweep, progress events, the summary),
:mod:`~measurement.sweep.serial` (the executor on this machine and the policies every executor shares) and
:mod:`~measurement.sweep.pool` (the executor over a pool of workers: the seam :mod:`measurement.cluster` and
:mod:`measurement.distributed` use). The names callers need are re-exported here.
"""

from __future__ import annotations

from measurement.records import NO_SENTINEL, SweepKind
from measurement.sweep.events import (
    SweepEvent,
    SweepEventKind,
    SweepSpec,
    SweepSummary,
    SweepTally,
    sweep_datasets,
)
from measurement.sweep.plan import (
    CALIBRATION_BATCH_SIZES,
    PROBE_BATCH_SIZES,
    PROBE_DEPTHS,
    PROBE_LEARNING_RATES,
    RECHECK_PANEL,
    SENTINEL,
    SENTINEL_EVERY,
    DataDims,
    Plan,
    plan_calibration,
    plan_calibration_across,
    plan_probe,
    plan_recheck,
    probe_batch_sizes,
)
from measurement.sweep.pool import PoolEvent, RemoteResult, RemoteRun, RunPool, lost_result, run_sweep_on_pool
from measurement.sweep.serial import MAX_METER_FAILURES, IdlePower, run_sweep
from measurement.sweep.timing import DEFAULT_TIME_MODEL, TimeModel

__all__ = [
    "CALIBRATION_BATCH_SIZES",
    "DEFAULT_TIME_MODEL",
    "MAX_METER_FAILURES",
    "NO_SENTINEL",
    "PROBE_BATCH_SIZES",
    "PROBE_DEPTHS",
    "PROBE_LEARNING_RATES",
    "RECHECK_PANEL",
    "SENTINEL",
    "SENTINEL_EVERY",
    "DataDims",
    "IdlePower",
    "Plan",
    "PoolEvent",
    "RemoteResult",
    "RemoteRun",
    "RunPool",
    "SweepEvent",
    "SweepEventKind",
    "SweepKind",
    "SweepSpec",
    "SweepSummary",
    "SweepTally",
    "TimeModel",
    "lost_result",
    "plan_calibration",
    "plan_calibration_across",
    "plan_probe",
    "plan_recheck",
    "probe_batch_sizes",
    "run_sweep",
    "run_sweep_on_pool",
    "sweep_datasets",
]
