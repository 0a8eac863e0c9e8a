"""From a run store to a saved profile: select runs, fit, diagnose, stamp metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from measurement.hardware import Fingerprint
from measurement.store import advisor_home
from measurement.sweep import noise_floor
from models.energy import Diagnostics, EnergyPosterior, FitConfig, FitError, Tier, fit, posterior_arrays
from models.features import training_frame
from models.tiers import tiers_for


@dataclass(frozen=True)
class EnergyFit:
    """A fitted energy model with everything a profile records about it."""

    idata: object
    posterior: EnergyPosterior
    diagnostics: Diagnostics
    frame: pd.DataFrame
    fingerprint: Fingerprint
    tiers: tuple[Tier, ...]
    noise_floor: float | None

    def metadata(self) -> dict:
        """The profile.json content for this fit."""
        return {
            "fingerprint": self.fingerprint.to_dict(),
            "meter_kinds": sorted(set(self.frame["meter_kind"])),
            "meters": sorted(set(self.frame["meter"])),
            "tiers": [asdict(t) for t in self.tiers],
            "run_ids": sorted({int(i) for i in self.frame["run_id"]}),
            "observations": len(self.frame),
            "diagnostics": {**asdict(self.diagnostics), "converged": self.diagnostics.converged},
            "noise_floor": self.noise_floor,
            "datasets": {},
        }


def select_runs(runs: pd.DataFrame, hardware: str | None = None) -> tuple[pd.DataFrame, str]:
    """Runs of one machine (the newest one in the store unless named), ok or not."""
    if runs.empty:
        raise FitError("the run store has no runs: run 'advisor calibrate' first")
    if hardware is None:
        hardware = runs.sort_values("finished_unix_s")["hardware"].iloc[-1]
    chosen = runs[runs["hardware"] == hardware]
    if chosen.empty:
        raise FitError(f"no runs for hardware {hardware}")
    return chosen, hardware


def fit_energy(runs: pd.DataFrame, fp: Fingerprint, config: FitConfig | None = None) -> EnergyFit:
    """Fit the tier model to one machine's runs (a store export)."""
    device = str(runs["device"].iloc[0]) if len(runs) else "cpu"
    tiers = tiers_for(fp, device)
    frame = training_frame(runs)
    idata, diagnostics = fit(frame, tiers, config or FitConfig())
    floor, _ = noise_floor(runs)
    return EnergyFit(idata, EnergyPosterior(posterior_arrays(idata), tiers), diagnostics, frame, fp, tiers, floor)


def default_profile_dir() -> Path:
    """``<advisor home>/profile`` (``$ADVISOR_HOME``, else the platform's user data dir)."""
    return advisor_home() / "profile"
