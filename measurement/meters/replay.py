"""Replay recorded readings, so users and tests can exercise the whole pipeline without hardware.

The file is a CSV with columns ``energy_j``, ``duration_s`` and optionally ``kind`` (measured |
estimated, default measured). Each stop() returns the next row; the file loops when it runs out. A file
over ``REPLAY_MAX_BYTES`` or ``REPLAY_MAX_ROWS`` is refused (every row is held in memory).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

from measurement.meters.base import Clock, MeterError, MeterKind, Reading, WindowClock

REPLAY_MAX_BYTES = 64 * 2**20
"""Bytes a replay file may hold, checked before it is read."""
REPLAY_MAX_ROWS = 1_000_000
"""Readings a replay file may hold (a sweep takes a few hundred)."""


class ReplayMeter:
    """Plays back recorded readings in order."""

    name = "replay"

    def __init__(self, path: Path | str, clock: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self.path = Path(path)
        self.rows = _load(self.path)
        kinds = {kind for _, _, kind in self.rows}
        self.kind = MeterKind.ESTIMATED if MeterKind.ESTIMATED in kinds else MeterKind.MEASURED
        self._next = 0
        self._window = WindowClock(clock, wall)

    def start(self) -> None:
        """Open a window."""
        self._window.open()

    def stop(self) -> Reading:
        """Return the next recorded reading (its recorded duration, not the real one)."""
        self._window.close()
        energy_j, duration_s, kind = self.rows[self._next % len(self.rows)]
        self._next += 1
        return Reading(
            energy_j=energy_j,
            duration_s=duration_s,
            meter=self.name,
            kind=kind,
            domains_j={"replay": energy_j},
            start_unix_s=self._window.start_unix_s,
        )


def _load(path: Path) -> list[tuple[float, float, MeterKind]]:
    if not path.is_file():
        raise MeterError(f"replay file not found: {path}")
    if path.stat().st_size > REPLAY_MAX_BYTES:
        raise MeterError(f"replay file {path}: over the bound of {REPLAY_MAX_BYTES // 2**20} MiB for a replay file")
    rows = []
    try:
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                if number - 1 > REPLAY_MAX_ROWS:
                    raise MeterError(f"replay file {path}: over the bound of {REPLAY_MAX_ROWS:,} readings")
                try:
                    energy, duration = float(row["energy_j"]), float(row["duration_s"])
                    kind = MeterKind((row.get("kind") or "measured").strip())
                except (KeyError, TypeError, ValueError) as exc:
                    raise MeterError(f"replay file {path} line {number}: bad row ({exc})") from None
                if not (math.isfinite(energy) and math.isfinite(duration) and energy >= 0 and duration > 0):
                    raise MeterError(
                        f"replay file {path} line {number}: energy must be finite and >= 0, duration finite and > 0"
                    )
                rows.append((energy, duration, kind))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MeterError(f"cannot read replay file {path}: {exc}") from None
    if not rows:
        raise MeterError(f"replay file {path} has no readings (columns: energy_j, duration_s[, kind])")
    return rows
