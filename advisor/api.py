"""The Python API for design scripts: ``import advisor`` then ``advisor.load_profile()`` …"""

from __future__ import annotations

import dataclasses
import enum
import glob
import importlib.resources
import logging
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from advisor.engine import Recommendation, build_request
from advisor.engine import recommend as run_engine
from advisor.measuring import measure as measure  # re-exported: the API's measuring calls
from advisor.measuring import measured as measured
from advisor.measuring import predict_module as predict_module
from advisor.render import legend_line, probed_lines, reason_line, summary_line
from measurement.datasets import dataset_name, file_stem, is_builtin, is_file_spec
from measurement.errors import InputError
from measurement.hardware import Fingerprint, GpuInfo, fingerprint, read_gpu_name
from models.profile import Profile, ProfileError

log = logging.getLogger(__name__)
REFERENCE_PROFILE = Path(str(importlib.resources.files("advisor") / "reference" / "profile"))
"""The shipped reference profile (package data: found from any install, editable or not)."""
REFERENCE_NAME = "reference profile (shipped)"
USER_NAME = "your profile"


class ProfileSource(enum.StrEnum):
    """Which profile answers: one named by path, the user's own (``$ADVISOR_HOME/profile``), the shipped one."""

    GIVEN = "given"
    USER = "user"
    REFERENCE = "reference"


def refuse_reference(path: str | Path) -> None:
    """The shipped reference profile is package data: refuse to write over it (InputError)."""
    if Path(path).resolve() == REFERENCE_PROFILE.resolve():
        raise InputError(f"{path} is the shipped reference profile: write your profile elsewhere (--out)")


def user_profile_dir() -> Path | None:
    """The user's own profile folder, ``$ADVISOR_HOME/profile`` (where ``advisor fit`` and ``advisor probe``
    write it), when there is one (anything there but an empty folder); else None."""
    from models.pipeline import default_profile_dir

    own = default_profile_dir()
    if not own.exists() or (own.is_dir() and not any(own.iterdir())):
        return None
    return own


def load_profile(path: str | Path | None = None, warn_on_other_hardware: bool = True) -> Profile:
    """Load a profile folder; ``None`` loads the user's own profile (``$ADVISOR_HOME/profile``) when there is
    one, else the shipped reference profile: the one rule for which profile answers (CLI, TUI, API).

    The profile's ``display_name`` says which one it is (:func:`profile_label`). Logs a warning when a profile
    (other than the shipped one) was calibrated on other hardware than this machine's: another CPU or cache
    layout, or another GPU where both sides name one.

    Its predictions apply the machine's state on the day (:func:`advisor.recheck.attach_machine_state`):
    the newest recheck of this profile on this machine (``advisor calibrate --recheck``), and the day-to-day
    variation in the predictive interval; ``profile.machine`` says which.

    Raises:
        ProfileError: the profile does not load, the user's own included (never a silent fallback to the
            reference: it would answer for another machine and other data sets than the user's).
        MachineStateError: the recheck history does not read (one line naming the file).
    """
    from advisor.recheck import attach_machine_state

    return attach_machine_state(_load_profile(path, warn_on_other_hardware))


def _load_profile(path: str | Path | None, warn_on_other_hardware: bool) -> Profile:
    if path is None:
        own = user_profile_dir()
        if own is None:
            return dataclasses.replace(Profile.load(REFERENCE_PROFILE), name=REFERENCE_NAME)
        try:
            profile = Profile.load(own)
        except ProfileError as exc:
            raise ProfileError(f"your profile does not load (move {own} away to use the shipped one): {exc}") from None
    else:
        profile = Profile.load(Path(path))
    source = profile_source(profile)
    if source is ProfileSource.REFERENCE:
        return dataclasses.replace(profile, name=REFERENCE_NAME)
    if source is ProfileSource.USER:
        profile = dataclasses.replace(profile, name=f"{USER_NAME} ({profile.path})")
    if warn_on_other_hardware and not profile.fingerprint.same_machine(this_machine()):
        log.warning(
            "profile %s was calibrated on other hardware (%s); predictions may not hold here",
            profile.path,
            profile.fingerprint.describe(),
        )
    return profile


