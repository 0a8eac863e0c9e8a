"""``advisor doctor``: the hardware fingerprint and which energy meters work here, and why not."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``doctor`` command."""
    p = subparsers.add_parser("doctor", help="show hardware fingerprint and available energy meters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--profile", type=Path, help="vet a profile folder: run every load check, say what it is")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the diagnosis (of this machine, or of a profile with --profile)."""
    if args.profile is not None:
        return _vet(args.profile, args.json)
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


def _vet(path: Path, as_json: bool) -> int:
    from advisor.diagnostics import vet_profile

    report = vet_profile(path)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    kind = "ESTIMATED (no energy counter)" if "estimated" in report.meter_kinds else "measured"
    table = Table(title=f"Profile {report.path}: every check passed", show_header=False)
    table.add_row(
        "hardware",
        f"{report.hardware} ({report.fingerprint_digest})"
        + ("" if report.same_machine else " — OTHER hardware than this machine"),
    )
    table.add_row("energy", f"{kind}; meters {', '.join(report.meters)}")
    table.add_row("runs", f"{report.runs} runs, {report.observations} observations")
    floor = f"{report.noise_floor:.1%}" if report.noise_floor is not None else "n/a"
    table.add_row("repeat-noise floor", floor)
    table.add_row("fit", "converged" if report.converged else "NOT converged: " + "; ".join(report.problems))
    for name, text in report.datasets.items():
        table.add_row(f"accuracy: {name}", text)
    for check in report.checks:
        table.add_row("checked", check)
    Console().print(table)
    return 0
