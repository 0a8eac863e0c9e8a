"""Calibrate and probe as library calls shared by the CLI and the TUI: resolve inputs, plan, run, (fit).

``prepare`` checks every input before anything is written; ``run`` measures; ``probe`` is a probe sweep
followed by the fit that gives the dataset its accuracy model — the same job whichever UI starts it.
The types a UI needs (requests, events, summaries, meter kinds) are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from advisor.fitting import FitOutcome, FitRequest, fit_and_save
from measurement.datasets import Dataset, load_dataset
from measurement.errors import InputError
from measurement.hardware import Fingerprint, fingerprint
from measurement.meters.auto import (
    LadderStep,
    MeterOptions,
    build_meter_options,
    choose_meter,
    close_meter,
    default_idle_s,
    log_fallbacks,
)
from measurement.meters.base import EnergyMeter, MeterKind
from measurement.records import TrainConfig
from measurement.store import RunStore, default_store_path
from measurement.sweep import SweepEvent, SweepSpec, SweepSummary, plan_calibration, plan_probe, run_sweep

DEFAULT_CALIBRATION_DATASET = "synthetic:8192,16,4"
DEFAULT_CALIBRATION_BUDGET_S = 600.0
DEFAULT_PROBE_BUDGET_S = 300.0
DEFAULT_PROBE_EPOCHS = 30

__all__ = [
    "DEFAULT_CALIBRATION_DATASET",
    "CalibrationJob",
    "CalibrationRequest",
    "EnergyMeter",
    "MeterKind",
    "MeterOptions",
    "ProbeOutcome",
    "SweepEvent",
    "SweepSummary",
    "TrainConfig",
    "meter_options",
    "prepare",
    "probe",
    "run",
]  # fmt: skip


def meter_options(meter: str = "auto", device: str = "cpu", trace: Path | None = None, trace_max_gap_s: float = 5.0,
                  replay: Path | None = None, core_watts: float | None = None) -> MeterOptions:  # fmt: skip
    """Validated meter options (names, device, watts and gaps checked in one place for every UI)."""
    return build_meter_options(meter, device, trace, trace_max_gap_s, replay, core_watts)


@dataclass(frozen=True)
class CalibrationRequest:
    """What the user asked for; every field has the CLI's default.

    Attributes:
        idle_s: idle measurement length; None = the meter's default (none for the replay meter).
        budget_given: False when the user left the budget out (a resume then keeps the sweep's own).
    """

    budget_s: float = DEFAULT_CALIBRATION_BUDGET_S
    budget_given: bool = True
    store: Path | None = None
    meter: MeterOptions = field(default_factory=MeterOptions)
    dataset: str = DEFAULT_CALIBRATION_DATASET
    config: TrainConfig = field(default_factory=TrainConfig)
    max_runs: int | None = None
    resume: bool = False
    idle_s: float | None = None
    seed: int = 0
    kind: str = "calibrate"
    target: str | None = None

    @property
    def idle_seconds(self) -> float:
        """The idle measurement length this request resolves to."""
        return default_idle_s(self.meter) if self.idle_s is None else self.idle_s


@dataclass(frozen=True)
class CalibrationJob:
    """A resolved request: the store, meter, dataset and plan, ready to run."""

    request: CalibrationRequest
    store_path: Path
    meter: EnergyMeter
    ladder: tuple[LadderStep, ...]
    dataset: Dataset
    fingerprint: Fingerprint
    spec: SweepSpec
    budget_s: float


@dataclass(frozen=True)
class ProbeOutcome:
    """A probe: what the sweep did and, unless it was interrupted or fitting was skipped, the fit."""

    summary: SweepSummary
    store_path: Path
    fit: FitOutcome | None


def _stored_spec(store_path: Path, kind: str) -> SweepSpec:
    if not store_path.is_file():
        raise InputError(f"nothing to resume: no run store at {store_path}")
    with RunStore(store_path) as store:
        found = store.latest_unfinished_sweep(kind)
    if found is None:
        raise InputError(f"nothing to resume: every {kind} sweep in {store_path} is complete")
    return SweepSpec.from_dict(found[1])


def _plan(request: CalibrationRequest, dataset: Dataset, fp: Fingerprint) -> SweepSpec:
    dims = (dataset.input_dim, dataset.output_dim, request.budget_s, request.config, int(dataset.x_test.shape[0]))
    if request.kind == "probe":
        runs = plan_probe(*dims, dataset.train_samples, seed=request.seed, max_runs=request.max_runs)
    else:
        runs = plan_calibration(fp, *dims, seed=request.seed, max_runs=request.max_runs)
    if not runs:
        raise InputError(f"a budget of {request.budget_s:.0f} s is too short for any {request.kind} run")
    return SweepSpec(request.kind, request.dataset, dataset.fingerprint(), request.config, tuple(runs),
                     request.budget_s)  # fmt: skip


def prepare(request: CalibrationRequest) -> CalibrationJob:
    """Resolve the store, meter, dataset and plan. Bad input raises InputError / MeterError; nothing is written.

    With ``resume`` the newest unfinished sweep of the request's kind is continued with its stored plan;
    without it, the plan is recomputed, and an identical plan continues its earlier sweep (committed runs
    are skipped).
    """
    store_path = Path(request.store) if request.store else default_store_path()
    RunStore.ensure_unlocked(store_path)
    fp = fingerprint()
    spec = _stored_spec(store_path, request.kind) if request.resume else None
    dataset = load_dataset(spec.dataset if spec else request.dataset, target=request.target, seed=request.seed)
    spec = spec or _plan(request, dataset, fp)
    if dataset.fingerprint() != spec.dataset_hash:
        raise InputError(f"dataset {spec.dataset} no longer matches the one this sweep started with")
    meter, steps = choose_meter(request.meter, warn=False)  # a bad trace/replay file fails here
    try:
        RunStore(store_path).close()  # created only now that every input is valid; fails in one line
    except BaseException:
        close_meter(meter)
        raise
    log_fallbacks(steps)
    budget_s = spec.budget_s if request.resume and not request.budget_given else request.budget_s
    return CalibrationJob(request, store_path, meter, tuple(steps), dataset, fp, spec, budget_s)


def run(
    job: CalibrationJob,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SweepSummary:
    """Run the job against its store, holding the store's sweep lock throughout."""
    try:
        with RunStore(job.store_path) as store:
            store.sweep_lock()
            return run_sweep(
                job.spec, store, job.meter, job.dataset, job.fingerprint, job.budget_s,
                progress=progress, idle_s=job.request.idle_seconds, should_stop=should_stop,
            )  # fmt: skip
    finally:
        close_meter(job.meter)  # NVML shut down, sampler threads stopped


def probe(
    job: CalibrationJob,
    profile: Path | None = None,
    fit: bool = True,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProbeOutcome:
    """Run a prepared probe, then fit the energy and accuracy models into ``profile`` (unless interrupted or
    ``fit`` is False): after a probe the dataset has an accuracy model, whichever UI started it."""
    if job.spec.kind != "probe":
        raise InputError(f"probe() runs probe sweeps, not {job.spec.kind!r} (prepare a request with kind='probe')")
    summary = run(job, progress, should_stop)
    outcome = None
    if fit and not summary.interrupted:
        outcome = fit_and_save(FitRequest(store=job.store_path, out=profile))
    return ProbeOutcome(summary, job.store_path, outcome)
