"""Text a person types -> numbers, shared by the CLI's arguments and the TUI's fields; InputError when wrong."""

from __future__ import annotations

import math
import re

from measurement.errors import InputError

MAX_DURATION_S = 30 * 24 * 3600.0
"""Budgets and windows longer than 30 days are typing mistakes, refused at once."""
MAX_INT = 2**62


def positive_int(text: str) -> int:
    """An integer >= 1; sizes may be written 2^k or 1e6."""
    value: int | None = None
    text = text.strip()
    power = re.fullmatch(r"2\^(\d{1,2})", text)
    if power:
        value = 2 ** int(power.group(1))
    elif re.fullmatch(r"\d{1,19}", text):
        value = int(text)
    elif re.fullmatch(r"\d{1,6}(\.\d{1,6})?[eE]\d{1,2}", text):
        number = float(text)
        value = int(number) if number.is_integer() else None
    if value is None or not 1 <= value <= MAX_INT:
        raise InputError(f"expected a positive integer, got {text[:40]!r}")
    return value


def duration_s(text: str) -> float:
    """A duration such as ``90``, ``90s``, ``10m``, ``1.5h`` -> seconds, in (0, 30 days]."""
    match = re.fullmatch(r"\s*(\d{1,9}(?:\.\d{1,6})?)\s*([smh]?)\s*", text)
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)] if match else math.nan
    if not 0 < seconds <= MAX_DURATION_S:
        raise InputError(f"expected a duration like 90s, 10m or 1h (at most 30 days), got {text[:40]!r}")
    return seconds


def number(text: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A finite number in [lo, hi]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(f"expected a number in [{lo:g}, {hi:g}], got {text[:40]!r}")
    return value
