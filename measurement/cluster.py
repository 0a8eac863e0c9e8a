"""Dask clusters for sweeps across many nodes: which cluster (``--cluster`` / ``--scheduler``), starting it,
checking that no two measuring workers see one meter, and handing runs to workers (:class:`DaskPool`).

Counters such as RAPL (per CPU package), NVML (per GPU) and a node power trace see everything on what
they measure: two workers behind one counter would measure each other. :func:`check_meters` allows one
measuring worker per host, or per package / GPU when there are several (each worker then measures and
runs on its own), and refuses anything else unless told to go on (a loud warning). Per-process meters
(estimate, replay) never conflict. Dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import queue
import re
import signal
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from measurement.distributed import MeterSlot, WorkerReport, WorkerSetup, measure_remote, report_worker
from measurement.errors import InputError, first_line
from measurement.hardware import Fingerprint
from measurement.lifecycle import die_with_parent
from measurement.meters.auto import MeterChoice, MeterOptions
from measurement.meters.base import MeterError, MeterKind
from measurement.sweep.pool import PoolEvent, RemoteRun

log = logging.getLogger(__name__)

MAX_WORKERS = 256
DEFAULT_JOBQUEUE_WORKERS = 2
REPORT_TIMEOUT_S = 600.0
PARENT_PID_ENV = "ADVISOR_PARENT_PID"
SYSTEM_WIDE = {MeterChoice.RAPL: "CPU package", MeterChoice.NVML: "GPU", MeterChoice.TRACE: "node power trace"}
"""Meters that see a whole package / GPU / node, with what one of them measures."""
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?[A-Za-z0-9._\-\[\]:]+:(\d{1,5})")
_LOCAL = re.compile(r"local:(\d{1,6})")


class ClusterKind(enum.StrEnum):
    """Where the workers come from."""

    LOCAL = "local"
    SLURM = "slurm"
    PBS = "pbs"
    SCHEDULER = "scheduler"


WAIT_S = {ClusterKind.LOCAL: 180.0, ClusterKind.SCHEDULER: 180.0, ClusterKind.SLURM: 3600.0, ClusterKind.PBS: 3600.0}
"""How long to wait for the first workers: all of a local cluster, ``--workers`` of an existing scheduler,
the first job of a batch queue (more join as their jobs start)."""


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster to run a sweep on: its kind, how many measuring workers, an existing scheduler's address."""

    kind: ClusterKind
    workers: int
    address: str | None = None

    def describe(self) -> str:
        """One line for messages."""
        if self.kind is ClusterKind.SCHEDULER:
            return f"Dask scheduler {self.address}"
        return f"{self.kind.value} cluster of {self.workers} worker{'s' if self.workers != 1 else ''}"


def parse_cluster(cluster: str | None, scheduler: str | None = None, workers: int | None = None) -> ClusterSpec | None:
    """The cluster ``--cluster`` (``local:N``, ``slurm``, ``pbs``) or ``--scheduler ADDRESS`` ask for; None
    for none (a sweep on this machine). ``workers`` (1 … 256) is how many jobs a batch queue starts, or how
    many workers of an existing scheduler to wait for.

    Raises:
        InputError: for anything else, in one line.
    """
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= MAX_WORKERS):
        raise InputError(f"workers must be 1 to {MAX_WORKERS}, got {workers!r}")
    if cluster is None and scheduler is None:
        if workers is not None:
            raise InputError("--workers needs --cluster or --scheduler")
        return None
    if cluster is not None and scheduler is not None:
        raise InputError("give --cluster or --scheduler, not both")
    if scheduler is not None:
        match = _ADDRESS.fullmatch(str(scheduler).strip())
        if match is None or not 1 <= int(match[1]) <= 65535:
            raise InputError(f"not a Dask scheduler address: {str(scheduler)[:60]!r} (e.g. tcp://10.0.0.1:8786)")
        return ClusterSpec(ClusterKind.SCHEDULER, workers or 1, str(scheduler).strip())
    return _parse_cluster_kind(str(cluster).strip().lower(), workers)


def _parse_cluster_kind(text: str, workers: int | None) -> ClusterSpec:
    if match := _LOCAL.fullmatch(text):
        n = int(match[1])
        if not 1 <= n <= MAX_WORKERS:
            raise InputError(f"local:N takes 1 to {MAX_WORKERS} workers, got {n}")
        if workers is not None and workers != n:
            raise InputError(f"--cluster local:{n} and --workers {workers} disagree")
        return ClusterSpec(ClusterKind.LOCAL, n)
    if text in (ClusterKind.SLURM, ClusterKind.PBS):
        return ClusterSpec(ClusterKind(text), workers or DEFAULT_JOBQUEUE_WORKERS)
    raise InputError(f"unknown cluster {text[:40]!r} (local:N, slurm or pbs; or --scheduler ADDRESS)")