def profile_source(profile: Profile) -> ProfileSource:
    """Whether ``profile`` is the shipped reference, the user's own (``$ADVISOR_HOME/profile``) or another one."""
    from models.pipeline import default_profile_dir

    if profile.path is None:
        return ProfileSource.GIVEN
    where = Path(profile.path).resolve()
    if where == REFERENCE_PROFILE.resolve():
        return ProfileSource.REFERENCE
    return ProfileSource.USER if where == default_profile_dir().resolve() else ProfileSource.GIVEN


def profile_label(profile: Profile) -> str:
    """How answers name the profile that gave them: ``reference profile (shipped)``, ``your profile (PATH)``,
    or the folder it was loaded from."""
    if profile.name:
        return profile.name
    return str(profile.path) if profile.path is not None else "an unsaved profile"


def this_machine() -> Fingerprint:
    """This machine's fingerprint without importing torch (the GPU's name from the NVIDIA driver, if any)."""
    fp = fingerprint(with_gpu=False)
    name = read_gpu_name()
    return dataclasses.replace(fp, gpu=GpuInfo(name, None, 0)) if name else fp


def advise(profile: Profile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any) -> Recommendation:
    """The engine's whole answer (ranked table, every candidate, Pareto front, verdict); options as recommend.

    ``dataset`` is a data set's name or the path of the file it was probed from (named by its stem).
    """
    name = profiled_dataset(profile, dataset)
    return run_engine(profile, build_request(profile, name, accuracy, confidence, **options))


def profiled_dataset(profile: Profile, spec: str) -> str:
    """The name ``profile`` knows the data set ``spec`` by (a file's path -> its stem; see
    :func:`measurement.datasets.dataset_name`).

    Raises:
        InputError: the profile has no accuracy model for it; the message names a next step that works as typed
            where it can (``advisor probe`` with the bundled name, the synthetic spec, or the file).
    """
    name = dataset_name(spec)
    if name in profile.accuracy:
        return name
    known = ", ".join(sorted(profile.accuracy)) or "none"
    raise InputError(
        f"no accuracy model for data set {name[:100]!r} in the profile that answers, {profile_label(profile)} "
        f"(has: {known}); {_probe_hint(str(spec), name)}"
    )


def _probe_hint(spec: str, name: str) -> str:
    """What to run so that a profile gets an accuracy model of ``name``: a command that works as typed, or
    where the file is unknown, what to give ``advisor probe``."""
    if is_builtin(name):
        return f"run 'advisor probe {shlex.quote(name)}'"
    files = [Path(spec)] if is_file_spec(spec) else sorted(Path.cwd().glob(f"{glob.escape(name)}.*"))
    files = [f for f in files if f.is_file() and file_stem(str(f)) == name]
    if files:
        return f"run 'advisor probe {shlex.quote(str(files[0]))}'"
    if is_file_spec(spec):
        return f"there is no file {spec[:200]}: give 'advisor probe' the path of the data file"
    return f"give 'advisor probe' the path of its data file ({name}.csv, .parquet or .npz: a file is named by its stem)"


