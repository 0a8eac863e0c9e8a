"""Measure the user's own code: ``with advisor.measure(label=...) as m:``, ``@advisor.measured(...)``, and
(through :func:`advisor.measuring_command.run_command`) ``advisor measure -- COMMAND``.

The same meter ladder as calibrations (NVML, RAPL, a trace, the estimate; the estimate counts the CPU time of
the whole process tree), idle power measured before and subtracted, the meter's kind on every number. The meter
is read at every phase boundary: each ``m.phase(...)`` block is one window and each stretch between blocks
another, so the whole is their sum and a phase costs two meter reads. A measurement that names its network
(``model=``, ``batch_size=``) and reports datums (``m.datums(n)``) is priced by the profile, and the result
shows predicted beside measured energy per datum.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.measuring_forecast import Forecast, Segment, forecast_energy
from advisor.measuring_result import Comparison, MeasureResult, build_run
from measurement.errors import InputError
from measurement.measured import TOTAL, MeasuredNetwork, MeasuredRun
from measurement.meters.auto import build_meter_options, choose_meter, close_meter
from measurement.meters.base import EnergyMeter, MeterError, MeterKind, Reading
from measurement.meters.estimate import EstimateMeter
from measurement.meters.idle import measure_idle_power
from measurement.process import ProcessTreeCpu
from measurement.records import RunStatus, Window

log = logging.getLogger(__name__)

MEASURE_IDLE_S = 1.0
"""Idle power is measured this long before a measurement (``idle_s``); 0 skips it (nothing is subtracted)."""
MAX_IDLE_S = 600.0
MAX_LABEL = 200
JOB_VARIABLES = (("SLURM_JOB_ID", "slurm"), ("PBS_JOBID", "pbs"))
"""Environment variables naming the batch job a measurement runs in, and the scheduler each belongs to."""


def job_id(env: Mapping[str, str] | None = None) -> str | None:
    """The batch job this process runs in (``slurm:ID`` or ``pbs:ID``), None outside one."""
    env = os.environ if env is None else env
    return next((f"{name}:{env[var]}" for var, name in JOB_VARIABLES if env.get(var)), None)


def _check_label(label: object) -> str:
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        raise InputError(
            f"a measurement's label must be a non-empty string of at most {MAX_LABEL} characters, "
            f"got {str(label)[:60]!r}"
        )
    return label.strip()


def _check_idle(idle_s: object) -> float:
    if isinstance(idle_s, bool) or not isinstance(idle_s, int | float) or not 0 <= idle_s <= MAX_IDLE_S:
        raise InputError(f"idle length (idle_s, --idle) must be seconds in [0, {MAX_IDLE_S:g}], got {idle_s!r}")
    return float(idle_s)


def _check_datums(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"datums must be a whole number >= 0, got {n!r}")
    return n


def _network(model: object, batch_size: int | None, input_dim: int | None) -> MeasuredNetwork | None:
    """The network a measurement names: a torch module (read by :func:`models.modules.describe_module`), or
    already a :class:`MeasuredNetwork`; None when it names none."""
    if model is None:
        if batch_size is not None or input_dim is not None:
            raise InputError("batch_size and input_dim describe a model: pass model= too")
        return None
    if batch_size is None:
        raise InputError("a measurement that names its model needs its batch_size (to price it)")
    if isinstance(model, MeasuredNetwork):
        return model
    from models.modules import describe_module

    return describe_module(model, batch_size, input_dim)


@dataclass(frozen=True)
class MeterSetup:
    """Which meter a measurement uses: a name from the ladder (``auto``, ``rapl`` …) with its options, or a
    meter object (a fake in tests, or one the caller built)."""

    meter: str | EnergyMeter = "auto"
    device: str = "cpu"
    trace: Path | None = None
    core_watts: float | None = None

    def validate(self) -> None:
        """Refuse an unknown meter name or bad options before any work (MeterError / InputError)."""
        if isinstance(self.meter, str):
            build_meter_options(self.meter, self.device, trace_path=self.trace, core_watts=self.core_watts)
        elif not isinstance(self.meter, EnergyMeter):
            raise InputError(f"meter must be a meter name or an energy meter, got {type(self.meter).__name__}")

    def build(self, tree_pid: int | None = None) -> EnergyMeter:
        """The meter; an estimate counts the CPU time of the process tree rooted at ``tree_pid`` (default: this
        process), so a command's children and a loop's worker processes are priced too."""
        if not isinstance(self.meter, str):
            return self.meter
        options = build_meter_options(self.meter, self.device, trace_path=self.trace, core_watts=self.core_watts)
        meter, _ = choose_meter(options)
        if isinstance(meter, EstimateMeter):
            meter = EstimateMeter(meter.core_dynamic_w, meter.idle_share_w, cpu_clock=ProcessTreeCpu(tree_pid))
        return meter


class Measurement:
    """One measurement in progress; use ``advisor.measure(...)`` as a context manager (or :meth:`start` and
    :meth:`finish`). Not thread-safe: phases and datums are reported from one thread.

    After it ends, :attr:`result` holds the :class:`~advisor.measuring_result.MeasureResult`.
    """

    def __init__(
        self,
        label: str,
        setup: MeterSetup,
        network: MeasuredNetwork | None,
        idle_s: float,
        store: Path | str | bool | None = None,
        profile: Any = None,
        command: tuple[str, ...] | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        setup.validate()
        self.label, self.setup, self.network, self.idle_s = _check_label(label), setup, network, _check_idle(idle_s)
        self.store, self.profile, self.command, self.job_id = store, profile, command, job_id(env)
        self._sleep = sleep
        self._meter: EnergyMeter | None = None
        self._segments: list[Segment] = []
        self._phase: str | None = None
        self._block = 0
        self._pending = 0
        self._errors: list[str] = []
        self.idle_power_w = 0.0
        self.result: MeasureResult | None = None

    def __enter__(self) -> Measurement:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.finish()
            return
        try:
            self.finish(error=exc)
        except InputError as store_error:  # the block's own exception matters more: it passes on
            log.warning("the failed measurement %r could not be stored: %s", self.label, store_error)

    @property
    def store_path(self) -> Path | None:
        """The run store this measurement goes to (None: not stored)."""
        if self.store is False:
            return None
        from measurement.store import default_store_path

        return Path(self.store) if isinstance(self.store, str | Path) else default_store_path()

    def start(self, tree_pid: int | None = None) -> None:
        """Build the meter, measure idle power (``idle_s``), and open the first window.

        Raises:
            MeterError: the meter cannot run here, or its idle window failed.
            StoreError: the run store cannot be opened for writing (checked first: the program has not run).
        """
        if self._meter is not None or self.result is not None:
            raise InputError("a measurement runs once: start a new one")
        if self.store_path is not None:
            from measurement.store import RunStore

            RunStore(self.store_path).close()  # creates or upgrades it, or refuses now rather than after the run
        meter = self.setup.build(tree_pid)
        try:
            if self.idle_s > 0:
                self.idle_power_w = measure_idle_power(meter, self.idle_s, self._sleep)
            meter.start()
        except BaseException:
            close_meter(meter)
            raise
        self._meter = meter

    @property
    def running(self) -> bool:
        """Whether the measurement has started and not finished."""
        return self._meter is not None and self.result is None

    def _cut(self, next_phase: str | None) -> None:
        """Close the current window (its phase and the datums reported in it) and open the next."""
        meter = self._meter
        if meter is None:
            return
        try:
            reading = meter.stop()
        except MeterError as exc:
            self._errors.append(f"meter error: {exc}")
            reading = Reading(
                energy_j=math.nan,
                duration_s=0.0,
                meter=meter.name,
                kind=meter.kind,
                reject_reason=f"meter error: {exc}",
            )
        segment = Segment(phase=self._phase, block=self._block, reading=reading, window=self._window(reading))
        self._segments.append(segment)
        self._pending, self._phase = 0, next_phase
        if next_phase is not None:
            self._block += 1
        try:
            meter.start()
        except MeterError as exc:  # nothing more can be metered: the result says so
            self._errors.append(f"meter error: {exc}")
            close_meter(meter)
            self._meter = None

    def _window(self, reading: Reading) -> Window:
        idle_j = self.idle_power_w * reading.duration_s
        return Window(
            energy_j=reading.energy_j,
            duration_s=reading.duration_s,
            datums=self._pending,
            standardised_j=reading.energy_j - idle_j,
        )

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Meter the block as one window of phase ``name`` (``train``, ``eval`` …); blocks of one name add up.

        Raises:
            InputError: a phase inside another, a phase outside a running measurement, or a bad name.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > 64 or name == TOTAL:
            raise InputError(f"a phase name is 1 to 64 characters other than {TOTAL!r}, got {str(name)[:60]!r}")
        if not self.running:
            raise InputError("m.phase(...) belongs inside a running measurement (with advisor.measure(...) as m:)")
        if self._phase is not None:
            raise InputError(f"phases do not nest: {name!r} opened inside {self._phase!r}")
        self._cut(name)
        try:
            yield
        finally:
            self._cut(None)

    def datums(self, n: int) -> None:
        """Report ``n`` datums processed (in the current phase, if inside one, and in the whole)."""
        self._pending += _check_datums(n)

    def forecast(self, epochs: int, phase: str = "train", datums_per_epoch: int | None = None) -> Forecast:
        """The whole run's energy after ``epochs`` epochs, from the epochs measured so far (see
        :func:`advisor.measuring_forecast.forecast_energy` for what it assumes).

        Call it between epochs (outside a block of ``phase``), during or after the measurement.
        """
        if self._phase is not None and self._phase == phase:
            raise InputError(f"call forecast between epochs, not inside a {phase!r} block")
        if self.running:
            self._cut(self._phase)  # read the meter up to now
        kind = self._segments[0].reading.kind if self._segments else MeterKind.ESTIMATED
        return forecast_energy(self._segments, epochs, phase, datums_per_epoch, kind)

    def discard(self) -> None:
        """Stop metering without recording anything (the command could not be started)."""
        if self._meter is not None:
            with contextlib.suppress(MeterError):
                self._meter.stop()
            close_meter(self._meter)
            self._meter = None

    def finish(self, exit_code: int | None = None, error: BaseException | None = None) -> MeasureResult:
        """Close the last window, store the run, price its network and return the result.

        Args:
            exit_code: a command's exit code (non-zero: the run failed).
            error: the exception a measured block raised (the run failed; the caller re-raises it).
        """
        if self.result is not None:
            return self.result
        if self._meter is None and not self._segments:
            raise InputError("the measurement never started")
        if self._phase is not None:
            self._phase = None  # an exception left a phase block: its window ends here
        self._cut(None)
        close_meter(self._meter)
        self._meter = None
        code = exit_code if self.command is not None else (1 if error is not None else 0)
        run = build_run(
            self.label,
            self._segments,
            self.idle_power_w,
            command=self.command,
            job_id=self.job_id,
            network=self.network,
            device=self.setup.device,
            errors=self._errors,
            failure=_failure(exit_code, error),
            exit_code=code,
        )
        self.result = _store_and_price(self, run)
        return self.result


def _failure(exit_code: int | None, error: BaseException | None) -> str | None:
    """Why a measured program failed, or None when it did not."""
    if error is not None:
        return f"the measured block raised {type(error).__name__}: {str(error)[:200]}".rstrip(": ")
    if exit_code:
        if exit_code < 0:
            return f"the command was killed by signal {-exit_code}"
        return f"the command exited with code {exit_code}"
    return None


def _store_and_price(m: Measurement, run: MeasuredRun) -> MeasureResult:
    """Commit the run (unless storing is off) and price its network; the run is stored before the profile is
    read, so a profile that cannot be loaded loses no measurement."""
    run_id, path = None, m.store_path
    if path is not None:
        from advisor.api import this_machine
        from measurement.store import RunStore

        with RunStore(path) as store:
            run_id = store.record_measured(this_machine(), run)
    price, comparison = None, None
    if m.network is not None:
        from models.profile import ProfileError

        try:
            price = _price(m.network, m.profile)
        except (ProfileError, OSError) as exc:
            log.warning("the measurement is kept, but its network could not be priced: %s", exc)
        comparison = Comparison.of(run, price) if price else None
    return MeasureResult(run=run, run_id=run_id, store=path, price=price, comparison=comparison)


def default_profile(profile: Any = None):
    """The profile that prices a module: ``profile`` (a Profile or a folder), else the one
    :func:`advisor.api.load_profile` answers with (the user's own in ``$ADVISOR_HOME/profile`` when there is
    one, else the shipped reference profile)."""
    from advisor.api import load_profile
    from models.profile import Profile

    return profile if isinstance(profile, Profile) else load_profile(profile)


def _price(network: MeasuredNetwork, profile: Any):
    from models.modules import price_network

    return price_network(default_profile(profile), network)


def predict_module(
    model: object,
    batch_size: int = 256,
    input_dim: int | None = None,
    profile: Any = None,
    inference_batch_size: int | None = None,
):
    """Price a torch MLP (``nn.Sequential`` of Linear/ReLU, or the catalogue's residual ``ButterMLP``): energy per
    training and per predicted datum, each with its median, 90% credible and 90% predictive intervals.

    Args:
        model: the module (torch is not imported by the advisor: the module's classes are read by name).
        batch_size: its training batch size.
        input_dim: its input width (default: the first Linear layer's; checked when given).
        profile: a Profile or a profile folder; default the user's own (``$ADVISOR_HOME/profile``), else the
            shipped reference profile.
        inference_batch_size: the batch of the inference phase (default ``batch_size``).

    Returns:
        A :class:`models.modules.ModulePrice`.

    Raises:
        ModuleError: a module that is not such an MLP (the message names the offending layer); an InputError.
    """
    from models.modules import describe_module, price_network

    network = describe_module(model, batch_size, input_dim)
    return price_network(default_profile(profile), network, inference_batch_size)


def network_of(input_dim: int, widths: tuple[int, ...], batch_size: int, residual: bool = False) -> MeasuredNetwork:
    """A network given by its Linear layers' widths (every layer with a bias); see :func:`models.modules.network_of`."""
    from models.modules import network_of as build

    return build(input_dim, widths, batch_size, residual)


def measure(
    label: str = "measurement",
    meter: str | EnergyMeter = "auto",
    model: object = None,
    batch_size: int | None = None,
    input_dim: int | None = None,
    idle_s: float = MEASURE_IDLE_S,
    *,
    store: Path | str | bool | None = None,
    profile: Any = None,
    device: str = "cpu",
    trace: Path | str | None = None,
    core_watts: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Measurement:
    """A measurement of the code inside ``with advisor.measure(...) as m:``; ``m.result`` afterwards.

    Args:
        label: what to call it in the store and the summary.
        meter: ``auto`` (the ladder: NVML on ``cuda``, RAPL, the estimate), ``rapl``, ``nvml``, ``trace``,
            ``estimate``, or a meter object.
        model: the torch MLP it trains (priced beside the measurement), with its ``batch_size``.
        input_dim: the model's input width (default: its first layer's).
        idle_s: seconds of idle power measured before (0: none subtracted).
        store: the run store file; None: ``$ADVISOR_HOME/runs.sqlite``; False: not stored.
        profile: the profile that prices ``model`` (default: yours, else the shipped reference).
        device: ``cpu`` or ``cuda[:N]`` (the ladder tries NVML first on ``cuda``).
        trace: the power trace of ``meter="trace"``.
        core_watts: the estimate meter's watts per busy core.
        sleep: how the idle interval waits (injected by tests).

    Raises:
        InputError / MeterError: a bad label, idle length, model or meter, before anything runs.
    """
    setup = MeterSetup(meter=meter, device=device, trace=None if trace is None else Path(trace), core_watts=core_watts)
    return Measurement(
        label=label,
        setup=setup,
        network=_network(model, batch_size, input_dim),
        idle_s=idle_s,
        store=store,
        profile=profile,
        sleep=sleep,
    )


def measured(label: str | None = None, **options: Any) -> Callable:
    """Decorator: every call of the function is measured (options as :func:`measure`, checked here, once); the
    latest call's result is the wrapper's ``last_result``. The function's value and exceptions pass through."""
    measure(label or "measured", **options)  # refuse bad options when decorating, not at the first call

    def wrap(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            m = measure(label or function.__qualname__, **options)
            try:
                with m:
                    return function(*args, **kwargs)
            finally:
                wrapper.last_result = m.result  # type: ignore[attr-defined]

        wrapper.last_result = None  # type: ignore[attr-defined]
        return wrapper

    return wrap


__all__ = [
    "MEASURE_IDLE_S",
    "Measurement",
    "MeterSetup",
    "RunStatus",
    "measure",
    "measured",
    "network_of",
    "predict_module",
]