@dataclass(frozen=True)
class MeterCheck:
    """The outcome of :func:`check_meters`.

    Attributes:
        slots: the package / GPU each worker measures, for workers that share a host's counters
            (absent: the whole node).
        excluded: workers that must not measure (beyond what their host's counters can keep apart).
        problems: what is wrong, one line each (a refusal, or with ``allow_shared`` a warning).
    """

    slots: Mapping[str, MeterSlot] = field(default_factory=dict)
    excluded: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def check_meters(
    reports: Sequence[WorkerReport], allow_shared: bool = False, previous: Mapping[str, MeterSlot] | None = None
) -> MeterCheck:
    """Check that no two workers measure with one counter; give each worker on a shared host its slot.

    Per host, the workers with a system-wide meter (:data:`SYSTEM_WIDE`) must all use the same one and be
    no more than the host has packages (RAPL) or GPUs (NVML); a node trace allows one, on one host only.
    Earlier workers keep their slots (``previous``); later ones are the ones left out.

    Args:
        reports: the workers, earliest first.
        allow_shared: go on anyway: every worker measures its whole node (the problems become warnings).
        previous: slots given before, kept where still valid.
    """
    slots: dict[str, MeterSlot] = {}
    excluded: list[str] = []
    problems: list[str] = []
    for host in dict.fromkeys(r.host for r in reports):
        system = [r for r in reports if r.host == host and r.meter in SYSTEM_WIDE]
        host_slots, left_out, problem = _host_slots(host, system, previous or {})
        slots.update(host_slots)
        excluded += left_out
        problems += [problem] if problem else []
    trace_hosts = list(dict.fromkeys(r.host for r in reports if r.meter == MeterChoice.TRACE))
    if len(trace_hosts) > 1:
        hosts = ", ".join(trace_hosts[:3])
        problems.append(
            f"one power trace cannot measure {len(trace_hosts)} hosts ({hosts}): "
            "run on one host, or with a meter on every node (rapl, nvml)"
        )
        excluded += [r.address for r in reports if r.meter == MeterChoice.TRACE and r.host != trace_hosts[0]]
    if allow_shared:
        return MeterCheck({}, (), tuple(problems))
    return MeterCheck(slots, tuple(dict.fromkeys(excluded)), tuple(problems))


def _host_slots(
    host: str, system: list[WorkerReport], previous: Mapping[str, MeterSlot]
) -> tuple[dict[str, MeterSlot], list[str], str | None]:
    """One host's workers with system-wide meters: their slots, those left out, and the problem if any.

    The earliest workers are admitted up to the host's capacity and keep their slots; only the later ones
    (another counter, or more workers than packages/GPUs) are left out — a worker joining mid-sweep never
    takes the admitted workers' slots away.
    """
    meter = system[0].meter if system else ""
    others = [r.address for r in system if r.meter != meter]
    same = [r for r in system if r.meter == meter]
    problems = []
    if others:
        meters = " and ".join(dict.fromkeys(r.meter for r in system))
        problems.append(
            f"host {host} has workers measuring with {meters}: each would measure the others' work "
            "(one measuring worker per node; --allow-shared-meter to go on anyway)"
        )
    units = _units(meter, same[0]) if same else []
    capacity = max(len(units), 1)
    admitted, left_out = same[:capacity], [r.address for r in same[capacity:]]
    if left_out:
        unit = SYSTEM_WIDE[meter]
        problems.append(
            f"host {host} has {len(same)} workers measuring with {meter} but {capacity} {unit}"
            f"{'s' if capacity != 1 else ''}: they would measure each other (one measuring worker per {unit}; "
            "--allow-shared-meter to go on anyway)"
        )
    slots = _assign(meter, admitted, units, previous) if len(admitted) > 1 else {}  # alone: the whole node
    return slots, others + left_out, "; ".join(problems) or None


def _units(meter: str, report: WorkerReport) -> list[int]:
    """The packages or GPUs of a host that a worker can have to itself (none for a node trace)."""
    if meter == "rapl":
        return list(report.rapl_packages)
    return list(range(report.gpus)) if meter == "nvml" else []


