"""Time full-grid recommendations (every distinct network of the BUTTER grid x the epoch choices).

Prints the median of repeats for: loading the profile, the first recommend (builds and caches the candidate
grid), and warm recommends over the whole grid with ``--epochs auto`` (the fewest of the epoch choices meeting
the budget, per network: the full grid x epoch choices), with a fixed number of epochs, and with the
training-energy objective; the ratio warm/first is the baseline comparison measured in the same run. The
issue's bound: warm auto <= 0.5 s.

    python benchmarks/recommend.py [PROFILE_FOLDER] [--dataset digits] [--accuracy 0.95] [--out-dir DIR | --no-page]

After printing, it writes a dated results page to docs/results/ (``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import advisor
from advisor import candidates as engine
from advisor.candidates import ACCURACY_DRAWS, ENGINE_DRAWS, SCREEN_DRAWS, candidate_grid
from benchmarks.report import add_page_options, markdown_table, page_from_args
from models.accuracy import BATCH_SIZES, EPOCH_CHOICES, LEARNING_RATES

REPEATS = 15
BOUND_S = 0.5


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_s(fn, repeats: int = REPEATS) -> float:
    """Median wall time of ``repeats`` calls."""
    return statistics.median(timed(fn) for _ in range(repeats))


@dataclass(frozen=True)
class Timings:
    """One benchmark run: the grid's size and each step's time (seconds; medians where repeated)."""

    dataset: str
    accuracy: float
    grid_configs: int
    networks: int
    load_s: float
    first_s: float
    warm_auto_s: float
    warm_fixed_s: float
    warm_total_s: float
    fresh_s: float


def measure(profile_path: Path | None, dataset: str, accuracy: float) -> Timings:
    """Time loading ``profile_path`` and recommending over the whole grid for ``dataset`` at ``accuracy``."""
    load_s = timed(lambda: advisor.load_profile(profile_path))
    profile = advisor.load_profile(profile_path)
    info = profile.datasets[dataset]

    def ask(**options):
        return advisor.advise(profile, dataset, accuracy, top=10, **options)

    first_s = timed(ask)
    result = ask()
    warm_auto = median_s(ask)
    warm_fixed = median_s(lambda: ask(epochs=64))
    warm_total = median_s(lambda: ask(objective="training-energy"))

    def fresh() -> None:  # as for new candidates: features and energy draws recomputed
        engine._DRAWS_CACHE.clear()
        engine._features.cache_clear()
        ask()

    fresh_s = median_s(fresh, repeats=5)
    grid = len(candidate_grid(info.input_dim, info.output_dim))
    return Timings(
        dataset=dataset,
        accuracy=accuracy,
        grid_configs=grid,
        networks=len(result.candidates),
        load_s=load_s,
        first_s=first_s,
        warm_auto_s=warm_auto,
        warm_fixed_s=warm_fixed,
        warm_total_s=warm_total,
        fresh_s=fresh_s,
    )


def steps(t: Timings) -> list[tuple[str, str]]:
    """Each step's label and time, as printed and as the results page's table."""
    verdict = "ok" if t.warm_auto_s <= BOUND_S else "OVER"
    return [
        ("load profile", f"{t.load_s * 1e3:.1f} ms"),
        ("first recommend (grid)", f"{t.first_s * 1e3:.1f} ms"),
        (
            "warm recommend, epochs auto",
            f"{t.warm_auto_s * 1e3:.1f} ms (median of {REPEATS}; bound {BOUND_S * 1e3:.0f} ms: {verdict})",
        ),
        ("warm recommend, epochs 64", f"{t.warm_fixed_s * 1e3:.1f} ms"),
        ("warm recommend, training-energy", f"{t.warm_total_s * 1e3:.1f} ms"),
        ("warm, new candidates each call", f"{t.fresh_s * 1e3:.1f} ms (energy draws recomputed; median of 5)"),
        ("warm auto / first", f"{t.warm_auto_s / t.first_s:.2f}"),
    ]


def summary(t: Timings) -> list[str]:
    """The lines above the table: what was searched."""
    return [
        f"dataset {t.dataset} at accuracy {t.accuracy}: {t.grid_configs} grid configs -> {t.networks} distinct "
        f"networks x {len(LEARNING_RATES)} learning rates x {len(BATCH_SIZES)} batch sizes x "
        f"{len(EPOCH_CHOICES)} epoch choices",
        f"draws: {ENGINE_DRAWS} energy x 2 phases, {ACCURACY_DRAWS} accuracy ({SCREEN_DRAWS} in the recipe screen)",
    ]


def body_md(t: Timings, profile_path: Path | None) -> str:
    """The results page's body: the profile, what was searched, and the table of steps."""
    profile = str(profile_path) if profile_path is not None else "the shipped reference profile"
    lines = [f"Profile: {profile}.", "", *(f"{line}." for line in summary(t)), ""]
    return "\n".join(lines) + "\n" + markdown_table(("step", "time"), steps(t)) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", type=Path, help="profile folder (default: the shipped reference)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--accuracy", type=float, default=0.95)
    add_page_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Time, print the table, write the results page."""
    args = parse_args(argv)
    timings = measure(args.profile, args.dataset, args.accuracy)
    for line in summary(timings):
        print(line)
    for label, value in steps(timings):
        print(f"{label:<38} {value}")
    page_from_args(
        args,
        "recommend",
        f"Full-grid recommend latency ({args.dataset} at {args.accuracy})",
        body_md(timings, args.profile),
    )


if __name__ == "__main__":
    main()
