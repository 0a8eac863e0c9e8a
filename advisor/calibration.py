"""Calibrate and probe as library calls shared by the CLI and the TUI: resolve inputs, plan, run, (fit).

``prepare`` checks every input before anything is written; ``run`` measures; ``probe`` is a probe sweep
followed by the fit that gives the dataset its accuracy model — the same job whichever UI starts it.
With a cluster (``cluster`` / ``scheduler``) ``prepare`` also starts it and checks what the workers'
meters see, and ``run`` measures on the workers while this process writes the store; without one, Dask
is never imported. The types a UI needs (requests, events and their kinds, summaries, sweep and meter kinds)
are re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from advisor.fitting import FitOutcome, FitRequest, fit_and_save
from measurement.architecture import MAX_BATCH
from measurement.cluster import ClusterSession, ClusterSpec, parse_cluster, start_cluster
from measurement.datasets import Dataset, TargetKind, load_dataset
from measurement.errors import InputError
from measurement.hardware import Fingerprint, fingerprint
from measurement.meters.auto import (
    LadderStep,
    MeterChoice,
    MeterOptions,
    build_meter_options,
    choose_meter,
    close_meter,
    default_idle_s,
    log_fallbacks,
)
from measurement.meters.base import EnergyMeter, MeterKind
from measurement.records import PlannedRun, SweepKind, TrainConfig
from measurement.store import RunStore, default_store_path
from measurement.sweep import (
    PROBE_BATCH_SIZES,
    PROBE_LEARNING_RATES,
    DataDims,
    Plan,
    SweepEvent,
    SweepEventKind,
    SweepSpec,
    SweepSummary,
    plan_calibration_across,
    plan_recheck,
    run_sweep,
    run_sweep_on_pool,
    sweep_datasets,
)
from measurement.sweep.events import HalvingSchedule
from measurement.sweep.halving import (
    MIN_PROBE_STEPS,
    HalvingOutcome,
    ProbeDesign,
    capped,
    combined_summary,
    first_rung,
    plan_schedule,
    run_halving,
    with_first_rung,
)
from measurement.sweep.plan import plan_extension

DEFAULT_CALIBRATION_DATASETS = (
    "synthetic:4096,8,2",
    "synthetic:4096,32,4",
    "synthetic:4096,128,10",
    "synthetic:4096,512,16",
    "synthetic:4096,2048,10",
)
"""One calibration spans these input widths, narrow tabular to wide image-like (8 ... 2048 inputs; 2 classes,
i.e. one sigmoid output, to 16 classes), about 45 MB of data in all. Widths 13, 30, 64, 100 and 784 are left
out on purpose: the bundled data sets and the transfer benchmark test the model on widths it never saw."""
MAX_CALIBRATION_DATASETS = 16
DEFAULT_CALIBRATION_BUDGET_S = 600.0
DEFAULT_PROBE_BUDGET_S = 300.0
DEFAULT_PROBE_EPOCHS = 256
MIN_LEARNING_RATE, MAX_LEARNING_RATE = 1e-7, 1.0
MAX_BUDGET_S = 30 * 86400.0
MAX_SEED = 2**32 - 1

__all__ = [
    "DEFAULT_CALIBRATION_DATASETS",
    "PROBE_BATCH_SIZES",
    "PROBE_LEARNING_RATES",
    "CalibrationJob",
    "CalibrationRequest",
    "ClusterSpec",
    "EnergyMeter",
    "MeterKind",
    "MeterOptions",
    "ProbeOutcome",
    "SweepEvent",
    "SweepEventKind",
    "SweepKind",
    "SweepSummary",
    "TargetKind",
    "TrainConfig",
    "meter_options",
    "parse_cluster",
    "prepare",
    "probe",
    "run",
]


def meter_options(
    meter: str = "auto",
    device: str = "cpu",
    trace: Path | None = None,
    trace_max_gap_s: float = 5.0,
    replay: Path | None = None,
    core_watts: float | None = None,
) -> MeterOptions:
    """Validated meter options (names, device, watts and gaps checked in one place for every UI)."""
    return build_meter_options(meter, device, trace, trace_max_gap_s, replay, core_watts)


@dataclass(frozen=True)
class CalibrationRequest:
    """What the user asked for; every field has the CLI's default. :meth:`validate` gives the ranges.

    Attributes:
        dataset: the data set, or (a calibration only) several: one sweep spans them all.
        idle_s: idle measurement length; None = the meter's default (none for the replay meter).
        budget_given: False when the user left the budget out (a resume then keeps the sweep's own).
        target_kind: what a data file's target is (``--task``); None: the loader's rule.
        cluster: run on a Dask cluster: ``local:N``, ``slurm`` or ``pbs`` (None: on this machine).
        scheduler: run on the workers of an existing Dask scheduler at this address.
        workers: jobs to start on Slurm/PBS, or workers of ``scheduler`` to wait for.
        allow_shared_meter: go on, with a loud warning, when workers would share a counter.
        learning_rates: Adam learning rates a probe spreads over; None: the config's alone (the user's).
        batch_sizes: batch sizes a probe spreads over (capped at the training set); None: the config's alone.
        around: a probe that extends an earlier one: these runs (the best probed) again and their neighbours,
            one sweep of ``config.epochs`` epochs (:func:`measurement.sweep.plan.plan_extension`).
    """

    budget_s: float = DEFAULT_CALIBRATION_BUDGET_S
    budget_given: bool = True
    store: Path | None = None
    meter: MeterOptions = field(default_factory=MeterOptions)
    dataset: str | tuple[str, ...] = DEFAULT_CALIBRATION_DATASETS
    config: TrainConfig = field(default_factory=TrainConfig)
    max_runs: int | None = None
    resume: bool = False
    idle_s: float | None = None
    seed: int = 0
    kind: SweepKind = SweepKind.CALIBRATE
    target: str | None = None
    target_kind: TargetKind | None = None
    cluster: str | None = None
    scheduler: str | None = None
    workers: int | None = None
    allow_shared_meter: bool = False
    learning_rates: tuple[float, ...] | None = PROBE_LEARNING_RATES
    batch_sizes: tuple[int, ...] | None = PROBE_BATCH_SIZES
    around: tuple[PlannedRun, ...] = ()

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """The data sets asked for, in order."""
        return (self.dataset,) if isinstance(self.dataset, str) else tuple(self.dataset)

    @property
    def idle_seconds(self) -> float:
        """The idle measurement length this request resolves to."""
        return default_idle_s(self.meter) if self.idle_s is None else self.idle_s

    def validate(self) -> ClusterSpec | None:
        """Refuse an out-of-range number or a bad cluster in one line, before any work; the cluster asked for.

        Ranges: budget (0, 30 days]; windows 1..1000; window [0.001, 600] s; threads 1..1024; max runs
        1..100000; epochs 0..100000; batch sizes 1..2^20; learning rates [1e-7, 1]; idle [0, 3600] s;
        seed 0..2^32-1; workers 1..256; cluster ``local:N``, ``slurm`` or ``pbs``, or a scheduler address.

        Raises:
            InputError: naming the value, its flag and its range.
        """
        c = self.config
        _check("budget (--budget)", self.budget_s, 0.0, MAX_BUDGET_S, low_open=True)
        _check("windows (--windows)", c.windows, 1, 1000)
        _check("window length (--window)", c.window_s, 0.001, 600.0)
        _check("threads (--threads)", c.threads, 1, 1024)
        _check("epochs (--epochs)", c.epochs, 0, 100_000)
        _check("batch size (--batch-size)", c.batch_size, 1, MAX_BATCH)
        _check("learning rate (--learning-rate)", c.learning_rate, MIN_LEARNING_RATE, MAX_LEARNING_RATE)
        for lr in self.learning_rates or ():
            _check("a probe learning rate", lr, MIN_LEARNING_RATE, MAX_LEARNING_RATE)
        for batch in self.batch_sizes or ():
            _check("a probe batch size", batch, 1, MAX_BATCH)
        _check("inference batch size", c.inference_batch_size, 1, MAX_BATCH)
        _check("seed (--seed)", self.seed, 0, MAX_SEED)
        _check("train seed", c.seed, 0, MAX_SEED)
        if self.max_runs is not None:
            _check("max runs (--max-runs)", self.max_runs, 1, 100_000)
        if self.idle_s is not None:
            _check("idle length (--idle)", self.idle_s, 0.0, 3600.0)
        if self.kind not in (SweepKind.CALIBRATE, SweepKind.PROBE, SweepKind.RECHECK):  # not advisor measure's
            raise InputError(f"unknown sweep kind {str(self.kind)[:40]!r} (calibrate, probe or recheck)")
        self._validate_datasets()
        return parse_cluster(self.cluster, self.scheduler, self.workers)

    def _validate_datasets(self) -> None:
        """One data set for a probe; 1 to ``MAX_CALIBRATION_DATASETS`` distinct ones for a calibration."""
        names = self.dataset_names
        if not names or not all(isinstance(name, str) and name for name in names):
            raise InputError("--dataset needs a data set name, synthetic:N,D,K or a file")
        if self.kind == SweepKind.PROBE and len(names) != 1:
            raise InputError(f"a probe measures one data set, got {len(names)}")
        if len(names) > MAX_CALIBRATION_DATASETS:
            raise InputError(f"at most {MAX_CALIBRATION_DATASETS} data sets (--dataset), got {len(names)}")
        if len(set(names)) != len(names):
            raise InputError("a data set is named twice (--dataset)")


def _check(label: str, value: object, low: float, high: float, low_open: bool = False) -> None:
    """Refuse ``value`` outside [low, high] (or (low, high]); integers where the bounds are integers."""
    integer = isinstance(low, int) and isinstance(high, int)
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        span = f"({low:g}, {high:g}]" if low_open else (f"{low} to {high}" if integer else f"[{low:g}, {high:g}]")
        raise InputError(f"{label} must be {'an integer ' if integer else ''}{span}, got {value!r}")


@dataclass(frozen=True)
class CalibrationJob:
    """A resolved request: the store, meter, data sets and plan, ready to run.

    On a cluster, ``meter`` is None (each worker builds its own) and ``cluster`` is the started cluster,
    which :func:`run` closes; ``fingerprint`` is then the first worker's (the plan is made for it).
    ``datasets`` are the plan's, in ``spec.datasets`` order; ``began`` is when the budget started
    (``time.monotonic``): when :func:`prepare` started (loading and planning count), or when a cluster's
    workers were ready.
    """

    request: CalibrationRequest
    store_path: Path
    meter: EnergyMeter | None
    ladder: tuple[LadderStep, ...]
    datasets: tuple[Dataset, ...]
    fingerprint: Fingerprint
    spec: SweepSpec
    budget_s: float
    cluster: ClusterSession | None = None
    began: float = field(default_factory=time.monotonic)

    @property
    def dataset(self) -> Dataset:
        """The first data set (the only one of a probe)."""
        return self.datasets[0]

    @property
    def meter_name(self) -> str:
        """The meter's name (on a cluster, the first worker's)."""
        return self.meter.name if self.meter is not None else self._cluster.meter[0]

    @property
    def meter_kind(self) -> MeterKind:
        """Measured or estimated (on a cluster, the first worker's meter)."""
        return self.meter.kind if self.meter is not None else MeterKind(self._cluster.meter[1])

    @property
    def workers(self) -> int:
        """How many measuring workers there are now (1 on this machine)."""
        return 1 if self.cluster is None else len(self.cluster.reports)

    @property
    def _cluster(self) -> ClusterSession:
        if self.cluster is None:
            raise InputError("this job has neither a meter nor a cluster")
        return self.cluster


@dataclass(frozen=True)
class ProbeOutcome:
    """A probe: what the sweep did and, unless it was interrupted or fitting was skipped, the fit."""

    summary: SweepSummary
    store_path: Path
    fit: FitOutcome | None


def _stored_spec(store_path: Path, kind: SweepKind) -> SweepSpec:
    """The newest unfinished sweep's plan; for a rung of a halving probe, its first rung's (the probe resumes
    from there, skipping what is done)."""
    if not store_path.is_file():
        raise InputError(f"nothing to resume: no run store at {store_path}")
    with RunStore(store_path) as store:
        found = store.latest_unfinished_sweep(kind)
        if found is None:
            raise InputError(f"nothing to resume: every {kind} sweep in {store_path} is complete")
        spec = SweepSpec.from_dict(found[1])
        first = store.find_sweep(spec.rung.first) if spec.rung is not None and spec.rung.index > 0 else None
    return SweepSpec.from_dict(first[2]) if first is not None else spec


def _load(names: tuple[str, ...], request: CalibrationRequest) -> tuple[Dataset, ...]:
    return tuple(
        load_dataset(name, target=request.target, seed=request.seed, kind=request.target_kind) for name in names
    )


def probe_epochs(train_samples: int, batch_size: int) -> int:
    """The default length of a probe run: ``DEFAULT_PROBE_EPOCHS`` (digits plateaus there at lr 1e-4, batch
    256), or enough epochs for ``MIN_PROBE_STEPS`` steps on a small data set (at most 1,500 epochs)."""
    steps_per_epoch = math.ceil(train_samples / batch_size)
    return max(DEFAULT_PROBE_EPOCHS, math.ceil(MIN_PROBE_STEPS / steps_per_epoch))


def _probe_plan(request: CalibrationRequest, data: Dataset) -> tuple[TrainConfig, Plan, HalvingSchedule | None]:
    """A probe's first sweep: rung 0 of a successive-halving schedule (no ``--epochs``), or one sweep whose runs
    all train ``config.epochs`` epochs; over the request's recipe axes either way."""
    dims = DataDims(
        input_dim=data.input_dim,
        output_dim=data.output_dim,
        test_samples=int(data.x_test.shape[0]),
        train_samples=data.train_samples,
    )
    if request.around:
        return request.config, plan_extension(request.around, data.train_samples, max_runs=request.max_runs), None
    design = ProbeDesign(dims, request.config, request.learning_rates, request.batch_sizes, seed=request.seed)
    if request.config.epochs > 0:
        return request.config, design.plan(request.budget_s, request.config.epochs, request.max_runs), None
    schedule = plan_schedule(design, request.budget_s)
    if request.max_runs:
        schedule = capped(schedule, request.max_runs)
    config = dataclasses.replace(request.config, epochs=schedule.epochs0)
    return config, first_rung(design, schedule), schedule


def _plan(request: CalibrationRequest, datasets: tuple[Dataset, ...], fp: Fingerprint) -> SweepSpec:
    first, names, kind = datasets[0], request.dataset_names, SweepKind(request.kind)
    config, schedule = request.config, None
    if kind is SweepKind.PROBE:
        config, plan, schedule = _probe_plan(request, first)
    else:
        dims = [
            DataDims(
                input_dim=d.input_dim,
                output_dim=d.output_dim,
                test_samples=int(d.x_test.shape[0]),
                train_samples=d.train_samples,
            )
            for d in datasets
        ]
        plan = (
            plan_recheck(dims)
            if kind is SweepKind.RECHECK
            else plan_calibration_across(
                fp, dims, request.budget_s, request.config, seed=request.seed, max_runs=request.max_runs
            )
        )
    if not plan:
        raise InputError(f"a budget of {request.budget_s:.0f} s is too short for any {kind} run")
    spec = SweepSpec(
        kind=kind,
        dataset=_dataset_for_workers(names[0]),  # a file by its absolute path: resume and --extend from anywhere
        dataset_hash=first.fingerprint(),
        config=config,
        runs=plan.runs,
        budget_s=request.budget_s,
        extra_datasets=tuple((name, d.fingerprint()) for name, d in zip(names[1:], datasets[1:], strict=True)),
        sentinel=plan.sentinel,
    )
    return spec if schedule is None else with_first_rung(spec, schedule)


def _datasets_for(request: CalibrationRequest, spec: SweepSpec | None) -> tuple[Dataset, ...]:
    """The data sets of a stored sweep (checked against its fingerprints), else those the request names."""
    if spec is None:
        return _load(request.dataset_names, request)
    return sweep_datasets(spec, _load(spec.dataset_names, request))


def prepare(request: CalibrationRequest) -> CalibrationJob:
    """Resolve the store, meter, data sets and plan. Bad input raises InputError / MeterError; nothing is written.

    With ``resume`` the newest unfinished sweep of the request's kind is continued with its stored plan (a
    data set that changed since is refused); without it, the plan is recomputed, and an identical plan
    continues its earlier sweep (committed runs are skipped). With a cluster, the cluster is started here
    and its workers checked (:func:`_on_cluster`).
    """
    began = time.monotonic()
    cluster = request.validate()
    store_path = Path(request.store) if request.store else default_store_path()
    RunStore.ensure_unlocked(store_path)
    if cluster is not None:
        return _on_cluster(request, cluster, store_path)
    fp = fingerprint()
    spec = _stored_spec(store_path, request.kind) if request.resume else None
    datasets = _datasets_for(request, spec)
    spec = spec or _plan(request, datasets, fp)
    meter, steps = choose_meter(request.meter, warn=False)  # a bad trace/replay file fails here
    try:
        RunStore(store_path).close()  # created only now that every input is valid; fails in one line
    except BaseException:
        close_meter(meter)
        raise
    log_fallbacks(steps)
    budget_s = spec.budget_s if request.resume and not request.budget_given else request.budget_s
    return CalibrationJob(
        request=request,
        store_path=store_path,
        meter=meter,
        ladder=tuple(steps),
        datasets=datasets,
        fingerprint=fp,
        spec=spec,
        budget_s=budget_s,
        began=began,
    )


def _on_cluster(request: CalibrationRequest, cluster: ClusterSpec, store_path: Path) -> CalibrationJob:
    """Prepare a job on a cluster: check what can be checked here, start the cluster, check its workers'
    meters, plan for the first worker's hardware. The cluster is closed again if anything fails. The budget
    counts from when the workers are ready (a batch queue's wait is not the sweep's)."""
    spec = _stored_spec(store_path, request.kind) if request.resume else None
    datasets = _datasets_for(request, spec)
    options = _for_workers(request.meter)
    if options.choice in (MeterChoice.REPLAY, MeterChoice.TRACE):
        close_meter(choose_meter(options, warn=False)[0])  # a bad file fails here, before any cluster
    session = start_cluster(cluster, options, request.allow_shared_meter)
    began = time.monotonic()
    try:
        spec = spec or _plan(request, datasets, session.fingerprint)
        RunStore(store_path).close()  # created only now that every input is valid
    except BaseException:
        session.close()
        raise
    budget_s = spec.budget_s if request.resume and not request.budget_given else request.budget_s
    request = dataclasses.replace(request, meter=options)
    return CalibrationJob(
        request=request,
        store_path=store_path,
        meter=None,
        ladder=(),
        datasets=datasets,
        fingerprint=session.fingerprint,
        spec=spec,
        budget_s=budget_s,
        cluster=session,
        began=began,
    )


def _for_workers(options: MeterOptions) -> MeterOptions:
    """Meter options with absolute file paths: workers may start elsewhere (a shared file system)."""
    names = ("trace_path", "replay_path")
    absolute = {name: Path(path).resolve() for name in names if (path := getattr(options, name)) is not None}
    return dataclasses.replace(options, **absolute)


def _dataset_for_workers(name: str) -> str:
    """A dataset file as an absolute path (workers may start elsewhere); a bundled or synthetic name as is."""
    path = Path(name)
    return str(path.resolve()) if path.suffix and path.is_file() else name


Sweeper = Callable[[SweepSpec, float, Callable[[SweepEvent], None], float], SweepSummary]
"""Runs one sweep of a job: (spec, budget in seconds, progress, the ``time.monotonic`` value the budget counts
from) -> its summary."""


def run(
    job: CalibrationJob,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SweepSummary:
    """Run the job against its store, holding the store's sweep lock throughout (on a cluster: on its
    workers, this process the store's only writer; the cluster is closed at the end). A probe planned as
    successive-halving rungs (``job.spec.rung``) runs them in turn (:func:`measurement.sweep.halving.run_halving`),
    each with its share of the budget; the summary adds them up."""
    with _sweeper(job, should_stop) as (store, sweep):
        if job.spec.rung is None:
            return sweep(job.spec, job.budget_s, progress, job.began)
        return _run_rungs(job, store, sweep, progress)


def _run_rungs(
    job: CalibrationJob, store: RunStore, sweep: Sweeper, progress: Callable[[SweepEvent], None]
) -> SweepSummary:
    """The halving schedule from rung 0 (``job.spec``); a rung that ran adds to the summary."""

    def rung(spec: SweepSpec, share_s: float, report: Callable[[SweepEvent], None]) -> SweepSummary:
        return sweep(spec, share_s, report, time.monotonic())

    def remaining_s() -> float:
        return job.budget_s - (time.monotonic() - job.began)

    outcome: HalvingOutcome = run_halving(
        job.spec, store, store.hardware_id(job.fingerprint), rung, remaining_s, progress
    )
    summary = combined_summary(outcome)
    if summary is None:  # every rung was closed before, or no time was left: nothing ran now
        last = outcome.rungs[-1][0] if outcome.rungs else job.spec
        summary = sweep(last, 0.0, progress, time.monotonic())
    return summary


@contextlib.contextmanager
def _sweeper(job: CalibrationJob, should_stop: Callable[[], bool]) -> Iterator[tuple[RunStore, Sweeper]]:
    """The job's store (its sweep lock held) and how a sweep runs: on this machine with the job's meter, or on
    the cluster's workers. The meter, or the cluster, is closed at the end."""
    if job.cluster is not None:
        with _cluster_sweeper(job, job.cluster, should_stop) as found:
            yield found
        return
    try:
        with RunStore(job.store_path) as store:
            store.sweep_lock()

            def sweep(spec, budget_s, progress, began) -> SweepSummary:
                return run_sweep(
                    spec,
                    store,
                    job.meter,
                    job.datasets,
                    job.fingerprint,
                    budget_s,
                    progress=progress,
                    idle_s=job.request.idle_seconds,
                    should_stop=should_stop,
                    began=began,
                )

            yield store, sweep
    finally:
        close_meter(job.meter)  # NVML shut down, sampler threads stopped


@contextlib.contextmanager
def _cluster_sweeper(
    job: CalibrationJob, session: ClusterSession, should_stop: Callable[[], bool]
) -> Iterator[tuple[RunStore, Sweeper]]:
    from measurement.distributed import WorkerSetup

    request = job.request
    extra = tuple((_dataset_for_workers(name), digest) for name, digest in job.spec.extra_datasets)
    setup = WorkerSetup(
        meter=request.meter,
        dataset=_dataset_for_workers(job.spec.dataset),
        target=request.target,
        target_kind=request.target_kind,
        dataset_seed=request.seed,
        dataset_hash=job.spec.dataset_hash,
        idle_s=request.idle_seconds,
        extra_datasets=extra,
    )
    with session, RunStore(job.store_path) as store:
        store.sweep_lock()

        def sweep(spec, budget_s, progress, began) -> SweepSummary:
            return run_sweep_on_pool(
                spec,
                store,
                session.pool(setup),
                job.datasets,
                job.fingerprint,
                session.meter,
                budget_s,
                progress=progress,
                idle_s=request.idle_seconds,
                should_stop=should_stop,
                began=began,
                idle_every_s=setup.idle_every_s,
            )

        yield store, sweep


def probe(
    job: CalibrationJob,
    profile: Path | None = None,
    fit: bool = True,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProbeOutcome:
    """Run a prepared probe, then fit the energy and accuracy models into ``profile`` (unless interrupted or
    ``fit`` is False): after a probe the dataset has an accuracy model, whichever UI started it."""
    if job.spec.kind is not SweepKind.PROBE:
        raise InputError(
            f"probe() runs probe sweeps, not {job.spec.kind} (prepare a request with kind=SweepKind.PROBE)"
        )
    summary = run(job, progress, should_stop)
    outcome = None
    if fit and not summary.interrupted:
        outcome = fit_and_save(FitRequest(store=job.store_path, out=profile))
    return ProbeOutcome(summary, job.store_path, outcome)
