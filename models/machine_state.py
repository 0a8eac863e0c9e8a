"""The machine's state on the day a prediction is used: rechecks, and how far one day moves energy.

A profile's posterior was learnt on its calibration day. A VM, or a shared node, runs faster or slower on
other days (this project's 2-vCPU VM: a repeat-noise floor of 1.1% one day and 10.1% another; the shipped
profile predicted 0.72-1.04x of what another day measured). Two things make a prediction hold on the day it
is used:

- a **recheck** (``advisor calibrate --recheck``): a small fixed panel re-measured today and compared with
  the profile's own prediction of it gives today's scale per phase, with its uncertainty and its time;
  predictions apply the newest one (:class:`MachineState`);
- the **day-to-day variation** (:class:`DayVariation`): the spread of ln energy between days, learnt at each
  recheck from the rechecks and the calibration sentinels' histories in the store (a pooled variance with a
  stated prior, :data:`DAY_SIGMA_PRIOR` worth :data:`DAY_PRIOR_WEIGHT` days; the prior alone before any
  recheck), which widens the predictive interval of one new measurement: fully without a recheck, and growing
  with the recheck's age with one.

The history lives in ``$ADVISOR_HOME/rechecks.json`` (:func:`read_rechecks`, :func:`append_recheck`), written
atomically and bounded.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from measurement.atomic import atomic_path
from measurement.errors import InputError, first_line
from models import schema
from models.features import PHASES

DAY_S = 86400.0
DAY_SIGMA_PRIOR = 0.15
"""The stated prior of the day-to-day spread of ln energy (one standard deviation, about +/-16%): this
project's 2-vCPU VM measured its sentinel 37% apart within ten minutes of a noisy day, and the shipped profile
(a quiet calibration day) predicted 0.72-1.04x of another day's measurements at one input width."""
DAY_PRIOR_WEIGHT = 2.0
"""How many days of evidence the prior counts as: two days of measured spread weigh as much as it."""
STALE_AFTER_S = DAY_S
"""A recheck older than this is named stale: ``advisor calibrate --recheck`` again."""
FLOOR_TO_SD = 1 / (math.sqrt(2) * 0.6745)
"""A repeat-noise floor (median relative difference of repeat pairs) as the standard deviation of one run's
ln energy: the difference of two runs has sd sqrt(2) s, and the median of its absolute value is 0.6745 of that."""
MIN_PAIRS = 3
"""Panel configs a recheck needs in both passes: fewer cannot tell the noise from a drift."""
MAX_HISTORY = 200
"""Rechecks kept in the history (the oldest are dropped)."""
MAX_HISTORY_BYTES = 2_000_000
HISTORY_FILE = "rechecks.json"
MOVE_ASIDE = "move it aside to start a new history"
FORMAT_VERSION = 1
_SCALE_SEED = 20261207


class MachineStateError(InputError):
    """A recheck history that cannot be read (one line naming the file and the fault)."""


@dataclass(frozen=True)
class PhaseScale:
    """Today's energy of one phase over the profile's prediction, on the log scale.

    Attributes:
        log_scale: mean ln(measured / predicted) over the panel (0: as predicted).
        log_sd: its uncertainty (the standard error across the panel's configs, at least the panel's floor
            over the square root of its configs).
    """

    log_scale: float
    log_sd: float

    @property
    def factor(self) -> float:
        """The scale as a factor (1.12: today costs 12% more than predicted)."""
        return math.exp(self.log_scale)


