"""The library side of figure (b): the chart's numbers, the PNG's default place, and ``advisor fit --plot``'s
check of the FILE-tiers destination before any fitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor.errors import InputError
from advisor.figures import default_figure_path, tier_chart, write_tier_figure
from advisor.fitting import FitRequest, fit_and_save
from models.plot_tiers import ReferenceFamily, reference_curve
from tests.fakes.posteriors import fake_profile


def test_chart_numbers_are_the_models() -> None:
    profile = fake_profile()
    chart = tier_chart(profile)
    curve = reference_curve(profile.energy, ReferenceFamily())
    assert chart.ws_bytes == tuple(curve["ws_bytes"]) and chart.median_j == tuple(curve["median_j"])
    assert chart.p05_j == tuple(curve["p05_j"]) and chart.p95_j == tuple(curve["p95_j"])
    capacities = profile.energy.tier_capacities_bytes()
    assert [(b.name, b.median_bytes, b.low_bytes, b.high_bytes) for b in chart.boundaries] == [
        (name, *values) for name, values in capacities.items()]  # fmt: skip
    assert chart.estimated and chart.phase == "train"
    assert np.all(np.diff(chart.ws_bytes) > 0)


def test_default_figure_path_is_stable_per_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    first, again = default_figure_path(fake_profile()), default_figure_path(fake_profile())
    assert first == again and first.parent == tmp_path / "figures" and first.suffix == ".png"


def test_write_tier_figure_to_a_named_file(tmp_path: Path) -> None:
    out = write_tier_figure(fake_profile(), tmp_path / "tiers.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_refuses_an_unwritable_tiers_figure_before_fitting(tmp_path: Path) -> None:
    (tmp_path / "fit-tiers.png").mkdir()  # a folder where figure (b) would go
    request = FitRequest(store=tmp_path / "no-store.sqlite", out=tmp_path / "profile", plot=tmp_path / "fit.png")
    with pytest.raises(InputError, match=r"fit-tiers\.png"):
        fit_and_save(request)
    assert not (tmp_path / "profile").exists()