def recommend(profile: Profile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any) -> pd.DataFrame:
    """Networks that reach ``accuracy`` on ``dataset`` with probability >= ``confidence``, best first.

    ``dataset`` is a data set's name (a bundled one, a synthetic spec, a probed file's stem such as
    ``landsat``) or the path of the file it was probed from.

    Options (keywords): constraints ``shapes``, ``min_depth``, ``max_depth``, ``min_size``, ``max_size``,
    ``max_params``; the recipe ``learning_rate`` (Adam's) and ``batch_size`` (each a number: how you will
    train; or ``"auto"``, the default: searched per network over ``models.accuracy.LEARNING_RATES`` and
    ``BATCH_SIZES``); ``inference_batch_size``, ``epochs`` (an int: how you will train; or
    ``"auto"``, the default: per network the fewest epochs meeting the budget with the confidence),
    ``train_samples``, ``predictions``, ``objective`` ("energy-per-datum" (default) | "training-energy" |
    "inference" | "lifecycle"), ``grid_g_per_kwh`` (adds ``co2e_g``), ``top``.

    Returns a DataFrame, one row per distinct network (identical architectures once; ``shapes`` names every
    shape it stands for, with its best recipe): rank, shape, shapes, depth, size, widths, params,
    learning_rate, batch_size, epochs, energy per datum with its
    90% interval, total training energy at those epochs with its 90% interval, inference energy per
    prediction, P(meet budget), expected accuracy, cache tier … An infeasible budget gives an empty frame;
    ``frame.attrs["message"]`` then names the best achievable accuracy near what was probed, ``attrs["probed"]``
    the probed runs the profile keeps (the best and the cheapest) and ``attrs["probed_lines"]`` what would
    settle it; ``attrs["reason"]`` says why the top pick wins; ``attrs["estimated"]`` is True when the
    profile's energy comes from the estimate meter;
    ``attrs["profile"]`` names the profile that answered (``attrs["profile_source"]``: reference, user, given).

    Raises:
        InputError: an option out of range or unknown, a dataset the profile has no accuracy model for.
    """
    return table_of(advise(profile, dataset, accuracy, confidence, **options), profile)


def table_of(result: Recommendation, profile: Profile | None = None) -> pd.DataFrame:
    """The ranked table of an engine answer, its words in ``attrs`` (message, reason, legend, estimated) and,
    given the profile that answered, ``attrs["profile"]`` (its label) and ``attrs["profile_source"]``."""
    table = result.table
    table.attrs.update(
        message=summary_line(result),
        reason=reason_line(result),
        legend=legend_line(list(table["shapes"])),
        best_achievable=result.best_achievable,
        probed=[
            {**dataclasses.asdict(run), "training_energy_j": energy}
            for run, energy in zip(result.probed, result.probed_energy_j, strict=False)
        ]
        if not result.feasible
        else [],
        probed_lines=probed_lines(result),
        estimated=result.estimated,
        objective=str(result.request.objective),
        verdict=str(result.verdict),
    )
    if profile is not None:
        table.attrs.update(profile=profile_label(profile), profile_source=str(profile_source(profile)))
        table.attrs.update(machine_state_of(profile))
        table.attrs.update(fit_warnings=fit_warnings(profile, result.request.dataset))
    return table


def fit_warnings(profile: Profile, dataset: str) -> list[str]:
    """One line per fit behind an answer on ``dataset`` that did not converge (the energy model's, the data
    set's accuracy model's), with its problems and what to do: its numbers may be off by more than they say.
    More probe runs help an accuracy fit (on connect_4, five more minutes of ``--extend`` took r_hat from 1.54
    to 1.012), more draws an energy fit."""
    energy = profile.energy.diagnostics
    more = f"re-run 'advisor fit --max-draws {2 * max(energy.draws, 1000)}' (more draws)"
    fits = [("energy model", energy, more)]
    if dataset in profile.accuracy:
        todo = f"'advisor probe {shlex.quote(dataset)} --extend' adds runs around the best ones, then refits"
        fits.append((f"accuracy model of {dataset[:100]}", profile.accuracy[dataset].diagnostics, todo))
    return [
        f"the {what} did not converge ({'; '.join(d.problems())}): its predictions and P are less sure than they "
        f"say; {todo}"
        for what, d, todo in fits
        if not d.converged
    ]


def machine_state_of(profile: Profile) -> dict[str, Any]:
    """What an answer says about the machine's state its energies apply: ``machine`` (one line: the recheck
    applied and its age, or none; the day-to-day spread), ``machine_state`` (the figures, for JSON) and
    ``machine_warnings`` (a stale recheck, one the machine moved during). Empty for a bare profile."""
    state = profile.machine
    if state is None:
        return {}
    return {"machine": state.describe(), "machine_state": state.to_dict(), "machine_warnings": state.warnings()}


def pareto(profile: Profile, dataset: str, accuracy: float = 0.5, confidence: float = 0.9, **options: Any):
    """The energy-accuracy Pareto front over the (constrained) candidate grid, cheapest first."""
    return advise(profile, dataset, accuracy, confidence, **options).pareto
