"""The recommendation's words and figure numbers: SI joules, compact widths and shapes, why the top pick wins,
the per-shape training-energy curves and where they cross the fitted tiers."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.engine import Constraints, Objective, RecommendRequest, recommend
from advisor.figures_recommend import tier_crossings, training_curves
from advisor.render import (
    compact_widths,
    cost_lines,
    count,
    reason_line,
    recommendation_rows,
    shapes_label,
    si,
)
from measurement.architecture import SHAPES
from models.profile import Profile
from tests.fakes.accuracy import advising_profile


@pytest.fixture(scope="module")
def profile() -> Profile:
    return advising_profile()


@pytest.mark.parametrize(
    ("value", "text"),
    [(5.7e-5, "57 µJ"), (1234.0, "1.2 kJ"), (0.5, "500 mJ"), (3.14159, "3.1 J"), (2.5e-10, "250 pJ"), (0.0, "0 J"),
     (float("nan"), "-"), (999.7, "1 kJ")],
)  # fmt: skip
def test_si_joules(value: float, text: str) -> None:
    assert si(value) == text


def test_counts_widths_and_shapes_are_compact_and_lossless_where_short() -> None:
    assert (count(1200), count(884_000), count(13_000_000)) == ("1.2k", "884k", "13M")
    assert compact_widths("64-64-64-10") == "64x3-10"
    assert compact_widths("120-95-70-45-10", limit=40) == "120-95-70-45-10"
    assert compact_widths("1024-973-900-800-700-600-10") == "1024..10/7"  # first..last/layers, no ellipsis
    assert shapes_label(",".join(s.value for s in SHAPES)) == "all 8"
    assert shapes_label("rectangle,rectangle_residual") == "rect,rres"
    assert shapes_label("wide_first_16x", short=False) == "wide_first_16x"


def test_reason_names_the_tier_and_the_smallest_feasible_network(profile: Profile) -> None:
    result = recommend(profile, RecommendRequest("digits", 0.95, objective=Objective.TRAINING_ENERGY))
    line = reason_line(result)
    top = result.table.iloc[0]
    smallest = result.candidates[result.candidates["feasible"]].sort_values("params").iloc[0]
    assert line.startswith("wins: ") and f"tier {top['tier']}" in line
    assert f"{smallest['epochs']:g} epochs" in line and count(smallest["params"]) in line
    if smallest["epochs"] > top["epochs"]:
        assert f"{smallest['epochs'] / top['epochs']:.3g}x fewer epochs" in line
    assert reason_line(recommend(profile, RecommendRequest("digits", 0.9999))) == ""


def test_rows_match_the_engine_and_wide_adds_intervals(profile: Profile) -> None:
    result = recommend(profile, RecommendRequest("digits", 0.95, grid_g_per_kwh=300.0, top=5))
    header, rows = recommendation_rows(result)
    names = [name for name, _ in header]
    assert names == ["#", "shapes", "d", "widths", "params", "lr", "batch", "epochs", "J/datum", "train J", "CO2e",
                     "P", "tier"]  # fmt: skip
    first = dict(zip(names, rows[0], strict=True))
    top = result.table.iloc[0]
    assert first["train J"] == si(top["training_energy_j"]) and first["CO2e"] == si(top["co2e_g"], "g")
    assert first["batch"] == str(top["batch_size"]) and float(first["lr"]) == pytest.approx(top["learning_rate"])
    wide_header, wide_rows = recommendation_rows(result, wide=True)
    wide = dict(zip([name for name, _ in wide_header], wide_rows[0], strict=True))
    assert "J/datum 90%" in wide and "train J 90%" in wide
    assert wide["J/pred"] == si(top["inference_energy_per_prediction_j"])


def test_curves_are_each_shapes_cheapest_feasible_training_energy_per_size(profile: Profile) -> None:
    result = recommend(profile, RecommendRequest("digits", 0.9, top=10_000))
    curves = {c.shape: c for c in training_curves(result)}
    assert set(curves) == {s.value for s in SHAPES}
    feasible = result.candidates[result.candidates["feasible"]]
    trap = feasible[feasible["shapes"].str.contains("trapezoid")]
    expected = trap.groupby("size")["training_energy_j"].min().to_numpy()
    assert np.allclose(sorted(curves["trapezoid"].training_energy_j), sorted(expected))
    # identical depth-2 networks (listed once, as rectangles) count for every shape they stand for
    shallow = training_curves(recommend(profile, RecommendRequest("digits", 0.9, constraints=Constraints(max_depth=2))))
    assert len(shallow) == 8 and len({c.params for c in shallow}) == 1
    crossings = tier_crossings(profile, tuple(curves.values()))
    assert crossings and [c.params for c in crossings] == sorted(c.params for c in crossings)
    for crossing in crossings:
        for curve in curves.values():
            below = [w for p, w in zip(curve.params, curve.log_ws_bytes, strict=True) if p < crossing.params]
            assert not below or min(below) <= np.log(crossing.capacity_bytes)


def test_cost_lines_name_every_term_with_its_unit_and_every_tier() -> None:
    """The tail's cost is per tail FLOP (on top of the FLOP's), the traffic terms' per byte."""
    energy = advising_profile().energy
    costs, _ = energy.cost_summary()
    price, steps = cost_lines(energy)
    assert "J/tail FLOP" in price and "compute" in price and price.count("J/B") == 2
    assert f"gemm_tail {costs['gemm_tail']:.2e} J/tail FLOP" in price
    assert all(f"{tier.name} ×" in steps for tier in energy.tiers)
