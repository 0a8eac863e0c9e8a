"""External node power traces (PDU, IPMI ``dcmi power reading`` logs, a wattmeter) as a meter.

A trace is a CSV (plain or compressed) or Parquet file with a timestamp column (unix seconds, or ISO-8601
text) and a watts column, read within the bounds of :mod:`measurement.tables` (at most
``TABLE_MAX_ROWS`` rows: 58 days at 1 Hz). Each window is aligned to the trace by wall-clock time and
integrated with the trapezoid rule; a window the trace does not cover, or that contains a gap longer than
``max_gap_s``, is returned with a ``reject_reason`` instead of a number we cannot trust.

How the rows are cleaned (:meth:`PowerTrace.summary` states what was done to a file):

1. rows whose timestamp or watts is missing, not finite, or whose watts are negative are dropped;
2. rows out of time order are sorted by timestamp (logs merged from several files arrive out of order);
   the number of backward steps is counted;
3. rows at the same timestamp with the same watts are collapsed into one (a logger that wrote a line
   twice); rows at the same timestamp with *different* watts are refused (:class:`TraceError`, naming the
   first such instant): one instant has one reading, and picking one of two meters' values would be a
   guess (two sources merged into one file look like this).

Each reading carries the trace's floor for a dynamic energy (see :class:`~measurement.meters.base.Reading`):
its resolution, the finest decimal its watts use (IPMI's whole watts: 1 W), and its noise, the robust
spread of consecutive samples (1.4826 x median |difference| / sqrt 2), each times the window's length.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from measurement.meters.base import Clock, MeterError, MeterKind, Reading, WindowClock
from measurement.tables import TableError, open_table

log = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "time", "unix_s", "t")
POWER_COLUMNS = ("watts", "power_w", "power", "w")
RESOLUTION_MAX_DECIMALS = 6
"""Finest resolution a trace is credited with: 1e-6 W (readings with more decimals are treated as exact)."""


class TraceError(MeterError):
    """A trace file that cannot be used (missing, unreadable, wrong columns, no valid rows, conflicting rows)."""


@dataclass(frozen=True)
class PowerTrace:
    """Sorted samples of node power with one reading per instant, and what cleaning them did.

    Attributes:
        unix_s: sample times, strictly increasing.
        power_w: watts at each sample.
        dropped_rows: rows dropped for a missing, non-finite or negative value.
        collapsed_rows: exact duplicates (same timestamp, same watts) collapsed into one.
        out_of_order_rows: rows whose timestamp came before the previous row's (sorted).
        resolution_w: the finest step the readings use, watts.
        noise_w: the robust spread of consecutive samples, watts.
    """

    unix_s: np.ndarray
    power_w: np.ndarray
    dropped_rows: int = 0
    collapsed_rows: int = 0
    out_of_order_rows: int = 0
    resolution_w: float = 0.0
    noise_w: float = 0.0

    def summary(self) -> str:
        """One line: the samples kept and every rule applied to the file."""
        return (
            f"{len(self.unix_s):,} samples over {self.unix_s[-1] - self.unix_s[0]:.1f} s; "
            f"{self.dropped_rows:,} dropped (missing, non-finite or negative), {self.collapsed_rows:,} exact "
            f"duplicates collapsed, {self.out_of_order_rows:,} out of order (sorted); resolution "
            f"{self.resolution_w:.3g} W, noise {self.noise_w:.3g} W"
        )

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


def _pick_columns(path: Path, names: tuple[str, ...]) -> tuple[str, str]:
    columns = {name.strip().lower(): name for name in names}
    time_col = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    power_col = next((columns[c] for c in POWER_COLUMNS if c in columns), None)
    if time_col is None or power_col is None:
        raise TraceError(
            f"trace {path} needs a timestamp column ({'/'.join(TIME_COLUMNS)}) and a watts column "
            f"({'/'.join(POWER_COLUMNS)}); found {list(names)}"
        )
    return time_col, power_col


def _read_samples(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every row's (unix seconds, watts), in file order, read within the table bounds."""
    import pandas as pd

    times, watts = [], []
    with open_table(path) as table:
        time_col, power_col = _pick_columns(path, table.columns)
        for chunk in table.read([time_col, power_col]):
            times.append(_parse_times(chunk[time_col]))
            watts.append(pd.to_numeric(chunk[power_col], errors="coerce").to_numpy(dtype=float))
    if not times:
        return np.empty(0), np.empty(0)
    return np.concatenate(times), np.concatenate(watts)


