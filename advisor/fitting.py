"""``advisor fit`` as one library call for the CLI and the TUI: store -> energy + accuracy fits -> profile (+ plot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from measurement.store import RunStore, default_store_path
from models.pipeline import default_profile_dir, fit_profile, select_runs
from models.sampling import Diagnostics, FitConfig


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
    meter_kinds: tuple[str, ...]
    noise_floor: float | None
    accuracy: dict[str, Diagnostics]

    @property
    def problems(self) -> list[str]:
        """Every convergence problem of the energy and the accuracy fits."""
        return self.diagnostics.problems() + [f"{n}: {p}" for n, a in self.accuracy.items() for p in a.problems()]


def fit_and_save(request: FitRequest) -> FitOutcome:
    """Fit the newest machine's runs; save the profile unless ``strict`` and a fit did not converge.

    A non-converged fit without ``strict`` is saved with its diagnostics in the metadata and a warning;
    it is never saved silently.
    """
    with RunStore(request.store or default_store_path(), readonly=True) as store:
        runs = store.frame()
        fingerprints = store.fingerprints()
    runs, hardware = select_runs(runs)
    config = FitConfig(draws=request.draws, tune=request.tune, chains=request.chains)
    profile, frame = fit_profile(runs, fingerprints[hardware], config)
    accuracy = {name: acc.diagnostics for name, acc in profile.accuracy.items()}
    converged = profile.energy.diagnostics.converged and all(d.converged for d in accuracy.values())
    out = request.out or default_profile_dir()
    save = converged or not request.strict
    if save:
        profile.save(out)
    if request.plot is not None:
        from models.plot import plot_fit

        plot_fit(profile.energy, frame, request.plot)
    meta = profile.metadata
    return FitOutcome(profile.energy.diagnostics, out, save, meta.observations, meta.meter_kinds, meta.noise_floor,
                      accuracy)  # fmt: skip
