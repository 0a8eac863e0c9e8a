"""External node power traces (PDU, IPMI ``dcmi power reading`` logs, a wattmeter) as a meter.

A trace is a CSV or Parquet file with a timestamp column (unix seconds, or ISO-8601 text) and a watts
column. Each window is aligned to the trace by wall-clock time and integrated with the trapezoid rule;
a window the trace does not cover, or that contains a gap longer than ``max_gap_s``, is returned with a
``reject_reason`` instead of a number we cannot trust.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from measurement.errors import first_line
from measurement.meters.base import Clock, MeterError, MeterKind, Reading, WindowClock

TIME_COLUMNS = ("timestamp", "time", "unix_s", "t")
POWER_COLUMNS = ("watts", "power_w", "power", "w")


class TraceError(MeterError):
    """A trace file that cannot be used (missing, unreadable, wrong columns, no valid rows)."""


@dataclass(frozen=True)
class PowerTrace:
    """Sorted, de-duplicated samples of node power."""

    unix_s: np.ndarray
    power_w: np.ndarray
    dropped_rows: int = 0

    def integrate(self, start_unix_s: float, end_unix_s: float, max_gap_s: float) -> tuple[float, str | None]:
        """Energy in joules over [start, end], and a reject reason when the trace cannot cover it."""
        t, p = self.unix_s, self.power_w
        if len(t) < 2 or start_unix_s < t[0] or end_unix_s > t[-1]:
            span = f"[{t[0]:.3f}, {t[-1]:.3f}]" if len(t) else "empty"
            return float("nan"), f"trace {span} does not cover window [{start_unix_s:.3f}, {end_unix_s:.3f}]"
        inside = (t > start_unix_s) & (t < end_unix_s)
        grid = np.concatenate(([start_unix_s], t[inside], [end_unix_s]))
        gaps = np.diff(np.concatenate(([t[t <= start_unix_s][-1]], t[inside], [t[t >= end_unix_s][0]])))
        if gaps.max() > max_gap_s:
            return float("nan"), f"trace gap of {gaps.max():.1f} s > {max_gap_s:.1f} s inside the window"
        watts = np.interp(grid, t, p)
        return float(np.trapezoid(watts, grid)), None


def _parse_times(values) -> np.ndarray:
    import pandas as pd

    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(dtype=float)
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if parsed.isna().any():
        raise TraceError("trace timestamps must be unix seconds or ISO-8601 times")
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def load_trace(path: Path | str) -> PowerTrace:
    """Read a CSV or Parquet trace; drop NaN/negative watts and duplicate timestamps, sort by time.

    Raises:
        TraceError: with one line saying what is wrong with the file.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise TraceError(f"trace file not found: {path}")
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise TraceError(f"cannot read trace {path}: {first_line(exc)}") from None
    columns = {str(c).strip().lower(): c for c in frame.columns}
    time_col = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    power_col = next((columns[c] for c in POWER_COLUMNS if c in columns), None)
    if time_col is None or power_col is None:
        raise TraceError(
            f"trace {path} needs a timestamp column ({'/'.join(TIME_COLUMNS)}) and a watts column "
            f"({'/'.join(POWER_COLUMNS)}); found {list(frame.columns)}"
        )
    unix_s = _parse_times(frame[time_col])
    power_w = pd.to_numeric(frame[power_col], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(unix_s) & np.isfinite(power_w) & (power_w >= 0)
    unix_s, power_w = unix_s[keep], power_w[keep]
    order = np.argsort(unix_s, kind="stable")
    unix_s, power_w = unix_s[order], power_w[order]
    unique = np.concatenate(([True], np.diff(unix_s) > 0)) if len(unix_s) else np.array([], bool)
    unix_s, power_w = unix_s[unique], power_w[unique]
    if len(unix_s) < 2:
        raise TraceError(f"trace {path} has fewer than two valid (timestamp, watts) rows")
    return PowerTrace(unix_s=unix_s, power_w=power_w, dropped_rows=int(len(frame) - len(unix_s)))


class TraceMeter:
    """Integrates an external power trace over each window. Re-reads the file at stop() when it grew."""

    name = "trace"
    kind = MeterKind.MEASURED

    def __init__(
        self,
        path: Path | str,
        max_gap_s: float = 5.0,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_gap_s = max_gap_s
        self.trace = load_trace(self.path)
        self._mtime = self.path.stat().st_mtime_ns
        self._wall = wall
        self._window = WindowClock(clock, wall)

    def start(self) -> None:
        """Open a window (records wall-clock time)."""
        self._window.open()

    def stop(self) -> Reading:
        """Close the window and integrate the trace over it."""
        start_unix = self._window.start_unix_s
        duration = self._window.close()
        if self.path.stat().st_mtime_ns != self._mtime:
            self.trace, self._mtime = load_trace(self.path), self.path.stat().st_mtime_ns
        energy, reason = self.trace.integrate(start_unix, start_unix + duration, self.max_gap_s)
        return Reading(
            energy_j=energy,
            duration_s=duration,
            meter=self.name,
            kind=self.kind,
            domains_j={"node": energy},
            start_unix_s=start_unix,
            reject_reason=reason,
        )
