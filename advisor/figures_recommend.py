"""The recommendation's figure: total training energy to reach the budget against parameters, one curve per
shape, with the profile's fitted cache tiers marked where the candidates' training working set crosses them
(BUTTER-E's isolines, on the user's hardware). The numbers (:func:`training_curves`, :func:`tier_crossings`)
serve the TUI's text plot and the PNG alike (:func:`write_recommend_figure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.engine import Recommendation
from advisor.render import OBJECTIVE_WORDS, SHAPE_ABBREVIATIONS, energy_label
from models.plot import check_plot_path
from models.profile import Profile


@dataclass(frozen=True)
class ShapeCurve:
    """One shape's cheapest feasible training energy per size (over depths), smallest network first."""

    shape: str
    params: tuple[int, ...]
    training_energy_j: tuple[float, ...]
    log_ws_bytes: tuple[float, ...]


@dataclass(frozen=True)
class TierCrossing:
    """A fitted tier capacity and the parameter count (median over shapes) whose working set first exceeds it."""

    name: str
    capacity_bytes: float
    params: float


def training_curves(result: Recommendation) -> tuple[ShapeCurve, ...]:
    """Per shape, the feasible candidates' lowest total training energy at each size (identical nets count for
    every shape they stand for). Shapes with no feasible candidate are left out."""
    feasible = result.candidates[result.candidates["feasible"]]
    out = []
    present = {n for s in result.candidates["shapes"] for n in s.split(",")}
    for shape in (s for s in SHAPE_ABBREVIATIONS if s in present):
        rows = feasible[feasible["shapes"].str.split(",").map(lambda names, s=shape: s in names)]
        if rows.empty:
            continue
        best = rows.loc[rows.groupby("size")["training_energy_j"].idxmin()].sort_values("params")
        curve = ShapeCurve(
            shape=shape,
            params=tuple(int(p) for p in best["params"]),
            training_energy_j=tuple(float(e) for e in best["training_energy_j"]),
            log_ws_bytes=tuple(float(w) for w in best["log_ws_bytes"]),
        )
        out.append(curve)
    return tuple(out)


def tier_crossings(profile: Profile, curves: tuple[ShapeCurve, ...]) -> tuple[TierCrossing, ...]:
    """Where each curve's training working set first exceeds each fitted tier (median over the curves)."""
    out = []
    for tier in profile.energy.fitted_tiers():
        log_size = np.log(float(tier.size_bytes))
        points = []
        for curve in curves:
            above = np.nonzero(np.asarray(curve.log_ws_bytes) > log_size)[0]
            if len(above) and above[0] > 0:
                points.append(curve.params[above[0]])
        if points:
            out.append(TierCrossing(tier.name, float(tier.size_bytes), float(np.median(points))))
    return tuple(out)


def check_figure_path(path: Path | str) -> Path:
    """A PNG/PDF/SVG destination we can write, checked before any work (InputError, one line, otherwise)."""
    return check_plot_path(Path(path))


def write_recommend_figure(profile: Profile, result: Recommendation, path: Path | str) -> Path:
    """Draw the training-energy-to-budget figure to ``path`` (atomic)."""
    from models.plot import joule_axis, pyplot, save_figure

    plt = pyplot()
    curves = training_curves(result)
    fig, ax = plt.subplots(figsize=(8, 5))
    for curve in curves:
        ax.plot(curve.params, curve.training_energy_j, marker=".", label=curve.shape)
    for crossing in tier_crossings(profile, curves):
        ax.axvline(crossing.params, ls="--", color="grey", lw=0.8)
        ax.text(
            crossing.params,
            1.0,
            f" > {crossing.name}",
            transform=ax.get_xaxis_transform(),
            fontsize=8,
            rotation=90,
            va="top",
            color="grey",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    joule_axis(ax.yaxis)
    ax.set_xlabel("parameters")
    ax.set_ylabel("training energy to reach the budget")
    request = result.request
    what = "test loss" if result.regression else "accuracy"
    ax.set_title(
        f"{request.dataset}: {what} {request.accuracy:g} with P >= {request.confidence:g}, epochs "
        f"{request.epochs}; {energy_label(result.estimated)}; dashed: tiers",
        fontsize=9,
    )
    if curves:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no candidate meets the budget", transform=ax.transAxes, ha="center")
    fig.text(0.01, 0.01, f"ranked by {OBJECTIVE_WORDS[str(request.objective)]}", fontsize=7)
    return save_figure(fig, Path(path))


def curves_frame(curves: tuple[ShapeCurve, ...]) -> pd.DataFrame:
    """The curves as one long frame (shape, params, training_energy_j), e.g. for a CSV."""
    return pd.DataFrame(
        [
            {"shape": c.shape, "params": p, "training_energy_j": e}
            for c in curves
            for p, e in zip(c.params, c.training_energy_j, strict=True)
        ]
    )
