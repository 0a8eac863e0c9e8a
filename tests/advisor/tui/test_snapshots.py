"""Snapshots of every screen at 80x24 and 120x40 (update with --snapshot-update after a deliberate change)."""

from __future__ import annotations

import pytest
from textual.worker import WorkerCancelled

from advisor.tui.app import AdvisorApp

SIZES = [(80, 24), (120, 40)]


async def _settle(pilot) -> None:
    """Wait for the workers; one superseded by a newer one (an exclusive group) is cancelled by design."""
    await pilot.pause(0.5)
    for _ in range(5):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            await pilot.pause(0.1)
    await pilot.pause(0.3)


def _go(key: str | None):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        if key:
            await pilot.press(key)
            await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("key", [None, "c", "p"], ids=["advise", "calibrate", "profile"])
def test_screen_snapshot(snap_compare, key: str | None, size: tuple[int, int]) -> None:
    assert snap_compare(AdvisorApp(), terminal_size=size, run_before=_go(key))