def _assign(
    meter: str, system: list[WorkerReport], units: list[int], previous: Mapping[str, MeterSlot]
) -> dict[str, MeterSlot]:
    """One unit per worker: a worker keeps the unit it had; the others take the free ones in order."""

    def unit_of(slot: MeterSlot | None) -> int | None:
        return None if slot is None else (slot.package if meter == "rapl" else slot.gpu)

    kept = {r.address: unit_of(previous.get(r.address)) for r in system}
    kept = {a: u for a, u in kept.items() if u in units}
    free = [u for u in units if u not in kept.values()]
    chosen = {r.address: kept[r.address] if r.address in kept else free.pop(0) for r in system}
    if meter == "rapl":
        return {a: MeterSlot(package=u) for a, u in chosen.items()}
    return {a: MeterSlot(gpu=u) for a, u in chosen.items()}


@dataclass
class ClusterSession:
    """A started cluster: the Dask client, the cluster we started (None for an existing scheduler), and
    the measuring workers admitted so far, earliest first, with their reports and slots."""

    spec: ClusterSpec
    client: Any
    cluster: Any
    options: MeterOptions
    allow_shared: bool
    reports: dict[str, WorkerReport] = field(default_factory=dict)
    slots: dict[str, MeterSlot] = field(default_factory=dict)
    excluded: set[str] = field(default_factory=set)
    log_level: int = logging.NOTSET

    def __enter__(self) -> ClusterSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client, and the cluster if we started it (its workers stop)."""
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
            logging.getLogger("distributed").setLevel(self.log_level)

    @property
    def fingerprint(self) -> Fingerprint:
        """The first worker's hardware: what the sweep's plan is made for."""
        return next(iter(self.reports.values())).fingerprint

    @property
    def meter(self) -> tuple[str, MeterKind]:
        """The first worker's meter name and kind (each run records its own)."""
        first = next(iter(self.reports.values()))
        return first.meter, first.meter_kind

    def admit(self, reports: Sequence[WorkerReport]) -> MeterCheck:
        """Check ``reports`` together with the workers admitted before; admit those that may measure (the
        others are left out) and update every worker's slot."""
        check = check_meters([*self.reports.values(), *reports], self.allow_shared, self.slots)
        for report in reports:
            if report.address in check.excluded:
                self.excluded.add(report.address)
            else:
                self.reports[report.address] = report
        self.slots = dict(check.slots)
        return check

    def forget(self, addresses: set[str]) -> None:
        """Workers that left: their slots are free again."""
        for address in addresses:
            self.reports.pop(address, None)
            self.slots.pop(address, None)

    def probe(self, addresses: Sequence[str]) -> dict[str, Any]:
        """Ask each worker for its report (a pinned task each; run in the worker's thread)."""
        return {
            a: self.client.submit(
                report_worker,
                self.options,
                key=f"advisor-report-{uuid.uuid4().hex}",
                workers=[a],
                allow_other_workers=False,
                pure=False,
            )
            for a in addresses
        }

    def pool(self, setup: WorkerSetup) -> DaskPool:
        """A run pool over this cluster's workers, each run sent with ``setup`` and the worker's slot."""
        return DaskPool(self, setup)


def start_cluster(spec: ClusterSpec, options: MeterOptions, allow_shared: bool = False) -> ClusterSession:
    """Start (or connect to) the cluster, wait for its first workers, and check what their meters see.

    Raises:
        InputError: Dask missing, a scheduler out of reach, no workers in time, or workers that would
            measure each other (unless ``allow_shared``: then a loud warning).
        MeterError: a meter the user named cannot run on a worker.
    """
    try:
        import distributed  # noqa: F401 - configures its loggers on import: quieten them after
    except ImportError:
        raise InputError("a cluster needs Dask: pip install 'energy-advisor[cluster]'") from None
    quiet = logging.getLogger("distributed")
    session_level, _ = quiet.level, quiet.setLevel(logging.ERROR)  # Dask's chatter would drown the progress
    try:
        client, cluster = _connect(spec)
    except BaseException:
        quiet.setLevel(session_level)
        raise
    session = ClusterSession(
        spec=spec, client=client, cluster=cluster, options=options, allow_shared=allow_shared, log_level=session_level
    )
    try:
        wanted = 1 if spec.kind in (ClusterKind.SLURM, ClusterKind.PBS) else spec.workers
        try:
            client.wait_for_workers(wanted, timeout=WAIT_S[spec.kind])
        except TimeoutError:
            wait_s = WAIT_S[spec.kind]
            raise InputError(f"{spec.describe()}: fewer than {wanted} workers after {wait_s:.0f} s") from None
        reports = [_report(a, f) for a, f in session.probe(sorted(client.nthreads())).items()]
        problems = session.admit(reports).problems
        if problems and not allow_shared:
            raise InputError(problems[0])
        for problem in problems:
            log.warning("SHARED METER: %s; going on as asked, every worker measures its whole node", problem)
        _warn_meters(reports)
    except BaseException:
        session.close()
        raise
    return session


