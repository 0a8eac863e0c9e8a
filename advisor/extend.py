"""``advisor probe DATASET --extend``: probe again around the best runs a profile's accuracy model names.

When no network meets a budget with the confidence asked, the answer names the best probed runs (the accuracy
model's frontier). Extending re-trains the cheapest runs near the best and the best ones on a new seed and tries
their neighbours one step away (:func:`measurement.sweep.plan.plan_extension`), trained longer, so the next fit
knows that frontier better where it matters for energy: whether a cheap network reaches the budget too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from advisor.candidates import probed_architectures
from measurement.datasets import TargetKind, dataset_name, is_builtin, is_file_spec
from measurement.errors import InputError
from measurement.records import PlannedRun
from models.accuracy import ProbedRun
from models.profile import Profile

EXTEND_CENTRES = 3
"""Best probed runs an extension is centred on."""
CHEAP_CENTRES = 2
"""Cheapest probed runs near the best (parameters x epochs) an extension is centred on too, first."""
MAX_EXTEND_EPOCHS = 1000


@dataclass(frozen=True)
class Extension:
    """What an extension probes: its centres (as planned runs), how long every run trains, and what the data
    set's target is (the probe's reading, so a file probed with ``--task regression`` is extended as one)."""

    centres: tuple[PlannedRun, ...]
    epochs: int
    target_kind: TargetKind


def extension(profile: Profile, dataset: str) -> Extension:
    """The centres and length of an extension of ``dataset``'s probe (InputError when the profile has none)."""
    name = dataset_name(dataset)
    model = profile.accuracy.get(name)
    frontier = getattr(getattr(model, "info", None), "frontier", ())
    if not frontier:
        raise InputError(
            f"nothing to extend: the profile at {profile.path} has no probed runs of {name[:100]!r}; probe it "
            "first (without --extend)"
        )
    chosen = _centre_runs(frontier, model.info.task)
    centres = [
        PlannedRun(run.shape, run.depth, arch.target_size, run.batch_size, learning_rate=run.learning_rate)
        for run, arch in zip(chosen, probed_architectures(profile, name, chosen), strict=True)
        if arch is not None
    ]
    if not centres:
        raise InputError(f"nothing to extend: the probed runs of {name[:100]!r} are not on this grid; probe again")
    epochs = min(MAX_EXTEND_EPOCHS, max(1, round(2 * max(run.epochs for run in chosen))))
    kind = TargetKind.REGRESSION if model.info.task == "regression" else TargetKind.CLASSIFICATION
    return Extension(tuple(centres), epochs, kind)


@dataclass(frozen=True)
class ExtendRequest:
    """An extension as the CLI asks for it: where it probes, what it reads, and how.

    Attributes:
        dataset: the file (or bundled name, synthetic spec) to probe, resolved from the name answers give.
        target_kind: what its target is (the probe's reading; None: a bundled or synthetic set's own).
        plan: the centres and length.
    """

    dataset: str
    target_kind: TargetKind | None
    plan: Extension


def extend_request(profile: Profile, dataset: str, store_path: Path | None, given: TargetKind | None) -> ExtendRequest:
    """What ``advisor probe DATASET --extend [--task K]`` probes.

    Args:
        profile: the profile whose accuracy model of ``dataset`` names the probed runs to extend.
        dataset: as the user typed it: a file, or the name an answer gave (a probed file's stem).
        store_path: the run store whose probes name that file (None: the default store).
        given: the ``--task`` given (None: none).

    Raises:
        InputError: nothing to extend, no probed file of that name, or a ``--task`` the probe did not read.
    """
    from measurement.store import default_store_path

    plan = extension(profile, dataset)
    path = probed_file(dataset, store_path or default_store_path())
    return ExtendRequest(path, target_kind_for(plan, given, path), plan)


def probed_file(dataset: str, store_path: Path) -> str:
    """The file to extend: ``dataset`` itself when it is a file, a bundled name or a synthetic spec; a probed
    file's name (``landsat``, as answers name it) is the file the newest probe of that name in the store read.

    Raises:
        InputError: a name no probe in the store read from a file, or one whose file is gone (an older probe's
            file is not taken in its place: it may be another version of the data set).
    """
    if is_file_spec(dataset) or is_builtin(dataset):
        return dataset
    from measurement.store import RunStore
    from measurement.sweep import SweepKind

    probed: list[str] = []
    if store_path.exists():
        with RunStore(store_path, readonly=True) as store:
            probed = store.sweep_dataset_specs(SweepKind.PROBE)
    newest = next((spec for spec in probed if is_file_spec(spec) and dataset_name(spec) == dataset), None)
    if newest is None:
        raise InputError(
            f"no probe in {store_path} read a file named {dataset[:100]!r}: give 'advisor probe' the path of its "
            "data file with --extend"
        )
    if not Path(newest).is_file():
        raise InputError(f"the file the probe of {dataset[:100]!r} read is gone ({newest[:300]}): give its new path")
    return newest


def target_kind_for(plan: Extension, given: TargetKind | None, dataset: str) -> TargetKind | None:
    """The target reading an extension probes with: the probe's; a ``--task`` that contradicts it is refused
    (it would probe another data set, and the refit would leave the probe's runs out)."""
    if not is_file_spec(dataset):
        return given  # a bundled or synthetic set has its own task (the loader refuses a --task for it)
    if given is not None and given is not plan.target_kind:
        raise InputError(
            f"--task {given}: the probe of {dataset_name(dataset)[:100]!r} read its target as "
            f"{plan.target_kind}; extend it without --task (or probe anew)"
        )
    return plan.target_kind


def _centre_runs(frontier: tuple[ProbedRun, ...], task: str) -> list[ProbedRun]:
    """The :data:`CHEAP_CENTRES` cheapest runs near the best (cheapest first: a short extension measures them
    first), then the :data:`EXTEND_CENTRES` best (``frontier`` is best first)."""
    best = list(frontier[:EXTEND_CENTRES])
    near = sorted((r for r in frontier if r.near(frontier[0], task) and r not in best), key=lambda r: r.compute)
    return near[:CHEAP_CENTRES] + best
