"""What ``advisor doctor`` reports: hardware fingerprint, torch, and the meter ladder."""

from __future__ import annotations

from dataclasses import dataclass

from measurement.hardware import Fingerprint, fingerprint
from measurement.meters.auto import LadderStep, MeterOptions, ladder


@dataclass(frozen=True)
class Diagnosis:
    """The machine as the advisor sees it."""

    fingerprint: Fingerprint
    torch_device: str
    meters: tuple[LadderStep, ...]

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "fingerprint": self.fingerprint.to_dict(),
            "fingerprint_digest": self.fingerprint.digest(),
            "torch_device": self.torch_device,
            "meters": [vars(step) for step in self.meters],
        }


def diagnose(options: MeterOptions | None = None) -> Diagnosis:
    """Fingerprint this machine and try every meter rung (RAPL, NVML when CUDA is present, estimate)."""
    fp = fingerprint()
    device = "cuda" if fp.gpu is not None else "cpu"
    options = options or MeterOptions(device="cuda")  # list every rung, NVML included
    return Diagnosis(fingerprint=fp, torch_device=device, meters=tuple(ladder(options)))
