"""``advisor recommend``: the cheapest networks that meet an accuracy budget, how long to train them, and what
that costs, from a profile."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from advisor.cli.common import PROFILE_HELP, depth, non_negative, non_negative_int, positive_int, probability

OBJECTIVES = "energy-per-datum (default), training-energy, inference or lifecycle"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``recommend`` command."""
    p = subparsers.add_parser(
        "recommend", help="recommend shape/depth/size, learning rate, batch size and epochs under an accuracy budget"
    )
    p.add_argument("--profile", type=Path, help=PROFILE_HELP)
    p.add_argument(
        "--dataset",
        required=True,
        help="a data set the profile has an accuracy model for: its name (a probed file's stem) or the file's path",
    )
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
    p.add_argument(
        "--batch-size",
        default="auto",
        help="the training batch size you will use, or auto (default): searched over 16-1024 per network",
    )
    p.add_argument(
        "--learning-rate",
        default="auto",
        help="Adam's learning rate you will use, or auto (default): searched over 1e-4-1e-2 per network",
    )
    p.add_argument(
        "--epochs",
        default="auto",
        help=(
            "epochs you will train, or auto (default): the fewest that meet the budget with the confidence, per network"
        ),
    )
    p.add_argument("--objective", default="energy-per-datum", help=f"what to minimise: {OBJECTIVES}")
    p.add_argument("--predictions", type=non_negative_int, default=0, help="planned predictions (lifecycle)")
    p.add_argument("--grid-g-per-kwh", type=non_negative, help="grid carbon intensity, g CO2e per kWh (adds CO2e)")
    p.add_argument("--plot", type=Path, help="write the training-energy-vs-parameters figure (PNG, PDF or SVG)")
    p.add_argument("--wide", action="store_true", help="full shape names and 90%% intervals (wider than 80 columns)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the ranked table (or JSON / CSV), the engine's message and why the top pick wins."""
    import advisor
    from advisor.api import table_of
    from advisor.errors import InputError
    from advisor.figures_recommend import check_figure_path, write_recommend_figure

    shapes = [s.strip() for s in args.shapes.split(",")] if args.shapes is not None else None
    if shapes is not None and not any(shapes):
        raise InputError("--shapes is empty: name at least one shape")
    if args.plot is not None:
        check_figure_path(args.plot)
    profile = advisor.load_profile(args.profile)
    result = advisor.advise(
        profile,
        dataset=args.dataset,
        accuracy=args.accuracy,
        confidence=args.confidence,
        shapes=shapes,
        min_depth=args.min_depth,
        max_depth=args.max_depth,
        min_size=args.min_size,
        max_size=args.max_size,
        max_params=args.max_params,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        predictions=args.predictions,
        objective=args.objective,
        grid_g_per_kwh=args.grid_g_per_kwh,
        top=args.top,
    )
    table = table_of(result, profile)
    if args.plot is not None:
        write_recommend_figure(profile, result, args.plot)
    if args.json:
        print(json.dumps({**table.attrs, "recommendations": json.loads(table.to_json(orient="records"))}, indent=2))
    elif args.csv:
        table.to_csv(sys.stdout, index=False)
        words = [
            f"profile: {table.attrs['profile']}",
            *_machine_words(table.attrs),
            table.attrs["message"],
            *table.attrs["probed_lines"],
        ]
        print("\n".join(words), file=sys.stderr)
    else:
        _print_table(result, table.attrs, args.wide)
    if args.plot is not None:
        print(f"figure: {args.plot}", file=sys.stderr)
    return 0


def _print_table(result, attrs: dict, wide: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from advisor.render import recommendation_rows, table_title, warning_markup

    console = Console(highlight=False)
    if wide:  # intervals and full names: as wide as they need, not folded into the terminal's width
        console = Console(highlight=False, width=max(console.width, 200))
    header, rows = recommendation_rows(result, wide)
    console.print(f"profile: {attrs['profile']}")
    if attrs.get("machine"):
        console.print(f"machine: {attrs['machine']}")
    for line in (*attrs.get("machine_warnings", ()), *attrs.get("fit_warnings", ())):
        console.print(warning_markup(line))
    out = Table(
        title=table_title(result),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 0),
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for name, justify in header:
        out.add_column(name, justify=justify, overflow="fold")
    for row in rows:
        out.add_row(*row)
    if rows:
        console.print(out)
        console.print(attrs["legend"])
    console.print(attrs["message"])
    for line in attrs.get("probed_lines", ()):
        console.print(line)
    if attrs.get("reason"):
        console.print(attrs["reason"])


def _machine_words(attrs: dict) -> list[str]:
    """The machine-state line and the warnings (the machine's, the fits'), for the CSV answer's stderr."""
    machine = [f"machine: {attrs['machine']}"] if attrs.get("machine") else []
    warnings = (*attrs.get("machine_warnings", ()), *attrs.get("fit_warnings", ()))
    return [*machine, *(f"warning: {line}" for line in warnings)]
