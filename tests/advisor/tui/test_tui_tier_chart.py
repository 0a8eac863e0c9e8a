"""The profile screen's energy-vs-working-set chart (text) and its PNG (``f``), driven by pilots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Static

from advisor.figures import default_figure_path, tier_chart
from advisor.render import si
from advisor.tui.profile import ProfileScreen, chart_text
from advisor.tui.tier_chart import ascii_chart
from tests.fakes.posteriors import fake_profile

PNG = b"\x89PNG\r\n\x1a\n"


class ProfileApp(App):
    """Just the profile screen, for a profile made in the test."""

    def __init__(self, profile) -> None:
        super().__init__()
        self.profile = profile

    def on_mount(self) -> None:
        self.push_screen(ProfileScreen(self.profile))


def _text(app: App, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


def test_the_screen_shows_the_librarys_chart_with_every_tier_boundary() -> None:
    profile = fake_profile()

    async def scenario() -> None:
        app = ProfileApp(profile)
        async with app.run_test(size=(100, 60)) as pilot:
            await pilot.pause(0.2)
            chart = _text(app, "#tier-chart")
            assert chart == ascii_chart(tier_chart(profile)) == chart_text(profile)
            assert "ESTIMATED J/datum vs working set" in chart and "rectangle d4 b256, 784 → 10" in chart
            for name in ("L1d", "L2", "L3"):
                assert f"tier seeded {name}: ~" in chart
            assert "press f" in _text(app, "#tier-figure")

    asyncio.run(scenario())


def test_f_writes_the_png_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    profile = fake_profile()

    async def scenario() -> None:
        app = ProfileApp(profile)
        async with app.run_test(size=(100, 60)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("f")
            await app.workers.wait_for_complete()
            await pilot.pause(0.2)
            path = default_figure_path(profile)
            assert path.parent == tmp_path / "home" / "figures"
            assert path.read_bytes()[:8] == PNG
            assert _text(app, "#tier-figure") == f"figure written: {path}"

    asyncio.run(scenario())


def test_an_unwritable_figure_is_one_line_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the advisor home should be")
    monkeypatch.setenv("ADVISOR_HOME", str(blocker))

    async def scenario() -> None:
        app = ProfileApp(fake_profile())
        async with app.run_test(size=(100, 60)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("f")
            await app.workers.wait_for_complete()
            await pilot.pause(0.2)
            line = _text(app, "#tier-figure")
            assert line.startswith("could not write the figure: cannot write ") and "\n" not in line

    asyncio.run(scenario())


def test_chart_marks_the_curve_band_and_boundaries_in_place() -> None:
    chart = tier_chart(fake_profile())
    lines = ascii_chart(chart, width=50, height=8).splitlines()
    plot, axis = lines[:8], lines[8]
    assert all(len(line) == 10 + 50 for line in plot) and len(axis) == 60
    assert axis.count("+") == 3  # one mark per tier boundary
    for column in [i for i, ch in enumerate(axis) if ch == "+"]:
        assert all(line[column] in "|*." for line in plot)
    assert plot[0].lstrip().startswith(si(max(chart.p95_j)))
    assert plot[-1].lstrip().startswith(si(min(chart.p05_j)))
    assert "*" in plot[0] and "*" in "".join(plot[-3:])  # energy rises with the working set
