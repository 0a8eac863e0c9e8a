"""Calibration as one library call shared by the CLI and the TUI: resolve inputs, plan, run, summarise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from measurement.datasets import Dataset, load_dataset
from measurement.errors import InputError
from measurement.hardware import Fingerprint, fingerprint
from measurement.harness import TrainConfig
from measurement.meters.auto import LadderStep, MeterOptions, choose_meter, log_fallbacks
from measurement.meters.base import EnergyMeter
from measurement.store import RunStore, default_store_path
from measurement.sweep import SweepEvent, SweepSpec, SweepSummary, plan_calibration, plan_probe, run_sweep

DEFAULT_CALIBRATION_DATASET = "synthetic:8192,16,4"


@dataclass(frozen=True)
class CalibrationRequest:
    """What the user asked for; every field has the CLI's default."""

    budget_s: float = 600.0
    budget_given: bool = True
    store: Path | None = None
    meter: MeterOptions = field(default_factory=MeterOptions)
    dataset: str = DEFAULT_CALIBRATION_DATASET
    config: TrainConfig = field(default_factory=TrainConfig)
    max_runs: int | None = None
    resume: bool = False
    idle_s: float = 2.0
    seed: int = 0
    kind: str = "calibrate"
    target: str | None = None


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


def prepare(request: CalibrationRequest) -> CalibrationJob:
    """Resolve the store, meter, dataset and plan. Bad input raises InputError / MeterError.

    With ``resume`` the newest unfinished calibration's stored plan is reused; without it, the plan is
    recomputed, and an identical plan continues its earlier sweep (committed runs are skipped).
    """
    store_path = Path(request.store) if request.store else default_store_path()
    RunStore.ensure_unlocked(store_path)
    fp = fingerprint()
    spec, budget_s = None, request.budget_s
    if request.resume:
        if not store_path.is_file():
            raise InputError(f"nothing to resume: no run store at {store_path}")
        with RunStore(store_path) as store:
            found = store.latest_unfinished_sweep(request.kind)
        if found is None:
            raise InputError(f"nothing to resume: every {request.kind} sweep in {store_path} is complete")
        spec = SweepSpec.from_dict(found[1])
    dataset = load_dataset(spec.dataset if spec else request.dataset, target=request.target, seed=request.seed)
    if spec is None:
        dims = (dataset.input_dim, dataset.output_dim, request.budget_s, request.config, int(dataset.x_test.shape[0]))
        if request.kind == "probe":
            runs = plan_probe(*dims, dataset.train_samples, seed=request.seed, max_runs=request.max_runs)
        else:
            runs = plan_calibration(fp, *dims, seed=request.seed, max_runs=request.max_runs)
        if not runs:
            raise InputError(f"a budget of {request.budget_s:.0f} s is too short for any {request.kind} run")
        spec = SweepSpec(request.kind, request.dataset, dataset.fingerprint(), request.config, tuple(runs), budget_s)
    if dataset.fingerprint() != spec.dataset_hash:
        raise InputError(f"dataset {spec.dataset} no longer matches the one this sweep started with")
    meter, steps = choose_meter(request.meter, warn=False)  # a bad trace/replay file fails here
    RunStore(store_path).close()  # created only now that every input is valid; fails in one line
    log_fallbacks(steps)
    if not request.budget_given and request.resume:
        budget_s = spec.budget_s
    return CalibrationJob(request, store_path, meter, tuple(steps), dataset, fp, spec, budget_s)


def run(
    job: CalibrationJob,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SweepSummary:
    """Run the job against its store, holding the store's sweep lock throughout."""
    with RunStore(job.store_path) as store:
        store.sweep_lock()
        return run_sweep(
            job.spec, store, job.meter, job.dataset, job.fingerprint, job.budget_s,
            progress=progress, idle_s=job.request.idle_s, should_stop=should_stop,
        )  # fmt: skip
