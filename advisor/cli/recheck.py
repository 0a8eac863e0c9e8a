"""``advisor calibrate --recheck``: the panel with a progress bar, then today's scale per phase."""

from __future__ import annotations

import argparse
import json
import math

from advisor.errors import InputError


def _refuse_calibration_options(args: argparse.Namespace) -> None:
    given = [
        flag
        for flag, value in (
            ("--dataset", args.dataset),
            ("--resume", args.resume),
            ("--max-runs", args.max_runs),
            ("--cluster", args.cluster),
            ("--scheduler", args.scheduler),
        )
        if value
    ]
    if given:
        raise InputError(f"--recheck measures a fixed panel on the profile's data sets: drop {', '.join(given)}")


def run_recheck(args: argparse.Namespace) -> int:
    """Measure the panel against the profile and print the recheck (exit 130 when interrupted)."""
    import advisor
    from advisor import recheck
    from advisor.cli.calibrate import meter_options
    from advisor.cli.progress import SweepProgress

    _refuse_calibration_options(args)
    profile = advisor.load_profile(args.profile)
    job = recheck.prepare_recheck(
        profile,
        budget_s=args.budget or recheck.DEFAULT_RECHECK_BUDGET_S,
        store=args.store,
        meter=meter_options(args),
        config=recheck.TrainConfig(
            windows=args.windows, window_s=args.window, device=args.device, threads=args.threads
        ),
        idle_s=args.idle,
    )
    with SweepProgress(job, quiet=args.json) as bar:
        outcome = recheck.recheck(profile, job, progress=bar.update)
    if args.json:
        print(json.dumps(_as_json(outcome, profile), indent=2))
    else:
        _print(outcome, profile)
    return 130 if outcome.recheck is None else 0


def _as_json(outcome, profile) -> dict:
    from advisor.api import profile_label

    return {
        "profile": profile_label(profile),
        "recheck": None if outcome.recheck is None else outcome.recheck.to_dict(),
        "machine_state": None if outcome.state is None else outcome.state.to_dict(),
        "meter": outcome.summary.meter,
        "meter_kind": str(outcome.summary.meter_kind),
        "store": str(outcome.store_path),
        "history": str(outcome.history),
    }


def _print(outcome, profile) -> None:
    from rich.console import Console
    from rich.table import Table

    from advisor.api import profile_label
    from advisor.recheck import PHASES, MeterKind

    console = Console(highlight=False)
    s = outcome.summary
    if outcome.recheck is None:
        console.print(f"recheck interrupted after {s.committed_now} runs: nothing recorded (sweep {s.sweep_id})")
        return
    r = outcome.recheck
    table = Table(title=f"Recheck (sweep {s.sweep_id}) against {profile_label(profile)}", show_header=False)
    kind = "ESTIMATED (not a measurement)" if s.meter_kind is MeterKind.ESTIMATED else "measured"
    table.add_row("meter", f"{s.meter} — {kind}")
    table.add_row("panel runs", f"{r.runs} phases of {s.committed_now} runs in {s.elapsed_s:.0f} s")
    table.add_row("repeat-noise floor", f"{r.floor:.1%}")
    table.add_row("drift during the recheck", f"{r.drift:+.1%}")
    for phase in PHASES:
        scale = r.scale(phase)
        low, high = (math.exp(scale.log_scale + z * scale.log_sd) for z in (-1.645, 1.645))
        table.add_row(f"{phase} today / predicted", f"×{scale.factor:.3f} (90%: {low:.3f} – {high:.3f})")
    table.add_row("day to day", r.day.describe())
    table.add_row("history", str(outcome.history))
    console.print(table)
    console.print(f"predictions now apply: {outcome.state.describe()}")
    from advisor.render import warning_markup

    for line in outcome.state.warnings():
        console.print(warning_markup(line))
