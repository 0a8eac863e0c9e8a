"""Errors that mean "the user's input is wrong": the CLI turns them into one line and exit code 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: arguments, dataset files, traces, profiles."""


def first_line(exc: BaseException) -> str:
    """A library exception as one line (its message's first line, or its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
