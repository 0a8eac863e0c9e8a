"""The worker side of a sweep on a Dask cluster: what each measuring worker does with the runs it is given.

A worker builds its own meter (the same ladder as a sweep on one machine), loads the sweep's data sets
(checking each against the client's fingerprint) and fingerprints its machine, once each per worker
process; measures its own idle power before its first run and every ``idle_every_s``; and trains and
measures each run, on its own data set, with a deadline set from the seconds the client said were left
(clocks differ between machines). When the cluster check gave it one CPU
package (RAPL) or one GPU (NVML) of its host, it measures and runs on that part only. Nothing here
imports Dask at module level: these are plain functions that Dask ships between our own processes.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from measurement.datasets import Dataset, TargetKind, load_dataset
from measurement.errors import InputError
from measurement.hardware import SYSFS_CPU, Fingerprint, fingerprint
from measurement.meters.auto import MeterOptions, choose_meter, close_meter
from measurement.meters.base import EnergyMeter, MeterError, MeterKind
from measurement.meters.rapl import POWERCAP_ROOT
from measurement.records import DEFAULT_IDLE_EVERY_S, TrainConfig
from measurement.sweep.pool import RemoteResult, RemoteRun
from measurement.sweep.serial import IdlePower

_ZONE = re.compile(r"^intel-rapl:(\d+)$")
_PACKAGE = re.compile(r"^package-(\d+)$")


@dataclass(frozen=True)
class MeterSlot:
    """The part of its host a worker measures: one CPU package (RAPL), one GPU (NVML), or (both None) the
    whole node."""

    package: int | None = None
    gpu: int | None = None


@dataclass(frozen=True)
class WorkerSetup:
    """What every run on one worker shares (sent with each run; small).

    Attributes:
        meter: the meter options, as the user gave them (the worker walks the ladder itself).
        dataset: the dataset's name or path, loaded on the worker (a file must be reachable there).
        target: the target column of a dataset file.
        target_kind: what that target is, where the user said so (None: the loader's rule).
        dataset_seed: the seed the dataset is loaded with.
        dataset_hash: the client's dataset fingerprint; a worker whose copy differs refuses.
        idle_s: idle measurement length (0: none).
        idle_every_s: how often idle power is measured again.
        slot: the part of the host this worker measures.
        extra_datasets: (name or path, fingerprint) of the sweep's further data sets (runs with ``data``
            1, 2, ...), loaded and checked on the worker like the first.
    """

    meter: MeterOptions
    dataset: str
    target: str | None
    dataset_seed: int
    dataset_hash: str
    idle_s: float
    idle_every_s: float = DEFAULT_IDLE_EVERY_S
    slot: MeterSlot = MeterSlot()
    extra_datasets: tuple[tuple[str, str], ...] = ()
    target_kind: TargetKind | None = None

    @property
    def datasets(self) -> tuple[tuple[str, str], ...]:
        """(name or path, fingerprint) of every data set, in ``RemoteRun.data`` order."""
        return ((self.dataset, self.dataset_hash), *self.extra_datasets)


@dataclass(frozen=True)
class WorkerReport:
    """What a worker says about itself before it measures: where it runs and what its meter would see.

    Attributes:
        address: the worker's address (its name in the run store's ``worker`` column).
        host: the host name; workers on one host share its counters.
        pid: the worker process id.
        meter: the meter the ladder picks there (``rapl``, ``nvml``, ``trace``, ``estimate``, ``replay``).
        meter_kind: whether that meter measures or estimates.
        rapl_packages: the CPU package ids that have a RAPL counter on the host.
        gpus: how many GPUs NVML sees on the host (0 unless the meter is NVML).
        fingerprint: the host's hardware fingerprint.
        fallbacks: the ladder's rungs skipped there, with why.
    """

    address: str
    host: str
    pid: int
    meter: str
    meter_kind: MeterKind
    rapl_packages: tuple[int, ...]
    gpus: int
    fingerprint: Fingerprint
    fallbacks: tuple[str, ...] = ()


def report_worker(options: MeterOptions) -> WorkerReport:
    """Run on a worker: which meter it would measure with, what that meter sees, and its fingerprint.

    Raises:
        MeterError: when a meter the user named cannot run on this worker.
    """
    meter, steps = choose_meter(options, warn=False)
    try:
        name, kind = meter.name, meter.kind
    finally:
        close_meter(meter)
    packages = tuple(sorted(rapl_zones(options.powercap_root))) if name == "rapl" else ()
    gpus = _nvml_gpus() if name == "nvml" else 0
    fallbacks = tuple(f"{s.meter}: {s.detail}" for s in steps if not s.available)
    return WorkerReport(
        address=worker_address(),
        host=socket.gethostname(),
        pid=os.getpid(),
        meter=name,
        meter_kind=kind,
        rapl_packages=packages,
        gpus=gpus,
        fingerprint=_fingerprint(),
        fallbacks=fallbacks,
    )


def measure_remote(setup: WorkerSetup, run: RemoteRun) -> RemoteResult:
    """Run on a worker: measure idle power if due, then train and measure ``run`` (on its own data set) with
    this worker's meter."""
    began = time.monotonic()
    state = _state(setup)
    idle_w = None
    if state.idle.due():
        try:
            idle_w = state.idle.measure()
        except MeterError as exc:
            return RemoteResult(
                run_key=run.run_key,
                worker=state.address,
                host=state.host,
                fingerprint=state.fingerprint,
                idle_error=str(exc),
            )
    from measurement.harness import train_and_measure  # torch: only on the workers

    config = _on_slot(run.config, setup.slot)
    result = train_and_measure(
        run.arch,
        state.datasets[run.data],
        state.meter,
        config,
        idle_power_w=state.idle.watts,
        clock=time.monotonic,
        deadline=began + run.remaining_s,
    )
    return RemoteResult(
        run_key=run.run_key,
        worker=state.address,
        host=state.host,
        fingerprint=state.fingerprint,
        result=result,
        idle_power_w=idle_w,
    )


