"""RAPL energy counters through the Linux powercap sysfs (Intel; AMD since Linux 5.8)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measurement.meters.base import (
    Clock,
    MeterError,
    MeterKind,
    MeterPermissionError,
    MeterUnavailable,
    Reading,
    WindowClock,
)

POWERCAP_ROOT = Path("/sys/class/powercap")
_TOP = re.compile(r"^intel-rapl:(\d+)$")
_SUB = re.compile(r"^intel-rapl:(\d+):(\d+)$")
RAPL_ENERGY_UNIT_J = 61e-6
"""Resolution of one RAPL counter: sysfs counts microjoules, but the hardware's energy unit is 2^-14 J
(61 µJ) on most Intel parts (15.3 µJ on AMD and some Intel): the coarser is taken, per domain summed."""
PERMISSION_HINT = (
    "RAPL energy counters are not readable by this user. Grant read access to a group with a udev "
    'rule, e.g. SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chgrp -R power /sys%p", '
    'RUN+="/bin/chmod -R g+r /sys%p", and add yourself to that group. Do not make energy_uj '
    "world-readable (chmod 444): that re-opens the PLATYPUS side channel, CVE-2020-8694."
)


@dataclass(frozen=True)
class RaplDomain:
    """One counter we sum: a package, or a DRAM domain (which the package does not include)."""

    name: str
    path: Path
    max_range_uj: int


Reader = Callable[[Path], str]


def _read_text(path: Path) -> str:
    return path.read_text()


def discover_domains(root: Path = POWERCAP_ROOT, reader: Reader = _read_text) -> tuple[RaplDomain, ...]:
    """Top-level package domains plus DRAM sub-domains; core/uncore are nested in the package.

    ``psys`` (whole platform) also contains the packages, so it is left out to avoid double counting.

    Raises:
        MeterUnavailable: when there is no powercap RAPL tree under ``root``.
        MeterPermissionError: when a counter exists but cannot be read.
    """
    if not root.is_dir():
        raise MeterUnavailable(f"no powercap tree at {root} (no RAPL driver, or a VM/container)")
    domains = []
    for entry in sorted(root.iterdir()):
        top, sub = _TOP.match(entry.name), _SUB.match(entry.name)
        if not (top or sub):
            continue
        try:
            name = reader(entry / "name").strip()
        except OSError:
            continue
        wanted = (top and name.startswith("package")) or (sub and name == "dram") or (top and name == "dram")
        if not wanted:
            continue
        label = name if top else f"{name}-{sub.group(1)}"
        max_range = _read_int(entry / "max_energy_range_uj", reader)
        _read_int(entry / "energy_uj", reader)  # fail now, not mid-run, if unreadable
        domains.append(RaplDomain(name=label, path=entry, max_range_uj=max_range))
    if not domains:
        raise MeterUnavailable(f"no RAPL package domain under {root}")
    return tuple(domains)


def _read_int(path: Path, reader: Reader) -> int:
    try:
        return int(reader(path).strip())
    except PermissionError as exc:
        raise MeterPermissionError(f"{PERMISSION_HINT} ({path})") from exc
    except (OSError, ValueError) as exc:
        raise MeterUnavailable(f"cannot read {path}: {exc}") from exc


class RaplMeter:
    """Sums package (+ DRAM) energy counters between start and stop, surviving one wraparound.

    A counter that wraps more than once in a window cannot be told apart from one that wrapped once:
    keep windows shorter than ``max_energy_range_uj`` at full power (tens of minutes), or call
    :meth:`poll` more often than that.
    """

    name = "rapl"
    kind = MeterKind.MEASURED

    def __init__(
        self,
        root: Path = POWERCAP_ROOT,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        reader: Reader = _read_text,
    ) -> None:
        self.root = Path(root)
        self._reader = reader
        self.domains = discover_domains(self.root, reader)
        self._window = WindowClock(clock, wall)
        self._last: dict[str, int] = {}
        self._accum_uj: dict[str, int] = {}
        self._fault: str | None = None

    def start(self) -> None:
        """Open a window: remember every counter."""
        self._last = {d.name: _read_int(d.path / "energy_uj", self._reader) for d in self.domains}
        self._accum_uj = {d.name: 0 for d in self.domains}
        self._fault = None
        self._window.open()

    def poll(self) -> None:
        """Fold the counters' progress into the window so far (call periodically on long windows)."""
        if not self._last:
            raise MeterError("poll() called before start()")
        for domain in self.domains:
            now = _read_int(domain.path / "energy_uj", self._reader)
            delta = now - self._last[domain.name]
            if delta < 0:  # the counter wrapped past max_energy_range_uj ... or was reset
                delta += domain.max_range_uj
                if delta > domain.max_range_uj // 2:  # half the range (~131 kJ) between two polls: a reset
                    self._fault = f"RAPL counter {domain.name} went backwards (reset, not a wraparound)"
                    delta = 0
            self._accum_uj[domain.name] += delta
            self._last[domain.name] = now

    def stop(self) -> Reading:
        """Close the window and return package (+ DRAM) energy."""
        self.poll()
        duration = self._window.close()
        domains_j = {name: uj / 1e6 for name, uj in self._accum_uj.items()}
        self._last = {}
        return Reading(
            energy_j=sum(domains_j.values()),
            duration_s=duration,
            meter=self.name,
            kind=self.kind,
            domains_j=domains_j,
            start_unix_s=self._window.start_unix_s,
            reject_reason=self._fault,
            resolution_j=RAPL_ENERGY_UNIT_J * len(self.domains),
        )
