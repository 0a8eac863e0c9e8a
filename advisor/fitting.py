"""Fitting as one library call for the CLI and the TUI: store -> energy fit -> profile (+ plot)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from measurement.hardware import Fingerprint
from measurement.store import RunStore, default_store_path
from models import profile as profiles
from models.energy import Diagnostics, FitConfig
from models.pipeline import default_profile_dir, fit_energy, select_runs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitRequest:
    """Inputs of ``advisor fit``."""

    store: Path | None = None
    out: Path | None = None
    plot: Path | None = None
    draws: int = 800
    tune: int = 600
    chains: int = 2
    strict: bool = False


@dataclass(frozen=True)
class FitOutcome:
    """What happened: diagnostics, where the profile went (if saved), what data it saw."""

    diagnostics: Diagnostics
    profile_dir: Path
    saved: bool
    observations: int
    meter_kinds: list[str]
    noise_floor: float | None
    accuracy: dict[str, Diagnostics]


def fit_and_save(request: FitRequest) -> FitOutcome:
    """Fit the newest machine's runs; save the profile unless ``strict`` and the fit did not converge.

    A non-converged fit without ``strict`` is saved with its diagnostics in the metadata and a warning;
    it is never saved silently.
    """
    with RunStore(request.store or default_store_path(), readonly=True) as store:
        runs = store.frame()
        fingerprints = store.fingerprints()
    runs, hardware = select_runs(runs)
    fp: Fingerprint = fingerprints[hardware]
    config = FitConfig(draws=request.draws, tune=request.tune, chains=request.chains)
    result = fit_energy(runs, fp, config)
    accuracy_idata, accuracy_info = fit_accuracy_models(runs)
    diagnostics = [result.diagnostics] + [d for _, d in accuracy_info.values()]
    converged = all(d.converged for d in diagnostics)
    out = request.out or default_profile_dir()
    save = converged or not request.strict
    if save:
        metadata = result.metadata()
        metadata["datasets"] = {name: info for name, (info, _) in accuracy_info.items()}
        profiles.save(out, result.idata, metadata, accuracy_idata)
    if request.plot is not None:
        from models.plot import plot_fit

        plot_fit(result.posterior, result.frame, request.plot)
    return FitOutcome(
        result.diagnostics, out, save, len(result.frame), sorted(set(result.frame["meter_kind"])), result.noise_floor,
        {name: d for name, (_, d) in accuracy_info.items()},
    )  # fmt: skip


def fit_accuracy_models(runs) -> tuple[dict, dict]:
    """One accuracy model per dataset that has probe runs: (idata by dataset, (info, diagnostics) by dataset)."""
    from models.accuracy import ACCURACY_FIT
    from models.accuracy import fit as fit_accuracy

    probes = runs[(runs["sweep_kind"] == "probe") & (runs["phase"] == "train") & (runs["status"] == "ok")]
    idatas, infos = {}, {}
    for name, frame in probes.groupby("dataset"):
        task = str(frame["task"].iloc[0])
        idata, diagnostics, info = fit_accuracy(frame, task, int(frame["output_dim"].iloc[0]), ACCURACY_FIT)
        idatas[str(name)] = idata
        infos[str(name)] = (info, diagnostics)
        if not diagnostics.converged:
            log.warning("accuracy model for %s did not converge: %s", name, "; ".join(diagnostics.problems()))
    return idatas, infos
