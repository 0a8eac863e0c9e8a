"""``advisor measure [OPTIONS] -- COMMAND ...``: run a program, measure its energy, store it, print a summary
(on stderr, so the program's own output stays clean) or JSON (the last line on stdout), and exit with the
program's own exit code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advisor.cli.common import non_negative, non_negative_int, positive_int


def _widths(text: str) -> tuple[int, ...]:
    from advisor.parsing import positive_int as parse

    try:
        return tuple(parse(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"widths are positive integers separated by commas: {exc}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``measure`` command."""
    p = subparsers.add_parser("measure", help="measure the energy of a program: advisor measure -- COMMAND ...")
    p.add_argument(
        "--meter",
        default="auto",
        help="auto (default: NVML on cuda, RAPL, else an estimate), rapl, nvml, trace, estimate",
    )
    p.add_argument("--label", help="its name in the run store (default: the program's name)")
    p.add_argument("--datums", type=non_negative_int, help="datums the program processes (for energy per datum)")
    p.add_argument(
        "--idle",
        type=non_negative,
        metavar="SECONDS",
        help="idle power is measured this long before the program and subtracted (default 1; 0: none)",
    )
    p.add_argument("--store", type=Path, help="run store (default $ADVISOR_HOME/runs.sqlite)")
    p.add_argument("--no-store", action="store_true", help="measure without storing the run")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: the ladder reads NVML first on cuda")
    p.add_argument("--trace", type=Path, help="power trace for --meter trace (CSV/Parquet: timestamp, watts)")
    p.add_argument("--core-watts", type=non_negative, help="the estimate meter's watts per busy core")
    p.add_argument(
        "--widths",
        type=_widths,
        help=(
            "the MLP the program trains, as its Linear layers' widths (e.g. 128,128,10), to show its predicted "
            "energy per datum beside the measured"
        ),
    )
    p.add_argument("--input-dim", type=positive_int, help="the MLP's input width (with --widths)")
    p.add_argument("--batch-size", type=positive_int, help="the MLP's training batch size (with --widths)")
    p.add_argument("--residual", action="store_true", help="the MLP has the catalogue's residual form")
    p.add_argument("--profile", type=Path, help="profile that prices --widths (default: yours, else the reference)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (the last line on stdout)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments, after --")
    p.set_defaults(handler=run)


def _network(args: argparse.Namespace):
    from advisor.errors import InputError
    from advisor.measuring import network_of

    given = [name for name in ("widths", "input_dim", "batch_size") if getattr(args, name) is not None]
    if not given and not args.residual:
        return None
    if len(given) < 3:
        raise InputError("--widths, --input-dim and --batch-size describe the network together: give all three")
    return network_of(args.input_dim, args.widths, args.batch_size, args.residual)


def run(args: argparse.Namespace) -> int:
    """Measure the command; return its exit status."""
    from advisor.measuring_command import check_command, exit_status, run_command

    command = check_command(args.command)  # before anything runs: a missing program is one line, exit 2
    options = {"idle_s": args.idle} if args.idle is not None else {}
    result = run_command(
        command,
        args.label,
        args.meter,
        datums=args.datums,
        store=False if args.no_store else args.store,
        network=_network(args),
        profile=args.profile,
        device=args.device,
        trace=args.trace,
        core_watts=args.core_watts,
        **options,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        _print_summary(result)
    return exit_status(result.exit_code or 0)


def _print_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"advisor measure: {result.label}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in result.summary_rows():
        table.add_row(name, value)
    Console(stderr=True).print(table)
