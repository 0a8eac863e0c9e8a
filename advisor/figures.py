"""A loaded profile's energy-vs-working-set figure for the UIs: the chart's numbers, and the figure as a PNG.

The numbers are the model's (no runs travel with a profile): a reference family's posterior median and 90%
credible band of train energy per datum against its working set, and each fitted tier capacity with its 90%
interval (see :mod:`models.plot_tiers`, which draws the same figure, with the measured runs, for ``advisor fit``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from measurement.errors import InputError
from measurement.store import advisor_home
from models.plot_tiers import ReferenceFamily, fmt_bytes, plot_tiers, reference_curve
from models.profile import Profile

__all__ = ["TierBoundary", "TierChart", "default_figure_path", "fmt_bytes", "tier_chart", "write_tier_figure"]


@dataclass(frozen=True)
class TierBoundary:
    """A fitted tier capacity: the cache it was seeded from, posterior median and 90% interval (bytes)."""

    name: str
    median_bytes: float
    low_bytes: float
    high_bytes: float


@dataclass(frozen=True)
class TierChart:
    """What the energy-vs-working-set chart shows: one curve (median and band, J per datum) and the boundaries."""

    phase: str
    family: str
    ws_bytes: tuple[float, ...]
    median_j: tuple[float, ...]
    p05_j: tuple[float, ...]
    p95_j: tuple[float, ...]
    boundaries: tuple[TierBoundary, ...]
    estimated: bool


def tier_chart(profile: Profile, phase: str = "train", family: ReferenceFamily | None = None) -> TierChart:
    """The chart's numbers for ``profile`` (reference family: rectangle d4 b256 at 784 inputs by default)."""
    family = family or ReferenceFamily()
    curve = reference_curve(profile.energy, family, phase)
    boundaries = tuple(
        TierBoundary(name=name, median_bytes=float(median), low_bytes=float(low), high_bytes=float(high))
        for name, (median, low, high) in profile.energy.tier_capacities_bytes().items()
    )
    return TierChart(
        phase=phase,
        family=family.label,
        ws_bytes=_floats(curve["ws_bytes"]),
        median_j=_floats(curve["median_j"]),
        p05_j=_floats(curve["p05_j"]),
        p95_j=_floats(curve["p95_j"]),
        boundaries=boundaries,
        estimated=profile.estimated,
    )


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def default_figure_path(profile: Profile) -> Path:
    """``<advisor home>/figures/tiers-<digest>.png``: one file per profile (its posterior files' digests)."""
    blob = "".join(sorted(profile.metadata.files.values())) or str(profile.display_name)
    return advisor_home() / "figures" / f"tiers-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.png"


def write_tier_figure(profile: Profile, path: Path | None = None) -> Path:
    """Draw the profile's energy-vs-working-set figure (model curve and tier boundaries) to ``path``
    (default :func:`default_figure_path`, its folder created); atomic.

    Raises:
        InputError: a destination that cannot be written (one line).
    """
    if path is None:
        path = default_figure_path(profile)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return plot_tiers(profile.energy, None, Path(path), estimated=profile.estimated)
