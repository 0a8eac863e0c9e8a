"""What a sweep is and what it reports: the spec stored with it (its plan), the progress events a UI
receives, and the summary of an invocation, tallied run by run."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from measurement.architecture import Architecture
from measurement.cost import cost
from measurement.datasets import Dataset
from measurement.errors import InputError
from measurement.meters.base import MeterKind
from measurement.records import (
    CommittedRun,
    Drift,
    PlannedRun,
    RunResult,
    SweepKind,
    TrainConfig,
    parse_run_key,
    sentinel_drift,
    sweep_repeat_differences,
)
from measurement.tiers import Tier, tier_index, tier_labels


class SweepEventKind(enum.StrEnum):
    """What a :class:`SweepEvent` reports."""

    IDLE = "idle"  # idle power measured
    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"  # committed (accepted or rejected)
    RUN_LOST = "run_lost"  # lost with its worker and queued again
    RUNG = "rung"  # a rung of a successive-halving probe begins (its label says which, how many runs, how long)
    DONE = "done"  # the invocation ended


@dataclass(frozen=True)
class HalvingSchedule:
    """A successive-halving probe (:mod:`measurement.sweep.halving`): ``rungs`` sweeps, the first of
    ``configs0`` runs of ``epochs0`` epochs, each later one continuing the best 1/``eta`` of the one before for
    ``eta`` times the epochs; ``budget_s`` is the whole probe's, split across the rungs."""

    rungs: int
    epochs0: int
    configs0: int
    budget_s: float
    eta: int = 3

    def epochs(self, rung: int) -> int:
        """Training epochs of rung ``rung`` (0-based)."""
        return self.epochs0 * self.eta**rung

    def configs(self, rung: int) -> int:
        """Most runs of rung ``rung``: the first rung's over ``eta`` per rung, rounded up (fewer when the rung before
        committed fewer than planned: the best 1/``eta`` of those)."""
        return -(-self.configs0 // self.eta**rung)

    def total_runs(self) -> int:
        """Most runs over all rungs (each rung at its most)."""
        return sum(self.configs(rung) for rung in range(self.rungs))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Rung:
    """Where a sweep stands in a successive-halving probe: its rung (0-based), the schedule, and the digest of
    the first rung's plan (the probe's identity: a resume starts there)."""

    index: int
    schedule: HalvingSchedule
    first: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"index": self.index, "schedule": self.schedule.to_dict(), "first": self.first}

    @classmethod
    def from_dict(cls, data: dict) -> Rung:
        """Rebuild a stored rung."""
        return cls(int(data["index"]), HalvingSchedule(**data["schedule"]), str(data["first"]))


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep; its hash identifies the sweep in the store (for resume).

    Attributes:
        dataset: the first data set's name (runs with ``data`` 0), ``dataset_hash`` its fingerprint.
        extra_datasets: (name, fingerprint) of the data sets 1, 2, ... (runs with ``data`` > 0); stored only
            when there are any, so a one-data-set plan keeps its digest.
        sentinel: the config key of the sentinel the plan re-measures (:data:`~measurement.records.NO_SENTINEL`:
            none; None: not recorded, a plan stored before plans recorded it). Stored when known; not part of
            the digest (it follows from the runs), so a plan stored without it keeps its sweep.
        rung: the sweep's rung in a successive-halving probe (None: a sweep of its own). Stored when set; not
            part of the digest (the runs and their epochs tell rungs apart).
    """

    kind: SweepKind
    dataset: str
    dataset_hash: str
    config: TrainConfig
    runs: tuple[PlannedRun, ...]
    budget_s: float
    extra_datasets: tuple[tuple[str, str], ...] = ()
    sentinel: str | None = None
    rung: Rung | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SweepKind(self.kind))

    @property
    def datasets(self) -> tuple[tuple[str, str], ...]:
        """(name, fingerprint) of every data set, in ``PlannedRun.data`` order."""
        return ((self.dataset, self.dataset_hash), *self.extra_datasets)

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """Every data set's name, in ``PlannedRun.data`` order."""
        return tuple(name for name, _ in self.datasets)

    def to_dict(self) -> dict:
        """JSON-ready form, stored with the sweep."""
        extra = {"extra_datasets": [list(d) for d in self.extra_datasets]} if self.extra_datasets else {}
        sentinel = {"sentinel": self.sentinel} if self.sentinel is not None else {}
        rung = {"rung": self.rung.to_dict()} if self.rung is not None else {}
        return (
            {
                "kind": str(self.kind),
                "dataset": self.dataset,
                "dataset_hash": self.dataset_hash,
                "config": dataclasses.asdict(self.config),
                "runs": [r.to_dict() for r in self.runs],
                "budget_s": self.budget_s,
            }
            | extra
            | sentinel
            | rung
        )

    @classmethod
    def from_dict(cls, data: dict) -> SweepSpec:
        """Rebuild a stored plan."""
        return cls(
            kind=SweepKind(data["kind"]),
            dataset=data["dataset"],
            dataset_hash=data["dataset_hash"],
            config=TrainConfig(**data["config"]),
            runs=tuple(PlannedRun(**r) for r in data["runs"]),
            budget_s=float(data["budget_s"]),
            extra_datasets=tuple((str(name), str(digest)) for name, digest in data.get("extra_datasets", ())),
            sentinel=None if data.get("sentinel") is None else str(data["sentinel"]),
            rung=Rung.from_dict(data["rung"]) if data.get("rung") else None,
        )

    def digest(self) -> str:
        """Stable hash of the plan (budget, sentinel and rung excluded: a longer budget continues the same sweep)."""
        data = self.to_dict()
        data.pop("budget_s")
        data.pop("sentinel", None)
        data.pop("rung", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepEvent:
    """Progress report for a UI: what just happened and where the sweep stands."""

    kind: SweepEventKind
    done: int
    expected: int
    elapsed_s: float
    budget_s: float
    label: str = ""
    meter_kind: MeterKind | None = None
    result: RunResult | None = None
    worker: str = ""
    workers: tuple[tuple[str, int], ...] = ()
    """Runs committed per worker in this invocation (a sweep over a pool of workers; empty otherwise)."""


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep invocation did, and the noise floor of the whole sweep so far."""

    sweep_id: int
    planned: int
    committed_now: int
    already_done: int
    rejected_now: int
    elapsed_s: float
    budget_s: float
    interrupted: bool
    complete: bool
    meter: str
    meter_kind: MeterKind
    idle_power_w: float
    tiers: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, int] = field(default_factory=dict)
    noise_floor: float | None = None
    repeat_pairs: int = 0
    stop_reason: str | None = None
    workers: dict[str, int] = field(default_factory=dict)
    """Runs committed per worker this time (a sweep over a pool of workers; empty on one machine)."""
    requeued: int = 0
    """Runs lost with their worker and queued again."""
    datasets: dict[str, int] = field(default_factory=dict)
    """Accepted runs per data set (every data set of the sweep included)."""
    drift: float | None = None
    """The sentinel's drift over the sweep so far (:class:`measurement.records.Drift`; None: too few)."""
    drift_count: int = 0
    """The sentinel's accepted measurements."""

    @property
    def drift_is_real(self) -> bool | None:
        """Whether the drift exceeds twice the repeat-noise floor (None when either is unknown)."""
        return Drift(self.drift, self.drift_count).is_real(self.noise_floor)

    def describe_drift(self) -> str:
        """The sentinel's drift in words, beside the noise floor: ``+4.1% over 9 sentinel runs (> 2x the
        noise floor: the fit removes it if the repeats agree)``; ``n/a`` with fewer than 4 sentinel runs."""
        if self.drift is None:
            return f"n/a ({self.drift_count} sentinel run{'s' if self.drift_count != 1 else ''}; 4 needed)"
        verdict = {
            True: "> 2x the noise floor: the fit removes it if the repeats agree",
            False: "within 2x the noise floor",
            None: "no noise floor yet",
        }
        return f"{self.drift:+.1%} over {self.drift_count} sentinel runs ({verdict[self.drift_is_real]})"


@dataclass
class SweepTally:
    """What a sweep's accepted runs add up to, accumulated run by run (never re-read from the store).

    Fed every run as it is committed (:meth:`add_result`), and seeded once with the runs an earlier
    invocation of the same sweep committed (:meth:`add_committed`). Rejected runs count in none of it.

    Attributes:
        tiers: the tiers of the sweep's device; working sets are counted per tier label.
        by_tier: accepted runs per tier label.
        by_shape: accepted runs per shape.
        dataset_names: the sweep's data sets, in ``PlannedRun.data`` order.
        by_dataset: accepted runs per data set name.
        energies: idle-standardised training energy per datum of the accepted runs, per config key, in
            commit order.
        sentinel: the sentinel the sweep recorded (:meth:`measurement.store.RunStore.sweep_sentinel`; None:
            not recorded, inferred as for an older store).
    """

    tiers: tuple[Tier, ...]
    by_tier: Counter[str] = field(default_factory=Counter)
    by_shape: Counter[str] = field(default_factory=Counter)
    energies: dict[str, list[float]] = field(default_factory=dict)
    dataset_names: tuple[str, ...] = ()
    by_dataset: Counter[str] = field(default_factory=Counter)
    sentinel: str | None = None

    @classmethod
    def seeded(
        cls,
        tiers: tuple[Tier, ...],
        committed: list[CommittedRun],
        dataset_names: tuple[str, ...] = (),
        sentinel: str | None = None,
    ) -> SweepTally:
        """A tally of ``tiers`` that already counts the runs an earlier invocation committed."""
        tally = cls(tiers, dataset_names=dataset_names, sentinel=sentinel)
        for run in committed:
            tally.add_committed(run)
        return tally

    def add(self, run_key: str, arch: Architecture, batch_size: int, energy_per_datum_j: float) -> None:
        """Count one accepted run."""
        working_set = cost(arch, batch_size).train_working_set_bytes
        self.by_tier[tier_labels(self.tiers)[tier_index(working_set, self.tiers)]] += 1
        self.by_shape[arch.shape.value] += 1
        run = parse_run_key(run_key)
        if run.data < len(self.dataset_names):
            self.by_dataset[self.dataset_names[run.data]] += 1
        self.energies.setdefault(run.config_key, []).append(energy_per_datum_j)

    def add_result(self, run_key: str, result: RunResult, batch_size: int) -> None:
        """Count a run just committed (nothing when it was rejected)."""
        if result.reject_reason is None:
            self.add(run_key, result.arch, batch_size, result.train.energy_per_datum_j)

    def add_committed(self, run: CommittedRun) -> None:
        """Count a run an earlier invocation committed (nothing when it was rejected)."""
        if run.ok and run.energy_per_datum_j is not None:
            self.add(run.run_key, run.arch, run.batch_size, run.energy_per_datum_j)

    def tier_counts(self) -> dict[str, int]:
        """Accepted runs per tier label, every label of the device included."""
        return {label: self.by_tier.get(label, 0) for label in tier_labels(self.tiers)}

    def noise_floor(self) -> tuple[float | None, int]:
        """Median relative difference between repeats of one config, and the number of repeat pairs
        (the same figure :func:`measurement.records.noise_floor` gives for the sweep's export)."""
        diffs = sweep_repeat_differences(self.energies, self.sentinel)
        return (statistics.median(diffs) if diffs else None), len(diffs)

    def drift(self) -> Drift:
        """The sentinel's drift (the same figure :func:`measurement.records.drift` gives for the export)."""
        return sentinel_drift(self.energies, self.sentinel)

    def dataset_counts(self) -> dict[str, int]:
        """Accepted runs per data set name, every data set of the sweep included."""
        return {name: self.by_dataset.get(name, 0) for name in self.dataset_names}


def sweep_datasets(spec: SweepSpec, dataset: Dataset | Sequence[Dataset]) -> tuple[Dataset, ...]:
    """The loaded data sets of ``spec``, one per data set it names (a single Dataset: a one-data-set sweep).

    Raises:
        InputError: when their number differs from the spec's, or one is not the data set the sweep was
            planned with (its fingerprint changed).
    """
    datasets = (dataset,) if isinstance(dataset, Dataset) else tuple(dataset)
    if len(datasets) != len(spec.datasets):
        raise InputError(f"the sweep has {len(spec.datasets)} data sets, {len(datasets)} were given")
    for (name, digest), loaded in zip(spec.datasets, datasets, strict=True):
        if loaded.fingerprint() != digest:
            raise InputError(
                f"dataset {name} no longer matches the one this sweep started with (another file, or another "
                "--target or --task than the sweep's?)"
            )
    return datasets
