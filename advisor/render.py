"""Words for people: the engine and the jobs return data and typed verdicts; this says them in one place.

The CLI, the TUI and the Python API (``frame.attrs["message"]``) all use these functions, so a result
reads the same everywhere.
"""

from __future__ import annotations

from advisor.engine import Recommendation, Verdict

ESTIMATE_NOTE = " (energy is an ESTIMATE: the calibration had no energy counter)"


def summary_line(result: Recommendation) -> str:
    """One line: how many candidates meet the budget and the best one, or the best achievable score."""
    request = result.request
    what = "test loss" if result.regression else "accuracy"
    if result.verdict is Verdict.INFEASIBLE:
        line = (f"no candidate reaches {what} {request.accuracy:g} with probability >= {request.confidence:g}; "
                f"best achievable {what} (posterior mean) is {result.best_achievable:.4g}")  # fmt: skip
    else:
        top = result.table.iloc[0]
        best = f"best: {top['shape']} depth {top['depth']} size {top['size']}"
        line = (f"{result.feasible} of {len(result.candidates)} candidates meet {what} {request.accuracy:g} with "
                f"P >= {request.confidence:g}; {best}")  # fmt: skip
    return line + (ESTIMATE_NOTE if result.estimated else "")


def energy_label(estimated: bool) -> str:
    """``ESTIMATED energy`` or ``measured energy``: every report says which."""
    return "ESTIMATED energy" if estimated else "measured energy"
