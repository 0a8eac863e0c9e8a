"""Energy per datum against working set, with the fitted cache-tier boundaries (after BUTTER-E's cache figure).

Measured runs are points coloured by input width; each fitted tier capacity is a line at its posterior median
with its 90% interval shaded; a reference family (rectangle, depth 4, batch 256 at one input width, swept over
sizes) shows the model's posterior median and 90% credible band of the mean energy per datum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from measurement.tiers import format_bytes
from models.energy import EnergyPosterior
from models.features import features_frame
from models.plot import check_plot_path, pyplot, save_figure

WS_COLUMN = "log_ws_bytes"
"""The whole-step working set (ln bytes) of a features frame: what this figure's x axis shows."""
DEFAULT_DIMS = (784, 10)
"""The reference family's widths when there are no runs to take them from (an image-like data set)."""
REFERENCE_SIZES = tuple(int(s) for s in np.unique(np.round(np.geomspace(2**5, 2**24, 48))))


@dataclass(frozen=True)
class ReferenceFamily:
    """One shape at one depth and batch size, swept over sizes: the model's curve in the figure."""

    shape: str = "rectangle"
    depth: int = 4
    batch_size: int = 256
    input_dim: int = DEFAULT_DIMS[0]
    output_dim: int = DEFAULT_DIMS[1]

    @property
    def label(self) -> str:
        """E.g. ``rectangle d4 b256, 784 → 10``."""
        return f"{self.shape} d{self.depth} b{self.batch_size}, {self.input_dim} → {self.output_dim}"


def tiers_path(plot: Path) -> Path:
    """Where ``advisor fit --plot FILE.png`` writes this figure: ``FILE-tiers.png`` beside it."""
    plot = Path(plot)
    return plot.with_name(f"{plot.stem}-tiers{plot.suffix}")


def reference_family(frame: pd.DataFrame | None, phase: str = "train") -> ReferenceFamily:
    """The reference family at the input width most runs of ``phase`` have (``DEFAULT_DIMS`` without runs)."""
    if frame is None or frame.empty or "input_dim" not in frame:
        return ReferenceFamily()
    rows = frame[frame["phase"] == phase] if "phase" in frame else frame
    rows = rows if len(rows) else frame
    counts = rows.groupby(["input_dim", "output_dim"]).size().sort_index()
    input_dim, output_dim = counts.index[int(np.argmax(counts.to_numpy()))]
    return ReferenceFamily(input_dim=int(input_dim), output_dim=int(output_dim))


def reference_curve(posterior: EnergyPosterior, family: ReferenceFamily, phase: str = "train") -> pd.DataFrame:
    """The family's working set, parameters, and posterior median / 5% / 95% energy per datum, by working set."""
    configs = pd.DataFrame(
        {
            "shape": family.shape,
            "depth": family.depth,
            "target_size": list(REFERENCE_SIZES),
            "input_dim": family.input_dim,
            "output_dim": family.output_dim,
            "batch_size": family.batch_size,
            "phase": phase,
        }
    )
    features = features_frame(configs)
    energy = np.exp(posterior.log_energy(features))
    curve = pd.DataFrame(
        {
            "ws_bytes": np.exp(features[WS_COLUMN].to_numpy(float)),
            "params": np.exp(features["log_params"].to_numpy(float)).round().astype(np.int64),
            "median_j": np.median(energy, axis=0),
            "p05_j": np.percentile(energy, 5, axis=0),
            "p95_j": np.percentile(energy, 95, axis=0),
        }
    )
    return curve.drop_duplicates("params").sort_values("ws_bytes", ignore_index=True)


fmt_bytes = format_bytes
"""Binary-prefixed bytes (the one formatter: :func:`measurement.tiers.format_bytes`)."""


def plot_tiers(
    posterior: EnergyPosterior,
    frame: pd.DataFrame | None,
    path: Path,
    phase: str = "train",
    family: ReferenceFamily | None = None,
    estimated: bool | None = None,
) -> Path:
    """Write the figure (format from the suffix) atomically; ``frame`` is a training frame, or None for no points.

    ``family`` defaults to :func:`reference_family` of the frame; ``estimated`` (title says ESTIMATED energy)
    defaults to whether any run of the frame came from the estimate meter.

    Raises:
        InputError: a destination that cannot be written (see :func:`measurement.atomic.check_destination`).
    """
    path = check_plot_path(Path(path))  # before any drawing
    plt = pyplot()

    family = family or reference_family(frame, phase)
    fig, ax = plt.subplots(figsize=(10, 6))
    try:
        _points(ax, frame, phase)
        _curve(ax, reference_curve(posterior, family, phase), family)
        _boundaries(ax, posterior)
        _axes(ax, phase, _estimated(frame) if estimated is None else estimated)
    except BaseException:
        plt.close(fig)
        raise
    return save_figure(fig, path)


def _points(ax, frame: pd.DataFrame | None, phase: str) -> None:
    """Measured runs of ``phase``, one colour per input width."""
    if frame is None or frame.empty:
        return
    rows = frame[frame["phase"] == phase]
    for n, (width, group) in enumerate(sorted(rows.groupby("input_dim"), key=lambda item: item[0])):
        energy = np.exp(group["log_energy"].to_numpy(float))
        ax.scatter(
            np.exp(group[WS_COLUMN].to_numpy(float)),
            energy,
            s=12,
            alpha=0.6,
            color=f"C{n % 10}",
            label=f"measured, {width} inputs",
        )


def _curve(ax, curve: pd.DataFrame, family: ReferenceFamily) -> None:
    ax.fill_between(
        curve["ws_bytes"],
        curve["p05_j"],
        curve["p95_j"],
        color="black",
        alpha=0.15,
        lw=0,
        label="model, 90% credible band",
    )
    ax.plot(curve["ws_bytes"], curve["median_j"], color="black", lw=1.5, label=f"model median: {family.label}")


def _boundaries(ax, posterior: EnergyPosterior) -> None:
    """Each fitted tier capacity: its median as a dashed line, its 90% interval shaded, a label at the top."""
    for name, (median, low, high) in posterior.tier_capacities_bytes().items():
        ax.axvspan(low, high, color="tab:red", alpha=0.08, lw=0)
        ax.axvline(median, color="tab:red", ls="--", lw=1)
        ax.annotate(
            f"~{fmt_bytes(median)} (seeded {name})",
            (median, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="tab:red",
        )


def _axes(ax, phase: str, estimated: bool) -> None:
    """Log axes with binary byte ticks and SI joule ticks, titles and legend."""
    from matplotlib import ticker

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=2, numticks=12))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: fmt_bytes(value)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_formatter(ticker.EngFormatter(unit="J"))
    ax.set_xlabel("working set per step")
    ax.set_ylabel(f"{phase} energy per datum")
    kind = "ESTIMATED energy" if estimated else "energy"
    ax.set_title(f"{phase} {kind} per datum vs working set; dashed: fitted tier capacities (shaded: 90%)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _estimated(frame: pd.DataFrame | None) -> bool:
    return frame is not None and "meter_kind" in frame and bool((frame["meter_kind"] == "estimated").any())
