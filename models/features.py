"""Per-config features of the energy model: physical amounts per datum and the working set of each.

One row per (config, phase). The amounts are those every MLP has, whatever its input width, output width or
shape (see :mod:`measurement.cost` for how each is counted): FLOPs, activation traffic, optimizer traffic, the
FLOPs of GEMM output columns outside whole vector tiles (the GEMM tail), the per-layer per-step overhead D / B,
and for each tiered term the working set that decides its cache tier.
Everything is on the natural-log scale (``log_*``), units in the names. FEATURES_VERSION changes whenever a
definition here changes; profiles record it, and a profile fit on other definitions is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from measurement.architecture import Architecture, size_architecture
from measurement.cost import Cost, cost
from measurement.datasets import TEST_FRACTION
from measurement.records import Drift, config_key, drift
from measurement.records import noise_floor as repeat_noise_floor

PHASES = ("train", "inference")
TERMS = ("compute", "activation", "optimizer", "gemm_tail")
"""The energy model's tiered terms, each an amount per datum with its own cost per unit and working set."""
TERM_UNITS = {"compute": "FLOP", "activation": "B", "optimizer": "B", "gemm_tail": "tail FLOP"}
"""What one unit of each term's amount is (its cost is in J per unit; a tail FLOP's is on top of its FLOP's)."""
AMOUNT_COLUMNS = {
    "compute": "log_flops",
    "activation": "log_activation_bytes",
    "optimizer": "log_optimizer_bytes",
    "gemm_tail": "log_tail_flops",
}
WORKING_SET_COLUMNS = {
    "compute": "log_ws_compute_bytes",
    "activation": "log_ws_activation_bytes",
    "optimizer": "log_ws_optimizer_bytes",
    "gemm_tail": "log_ws_compute_bytes",  # the same GEMMs' operands
}
FEATURE_COLUMNS = (
    *AMOUNT_COLUMNS.values(),
    *dict.fromkeys(WORKING_SET_COLUMNS.values()),
    "log_layers_per_datum",
    "log_ws_bytes",
    "log_depth",
    "log_batch",
    "log_params",
)
TAIL_FLOPS_FLOOR = 1e-3
"""A network whose every GEMM fills whole tiles has no tail FLOPs; the feature holds this instead of 0 (ln 0)."""
FEATURES_VERSION = 4
FEATURE_DEFINITIONS = {
    "log_flops": "ln FLOPs per datum (train 6*MACs, inference 2*MACs)",
    "log_activation_bytes": "ln activation bytes read+written per datum (measurement.cost: gather, forward, backward, "
    "ReLU and residual-add kernels)",
    "log_optimizer_bytes": "ln parameter bytes moved per datum (train 10*params*4/B, inference params*4/B)",
    "log_tail_flops": "ln FLOPs per datum of GEMM output columns outside whole 16-column tiles (measurement.cost; "
    "floor 1e-3)",  # tests check these numbers are GEMM_TILE_COLUMNS and TAIL_FLOPS_FLOOR (the hash hashes text)
    "log_ws_compute_bytes": "ln largest layer GEMM operands per step: 4*max(fan_in*width + B*(fan_in+width))",
    "log_ws_activation_bytes": "ln live activations per step (train 4*B*(I+sum widths), inference "
    "4*B*max(fan_in+width))",
    "log_ws_optimizer_bytes": "ln parameter state per step (train 4*params*4, inference params*4)",
    "log_layers_per_datum": "ln depth / B (per-layer per-step overhead, per datum)",
    "log_ws_bytes": "ln whole-step working set (train: 4*params*4 + B*(I+sum widths)*4; inference: params*4 + "
    "B*max(fan_in+width)*4): what figures and tier labels show",
    "log_depth": "ln number of Linear layers",
    "log_batch": "ln batch size of the phase",
    "log_params": "ln realised trainable parameters",
}


