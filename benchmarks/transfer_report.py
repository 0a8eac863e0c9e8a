"""The transfer benchmark's scores and how they are shown: per phase against issue 12's acceptance bounds, printed,
as JSON and as the results page (``benchmarks/transfer.py`` measures and predicts; this module scores and reports).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import markdown_table
from measurement.records import relative_difference

PHASES = ("train", "inference")
BOUNDS = {"median_ape": 0.10, "floor_multiple": 3.0, "worst_ratio": 1.5, "coverage": (0.80, 0.95), "improvement": 3.0}
"""Issue 12's acceptance bounds on networks at unseen input widths."""
SCORE_COLUMNS = (
    "phase",
    "configs",
    "median APE",
    "within ±10%",
    "worst ratio",
    "90% coverage",
    "noise floor",
    "APE ÷ floor",
    "params line",
    "model better by",
    "trees APE",
    "trees 90% coverage",
)
"""The results page's columns of :func:`score_rows`."""
CONFIG_COLUMNS = ("shape", "depth", "params", "in", "batch", "measured J", "predicted J", "ratio", "in 90%", "trees J")
"""The results page's columns of :func:`config_rows`."""


@dataclass(frozen=True)
class PhaseScore:
    """One phase's transfer scores (fractions, not percent; ratios predicted / measured)."""

    phase: str
    configs: int
    median_ape: float
    within_10pct: float
    worst_ratio: float
    coverage_90: float
    noise_floor: float
    params_line_ape: float
    trees_median_ape: float | None = None
    """The gradient-boosted trees' median APE (None: no trees, see ``transfer.TREES_COLUMNS``)."""
    trees_coverage_90: float | None = None

    @property
    def ape_over_floor(self) -> float:
        """Median APE in units of the noise floor (inf for a zero floor)."""
        return self.median_ape / self.noise_floor if self.noise_floor > 0 else math.inf

    @property
    def improvement(self) -> float:
        """How many times lower the model's median APE is than the params line's."""
        return self.params_line_ape / self.median_ape if self.median_ape > 0 else math.inf


def params_line_coefficient(measured_j: np.ndarray, params: np.ndarray) -> float:
    """The best one-constant rule E = a * params for these measurements: a = exp(median(ln E - ln params))."""
    return float(np.exp(np.median(np.log(measured_j) - np.log(params))))


