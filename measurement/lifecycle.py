"""Child processes die with their parent: a killed ``advisor`` command leaves nothing running.

On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` asks the kernel to kill a process when the thread that
created it exits (a SIGKILL of the parent included). Sampler chains and local Dask workers call
:func:`die_with_parent` first thing; elsewhere it does nothing (and says so by returning False).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing.context
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int | None = None) -> bool:
    """Arrange SIGKILL for this process when its parent dies; exit at once if it is already gone.

    Args:
        expected_parent: the parent's pid as the parent saw itself before starting us; when the process
            has already been re-parented (the parent died before this call), we exit immediately.

    Returns:
        True when the kernel will enforce it (Linux), False where it is not available.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)  # the parent died between fork and prctl: nobody is waiting for us
    return True


def parent_bound_context() -> multiprocessing.context.BaseContext | None:
    """A fork multiprocessing context whose processes die with their parent (for PyMC's ``mp_ctx``), on Linux.

    Elsewhere None: the platform's default start method stays (fork is unsafe on macOS, absent on Windows)
    and there is no PR_SET_PDEATHSIG to gain.
    """
    return ParentBoundContext() if sys.platform.startswith("linux") else None


if sys.platform.startswith("linux"):

    class _ParentBoundProcess(multiprocessing.context.ForkProcess):
        """A forked process that dies with the process that started it."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._parent_pid = os.getpid()

        def run(self) -> None:
            die_with_parent(self._parent_pid)
            super().run()

    class ParentBoundContext(multiprocessing.context.ForkContext):
        """The fork context of :func:`parent_bound_context`."""

        Process = _ParentBoundProcess
