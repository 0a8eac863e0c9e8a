"""Recheck benchmark: do predictions hold on the day they are used, with and without ``advisor calibrate --recheck``?

What a user does: takes a profile calibrated on another day (the shipped reference by default), then predicts
networks at input widths the calibration never saw. On the day: a recheck against the profile (the fixed panel,
about 30 s), then the transfer benchmark's 32 off-grid configs (784 -> 10 and 100 -> 5 inputs; ``--quick``: 4)
measured twice in interleaved passes with the project's harness and the meter the ladder picks, then a second
recheck (how far the machine moved while the configs were measured). ``--compete N`` runs N processes that
stream memory for the whole run: a forced slowdown, as a noisy neighbour would cause.

Each config is predicted three ways from the same profile and scored per phase (median APE, the day's repeat-
noise floor of the same configs, 90% predictive coverage):

- ``bare``: the calibration day's posterior as fitted (what the tool did before rechecks existed);
- ``no recheck``: the calibration day's energies, the predictive interval widened by the day-to-day spread;
- ``recheck``: today's scale per phase applied, the spread in the share the recheck's age lets back in.

    python benchmarks/recheck.py [--profile DIR] [--compete N] [--quick] [--json OUT] [--out-dir DIR | --no-page]

It writes a dated results page (``recheck``, or ``recheck-compete`` with ``--compete``) to docs/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, markdown_table, page_from_args  # noqa: E402
from benchmarks.transfer import design, harness, measure_twice, predict, results_table  # noqa: E402
from benchmarks.transfer_report import PHASES, score  # noqa: E402

STREAM = (
    "import numpy as np\n"
    "a = np.ones(2**24)\n"  # 128 MB: well past any L3, so every pass goes to memory
    "while True:\n"
    "    a += 1.0\n"
)
"""What a competing process runs: a memory-streaming loop (a noisy neighbour's bandwidth and cache)."""
WAYS = ("bare", "no recheck", "recheck")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="profile folder (default: the shipped reference profile)")
    parser.add_argument("--compete", type=int, default=0, metavar="N", help="N memory-streaming processes meanwhile")
    parser.add_argument("--quick", action="store_true", help="4 configs, short windows: a smoke test")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every row and score as JSON")
    add_page_options(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.compete <= 16:
        parser.error("--compete takes 0 to 16 processes")
    return args


@contextlib.contextmanager
def competing(n: int, settle_s: float = 2.0) -> Iterator[list[subprocess.Popen]]:
    """``n`` memory-streaming processes for the duration (killed at the end, whatever happens), given
    ``settle_s`` to allocate and reach their loop."""
    procs = [subprocess.Popen([sys.executable, "-c", STREAM]) for _ in range(n)]
    try:
        if procs:
            time.sleep(settle_s)
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def run_recheck(profile, home: Path, quick: bool):
    """One recheck of ``profile`` in ``home`` (its store and history); returns the outcome."""
    from advisor import recheck
    from measurement.records import TrainConfig

    config = TrainConfig(windows=3, window_s=0.05) if quick else TrainConfig()
    job = recheck.prepare_recheck(profile, store=home / "runs.sqlite", config=config)
    outcome = recheck.recheck(profile, job, home=home)
    r = outcome.recheck
    scales = ", ".join(f"{p} x{r.scale(p).factor:.3f} (sd {r.scale(p).log_sd:.3f})" for p in PHASES)
    print(f"recheck: {scales}; floor {r.floor:.1%}, drift {r.drift:+.1%}, {outcome.summary.elapsed_s:.0f} s")
    return outcome


def profiles_three_ways(profile, state_with) -> dict[str, object]:
    """The profile bare, with the day-to-day spread alone, and with the recheck applied."""
    from models.machine_state import MachineState

    no_recheck = MachineState(None, state_with.day, state_with.now_unix_s, state_with.calibration_floor)
    return {
        "bare": dataclasses.replace(profile, energy=profile.energy.with_machine(None)),
        "no recheck": dataclasses.replace(profile, energy=profile.energy.with_machine(no_recheck)),
        "recheck": dataclasses.replace(profile, energy=profile.energy.with_machine(state_with)),
    }


def score_rows(tables: dict[str, pd.DataFrame]) -> list[dict[str, object]]:
    """One row per (way, phase): median APE, the floor, its ratio, within 10%, worst ratio, coverage."""
    rows = []
    for way, table in tables.items():
        for phase in PHASES:
            s = score(table, phase)
            rows.append(
                {
                    "way": way,
                    "phase": phase,
                    "configs": s.configs,
                    "median_ape": s.median_ape,
                    "noise_floor": s.noise_floor,
                    "ape_over_floor": s.median_ape / s.noise_floor if s.noise_floor > 0 else float("inf"),
                    "within_10pct": s.within_10pct,
                    "worst_ratio": s.worst_ratio,
                    "coverage_90": s.coverage_90,
                }
            )
    return rows


def acceptance(rows: list[dict[str, object]]) -> list[tuple[str, bool]]:
    """Issue 30's bounds: with a recheck, median APE <= 2x the day's floor and coverage 80-95%; without one,
    coverage >= 75%."""
    out = []
    for r in rows:
        if r["way"] == "recheck":
            out.append((f"recheck {r['phase']}: median APE <= 2x floor", r["ape_over_floor"] <= 2.0))
            out.append((f"recheck {r['phase']}: coverage 80-95%", 0.80 <= r["coverage_90"] <= 0.95))
        if r["way"] == "no recheck":
            out.append((f"no recheck {r['phase']}: coverage >= 75%", r["coverage_90"] >= 0.75))
    return out


def page_body(args, first, second, rows, checks, elapsed_s: float) -> str:
    """The results page: what ran, the rechecks, the scores, the acceptance lines."""
    r1, r2 = first.recheck, second.recheck
    moved = {p: r2.scale(p).factor / r1.scale(p).factor - 1 for p in PHASES}
    lines = [
        f"`python benchmarks/recheck.py{' --quick' * args.quick}{f' --compete {args.compete}' * bool(args.compete)}`"
        f" against {'the shipped reference profile' if args.profile is None else args.profile}"
        f"{f', with {args.compete} memory-streaming process(es) running throughout' if args.compete else ''}; "
        f"meter {first.summary.meter} ({first.summary.meter_kind}); {elapsed_s / 60:.1f} minutes in all.",
        "",
        f"Recheck before: train ×{r1.scale('train').factor:.3f}, inference ×{r1.scale('inference').factor:.3f} "
        f"(panel floor {r1.floor:.1%}, drift {r1.drift:+.1%}). Recheck after the configs: train "
        f"×{r2.scale('train').factor:.3f}, inference ×{r2.scale('inference').factor:.3f} (the machine moved "
        f"{moved['train']:+.1%} / {moved['inference']:+.1%} meanwhile). Day-to-day spread: {r1.day.describe()}.",
        "",
        markdown_table(
            [
                "prediction",
                "phase",
                "configs",
                "median APE",
                "day's floor",
                "APE ÷ floor",
                "within ±10%",
                "worst ratio",
                "90% coverage",
            ],
            [
                (
                    r["way"],
                    r["phase"],
                    r["configs"],
                    f"{r['median_ape']:.1%}",
                    f"{r['noise_floor']:.1%}",
                    f"{r['ape_over_floor']:.1f}×",
                    f"{r['within_10pct']:.0%}",
                    f"{r['worst_ratio']:.2f}×",
                    f"{r['coverage_90']:.0%}",
                )
                for r in rows
            ],
        ),
        "",
        "Acceptance (issue 30): " + "; ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks) + ".",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Recheck, measure, recheck, predict three ways, score, print; 2 on bad input (one line)."""
    from advisor.api import load_profile
    from advisor.errors import USER_ERRORS, first_line
    from advisor.recheck import attach_machine_state
    from measurement.atomic import atomic_path, check_destination
    from measurement.meters.auto import close_meter

    args = parse_args(argv)
    began = time.perf_counter()
    try:
        if args.json is not None:
            check_destination(args.json, (".json",))
        with tempfile.TemporaryDirectory(prefix="recheck-") as scratch, competing(args.compete):
            home = Path(scratch)
            profile = attach_machine_state(load_profile(args.profile), home=home)
            configs = design(args.quick)
            first = run_recheck(profile, home, args.quick)
            measure = harness(args.quick)
            try:
                measurements = measure_twice(configs, measure, progress=print)
            finally:
                close_meter(measure.meter)
            second = run_recheck(profile, home, args.quick)
            ways = profiles_three_ways(profile, first.state)
            tables = {
                w: results_table(measurements, predict(p, configs, samples=measure.samples)) for w, p in ways.items()
            }
    except USER_ERRORS as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    rows = score_rows(tables)
    checks = acceptance(rows)
    elapsed_s = time.perf_counter() - began
    for r in rows:
        print(
            f"{r['way']:>10} {r['phase']:>9}: median APE {r['median_ape']:.1%} (floor {r['noise_floor']:.1%}, "
            f"{r['ape_over_floor']:.1f}x), within 10% {r['within_10pct']:.0%}, worst {r['worst_ratio']:.2f}x, "
            f"coverage {r['coverage_90']:.0%}"
        )
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.json is not None:
        body = {"scores": rows, "tables": {w: t.to_dict(orient="records") for w, t in tables.items()},
                "rechecks": [first.recheck.to_dict(), second.recheck.to_dict()], "elapsed_s": elapsed_s}  # fmt: skip
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(body, indent=1, default=float))
    name = "recheck" + ("-compete" if args.compete else "") + ("-quick" if args.quick else "")
    title = (
        "Recheck: predictions on the day they are used"
        + (f", {args.compete} memory-streaming neighbour(s) throughout" * bool(args.compete))
        + (" (quick smoke run)" * args.quick)
    )
    page_from_args(args, name, title, page_body(args, first, second, rows, checks, elapsed_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
