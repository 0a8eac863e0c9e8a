"""Argument types shared by the commands: the library's parsers, failing as argparse errors (one line, exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from advisor import parsing
from advisor.errors import InputError


def _argument(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


positive_int = _argument(parsing.positive_int, "positive_int")
parse_duration_s = _argument(parsing.duration_s, "duration")


def _shape(text: str) -> str:
    from advisor.catalogue import shape_name

    return shape_name(text)


shape_name = _argument(_shape, "shape_name")


def _depth(text: str) -> int:
    value = parsing.positive_int(text)
    if value < 2:
        raise InputError(f"depth counts Linear layers including the output: >= 2, got {text[:40]!r}")
    return value  # its upper range is the library's (the grid's, or --beyond-grid's)


depth = _argument(_depth, "depth")


def _number_in(lo: float, hi: float) -> Callable[[str], float]:
    return _argument(lambda text: parsing.number(text, lo, hi), "number")


probability = _number_in(0.0, 1.0)
non_negative = _number_in(0.0, float("inf"))


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else parsing.positive_int(text)


non_negative_int = _argument(_non_negative_int, "non_negative_int")

PROFILE_HELP = "profile folder (default: yours, $ADVISOR_HOME/profile, when there is one, else the shipped reference)"
"""``--profile`` of the commands that answer from a profile (the rule is :func:`advisor.api.load_profile`'s)."""