@dataclass(frozen=True)
class DayVariation:
    """How far ln energy moves between days.

    Attributes:
        sigma_log: its standard deviation.
        days: distinct days the estimate saw (in its longest series; 0 or 1: the prior alone).
        series: how many series (a sentinel config, a phase's rechecks) gave between-day spread.
    """

    sigma_log: float = DAY_SIGMA_PRIOR
    days: int = 0
    series: int = 0

    @property
    def from_prior(self) -> bool:
        """True when no series spanned two days: the stated prior alone."""
        return self.series == 0

    def describe(self) -> str:
        """One line: ``day-to-day +/-16% (stated prior; one calibration day)`` or ``... learnt from 4 days``."""
        spread = f"day-to-day ±{math.expm1(self.sigma_log):.0%}"
        if self.from_prior:
            return f"{spread} (stated prior: one calibration day)"
        return f"{spread} (learnt from {self.days} days, prior weight {DAY_PRIOR_WEIGHT:g} days)"


@dataclass(frozen=True)
class Recheck:
    """One recheck of the machine against one profile.

    Attributes:
        profile_id: the profile's energy posterior (the sha256 of its energy file).
        machine: the measured machine's fingerprint digest.
        measured_unix_s: when the panel finished.
        scales: today's scale per phase, in :data:`models.features.PHASES` order.
        floor: the panel's repeat-noise floor (median relative difference of its repeat pairs).
        drift: the panel's second pass over its first, minus 1 (how far the machine moved during it).
        runs: the panel's accepted runs.
        day: the day-to-day variation known when it was taken.
        sweep_id: its sweep in the run store.
    """

    profile_id: str
    machine: str
    measured_unix_s: float
    scales: tuple[PhaseScale, ...]
    floor: float
    drift: float
    runs: int
    day: DayVariation = DayVariation()
    sweep_id: int | None = None

    def scale(self, phase: str) -> PhaseScale:
        """The scale of ``train`` or ``inference``."""
        return self.scales[PHASES.index(phase)]

    def age_s(self, now_unix_s: float | None = None) -> float:
        """Seconds since it was measured."""
        return max(0.0, (time.time() if now_unix_s is None else now_unix_s) - self.measured_unix_s)

    def to_dict(self) -> dict:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {
            "profile_id": self.profile_id,
            "machine": self.machine,
            "measured_unix_s": self.measured_unix_s,
            "scales": {p: [s.log_scale, s.log_sd] for p, s in zip(PHASES, self.scales, strict=True)},
            "floor": self.floor,
            "drift": self.drift,
            "runs": self.runs,
            "day": [self.day.sigma_log, self.day.days, self.day.series],
            "sweep_id": self.sweep_id,
        }

    @classmethod
    def from_dict(cls, data: object) -> Recheck:
        """Validate and rebuild one entry. Raises :class:`~models.schema.SchemaError` (a ValueError) naming the
        field of a malformed one."""
        entry = schema.obj(data, "recheck")
        scales = schema.mapping(entry, "scales", max_len=len(PHASES))
        day = _fields(entry.get("day", [DAY_SIGMA_PRIOR, 0, 0]), ("sigma_log", "days", "series"), "day")
        return cls(
            profile_id=schema.text(entry, "profile_id", max_len=128),
            machine=schema.text(entry, "machine", max_len=128),
            measured_unix_s=schema.number(entry, "measured_unix_s", lo=0),
            scales=tuple(_phase_scale(schema.array(scales, p, "scales", max_len=2), p) for p in PHASES),
            floor=schema.number(entry, "floor", lo=0, hi=2),
            drift=schema.number(entry, "drift", lo=-0.999999, hi=100),
            runs=schema.integer(entry, "runs", hi=2**53),
            day=DayVariation(
                schema.number(day, "sigma_log", "day", lo=0, hi=3),
                schema.integer(day, "days", "day", hi=2**53),
                schema.integer(day, "series", "day", hi=2**53),
            ),
            sweep_id=None if entry.get("sweep_id") is None else schema.integer(entry, "sweep_id", hi=2**53),
        )


def _fields(values: object, names: tuple[str, ...], where: str) -> dict:
    """A JSON list of ``len(names)`` values as a dict by those names (SchemaError otherwise)."""
    if not isinstance(values, list) or len(values) != len(names):
        raise schema.SchemaError(f"{where}: expected a list of {len(names)} values")
    return dict(zip(names, values, strict=True))


