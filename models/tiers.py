"""Cache-tier priors from a hardware fingerprint."""

from __future__ import annotations

from measurement.hardware import Fingerprint
from models.energy import Tier

FALLBACK_CPU_TIERS = (Tier("L1d", 32 * 1024), Tier("L2", 512 * 1024), Tier("L3", 32 * 2**20))


def tiers_for(fp: Fingerprint, device: str = "cpu") -> tuple[Tier, ...]:
    """CPU: L1d, L2, L3 … from sysfs. CUDA: the GPU's L2, then its memory. Fallback: typical server sizes."""
    if device.startswith("cuda") and fp.gpu is not None:
        tiers = [Tier("L2", fp.gpu.l2_bytes)] if fp.gpu.l2_bytes else []
        return (*tiers, Tier("HBM", fp.gpu.memory_bytes))
    tiers = tuple(Tier(name, size) for name, size in fp.cpu_tiers())
    return tiers or FALLBACK_CPU_TIERS
