"""``advisor evaluate``: grouped hold-out error of the tier model against the baselines."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from advisor.cli.common import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    p = subparsers.add_parser("evaluate", help="hold-out error of the energy model and baselines")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--store", type=Path, help="run store (default $ADVISOR_HOME/runs.sqlite)")
    source.add_argument("--runs", type=Path, help="a run export (CSV/Parquet from 'advisor runs')")
    p.add_argument("--folds", type=positive_int, default=5)
    p.add_argument("--save-to", type=Path, metavar="PROFILE", help="also store the scores in this profile")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print a table (or JSON)."""
    from advisor.evaluation import evaluate_runs

    result = evaluate_runs(store=args.store, runs=args.runs, folds=args.folds, save_to=args.save_to)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    floor = f"{result.noise_floor:.1%}" if result.noise_floor is not None else "n/a"
    table = Table(title=f"Grouped {result.folds}-fold hold-out ({result.held_out} observations); "
                        f"repeat-noise floor {floor}")  # fmt: skip
    for column in ("predictor", "median APE", "within ±10%", "90% coverage", "train / inference APE"):
        table.add_column(column, justify="right")
    for s in result.scores:
        phases = " / ".join(f"{s.per_phase_median_ape.get(p, float('nan')):.1%}" for p in ("train", "inference"))
        coverage = f"{s.coverage_90:.1%}" if s.coverage_90 is not None else "—"
        table.add_row(s.name, f"{s.median_ape:.1%}", f"{s.within_10pct:.1%}", coverage, phases)
    Console().print(table)
    return 0
