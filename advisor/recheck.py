"""``advisor calibrate --recheck``: today's machine state against a profile, in about a minute.

A fixed panel (:data:`measurement.sweep.plan.RECHECK_PANEL`: the calibration sentinel and four nets spanning
the cache tiers and the per-step overheads) is measured twice on the profile's calibration data sets, as a
sweep of kind ``recheck`` in the run store (never used by fits). Its energies over the profile's predictions
give today's scale per phase (:func:`models.machine_state.panel_result`); the day-to-day variation is learnt
again from the store's sentinel histories and the rechecks so far; the recheck is appended to
``$ADVISOR_HOME/rechecks.json``. :func:`attach_machine_state` is how every UI's profile applies the newest one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from measurement.errors import InputError
from measurement.hardware import Fingerprint
from measurement.meters.auto import MeterOptions
from measurement.meters.base import MeterKind
from measurement.records import SweepKind, TrainConfig
from measurement.store import RunStore, advisor_home
from measurement.sweep import SweepEvent, SweepSummary
from models.features import PHASES, training_frame
from models.machine_state import (
    MachineState,
    Recheck,
    append_recheck,
    history_path,
    learn_day_variation,
    machine_key,
    machine_state,
    panel_result,
    read_rechecks,
    recheck_day_series,
    sentinel_day_series,
)
from models.profile import ENERGY_NC, Profile

__all__ = [
    "DEFAULT_RECHECK_BUDGET_S",
    "PHASES",
    "MeterKind",
    "RecheckOutcome",
    "TrainConfig",
    "attach_machine_state",
    "prepare_recheck",
    "recheck",
]

DEFAULT_RECHECK_BUDGET_S = 60.0
SEED_SPAN = 2**31
"""A recheck's training seed is the time it started (mod this): every recheck is a sweep of its own, never the
continuation of an earlier one with the same panel."""


@dataclass(frozen=True)
class RecheckOutcome:
    """A recheck: what the sweep did, the recheck recorded (None: interrupted, nothing recorded), the state
    predictions now apply, and where the history is."""

    summary: SweepSummary
    store_path: Path
    recheck: Recheck | None
    state: MachineState | None
    history: Path


def profile_id(profile: Profile) -> str:
    """The profile's energy posterior, as rechecks name it (the sha256 of its energy file)."""
    found = profile.metadata.files.get(ENERGY_NC)
    if not found:
        raise InputError(f"profile {profile.display_name} has no saved energy file to recheck against (save it first)")
    return found


def panel_datasets(profile: Profile) -> tuple[str, ...]:
    """The profile's calibration data sets the panel can re-create anywhere: its synthetic ones."""
    names = tuple(name for name in profile.energy.datasets if name.startswith("synthetic:"))
    if not names:
        raise InputError(
            f"profile {profile.display_name} was calibrated on no synthetic data set, which a recheck re-measures: "
            "run 'advisor calibrate' and 'advisor fit' for a profile to recheck"
        )
    return names


def recheck_request(
    profile: Profile,
    budget_s: float = DEFAULT_RECHECK_BUDGET_S,
    store: Path | None = None,
    meter: MeterOptions | None = None,
    config: TrainConfig | None = None,
    idle_s: float | None = None,
):
    """The calibration request of a recheck of ``profile`` (checked by :func:`advisor.calibration.prepare`)."""
    from advisor.calibration import CalibrationRequest

    config = dataclasses.replace(config or TrainConfig(), seed=int(time.time()) % SEED_SPAN)
    return CalibrationRequest(
        budget_s=budget_s,
        store=store,
        meter=meter or MeterOptions(),
        dataset=panel_datasets(profile),
        config=config,
        idle_s=idle_s,
        kind=SweepKind.RECHECK,
    )


def prepare_recheck(profile: Profile, **options) -> object:
    """The prepared job of a recheck of ``profile`` (options as :func:`recheck_request`); bad input raises
    InputError / MeterError and nothing is written."""
    from advisor import calibration

    return calibration.prepare(recheck_request(profile, **options))


def recheck(
    profile: Profile,
    job,
    progress: Callable[[SweepEvent], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
    home: Path | None = None,
) -> RecheckOutcome:
    """Measure the panel of a prepared job (:func:`prepare_recheck`), work out today's scale against
    ``profile`` and append it to the history (nothing when interrupted).

    Raises:
        InputError: a broken history (before measuring), or a panel too short to tell a scale
            (:class:`models.machine_state.MachineStateError`); nothing is recorded then.
    """
    from advisor import calibration

    pid = profile_id(profile)
    history = history_path(home or advisor_home())
    earlier = read_rechecks(history)  # a broken history fails before a minute of measuring
    summary = calibration.run(job, progress, should_stop)
    if summary.interrupted:
        return RecheckOutcome(summary, job.store_path, None, None, history)
    with RunStore(job.store_path, readonly=True) as store:
        runs = store.frame(include_rejected=False, include_rechecks=True)
    made = _recheck(profile, pid, runs, summary.sweep_id, job.fingerprint, earlier)
    kept = append_recheck(history, made)
    state = machine_state(kept, pid, made.machine, calibration_floor=profile.metadata.noise_floor)
    return RecheckOutcome(summary, job.store_path, made, state, history)


def _recheck(profile: Profile, pid: str, runs, sweep_id: int, fp: Fingerprint, earlier) -> Recheck:
    """The recheck of one panel sweep in ``runs`` (an export), with the day-to-day variation learnt anew."""
    rows = training_frame(runs[runs["sweep_id"] == sweep_id])
    draws = profile.energy.with_machine(None).log_energy(rows) if len(rows) else np.empty((1, 0))
    found = panel_result(draws, rows)
    draft = Recheck(
        pid, machine_key(fp), time.time(), found.scales, found.floor, found.drift, found.runs, sweep_id=int(sweep_id)
    )
    series = sentinel_day_series(runs, fp.digest()) + recheck_day_series((*earlier, draft), pid, draft.machine)
    return dataclasses.replace(draft, day=learn_day_variation(series))


def attach_machine_state(profile: Profile, home: Path | None = None, now_unix_s: float | None = None) -> Profile:
    """``profile`` with the machine state its predictions apply here: the newest recheck of this profile on
    this machine, and the day-to-day variation (the stated prior when there is no recheck). A profile never
    saved (no energy file hash) is returned as it is."""
    from advisor.api import this_machine

    try:
        pid = profile_id(profile)
    except InputError:  # never saved: nothing to look up
        return profile
    rechecks = read_rechecks(history_path(home or advisor_home()))
    floor = profile.metadata.noise_floor
    state = machine_state(rechecks, pid, machine_key(this_machine()), now_unix_s, calibration_floor=floor)
    return dataclasses.replace(profile, energy=profile.energy.with_machine(state))
