"""``advisor recommend``: the cheapest configs that meet an accuracy budget, from a profile."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from advisor.cli.common import depth, non_negative, non_negative_int, positive_int, probability


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``recommend`` command."""
    p = subparsers.add_parser("recommend", help="recommend shape/depth/size under an accuracy budget")
    p.add_argument("--profile", type=Path, help="profile folder (default: the shipped reference profile)")
    p.add_argument("--dataset", required=True, help="a dataset the profile has an accuracy model for")
    p.add_argument(
        "--accuracy", type=non_negative, required=True, help="accuracy budget in (0, 1] (regression: max loss)"
    )
    p.add_argument("--confidence", type=probability, default=0.9, help="required P(meet budget), in (0, 1)")
    p.add_argument("--top", type=positive_int, default=10)
    p.add_argument("--shapes", help="comma-separated shapes to consider")
    p.add_argument("--min-depth", type=depth, default=2)
    p.add_argument("--max-depth", type=depth, default=20)
    p.add_argument("--min-size", type=positive_int, default=2**5)
    p.add_argument("--max-size", type=positive_int, default=2**24)
    p.add_argument("--max-params", type=positive_int)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--epochs", type=positive_int, help="planned training epochs (adds planned training energy)")
    p.add_argument("--inferences", type=non_negative_int, default=0, help="planned number of predictions")
    p.add_argument("--objective", default="train", help="train (default), inference or lifecycle")
    p.add_argument("--carbon-intensity", type=non_negative, help="grid carbon intensity, g CO2e per kWh")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the ranked table (or JSON / CSV) and the engine's message."""
    import advisor
    from advisor.errors import InputError

    shapes = [s.strip() for s in args.shapes.split(",")] if args.shapes is not None else None
    if shapes is not None and not any(shapes):
        raise InputError("--shapes is empty: name at least one shape")
    profile = advisor.load_profile(args.profile)
    table = advisor.recommend(
        profile, args.dataset, args.accuracy, args.confidence, shapes=shapes, min_depth=args.min_depth,
        max_depth=args.max_depth, min_size=args.min_size, max_size=args.max_size, max_params=args.max_params,
        batch_size=args.batch_size, epochs=args.epochs, inferences=args.inferences, objective=args.objective,
        carbon_g_per_kwh=args.carbon_intensity, top=args.top,
    )  # fmt: skip
    if args.json:
        print(json.dumps({**table.attrs, "recommendations": json.loads(table.to_json(orient="records"))}, indent=2))
        return 0
    if args.csv:
        table.to_csv(sys.stdout, index=False)
        print(table.attrs["message"], file=sys.stderr)
        return 0
    _print_table(table, args)
    return 0


def _print_table(table, args) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    from advisor.render import energy_label

    label = energy_label(bool(table.attrs.get("estimated")))
    out = Table(title=f"{args.dataset}: accuracy ≥ {args.accuracy:g} with P ≥ {args.confidence:g} — {label} per "
                      f"training datum", title_justify="left")  # fmt: skip
    for column, justify in (("#", "right"), ("shape", "left"), ("depth", "right"), ("widths", "left"),
                            ("params", "right"), ("J/datum (90% CI)", "right"), ("P(meet)", "right"),
                            ("tier", "left")):  # fmt: skip
        out.add_column(column, justify=justify)
    for row in table.itertuples():
        interval = f"{row.energy_per_datum_j:.3g} ({row.energy_p05_j:.2g}–{row.energy_p95_j:.2g})"
        out.add_row(str(row.rank), row.shape, str(row.depth), row.widths, f"{row.params:,}", interval,
                    f"{row.p_meet:.2f}", row.tier)  # fmt: skip
    if len(table):
        console.print(out)
    console.print(table.attrs["message"])
