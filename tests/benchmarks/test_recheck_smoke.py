"""benchmarks/recheck.py's scoring, acceptance, the three ways of predicting and the competing neighbours (no
measuring: the panel and the configs run for real only in the benchmark itself)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from models.machine_state import DayVariation, MachineState, PhaseScale, Recheck
from models.profile import Profile

ROOT = Path(__file__).resolve().parents[2]


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("recheck_benchmark", ROOT / "benchmarks" / "recheck.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


def test_acceptance_reads_issue_30s_bounds() -> None:
    rows = [
        {"way": "recheck", "phase": "train", "ape_over_floor": 1.9, "coverage_90": 0.85},
        {"way": "recheck", "phase": "inference", "ape_over_floor": 2.1, "coverage_90": 0.97},
        {"way": "no recheck", "phase": "train", "coverage_90": 0.74},
        {"way": "bare", "phase": "train", "coverage_90": 0.1},  # judged by nothing
    ]
    verdicts = dict(bench.acceptance(rows))
    assert verdicts == {
        "recheck train: median APE <= 2x floor": True,
        "recheck train: coverage 80-95%": True,
        "recheck inference: median APE <= 2x floor": False,
        "recheck inference: coverage 80-95%": False,
        "no recheck train: coverage >= 75%": False,
    }


def test_three_ways_share_a_mean_until_the_recheck_scales_it(thin_reference: Path) -> None:
    profile = Profile.load(thin_reference)
    recheck = Recheck("p", "m", 1e9, (PhaseScale(0.3, 0.0), PhaseScale(0.3, 0.0)), 0.01, 0.0, 20)
    ways = bench.profiles_three_ways(profile, MachineState(recheck, DayVariation(0.2), 1e9))
    frames = {w: p.predict(shape=["rectangle"], depth=[3], size=[2**15], input_dim=[784], output_dim=[10])
              for w, p in ways.items()}  # fmt: skip
    means = {w: float(f["energy_mean_j"].iloc[0]) for w, f in frames.items()}
    assert means["no recheck"] == means["bare"] and np.isclose(means["recheck"], means["bare"] * np.exp(0.3))
    width = {w: float(f["predictive_p95_j"].iloc[0] / f["predictive_p05_j"].iloc[0]) for w, f in frames.items()}
    assert width["no recheck"] > width["bare"]


def test_competing_processes_run_while_inside_and_are_gone_after() -> None:
    with bench.competing(1, settle_s=0.0) as procs:
        assert len(procs) == 1 and procs[0].poll() is None
    assert procs[0].poll() is not None