def worker_address() -> str:
    """This Dask worker's address (``local`` outside a Dask worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


@dataclass
class _WorkerState:
    """What one worker process keeps between runs of one sweep."""

    meter: EnergyMeter
    datasets: tuple[Dataset, ...]
    idle: IdlePower
    address: str
    host: str
    fingerprint: Fingerprint


_STATES: dict[WorkerSetup, _WorkerState] = {}
"""Per worker process: the state of the sweep it works for (one at a time)."""


def _state(setup: WorkerSetup) -> _WorkerState:
    """This process's meter, data sets and idle policy for ``setup``, built on first use; another sweep's are
    released (its meter closed).

    Raises:
        InputError: when a data set loaded here is not the one the sweep was planned with.
    """
    if setup in _STATES:
        return _STATES[setup]
    for old in _STATES.values():
        close_meter(old.meter)
    _STATES.clear()
    host = socket.gethostname()
    datasets = tuple(_load_checked(name, digest, setup, host) for name, digest in setup.datasets)
    meter, _ = choose_meter(_slot_options(setup.meter, setup.slot), warn=False)
    state = _WorkerState(
        meter=meter,
        datasets=datasets,
        idle=IdlePower(meter, setup.idle_s, setup.idle_every_s, time.monotonic),
        address=worker_address(),
        host=host,
        fingerprint=_fingerprint(),
    )
    _STATES[setup] = state
    return state


def _load_checked(name: str, digest: str, setup: WorkerSetup, host: str) -> Dataset:
    """One of the sweep's data sets, loaded on this worker and checked against the client's fingerprint."""
    dataset = load_dataset(name, target=setup.target, seed=setup.dataset_seed, kind=setup.target_kind)
    if dataset.fingerprint() != digest:
        raise InputError(f"dataset {name} on {host} is not the one the sweep was planned with")
    return dataset


@functools.cache
def _fingerprint() -> Fingerprint:
    return fingerprint()


def _nvml_gpus() -> int:
    from measurement.meters.nvml import nvml_device_count

    return nvml_device_count()


def _on_slot(config: TrainConfig, slot: MeterSlot) -> TrainConfig:
    """A CUDA run on a worker given one GPU trains on that GPU."""
    if slot.gpu is None or not config.device.startswith("cuda"):
        return config
    return dataclasses.replace(config, device=f"cuda:{slot.gpu}")


def _slot_options(options: MeterOptions, slot: MeterSlot) -> MeterOptions:
    """Meter options that see only the worker's slot: one package's RAPL zones (and this thread on that
    package's CPUs), or one GPU."""
    if slot.gpu is not None:
        options = dataclasses.replace(options, gpu_index=slot.gpu)
    if slot.package is not None:
        cpus = package_cpus(slot.package)
        if cpus:
            os.sched_setaffinity(0, cpus)  # this thread (the worker's only one) and the threads it starts
        options = dataclasses.replace(options, powercap_root=package_view(options.powercap_root, slot.package))
    return options


def rapl_zones(root: Path = POWERCAP_ROOT) -> dict[int, str]:
    """The top-level RAPL zones of each CPU package: package id -> zone directory name (none when absent)."""
    zones: dict[int, str] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return zones
    for entry in entries:
        try:
            name = (entry / "name").read_text().strip() if _ZONE.match(entry.name) else ""
        except OSError:
            continue
        if match := _PACKAGE.match(name):
            zones[int(match[1])] = entry.name
    return zones


def package_view(root: Path, package: int, into: Path | None = None) -> Path:
    """A powercap root that holds only ``package``'s zone and its sub-zones (links into ``root``), so a RAPL
    meter built on it reads that package alone.

    Raises:
        MeterError: when ``root`` has no zone for that package.
    """
    zone = rapl_zones(root).get(package)
    if zone is None:
        raise MeterError(f"no RAPL zone for CPU package {package} under {root}")
    if into is None:
        into = Path(tempfile.mkdtemp(prefix=f"advisor-rapl-{package}-"))
        atexit.register(shutil.rmtree, into, True)
    into.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        if entry.name == zone or entry.name.startswith(f"{zone}:"):
            (into / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    return into


def package_cpus(package: int, sysfs_cpu: Path = SYSFS_CPU) -> set[int]:
    """The logical CPUs of one package (from ``topology/physical_package_id``); empty when unknown."""
    cpus = set()
    for cpu in sysfs_cpu.glob("cpu[0-9]*"):
        try:
            if int((cpu / "topology" / "physical_package_id").read_text()) == package:
                cpus.add(int(cpu.name[3:]))
        except (OSError, ValueError):
            continue
    return cpus
