"""Rich rendering of sweep progress and summaries (presentation only)."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from advisor.calibration import (
    CalibrationJob,
    MeterKind,
    SweepEvent,
    SweepEventKind,
    SweepKind,
    SweepSummary,
)

console = Console(stderr=True)
SHOWN_WORKERS = 8


class SweepProgress:
    """Two bars: runs done of those expected to fit, and time used of the budget; on a cluster, a third
    line with the runs each worker committed."""

    def __init__(self, job: CalibrationJob, quiet: bool = False) -> None:
        self.quiet = quiet
        label = "ESTIMATED energy (no counter here)" if job.meter_kind is MeterKind.ESTIMATED else "measured energy"
        self.header = f"meter: {job.meter_name} — {label}"
        if job.cluster is not None:
            self.header += f" — on {job.workers} Dask worker{'s' if job.workers != 1 else ''}"
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}"),
            console=console,
            disable=quiet,
        )
        self.runs = self.progress.add_task("runs", total=None, current="")
        self.time = self.progress.add_task("budget (s)", total=None, current="")
        self.workers = self.progress.add_task("workers", total=None, current="", visible=job.cluster is not None)

    def __enter__(self) -> SweepProgress:
        console.print(self.header)
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, event: SweepEvent) -> None:
        """Render one sweep event."""
        current = f"{event.label} [{event.meter_kind}]" if event.kind is SweepEventKind.RUN_STARTED else event.label
        self.progress.update(self.runs, total=max(event.expected, event.done), completed=event.done, current=current)
        self.progress.update(self.time, total=round(event.budget_s), completed=min(event.elapsed_s, event.budget_s))
        if event.workers:
            done = sum(n for _, n in event.workers)
            self.progress.update(self.workers, total=done, completed=done, current=worker_counts(event.workers))


def worker_counts(workers: tuple[tuple[str, int], ...]) -> str:
    """``127.0.0.1:40123 5 · 127.0.0.1:40125 6``: runs per worker (the busiest first, a few of them)."""
    ranked = sorted(workers, key=lambda w: -w[1])
    text = " · ".join(f"{name.split('://')[-1]} {n}" for name, n in ranked[:SHOWN_WORKERS])
    return text + (f" · {len(ranked) - SHOWN_WORKERS} more" if len(ranked) > SHOWN_WORKERS else "")


def print_summary(summary: SweepSummary, store_path: Path, kind: SweepKind = SweepKind.CALIBRATE) -> None:
    """A short table of what the sweep did, its tier coverage, its noise floor and (a calibration) its drift."""
    out = Console()
    title = "Probe sweep" if kind is SweepKind.PROBE else "Calibration sweep"
    table = Table(title=f"{title} {summary.sweep_id}", show_header=False)
    measured = "ESTIMATED (not a measurement)" if summary.meter_kind is MeterKind.ESTIMATED else "measured"
    table.add_row("meter", f"{summary.meter} — {measured}")
    table.add_row("runs this time", f"{summary.committed_now} ({summary.rejected_now} rejected)")
    table.add_row("runs before", str(summary.already_done))
    if summary.workers:
        table.add_row("runs per worker", worker_counts(tuple(summary.workers.items())))
    if summary.requeued:
        table.add_row("lost with a worker", f"{summary.requeued} (queued again)")
    table.add_row("time", f"{summary.elapsed_s:.0f} s of {summary.budget_s:.0f} s budget")
    table.add_row("idle power", f"{summary.idle_power_w:.2f} W")
    table.add_row("runs per cache tier", ", ".join(f"{k}: {v}" for k, v in summary.tiers.items()))
    table.add_row("shapes covered", f"{len(summary.shapes)} of 8")
    floor = (
        f"{summary.noise_floor:.1%} ({summary.repeat_pairs} repeat pairs)" if summary.noise_floor is not None else "n/a"
    )
    table.add_row("repeat-noise floor", floor)
    if kind is not SweepKind.PROBE:  # a probe has no sentinel
        table.add_row("sentinel drift", summary.describe_drift())
    if summary.datasets and len(summary.datasets) > 1:
        table.add_row("runs per data set", ", ".join(f"{k}: {v}" for k, v in summary.datasets.items()))
    state = "interrupted" if summary.interrupted else ("complete" if summary.complete else "budget spent")
    resume = f"; resume with '{_resume_command(summary, kind, store_path)}'" if not summary.complete else ""
    table.add_row("status", state + resume)
    if summary.stop_reason:
        table.add_row("stopped", f"[red]{summary.stop_reason}[/]")
    table.add_row("store", str(store_path))
    out.print(table)


def _resume_command(summary: SweepSummary, kind: SweepKind, store_path: Path) -> str:
    """The command that continues this sweep (``advisor probe DATASET --resume`` for a probe), on its store."""
    store = f"--store {shlex.quote(str(store_path))}"
    if kind is SweepKind.PROBE and summary.datasets:
        return f"advisor probe {shlex.quote(next(iter(summary.datasets)))} --resume {store}"
    return f"advisor calibrate --resume {store}"
