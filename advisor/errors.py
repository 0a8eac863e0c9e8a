"""The errors the advisor's library raises, re-exported so the CLI and the TUI need no lower layer.

Every one of them means "the input or the environment is wrong", never a bug: the CLI prints one line
and exits with code 2; the TUI shows the line.
"""

from __future__ import annotations

from typing import Any

from measurement.errors import InputError, first_line
from measurement.meters.base import MeterError

USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    MeterError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
)
"""Exception types that mean bad input or an unusable environment (ProfileError is an InputError)."""


def __getattr__(name: str) -> Any:
    if name == "ProfileError":  # lazily: models.profile loads pandas, and most callers never need it
        from models.profile import ProfileError

        return ProfileError
    raise AttributeError(f"module 'advisor.errors' has no attribute {name!r}")


__all__ = ["USER_ERRORS", "InputError", "MeterError", "first_line"]  # and ProfileError, lazily
