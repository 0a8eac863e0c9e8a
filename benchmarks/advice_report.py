"""What benchmarks/advice.py measured, summarised: the records, the comparison per data set and objective, the
printed tables, the results page and the JSON.

The comparison: a pick's energy to the budget is the median over its seeds (a seed that never reached the budget
counts its whole run, flagged); a naive baseline's likewise over the same seeds; the cheapest naive baseline is the
cheapest of those that reached the budget on at least half their seeds; the brute-force cheapest is the cheapest
pair that reached it. A ratio below 1 means the advice saved energy.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import markdown_table
from measurement.atomic import atomic_path


@dataclass(frozen=True)
class Budget:
    """The score a run must reach: a test accuracy at least ``value``, or a test loss at most it (regression)."""

    value: float
    regression: bool

    def met(self, score: float) -> bool:
        """Whether ``score`` meets the budget (NaN never does)."""
        if math.isnan(score):
            return False
        return score <= self.value * (1 + 1e-9) if self.regression else score >= self.value - 1e-9

    def words(self) -> str:
        """``test accuracy >= 0.89`` or ``test loss <= 0.0123``."""
        return f"test loss <= {self.value:.4g}" if self.regression else f"test accuracy >= {self.value:.2f}"


REGRESSION_BUDGET_FACTOR = 1.25
CLASSIFICATION_BUDGET_POINTS = 2


def budget_for(info) -> tuple[Budget, float]:
    """The budget near the best probed score of a profile's data set (``AccuracyInfo``), and that score."""
    regression = info.task == "regression"
    if info.frontier:
        best = float(info.frontier[0].score)
    else:  # best_observed is -ln(loss) for regression
        best = math.exp(-info.best_observed) if regression else float(info.best_observed)
    if regression:
        return Budget(REGRESSION_BUDGET_FACTOR * best, regression=True), best
    points = math.floor(round(100 * best - CLASSIFICATION_BUDGET_POINTS, 6))
    return Budget(max(points, 1) / 100, regression=False), best


@dataclass(frozen=True)
class Reach:
    """One training run scored against the budget.

    Attributes:
        epochs_trained: epochs of the run (its last stage for a staged run).
        final_score: test accuracy (test loss for regression) at the end of the run.
        met: whether the final score meets the budget.
        reached: whether a learning-curve checkpoint met it.
        epochs_to_budget: epochs at the first checkpoint that met it (NaN: none).
        energy_per_datum_j: measured energy per training datum (train phase; NaN: rejected).
        energy_to_budget_j: energy_per_datum_j x train samples x epochs_to_budget (never reached: x epochs_trained).
        wall_s: wall seconds, every stage included.
    """

    label: str
    seed: int
    learning_rate: float
    batch_size: int
    params: int
    epochs_trained: float
    final_score: float
    met: bool
    reached: bool
    epochs_to_budget: float
    energy_per_datum_j: float
    energy_to_budget_j: float
    wall_s: float


