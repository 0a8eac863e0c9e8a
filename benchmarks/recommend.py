"""Time full-grid recommendations (every distinct network of the BUTTER grid x the epoch choices).

Prints the median of repeats for: loading the profile, the first recommend (builds and caches the candidate
grid), and warm recommends over the whole grid with ``--epochs auto`` (the fewest of the epoch choices meeting
the budget, per network: the full grid x epoch choices), with a fixed number of epochs, and with the
training-energy objective; the ratio warm/first is the baseline comparison measured in the same run. The
issue's bound: warm auto <= 0.5 s.

    python benchmarks/recommend.py [PROFILE_FOLDER] [--dataset digits] [--accuracy 0.95]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import advisor
from advisor import engine
from advisor.engine import ACCURACY_DRAWS, ENGINE_DRAWS, candidate_grid
from models.accuracy import EPOCH_CHOICES

REPEATS = 15
BOUND_S = 0.5


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_s(fn, repeats: int = REPEATS) -> float:
    """Median wall time of ``repeats`` calls."""
    return statistics.median(timed(fn) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", type=Path, help="profile folder (default: the shipped reference)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--accuracy", type=float, default=0.95)
    args = parser.parse_args()
    load_s = timed(lambda: advisor.load_profile(args.profile))
    profile = advisor.load_profile(args.profile)
    info = profile.datasets[args.dataset]

    def ask(**options):
        return advisor.advise(profile, args.dataset, args.accuracy, top=10, **options)

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
    print(
        f"dataset {args.dataset}: {grid} grid configs -> {len(result.candidates)} distinct networks x "
        f"{len(EPOCH_CHOICES)} epoch choices"
    )
    print(f"draws: {ENGINE_DRAWS} energy x 2 phases, {ACCURACY_DRAWS} accuracy")
    print(f"load profile                           {load_s * 1e3:8.1f} ms")
    print(f"first recommend (grid)                 {first_s * 1e3:8.1f} ms")
    verdict = "ok" if warm_auto <= BOUND_S else "OVER"
    print(
        f"warm recommend, epochs auto            {warm_auto * 1e3:8.1f} ms  (median of {REPEATS}; bound "
        f"{BOUND_S * 1e3:.0f} ms: {verdict})"
    )
    print(f"warm recommend, epochs 64              {warm_fixed * 1e3:8.1f} ms")
    print(f"warm recommend, training-energy        {warm_total * 1e3:8.1f} ms")
    print(f"warm, new candidates each call         {fresh_s * 1e3:8.1f} ms  (energy draws recomputed; median of 5)")
    print(f"warm auto / first                      {warm_auto / first_s:8.2f}")


if __name__ == "__main__":
    main()