def _report(address: str, future: Any) -> WorkerReport:
    """A worker's report; its meter's failure, its death or its silence as one line naming the worker."""
    from distributed import KilledWorker

    try:
        return future.result(timeout=REPORT_TIMEOUT_S)
    except (InputError, MeterError) as exc:
        raise type(exc)(f"on worker {address}: {first_line(exc)}") from None
    except (KilledWorker, TimeoutError) as exc:
        raise InputError(f"worker {address} did not report (died or hung): {first_line(exc)}") from None


def _warn_meters(reports: Sequence[WorkerReport]) -> None:
    """Log the ladder's fallbacks (once each) and meters that differ between workers."""
    for fallback in dict.fromkeys(f for r in reports for f in r.fallbacks):
        log.warning("on the workers, meter %s", fallback)
    meters = {r.meter for r in reports}
    if len(meters) > 1:
        log.warning("the workers measure with different meters (%s); each run records its own", ", ".join(meters))


def _connect(spec: ClusterSpec) -> tuple[Any, Any]:
    """A Dask client, and the cluster started for it (None for an existing scheduler)."""
    import dask
    from distributed import Client

    if spec.kind is ClusterKind.SCHEDULER:
        try:
            return Client(spec.address, timeout=30, set_as_default=False), None
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {spec.address}: {first_line(exc)}") from None
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # a worker's death reaches us at once
        cluster = _local_cluster(spec) if spec.kind is ClusterKind.LOCAL else _jobqueue_cluster(spec)
    try:
        return Client(cluster, set_as_default=False), cluster
    except BaseException:
        cluster.close()
        raise


def _local_cluster(spec: ClusterSpec) -> Any:
    """N single-threaded worker processes on this machine, each dying with this process."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=spec.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        preload=[__name__],
        env={PARENT_PID_ENV: str(os.getpid())},
    )


def _jobqueue_cluster(spec: ClusterSpec) -> Any:
    """``spec.workers`` Slurm or PBS jobs, each one worker (:func:`jobqueue_cluster`)."""
    cluster = jobqueue_cluster(spec.kind)
    cluster.scale(spec.workers)
    return cluster


def jobqueue_cluster(kind: ClusterKind) -> Any:
    """A Slurm or PBS cluster (no jobs yet) configured from the user's jobqueue YAML
    (``~/.config/dask/jobqueue.yaml``, section ``jobqueue.slurm`` / ``jobqueue.pbs``); its workers run this
    module's preload (:func:`dask_setup`).

    Raises:
        InputError: dask-jobqueue missing, or the YAML lacks what a job needs (cores, memory).
    """
    try:
        import dask

        dask_jobqueue = import_jobqueue()
    except ImportError:
        raise InputError(f"--cluster {kind} needs dask-jobqueue: pip install 'energy-advisor[cluster]'") from None
    cls = dask_jobqueue.SLURMCluster if kind is ClusterKind.SLURM else dask_jobqueue.PBSCluster
    extra = dask.config.get(f"jobqueue.{kind}.worker-extra-args", None) or []
    try:
        return cls(worker_extra_args=[*extra, "--preload", __name__])
    except ValueError as exc:
        raise InputError(
            f"--cluster {kind}: {first_line(exc)} (set jobqueue.{kind} in ~/.config/dask/jobqueue.yaml; see the README)"
        ) from None


def import_jobqueue() -> Any:
    """Import dask_jobqueue, keeping the process's Ctrl-C handler: its ``runner`` module, imported by the
    Slurm cluster, replaces SIGINT's handler with ``sys.exit()`` at import time, which would turn a user's
    Ctrl-C into a silent exit with status 0 instead of an interrupted calibration (exit 130, store intact).

    Raises:
        ImportError: dask-jobqueue is not installed.
    """
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        import dask_jobqueue
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return dask_jobqueue


def dask_setup(worker: Any) -> None:
    """Dask preload hook, run first thing in each worker we start: a local worker dies with the advisor
    process; Dask's sampling profiler (woken every 10 ms, it would be measured with the runs) never starts;
    Dask's logs are quiet."""
    parent = os.environ.get(PARENT_PID_ENV)
    if parent:
        die_with_parent(int(parent))
    for name in ("profile", "profile-cycle"):
        worker.periodic_callbacks.pop(name, None)  # preloads run before the periodic callbacks start
    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)  # a task's error reaches the client anyway


