"""``advisor measure -- COMMAND``: run a program under a measurement and return its result and exit code.

The whole process tree is measured: a counter meter (RAPL, NVML, a trace) reads the machine or device anyway,
and the estimate meter counts the CPU time of every descendant (:class:`measurement.process.ProcessTreeCpu`). A
command that cannot be started is refused (one line) before anything is stored; a command that fails is stored
as a failed run, not as a measurement, and its exit code is passed on. While it runs, Ctrl-C reaches the
program (the terminal sends it to the whole foreground group) and a SIGTERM sent to this process is passed on
to it, so a batch scheduler's cancel ends the program and the run is still recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from advisor.measuring import MEASURE_IDLE_S, Measurement, MeterSetup
from advisor.measuring_result import MeasureResult
from measurement.errors import InputError
from measurement.measured import MeasuredNetwork
from measurement.meters.base import EnergyMeter


def check_command(command: Sequence[str]) -> list[str]:
    """The command line to run, once its program is known to exist and be executable.

    Raises:
        InputError: an empty command, or a program that is not found (on ``PATH``, or at the path given) or not
            executable.
    """
    argv = [str(part) for part in command]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise InputError("no command to measure: advisor measure [OPTIONS] -- COMMAND [ARGS ...]")
    if shutil.which(argv[0]) is None:
        raise InputError(f"command not found or not executable: {argv[0][:200]!r}")
    return argv


def exit_status(returncode: int) -> int:
    """A child's return code as a shell reports it: its own code, or 128 + N when signal N ended it."""
    return returncode if returncode >= 0 else 128 - returncode


@contextlib.contextmanager
def _passing_signals(process: subprocess.Popen) -> Iterator[None]:
    """While the program runs: this process ignores Ctrl-C (the program gets its own) and passes SIGTERM on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda sig, _: process.send_signal(sig)),
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_command(
    command: Sequence[str],
    label: str | None = None,
    meter: str | EnergyMeter = "auto",
    *,
    datums: int | None = None,
    idle_s: float = MEASURE_IDLE_S,
    store: Path | str | bool | None = None,
    network: MeasuredNetwork | None = None,
    profile: Any = None,
    device: str = "cpu",
    trace: Path | None = None,
    core_watts: float | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    popen: Callable[..., Any] = subprocess.Popen,
    cpu_clock: Callable[[], float] = time.process_time,
) -> MeasureResult:
    """Measure one run of ``command`` (idle first, then the program from start to exit).

    Args:
        command: the program and its arguments.
        label: its name in the store (default: the program's file name).
        meter: a meter name (``auto``, ``rapl``, ``nvml``, ``trace``, ``estimate``).
        datums: the datums the program processes (for energy per datum).
        idle_s: seconds of idle power measured before (0: none).
        store: the run store (None: the default; False: not stored).
        network: the network the program trains (priced beside it; needs ``datums``).
        env: where the batch job's id is read (default: this process's environment).
        popen: starts the program (injected by tests).
        cpu_clock: this process's CPU seconds, every thread (the measuring overhead; injected by tests).

    Returns:
        The result; its ``exit_code`` is the program's (negative: killed by that signal).

    Raises:
        InputError / MeterError: a command that cannot be run, or a bad option, before anything is stored.
    """
    argv = check_command(command)
    setup = MeterSetup(meter=meter, device=device, trace=trace, core_watts=core_watts)
    m = Measurement(
        label=label if label is not None else Path(argv[0]).name,
        setup=setup,
        network=network,
        idle_s=idle_s,
        store=store,
        profile=profile,
        command=tuple(argv),
        env=env,
        sleep=sleep,
    )
    if datums is not None:
        m.datums(datums)  # checked before anything runs; counted in the first window, which is the whole
    m.start()
    return _run_measured(m, argv, popen, cpu_clock)


def _run_measured(m: Measurement, argv: list[str], popen: Callable[..., Any], cpu_clock: Callable[[], float]):
    """Run the program inside the started measurement; its result, with what measuring cost this process."""
    cpu_s = cpu_clock()
    try:
        process = popen(argv)
    except OSError as exc:
        m.discard()
        raise InputError(f"cannot run {argv[0][:200]!r}: {exc.strerror or exc}") from None
    with _passing_signals(process):
        returncode = process.wait()
    cpu_s = cpu_clock() - cpu_s  # while the program ran: what measuring it cost this process
    return dataclasses.replace(m.finish(exit_code=returncode), measuring_cpu_s=cpu_s)
