"""From a run export to a profile: select one machine's runs, fit the energy and accuracy models, stamp metadata."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from measurement.hardware import Fingerprint
from measurement.records import calibration_noise_floor
from measurement.store import advisor_home
from measurement.tiers import device_tiers
from models import accuracy
from models.energy import fit as fit_energy
from models.features import correct_drift, training_frame
from models.modules import add_measured, split_measured
from models.profile import Profile, ProfileMetadata
from models.sampling import FitConfig, FitError

log = logging.getLogger(__name__)


def select_runs(runs: pd.DataFrame, hardware: str | None = None) -> tuple[pd.DataFrame, str]:
    """Runs of one machine, ok or not: ``hardware`` (a machine id, or a unique prefix of one), else the
    machine of the newest run.

    Raises:
        FitError: no runs, or no machine with that id (one line).
    """
    if runs.empty:
        raise FitError("the run store has no runs: run 'advisor calibrate' first")
    if hardware is None:
        hardware = runs.sort_values("finished_unix_s")["hardware"].iloc[-1]
    else:
        hardware = _machine(runs, hardware)
    chosen = runs[runs["hardware"] == hardware]
    if chosen.empty:
        raise FitError(f"no runs for hardware {hardware}")
    return chosen, hardware


def _machine(runs: pd.DataFrame, wanted: str) -> str:
    """The machine id ``wanted`` names: itself, or the one id it is a prefix of (at least 4 characters)."""
    ids = sorted(set(runs["hardware"]))
    if wanted in ids:
        return wanted
    matches = [i for i in ids if len(wanted) >= 4 and i.startswith(wanted)]
    if len(matches) != 1:
        shown = repr(wanted[:40])
        raise FitError(
            f"no runs for hardware {shown}: 'advisor runs --hardware' lists the machines in the store"
            + (f" ({len(matches)} ids start with it)" if matches else "")
        )
    return matches[0]


def run_device(runs: pd.DataFrame) -> str:
    """The device the runs were measured on (``cpu`` when unknown)."""
    return str(runs["device"].iloc[0]) if len(runs) else "cpu"


def without_rechecks(runs: pd.DataFrame) -> pd.DataFrame:
    """A run export without the machine's rechecks (sweep kind ``recheck``): they describe a day, not the model;
    fits and evaluations never use them."""
    if "sweep_kind" not in runs:
        return runs
    return runs[runs["sweep_kind"] != "recheck"].reset_index(drop=True)


def fit_profile(
    runs: pd.DataFrame,
    fp: Fingerprint,
    config: FitConfig,
    accuracy_config: FitConfig = accuracy.ACCURACY_FIT,
    curves: pd.DataFrame | None = None,
) -> tuple[Profile, pd.DataFrame]:
    """Fit the energy model to one machine's runs and an accuracy model per probed dataset (over the probe
    runs' learning curves ``curves`` where given). Measured programs in ``runs`` (sweep kind ``measure``) join
    the energy fit where their network is described (:func:`models.modules.measured_training_frame`); rechecks
    of the machine (sweep kind ``recheck``) never do.

    Returns the (unsaved) profile and the training frame the energy model saw (for plots).
    """
    runs = without_rechecks(runs)
    runs, measured = split_measured(runs)  # present only when asked for (--include-measured)
    tiers = device_tiers(fp, run_device(runs))
    floor = calibration_noise_floor(runs)
    runs, correction = correct_drift(runs, floor)
    if message := correction.message():
        log.warning(message)
    frame = add_measured(training_frame(runs), measured)
    energy = fit_energy(frame, config, tiers)
    accuracies = fit_accuracy_models(runs, accuracy_config, curves)
    meta = ProfileMetadata(
        fingerprint=fp,
        meter_kinds=tuple(sorted(set(frame["meter_kind"]))),
        meters=tuple(sorted(set(frame["meter"]))),
        tiers=tiers,
        run_ids=tuple(sorted({int(i) for i in frame["run_id"]})),
        observations=len(frame),
        diagnostics=energy.diagnostics,
        noise_floor=floor,
        drift=correction.drift.value,
        drift_corrected=correction.applied,
        datasets={name: acc.info for name, acc in accuracies.items()},
    )
    return Profile(energy, meta, accuracies), frame


def fit_accuracy_models(
    runs: pd.DataFrame, config: FitConfig = accuracy.ACCURACY_FIT, curves: pd.DataFrame | None = None
) -> dict:
    """One accuracy posterior per dataset that has ok probe runs, over their learning curves, by dataset name."""
    out = {}
    for name, frame in accuracy.curve_frame(runs, curves).groupby("dataset"):
        posterior = accuracy.fit(frame, config)
        if not posterior.diagnostics.converged:
            log.warning("accuracy model for %s did not converge: %s", name, "; ".join(posterior.diagnostics.problems()))
        out[str(name)] = posterior
    return out


def default_profile_dir() -> Path:
    """``<advisor home>/profile`` (``$ADVISOR_HOME``, else the platform's user data dir)."""
    return advisor_home() / "profile"
