"""Choose a meter: the best available, saying which and why (the fallback ladder).

Ladder for device "cpu": RAPL -> estimate. For "cuda": NVML -> RAPL -> estimate. A trace or a replay
file is never guessed: the user names it. Each step down is reported with how to fix it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measurement.meters.base import EnergyMeter, MeterError
from measurement.meters.estimate import EstimateMeter
from measurement.meters.rapl import POWERCAP_ROOT, RaplMeter

log = logging.getLogger(__name__)


class MeterChoice(enum.StrEnum):
    """What the user can ask for with ``--meter``."""

    AUTO = "auto"
    RAPL = "rapl"
    NVML = "nvml"
    TRACE = "trace"
    ESTIMATE = "estimate"
    REPLAY = "replay"


@dataclass(frozen=True)
class LadderStep:
    """One rung of the ladder: whether that meter works here and, if not, why."""

    meter: str
    available: bool
    detail: str


@dataclass(frozen=True)
class MeterOptions:
    """Everything a meter may need; only the chosen meter's fields are used."""

    choice: MeterChoice = MeterChoice.AUTO
    device: str = "cpu"
    powercap_root: Path = POWERCAP_ROOT
    trace_path: Path | None = None
    trace_max_gap_s: float = 5.0
    replay_path: Path | None = None
    core_dynamic_w: float | None = None
    nvml: object | None = None
    gpu_index: int = 0
    powercap_reader: Callable[[Path], str] | None = None


def parse_meter_choice(name: str) -> MeterChoice:
    """Parse ``--meter``; raise MeterError listing the valid names."""
    try:
        return MeterChoice(name)
    except ValueError:
        raise MeterError(f"unknown meter {name!r} (choose from: {', '.join(m.value for m in MeterChoice)})") from None


def _make(choice: MeterChoice, options: MeterOptions) -> EnergyMeter:
    if choice is MeterChoice.RAPL:
        if options.powercap_reader is not None:
            return RaplMeter(options.powercap_root, reader=options.powercap_reader)
        return RaplMeter(options.powercap_root)
    if choice is MeterChoice.NVML:
        from measurement.meters.nvml import NvmlMeter

        return NvmlMeter(options.gpu_index, nvml=options.nvml)
    if choice is MeterChoice.TRACE:
        if options.trace_path is None:
            raise MeterError("--meter trace needs --trace FILE (CSV/Parquet with timestamp and watts)")
        from measurement.meters.trace import TraceMeter

        return TraceMeter(options.trace_path, max_gap_s=options.trace_max_gap_s)
    if choice is MeterChoice.REPLAY:
        if options.replay_path is None:
            raise MeterError("--meter replay needs --replay FILE (CSV with energy_j, duration_s)")
        from measurement.meters.replay import ReplayMeter

        return ReplayMeter(options.replay_path)
    if options.core_dynamic_w is not None:
        return EstimateMeter(core_dynamic_w=options.core_dynamic_w)
    return EstimateMeter()


def ladder(options: MeterOptions) -> list[LadderStep]:
    """Try each automatic rung in order and report what works, without keeping any meter."""
    rungs = [MeterChoice.NVML] if options.device.startswith("cuda") else []
    rungs += [MeterChoice.RAPL, MeterChoice.ESTIMATE]
    steps = []
    for rung in rungs:
        try:
            meter = _make(rung, options)
        except MeterError as exc:
            steps.append(LadderStep(rung.value, False, str(exc)))
            continue
        detail = (
            "estimate from process CPU time x per-core watts (not a measurement)"
            if (rung is MeterChoice.ESTIMATE)
            else f"{meter.kind.value} counter"
        )
        steps.append(LadderStep(rung.value, True, detail))
    return steps


def log_fallbacks(steps: list[LadderStep]) -> None:
    """Log, once each, the rungs skipped before the first available one (with how to fix them)."""
    for step in steps:
        if step.available:
            return
        log.warning("meter %s unavailable: %s", step.meter, step.detail)


def choose_meter(options: MeterOptions, warn: bool = True) -> tuple[EnergyMeter, list[LadderStep]]:
    """Build the meter the options ask for; with AUTO, the first rung of the ladder that works.

    ``warn=False`` defers the fallback warnings (call :func:`log_fallbacks` once the rest is validated).

    Raises:
        MeterError: when an explicitly named meter cannot run here (no silent substitution).
    """
    if options.choice is not MeterChoice.AUTO:
        return _make(options.choice, options), [LadderStep(options.choice.value, True, "chosen by the user")]
    steps = ladder(options)
    for step in steps:
        if step.available:
            if warn:
                log_fallbacks(steps)
            return _make(MeterChoice(step.meter), options), steps
    raise MeterError("no energy meter is available")  # unreachable: the estimate always works
