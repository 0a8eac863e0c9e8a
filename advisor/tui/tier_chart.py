"""A compact text chart of energy per datum against working set, with the fitted tier boundaries.

Plain characters, no plotting library: ``*`` the posterior median of the reference family, ``.`` its 90%
credible band, ``|`` each fitted tier capacity (posterior median); both axes are logarithmic.
"""

from __future__ import annotations

import math

import numpy as np

from advisor.figures import TierChart, fmt_bytes
from advisor.render import si

LABEL_WIDTH = 9


def ascii_chart(chart: TierChart, width: int = 60, height: int = 10) -> str:
    """The chart as lines of text: plot rows with y labels, an x axis with the boundaries marked, a legend."""
    log_ws = np.log(np.asarray(chart.ws_bytes))
    x0, x1 = _x_range(chart, log_ws)
    y0, y1 = math.log(min(chart.p05_j)), math.log(max(chart.p95_j))
    centres = x0 + (np.arange(width) + 0.5) / width * (x1 - x0)
    on_curve = (centres >= log_ws.min() - (x1 - x0) / width) & (centres <= log_ws.max() + (x1 - x0) / width)

    def row(values: tuple[float, ...]) -> np.ndarray:
        ly = np.interp(centres, log_ws, np.log(values))
        return np.rint((y1 - ly) / max(y1 - y0, 1e-12) * (height - 1)).astype(int)

    grid = [[" "] * width for _ in range(height)]
    columns = _boundary_columns(chart, x0, x1, width)
    for c in columns.values():
        for r in range(height):
            grid[r][c] = "|"
    for c in np.flatnonzero(on_curve):
        top, bottom, mid = row(chart.p95_j)[c], row(chart.p05_j)[c], row(chart.median_j)[c]
        for r in range(top, bottom + 1):
            grid[r][c] = "."
        grid[mid][c] = "*"
    labels = {0: si(math.exp(y1)), height - 1: si(math.exp(y0))}
    lines = [f"{labels.get(r, ''):>{LABEL_WIDTH}} {''.join(cells)}" for r, cells in enumerate(grid)]
    axis = ["-"] * width
    for c in columns.values():
        axis[c] = "+"
    left, right = fmt_bytes(math.exp(x0)), fmt_bytes(math.exp(x1))
    lines += [" " * LABEL_WIDTH + " " + "".join(axis), " " * LABEL_WIDTH + " " + left + right.rjust(width - len(left))]
    return "\n".join(lines + _legend(chart, columns))


def _x_range(chart: TierChart, log_ws: np.ndarray) -> tuple[float, float]:
    """The curve's working-set range (ln bytes), widened to show every tier boundary (a bit of margin)."""
    marks = [math.log(b.median_bytes) for b in chart.boundaries]
    low, high = min([float(log_ws.min()), *marks]), max([float(log_ws.max()), *marks])
    margin = 0.02 * (high - low)
    return low - margin, high + margin


def _boundary_columns(chart: TierChart, x0: float, x1: float, width: int) -> dict[str, int]:
    """The column of each tier boundary (the range holds them all)."""
    span = max(x1 - x0, 1e-12)
    return {
        b.name: min(width - 1, max(0, int((math.log(b.median_bytes) - x0) / span * width))) for b in chart.boundaries
    }


def _legend(chart: TierChart, columns: dict[str, int]) -> list[str]:
    kind = "ESTIMATED " if chart.estimated else ""
    lines = [f"{chart.phase} {kind}J/datum vs working set · * median  . 90% band", f"  reference: {chart.family}"]
    for b in chart.boundaries:
        lines.append(
            f"  | tier seeded {b.name}: ~{fmt_bytes(b.median_bytes)} "
            f"(90%: {fmt_bytes(b.low_bytes)} – {fmt_bytes(b.high_bytes)})"
        )
    return lines
