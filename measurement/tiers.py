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
