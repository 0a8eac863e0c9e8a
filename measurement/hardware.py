"""Hardware fingerprint: CPU model, cores, cache sizes per level, memory, and the GPU if any.

Cache sizes come from sysfs (``/sys/devices/system/cpu/cpu0/cache/index*/``), never from ``getconf``,
which reports L3 wrongly on some VMs. Every root path is a parameter so tests can hand in a fake tree.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

SYSFS_CPU = Path("/sys/devices/system/cpu")
PROC = Path("/proc")


class CacheKind(enum.StrEnum):
    """What a CPU cache holds, as sysfs names it (``index*/type``)."""

    DATA = "Data"
    INSTRUCTION = "Instruction"
    UNIFIED = "Unified"


@dataclass(frozen=True)
class CacheLevel:
    """One CPU cache as sysfs describes it.

    Attributes:
        level: 1, 2, 3 …
        kind: what it holds (a name sysfs uses is read as its kind; anything else is a ValueError).
        size_bytes: capacity in bytes.
        shared_cpus: how many logical CPUs share it.
    """

    level: int
    kind: CacheKind
    size_bytes: int
    shared_cpus: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CacheKind(self.kind))


@dataclass(frozen=True)
class GpuInfo:
    """The CUDA device torch sees first."""

    name: str
    l2_bytes: int | None
    memory_bytes: int


@dataclass(frozen=True)
class Fingerprint:
    """What the energy model needs to know about a machine."""

    cpu_model: str
    logical_cores: int
    caches: tuple[CacheLevel, ...]
    memory_bytes: int
    machine: str
    gpu: GpuInfo | None = None
    torch_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def cpu_tiers(self) -> tuple[tuple[str, int], ...]:
        """Data-cache capacities in increasing order as (name, bytes): L1d, L2, L3 …"""
        tiers = [
            (f"L{c.level}{'d' if c.kind is CacheKind.DATA else ''}", c.size_bytes)
            for c in sorted(self.caches, key=lambda c: c.level)
            if c.kind in (CacheKind.DATA, CacheKind.UNIFIED)
        ]
        return tuple(tiers)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)

    def same_machine(self, other: Fingerprint) -> bool:
        """Same CPU model, core count and caches; and the same GPU where both fingerprints name one.

        A fingerprint taken without torch (``with_gpu=False``) names no GPU, so it compares on the CPU alone
        instead of calling every profile made on a CUDA machine "other hardware".
        """
        cpu = (self.cpu_model, self.logical_cores, self.caches) == (other.cpu_model, other.logical_cores, other.caches)
        if self.gpu is None or other.gpu is None:
            return cpu
        return cpu and self.gpu.name == other.gpu.name

    def describe(self) -> str:
        """One line for messages: CPU model, and GPU name when there is one."""
        return self.cpu_model + (f" + {self.gpu.name}" if self.gpu else "")

    @classmethod
    def from_dict(cls, data: dict) -> Fingerprint:
        """Rebuild from :meth:`to_dict` output (e.g. read back from a profile's JSON)."""
        gpu = data.get("gpu")
        return cls(
            cpu_model=str(data["cpu_model"]),
            logical_cores=int(data["logical_cores"]),
            caches=tuple(CacheLevel(**c) for c in data["caches"]),
            memory_bytes=int(data["memory_bytes"]),
            machine=str(data.get("machine", "")),
            gpu=GpuInfo(**gpu) if gpu else None,
            torch_version=data.get("torch_version"),
            extra=dict(data.get("extra", {})),
        )

    def digest(self) -> str:
        """A short stable hash of the parts that change energy behaviour (not the torch version)."""
        key = {
            "cpu_model": self.cpu_model,
            "logical_cores": self.logical_cores,
            "caches": [asdict(c) for c in self.caches],
            "gpu": self.gpu.name if self.gpu else None,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def parse_size(text: str) -> int:
    """Parse a sysfs cache size such as ``48K``, ``2048K`` or ``32M`` into bytes."""
    text = text.strip().upper()
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def _count_cpus(cpu_list: str) -> int:
    total = 0
    for part in cpu_list.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        total += int(hi or lo) - int(lo) + 1
    return total


def read_caches(sysfs_cpu: Path = SYSFS_CPU) -> tuple[CacheLevel, ...]:
    """Read cpu0's caches from sysfs; an absent or unreadable tree gives an empty tuple."""
    caches = []
    for index in sorted((sysfs_cpu / "cpu0" / "cache").glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = CacheKind((index / "type").read_text().strip())
            size = parse_size((index / "size").read_text())
            shared_path = index / "shared_cpu_list"
            shared = _count_cpus(shared_path.read_text()) if shared_path.exists() else 1
        except (OSError, ValueError):
            continue
        caches.append(CacheLevel(level=level, kind=kind, size_bytes=size, shared_cpus=shared))
    return tuple(caches)


def read_cpu_model(proc: Path = PROC) -> str:
    """The ``model name`` line of /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in (proc / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read_memory_bytes(proc: Path = PROC) -> int:
    """MemTotal from /proc/meminfo, 0 when unknown."""
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def read_gpu_name(proc: Path = PROC) -> str | None:
    """The first NVIDIA GPU's model name from the driver's /proc files (no torch, no NVML), or None."""
    for info in sorted((proc / "driver" / "nvidia" / "gpus").glob("*/information")):
        try:
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip() or None
        except OSError:
            continue
    return None


def read_gpu() -> tuple[GpuInfo | None, str | None]:
    """The first CUDA device and torch's version; (None, None) without torch."""
    try:
        import torch
    except ImportError:
        return None, None
    if not torch.cuda.is_available():
        return None, torch.__version__
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", None)
    return GpuInfo(name=props.name, l2_bytes=int(l2) if l2 else None, memory_bytes=int(props.total_memory)), (
        torch.__version__
    )


def fingerprint(sysfs_cpu: Path = SYSFS_CPU, proc: Path = PROC, with_gpu: bool = True) -> Fingerprint:
    """Fingerprint this machine. ``with_gpu=False`` skips importing torch (fast)."""
    gpu, torch_version = read_gpu() if with_gpu else (None, None)
    return Fingerprint(
        cpu_model=read_cpu_model(proc),
        logical_cores=os.cpu_count() or 1,
        caches=read_caches(sysfs_cpu),
        memory_bytes=read_memory_bytes(proc),
        machine=platform.machine(),
        gpu=gpu,
        torch_version=torch_version,
    )
