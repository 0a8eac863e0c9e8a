"""``advisor runs``: export the run store (one row per run and phase; with ``--curves`` one row per run and
learning-curve checkpoint) as CSV or Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``runs`` command."""
    p = subparsers.add_parser("runs", help="export stored runs")
    p.add_argument("--store", type=Path, help="run store file (default $ADVISOR_HOME/runs.sqlite)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--out", type=Path, help="output file (default: CSV on stdout)")
    p.add_argument("--ok-only", action="store_true", help="leave rejected runs out")
    p.add_argument(
        "--curves",
        action="store_true",
        help="export the learning curves instead (one row per run and epoch checkpoint)",
    )
    p.add_argument("--hardware", action="store_true", help="list the machines the runs were measured on instead")
    p.add_argument(
        "--measured",
        action="store_true",
        help="export the programs measured with 'advisor measure' instead (one row each)",
    )
    p.set_defaults(handler=run)


def print_hardware(store: Path | None) -> int:
    """One line per machine: its id (for 'advisor fit --hardware ID'), runs, cores, CPU (+ GPU)."""
    from advisor.runs import list_hardware

    machines = list_hardware(store)
    print(f"{'hardware':<16}  {'runs':>6}  {'cores':>5}  machine")
    for m in machines:
        print(f"{m.hardware:<16}  {m.runs:>6}  {m.cores:>5}  {m.description}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Export."""
    import sys

    from advisor.errors import InputError
    from advisor.runs import check_export, read_curves, read_measured, read_store, write_runs

    if args.hardware:
        return print_hardware(args.store)
    if args.out is None and args.format == "parquet":
        raise InputError("--format parquet needs --out FILE")
    if args.out is not None:
        check_export(args.out, args.format)
    if args.curves and args.ok_only:
        raise InputError("--ok-only applies to runs, not to --curves")
    if args.measured and (args.curves or args.ok_only):
        raise InputError("--measured exports every measured program: without --curves or --ok-only")
    if args.measured:
        frame = read_measured(args.store)
    else:
        frame = read_curves(args.store) if args.curves else read_store(args.store, ok_only=args.ok_only)
    if args.out is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        write_runs(frame, args.out, args.format)
        print(f"{len(frame)} rows written to {args.out}", file=sys.stderr)
    return 0
