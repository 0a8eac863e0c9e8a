"""Time a full-grid recommendation from the shipped reference profile.

Prints the median of repeats for: loading the profile, the first recommend (builds and caches the
candidate grid), and warm recommends over the whole BUTTER grid; the ratio warm/first is the baseline
comparison measured in the same run.

    python benchmarks/recommend.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import advisor
from advisor.engine import ENGINE_DRAWS, candidate_grid

REPEATS = 15


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    load_s = timed(advisor.load_profile)
    profile = advisor.load_profile()
    dataset = sorted(profile.profile.accuracy)[0]
    info = profile.profile.accuracy[dataset].info
    first_s = timed(lambda: advisor.recommend(profile, dataset, 0.5))
    warm = [timed(lambda: advisor.recommend(profile, dataset, 0.5)) for _ in range(REPEATS)]
    candidates = len(candidate_grid(int(info["input_dim"]), int(info["output_dim"])))
    draws = ENGINE_DRAWS
    print(f"dataset {dataset}: {candidates} candidates x {draws} posterior draws x 2 phases")
    print(f"load profile            {load_s * 1e3:8.1f} ms")
    print(f"first recommend (grid)  {first_s * 1e3:8.1f} ms")
    print(f"warm recommend (median of {REPEATS}) {statistics.median(warm) * 1e3:8.1f} ms")
    print(f"warm / first            {statistics.median(warm) / first_s:8.2f}")


if __name__ == "__main__":
    main()