def ape(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Absolute percentage errors |predicted / measured - 1| (fractions)."""
    return np.abs(np.asarray(predicted, float) / np.asarray(measured, float) - 1.0)


def score(table: pd.DataFrame, phase: str) -> PhaseScore:
    """Score one phase of a results table (rows with a rejected pass are left out)."""
    rows = table[(table["phase"] == phase) & np.isfinite(table["measured_j"]) & (table["measured_j"] > 0)]
    measured, predicted = rows["measured_j"].to_numpy(float), rows["predicted_j"].to_numpy(float)
    errors = ape(predicted, measured)
    ratios = predicted / measured
    line = params_line_coefficient(measured, rows["params"].to_numpy(float)) * rows["params"].to_numpy(float)
    floor = [relative_difference(a, b) for a, b in zip(rows["pass1_j"], rows["pass2_j"], strict=True)]
    trees = rows["trees_j"].to_numpy(float)
    has_trees = bool(len(rows)) and bool(np.isfinite(trees).all())
    inside = (measured >= rows["trees_p05_j"].to_numpy(float)) & (measured <= rows["trees_p95_j"].to_numpy(float))
    return PhaseScore(
        phase=phase,
        configs=len(rows),
        median_ape=float(np.median(errors)),
        within_10pct=float(np.mean(errors <= 0.10)),
        worst_ratio=float(np.max(np.maximum(ratios, 1 / ratios))),
        coverage_90=float(rows["inside_90"].mean()),
        noise_floor=float(statistics.median(floor)),
        params_line_ape=float(np.median(ape(line, measured))),
        trees_median_ape=float(np.median(ape(trees, measured))) if has_trees else None,
        trees_coverage_90=float(np.mean(inside)) if has_trees else None,
    )


def acceptance(s: PhaseScore) -> list[tuple[str, bool]]:
    """Each bound of issue 12 and whether this phase's scores meet it."""
    low, high = BOUNDS["coverage"]
    floor = f"median APE {s.ape_over_floor:.1f}x the noise floor ({s.noise_floor:.1%})"
    line = f"{s.improvement:.1f}x lower median APE than the params line ({s.params_line_ape:.1%})"
    return [
        (f"median APE {s.median_ape:.1%} <= {BOUNDS['median_ape']:.0%}", s.median_ape <= BOUNDS["median_ape"]),
        (f"{floor} <= {BOUNDS['floor_multiple']:.0f}x", s.ape_over_floor <= BOUNDS["floor_multiple"]),
        (f"worst ratio {s.worst_ratio:.2f}x <= {BOUNDS['worst_ratio']}x", s.worst_ratio <= BOUNDS["worst_ratio"]),
        (f"90% coverage {s.coverage_90:.0%} in {low:.0%}-{high:.0%}", low <= s.coverage_90 <= high),
        (f"{line} >= {BOUNDS['improvement']:.0f}x", s.improvement >= BOUNDS["improvement"]),
    ]


def print_table(table: pd.DataFrame, phase: str) -> None:
    """Per config: shape, depth, params, input width, batch, measured, predicted, ratio, inside the 90%?, and the
    gradient-boosted trees' prediction (nan: no trees)."""
    print(f"\n{phase} phase (J per datum; measured = mean of two passes)")
    print(
        f"{'shape':<19} {'depth':>5} {'params':>10} {'in':>4} {'batch':>5} {'measured':>10} {'predicted':>10} "
        f"{'ratio':>6} {'90%':>4} {'trees':>10}"
    )
    for r in table[table["phase"] == phase].itertuples():
        config = f"{r.shape:<19} {r.depth:>5} {r.params:>10,} {r.input_dim:>4} {r.batch_size:>5}"
        inside = "yes" if r.inside_90 else "no"
        print(f"{config} {r.measured_j:>10.3g} {r.predicted_j:>10.3g} {r.ratio:>6.2f} {inside:>4} {r.trees_j:>10.3g}")


def print_score(s: PhaseScore) -> None:
    """The phase's summary and each acceptance bound (they apply to every phase)."""
    print(
        f"\n{s.phase}: {s.configs} configs · median APE {s.median_ape:.1%} · within ±10% {s.within_10pct:.0%} · "
        f"worst ratio {s.worst_ratio:.2f}x · 90% coverage {s.coverage_90:.0%} · noise floor {s.noise_floor:.1%} "
        f"(APE/floor {s.ape_over_floor:.1f}) · params line {s.params_line_ape:.1%} "
        f"(model {s.improvement:.1f}x better) · gradient-boosted trees {_trees(s)}"
    )
    for text, ok in acceptance(s):
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")


def _trees(s: PhaseScore) -> str:
    """The trees' median APE and 90% coverage, or that there are none."""
    if s.trees_median_ape is None:
        return "none (no training runs: --runs FILE)"
    return f"{s.trees_median_ape:.1%} (90% coverage {s.trees_coverage_90:.0%})"


def write_json(path: Path, table: pd.DataFrame, scores: Sequence[PhaseScore], elapsed_s: float) -> None:
    """Every row and score as JSON (atomic)."""
    from measurement.atomic import atomic_path

    blob = {
        "elapsed_s": elapsed_s,
        "rows": json.loads(table.to_json(orient="records")),
        "scores": [_score_json(s) for s in scores],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(blob, indent=2))


def _score_json(s: PhaseScore) -> dict[str, object]:
    return {
        **asdict(s),
        "ape_over_floor": s.ape_over_floor,
        "improvement": s.improvement,
        "acceptance": [{"bound": text, "holds": ok} for text, ok in acceptance(s)],
    }


def score_rows(scores: Sequence[PhaseScore]) -> list[tuple[object, ...]]:
    """One results-page row per phase: the scores, in percent and ratios (:data:`SCORE_COLUMNS`)."""
    return [
        (
            s.phase,
            s.configs,
            f"{s.median_ape:.1%}",
            f"{s.within_10pct:.0%}",
            f"{s.worst_ratio:.2f}x",
            f"{s.coverage_90:.0%}",
            f"{s.noise_floor:.1%}",
            f"{s.ape_over_floor:.1f}x",
            f"{s.params_line_ape:.1%}",
            f"{s.improvement:.1f}x",
            "—" if s.trees_median_ape is None else f"{s.trees_median_ape:.1%}",
            "—" if s.trees_coverage_90 is None else f"{s.trees_coverage_90:.0%}",
        )
        for s in scores
    ]


def config_rows(table: pd.DataFrame, phase: str) -> list[tuple[object, ...]]:
    """One results-page row per config of a phase: measured beside predicted (:data:`CONFIG_COLUMNS`)."""
    return [
        (
            r.shape,
            r.depth,
            f"{r.params:,}",
            r.input_dim,
            r.batch_size,
            f"{r.measured_j:.3g}",
            f"{r.predicted_j:.3g}",
            f"{r.ratio:.2f}",
            "yes" if r.inside_90 else "no",
            "—" if math.isnan(r.trees_j) else f"{r.trees_j:.3g}",
        )
        for r in table[table["phase"] == phase].itertuples()
    ]


def page_body(
    names: Sequence[str], tables: Sequence[pd.DataFrame], scores: Sequence[Sequence[PhaseScore]], elapsed_s: float
) -> str:
    """The results page: per profile, the scores per phase, each acceptance bound, and every config."""
    parts = [
        f"{len(tables[0]) // len(PHASES)} configs, measured twice; {elapsed_s:.0f} s in all. Trees: gradient-boosted "
        "trees (scikit-learn's histogram gradient boosting on the energy model's features, 5% and 95% quantile "
        "trees for the interval) fit on the runs the profile was fit on."
    ]
    for name, table, phase_scores in zip(names, tables, scores, strict=True):
        parts += [f"## Profile: {name}", markdown_table(SCORE_COLUMNS, score_rows(phase_scores))]
        verdicts = [
            f"- {s.phase}: [{'PASS' if ok else 'FAIL'}] {text}" for s in phase_scores for text, ok in acceptance(s)
        ]
        parts.append("\n".join(verdicts))
        for phase in PHASES:
            parts += [
                f"### {name}: {phase} phase (J per datum)",
                markdown_table(CONFIG_COLUMNS, config_rows(table, phase)),
            ]
    return "\n\n".join(parts) + "\n"
