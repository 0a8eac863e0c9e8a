"""Typed reading of JSON metadata: every field checked for presence, type and range, named when wrong.

The profile loader turns a :class:`SchemaError` into one ``ProfileError`` line naming the file and the
field (``datasets.digits.runs: expected an integer``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from measurement.errors import InputError


class SchemaError(InputError):
    """A metadata field is missing, of the wrong type, or out of range; the message names the field."""


def obj(data: Any, where: str) -> Mapping[str, Any]:
    """``data`` as a JSON object, or SchemaError."""
    if not isinstance(data, Mapping):
        raise SchemaError(f"{where or 'top level'}: expected an object")
    return data


def _get(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise SchemaError(f"{_join(where, key)}: missing")
    return data[key]


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def text(data: Mapping[str, Any], key: str, where: str = "", max_len: int = 4096) -> str:
    """A string field (bounded length)."""
    value = _get(data, key, where)
    if not isinstance(value, str) or len(value) > max_len:
        raise SchemaError(f"{_join(where, key)}: expected a string of at most {max_len} characters")
    return value


def integer(data: Mapping[str, Any], key: str, where: str = "", lo: int = 0, hi: int = 2**62) -> int:
    """An integer field in [lo, hi] (a bool is not an integer)."""
    value = _get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SchemaError(f"{_join(where, key)}: expected an integer in [{lo}, {hi}], got {value!r}"[:200])
    return value


def number(
    data: Mapping[str, Any],
    key: str,
    where: str = "",
    lo: float = -math.inf,
    hi: float = math.inf,
    nan_ok: bool = False,
) -> float:
    """A finite number in [lo, hi] (NaN only with ``nan_ok``: e.g. r_hat of a one-chain fit)."""
    value = _get(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{_join(where, key)}: expected a number, got {value!r}"[:200])
    value = float(value)
    if math.isnan(value) and nan_ok:
        return value
    if not (math.isfinite(value) and lo <= value <= hi):
        raise SchemaError(f"{_join(where, key)}: expected a finite number in [{lo:g}, {hi:g}], got {value!r}")
    return value


def optional_number(
    data: Mapping[str, Any], key: str, where: str = "", lo: float = -math.inf, hi: float = math.inf
) -> float | None:
    """A number field that may be absent or null."""
    if data.get(key) is None:
        return None
    return number(data, key, where, lo, hi)


def boolean(data: Mapping[str, Any], key: str, where: str = "") -> bool:
    """A true/false field."""
    value = _get(data, key, where)
    if not isinstance(value, bool):
        raise SchemaError(f"{_join(where, key)}: expected true or false")
    return value


def array(data: Mapping[str, Any], key: str, where: str = "", max_len: int = 1_000_000) -> list[Any]:
    """A list field (bounded length)."""
    value = _get(data, key, where)
    if not isinstance(value, list) or len(value) > max_len:
        raise SchemaError(f"{_join(where, key)}: expected a list of at most {max_len} items")
    return value


def mapping(data: Mapping[str, Any], key: str, where: str = "", max_len: int = 10_000) -> Mapping[str, Any]:
    """An object field (bounded number of keys)."""
    value = _get(data, key, where)
    if not isinstance(value, Mapping) or len(value) > max_len:
        raise SchemaError(f"{_join(where, key)}: expected an object of at most {max_len} keys")
    return value
