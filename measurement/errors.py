"""Errors that mean "the user's input is wrong": the CLI turns them into one line and exit code 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: arguments, dataset files, traces, profiles."""