def feature_hash() -> str:
    """Hash of the feature definitions; a profile fit on other definitions is refused."""
    blob = json.dumps({"version": FEATURES_VERSION, "definitions": FEATURE_DEFINITIONS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _amounts(arch: Architecture, c: Cost, phase: str) -> tuple[float, ...]:
    """The feature values of one sized architecture in one phase, in FEATURE_COLUMNS order (linear scale)."""
    train = phase == "train"
    return (
        c.train_flops_per_datum if train else c.inference_flops_per_datum,
        c.train_activation_bytes_per_datum if train else c.inference_activation_bytes_per_datum,
        c.train_optimizer_bytes_per_datum if train else c.inference_optimizer_bytes_per_datum,
        max(c.train_tail_flops_per_datum if train else c.inference_tail_flops_per_datum, TAIL_FLOPS_FLOOR),
        c.layer_working_set_bytes,
        c.activation_bytes if train else c.inference_live_activation_bytes,
        4 * c.param_bytes if train else c.param_bytes,
        arch.depth / c.batch_size,
        c.train_working_set_bytes if train else c.inference_working_set_bytes,
        arch.depth,
        c.batch_size,
        arch.params,
    )


def arch_features(archs: list[Architecture], batch_size: int, phase: str) -> pd.DataFrame:
    """Feature rows for already-sized architectures (no width search: fast for whole grids)."""
    rows = [_amounts(a, cost(a, batch_size), phase) for a in archs]
    values = np.array(rows, dtype=float).reshape(-1, len(FEATURE_COLUMNS))
    frame = pd.DataFrame(np.log(values), columns=list(FEATURE_COLUMNS))
    frame["phase_index"] = PHASES.index(phase)
    return frame


def config_features(
    shape: str, depth: int, size: int, input_dim: int, output_dim: int, batch_size: int, phase: str
) -> dict[str, float]:
    """Features of one config in one phase."""
    arch = size_architecture(shape, depth, size, input_dim, output_dim)
    values = np.log(np.array(_amounts(arch, cost(arch, batch_size), phase), dtype=float))
    return dict(zip(FEATURE_COLUMNS, values.tolist(), strict=True))


def effective_batch_size(batch_size: int, samples: float | None) -> int:
    """Mean datums per step when ``samples`` are cut into batches of at most ``batch_size`` (the last one
    partial), as the harness does: a 142-sample training set at batch 256 trains in steps of 142."""
    if samples is None or not math.isfinite(samples) or samples < 1:
        return int(batch_size)
    return max(1, round(samples / math.ceil(samples / batch_size)))


def _phase_samples(row) -> float | None:
    """The samples a phase's batches are cut from: ``train_samples`` for training, ``test_samples`` for
    inference (None where the frame does not say: the nominal batch is then taken)."""
    samples = getattr(row, "train_samples" if row.phase == "train" else "test_samples", None)
    return None if samples is None or pd.isna(samples) else float(samples)


def split_test_samples(train_samples: pd.Series) -> pd.Series:
    """The test rows of the 80/20 split (:mod:`measurement.datasets`) that left ``train_samples`` for training:
    a run's inference phase cuts its batches from these."""
    return (train_samples.astype(float) * TEST_FRACTION / (1 - TEST_FRACTION)).round().clip(lower=1.0)


def features_frame(configs: pd.DataFrame) -> pd.DataFrame:
    """Add feature columns to a frame with shape, depth, target_size, input_dim, output_dim, batch_size, phase.

    With a ``train_samples`` (``test_samples``) column each training (inference) row's batch is the effective
    one (:func:`effective_batch_size`): data sets smaller than the batch run in smaller steps.
    """
    rows = [
        config_features(
            shape=r.shape,
            depth=int(r.depth),
            size=int(r.target_size),
            input_dim=int(r.input_dim),
            output_dim=int(r.output_dim),
            batch_size=effective_batch_size(int(r.batch_size), _phase_samples(r)),
            phase=r.phase,
        )
        for r in configs.itertuples()
    ]
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
    if "train_samples" in ok and "test_samples" not in ok:  # a run's inference phase runs over its test split
        ok["test_samples"] = split_test_samples(ok["train_samples"])
    frame = features_frame(ok)
    frame["log_energy"] = np.log(frame["energy_per_datum_j"].to_numpy(float))
    frame["config"] = frame["run_key"].map(config_key) + "/" + frame["dataset"].astype(str)
    return frame


@dataclass(frozen=True)
class DriftCorrection:
    """What :func:`correct_drift` found and did.

    Attributes:
        drift: the sentinel's drift (:func:`measurement.records.drift`).
        applied: whether the energies were divided by the sentinel's trend.
        real: whether the drift exceeded twice the noise floor (:meth:`Drift.is_real`).
        floor_before: the drifting sweep's repeat-noise floor (the caller's floor where it was not checked).
        floor_after: that sweep's floor with the trend removed (None where not checked: the drift was not
            real, the trend could not be fitted, or the sweep has no repeat pairs).
    """

    drift: Drift
    applied: bool
    real: bool = False
    floor_before: float | None = None
    floor_after: float | None = None

    @property
    def refused(self) -> bool:
        """A real drift left uncorrected because removing it pulled the repeats apart."""
        return not self.applied and self.floor_after is not None

    def message(self) -> str | None:
        """What was done about a real drift, in one line (None when the drift was noise or not measured)."""
        if not self.real:
            return None
        head = f"the calibration's sentinel drifted {self.drift.value:+.1%} over {self.drift.count} measurements"
        if self.applied:
            floor = "" if self.floor_before is None else f" (noise floor {self.floor_before:.1%})"
            return f"{head}{floor}: energies corrected by its trend"
        if self.refused:
            return (
                f"{head}, but removing its trend would pull the repeat pairs apart (noise floor "
                f"{self.floor_before:.1%} -> {self.floor_after:.1%}): the drift is the sentinel's, not the "
                "machine's; energies not corrected"
            )
        return f"{head}, but its trend could not be fitted (too few usable measurements): energies not corrected"


def correct_drift(runs: pd.DataFrame, noise_floor: float | None) -> tuple[pd.DataFrame, DriftCorrection]:
    """Remove a real sentinel drift from a run export: the calibration sweep's energies divided by the
    sentinel's trend (a line in ln energy over finish time, 1 at the sentinel's median time).

    Only a drift beyond twice the repeat-noise floor counts as real (:meth:`Drift.is_real`); anything less
    is left alone, as noise. A real drift is removed only if that brings the sweep's repeats closer together:
    repeat pairs lie minutes apart, so a drift of the machine's speed separates them and its removal shrinks
    the sweep's floor; where it widens it instead, the trend is the sentinel's own (a noisy neighbour slowing
    a cache-bound config, say), not the machine's, and correcting every run by it would add error (a sweep on
    a busy VM: sentinel +14%, floor 4.5% -> 7.2% with the trend removed). Where the sweep has no repeat pairs
    to check against (the caller judged the drift against a floor of its own), a real drift is removed.
    Returns the (possibly) corrected export and what was found and done.
    """
    found = drift(runs) if {"sweep_id", "run_key", "finished_unix_s"} <= set(runs.columns) else Drift(None, 0)
    if not found.is_real(noise_floor) or found.config_key is None:
        return runs, DriftCorrection(drift=found, applied=False, real=False, floor_before=noise_floor)
    corrected = _remove_trend(runs, found)
    if corrected is None:
        return runs, DriftCorrection(drift=found, applied=False, real=True, floor_before=noise_floor)
    before, after = _sweep_floor(runs, found), _sweep_floor(corrected, found)
    if before is None or after is None:
        return corrected, DriftCorrection(drift=found, applied=True, real=True, floor_before=noise_floor)
    if not after <= before:  # NaN included
        return runs, DriftCorrection(drift=found, applied=False, real=True, floor_before=before, floor_after=after)
    return corrected, DriftCorrection(drift=found, applied=True, real=True, floor_before=before, floor_after=after)


def _sweep_floor(runs: pd.DataFrame, found: Drift) -> float | None:
    """The repeat-noise floor of the drifting sweep alone (other sweeps' pairs would dilute the check)."""
    return repeat_noise_floor(runs[runs["sweep_id"] == found.sweep_id])[0]


def _remove_trend(runs: pd.DataFrame, found: Drift) -> pd.DataFrame | None:
    """The export with the drifting sweep's energies divided by its sentinel's trend (None: fewer than 2
    sentinel measurements with a finite time and a positive, finite energy)."""
    ok = runs[(runs["status"] == "ok") & (runs["phase"] == "train") & (runs["sweep_id"] == found.sweep_id)]
    energy = pd.to_numeric(ok["energy_per_datum_j"], errors="coerce").to_numpy(float)
    finished = ok["finished_unix_s"].to_numpy(float)
    usable = np.isfinite(finished) & np.isfinite(energy) & (energy > 0)
    sentinel = (ok["run_key"].map(config_key) == found.config_key).to_numpy() & usable
    if sentinel.sum() < 2:
        return None
    t = finished[sentinel]
    slope, _ = np.polyfit(t - t.mean(), np.log(energy[sentinel]), 1)
    if not np.isfinite(slope):
        return None
    out = runs.copy()
    rows = (out["sweep_id"] == found.sweep_id).to_numpy()
    times = out.loc[rows, "finished_unix_s"].to_numpy(float)
    factor = np.exp(slope * (np.nan_to_num(times, nan=float(np.median(t))) - np.median(t)))
    for column in ("energy_per_datum_j", "raw_energy_per_datum_j"):
        out.loc[rows, column] = out.loc[rows, column].to_numpy(float) / factor
    return out
