"""The Python API for design scripts: ``import advisor`` then ``advisor.load_profile()`` …"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

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

    @property
    def display_name(self) -> str:
        """``reference profile (shipped)`` or the profile folder, for titles."""
        path = self.profile.path
        if path is not None and path.resolve() == REFERENCE_PROFILE.resolve():
            return "reference profile (shipped)"
        return str(path)

    @property
    def datasets(self) -> dict[str, dict]:
        """What the profile knows per dataset: task, input/output dims, epochs, runs, best observed score."""
        return {name: dict(acc.info) for name, acc in self.profile.accuracy.items()}

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


def recommend(
    profile: LoadedProfile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any
) -> pd.DataFrame:
    """Configs that reach ``accuracy`` on ``dataset`` with probability >= ``confidence``, cheapest first.

    Options (keywords): constraints ``shapes``, ``min_depth``, ``max_depth``, ``min_size``, ``max_size``,
    ``max_params``; and ``batch_size``, ``inference_batch_size``, ``epochs``, ``train_samples``,
    ``inferences``, ``objective`` ("train" | "inference" | "lifecycle"), ``carbon_g_per_kwh``, ``top``.

    Returns a DataFrame (rank, shape, depth, size, params, widths, energy per datum with its 90%
    interval, P(meet budget), expected accuracy, cache tier …). An infeasible budget gives an empty frame;
    ``frame.attrs["message"]`` then names the best achievable accuracy. ``frame.attrs["estimated"]`` is
    True when the profile's energy comes from the estimate meter.
    """
    result = advise(profile, dataset, accuracy, confidence, **options)
    table = result.table
    table.attrs.update(message=result.message, best_achievable=result.best_achievable, estimated=result.estimated)
    return table


def pareto(profile: LoadedProfile, dataset: str, accuracy: float = 0.5, confidence: float = 0.9, **options: Any):
    """The energy-accuracy Pareto front over the (constrained) candidate grid, cheapest first."""
    return advise(profile, dataset, accuracy, confidence, **options).pareto


def advise(profile: LoadedProfile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any):
    """The engine's whole answer (ranked table, every candidate, Pareto front, message); same options."""
    from advisor.engine import Constraints, Objective, RecommendRequest
    from advisor.engine import recommend as run_engine
    from measurement.errors import InputError

    constraint_names = {f.name for f in fields(Constraints)}
    request_names = {f.name for f in fields(RecommendRequest)} - {"dataset", "accuracy", "confidence", "constraints"}
    unknown = set(options) - constraint_names - request_names
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}")
    constraints = {k: v for k, v in options.items() if k in constraint_names}
    if constraints.get("shapes") is not None:
        constraints["shapes"] = tuple(constraints["shapes"])
    rest = {k: v for k, v in options.items() if k in request_names}
    try:
        rest["objective"] = Objective(rest.get("objective", "train"))
    except ValueError:
        raise InputError(f"unknown objective {rest['objective']!r} (train, inference or lifecycle)") from None
    accuracy_model = profile.profile.accuracy.get(dataset)
    if rest.get("epochs") and rest.get("train_samples") is None and accuracy_model is not None:
        rest["train_samples"] = int(accuracy_model.info.get("train_samples", 0))
    request = RecommendRequest(dataset, accuracy, confidence, Constraints(**constraints), **rest)
    return run_engine(profile.profile, request)


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
