"""Reusable widgets: the training-energy-vs-parameters plot with tier boundaries and the Pareto front."""

from __future__ import annotations

import numpy as np
import pandas as pd
from textual_plotext import PlotextPlot

from advisor.figures import fmt_bytes
from advisor.figures_recommend import ShapeCurve, TierCrossing
from advisor.render import SHAPE_ABBREVIATIONS, si


class EnergyPlot(PlotextPlot):
    """Total training energy to reach the budget vs parameters, one series per shape; fitted tiers as lines."""

    DEFAULT_CSS = "EnergyPlot { min-height: 8; }"

    def show(
        self,
        curves: tuple[ShapeCurve, ...],
        crossings: tuple[TierCrossing, ...],
        selected: pd.Series | None,
        estimated: bool = False,
    ) -> None:
        """Redraw for the recommendation's curves (:func:`advisor.figures_recommend.training_curves`), the
        tier crossings and the selected row.

        Positions are log10 values (plotext's own log scale breaks its annotations); the ticks are labelled in
        human units: 10^4 params, SI-prefixed joules.
        """
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        kind = "ESTIMATED " if estimated else ""
        plt.title(f"{kind}training energy to the budget vs params (| tier, ◆ selected)")
        ys: list[float] = []
        for curve in curves:
            y = np.log10(curve.training_energy_j).tolist()
            ys += y
            plt.plot(np.log10(curve.params).tolist(), y, label=SHAPE_ABBREVIATIONS.get(curve.shape, curve.shape))
        for crossing in crossings:
            plt.vline(float(np.log10(crossing.params)))
        if selected is not None:
            x, y = np.log10(float(selected["params"])), np.log10(float(selected["training_energy_j"]))
            plt.scatter([float(x)], [float(y)], marker="◆", color="red")
            ys.append(float(y))
        xs = [np.log10(p) for c in curves for p in c.params]
        if xs:
            decades = list(range(int(np.floor(min(xs))), int(np.ceil(max(xs))) + 1))
            plt.xticks(decades, [f"10^{d}" for d in decades])
            levels = list(range(int(np.floor(min(ys))), int(np.ceil(max(ys))) + 1))
            plt.yticks(levels, [si(10.0**k) for k in levels])
        self.refresh()


def pareto_text(front: pd.DataFrame, limit: int = 6) -> str:
    """A few points of the Pareto front, cheapest first."""
    lines = ["Pareto front (energy ↔ accuracy):"]
    for row in front.sort_values("objective_j").head(limit).itertuples():
        lines.append(
            f" {row.shape[:12]:<12} d{row.depth:<2} {row.params:>9,}  {si(row.objective_j)}  "
            f"score {row.expected_score:.3f}"
        )
    return "\n".join(lines) if len(lines) > 1 else "Pareto front: —"


__all__ = ["EnergyPlot", "fmt_bytes", "pareto_text"]
