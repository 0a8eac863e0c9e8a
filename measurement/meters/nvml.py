"""NVIDIA GPU energy through NVML: the total-energy counter (Volta+), else sampled power.

``pynvml`` (package ``nvidia-ml-py``) is imported lazily; any object with the same functions can be
injected instead, which is how the tests fake a GPU. NVML's exceptions never leave this module: they
become :class:`NvmlError` (a MeterError) at the boundary.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from measurement.meters.base import Clock, MeterError, MeterKind, MeterUnavailable, Reading, WindowClock


class NvmlError(MeterError):
    """An NVML call failed."""


def _translate(nvml: Any, call: Callable[..., Any], *args: Any) -> Any:
    error_type = getattr(nvml, "NVMLError", None)
    try:
        return call(*args)
    except Exception as exc:
        if error_type is not None and isinstance(exc, error_type):
            raise NvmlError(f"NVML {getattr(call, '__name__', 'call')} failed: {exc}") from exc
        raise


def load_nvml() -> Any:
    """Import pynvml, or raise MeterUnavailable saying how to get it."""
    try:
        import pynvml
    except ImportError as exc:
        raise MeterUnavailable("NVML needs the nvidia-ml-py package: pip install nvidia-ml-py") from exc
    return pynvml


class PowerSampler:
    """Integrates sampled power (trapezoid) in a background thread."""

    def __init__(self, read_power_w: Callable[[], float], clock: Clock, interval_s: float) -> None:
        self._read, self._clock, self._interval_s = read_power_w, clock, interval_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample now."""
        self.samples.append((self._clock(), self._read()))

    def start(self) -> None:
        """Clear old samples, take one, and keep sampling every interval until stop()."""
        self.samples = []
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def stop(self) -> float:
        """Stop the thread, take a final sample and return the integrated energy in joules."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        energy = 0.0
        for (t0, p0), (t1, p1) in zip(self.samples, self.samples[1:], strict=False):
            energy += 0.5 * (p0 + p1) * (t1 - t0)
        return energy


NVML_COUNTER_RESOLUTION_J = 1e-3
"""The energy counter counts millijoules."""
NVML_POWER_RESOLUTION_W = 1e-3
"""The power reading is in milliwatts (sampling mode: times the window's length)."""


class NvmlMeter:
    """Energy of one GPU. Uses the mJ counter where supported, otherwise samples power."""

    name = "nvml"
    kind = MeterKind.MEASURED

    def __init__(
        self,
        device_index: int = 0,
        nvml: Any = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        sample_interval_s: float = 0.05,
    ) -> None:
        self._nvml = nvml if nvml is not None else load_nvml()
        self._call(self._nvml.nvmlInit)
        self._initialised = True
        try:
            self._handle = self._call(self._nvml.nvmlDeviceGetHandleByIndex, device_index)
            self.device_name = str(self._call(self._nvml.nvmlDeviceGetName, self._handle))
        except BaseException:
            with contextlib.suppress(MeterError):
                self.close()  # a meter that never came to be must not leave NVML initialised
            raise
        self._window = WindowClock(clock, wall)
        self._start_mj: int | None = None
        try:
            self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, self._handle)
            self.mode = "counter"
            self._sampler = None
        except NvmlError:
            self.mode = "sampling"
            self._sampler = PowerSampler(self._power_w, clock, sample_interval_s)

    def close(self) -> None:
        """Release NVML (``nvmlShutdown``, which pairs with the ``nvmlInit`` of the constructor).

        Idempotent: only the first call shuts NVML down. The meter cannot be used afterwards.

        Raises:
            NvmlError: when ``nvmlShutdown`` fails (NVML is considered released all the same).
        """
        if not self._initialised:
            return
        self._initialised = False
        self._call(self._nvml.nvmlShutdown)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return _translate(self._nvml, fn, *args)

    def _power_w(self) -> float:
        return self._call(self._nvml.nvmlDeviceGetPowerUsage, self._handle) / 1000.0

    def start(self) -> None:
        """Open a window."""
        self._window.open()
        if self._sampler is None:
            self._start_mj = int(self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, self._handle))
        else:
            self._sampler.start()

    def stop(self) -> Reading:
        """Close the window and return the GPU's energy over it."""
        if self._sampler is None:
            if self._start_mj is None:
                raise MeterError("stop() called before start()")
            end_mj = int(self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, self._handle))
            energy_j = (end_mj - self._start_mj) / 1000.0
            self._start_mj = None
        else:
            energy_j = self._sampler.stop()
        duration = self._window.close()
        return Reading(
            energy_j=energy_j,
            duration_s=duration,
            meter=self.name,
            kind=self.kind,
            domains_j={f"gpu:{self.device_name}": energy_j},
            start_unix_s=self._window.start_unix_s,
            resolution_j=NVML_COUNTER_RESOLUTION_J if self._sampler is None else NVML_POWER_RESOLUTION_W * duration,
        )


@functools.cache
def nvml_device_count() -> int:
    """How many GPUs NVML sees here (0 when NVML is missing or fails)."""
    try:
        nvml = load_nvml()
        _translate(nvml, nvml.nvmlInit)
    except MeterError:
        return 0
    try:
        return int(_translate(nvml, nvml.nvmlDeviceGetCount))
    except MeterError:
        return 0
    finally:
        with contextlib.suppress(MeterError):
            _translate(nvml, nvml.nvmlShutdown)
