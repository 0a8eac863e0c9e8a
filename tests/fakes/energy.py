"""Synthetic runs drawn from known energy-model parameters (shared by the model tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from measurement.architecture import DEPTHS, SHAPES
from measurement.tiers import Tier
from models.energy import log_energy_numpy
from models.features import features_frame

TIERS = (Tier("L1d", 32 * 1024), Tier("L2", 512 * 1024), Tier("L3", 32 * 2**20))
TRUE = {
    # per term, both phases: compute J/FLOP, activation J/byte, optimizer J/byte, GEMM tail J/FLOP (extra)
    "log_c": np.log([2e-11, 4e-11, 3e-11, 4e-11]),
    "r": np.array([0.3, 1.0, 2.5]),  # per tier: its factor on every term's cost
    "log_S": np.log([32 * 1024, 512 * 1024, 32 * 2**20]),
    "log_tau": np.array(np.log(0.4)),
    "log_o": np.array([np.log(2e-5), np.log(5e-6)]),
    "log_q": np.array([np.log(4e-5), np.log(1e-5)]),
    "log_k": np.array([np.log(1e-8), np.log(3e-9)]),
    "sigma": np.array([0.05, 0.05]),
    "sigma_dataset": np.array([0.02, 0.02, 0.02, 0.02]),  # synthetic runs have no data-set effect; a small spread
}
WIDTHS = ((16, 4), (128, 10), (1024, 16))
"""Input and output widths of the synthetic runs: the terms are told apart only across widths."""


def synthetic_runs(n_configs: int = 90, seed: int = 0, noise: float = 0.05, widths=WIDTHS) -> pd.DataFrame:
    """Runs simulated from TRUE, spread over all tiers (sizes 2^5..2^22, batches 16..1024) and ``widths``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_configs):
        size = int(2 ** rng.integers(5, 23))
        input_dim, output_dim = widths[i % len(widths)]
        base = {
            "shape": SHAPES[i % 8].value, "depth": int(rng.choice(DEPTHS[:8])), "target_size": size,
            "input_dim": input_dim, "output_dim": output_dim, "batch_size": int(rng.choice([16, 64, 256, 1024])),
        }  # fmt: skip
        for phase in ("train", "inference"):
            rows.append({**base, "phase": phase, "run_key": f"c{i}/r0", "run_id": i})
    frame = features_frame(pd.DataFrame(rows))
    post = {k: np.asarray(v)[None, ...] for k, v in TRUE.items()}
    mu = log_energy_numpy(post, frame)[0]
    frame["log_energy"] = mu + noise * rng.standard_normal(len(frame))
    frame["energy_per_datum_j"] = np.exp(frame["log_energy"])
    frame["spread"] = 0.0
    frame["config"] = frame["run_key"].str.split("/").str[0]
    frame["status"], frame["meter"], frame["meter_kind"] = "ok", "replay", "measured"
    frame["dataset"] = [f"synthetic:4096,{i},{o}" for i, o in zip(frame["input_dim"], frame["output_dim"], strict=True)]
    frame["sweep_kind"] = "calibrate"
    return frame
