"""The Python API for design scripts: ``import advisor`` then ``advisor.load_profile()`` …"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from advisor.engine import Recommendation, build_request
from advisor.engine import recommend as run_engine
from advisor.measuring import measure as measure  # re-exported: the API's measuring calls
from advisor.measuring import measured as measured
from advisor.measuring import predict_module as predict_module
from advisor.render import legend_line, reason_line, summary_line
from measurement.hardware import Fingerprint, GpuInfo, fingerprint, read_gpu_name
from models.profile import Profile

log = logging.getLogger(__name__)
REFERENCE_PROFILE = Path(str(importlib.resources.files("advisor") / "reference" / "profile"))
"""The shipped reference profile (package data: found from any install, editable or not)."""
REFERENCE_NAME = "reference profile (shipped)"


def refuse_reference(path: str | Path) -> None:
    """The shipped reference profile is package data: refuse to write over it (InputError)."""
    from measurement.errors import InputError

    if Path(path).resolve() == REFERENCE_PROFILE.resolve():
        raise InputError(f"{path} is the shipped reference profile: write your profile elsewhere (--out)")


def load_profile(path: str | Path | None = None, warn_on_other_hardware: bool = True) -> Profile:
    """Load a profile folder; ``None`` loads the shipped reference profile.

    Logs a warning when a profile (other than the shipped one) was calibrated on other hardware than this
    machine's: another CPU or cache layout, or another GPU where both sides name one.
    """
    if path is None:
        return dataclasses.replace(Profile.load(REFERENCE_PROFILE), name=REFERENCE_NAME)
    profile = Profile.load(Path(path))
    if warn_on_other_hardware and not profile.fingerprint.same_machine(this_machine()):
        log.warning(
            "profile %s was calibrated on other hardware (%s); predictions may not hold here",
            profile.path,
            profile.fingerprint.describe(),
        )
    return profile


def this_machine() -> Fingerprint:
    """This machine's fingerprint without importing torch (the GPU's name from the NVIDIA driver, if any)."""
    fp = fingerprint(with_gpu=False)
    name = read_gpu_name()
    return dataclasses.replace(fp, gpu=GpuInfo(name, None, 0)) if name else fp


def advise(profile: Profile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any) -> Recommendation:
    """The engine's whole answer (ranked table, every candidate, Pareto front, verdict); options as recommend."""
    return run_engine(profile, build_request(profile, dataset, accuracy, confidence, **options))


def recommend(profile: Profile, dataset: str, accuracy: float, confidence: float = 0.9, **options: Any) -> pd.DataFrame:
    """Networks that reach ``accuracy`` on ``dataset`` with probability >= ``confidence``, best first.

    Options (keywords): constraints ``shapes``, ``min_depth``, ``max_depth``, ``min_size``, ``max_size``,
    ``max_params``; and ``batch_size``, ``inference_batch_size``, ``epochs`` (an int: how you will train; or
    ``"auto"``, the default: per network the fewest epochs meeting the budget with the confidence),
    ``train_samples``, ``predictions``, ``objective`` ("energy-per-datum" (default) | "training-energy" |
    "inference" | "lifecycle"), ``grid_g_per_kwh`` (adds ``co2e_g``), ``top``.

    Returns a DataFrame, one row per distinct network (identical architectures once; ``shapes`` names every
    shape it stands for): rank, shape, shapes, depth, size, widths, params, epochs, energy per datum with its
    90% interval, total training energy at those epochs with its 90% interval, inference energy per
    prediction, P(meet budget), expected accuracy, cache tier … An infeasible budget gives an empty frame;
    ``frame.attrs["message"]`` then names the best achievable accuracy; ``attrs["reason"]`` says why the top
    pick wins; ``attrs["estimated"]`` is True when the profile's energy comes from the estimate meter.

    Raises:
        InputError: an option out of range or unknown, a dataset the profile has no accuracy model for.
    """
    return table_of(advise(profile, dataset, accuracy, confidence, **options))


def table_of(result: Recommendation) -> pd.DataFrame:
    """The ranked table of an engine answer, its words in ``attrs`` (message, reason, legend, estimated)."""
    table = result.table
    table.attrs.update(
        message=summary_line(result),
        reason=reason_line(result),
        legend=legend_line(list(table["shapes"])),
        best_achievable=result.best_achievable,
        estimated=result.estimated,
        objective=str(result.request.objective),
    )
    return table


def pareto(profile: Profile, dataset: str, accuracy: float = 0.5, confidence: float = 0.9, **options: Any):
    """The energy-accuracy Pareto front over the (constrained) candidate grid, cheapest first."""
    return advise(profile, dataset, accuracy, confidence, **options).pareto
