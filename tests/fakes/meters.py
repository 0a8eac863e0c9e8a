"""A power line driven by the test (seconds at so many watts) and a meter that reads it: hardware-free windows
with exact energies."""

from __future__ import annotations

from measurement.meters.base import MeterError, MeterKind, Reading


class PowerLine:
    """Energy and time that move only when the test says: ``run(seconds, watts)``; ``sleep`` runs at idle."""

    def __init__(self, idle_w: float = 5.0) -> None:
        self.now, self.energy_j, self.idle_w = 1000.0, 0.0, idle_w

    def run(self, seconds: float, watts: float) -> None:
        self.now += seconds
        self.energy_j += seconds * watts

    def sleep(self, seconds: float) -> None:
        self.run(seconds, self.idle_w)


class LineMeter:
    """Reads a :class:`PowerLine`; ``fail_on_stop`` makes the n-th ``stop()`` (from 1) raise a MeterError."""

    name = "fake"

    def __init__(self, line: PowerLine, kind: MeterKind = MeterKind.MEASURED, fail_on_stop: int | None = None,
                 resolution_j: float = 0.0) -> None:  # fmt: skip
        self.line, self.kind, self.fail_on_stop, self.resolution_j = line, kind, fail_on_stop, resolution_j
        self.stops = 0
        self.closed = False
        self._start: tuple[float, float] | None = None

    def start(self) -> None:
        self._start = (self.line.now, self.line.energy_j)

    def stop(self) -> Reading:
        if self._start is None:
            raise MeterError("stop() called before start()")
        self.stops += 1
        (t0, e0), self._start = self._start, None
        if self.stops == self.fail_on_stop:
            raise MeterError("counter vanished")
        return Reading(self.line.energy_j - e0, self.line.now - t0, self.name, self.kind, start_unix_s=t0,
                       resolution_j=self.resolution_j)  # fmt: skip

    def close(self) -> None:
        self.closed = True
