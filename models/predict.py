"""Energy per datum of arbitrary configs from an energy posterior: the table ``predict`` returns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from measurement.architecture import size_architecture
from measurement.errors import InputError
from models.energy import EnergyPosterior
from models.features import features_frame

CONFIG_COLUMNS = ("shape", "depth", "size", "input_dim", "output_dim")


def predict(posterior: EnergyPosterior, configs: pd.DataFrame, estimated: bool) -> pd.DataFrame:
    """One row per config: realised params and widths, energy per datum and its two intervals, working set, tier.

    ``configs`` has shape, depth, size, input_dim, output_dim and optionally batch_size (default 256) and
    phase (``train`` | ``inference``, default train). ``energy_p05_j``/``energy_p95_j`` bound the *mean*
    energy (90% credible interval: what the model knows); ``predictive_p05_j``/``predictive_p95_j`` bound
    *one new measurement* (90% predictive interval: the model's uncertainty plus run-to-run noise).
    """
    missing = [c for c in CONFIG_COLUMNS if c not in configs]
    if missing:
        raise InputError(f"configs need columns {list(CONFIG_COLUMNS)}; missing {missing}")
    frame = configs.assign(batch_size=configs.get("batch_size", 256), phase=configs.get("phase", "train"))
    frame = frame.rename(columns={"size": "target_size"}).reset_index(drop=True)
    feats = features_frame(frame)
    draws = np.exp(posterior.log_energy(feats))
    predictive = np.exp(posterior.predictive_log_energy(feats))
    archs = [size_architecture(r.shape, int(r.depth), int(r.target_size), int(r.input_dim), int(r.output_dim))
             for r in frame.itertuples()]  # fmt: skip
    out = frame.rename(columns={"target_size": "size"})
    out["params"] = [a.params for a in archs]
    out["widths"] = [list(a.widths) for a in archs]
    out["energy_mean_j"] = draws.mean(axis=0)
    out["energy_median_j"] = np.median(draws, axis=0)
    out["energy_p05_j"], out["energy_p95_j"] = np.percentile(draws, [5, 95], axis=0)
    out["predictive_p05_j"], out["predictive_p95_j"] = np.percentile(predictive, [5, 95], axis=0)
    out["working_set_bytes"] = np.exp(feats["log_ws"].to_numpy()).round().astype(np.int64)
    out["tier"] = [posterior.tier_label(int(t)) for t in posterior.tier_index(feats["log_ws"].to_numpy())]
    out["estimated"] = estimated
    return out
