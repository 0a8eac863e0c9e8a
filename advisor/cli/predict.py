"""``advisor predict``: energy per datum of one config from a profile, with its interval and tier."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advisor.cli.common import PROFILE_HELP, depth, positive_int, shape_name


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    p = subparsers.add_parser("predict", help="predict energy per datum of one config")
    p.add_argument("--profile", type=Path, help=PROFILE_HELP)
    p.add_argument("--shape", type=shape_name, required=True)
    p.add_argument("--depth", type=depth, required=True)
    p.add_argument("--size", type=positive_int, required=True, help="target parameters (e.g. 2^14)")
    p.add_argument("--input-dim", type=positive_int, required=True)
    p.add_argument("--output-dim", type=positive_int, required=True)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--phase", choices=("train", "inference"), default="train")
    p.add_argument(
        "--train-samples",
        type=positive_int,
        help="training-set size: a set smaller than the batch trains in smaller steps",
    )
    p.add_argument(
        "--dataset",
        help=(
            "a data set the profile's energy fit measured (e.g. a probed one, by name or its file's path): its "
            "fitted cost factors apply (default: a data set the fit has not seen)"
        ),
    )
    p.add_argument(
        "--beyond-grid",
        action="store_true",
        help="allow depths, sizes and widths beyond the BUTTER grid's (extrapolation: up to 1000 layers)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the prediction."""
    import advisor
    from advisor.api import dataset_name, machine_state_of, profile_label, profile_source

    profile = advisor.load_profile(args.profile)
    dataset = dataset_name(args.dataset) if args.dataset else None
    frame = profile.predict(
        shape=[args.shape],
        depth=[args.depth],
        size=[args.size],
        input_dim=[args.input_dim],
        output_dim=[args.output_dim],
        batch_size=[args.batch_size],
        phase=[args.phase],
        beyond_grid=args.beyond_grid,
        **({"train_samples": [args.train_samples]} if args.train_samples else {}),
        **({"dataset": [dataset]} if dataset else {}),
    )
    row = frame.iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    row.update(profile=profile_label(profile), profile_source=str(profile_source(profile)))
    row.update(machine_state_of(profile))
    if args.json:
        print(json.dumps(row, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    label = "ESTIMATED " if profile.estimated else ""
    table = Table(
        title=f"{args.shape}/d{args.depth}/{args.size} — {label}{args.phase} energy per datum", show_header=False
    )
    table.add_row("params", f"{row['params']:,}")
    table.add_row("widths", " ".join(map(str, row["widths"])))
    table.add_row("mean", f"{row['energy_mean_j']:.4g} J")
    table.add_row("median", f"{row['energy_median_j']:.4g} J")
    table.add_row("90% credible interval (mean)", f"{row['energy_p05_j']:.4g} – {row['energy_p95_j']:.4g} J")
    table.add_row(
        "90% predictive interval (one new run)", f"{row['predictive_p05_j']:.4g} – {row['predictive_p95_j']:.4g} J"
    )
    seen = f"{dataset} (its fitted cost factors)" if dataset else "unseen (the population's cost factors)"
    table.add_row("data set", seen)
    table.add_row("working set", f"{row['working_set_bytes']:,} bytes ({row['tier']})")
    table.add_row("profile", row["profile"])
    if row.get("machine"):
        table.add_row("machine state", row["machine"])
    console = Console()
    console.print(table)
    from advisor.render import warning_markup

    for line in row.get("machine_warnings", ()):
        console.print(warning_markup(line))
    return 0
