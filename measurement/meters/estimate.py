"""Estimated energy for machines without counters (VMs, containers, CI). Always labelled an estimate.

Energy = idle share x wall time + dynamic watts per core x CPU seconds of this process.

What it counts, deliberately: the process's CPU time over all its threads (user + system). With
several torch threads, OpenMP workers spin while waiting and CPU time runs ahead of useful work
(about 2x wall on 2 threads even for tiny nets here). A spinning core does draw power, so counting it is
the honest choice; calibrations default to one thread, where CPU time and wall time agree.
"""

from __future__ import annotations

import time

from measurement.meters.base import Clock, MeterError, MeterKind, Reading, WindowClock

DEFAULT_CORE_DYNAMIC_W = 10.0
"""Dynamic watts of one fully busy core: a server CPU's TDP per core (e.g. Xeon Gold 6154, 200 W / 18)."""
DEFAULT_IDLE_SHARE_W = 0.0
"""Idle power attributed to the process. Zero by default: idle standardisation removes it anyway."""


class EstimateMeter:
    """Energy from process CPU time and a per-core power figure. ``kind`` is always ESTIMATED."""

    name = "estimate"
    kind = MeterKind.ESTIMATED

    def __init__(
        self,
        core_dynamic_w: float = DEFAULT_CORE_DYNAMIC_W,
        idle_share_w: float = DEFAULT_IDLE_SHARE_W,
        cpu_clock: Clock = time.process_time,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        if core_dynamic_w <= 0 or idle_share_w < 0:
            raise MeterError(f"core watts must be > 0 and idle watts >= 0, got {core_dynamic_w}, {idle_share_w}")
        self.core_dynamic_w, self.idle_share_w = core_dynamic_w, idle_share_w
        self._cpu_clock = cpu_clock
        self._window = WindowClock(clock, wall)
        self._cpu_start: float | None = None

    def start(self) -> None:
        """Open a window."""
        self._cpu_start = self._cpu_clock()
        self._window.open()

    def stop(self) -> Reading:
        """Close the window and return the estimate."""
        if self._cpu_start is None:
            raise MeterError("stop() called before start()")
        cpu_s = self._cpu_clock() - self._cpu_start
        duration = self._window.close()
        self._cpu_start = None
        dynamic_j = self.core_dynamic_w * cpu_s
        idle_j = self.idle_share_w * duration
        return Reading(
            energy_j=dynamic_j + idle_j,
            duration_s=duration,
            meter=self.name,
            kind=self.kind,
            domains_j={"cpu_dynamic": dynamic_j, "idle_share": idle_j},
            start_unix_s=self._window.start_unix_s,
        )