def _one_reading_per_instant(path: Path, unix_s: np.ndarray, power_w: np.ndarray) -> np.ndarray:
    """Sorted samples -> a mask keeping one of each run of exact duplicates.

    Raises:
        TraceError: when one timestamp carries different watts (the first such instant is named).
    """
    if len(unix_s) == 0:
        return np.zeros(0, dtype=bool)
    same_time = unix_s[1:] == unix_s[:-1]
    conflict = same_time & (power_w[1:] != power_w[:-1])
    if conflict.any():
        first = int(np.flatnonzero(conflict)[0])
        instants = int(np.unique(unix_s[1:][conflict]).size)
        raise TraceError(
            f"trace {path}: {instants:,} timestamp(s) carry conflicting watts (first at {unix_s[first]:.3f} s: "
            f"{power_w[first]:g} W and {power_w[first + 1]:g} W); one instant must have one reading "
            "(two meters merged into one file?): keep one source per trace"
        )
    return np.concatenate(([True], ~same_time))


def _resolution_w(power_w: np.ndarray) -> float:
    """The finest decimal step the readings use (1 W for whole watts), at most ``RESOLUTION_MAX_DECIMALS``."""
    for decimals in range(RESOLUTION_MAX_DECIMALS + 1):
        scaled = power_w * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 10.0**-decimals
    return 10.0**-RESOLUTION_MAX_DECIMALS


def _noise_w(power_w: np.ndarray) -> float:
    """Robust spread of consecutive samples: steps between load levels are few, so the median ignores them."""
    if len(power_w) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.diff(power_w))) / math.sqrt(2.0))


def load_trace(path: Path | str) -> PowerTrace:
    """Read a CSV or Parquet trace within the table bounds and clean it by the rules of the module doc.

    Raises:
        TraceError: with one line saying what is wrong with the file (a bound it passes, conflicting
            duplicates, missing columns, fewer than two valid rows …).
    """
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"trace file not found: {path}")
    try:
        unix_s, power_w = _read_samples(path)
    except TableError as exc:
        raise TraceError(f"cannot read trace {exc}") from None
    rows = len(unix_s)
    valid = np.isfinite(unix_s) & np.isfinite(power_w) & (power_w >= 0)
    unix_s, power_w = unix_s[valid], power_w[valid]
    out_of_order = int(np.count_nonzero(np.diff(unix_s) < 0))
    order = np.lexsort((power_w, unix_s))
    unix_s, power_w = unix_s[order], power_w[order]
    keep = _one_reading_per_instant(path, unix_s, power_w)
    unix_s, power_w = unix_s[keep], power_w[keep]
    if len(unix_s) < 2:
        raise TraceError(f"trace {path} has fewer than two valid (timestamp, watts) rows")
    return PowerTrace(
        unix_s=unix_s,
        power_w=power_w,
        dropped_rows=int(rows - valid.sum()),
        collapsed_rows=int(len(keep) - keep.sum()),
        out_of_order_rows=out_of_order,
        resolution_w=_resolution_w(power_w),
        noise_w=_noise_w(power_w),
    )


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
        self.trace = self._load()
        self._wall = wall
        self._window = WindowClock(clock, wall)

    def _load(self) -> PowerTrace:
        """Read the trace; say what cleaning it did (a warning when rows were dropped, collapsed or sorted)."""
        mtime = self.path.stat().st_mtime_ns if self.path.is_file() else None
        trace = load_trace(self.path)  # a missing file: TraceError, one line
        self._mtime = mtime
        changed = trace.dropped_rows or trace.collapsed_rows or trace.out_of_order_rows
        log.log(logging.WARNING if changed else logging.INFO, "trace %s: %s", self.path, trace.summary())
        return trace

    def summary(self) -> str:
        """What the trace holds and what cleaning it did (see :meth:`PowerTrace.summary`)."""
        return self.trace.summary()

    def start(self) -> None:
        """Open a window (records wall-clock time)."""
        self._window.open()

    def stop(self) -> Reading:
        """Close the window and integrate the trace over it."""
        start_unix = self._window.start_unix_s
        duration = self._window.close()
        if self.path.stat().st_mtime_ns != self._mtime:
            self.trace = self._load()
        energy, reason = self.trace.integrate(start_unix, start_unix + duration, self.max_gap_s)
        return Reading(
            energy_j=energy,
            duration_s=duration,
            meter=self.name,
            kind=self.kind,
            domains_j={"node": energy},
            start_unix_s=start_unix,
            reject_reason=reason,
            resolution_j=self.trace.resolution_w * duration,
            noise_w=self.trace.noise_w,
        )
