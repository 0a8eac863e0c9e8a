"""``advisor arch``: widths, parameter count, FLOPs and working set of one config or the whole grid."""

from __future__ import annotations

import argparse
import json
import sys

from advisor.cli.common import depth, positive_int, shape_name


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``arch`` command."""
    p = subparsers.add_parser("arch", help="size a BUTTER architecture (or list the whole grid)")
    p.add_argument(
        "shape", nargs="?", type=shape_name, help="rectangle, rectangle_residual, trapezoid, exponential, wide_first_Nx"
    )
    p.add_argument("depth", nargs="?", type=depth, help="number of Linear layers (>= 2)")
    p.add_argument("size", nargs="?", type=positive_int, help="target trainable parameters")
    p.add_argument("--input-dim", type=positive_int, required=True)
    p.add_argument("--output-dim", type=positive_int, required=True)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--grid", action="store_true", help="every shape x depth x size of the BUTTER grid")
    p.add_argument(
        "--beyond-grid",
        action="store_true",
        help="allow depths, sizes and widths beyond the BUTTER grid's (up to 1000 layers, 2^40 params)",
    )
    p.add_argument("--json", action="store_true", help="JSON output (single config)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="grid output format")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print one config or the grid."""
    from advisor.catalogue import ArchitectureError, describe_config, describe_grid

    if args.grid:
        if args.shape is not None:
            raise ArchitectureError("give either SHAPE DEPTH SIZE or --grid, not both")
        grid = describe_grid(
            input_dim=args.input_dim,
            output_dim=args.output_dim,
            batch_size=args.batch_size,
            beyond_grid=args.beyond_grid,
        )
        return _print_grid(grid, args.format)
    if args.shape is None or args.depth is None or args.size is None:
        raise ArchitectureError("arch needs SHAPE DEPTH SIZE (or --grid)")
    row = describe_config(
        shape=args.shape,
        depth=args.depth,
        size=args.size,
        input_dim=args.input_dim,
        output_dim=args.output_dim,
        batch_size=args.batch_size,
        beyond_grid=args.beyond_grid,
    )
    if args.json or args.format == "json":
        print(json.dumps(row, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{row['label']}  (input {args.input_dim}, output {args.output_dim}, batch {args.batch_size})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in row.items():
        if key != "label":
            table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    Console().print(table)
    return 0


def _print_grid(rows: list[dict], fmt: str) -> int:
    if fmt == "json":
        print(json.dumps(rows))
        return 0
    if fmt == "csv":
        import csv

        flat = [{**r, "widths": " ".join(map(str, r["widths"]))} for r in rows]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"BUTTER grid: {len(rows)} configs, {sum(r['off_target'] for r in rows)} off target")
    for column in ("shape", "depth", "target_size", "params", "relative_error", "off_target"):
        table.add_column(column, justify="right")
    for r in rows:
        style = "yellow" if r["off_target"] else None
        table.add_row(
            r["shape"],
            str(r["depth"]),
            f"{r['target_size']:,}",
            f"{r['params']:,}",
            f"{r['relative_error']:+.1%}",
            "yes" if r["off_target"] else "",
            style=style,
        )
    Console().print(table)
    return 0
