"""A run pool without Dask (scripted workers, losses and fingerprints), and the worker reports of a cluster
check, for the tests of sweeps over many workers."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

from measurement.architecture import Architecture
from measurement.distributed import WorkerReport
from measurement.hardware import Fingerprint
from measurement.meters.base import MeterKind
from measurement.records import PhaseResult, RunResult, Window
from measurement.sweep import PoolEvent, RemoteResult, RemoteRun
from tests.fakes.measurement import FP


def fake_result(arch: Architecture, energy_per_datum_j: float = 1e-4, reject_reason: str | None = None) -> RunResult:
    """A run as a worker would send it back, without training (records are torch-free)."""
    windows = tuple(Window(energy_per_datum_j * 100, 0.01, 100, energy_per_datum_j * 100) for _ in range(3))
    train = PhaseResult("train", windows, energy_per_datum_j, energy_per_datum_j, 0.01, 1e4, reject_reason)
    inference = PhaseResult("inference", windows, energy_per_datum_j / 3, energy_per_datum_j / 3, 0.01, 3e4)
    return RunResult(arch, "replay", MeterKind.MEASURED, 0.0, train, inference, 0.5, 0.9, 0.0, 0.05)


class FakePool:
    """Workers that answer in submission order, one run each at a time (it checks).

    Args:
        workers: the workers' names.
        lose: how many times each run key is lost with its worker before it comes back.
        fingerprints: each worker's hardware (default: every worker is :data:`FP`).
        result: builds a worker's result for a run (default :func:`fake_result`).
        idle_w: idle power each worker reports with its first run (None: none measured).
        on_finished: called with the number of results handed back so far (a clock can advance there).
    """

    def __init__(
        self,
        workers: tuple[str, ...] = ("tcp://w1:1", "tcp://w2:2"),
        lose: dict[str, int] | None = None,
        fingerprints: dict[str, Fingerprint] | None = None,
        result: Callable[[RemoteRun], RunResult] = lambda run: fake_result(run.arch),
        idle_w: float | None = None,
        on_finished: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.names = list(workers)
        self.lose = Counter(lose or {})
        self.fingerprints = fingerprints or {}
        self.result, self.idle_w, self.on_finished = result, idle_w, on_finished
        self.pending: list[tuple[int, str, RemoteRun]] = []
        self.submitted: list[tuple[str, str]] = []
        self.returned = 0
        self.cancelled = 0
        self._handles = itertools.count()
        self._idle_sent: set[str] = set()

    def workers(self) -> tuple[str, ...]:
        return tuple(self.names)

    def submit(self, worker: str, run: RemoteRun) -> int:
        assert worker in self.names, worker
        assert worker not in {w for _, w, _ in self.pending}, f"two runs in flight on {worker}"
        assert run.remaining_s > 0
        handle = next(self._handles)
        self.pending.append((handle, worker, run))
        self.submitted.append((worker, run.run_key))
        return handle

    def finished(self, timeout_s: float) -> list[PoolEvent]:
        self.on_finished(self.returned)
        if not self.pending:
            return []
        handle, worker, run = self.pending.pop(0)
        if self.lose[run.run_key] > 0:
            self.lose[run.run_key] -= 1
            return [PoolEvent(handle, lost_reason=f"worker {worker} died")]
        self.returned += 1
        idle = self.idle_w if worker not in self._idle_sent else None
        self._idle_sent.add(worker)
        fp = self.fingerprints.get(worker, FP)
        remote = RemoteResult(run.run_key, worker, f"host-{worker[-1]}", fp, self.result(run), idle)
        return [PoolEvent(handle, result=remote)]

    def cancel(self) -> None:
        self.cancelled += len(self.pending)
        self.pending.clear()


def report(
    address: str, host: str, meter: str, packages: tuple[int, ...] = (0,), gpus: int = 0, kind: str = "measured"
) -> WorkerReport:
    """A worker's report as :func:`measurement.distributed.report_worker` would give it."""
    return WorkerReport(address, host, 1000, meter, kind, packages if meter == "rapl" else (), gpus, FP)
