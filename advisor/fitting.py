"""``advisor fit`` as one library call for the CLI and the TUI: store -> energy + accuracy fits -> profile (+ plot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from advisor.api import refuse_reference
from measurement.errors import InputError
from measurement.store import RunStore, default_store_path
from models.pipeline import default_profile_dir, fit_profile, select_runs
from models.profile import check_profile_destination
from models.sampling import Diagnostics, FitConfig

MAX_DRAWS = 100_000
MAX_CHAINS = 64


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
    hardware: str | None = None
    """The machine to fit (an id from ``advisor runs --hardware``, or its unique prefix); None: the newest."""

    def validate(self) -> None:
        """Refuse sampler settings out of range before any work (an absurd --draws would sample for days)."""
        for name, lo, hi in (("draws", 1, MAX_DRAWS), ("tune", 0, MAX_DRAWS), ("chains", 1, MAX_CHAINS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InputError(f"{name} must be an integer in [{lo}, {hi:,}], got {value!r}")


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
        from models.plot import check_plot_path

        check_plot_path(request.plot)  # before minutes of fitting, not after
    with RunStore(request.store or default_store_path(), readonly=True) as store:
        runs = store.frame()
        fingerprints = store.fingerprints()
    runs, hardware = select_runs(runs, request.hardware)
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
