"""Measured vs predicted energy per datum across parameter counts, per shape, tier boundaries marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from measurement.architecture import SHAPES
from measurement.atomic import atomic_path, check_destination
from models.energy import EnergyPosterior
from models.features import features_frame

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
            ax.errorbar(np.exp(sub["log_params"]), med, yerr=[med - lo, hi - med], fmt="x", color="C1",
                        alpha=0.6, label="predicted (90%)")  # fmt: skip
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
    grid = features_frame(pd.DataFrame({
        "shape": shape, "depth": 4, "target_size": sizes, "input_dim": i, "output_dim": o,
        "batch_size": 256, "phase": "train",
    }))  # fmt: skip
    ws = np.exp(grid["log_ws"].to_numpy())
    out = {}
    for tier in posterior.fitted_tiers():
        above = np.nonzero(ws > tier.size_bytes)[0]
        if len(above) and above[0] > 0:
            out[tier.name] = float(np.exp(grid["log_params"].iloc[above[0]]))
    return out
