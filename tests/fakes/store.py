"""A run store filled without training (records are torch-free): synthetic runs from the known tier law."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from measurement.architecture import SHAPES, size_architecture
from measurement.hardware import Fingerprint
from measurement.meters.base import MeterKind
from measurement.records import PhaseResult, PlannedRun, RunResult, Window
from measurement.store import RunContext, RunStore
from models.energy import log_energy_numpy
from models.features import features_frame
from tests.fakes.energy import TRUE

DIMS = (16, 4)


def _phase(phase: str, energy_j: float) -> PhaseResult:
    windows = tuple(Window(energy_j * 100, 0.1, 100, energy_j * 100) for _ in range(3))
    return PhaseResult(phase, windows, energy_j, energy_j, 0.01, 1000.0)


def fill_store(path: Path, fp: Fingerprint, n_configs: int = 24, seed: int = 0) -> Path:
    """Record ``n_configs`` configs (plus one repeat of each of the first four) as one calibrate sweep."""
    rng = np.random.default_rng(seed)
    plans = [PlannedRun(SHAPES[i % 8].value, int(rng.choice([2, 3, 4, 6])), int(2 ** rng.integers(6, 18)),
                        int(rng.choice([32, 256]))) for i in range(n_configs)]  # fmt: skip
    plans += [PlannedRun(p.shape, p.depth, p.size, p.batch_size, repeat=1) for p in plans[:4]]
    rows = [
        {"shape": p.shape, "depth": p.depth, "target_size": p.size, "input_dim": DIMS[0], "output_dim": DIMS[1],
         "batch_size": p.batch_size, "phase": phase}
        for p in plans for phase in ("train", "inference")
    ]  # fmt: skip
    post = {k: np.asarray(v)[None, ...] for k, v in TRUE.items()}
    energy = np.exp(
        log_energy_numpy(post, features_frame(pd.DataFrame(rows)))[0] + 0.02 * rng.standard_normal(len(rows))
    )
    with RunStore(path) as store:
        sweep = store.open_sweep(store.hardware_id(fp), "calibrate", "fake-plan", {}, "synthetic:600,16,4", "replay",
                                 "measured")  # fmt: skip
        for i, p in enumerate(plans):
            arch = size_architecture(p.shape, p.depth, p.size, *DIMS)
            result = RunResult(arch, "replay", MeterKind.MEASURED, 0.0, _phase("train", energy[2 * i]),
                               _phase("inference", energy[2 * i + 1]), 1.0, 0.5, 0.0, 0.5)  # fmt: skip
            ctx = RunContext("synthetic:600,16,4", "hash", "multiclass", 480, 480 * 64, p.batch_size, p.batch_size, 1,
                             "cpu")  # fmt: skip
            store.record_run(sweep, p.key, result, ctx)
    return path
