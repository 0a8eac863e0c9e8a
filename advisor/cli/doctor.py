"""``advisor doctor``: the hardware fingerprint and which energy meters work here, and why not."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` command."""
    p = subparsers.add_parser("doctor", help="show hardware fingerprint and available energy meters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the diagnosis."""
    from advisor.diagnostics import diagnose

    diagnosis = diagnose()
    if args.json:
        print(json.dumps(diagnosis.to_dict(), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    fp = diagnosis.fingerprint
    console = Console()
    hw = Table(title="Hardware", show_header=False)
    hw.add_row("CPU", fp.cpu_model)
    hw.add_row("logical cores", str(fp.logical_cores))
    for cache in fp.caches:
        hw.add_row(
            f"L{cache.level} {cache.kind}", f"{cache.size_bytes / 1024:,.0f} KiB (shared by {cache.shared_cpus})"
        )
    hw.add_row("memory", f"{fp.memory_bytes / 2**30:.1f} GiB")
    hw.add_row("torch", f"{fp.torch_version or 'not installed'} on {diagnosis.torch_device}")
    if fp.gpu:
        l2 = f"{fp.gpu.l2_bytes / 2**20:.1f} MiB L2" if fp.gpu.l2_bytes else "L2 unknown"
        hw.add_row("GPU", f"{fp.gpu.name}, {l2}")
    hw.add_row("fingerprint", fp.digest())
    console.print(hw)
    meters = Table(title="Energy meters (auto picks the first available)")
    for column in ("meter", "available", "detail"):
        meters.add_column(column)
    for step in diagnosis.meters:
        meters.add_row(step.meter, "[green]yes[/]" if step.available else "[red]no[/]", step.detail)
    console.print(meters)
    return 0
