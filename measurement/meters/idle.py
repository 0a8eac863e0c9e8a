"""Idle power: what the machine draws while the measuring process sleeps, subtracted from every window.

Torch-free, so measuring a user's program (``advisor measure``) never loads torch; the harness and the
sweeps use the same function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from measurement.meters.base import EnergyMeter, MeterError
from measurement.records import DEFAULT_IDLE_S


def measure_idle_power(
    meter: EnergyMeter, duration_s: float = DEFAULT_IDLE_S, sleep: Callable[[float], None] = time.sleep
) -> float:
    """Mean power over an idle interval (the process sleeps), used to standardise runs.

    Returns:
        The idle power in watts (negative readings are clamped to 0).

    Raises:
        MeterError: when the meter fails, or rejects the idle window (its reject reason, or a
            non-finite energy, is the message): standardising by a made-up 0 W would be silently wrong.
    """
    meter.start()
    sleep(duration_s)
    reading = meter.stop()
    if reading.reject_reason:
        raise MeterError(f"idle window rejected: {reading.reject_reason}")
    if not math.isfinite(reading.energy_j):
        raise MeterError(f"idle window gave a non-finite energy ({reading.energy_j} J)")
    return max(reading.power_w, 0.0)
