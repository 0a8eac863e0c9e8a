"""Figures of a fit: measured vs predicted per shape with tier boundaries (``plot_fit``), measured vs predicted
per datum with held-out runs marked (figure a), and the held-out error histogram (figure c)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from measurement.architecture import SHAPES
from measurement.atomic import atomic_path, check_destination
from models.energy import EnergyPosterior
from models.features import PHASES, features_frame

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def check_plot_path(path: Path) -> Path:
    """A plot destination we can write, checked before minutes of fitting (InputError otherwise)."""
    return check_destination(path, PLOT_SUFFIXES)


def plot_fit(posterior: EnergyPosterior, frame: pd.DataFrame, path: Path, phase: str = "train") -> Path:
    """Write a PNG: one panel per shape; dots measured, crosses predicted (median, 90% bars).

    The dashed lines mark, for a depth-4 network of that shape at batch 256, the parameter count at
    which its working set crosses each fitted tier capacity (posterior median).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = frame[frame["phase"] == phase]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5), sharex=True, sharey=True)
    mu = posterior.log_energy(data) if len(data) else np.empty((1, 0))
    for ax, shape in zip(axes.flat, SHAPES, strict=True):
        rows = (data["shape"] == shape.value).to_numpy()
        sub = data[rows]
        ax.scatter(np.exp(sub["log_params"]), sub["energy_per_datum_j"], s=14, label="measured", alpha=0.7)
        if rows.any():
            pred = np.exp(mu[:, rows])
            med, lo, hi = (np.percentile(pred, q, axis=0) for q in (50, 5, 95))
            ax.errorbar(
                np.exp(sub["log_params"]),
                med,
                yerr=[med - lo, hi - med],
                fmt="x",
                color="C1",
                alpha=0.6,
                label="predicted (90%)",
            )
        for name, params in _tier_crossings(shape.value, posterior, data).items():
            ax.axvline(params, ls="--", color="grey", lw=0.8)
            ax.text(params, ax.get_ylim()[1] if ax.get_ylim()[1] > 0 else 1, name, fontsize=7, rotation=90, va="top")
        ax.set_title(shape.value, fontsize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
    for ax in axes[-1]:
        ax.set_xlabel("parameters")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{phase} energy per datum (J)")
    axes.flat[0].legend(fontsize=8)
    kind = "ESTIMATED energy" if "meter_kind" in data and (data["meter_kind"] == "estimated").any() else "energy"
    fig.suptitle(f"Tier model fit: measured vs predicted {phase} {kind}; dashed: fitted tier boundaries (d4, b256)")
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Lay out, write atomically (readers never see half a file) in the format the suffix names, close."""
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".").lower())
    finally:
        plt.close(fig)
    return path


def _tier_crossings(shape: str, posterior: EnergyPosterior, data: pd.DataFrame) -> dict:
    if data.empty:
        return {}
    i, o = int(data["input_dim"].iloc[0]), int(data["output_dim"].iloc[0])
    sizes = [2**k for k in range(5, 25)]
    configs = pd.DataFrame(
        {
            "shape": shape,
            "depth": 4,
            "target_size": sizes,
            "input_dim": i,
            "output_dim": o,
            "batch_size": 256,
            "phase": "train",
        }
    )
    grid = features_frame(configs)
    ws = np.exp(grid["log_ws_bytes"].to_numpy())
    out = {}
    for tier in posterior.fitted_tiers():
        above = np.nonzero(ws > tier.size_bytes)[0]
        if len(above) and above[0] > 0:
            out[tier.name] = float(np.exp(grid["log_params"].iloc[above[0]]))
    return out


FIGURES = ("measured", "errors")
"""Companions of ``advisor fit --plot FILE``: FILE-measured (measured vs predicted), FILE-errors (error histogram)."""


def figure_paths(plot: Path) -> dict[str, Path]:
    """Where the companion figures of ``plot`` go: ``FILE-measured.png`` and ``FILE-errors.png`` beside it."""
    return {name: plot.with_name(f"{plot.stem}-{name}{plot.suffix}") for name in FIGURES}


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def joule_axis(axis) -> None:
    """Label a log axis in joules with SI prefixes (10 µJ, 1 mJ), not in raw powers of ten."""
    from matplotlib.ticker import EngFormatter, NullFormatter

    axis.set_major_formatter(EngFormatter(unit="J"))
    axis.set_minor_formatter(NullFormatter())


def plot_measured_vs_predicted(
    in_sample: pd.DataFrame,
    held_out: pd.DataFrame,
    path: Path,
    held_out_label: str = "held out",
    estimated: bool = False,
) -> Path:
    """Figure (a): measured vs predicted energy per datum, log-log, one panel per phase.

    Args:
        in_sample: predictions of the runs the model was fit on (``holdout.in_sample_predictions``): dots.
        held_out: held-out predictions (``HeldOut.runs``): triangles with their 90% predictive interval.
        path: where to write (atomically; the suffix names the format).
        held_out_label: what was held out (e.g. "leave-one-input-width-out").
        estimated: the energies come from the estimate meter (the title says so).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    for ax, phase in zip(axes, PHASES, strict=True):
        ins, out = in_sample[in_sample["phase"] == phase], held_out[held_out["phase"] == phase]
        values = pd.concat([ins["measured_j"], ins["predicted_j"], out["measured_j"], out["predicted_j"]])
        if values.empty:
            ax.set_title(f"{phase}: no runs")
            continue
        line = np.geomspace(values.min() / 1.5, values.max() * 1.5, 50)
        ax.fill_between(line, line * 0.9, line * 1.1, color="grey", alpha=0.3, lw=0, label="±10%")
        ax.plot(line, line, color="black", lw=0.8, label="predicted = measured")
        ax.scatter(ins["measured_j"], ins["predicted_j"], s=10, color="C0", alpha=0.45, label=f"in-sample ({len(ins)})")
        pred = out["predicted_j"].to_numpy(float)
        bars = [pred - out["predicted_p5_j"].to_numpy(float), out["predicted_p95_j"].to_numpy(float) - pred]
        ax.errorbar(
            out["measured_j"],
            pred,
            yerr=bars,
            fmt="^",
            ms=4,
            color="C3",
            alpha=0.75,
            elinewidth=0.6,
            label=f"{held_out_label} ({len(out)}; bars: 90% predictive)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(line[0], line[-1])
        ax.set_ylim(line[0], line[-1])
        joule_axis(ax.xaxis)
        joule_axis(ax.yaxis)
        ax.set_xlabel(f"measured {phase} energy per datum")
        ax.set_ylabel(f"predicted {phase} energy per datum (posterior median)")
        ax.legend(fontsize=8, loc="upper left")
    kind = "ESTIMATED energy" if estimated else "energy"
    fig.suptitle(f"Measured vs predicted {kind} per datum: in-sample and held out ({held_out_label})")
    return save_figure(fig, path)


def plot_error_histogram(held_out: pd.DataFrame, path: Path, held_out_label: str = "held out") -> Path:
    """Figure (c): histogram of predicted / measured on held-out runs, log x axis, 0.5× and 2× marked.

    As BUTTER-E's model-error figure: a perfect model is a spike at 1×; the ±10% band is shaded.
    """
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
    ratio = (held_out["predicted_j"] / held_out["measured_j"]).to_numpy(float)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if len(ratio):
        bins = np.geomspace(min(0.25, ratio.min() / 1.05), max(4.0, ratio.max() * 1.05), 61)
        for phase in PHASES:
            rows = (held_out["phase"] == phase).to_numpy()
            if rows.any():
                ax.hist(ratio[rows], bins=bins, alpha=0.6, label=f"{phase} ({int(rows.sum())})")
        ape = np.abs(ratio - 1.0)
        within_2x = float(np.mean((ratio >= 0.5) & (ratio <= 2.0)))
        summary = (
            f"median APE {np.median(ape):.1%}, {np.mean(ape <= 0.10):.0%} within ±10%, {within_2x:.0%} within 0.5–2×"
        )
    else:
        summary = "no held-out runs"
    ax.axvspan(0.9, 1.1, color="grey", alpha=0.3, lw=0, label="±10%", zorder=0)
    for x in (0.5, 2.0):
        ax.axvline(x, ls="--", color="grey", lw=0.9)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ticks = [0.25, 0.5, 1.0, 2.0, 4.0]
    ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("predicted / measured energy per datum")
    ax.set_ylabel("held-out runs")
    ax.set_title(f"Held-out error ({held_out_label}): {summary}", fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
