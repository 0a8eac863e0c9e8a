"""Process trees from /proc: who descends from whom, and who is still alive."""

from __future__ import annotations

import time
from pathlib import Path


def _parents() -> dict[int, int]:
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z":  # zombies are dead, only not yet reaped
            out[int(stat.parent.name)] = int(fields[1])
    return out


def descendants(pid: int) -> set[int]:
    """Living processes below ``pid`` (children, grandchildren …)."""
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """The ones among ``pids`` still running (not zombies)."""
    parents = _parents()
    return {p for p in pids if p in parents}


def command_line(pid: int) -> str:
    """A process's command line ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_for_descendants(pid: int, count: int, timeout_s: float, running: str = "") -> set[int]:
    """Poll until ``pid`` has at least ``count`` descendants whose command line contains ``running`` (a
    compiler started by PyTensor is not a sampler chain); returns what it saw when it stopped."""
    end = time.monotonic() + timeout_s
    seen: set[int] = set()
    while time.monotonic() < end:
        seen = {p for p in descendants(pid) if running in command_line(p)}
        if len(seen) >= count:
            return seen
        time.sleep(0.1)
    return seen
