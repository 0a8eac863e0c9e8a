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


@dataclass(frozen=True)
class ProfileReport:
    """What a profile is, once every load-time check passed: for vetting a profile someone shared.

    Attributes:
        checks: what was verified (the same checks every command runs when it loads a profile).
        same_machine: whether the profile was calibrated on this machine.
    """

    path: str
    hardware: str
    fingerprint_digest: str
    meter_kinds: tuple[str, ...]
    meters: tuple[str, ...]
    runs: int
    observations: int
    converged: bool
    problems: tuple[str, ...]
    noise_floor: float | None
    datasets: dict[str, str]
    same_machine: bool
    checks: tuple[str, ...]

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dict(vars(self))


def vet_profile(path) -> ProfileReport:
    """Load ``path`` with every check a command applies (ProfileError: one line naming file and field)."""
    from advisor.api import this_machine
    from models.profile import LOAD_CHECKS, Profile

    profile = Profile.load(path)
    meta = profile.metadata
    problems = list(meta.diagnostics.problems())
    problems += [f"{name}: {p}" for name, info in meta.datasets.items() for p in info.diagnostics.problems()]
    datasets = {
        name: f"{i.task}, {i.runs} runs, input {i.input_dim} -> {i.output_dim}, best {i.best_observed:.3g}"
        for name, i in meta.datasets.items()
    }
    return ProfileReport(
        path=str(profile.path),
        hardware=meta.fingerprint.describe(),
        fingerprint_digest=meta.fingerprint.digest(),
        meter_kinds=meta.meter_kinds,
        meters=meta.meters,
        runs=len(meta.run_ids),
        observations=meta.observations,
        converged=not problems,
        problems=tuple(problems),
        noise_floor=meta.noise_floor,
        datasets=datasets,
        same_machine=meta.fingerprint.same_machine(this_machine()),
        checks=LOAD_CHECKS,
    )
