"""``advisor fit`` as one library call for the CLI and the TUI: store -> energy + accuracy fits -> profile (+ plot)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from advisor.api import refuse_reference
from measurement.datasets import DatasetError, dataset_name
from measurement.errors import InputError
from measurement.store import RunStore, default_store_path
from models.energy import ENERGY_FIT
from models.pipeline import default_profile_dir, fit_profile, select_runs
from models.profile import check_profile_destination
from models.sampling import Diagnostics, check_sampler

log = logging.getLogger(__name__)
MAX_DRAWS = 100_000
MAX_CHAINS = 64


@dataclass(frozen=True)
class FitRequest:
    """Inputs of ``advisor fit``."""

    store: Path | None = None
    out: Path | None = None
    plot: Path | None = None
    draws: int = ENERGY_FIT.draws
    tune: int = ENERGY_FIT.tune
    chains: int = ENERGY_FIT.chains
    max_draws: int = ENERGY_FIT.max_draws
    """Sample the energy model until converged, doubling the draws up to this many per chain."""
    strict: bool = False
    hardware: str | None = None
    """The machine to fit (an id from ``advisor runs --hardware``, or its unique prefix); None: the newest."""
    sampler: str = "nutpie"
    include_measured: bool = False
    """Let programs measured with ``advisor measure`` whose network is described join the energy fit."""

    def validate(self) -> None:
        """Refuse sampler settings out of range before any work (an absurd --draws would sample for days)."""
        bounds = (("draws", 1, MAX_DRAWS), ("tune", 0, MAX_DRAWS), ("chains", 1, MAX_CHAINS))
        for name, lo, hi in (*bounds, ("max_draws", 1, MAX_DRAWS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InputError(f"{name} must be an integer in [{lo}, {hi:,}], got {value!r}")
        check_sampler(self.sampler)


@dataclass(frozen=True)
class FitOutcome:
    """What happened: diagnostics, where the profile went (if saved), what data it saw."""

    diagnostics: Diagnostics
    profile_dir: Path
    saved: bool
    observations: int
    meter_kinds: tuple[str, ...]
    noise_floor: float | None
    accuracy: dict[str, Diagnostics]

    @property
    def problems(self) -> list[str]:
        """Every convergence problem of the energy and the accuracy fits."""
        return self.diagnostics.problems() + [f"{n}: {p}" for n, a in self.accuracy.items() for p in a.problems()]


def fit_and_save(request: FitRequest) -> FitOutcome:
    """Fit one machine's runs (``request.hardware``, else the machine of the newest run); save the profile
    unless ``strict`` and a fit did not converge.

    A non-converged fit without ``strict`` is saved with its diagnostics in the metadata and a warning;
    it is never saved silently.
    """
    request.validate()
    refuse_reference(request.out or default_profile_dir())
    check_profile_destination(request.out or default_profile_dir())
    if request.plot is not None:
        from models.plot import check_plot_path, figure_paths
        from models.plot_tiers import tiers_path

        for path in (request.plot, *figure_paths(request.plot).values(), tiers_path(request.plot)):
            check_plot_path(path)  # before minutes of fitting, not after
    with RunStore(request.store or default_store_path(), readonly=True) as store:
        runs = store.frame(include_measured=request.include_measured)
        curves = store.curves_frame()
        fingerprints = store.fingerprints()
    runs, hardware = select_runs(named_runs(runs), request.hardware)
    config = dataclasses.replace(
        ENERGY_FIT,
        draws=request.draws,
        tune=request.tune,
        chains=request.chains,
        sampler=request.sampler,
        max_draws=request.max_draws,
    )
    profile, frame = fit_profile(runs, fingerprints[hardware], config, curves=curves)
    accuracy = {name: acc.diagnostics for name, acc in profile.accuracy.items()}
    converged = profile.energy.diagnostics.converged and all(d.converged for d in accuracy.values())
    out = request.out or default_profile_dir()
    save = converged or not request.strict
    if save:
        profile.save(out)
    if request.plot is not None:
        from models.plot import plot_fit
        from models.plot_tiers import plot_tiers, tiers_path

        plot_fit(profile.energy, frame, request.plot)
        plot_tiers(profile.energy, frame, tiers_path(request.plot))  # figure (b): FILE-tiers beside FILE
        _plot_held_out(profile, frame, request.plot)
    meta = profile.metadata
    return FitOutcome(
        diagnostics=profile.energy.diagnostics,
        profile_dir=out,
        saved=save,
        observations=meta.observations,
        meter_kinds=meta.meter_kinds,
        noise_floor=meta.noise_floor,
        accuracy=accuracy,
    )


def named_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with their ``dataset`` column as data set *names* (:func:`measurement.datasets.dataset_name`: a file's
    stem), as profiles and ``--dataset`` know them; the store keeps the path it was given (and the content hash).

    This is where runs become a profile's data sets (``advisor fit``, the fit after a probe, ``advisor evaluate``),
    so stores that recorded a path, old ones included, are read under the stem. A recorded file whose stem passes
    for another data set (``digits.csv``) keeps its path as its name, with a warning: probe it again once renamed.
    """
    if "dataset" not in runs or runs.empty:
        return runs
    names = {}
    for spec in runs["dataset"].astype(str).unique():
        try:
            names[spec] = dataset_name(spec)
        except DatasetError as exc:
            log.warning("%s; its runs keep the name %s", exc, spec)
            names[spec] = spec
    return runs.assign(dataset=runs["dataset"].astype(str).map(names))


def _plot_held_out(profile, frame, plot: Path) -> None:
    """Figures (a) and (c) beside ``plot`` (``FILE-measured``, ``FILE-errors``): held-out predictions from
    leave-one-input-width-out when the calibration spans 2 or more widths, else grouped k-fold (EVAL_FIT fits).
    """
    from models.holdout import SCHEME_TITLES, figure_predictions, in_sample_predictions
    from models.plot import figure_paths, plot_error_histogram, plot_measured_vs_predicted

    held = figure_predictions(frame, profile.energy.tiers)
    label = SCHEME_TITLES[held.scheme].split(" (")[0]
    paths = figure_paths(plot)
    in_sample = in_sample_predictions(profile.energy, frame)
    plot_measured_vs_predicted(in_sample, held.runs, paths["measured"], label, profile.metadata.estimated)
    plot_error_histogram(held.runs, paths["errors"], label)
