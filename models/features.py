"""Per-config features of the energy model, from realised widths and batch size.

One row per (config, phase). Phase ``train`` uses training FLOPs (6 x MACs) and the training working set
(parameters, gradients, Adam state, activations); phase ``inference`` uses 2 x MACs and the forward-only
working set. FEATURES_VERSION changes whenever a definition here changes; profiles record it.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from measurement.architecture import size_architecture
from measurement.cost import cost
from measurement.records import config_key

PHASES = ("train", "inference")
FEATURE_COLUMNS = ("log_flops", "log_ws", "log_depth", "log_batch", "log_params")
FEATURES_VERSION = 1
FEATURE_DEFINITIONS = {
    "log_flops": "ln FLOPs per datum (train 6*MACs, inference 2*MACs)",
    "log_ws": "ln working-set bytes per step (train: 4*params*4 + B*(I+sum widths)*4; inference: params*4 + "
    "B*max(fan_in+width)*4)",
    "log_depth": "ln number of Linear layers",
    "log_batch": "ln batch size of the phase",
    "log_params": "ln realised trainable parameters",
}


def feature_hash() -> str:
    """Hash of the feature definitions; a profile fit on other definitions is refused."""
    blob = json.dumps({"version": FEATURES_VERSION, "definitions": FEATURE_DEFINITIONS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def arch_features(archs: list, batch_size: int, phase: str) -> pd.DataFrame:
    """Feature rows for already-sized architectures (no width search: fast for whole grids)."""
    costs = [cost(a, batch_size) for a in archs]
    flops = [c.train_flops_per_datum if phase == "train" else c.inference_flops_per_datum for c in costs]
    ws = [c.train_working_set_bytes if phase == "train" else c.inference_working_set_bytes for c in costs]
    return pd.DataFrame({
        "log_flops": np.log(np.asarray(flops, float)),
        "log_ws": np.log(np.asarray(ws, float)),
        "log_depth": np.log([float(a.depth) for a in archs]),
        "log_batch": np.full(len(archs), np.log(batch_size)),
        "log_params": np.log([float(a.params) for a in archs]),
        "phase_index": PHASES.index(phase),
    })  # fmt: skip


def config_features(
    shape: str, depth: int, size: int, input_dim: int, output_dim: int, batch_size: int, phase: str
) -> dict[str, float]:
    """Features of one config in one phase."""
    arch = size_architecture(shape, depth, size, input_dim, output_dim)
    c = cost(arch, batch_size)
    flops = c.train_flops_per_datum if phase == "train" else c.inference_flops_per_datum
    ws = c.train_working_set_bytes if phase == "train" else c.inference_working_set_bytes
    return {
        "log_flops": float(np.log(flops)),
        "log_ws": float(np.log(ws)),
        "log_depth": float(np.log(depth)),
        "log_batch": float(np.log(batch_size)),
        "log_params": float(np.log(arch.params)),
    }


def features_frame(configs: pd.DataFrame) -> pd.DataFrame:
    """Add feature columns to a frame with shape, depth, target_size, input_dim, output_dim, batch_size, phase."""
    rows = [
        config_features(r.shape, int(r.depth), int(r.target_size), int(r.input_dim), int(r.output_dim),
                        int(r.batch_size), r.phase)
        for r in configs.itertuples()
    ]  # fmt: skip
    out = configs.reset_index(drop=True).copy()
    for column in FEATURE_COLUMNS:
        out[column] = [row[column] for row in rows]
    out["phase_index"] = out["phase"].map({p: i for i, p in enumerate(PHASES)}).astype(int)
    return out


def training_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Usable observations from a store export: ok runs with positive energy, features and targets added."""
    energy = pd.to_numeric(runs["energy_per_datum_j"], errors="coerce")
    ok = runs[(runs["status"] == "ok") & np.isfinite(energy) & (energy > 0)].copy()  # NaN/inf never reach a fit
    if ok.empty:
        return features_frame(ok.assign(phase=[]))
    frame = features_frame(ok)
    frame["log_energy"] = np.log(frame["energy_per_datum_j"].to_numpy(float))
    frame["config"] = frame["run_key"].map(config_key) + "/" + frame["dataset"].astype(str)
    return frame
