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

    from measurement.errors import InputError
    from measurement.store import RunStore, default_store_path, export

    with RunStore(args.store or default_store_path(), readonly=True) as store:
        frame = store.frame(include_rejected=not args.ok_only)
    if args.out is None:
        if args.format == "parquet":
            raise InputError("--format parquet needs --out FILE")
        frame.to_csv(sys.stdout, index=False)
    else:
        export(frame, args.out, args.format)
        print(f"{len(frame)} rows written to {args.out}", file=sys.stderr)
    return 0
