"""The summary after a sweep names the command that continues it: a probe's, or a calibration's."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.cli import progress
from measurement.records import MeterKind, SweepKind
from measurement.sweep.events import SweepSummary


def _summary(complete: bool) -> SweepSummary:
    return SweepSummary(sweep_id=4, planned=5, committed_now=5, already_done=0, rejected_now=0, elapsed_s=292.0,
                        budget_s=300.0, interrupted=False, complete=complete, meter="estimate",
                        meter_kind=MeterKind.ESTIMATED, idle_power_w=0.07, datasets={"splice": 5})  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "command"),
    [
        (SweepKind.PROBE, "advisor probe splice --resume --store 'my runs.sqlite'"),
        (SweepKind.CALIBRATE, "advisor calibrate --resume --store 'my runs.sqlite'"),
    ],
)
def test_an_unfinished_sweep_names_the_command_that_resumes_it(monkeypatch, capsys, kind, command) -> None:
    assert f"resume with '{command}'" in _printed(monkeypatch, capsys, _summary(complete=False), kind)


def test_a_complete_sweep_asks_for_nothing(monkeypatch, capsys) -> None:
    assert "resume" not in _printed(monkeypatch, capsys, _summary(complete=True), SweepKind.PROBE)


def _printed(monkeypatch, capsys, summary: SweepSummary, kind: SweepKind) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # one line a row
    progress.print_summary(summary, Path("my runs.sqlite"), kind)
    return capsys.readouterr().out