@dataclass(frozen=True)
class TrialResult:
    """A naive baseline's runs over the seeds, or one brute-force pair's single run."""

    label: str
    runs: tuple[Reach, ...]

    @property
    def reached_share(self) -> float:
        """The share of runs that reached the budget."""
        return sum(r.reached for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def energy_to_budget_j(self) -> float:
        """Median energy to the budget over the runs (whole-run energy where never reached)."""
        return _median(r.energy_to_budget_j for r in self.runs)


@dataclass(frozen=True)
class Pick:
    """One objective's top recommendation (``row``: empty when nothing met the budget) and its runs."""

    objective: str
    row: dict
    runs: tuple[Reach, ...]
    message: str = ""

    @property
    def measured_over_predicted(self) -> float:
        """Median measured energy per datum over the prediction (NaN without a pick)."""
        predicted = self.row.get("energy_per_datum_j", math.nan)
        return _median(r.energy_per_datum_j for r in self.runs) / predicted if self.runs else math.nan

    @property
    def energy_to_budget_j(self) -> float:
        """Median energy to the budget over the seeds (NaN without a pick)."""
        return _median(r.energy_to_budget_j for r in self.runs)


@dataclass(frozen=True)
class DatasetResult:
    """Everything measured on one data set."""

    name: str
    source: str
    task: str
    train_samples: int
    budget: Budget
    best_probed: float
    probe_wall_s: float
    picks: tuple[Pick, ...]
    naive: tuple[TrialResult, ...]
    brute: tuple[TrialResult, ...]
    wall_s: float

    def cheapest_naive(self) -> TrialResult | None:
        """The naive baseline with the least median energy among those reaching the budget on >= half the seeds."""
        ok = [t for t in self.naive if t.reached_share >= 0.5]
        return min(ok, key=lambda t: t.energy_to_budget_j, default=None)

    def cheapest_brute(self) -> TrialResult | None:
        """The brute-force pair with the least energy among those that reached the budget."""
        ok = [t for t in self.brute if t.reached_share > 0]
        return min(ok, key=lambda t: t.energy_to_budget_j, default=None)


def machine_line(fp) -> str:
    """The machine in one line: CPU (and GPU), logical cores, cache sizes, memory."""
    caches = ", ".join(f"{name} {size // 1024} KiB" for name, size in fp.cpu_tiers())
    return f"{fp.describe()}, {fp.logical_cores} logical cores, {caches}, {fp.memory_bytes / 2**30:.0f} GiB"


def reach_words(reach: Reach) -> str:
    """A run in words for a progress line: where it reached the budget, its final score, energies, time."""
    where = f"budget at epoch {reach.epochs_to_budget:g}" if reach.reached else "never reached"
    return (
        f"{where}, final {reach.final_score:.4g}, {reach.energy_per_datum_j:.3g} J/datum, "
        f"{reach.energy_to_budget_j:.3g} J{'' if reach.reached else ' (whole run)'}, {reach.wall_s:.0f} s"
    )


def _median(values) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def pick_label(pick: Pick) -> str:
    """``exponential/d3/491-70-10 lr 0.001 b256 x16 ep`` (or why there is none)."""
    row = pick.row
    if not row:
        return "none: " + pick.message[:120]
    return (
        f"{row['shape']}/d{row['depth']}/{row['widths']} lr {row['learning_rate']:g} b{row['batch_size']} "
        f"x{row['epochs']:g} ep"
    )


def summary_rows(result: DatasetResult) -> list[dict]:
    """One row per objective: the pick's predicted P(meet), met/seeds, measured/predicted J/datum, its energies
    and its ratios."""
    cheapest, brute = result.cheapest_naive(), result.cheapest_brute()
    rows = []
    for pick in result.picks:
        energy = pick.energy_to_budget_j
        advised = _median(r.energy_per_datum_j * result.train_samples * r.epochs_trained for r in pick.runs)
        row = {
            "dataset": result.name,
            "objective": pick.objective,
            "pick": pick_label(pick),
            "met": sum(r.met for r in pick.runs),
            "seeds": len(pick.runs),
            "p_meet": pick.row.get("p_meet", math.nan),
            "measured_over_predicted": pick.measured_over_predicted,
            "predicted_training_j": pick.row.get("training_energy_j", math.nan),
            "as_advised_j": advised,
            "energy_to_budget_j": energy,
            "reached_all": all(r.reached for r in pick.runs) and bool(pick.runs),
        }
        row |= {f"over {t.label}": _ratio(energy, t.energy_to_budget_j) for t in result.naive}
        row["over_cheapest_naive"] = _ratio(energy, cheapest.energy_to_budget_j) if cheapest else math.nan
        row["over_brute"] = _ratio(energy, brute.energy_to_budget_j) if brute else math.nan
        rows.append(row)
    return rows


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def summary_table(results: Sequence[DatasetResult]) -> str:
    """The headline table (Markdown): per data set and objective."""
    header = [
        "data set",
        "budget",
        "objective",
        "pick",
        "P(meet) predicted",
        "met/seeds",
        "measured/predicted J/datum",
        "J to budget (median)",
        "J as advised",
        "÷ cheapest naive",
        "÷ brute cheapest",
        "÷ each naive",
    ]
    rows = []
    for result in results:
        for row in summary_rows(result):
            naive = ", ".join(f"{t.label} {_fmt(row[f'over {t.label}'], 2)}" for t in result.naive)
            flag = " (a seed never reached it: whole run)" if row["seeds"] and not row["reached_all"] else ""
            rows.append(
                [
                    result.name,
                    result.budget.words(),
                    row["objective"],
                    row["pick"],
                    _fmt(row["p_meet"], 2),
                    f"{row['met']}/{row['seeds']}",
                    _fmt(row["measured_over_predicted"]),
                    _fmt(row["energy_to_budget_j"]) + flag,
                    _fmt(row["as_advised_j"]),
                    _fmt(row["over_cheapest_naive"], 2),
                    _fmt(row["over_brute"], 2),
                    naive,
                ]
            )
    return markdown_table(header, rows)


def trials_table(result: DatasetResult) -> str:
    """Every naive baseline and brute-force pair of a data set (Markdown)."""
    header = [
        "kind",
        "network and recipe",
        "params",
        "reached",
        "epochs to budget (median)",
        "J/datum",
        "J to budget (median)",
        "wall s",
    ]
    rows = []
    for kind, trials in (("naive", result.naive), ("brute", result.brute)):
        for t in trials:
            runs = t.runs
            rows.append(
                [
                    kind,
                    t.label,
                    runs[0].params if runs else "",
                    f"{sum(r.reached for r in runs)}/{len(runs)}",
                    _fmt(_median(r.epochs_to_budget for r in runs)),
                    _fmt(_median(r.energy_per_datum_j for r in runs)),
                    _fmt(t.energy_to_budget_j),
                    f"{sum(r.wall_s for r in runs):.0f}",
                ]
            )
    return markdown_table(header, rows)


def dataset_lines(result: DatasetResult) -> list[str]:
    """A data set's facts: source, budget and the best probed score, probe and total wall time."""
    cheapest, brute = result.cheapest_naive(), result.cheapest_brute()
    return [
        f"**{result.name}** ({result.source}; {result.task}, {result.train_samples} training rows): budget "
        f"{result.budget.words()}, best probed {result.best_probed:.4g}; probe and fit {result.probe_wall_s:.0f} s, "
        f"all {result.wall_s / 60:.1f} min. Cheapest naive: {cheapest.label if cheapest else 'none reached it'}"
        f" ({_fmt(cheapest.energy_to_budget_j) if cheapest else 'n/a'} J); brute-force cheapest: "
        f"{brute.label if brute else 'none reached it'} ({_fmt(brute.energy_to_budget_j) if brute else 'n/a'} J).",
    ]


RULES = (
    "Budget: classification floor(100 x best probed accuracy - 2) / 100 (two points under the best probed run, "
    "rounded down to a point); regression 1.25 x the best probed test loss. Energies: the estimate meter (idle 0); "
    "energy to the budget = measured J/datum x training rows x the epochs of the first learning-curve checkpoint "
    "(1, 2, 4, …) that meets it; 'as advised' = the whole recommended run. Ratios below 1: the advice saved energy."
)


def page_body(results: Sequence[DatasetResult], settings, machine: str) -> str:
    """The results page's Markdown: machine, settings, rules, the headline table, then each data set's trials."""
    parts = [
        f"Machine (fingerprint): {machine}.",
        f"Settings: {_settings_words(settings)}.",
        RULES,
        "",
        summary_table(results),
    ]
    for result in results:
        parts += ["", *dataset_lines(result), "", trials_table(result)]
    return "\n".join(parts)


def _settings_words(settings) -> str:
    s = settings
    return (
        f"probe budget {s.probe_budget_s:g} s, {s.seeds} seed(s), {s.brute} brute-force pairs, runs capped at "
        f"{s.max_epochs} epochs and ~{s.run_cap_s:g} s of training, {s.windows} windows of {s.window_s:g} s"
        + (f"; probed as regressions: {', '.join(sorted(s.regression))}" if s.regression else "")
    )


def print_results(results: Sequence[DatasetResult], machine: str) -> None:
    """The headline table and each data set's trials, on stdout."""
    print(f"\nmachine: {machine}\n{RULES}\n\n{summary_table(results)}")
    for result in results:
        print("\n" + "\n".join(dataset_lines(result)) + "\n\n" + trials_table(result))


def to_json(results: Sequence[DatasetResult], settings, machine: str) -> dict:
    """Everything: the settings, the machine, per data set every run and the summary rows."""
    return {
        "machine": machine,
        "settings": dataclasses.asdict(settings) | {"regression": sorted(settings.regression)},
        "datasets": [dataclasses.asdict(r) | {"summary": summary_rows(r)} for r in results],
    }


def write_json(path: Path, results: Sequence[DatasetResult], settings, machine: str) -> None:
    """Write :func:`to_json` atomically (NaN as null)."""
    blob = json.dumps(_nulls(to_json(results, settings, machine)), indent=2, default=str)
    with atomic_path(path) as tmp:
        tmp.write_text(blob + "\n", encoding="utf-8")


def _nulls(value):
    """NaN and inf as None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nulls(v) for v in value]
    return value
