"""Choose a meter: the best available, saying which and why (the fallback ladder).

Ladder for device "cpu": RAPL -> estimate. For "cuda": NVML -> RAPL -> estimate. A trace or a replay
file is never guessed: the user names it. Each step down is reported with how to fix it. Each rung's
meter is built once; those built but not used are closed (NVML is shut down again).

The options a user types are validated here too (:func:`build_meter_options`, :func:`default_idle_s`), so
the CLI and the TUI hold no meter rules of their own.
"""

from __future__ import annotations

import enum
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measurement.errors import InputError
from measurement.meters.base import EnergyMeter, MeterError
from measurement.meters.estimate import EstimateMeter
from measurement.meters.rapl import POWERCAP_ROOT, RaplMeter
from measurement.records import DEFAULT_IDLE_S

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


def _rungs(device: str) -> list[MeterChoice]:
    """The automatic rungs for a device, best first."""
    return [*([MeterChoice.NVML] if device.startswith("cuda") else []), MeterChoice.RAPL, MeterChoice.ESTIMATE]


def _build_ladder(options: MeterOptions) -> list[tuple[LadderStep, EnergyMeter | None]]:
    """Build each automatic rung's meter once: every rung's step, with its meter when it works."""
    built: list[tuple[LadderStep, EnergyMeter | None]] = []
    try:
        for rung in _rungs(options.device):
            built.append(_build_rung(rung, options))
    except BaseException:  # an unexpected failure: release what was built before passing it on
        for _, meter in built:
            close_meter(meter)
        raise
    return built


def _build_rung(rung: MeterChoice, options: MeterOptions) -> tuple[LadderStep, EnergyMeter | None]:
    try:
        meter = _make(rung, options)
    except MeterError as exc:
        return LadderStep(rung.value, False, str(exc)), None
    detail = (
        "estimate from process CPU time x per-core watts (not a measurement)"
        if rung is MeterChoice.ESTIMATE
        else f"{meter.kind.value} counter"
    )
    return LadderStep(rung.value, True, detail), meter


def close_meter(meter: object) -> None:
    """Release what a meter holds (NVML's ``nvmlShutdown``); a meter without ``close()`` holds nothing,
    and ``None`` is ignored.

    A failure to release is logged, not raised: the meter's work is done either way.
    """
    close = getattr(meter, "close", None)
    if close is None:
        return
    try:
        close()
    except MeterError as exc:
        log.warning("could not release meter %s: %s", getattr(meter, "name", meter), exc)


def ladder(options: MeterOptions) -> list[LadderStep]:
    """Try each automatic rung in order and report what works; every meter built is closed again."""
    built = _build_ladder(options)
    for _, meter in built:
        close_meter(meter)
    return [step for step, _ in built]


def log_fallbacks(steps: list[LadderStep]) -> None:
    """Log, once each, the rungs skipped before the first available one (with how to fix them)."""
    for step in steps:
        if step.available:
            return
        log.warning("meter %s unavailable: %s", step.meter, step.detail)


def choose_meter(options: MeterOptions, warn: bool = True) -> tuple[EnergyMeter, list[LadderStep]]:
    """Build the meter the options ask for; with AUTO, the first rung of the ladder that works.

    Each rung's meter is built once; the chosen one is returned (the caller closes it with
    :func:`close_meter` when done) and the others are closed here. ``warn=False`` defers the fallback
    warnings (call :func:`log_fallbacks` once the rest is validated).

    Raises:
        MeterError: when an explicitly named meter cannot run here (no silent substitution).
    """
    if options.choice is not MeterChoice.AUTO:
        meter = _make(options.choice, options)
        summary = getattr(meter, "summary", None)  # a trace says what it holds and how it was cleaned
        detail = "chosen by the user" + (f"; {summary()}" if summary else "")
        return meter, [LadderStep(options.choice.value, True, detail)]
    built = _build_ladder(options)
    chosen = next((meter for _, meter in built if meter is not None), None)
    for _, meter in built:
        if meter is not chosen:
            close_meter(meter)
    if chosen is None:
        raise MeterError("no energy meter is available")  # unreachable: the estimate always works
    steps = [step for step, _ in built]
    if warn:
        log_fallbacks(steps)
    return chosen, steps


_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def build_meter_options(
    choice: str,
    device: str = "cpu",
    trace_path: Path | None = None,
    trace_max_gap_s: float = 5.0,
    replay_path: Path | None = None,
    core_watts: float | None = None,
) -> MeterOptions:
    """Validated meter options from what a user typed (``--meter``, ``--device``, ``--trace`` …).

    Args:
        choice: a meter name (see :class:`MeterChoice`).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        trace_path: the power trace of ``--meter trace``.
        trace_max_gap_s: the longest gap a trace may have inside a window, seconds; finite and > 0.
        replay_path: the readings file of ``--meter replay``.
        core_watts: the estimate meter's dynamic watts per busy core; finite and > 0 when given.

    Raises:
        MeterError: for an unknown meter name (the message lists the valid ones).
        InputError: for an unknown device or a non-positive or non-finite number.
    """
    meter = parse_meter_choice(choice)
    if not isinstance(device, str) or _DEVICE.fullmatch(device) is None:
        raise InputError(f"unknown device {device!r} (cpu, cuda or cuda:N)")
    if core_watts is not None and not _positive(core_watts):
        raise InputError(f"core watts (--core-watts) must be a finite number > 0, got {core_watts}")
    if not _positive(trace_max_gap_s):
        raise InputError(f"trace max gap (--trace-max-gap) must be finite seconds > 0, got {trace_max_gap_s}")
    return MeterOptions(
        choice=meter,
        device=device,
        trace_path=None if trace_path is None else Path(trace_path),
        trace_max_gap_s=float(trace_max_gap_s),
        replay_path=None if replay_path is None else Path(replay_path),
        core_dynamic_w=None if core_watts is None else float(core_watts),
    )


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def default_idle_s(options: MeterOptions) -> float:
    """How long to measure idle power before a sweep with these options: none for replayed readings
    (a replay has no idle to measure), else :data:`measurement.records.DEFAULT_IDLE_S`."""
    return 0.0 if options.choice is MeterChoice.REPLAY else DEFAULT_IDLE_S
