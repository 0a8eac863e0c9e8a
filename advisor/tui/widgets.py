"""Reusable widgets: the energy-vs-parameters plot with tier boundaries and the Pareto front."""

from __future__ import annotations

import numpy as np
import pandas as pd
from textual_plotext import PlotextPlot


class EnergyPlot(PlotextPlot):
    """Predicted train energy per datum vs parameters, one series per shape; tier boundaries as lines."""

    DEFAULT_CSS = "EnergyPlot { min-height: 8; }"

    def show(self, candidates: pd.DataFrame, boundaries: dict[str, float], selected: pd.Series | None) -> None:
        """Redraw for a candidate table (engine output), tier boundary params and the selected row.

        Axes are log10 values computed here (plotext's own log scale breaks its annotations).
        """
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("log10 J/datum vs log10 params (| tier boundary, ◆ selected)")
        for shape, group in candidates.groupby("shape"):
            best = group.groupby("size")["energy_per_datum_j"].min()
            params = group.groupby("size")["params"].median()
            plt.plot(np.log10(params.to_numpy()).tolist(), np.log10(best.to_numpy()).tolist(), label=str(shape)[:10])
        for params in boundaries.values():
            plt.vline(float(np.log10(params)))
        if selected is not None:
            x, y = np.log10(float(selected["params"])), np.log10(float(selected["energy_per_datum_j"]))
            plt.scatter([float(x)], [float(y)], marker="◆", color="red")
        self.refresh()


def tier_boundaries(candidates: pd.DataFrame) -> dict[str, float]:
    """Parameter count where the candidates' tier label first changes (smallest config of each new tier)."""
    out = {}
    ordered = candidates.sort_values("params")
    seen = set()
    for row in ordered.itertuples():
        if row.tier not in seen:
            seen.add(row.tier)
            if len(seen) > 1:
                out[row.tier] = float(row.params)
    return out


def pareto_text(front: pd.DataFrame, limit: int = 6) -> str:
    """A few points of the Pareto front, cheapest first."""
    lines = ["Pareto front (energy ↔ accuracy):"]
    for row in front.sort_values("objective_j").head(limit).itertuples():
        lines.append(f" {row.shape[:12]:<12} d{row.depth:<2} {row.params:>9,}  {row.objective_j:.2g} J  "
                     f"acc {row.expected_score:.3f}")  # fmt: skip
    return "\n".join(lines) if len(lines) > 1 else "Pareto front: —"


def fmt_bytes(value: float) -> str:
    """Human-readable bytes."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


__all__ = ["EnergyPlot", "fmt_bytes", "pareto_text", "tier_boundaries"]
