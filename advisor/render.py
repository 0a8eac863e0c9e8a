"""Words for people: the engine and the jobs return data and typed verdicts; this says them in one place.

The CLI, the TUI and the Python API (``frame.attrs["message"]``) all use these functions, so a result
reads the same everywhere.
"""

from __future__ import annotations

import shlex

from advisor.candidates import reached as met
from advisor.engine import Recommendation, Verdict
from models.accuracy import ProbedRun
from models.energy import EnergyPosterior
from models.features import TERM_UNITS

ESTIMATE_NOTE = " (energy is an ESTIMATE: the calibration had no energy counter)"


def warning_markup(line: str) -> str:
    """A warning as the CLI and the TUI show it (rich markup)."""
    return f"[yellow]warning:[/yellow] {line}"


def summary_line(result: Recommendation) -> str:
    """One line: how many candidates meet the budget and the best one, or the best achievable score."""
    request = result.request
    what = "test loss" if result.regression else "accuracy"
    if result.verdict is Verdict.PROBED:
        line = (
            f"no candidate reaches {what} {request.accuracy:g} with probability >= {request.confidence:g} by the "
            f"accuracy model, but probed runs did: the rows are their networks and recipes at the epochs they "
            f"reached it (P: a new seed's chance, from the config's own runs and how far seeds scatter), ranked by "
            f"{OBJECTIVE_WORDS[str(request.objective)]} / P; best: {_net(result.table.iloc[0])}"
        )
    elif result.verdict is Verdict.INFEASIBLE:
        line = (
            f"no candidate reaches {what} {request.accuracy:g} with probability >= {request.confidence:g}; "
            f"best achievable {what} (posterior mean, near the probed networks and recipes) is "
            f"{result.best_achievable:.4g}"
        )
    else:
        top = result.table.iloc[0]
        best = f"best: {_net(top)}"
        line = (
            f"{result.feasible} of {len(result.candidates)} candidates meet {what} {request.accuracy:g} with "
            f"P >= {request.confidence:g}; {best}"
        )
    return line + (ESTIMATE_NOTE if result.estimated else "")


def cost_lines(energy: EnergyPosterior) -> list[str]:
    """The fitted base cost of each term in J per its unit, and each tier's step factor (posterior medians)."""
    costs, steps = energy.cost_summary()
    return [
        "cost per unit: " + ", ".join(f"{term} {j:.2e} J/{TERM_UNITS[term]}" for term, j in costs.items()),
        "step factor per tier: " + " ".join(f"{name} ×{1 + r:.2f}" for name, r in steps.items()),
    ]


def energy_label(estimated: bool) -> str:
    """``ESTIMATED energy`` or ``measured energy``: every report says which."""
    return "ESTIMATED energy" if estimated else "measured energy"


SHAPE_ABBREVIATIONS = {
    "rectangle": "rect",
    "rectangle_residual": "rres",
    "trapezoid": "trap",
    "exponential": "exp",
    "wide_first_2x": "wf2",
    "wide_first_4x": "wf4",
    "wide_first_8x": "wf8",
    "wide_first_16x": "wf16",
}
OBJECTIVE_WORDS = {
    "energy-per-datum": "energy per datum",
    "training-energy": "training energy",
    "inference": "inference energy",
    "lifecycle": "lifecycle energy",
}
_PREFIXES = (
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
    (1e-15, "f"),
)


def si(value: float, unit: str = "J") -> str:
    """A value with an SI prefix and 2-3 significant digits: ``si(5.7e-5) == "57 µJ"``, ``si(1234.0) == "1.2 kJ"``."""
    if value != value:  # NaN
        return "-"
    if value == 0:
        return f"0 {unit}"
    scale, prefix = next(((s, p) for s, p in _PREFIXES if abs(value) >= s * 0.9995), _PREFIXES[-1])
    scaled = value / scale
    text = f"{scaled:.2g}" if abs(scaled) < 100 else f"{scaled:.0f}"
    return f"{float(text):g} {prefix}{unit}" if "e" not in text else f"{scaled:.0f} {prefix}{unit}"