class DaskPool:
    """A :class:`~measurement.sweep.RunPool` on a Dask cluster: each run pinned to its worker, no retries.

    A worker's death (KilledWorker: the scheduler allows no failures) or departure reports its run as
    lost; workers that join later are checked like the first ones before they get runs.
    """

    def __init__(self, session: ClusterSession, setup: WorkerSetup) -> None:
        self.session, self.setup = session, setup
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._flights: dict[str, tuple[Any, str]] = {}
        self._probes: dict[str, Any] = {}
        self._lost: list[PoolEvent] = []

    def workers(self) -> tuple[str, ...]:
        """The admitted workers alive now, earliest first (newcomers are probed in the background)."""
        alive = self._refresh()
        return tuple(a for a in self.session.reports if a in alive)

    def submit(self, worker: str, run: RemoteRun) -> str:
        """Start ``run`` on ``worker`` (only there, never retried elsewhere); its key is the handle."""
        setup = dataclasses.replace(self.setup, slot=self.session.slots.get(worker, MeterSlot()))
        future = self.session.client.submit(
            measure_remote,
            setup,
            run,
            key=f"advisor-run-{uuid.uuid4().hex}",
            workers=[worker],
            allow_other_workers=False,
            pure=False,
            retries=0,
        )
        self._flights[future.key] = (future, worker)
        future.add_done_callback(self._done.put)
        return future.key

    def finished(self, timeout_s: float) -> list[PoolEvent]:
        """Runs that came back or were lost since the last call (waits up to ``timeout_s`` for one)."""
        futures = []
        try:
            futures.append(self._done.get(timeout=0 if self._lost else timeout_s))
            while True:
                futures.append(self._done.get_nowait())
        except queue.Empty:
            pass
        events = [e for e in map(self._event, futures) if e is not None]
        self._refresh()
        events, self._lost = events + self._lost, []
        return events

    def cancel(self) -> None:
        """Cancel every run in flight."""
        self.session.client.cancel([future for future, _ in self._flights.values()])
        self._flights.clear()

    def _event(self, future: Any) -> PoolEvent | None:
        """A finished future as a pool event; a task's own error (a bug, bad input) is raised here."""
        from distributed import KilledWorker

        entry = self._flights.pop(future.key, None)
        if entry is None:
            return None  # already reported lost, or cancelled
        if future.status == "finished":
            return PoolEvent(future.key, result=future.result())
        if future.status == "error":
            exc = future.exception()
            if not isinstance(exc, KilledWorker):
                raise exc
            return PoolEvent(future.key, lost_reason=f"worker {entry[1]} died")
        return PoolEvent(future.key, lost_reason=f"run {future.status} on the scheduler")

    def _refresh(self) -> set[str]:
        """Workers alive now: runs on workers that left are lost; newcomers are probed, then admitted."""
        alive = set(self.session.client.nthreads())
        for key, (future, worker) in list(self._flights.items()):
            if worker not in alive:
                del self._flights[key]
                future.cancel()
                self._lost.append(PoolEvent(key, lost_reason=f"worker {worker} left"))
        self.session.forget(set(self.session.reports) - alive)
        new = sorted(alive - set(self.session.reports) - self.session.excluded - set(self._probes))
        self._probes.update(self.session.probe(new))
        self._admit_probed(alive)
        return alive

    def _admit_probed(self, alive: set[str]) -> None:
        """Admit the newcomers whose reports came back (and pass the check); drop those that left or failed."""
        for address, future in list(self._probes.items()):
            if address not in alive or future.status not in ("pending", "finished"):
                self._probes.pop(address).cancel()
                self.session.excluded.add(address)
                if future.status == "error":
                    log.warning("worker %s left out: %s", address, first_line(future.exception()))
            elif future.status == "finished":
                del self._probes[address]
                check = self.session.admit([future.result()])
                if address in check.excluded:
                    log.warning("worker %s left out: %s", address, "; ".join(check.problems))
