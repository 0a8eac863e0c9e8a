"""Cache tiers of a device: the one definition the planner, the summaries, the model priors and the UIs share.

A tier is a memory level a working set can fit in: on a CPU the data caches from sysfs (L1d, L2, L3 …),
on a CUDA device its L2 and then its memory. A working set of W bytes lies in the first tier whose
capacity is >= W; beyond the last capacity it is in "memory" (index ``len(tiers)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from measurement.hardware import Fingerprint

KIB = 1024
MIB = 1024**2


@dataclass(frozen=True)
class Tier:
    """One cache capacity: its name (L1d, L2, L3, HBM …) and size in bytes."""

    name: str
    size_bytes: int


FALLBACK_CPU_TIERS = (Tier("L1d", 32 * KIB), Tier("L2", 512 * KIB), Tier("L3", 32 * MIB))
"""Typical server sizes, for a machine whose sysfs reports no caches."""


def is_cuda(device: str) -> bool:
    """Whether a torch device string names a CUDA device (``cuda``, ``cuda:1``)."""
    return device == "cuda" or device.startswith("cuda:")


def device_tiers(fp: Fingerprint, device: str = "cpu") -> tuple[Tier, ...]:
    """The tiers of ``device`` on the machine ``fp`` describes.

    CPU: L1d, L2, L3 … from sysfs (typical server sizes when sysfs has none). CUDA: the GPU's L2, then its
    memory; a CUDA device without GPU information in the fingerprint falls back to the CPU tiers.
    """
    if is_cuda(device) and fp.gpu is not None:
        l2 = [Tier("L2", fp.gpu.l2_bytes)] if fp.gpu.l2_bytes else []
        return (*l2, Tier("HBM", fp.gpu.memory_bytes))
    return tuple(Tier(name, size) for name, size in fp.cpu_tiers()) or FALLBACK_CPU_TIERS


def tier_index(working_set_bytes, tiers: tuple[Tier, ...]):
    """Index of the tier each working set falls in (0 = fits the smallest cache); scalar or array."""
    sizes = np.array([t.size_bytes for t in tiers], dtype=float)
    ws = np.asarray(working_set_bytes, dtype=float)
    index = (ws[..., None] > sizes).sum(axis=-1)
    return int(index) if index.ndim == 0 else index


def tier_labels(tiers: tuple[Tier, ...]) -> tuple[str, ...]:
    """A label per tier index: ``<=L1d``, ``<=L2``, ``<=L3``, ``>L3`` (``len(tiers) + 1`` labels)."""
    if not tiers:
        return ("all",)
    return (*(f"<={t.name}" for t in tiers), f">{tiers[-1].name}")


def tier_label(index: int, tiers: tuple[Tier, ...]) -> str:
    """The label of one tier index."""
    return tier_labels(tiers)[int(index)]


def format_bytes(value: float) -> str:
    """Bytes in binary units, two significant digits: ``48 KiB``, ``1.5 MiB``, ``64 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.2g} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


FAITHFUL_RATIO = 2.0
"""A fitted capacity within this factor of its seed keeps the seed's name alone."""


def fitted_tier_labels(seeded: tuple[Tier, ...], fitted: tuple[Tier, ...], short: bool = False) -> tuple[str, ...]:
    """Labels that tell the truth about fitted tiers (``len(tiers) + 1`` labels, one per tier index).

    A capacity the fit left near its seed (within ``FAITHFUL_RATIO``) keeps the cache's name (``<=L2 ~2 MiB``);
    one it moved is named by position and fitted size, with the cache it was seeded from
    (``tier 2 <=~64 MiB (seeded L2)``): a 33 MB working set is not "in L2" on a 2 MiB-L2 machine.
    ``short`` gives table-sized labels (``<=L2``, ``T2 <=64MiB``).
    """
    if not fitted:
        return ("all",)
    labels = []
    for i, (seed, fit) in enumerate(zip(seeded, fitted, strict=True)):
        near = 1 / FAITHFUL_RATIO <= fit.size_bytes / seed.size_bytes <= FAITHFUL_RATIO
        size = format_bytes(fit.size_bytes)
        if short:
            labels.append(f"<={seed.name}" if near else f"T{i + 1} <={size.replace(' ', '')}")
        else:
            labels.append(f"<={seed.name} ~{size}" if near else f"tier {i + 1} <=~{size} (seeded {seed.name})")
    last = format_bytes(fitted[-1].size_bytes)
    labels.append(f"T{len(fitted) + 1} >{last.replace(' ', '')}" if short else f"tier {len(fitted) + 1} >~{last}")
    return tuple(labels)