def count(value: float) -> str:
    """A count in k / M / G with 2 significant digits (``1.2k``, ``884k``, ``13M``)."""
    return si(float(value), "").replace(" ", "")


def shapes_label(shapes: str, short: bool = True) -> str:
    """The shapes a network stands for: ``all 8`` when every shape, else their (abbreviated) names."""
    names = shapes.split(",")
    if len(names) == len(SHAPE_ABBREVIATIONS):
        return "all 8"
    return ",".join(SHAPE_ABBREVIATIONS.get(n, n) for n in names) if short else ",".join(names)


def compact_widths(widths: str, limit: int = 12) -> str:
    """Layer widths, run-length encoded (``64x3-10``: three layers of 64, then 10); longer than ``limit``
    characters: first and last width with a count (``512..10/20``), nothing cut off silently."""
    values = widths.split("-")
    runs: list[list] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    text = "-".join(v if n == 1 else f"{v}x{n}" for v, n in runs)
    return text if len(text) <= limit else f"{values[0]}..{values[-1]}/{len(values)}"


def legend_line(shapes: list[str]) -> str:
    """What the abbreviations in a table mean (only those it uses)."""
    used = sorted({n for s in shapes for n in s.split(",")}, key=list(SHAPE_ABBREVIATIONS).index)
    names = " ".join(f"{SHAPE_ABBREVIATIONS[n]}={n}" for n in used if n in SHAPE_ABBREVIATIONS)
    return f"shapes: {names}; all 8 = every shape (identical nets); widths 64x3-10 = 64,64,64,10; a..b/n = n layers"


def learning_rate_label(value: float) -> str:
    """A learning rate as people write it: 1e-3, 3e-4."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _net(row) -> str:
    recipe = f"lr {learning_rate_label(row['learning_rate'])} batch {row['batch_size']}"
    net = f"{shapes_label(row['shapes'])} d{row['depth']} {count(row['params'])} params"
    return f"{net}, {recipe}, {row['epochs']:g} epochs"


def probed_lines(result: Recommendation, limit: int = 3) -> list[str]:
    """For an empty answer: the probed runs that reached the budget or came closest, and what would settle it."""
    if result.verdict is Verdict.PROBED:
        return [_settle(result)]
    if result.verdict is not Verdict.INFEASIBLE or not result.probed:
        return []
    what = "test loss" if result.regression else "accuracy"
    budget = result.request.accuracy
    reached = [r for r in result.probed if met(r, budget, result.regression)]
    head = (
        f"probed runs reached {what} {budget:g} ({len(reached)} of those the profile keeps), too few to "
        f"promise it with P >= {result.request.confidence:g}; the best:"
        if reached
        else f"no probed run reached {what} {budget:g}; the closest:"
    )
    energy = dict(zip(result.probed, result.probed_energy_j, strict=False))
    label = "ESTIMATED" if result.estimated else "predicted"
    lines = [head, *(_probed_run(run, what, energy.get(run), label) for run in result.probed[:limit])]
    cheapest = min(reached, key=lambda run: run.compute, default=None)
    if cheapest is not None and cheapest not in result.probed[:limit]:
        lines += [
            "the cheapest probed run to reach it (parameters x epochs):",
            _probed_run(cheapest, what, energy.get(cheapest), label),
        ]
    lines.append(_settle(result))
    return lines


def _settle(result: Recommendation) -> str:
    return (
        f"to settle it: 'advisor probe {shlex.quote(result.request.dataset)} --extend' probes more networks and "
        "recipes around these, then ask again (or lower the confidence)"
    )


def _probed_run(run: ProbedRun, what: str, energy_j: float | None, label: str) -> str:
    """One probed run as a line of the empty answer, with its training energy to that checkpoint."""
    cost = f" ({label} {si(energy_j)} to train)" if energy_j is not None else ""
    return (
        f"  {SHAPE_ABBREVIATIONS.get(run.shape, run.shape)} d{run.depth} {count(run.params)} params, "
        f"lr {learning_rate_label(run.learning_rate)} batch {run.batch_size}, {run.epochs:g} epochs: "
        f"{what} {run.score:.4g}{cost}"
    )


def reason_line(result: Recommendation) -> str:
    """Why the top pick wins: its tier, and its epochs and objective against the smallest feasible network's."""
    if result.verdict is not Verdict.FEASIBLE:
        return ""
    top = result.table.iloc[0]
    feasible = result.candidates[result.candidates["feasible"]]
    smallest = feasible.sort_values(["params", "objective_j"], kind="stable").iloc[0]
    what = OBJECTIVE_WORDS[str(result.request.objective)]
    if smallest["widths"] == top["widths"] and smallest["shape"] == top["shape"]:
        return f"wins: the smallest feasible net ({_net(top)}), tier {top['tier']}"
    parts = []
    if smallest["epochs"] > top["epochs"]:
        parts.append(f"{smallest['epochs'] / top['epochs']:.3g}x fewer epochs")
    if smallest["objective_j"] > top["objective_j"]:
        parts.append(f"{smallest['objective_j'] / top['objective_j']:.3g}x less {what}")
    gain = ", ".join(parts) or f"lowest {what}"
    return f"wins: {gain} than the smallest feasible net ({_net(smallest)}); tier {top['tier']}"


