"""Energy-model benchmark on the shipped reference runs: fit time (cold and warm compile cache) and
grouped hold-out accuracy of the tier model against the baselines, printed as tables.

Cold = a fresh, empty compile cache (``ADVISOR_PYTENSOR_CACHE``: PyTensor's, and numba's cache of the fused
energy kernel beneath it); warm = the same cache again. Each fit runs in its own
process (as `advisor fit` does), so import time is counted separately from fit time.

    python benchmarks/energy_model.py [--repeats 3] [--folds 5] [--calibration-only] [--fit-only]

``--calibration-only`` fits the calibration runs alone (what a 10-minute ``advisor calibrate`` gives);
``--fit-only`` skips the hold-out evaluation. Each fit's process also times the kernel's gradient (single
thread, after the fit): the host's speed in that run, since the same VM has run it from 63 to 108 µs in one hour.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import add_page_options, markdown_table, page_from_args  # noqa: E402

RUNS = ROOT / "data" / "reference" / "runs.csv"
FIT_SNIPPET = f"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from advisor.evaluation import read_runs
from measurement.hardware import Fingerprint
from measurement.tiers import device_tiers
from models.energy import ENERGY_FIT, fit
from models.features import training_frame
from models.pipeline import select_runs
runs, _ = select_runs(read_runs(Path({str(RUNS)!r})))
if sys.argv[1] == "calibration":
    runs = runs[runs["sweep_kind"] == "calibrate"]
fp = Fingerprint.from_dict(json.loads(Path({str(RUNS.with_name("fingerprint.json"))!r}).read_text()))
frame = training_frame(runs)
t1 = time.perf_counter()
posterior = fit(frame, ENERGY_FIT, device_tiers(fp, "cpu"))
t2 = time.perf_counter()
from models.energy import energy_data
from models.energy_density import EnergyDensity
density = EnergyDensity(energy_data(frame, device_tiers(fp, "cpu")))
theta = density.start_point()
t3 = time.perf_counter()
for _ in range(2000):
    density.logp_and_grad(theta)
gradient_us = (time.perf_counter() - t3) / 2000 * 1e6
d = posterior.diagnostics
print(json.dumps({{"import_s": t1 - t0, "fit_s": t2 - t1, "converged": d.converged, "divergences": d.divergences,
                  "observations": len(frame), "gradient_us": gradient_us, "draws": d.draws,
                  "r_hat": d.max_r_hat, "ess_bulk": d.min_ess_bulk}}))
"""


def fit_once(cache: Path, runs: str = "all") -> dict:
    env = {**os.environ, "ADVISOR_PYTENSOR_CACHE": str(cache)}
    env.pop("PYTENSOR_FLAGS", None)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FIT_SNIPPET, runs], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def fit_row(name: str, runs: list[dict]) -> tuple:
    """One table row: medians over the repeats, convergence of every one."""

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    draws = "/".join(str(r["draws"]) for r in runs)
    return (name, f"{median('fit_s'):.1f}", f"{median('process_s'):.1f}", all(r["converged"] for r in runs), draws,
            f"{max(r['r_hat'] for r in runs):.3f}", f"{min(r['ess_bulk'] for r in runs):.0f}",
            f"{median('gradient_us'):.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--calibration-only", action="store_true", help="fit the calibration runs alone")
    parser.add_argument("--fit-only", action="store_true", help="time the fits; skip the hold-out evaluation")
    add_page_options(parser)
    args = parser.parse_args()
    which = "calibration" if args.calibration_only else "all"
    cold, warm = [], []
    for _ in range(args.repeats):
        cache = Path(tempfile.mkdtemp(prefix="pytensor-cold-"))
        cold.append(fit_once(cache, which))
        warm.append(fit_once(cache, which))
    rows = [fit_row(name, runs) for name, runs in (("cold", cold), ("warm", warm))]
    header = ("cache", "fit s", "process s", "converged", "draws per chain", "max r̂", "min bulk ESS", "gradient µs")
    title = f"fit of {cold[0]['observations']} observations ({which} reference runs), median of {args.repeats}"
    table = markdown_table(header, rows)
    print(title + ":\n" + table)
    print("(gradient µs: one evaluation of the kernel after the fit, in the same process: how fast this host ran)")
    intro = f"{title}, `advisor fit`'s defaults (ENERGY_FIT: until converged), each fit in its own process.\n\n"
    page_from_args(args, f"energy-fit-{which}", f"Energy model fit time ({which} reference runs)", intro + table + "\n")
    if args.fit_only:
        return

    sys.path.insert(0, str(ROOT))
    from advisor.evaluation import evaluate_runs

    evaluation = evaluate_runs(runs=RUNS, folds=args.folds)
    floor = f"{evaluation.noise_floor:.1%}" if evaluation.noise_floor is not None else "n/a"
    print(f"\ngrouped {evaluation.folds}-fold hold-out, {evaluation.held_out} observations, noise floor {floor}")
    print(f"{'predictor':<22} {'median APE':>11} {'within ±10%':>12} {'90% coverage':>13}")
    for s in evaluation.scores:
        coverage = f"{s.coverage_90:.1%}" if s.coverage_90 is not None else "—"
        print(f"{s.name:<22} {s.median_ape:>11.1%} {s.within_10pct:>12.1%} {coverage:>13}")


if __name__ == "__main__":
    main()
