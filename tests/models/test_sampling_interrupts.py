"""Ctrl-C during a fit is never lost: an interrupt Python swallows (raised in a finalizer or a ctypes callback,
as numba's compiler runs them) is still on record, and kept off stderr."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from models.sampling import _noticing_interrupts


class _InterruptedWhileCollected:
    """Delivers SIGINT from inside ``__del__``: the KeyboardInterrupt it raises there is unraisable."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(autouse=True)
def python_ctrl_c():
    """Python's own SIGINT handler for the test (another library imported earlier may have replaced it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def unraisable(monkeypatch) -> list[BaseException]:
    """The errors that reach the unraisable hook installed before the fit (Python's prints them to stderr)."""
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: seen.append(info.exc_value))
    return seen


def test_an_interrupt_swallowed_in_a_finalizer_is_recorded_and_not_printed(unraisable) -> None:
    with _noticing_interrupts() as hits:
        _InterruptedWhileCollected()  # collected at once: the interrupt is raised in __del__ and ignored
        assert hits == [signal.SIGINT]
    assert unraisable == []


def test_an_ordinary_interrupt_still_raises_and_other_unraisable_errors_still_print(unraisable) -> None:
    class Broken:
        def __del__(self) -> None:
            raise RuntimeError("a finalizer bug")

    with _noticing_interrupts() as hits:
        Broken()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert hits == [signal.SIGINT]
    assert [str(error) for error in unraisable] == ["a finalizer bug"]


def test_the_previous_handlers_come_back() -> None:
    before_handler, before_hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    with _noticing_interrupts():
        pass
    assert signal.getsignal(signal.SIGINT) is before_handler
    assert sys.unraisablehook is before_hook
