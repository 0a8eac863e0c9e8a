"""The Python API for design scripts: ``import advisor`` then ``advisor.load_profile()`` …"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from measurement.architecture import size_architecture
from models import profile as profiles
from models.features import features_frame

log = logging.getLogger(__name__)
REFERENCE_PROFILE = Path(__file__).resolve().parents[1] / "data" / "reference" / "profile"
CONFIG_COLUMNS = ("shape", "depth", "size", "input_dim", "output_dim")


@dataclass(frozen=True)
class LoadedProfile:
    """A profile plus the prediction methods design scripts use."""

    profile: profiles.Profile

    @property
    def estimated(self) -> bool:
        """True when the calibration used the estimate meter: predictions are estimates too."""
        return self.profile.estimated

    @property
    def metadata(self) -> dict:
        """The profile's JSON metadata."""
        return self.profile.metadata

    def predict(self, configs: pd.DataFrame | None = None, **columns: Sequence) -> pd.DataFrame:
        """Energy per datum for configs given as a DataFrame or as keyword lists.

        Columns: shape, depth, size, input_dim, output_dim, and optionally batch_size (default 256)
        and phase (``train`` | ``inference``, default train). Returns one row per config with realised
        params and widths, the posterior mean, median, 5% and 95% of energy per datum (J), the working
        set and the cache tier it falls in.
        """
        frame = pd.DataFrame(columns) if configs is None else configs.copy()
        missing = [c for c in CONFIG_COLUMNS if c not in frame]
        if missing:
            raise profiles.ProfileError(f"configs need columns {list(CONFIG_COLUMNS)}; missing {missing}")
        frame = frame.assign(batch_size=frame.get("batch_size", 256), phase=frame.get("phase", "train")).rename(
            columns={"size": "target_size"}
        )
        feats = features_frame(frame)
        draws = np.exp(self.profile.energy.log_energy(feats))
        archs = [size_architecture(r.shape, int(r.depth), int(r.target_size), int(r.input_dim), int(r.output_dim))
                 for r in frame.itertuples()]  # fmt: skip
        tiers = self.profile.energy.tier_index(feats["log_ws"].to_numpy())
        out = frame.rename(columns={"target_size": "size"}).reset_index(drop=True)
        out["params"] = [a.params for a in archs]
        out["widths"] = [list(a.widths) for a in archs]
        out["energy_mean_j"] = draws.mean(axis=0)
        out["energy_median_j"] = np.median(draws, axis=0)
        out["energy_p05_j"] = np.percentile(draws, 5, axis=0)
        out["energy_p95_j"] = np.percentile(draws, 95, axis=0)
        out["working_set_bytes"] = np.exp(feats["log_ws"].to_numpy()).round().astype(np.int64)
        out["tier"] = [self.profile.energy.tier_label(int(t)) for t in tiers]
        out["estimated"] = self.estimated
        return out


def load_profile(path: str | Path | None = None, warn_on_other_hardware: bool = True) -> LoadedProfile:
    """Load a profile folder; ``None`` loads the shipped reference profile.

    Logs a warning when the profile was calibrated on other hardware than this machine.
    """
    loaded = profiles.load(REFERENCE_PROFILE if path is None else Path(path))
    if warn_on_other_hardware and path is not None:
        from measurement.hardware import fingerprint

        if not loaded.hardware_matches(fingerprint(with_gpu=False)):
            log.warning("profile %s was calibrated on other hardware (%s); predictions may not hold here",
                        loaded.path, loaded.fingerprint.cpu_model)  # fmt: skip
    return LoadedProfile(loaded)