def _phase_scale(pair: list, phase: str) -> PhaseScale:
    """A phase's scale from its ``[log_scale, log_sd]``."""
    where = f"scales.{phase}"
    fields = _fields(pair, ("log_scale", "log_sd"), where)
    return PhaseScale(
        schema.number(fields, "log_scale", where, lo=-5, hi=5), schema.number(fields, "log_sd", where, lo=0, hi=5)
    )


@dataclass(frozen=True)
class MachineState:
    """What predictions apply on the day they are made: the newest recheck (None: none) and the day-to-day
    variation.

    Without a recheck, predictions stay the calibration day's and the predictive interval of one new
    measurement adds the whole day-to-day spread. With one, the prediction is scaled by it (its uncertainty
    carried by each posterior draw) and the interval adds the day-to-day spread in the share the recheck's
    age has let back in, ``sigma_day * sqrt(1 - exp(-age / 1 day))``, today's run-to-run noise beyond the
    calibration day's (the model's noise was learnt there): the recheck's repeat-noise floor over the
    calibration's, in quadrature, each as a standard deviation (:data:`FLOOR_TO_SD`), and the drift between the
    recheck's two passes (ln), the machine's movement within a minute that the day's spread does not let back
    in for hours.

    Attributes:
        recheck: the newest recheck (None: none).
        day: the day-to-day variation.
        now_unix_s: when the predictions are made (the recheck's age counts to it).
        calibration_floor: the profile's calibration repeat-noise floor (0: unknown).
        previous: the recheck before the newest (None: none), to tell how far the machine moved between them.
    """

    recheck: Recheck | None
    day: DayVariation
    now_unix_s: float
    calibration_floor: float = 0.0
    previous: Recheck | None = None

    def log_offsets(self, n_draws: int) -> np.ndarray:
        """Per-draw ln scale of each phase (n_draws x phases): zeros without a recheck; the same draws for
        the same ``n_draws`` (a fixed seed), so repeated predictions agree."""
        if self.recheck is None:
            return np.zeros((n_draws, len(PHASES)))
        z = np.random.default_rng(_SCALE_SEED).standard_normal((n_draws, len(PHASES)))
        mean = np.array([s.log_scale for s in self.recheck.scales])
        sd = np.array([s.log_sd for s in self.recheck.scales])
        return mean + sd * z

    @property
    def residual_sigma(self) -> float:
        """The day-to-day spread one new measurement still carries (ln scale)."""
        if self.recheck is None:
            return self.day.sigma_log
        age_days = self.recheck.age_s(self.now_unix_s) / DAY_S
        noisier = max(0.0, self.recheck.floor**2 - self.calibration_floor**2) * FLOOR_TO_SD**2
        moving = math.log1p(self.recheck.drift) ** 2  # how far the machine moved within the panel's minute
        return math.sqrt(self.day.sigma_log**2 * -math.expm1(-age_days) + noisier + moving)

    def warnings(self) -> list[str]:
        """What a user should hear: a stale recheck, or one during which the machine moved beyond its floor."""
        out = []
        if self.recheck is None:
            return out
        if self.recheck.measured_unix_s > self.now_unix_s + 60:
            out.append("the newest recheck is dated in the future (the clock moved?): recheck again")
        if self.recheck.age_s(self.now_unix_s) > STALE_AFTER_S:
            out.append(
                f"the newest recheck is {describe_age(self.recheck.age_s(self.now_unix_s))} old: run "
                "'advisor calibrate --recheck' (under a minute)"
            )
        if (moved := self.moved_since_previous()) is not None:
            out.append(
                f"the machine moved {moved:+.1%} (train) since the recheck before, within a day: its speed "
                "is changing, recheck close to the measurement you compare"
            )
        if abs(self.recheck.drift) > max(2 * self.recheck.floor, 0.02):
            out.append(
                f"the machine moved {self.recheck.drift:+.1%} during the recheck (noise floor "
                f"{self.recheck.floor:.1%}): today's scale is uncertain, recheck again"
            )
        return out

    def moved_since_previous(self) -> float | None:
        """How far the train-phase scale moved from the recheck before to the newest, when they lie within a day
        of each other and it moved by more than twice the larger of their floors (and 2%); else None."""
        new, old = self.recheck, self.previous
        if new is None or old is None or new.measured_unix_s - old.measured_unix_s > DAY_S:
            return None
        step = new.scales[0].log_scale - old.scales[0].log_scale
        return math.expm1(step) if abs(step) > max(2 * max(new.floor, old.floor), 0.02) else None

    def describe(self) -> str:
        """One line for UIs: what the predictions apply."""
        if self.recheck is None:
            return f"no recheck of this machine: calibration-day energies, {self.day.describe()}"
        r = self.recheck
        scales = ", ".join(f"{p} ×{s.factor:.2f}" for p, s in zip(PHASES, r.scales, strict=True))
        return (
            f"recheck {describe_age(r.age_s(self.now_unix_s))} ago applied ({scales}; noise floor {r.floor:.1%}"
            f"{f' vs {self.calibration_floor:.1%} at calibration' if self.calibration_floor else ''}); "
            f"{self.day.describe()}"
        )

    def to_dict(self) -> dict:
        """For ``--json``: the recheck applied (None), its age, the residual spread and the warnings."""
        return {
            "recheck": None if self.recheck is None else self.recheck.to_dict(),
            "recheck_age_s": None if self.recheck is None else self.recheck.age_s(self.now_unix_s),
            "day_sigma_log": self.day.sigma_log,
            "day_sigma_from_prior": self.day.from_prior,
            "residual_sigma_log": self.residual_sigma,
            "warnings": self.warnings(),
        }


