"""``advisor runs``: export the run store (one row per run and phase) as CSV or Parquet."""

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
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Export."""
    import sys

    from advisor.errors import InputError
    from advisor.runs import read_store, write_runs

    if args.out is None and args.format == "parquet":
        raise InputError("--format parquet needs --out FILE")
    frame = read_store(args.store, ok_only=args.ok_only)
    if args.out is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        write_runs(frame, args.out, args.format)
        print(f"{len(frame)} rows written to {args.out}", file=sys.stderr)
    return 0
