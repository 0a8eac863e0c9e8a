"""Argument types shared by the commands; each fails with one clear line."""

from __future__ import annotations

import argparse
import re


def positive_int(text: str) -> int:
    """An integer >= 1 (accepts 2^k and 1e6 style for sizes)."""
    value: int | None = None
    text = text.strip()
    power = re.fullmatch(r"2\^(\d{1,2})", text)
    if power:
        value = 2 ** int(power.group(1))
    else:
        try:
            number = float(text) if re.fullmatch(r"\d+(\.\d+)?[eE]\d+", text) else int(text)
            value = int(number) if float(number).is_integer() else None
        except ValueError:
            value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def shape_name(text: str) -> str:
    """A BUTTER shape name (validated here so a typo fails before anything else)."""
    from measurement.architecture import ArchitectureError, parse_shape

    try:
        return parse_shape(text).value
    except ArchitectureError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def depth(text: str) -> int:
    """A network depth: an integer >= 2 (Linear layers, output layer included)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"depth counts Linear layers including the output: >= 2, got {text!r}")
    return value


def parse_duration_s(text: str) -> float:
    """A duration such as ``90``, ``90s``, ``10m``, ``1.5h`` -> seconds (> 0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 10m or 1h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def probability(text: str) -> float:
    """A number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value