def describe_age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.2 h``, ``2.0 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 2 * DAY_S else f"{seconds / DAY_S:.1f} days"


def learn_day_variation(series: Iterable[Sequence[float]]) -> DayVariation:
    """The day-to-day spread from series of one value per day (ln energy of one sentinel config, one phase's
    recheck scales): a pooled variance around each series' own mean, with :data:`DAY_SIGMA_PRIOR` counted as
    :data:`DAY_PRIOR_WEIGHT` days (the conjugate scaled-inverse-chi-squared update). Series of one day carry
    no between-day spread and are left out."""
    squares, dof, days, used = 0.0, 0.0, 0, 0
    for values in series:
        x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
        if len(x) < 2:
            continue
        squares += float(((x - x.mean()) ** 2).sum())
        dof += len(x) - 1
        days, used = max(days, len(x)), used + 1
    sigma2 = (DAY_PRIOR_WEIGHT * DAY_SIGMA_PRIOR**2 + squares) / (DAY_PRIOR_WEIGHT + dof)
    return DayVariation(math.sqrt(sigma2), days, used)


def sentinel_day_series(runs: pd.DataFrame, hardware: str | None = None) -> list[list[float]]:
    """Per calibration sentinel config, machine, meter kind and device: its median ln energy per day (UTC), from
    a run export (ok train phases of calibration sweeps flagged ``sentinel``; only machine ``hardware``'s, a
    fingerprint digest, when given). A store written before sweeps recorded their sentinel gives none."""
    need = {"sweep_kind", "sentinel", "status", "phase", "energy_per_datum_j", "finished_unix_s", "run_key"}
    if runs.empty or not need <= set(runs.columns):
        return []
    if hardware is not None and "hardware" in runs:
        runs = runs[runs["hardware"] == hardware]
    energy = pd.to_numeric(runs["energy_per_datum_j"], errors="coerce")
    keep = (
        (runs["sweep_kind"] == "calibrate")
        & (pd.to_numeric(runs["sentinel"], errors="coerce") == 1)
        & (runs["status"] == "ok")
        & (runs["phase"] == "train")
        & (energy > 0)
        & np.isfinite(pd.to_numeric(runs["finished_unix_s"], errors="coerce"))
    )
    rows = runs[keep]
    if rows.empty:
        return []
    key = rows["run_key"].str.replace(r"/r\d+$", "", regex=True) + "|" + rows["dataset"].astype(str)
    for column in ("hardware", "meter_kind", "device"):  # another machine or meter is not another day
        if column in rows:
            key = key + "|" + rows[column].astype(str)
    frame = pd.DataFrame(
        {
            "config": key,
            "day": (pd.to_numeric(rows["finished_unix_s"]) // DAY_S).astype(int),
            "log_energy": np.log(energy[keep]),
        }
    )
    medians = frame.groupby(["config", "day"])["log_energy"].median()
    return [list(group.to_numpy()) for _, group in medians.groupby(level="config")]


def recheck_day_series(rechecks: Sequence[Recheck], profile_id: str, machine: str) -> list[list[float]]:
    """One series: the calibration day's scale (0, by construction of the profile) and the mean train-phase log
    scale of each later day's rechecks of one profile on one machine. The phases move together on a day, so
    one phase only: counting both would double the evidence against the prior."""
    by_day: dict[int, list[float]] = {}
    for r in rechecks:
        if r.profile_id == profile_id and r.machine == machine:
            by_day.setdefault(int(r.measured_unix_s // DAY_S), []).append(r.scales[0].log_scale)
    return [[0.0, *(float(np.mean(v)) for _, v in sorted(by_day.items()))]]


def history_path(home: Path) -> Path:
    """Where the recheck history of ``$ADVISOR_HOME`` lives."""
    return Path(home) / HISTORY_FILE


def read_rechecks(path: Path) -> tuple[Recheck, ...]:
    """Every recheck in a history file, oldest first (none when there is no file).

    Raises:
        MachineStateError: a file that is too large, not JSON, of another format, or with a malformed entry.
    """
    path = Path(path)
    if not path.exists():
        return ()
    if not path.is_file():
        raise MachineStateError(f"{path}: not a file; {MOVE_ASIDE}")
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            raise MachineStateError(
                f"{path}: larger than {MAX_HISTORY_BYTES} bytes, not a recheck history; {MOVE_ASIDE}"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # JSON errors and over-long integers are ValueErrors
        raise MachineStateError(f"{path}: cannot read the recheck history ({first_line(exc)}); {MOVE_ASIDE}") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise MachineStateError(f"{path}: not a recheck history of format {FORMAT_VERSION}; {MOVE_ASIDE}")
    entries = data.get("rechecks")
    if not isinstance(entries, list) or len(entries) > MAX_HISTORY:
        raise MachineStateError(f"{path}: 'rechecks' is not a list of at most {MAX_HISTORY}; {MOVE_ASIDE}")
    out = []
    for index, entry in enumerate(entries):
        try:
            out.append(Recheck.from_dict(entry))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise MachineStateError(f"{path}: recheck {index} is malformed: {first_line(exc)}; {MOVE_ASIDE}") from None
    return tuple(sorted(out, key=lambda r: r.measured_unix_s))


def append_recheck(path: Path, recheck: Recheck) -> tuple[Recheck, ...]:
    """Add a recheck to the history and return it: read, appended to (the newest :data:`MAX_HISTORY` kept) and
    replaced atomically under an exclusive lock (``rechecks.json.lock``), so two rechecks at once both land."""
    import fcntl

    path = Path(path)
    try:
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            kept = (*read_rechecks(path), recheck)[-MAX_HISTORY:]
            body = {"format_version": FORMAT_VERSION, "rechecks": [r.to_dict() for r in kept]}
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
    except OSError as exc:
        raise MachineStateError(f"cannot write {path}: {first_line(exc)}") from None
    return kept


def machine_state(
    rechecks: Sequence[Recheck],
    profile_id: str,
    machine: str,
    now_unix_s: float | None = None,
    calibration_floor: float | None = None,
) -> MachineState:
    """The state predictions with one profile on one machine apply: the newest recheck of that pair (None:
    none), the day-to-day variation it recorded (the prior when there is none), and the profile's calibration
    floor (None: unknown)."""
    mine = sorted((r for r in rechecks if r.profile_id == profile_id and r.machine == machine),
                  key=lambda r: r.measured_unix_s)  # fmt: skip
    newest = mine[-1] if mine else None
    day = newest.day if newest is not None else DayVariation()
    now = time.time() if now_unix_s is None else now_unix_s
    return MachineState(newest, day, now, calibration_floor or 0.0, mine[-2] if len(mine) > 1 else None)


def machine_key(fp) -> str:
    """The machine a recheck belongs to: the fingerprint's digest on its CPU alone (a GPU's name reads the
    same from torch and from the driver only sometimes; the profile id already tells CPU and GPU profiles
    apart)."""
    import dataclasses

    return dataclasses.replace(fp, gpu=None).digest()


@dataclass(frozen=True)
class PanelResult:
    """What a recheck panel measured against a profile: today's scale per phase, the panel's repeat-noise floor
    and its drift (second pass over first, minus 1), and its usable runs."""

    scales: tuple[PhaseScale, ...]
    floor: float
    drift: float
    runs: int


def panel_result(log_energy_draws: np.ndarray, rows: pd.DataFrame) -> PanelResult:
    """Today's scale from a panel's runs.

    Args:
        log_energy_draws: the profile's ln E draws of the rows (draws x rows; the calibration day's, without a
            machine state).
        rows: the panel's usable runs as a training frame (``log_energy``, ``phase_index``, ``config`` and
            ``run_key``, whose ``/rN`` suffix tells the passes apart).

    Raises:
        MachineStateError: a phase with fewer than two measured configs (the recheck ran too short).
    """
    if rows.empty or "log_energy" not in rows:
        raise MachineStateError(
            "the recheck has no accepted run to compare (every run was rejected: 'advisor runs' gives the reasons)"
        )
    resid = rows["log_energy"].to_numpy(float) - log_energy_draws.mean(axis=0)
    frame = rows.assign(resid=resid, repeat=rows["run_key"].str.extract(r"/r(\d+)$")[0].astype(float))
    pairs = frame[frame["phase_index"] == 0].pivot_table(index="config", columns="repeat", values="log_energy")
    pairs = pairs.dropna() if {0.0, 1.0} <= set(pairs.columns) else pairs.iloc[:0]
    if len(pairs) < MIN_PAIRS:
        raise MachineStateError(
            f"the recheck measured {len(pairs)} config(s) in both passes; {MIN_PAIRS} are needed to tell its noise "
            "from a drift (a longer --budget)"
        )
    step = (pairs[1.0] - pairs[0.0]).to_numpy()
    drift = float(np.expm1(np.median(step)))
    rest = np.expm1(step - np.median(step))  # the pairs' differences with the drift between the passes taken out
    floor = float(np.median(2 * np.abs(rest) / (2 + rest)))
    scales = []
    for index, phase in enumerate(PHASES):
        per_config = frame[frame["phase_index"] == index].groupby("config")["resid"].mean()
        if len(per_config) < 2:
            raise MachineStateError(
                f"the recheck measured {len(per_config)} config(s) in the {phase} phase; 2 are needed (a longer "
                "--budget, or a quieter machine)"
            )
        spread = float(per_config.std(ddof=1)) / math.sqrt(len(per_config))
        scales.append(PhaseScale(float(per_config.mean()), max(spread, floor / math.sqrt(len(per_config)))))
    return PanelResult(tuple(scales), floor, drift, len(frame))
