"""``advisor evaluate``: hold-out error of the tier model against the baselines, in and out of distribution."""

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
    p.add_argument("--folds", type=positive_int, default=5, help="folds of the grouped k-fold scheme (2-50)")
    p.add_argument(
        "--scheme",
        default="all",
        metavar="SCHEMES",
        help=(
            "kfold (grouped k-fold), width (leave-one-input-width-out), dataset (probe runs predicted from the "
            "calibration alone), day (each calibration day from the others), accuracy (accuracy models on held-out "
            "probe runs), all (default), or a "
            "comma-separated list"
        ),
    )
    p.add_argument("--save-to", type=Path, metavar="PROFILE", help="also store the scores in this profile")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print a table per scheme (or JSON)."""
    from advisor.evaluation import evaluate_runs

    result = evaluate_runs(
        store=args.store, runs=args.runs, folds=args.folds, save_to=args.save_to, schemes=args.scheme
    )
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    from rich.console import Console

    console = Console()
    if result.folds is not None:
        console.print(_kfold_table(result))
    for transfer in result.transfer:
        console.print(_transfer_table(transfer))
    from advisor.evaluation import parse_schemes

    if "accuracy" in parse_schemes(args.scheme) and not result.accuracy:
        console.print("accuracy models: skipped (a data set needs 7 or more probe runs to hold some out)")
    for check in result.accuracy:  # the score: accuracy, or -ln(test loss) for a regression
        console.print(
            f"accuracy model, {check.dataset}: {check.runs} held-out probe runs "
            f"({'a whole learning rate' if check.held_out == 'recipe' else 'every fifth run'}, {check.points} "
            f"checkpoints): median |score error| {check.median_abs_error:.3f}, 90% coverage "
            f"{check.coverage_90:.0%}"
        )
    return 0


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "—"


_CAPTION = (
    "APE: median absolute % error of the posterior median; ±10%: share within; cov90: share inside the 90% "
    "predictive interval; worst: largest of predicted/measured, measured/predicted; ÷floor: APE / the "
    "noise floor; line*: {line}, per group and phase (the best any one-constant rule can do); "
    "trees: APE/cov90 of {trees} fit on the training runs' features (its interval: 5% and 95% quantile trees); "
    "baseline: the best of the other baselines fit on the training runs"
)


def _short(baseline: str) -> str:
    """``energy ∝ FLOPs`` -> ``∝FLOPs``, ``log-log regression`` -> ``log-log``: names that fit a table cell."""
    return baseline.removeprefix("energy ").removesuffix(" regression").replace("∝ ", "∝")


def _kfold_table(result):
    from rich.table import Table

    held_out = f"Grouped {result.folds}-fold hold-out ({result.held_out} observations)"
    table = Table(title=f"{held_out}; repeat-noise floor {_pct(result.noise_floor)}")
    table.add_column("predictor", justify="right", no_wrap=True)
    for column in ("median APE", "within ±10%", "90% coverage", "train / inference APE"):
        table.add_column(column, justify="right")
    for s in result.scores:
        phases = " / ".join(f"{s.per_phase_median_ape.get(p, float('nan')):.1%}" for p in ("train", "inference"))
        table.add_row(s.name, f"{s.median_ape:.1%}", f"{s.within_10pct:.1%}", _pct(s.coverage_90), phases)
    return table


def _transfer_table(transfer):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from advisor.evaluation import BOOSTED_TREES, HELD_OUT_PARAMS_LINE, SCHEME_TITLES

    title = f"{SCHEME_TITLES[transfer.scheme]}; calibration repeat-noise floor {_pct(transfer.noise_floor)}"
    if transfer.skipped is not None:
        return Text(f"{title}: skipped, {transfer.skipped}")
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption=_CAPTION.format(line=HELD_OUT_PARAMS_LINE, trees=BOOSTED_TREES),
    )
    width = max(len(g.group) for g in (*transfer.groups, transfer.overall))
    table.add_column("held out", no_wrap=True, min_width=min(width, 30))
    for column in ("n", "APE", "±10%", "cov90", "worst", "÷floor", "line*", "trees", "baseline"):
        table.add_column(column, justify="right", no_wrap=True)
    for g in (*transfer.groups, transfer.overall):
        trained = {n: s for n, s in g.baselines.items() if n not in (HELD_OUT_PARAMS_LINE, BOOSTED_TREES)}
        best = min(trained, key=lambda n: trained[n].median_ape) if trained else None
        line = g.baselines.get(HELD_OUT_PARAMS_LINE)
        table.add_row(
            g.group,
            str(g.n),
            _pct(g.model.median_ape),
            f"{g.model.within_10pct:.0%}",
            f"{g.model.coverage_90:.0%}",
            f"{g.model.worst_ratio:.2f}×",
            f"{g.noise_ratio:.1f}×" if g.noise_ratio is not None else "—",
            f"{line.median_ape:.0%}" if line else "—",
            _trees(g.baselines.get(BOOSTED_TREES)),
            f"{_short(best)} {trained[best].median_ape:.0%}" if best else "—",
        )
    return table


def _trees(scores) -> str:
    """The boosted trees' cell: median APE/90% coverage (— where a stored summary predates them)."""
    if scores is None:
        return "—"
    coverage = "—" if scores.coverage_90 is None else f"{scores.coverage_90:.0%}"
    return f"{scores.median_ape:.0%}/{coverage}"
