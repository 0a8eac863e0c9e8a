"""``advisor calibrate``: measure energy per datum of MLPs on this machine, within a time budget."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advisor.cli.common import parse_duration_s, positive_int


def add_meter_arguments(p: argparse.ArgumentParser) -> None:
    """Options choosing and configuring the energy meter (shared with ``probe``)."""
    p.add_argument("--meter", default="auto", help="auto (default), rapl, nvml, trace, estimate, replay")
    p.add_argument("--trace", type=Path, help="node power trace (CSV/Parquet: timestamp, watts) for --meter trace")
    p.add_argument("--trace-max-gap", type=parse_duration_s, default=5.0, help="reject windows with longer gaps")
    p.add_argument("--replay", type=Path, help="recorded readings (CSV: energy_j, duration_s) for --meter replay")
    p.add_argument("--core-watts", type=float, help="estimate meter: dynamic watts of one busy core (default 10)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1: least noise)")
    p.add_argument("--store", type=Path, help="run store file (default $ADVISOR_HOME/runs.sqlite)")
    p.add_argument("--windows", type=positive_int, default=5, help="metered windows per phase (default 5)")
    p.add_argument("--window", type=parse_duration_s, default=0.25, help="length of one metered window (0.25s)")
    p.add_argument("--idle", type=parse_duration_s, default=None, help="idle measurement length (default 2s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_cluster_arguments(p)


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """Options that run the sweep on a Dask cluster (shared with ``probe``); without them, Dask is not imported."""
    g = p.add_argument_group("many nodes (Dask; pip install 'energy-advisor[cluster]')")
    g.add_argument(
        "--cluster",
        help=(
            "local:N (N worker processes here), slurm or pbs (dask-jobqueue, configured in "
            "~/.config/dask/jobqueue.yaml)"
        ),
    )
    g.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://10.0.0.1:8786")
    g.add_argument(
        "--workers",
        type=positive_int,
        help="jobs to start on slurm/pbs (default 2), or workers of --scheduler to wait for (default 1)",
    )
    g.add_argument(
        "--allow-shared-meter",
        action="store_true",
        help=(
            "go on (loudly warned) when workers would share a RAPL package, a GPU or a node trace and measure "
            "each other"
        ),
    )


def cluster_fields(args: argparse.Namespace) -> dict:
    """The request fields of the cluster options (checked by the library)."""
    return {
        "cluster": args.cluster,
        "scheduler": args.scheduler,
        "workers": args.workers,
        "allow_shared_meter": args.allow_shared_meter,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command."""
    p = subparsers.add_parser("calibrate", help="measure training/inference energy of MLPs on this machine")
    p.add_argument("--budget", type=parse_duration_s, default=None, help="time budget, e.g. 10m (default 10m)")
    p.add_argument(
        "--dataset",
        action="append",
        default=None,
        help="calibration data; repeat it for several (default: 5 synthetic data sets of 8 to 2048 inputs)",
    )
    p.add_argument("--max-runs", type=positive_int, help="cap the plan at N runs")
    p.add_argument("--resume", action="store_true", help="continue the newest unfinished calibration")
    p.add_argument(
        "--recheck",
        action="store_true",
        help="re-measure a fixed panel (under a minute): today's machine state, which predictions apply",
    )
    p.add_argument("--profile", type=Path, help="--recheck: the profile to recheck (default: the one that answers)")
    p.add_argument("--seed", type=int, default=0)
    add_meter_arguments(p)
    p.set_defaults(handler=run)


def meter_options(args: argparse.Namespace):
    """Validated MeterOptions from the shared meter arguments (the checks live in the library)."""
    from advisor.calibration import meter_options as build

    return build(args.meter, args.device, args.trace, args.trace_max_gap, args.replay, args.core_watts)


def _datasets(given: list[str] | None) -> str | tuple[str, ...]:
    """The data set(s) of ``--dataset`` (one: a one-data-set calibration), else the default multi-width set."""
    from advisor import calibration

    if not given:
        return calibration.DEFAULT_CALIBRATION_DATASETS
    return given[0] if len(given) == 1 else tuple(given)


def run(args: argparse.Namespace) -> int:
    """Plan and run the calibration with a progress bar; Ctrl-C keeps finished runs."""
    if args.recheck:
        from advisor.cli.recheck import run_recheck

        return run_recheck(args)
    if args.profile is not None:
        from advisor.errors import InputError

        raise InputError("--profile names the profile a --recheck measures against; a calibration makes its own")
    from advisor import calibration
    from advisor.cli.progress import SweepProgress, print_summary

    request = calibration.CalibrationRequest(
        budget_s=args.budget or calibration.DEFAULT_CALIBRATION_BUDGET_S,
        budget_given=args.budget is not None,
        store=args.store,
        meter=meter_options(args),
        dataset=_datasets(args.dataset),
        config=calibration.TrainConfig(
            windows=args.windows, window_s=args.window, device=args.device, threads=args.threads, seed=args.seed
        ),
        max_runs=args.max_runs,
        resume=args.resume,
        idle_s=args.idle,
        seed=args.seed,
        **cluster_fields(args),
    )
    job = calibration.prepare(request)
    with SweepProgress(job, quiet=args.json) as bar:
        summary = calibration.run(job, progress=bar.update)
    if args.json:
        from dataclasses import asdict

        fields = {**asdict(summary), "drift_is_real": summary.drift_is_real, "store": str(job.store_path)}
        print(json.dumps(fields, indent=2))
    else:
        print_summary(summary, job.store_path)
    return 130 if summary.interrupted else 0
