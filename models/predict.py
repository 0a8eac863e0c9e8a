"""Energy per datum of arbitrary configs from an energy posterior: the table ``predict`` returns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from measurement.architecture import (
    BEYOND_GRID_LIMITS,
    GRID_LIMITS,
    check_batch,
    check_config,
    parse_shape,
    size_architecture,
)
from measurement.errors import InputError
from models.energy import EnergyPosterior
from models.features import PHASES, features_frame

CONFIG_COLUMNS = ("shape", "depth", "size", "input_dim", "output_dim")
MAX_CONFIGS = 100_000
MAX_TRAIN_SAMPLES = 2**40


def check_configs(frame: pd.DataFrame, beyond_grid: bool = False) -> None:
    """Refuse, before any work, configs outside the grid's limits (or the hard limits with ``beyond_grid``)."""
    if len(frame) > MAX_CONFIGS:
        raise InputError(f"at most {MAX_CONFIGS:,} configs per call, got {len(frame):,}")
    limits = BEYOND_GRID_LIMITS if beyond_grid else GRID_LIMITS
    for row in frame.itertuples():
        parse_shape(str(row.shape))
        check_config(
            depth=_integer(row.depth),
            size=_integer(row.target_size),
            input_dim=_integer(row.input_dim),
            output_dim=_integer(row.output_dim),
            limits=limits,
        )
        check_batch(_integer(row.batch_size))
        for name in ("train_samples", "test_samples"):
            samples = _integer(getattr(row, name, 1))
            if not isinstance(samples, int) or not 1 <= samples <= MAX_TRAIN_SAMPLES:
                raise InputError(
                    f"{name.replace('_', ' ')} must be an integer in [1, {MAX_TRAIN_SAMPLES}], got {samples!r}"[:200]
                )
        if row.phase not in PHASES:
            raise InputError(f"phase must be one of {', '.join(PHASES)}, got {row.phase!r}")


def _integer(value: object) -> object:
    """A whole number as int (1.0 from a float column is 1); anything else unchanged, for the range check."""
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return int(value) if isinstance(value, np.integer) else value


def _known_datasets(posterior: EnergyPosterior, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its ``dataset`` column checked (every name one the fit saw; empty or NaN: unseen), or as
    it was without one."""
    if "dataset" not in frame:
        return frame
    names = frame["dataset"].fillna("").astype(str)
    unknown = sorted(set(names) - set(posterior.datasets) - {""})
    if unknown:
        known = ", ".join(posterior.datasets) or "none"
        raise InputError(
            f"the energy fit did not see data set {unknown[0][:100]!r} (it saw: {known[:300]}); leave "
            "it out to predict for an unseen data set"
        )
    return frame.assign(dataset=names)


def _check_dataset_dims(frame: pd.DataFrame, dims: dict[str, tuple[int, int]]) -> None:
    """Refuse a config said to be on a data set of known widths (a probed one) that it does not have: the
    cost factors are that data set's, at its widths."""
    if "dataset" not in frame:
        return
    for row in frame.itertuples():
        want = dims.get(row.dataset)
        if want is not None and (row.input_dim, row.output_dim) != want:
            raise InputError(
                f"data set {row.dataset[:100]!r} has {want[0]} inputs and {want[1]} outputs, not "
                f"{row.input_dim} -> {row.output_dim}: leave the data set out to predict for another one"
            )


def predict(
    posterior: EnergyPosterior,
    configs: pd.DataFrame,
    estimated: bool,
    beyond_grid: bool = False,
    dataset_dims: dict[str, tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """One row per config: realised params and widths, energy per datum and its two intervals, working set, tier.

    ``configs`` has shape, depth, size, input_dim, output_dim and optionally batch_size (default 256),
    phase (``train`` | ``inference``, default train), train_samples / test_samples (the rows a phase's
    batches are cut from: a set smaller than the batch runs in smaller steps; each phase is predicted at its
    effective batch), and dataset: a data set the energy fit saw (``posterior.datasets``; a probed one), whose
    fitted cost factors then apply; without it (or where it is empty) the config is on a data set the fit has
    not seen.
    ``energy_p05_j``/``energy_p95_j`` bound the *mean*
    energy (90% credible interval: what the model knows); ``predictive_p05_j``/``predictive_p95_j`` bound
    *one new measurement* (90% predictive interval: the model's uncertainty, the data set's cost factors and
    run-to-run noise). On an unseen data set the mean and its interval are the population's (its cost factors
    are unknown until it is measured) and the predictive interval adds a new data set's spread.

    ``dataset_dims``: the (input, output) widths of data sets whose widths are known (the profile's probed ones).

    Raises:
        InputError: missing columns, a number outside the grid's limits (``beyond_grid``: the hard limits), a
            dataset the fit did not see, or a known data set's config at other widths; all before any work.
    """
    missing = [c for c in CONFIG_COLUMNS if c not in configs]
    if missing:
        raise InputError(f"configs need columns {list(CONFIG_COLUMNS)}; missing {missing}")
    frame = configs.assign(batch_size=configs.get("batch_size", 256), phase=configs.get("phase", "train"))
    frame = frame.rename(columns={"size": "target_size"}).reset_index(drop=True)
    check_configs(frame, beyond_grid)
    frame = _known_datasets(posterior, frame)
    frame = frame.astype({c: "int64" for c in ("depth", "target_size", "input_dim", "output_dim", "batch_size")})
    _check_dataset_dims(frame, dataset_dims or {})
    feats = features_frame(frame)
    draws = np.exp(posterior.log_energy(feats))
    predictive = np.exp(posterior.predictive_log_energy(feats))
    archs = [
        size_architecture(
            shape=r.shape,
            depth=int(r.depth),
            target_size=int(r.target_size),
            input_dim=int(r.input_dim),
            output_dim=int(r.output_dim),
        )
        for r in frame.itertuples()
    ]
    out = frame.rename(columns={"target_size": "size"})
    out["params"] = [a.params for a in archs]
    out["widths"] = [list(a.widths) for a in archs]
    out["energy_mean_j"] = draws.mean(axis=0)
    out["energy_median_j"] = np.median(draws, axis=0)
    out["energy_p05_j"], out["energy_p95_j"] = np.percentile(draws, [5, 95], axis=0)
    out["predictive_p05_j"], out["predictive_p95_j"] = np.percentile(predictive, [5, 95], axis=0)
    out["working_set_bytes"] = np.exp(feats["log_ws_bytes"].to_numpy()).round().astype(np.int64)
    out["tier"] = posterior.tier_labels_of(feats)
    out["estimated"] = estimated
    return out
