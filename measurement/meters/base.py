"""The one interface every energy meter implements, its reading, and its errors."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Clock = Callable[[], float]
"""A function returning seconds; injected so tests can drive time."""

FLOOR_NOISE_SIGMAS = 1.0
"""A dynamic energy must exceed this many times the meter's noise (watts) x the window's length. One sample's
noise, not its standard error: the idle power it is compared with was measured at another time, and a
dynamic power below one sample's noise cannot be told from the baseline's drift."""


class MeterKind(enum.StrEnum):
    """Whether a meter reads a physical counter or estimates from CPU time."""

    MEASURED = "measured"
    ESTIMATED = "estimated"


@dataclass(frozen=True)
class Reading:
    """Energy over one start/stop window.

    Attributes:
        energy_j: energy over the window, joules.
        duration_s: length of the window, seconds (monotonic clock).
        meter: name of the meter that produced it.
        kind: measured or estimated.
        domains_j: per-domain energy (e.g. ``package-0``, ``dram``), joules.
        start_unix_s: wall-clock start, used to align external traces.
        reject_reason: set when the meter could not produce a trustworthy value (e.g. a trace gap).
        resolution_j: the smallest energy the meter resolves over this window, joules (its counter's unit,
            or its power quantum x the window's length); 0 when it has no quantum (an estimate, a replay).
        noise_w: the meter's noise as power, watts (a trace's spread between consecutive samples); 0 when
            unknown.
    """

    energy_j: float
    duration_s: float
    meter: str
    kind: MeterKind
    domains_j: dict[str, float] = field(default_factory=dict)
    start_unix_s: float = 0.0
    reject_reason: str | None = None
    resolution_j: float = 0.0
    noise_w: float = 0.0

    @property
    def power_w(self) -> float:
        """Mean power over the window."""
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def floor_j(self) -> float:
        """The smallest dynamic (idle-subtracted) energy this reading can tell from zero, joules:
        max(resolution, ``FLOOR_NOISE_SIGMAS`` x noise x duration)."""
        return max(self.resolution_j, FLOOR_NOISE_SIGMAS * self.noise_w * max(self.duration_s, 0.0))

    def floor_basis(self) -> str:
        """Which term sets :attr:`floor_j`, in words (for a reject reason)."""
        noise_j = FLOOR_NOISE_SIGMAS * self.noise_w * max(self.duration_s, 0.0)
        if noise_j > self.resolution_j:
            return f"{FLOOR_NOISE_SIGMAS:g} x the meter's noise {self.noise_w:.3g} W x {self.duration_s:.3g} s"
        return f"the meter's resolution over {self.duration_s:.3g} s"


@runtime_checkable
class EnergyMeter(Protocol):
    """Measures energy between ``start()`` and ``stop()``. Not re-entrant: one window at a time."""

    name: str
    kind: MeterKind

    def start(self) -> None:
        """Open a window."""

    def stop(self) -> Reading:
        """Close the window and return its reading."""


class MeterError(RuntimeError):
    """A meter failed; the message says what and how to fix it."""


class MeterUnavailable(MeterError):
    """The meter cannot run on this machine (no counter, no driver, no library)."""


class MeterPermissionError(MeterUnavailable):
    """The counter exists but this user may not read it."""


class WindowClock:
    """Wall and monotonic time of a window's start, shared by meters that integrate over time."""

    def __init__(self, clock: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self._clock, self._wall = clock, wall
        self.start_s: float | None = None
        self.start_unix_s = 0.0

    def open(self) -> None:
        """Record the start of a window."""
        self.start_s, self.start_unix_s = self._clock(), self._wall()

    def close(self) -> float:
        """Return the window's length and reset."""
        if self.start_s is None:
            raise MeterError("stop() called before start()")
        duration = self._clock() - self.start_s
        self.start_s = None
        return duration