def table_title(result: Recommendation) -> str:
    """The table's title: the budget, the objective, and whether energy is measured or estimated."""
    request = result.request
    what = "loss <=" if result.regression else "accuracy >="
    objective = OBJECTIVE_WORDS[str(request.objective)]
    return (
        f"{request.dataset}: {what} {request.accuracy:g} with P >= {request.confidence:g}, by {objective}, "
        f"lr {_setting(request.learning_rate)}, batch {request.batch_size}, epochs {request.epochs} "
        f"({energy_label(result.estimated)})"
    )


def _setting(value) -> str:
    return value if isinstance(value, str) else learning_rate_label(value)


def recommendation_rows(result: Recommendation, wide: bool = False) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """The ranked table for people: (column name, justification) pairs and rows of text.

    Narrow (fits 80 columns): abbreviated shapes, compact widths, SI-prefixed joules, no intervals, no
    inference column. ``wide`` adds full shape names, full widths, the 90% intervals of energy per datum and
    training energy, and the inference energy per prediction.
    """
    header = [
        ("#", "right"),
        ("shapes", "left"),
        ("d", "right"),
        ("widths", "left"),
        ("params", "right"),
        ("lr", "right"),
        ("batch", "right"),
        ("epochs", "right"),
        ("J/datum", "right"),
        ("train J", "right"),
    ]
    if wide:
        header[9:9] = [("J/datum 90%", "right")]
        header[11:11] = [("train J 90%", "right"), ("J/pred", "right")]
    co2 = "co2e_g" in result.table
    probed = "measured_score" in result.table  # probed runs' rows: the score each measured
    header += [("CO2e", "right")] * co2 + [("P", "right")] + [("measured", "right")] * probed + [("tier", "left")]
    rows = []
    for _, r in result.table.iterrows():
        row = [
            str(r["rank"]),
            shapes_label(r["shapes"], short=not wide),
            str(r["depth"]),
            compact_widths(r["widths"], 60 if wide else 12),
            count(r["params"]),
            learning_rate_label(r["learning_rate"]),
            str(r["batch_size"]),
            f"{r['epochs']:g}",
            si(r["energy_per_datum_j"]),
            si(r["training_energy_j"]),
        ]
        if wide:
            row[9:9] = [f"{si(r['energy_p05_j'])}-{si(r['energy_p95_j'])}"]
            row[11:11] = [
                f"{si(r['training_p05_j'])}-{si(r['training_p95_j'])}",
                si(r["inference_energy_per_prediction_j"]),
            ]
        tier = str(r["tier"]) if wide else str(r["tier"]).split(" ")[0]  # narrow: "T3", not "T3 <=106MiB"
        measured = [f"{r['measured_score']:.3g}"] if probed else []
        rows.append(row + ([si(r["co2e_g"], "g")] if co2 else []) + [f"{r['p_meet']:.2f}", *measured, tier])
    return header, rows
