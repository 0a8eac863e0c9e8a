"""Sweeps on Dask: wall time of a fixed 40-run replay sweep on one and on two local workers (and on this
machine without Dask), and the client's own cost per run.

The client's cost per run is the time from a result reaching the client to the next run being handed to
that worker: the commit (one SQLite transaction), the policies, the progress event and Dask's submit.
The round trip is what a run costs beyond its own wall time on the worker: Dask taking it there, the
worker setting up, the result coming back (with one run in flight per worker, the worker waits that long).
Each setting runs the same plan ``--repeats`` times on one started cluster, into a fresh store each time
(cluster start-up is reported on its own); medians are printed.

    python benchmarks/distributed.py [--repeats 3] [--runs 40] [--out-dir DIR | --no-page]

After printing, it writes a dated results page to docs/results/ (``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # this file is not the `distributed` package
sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, page_from_args  # noqa: E402
from measurement.cluster import parse_cluster, start_cluster  # noqa: E402
from measurement.datasets import load_dataset  # noqa: E402
from measurement.distributed import WorkerSetup  # noqa: E402
from measurement.hardware import fingerprint  # noqa: E402
from measurement.meters.auto import build_meter_options, choose_meter  # noqa: E402
from measurement.records import SweepKind, TrainConfig  # noqa: E402
from measurement.store import RunStore  # noqa: E402
from measurement.sweep import SweepSpec, plan_calibration, run_sweep, run_sweep_on_pool  # noqa: E402

DATASET = "synthetic:2000,16,4"
CONFIG = TrainConfig(windows=3, window_s=0.02, warmup_steps=2)
BUDGET_S = 3600.0
OPTIONS = build_meter_options("replay", replay_path=ROOT / "data" / "replay_readings.csv")


class TimedPool:
    """Wraps a run pool: when each result reached the client, and when that worker got its next run."""

    def __init__(self, pool) -> None:
        self.pool, self.arrived, self.overheads_s, self.round_trips_s = pool, {}, [], []
        self.worker_of: dict[object, str] = {}
        self.sent: dict[object, float] = {}

    def workers(self):
        return self.pool.workers()

    def submit(self, worker, run):
        now = time.perf_counter()
        if worker in self.arrived:
            self.overheads_s.append(now - self.arrived.pop(worker))
        handle = self.pool.submit(worker, run)
        self.worker_of[handle], self.sent[handle] = worker, now
        return handle

    def finished(self, timeout_s):
        events = self.pool.finished(timeout_s)
        now = time.perf_counter()
        for event in events:
            self.arrived[self.worker_of[event.handle]] = now
            if event.result is not None and event.result.result is not None:
                self.round_trips_s.append(now - self.sent[event.handle] - event.result.result.wall_s)
        return events

    def cancel(self):
        self.pool.cancel()


def _spec(runs: int) -> tuple[SweepSpec, object]:
    dataset = load_dataset(DATASET)
    plan = plan_calibration(
        fingerprint(),
        input_dim=dataset.input_dim,
        output_dim=dataset.output_dim,
        budget_s=BUDGET_S,
        config=CONFIG,
        test_samples=int(dataset.x_test.shape[0]),
        max_runs=runs,
    )
    assert len(plan) == runs, len(plan)
    spec = SweepSpec(
        kind=SweepKind.CALIBRATE,
        dataset=DATASET,
        dataset_hash=dataset.fingerprint(),
        config=CONFIG,
        runs=plan.runs,
        budget_s=BUDGET_S,
        sentinel=plan.sentinel,
    )
    return spec, dataset


def _serial(spec: SweepSpec, dataset, repeats: int) -> list[float]:
    walls = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp, RunStore(Path(tmp) / "s.sqlite") as store:
            meter, _ = choose_meter(OPTIONS)
            began = time.perf_counter()
            summary = run_sweep(spec, store, meter, dataset, fingerprint(), BUDGET_S, idle_s=0.0)
            walls.append(time.perf_counter() - began)
            assert summary.complete
    return walls


def _on_cluster(spec: SweepSpec, dataset, workers: int, repeats: int) -> tuple[float, list[float], TimedPool]:
    began = time.perf_counter()
    with start_cluster(parse_cluster(f"local:{workers}"), OPTIONS) as session:
        startup_s = time.perf_counter() - began
        setup = WorkerSetup(
            meter=OPTIONS, dataset=DATASET, target=None, dataset_seed=0, dataset_hash=dataset.fingerprint(), idle_s=0.0
        )
        walls, timings = [], TimedPool(None)
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp, RunStore(Path(tmp) / "s.sqlite") as store:
                pool = TimedPool(session.pool(setup))
                began = time.perf_counter()
                summary = run_sweep_on_pool(
                    spec,
                    store,
                    pool,
                    dataset,
                    fp=session.fingerprint,
                    meter=session.meter,
                    budget_s=BUDGET_S,
                    idle_s=0.0,
                )
                walls.append(time.perf_counter() - began)
                timings.overheads_s += pool.overheads_s
                timings.round_trips_s += pool.round_trips_s
                assert summary.complete and summary.committed_now == len(spec.runs)
    return startup_s, walls, timings


def report_lines(
    runs: int,
    repeats: int,
    serial_s: float,
    rows: list[tuple[str, float, float]],
    overheads_s: list[float],
    round_trips_s: list[float],
) -> list[str]:
    """The results as Markdown lines: the table of settings, then the client's cost per run and the round trip."""
    one = rows[0][2]
    lines = [
        f"{runs}-run replay sweep ({DATASET}, {CONFIG.windows} x {CONFIG.window_s} s windows), median of {repeats}",
        "",
        "| setting | cluster start-up | sweep wall time | runs/s | vs local:1 |",
        "| --- | --- | --- | --- | --- |",
        f"| this machine, no Dask | — | {serial_s:.2f} s | {runs / serial_s:.1f} | {serial_s / one:.2f} |",
    ]
    lines += [
        f"| {name} | {startup_s:.1f} s | {wall:.2f} s | {runs / wall:.1f} | {wall / one:.2f} |"
        for name, startup_s, wall in rows
    ]
    cuts = statistics.quantiles(overheads_s, n=10)
    return [
        *lines,
        "",
        f"client cost per run (result in -> next run out, commit included): median "
        f"{statistics.median(overheads_s) * 1e3:.1f} ms, 90th percentile {cuts[-1] * 1e3:.1f} ms "
        f"over {len(overheads_s)} runs",
        "",
        f"round trip beyond the run itself: median {statistics.median(round_trips_s) * 1e3:.1f} ms",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the sweep serially and on one and two local workers; print the table; write the results page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40)
    add_page_options(parser)
    args = parser.parse_args(argv)
    spec, dataset = _spec(args.runs)
    serial = statistics.median(_serial(spec, dataset, args.repeats))
    rows, overheads, round_trips = [], [], []
    for workers in (1, 2):
        startup_s, walls, timings = _on_cluster(spec, dataset, workers, args.repeats)
        rows.append((f"local:{workers}", startup_s, statistics.median(walls)))
        overheads += timings.overheads_s
        round_trips += timings.round_trips_s
    lines = report_lines(args.runs, args.repeats, serial, rows, overheads, round_trips)
    print("\n".join(lines))
    page_from_args(args, "distributed", "Sweeps on Dask: one and two local workers", "\n".join(lines))


if __name__ == "__main__":
    main()
