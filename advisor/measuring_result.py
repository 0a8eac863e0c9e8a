"""What a measurement of the user's code produced: the measured run (meter kind on every number), where it was
stored, and its network's price beside it; and the rules that turn metered windows into that run."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.measuring_forecast import Segment
from measurement.measured import TOTAL, MeasuredNetwork, MeasuredPhase, MeasuredRun
from measurement.meters.base import MeterKind, Reading
from measurement.records import RunStatus, Window

if TYPE_CHECKING:
    from models.modules import ModulePrice, PhasePrice


@dataclass(frozen=True)
class Comparison:
    """Measured beside predicted energy per training datum.

    Attributes:
        phase: the phase measured (``train`` when it reported datums, else the whole measurement).
        measured_j: its idle-subtracted energy per datum, joules.
        predicted: the profile's price of a training datum.
        ok: whether the measurement itself was accepted (a rejected or failed one is shown, not judged).
    """

    phase: str
    measured_j: float
    predicted: PhasePrice
    ok: bool = True

    @property
    def inside(self) -> bool:
        """Whether the measured value lies inside the 90% predictive interval."""
        return self.predicted.contains(self.measured_j)

    @property
    def ratio(self) -> float:
        """Measured over the predicted median."""
        return self.measured_j / self.predicted.median_j

    @classmethod
    def of(cls, run: MeasuredRun, price: ModulePrice) -> Comparison | None:
        """The comparison for a run with datums (None without any, or without a finite energy)."""
        train = run.phase("train")
        phase = train if train is not None and train.datums > 0 else run.total
        measured = phase.energy_per_datum_j
        if measured is None or not math.isfinite(measured):
            return None
        return cls(phase.name, measured, price.train, run.status is RunStatus.OK and phase.reject_reason is None)


@dataclass(frozen=True)
class MeasureResult:
    """One measurement as the user sees it.

    Attributes:
        run: the measured run (phases, windows, meter, status), as stored.
        run_id: its id in the run store (None: not stored).
        store: the store file it went to.
        price: the profile's price of the network it named (None: none named, or not priced).
        comparison: predicted beside measured per datum (None: no network or no datums).
        measuring_cpu_s: a command's measuring overhead: the CPU seconds this process (every thread: the
            meter's samplers included) spent while the program ran (None: a measured block, which shares its
            process with the program).
    """

    run: MeasuredRun
    run_id: int | None = None
    store: Path | None = None
    price: ModulePrice | None = None
    comparison: Comparison | None = None
    measuring_cpu_s: float | None = None

    label = property(lambda self: self.run.label, doc="What the measurement is called.")
    status = property(lambda self: self.run.status, doc="ok, rejected or failed.")
    exit_code = property(lambda self: self.run.exit_code, doc="The command's exit code (0/1 for a block).")
    reject_reason = property(lambda self: self.run.reject_reason, doc="Why it is not ok.")
    meter = property(lambda self: self.run.meter, doc="The meter's name.")
    meter_kind = property(lambda self: self.run.meter_kind, doc="Measured or ESTIMATED.")
    idle_power_w = property(lambda self: self.run.idle_power_w, doc="Idle power subtracted, watts.")
    energy_j = property(lambda self: self.run.energy_j, doc="Idle-subtracted energy of the whole, joules.")
    raw_energy_j = property(lambda self: self.run.total.raw_energy_j, doc="Energy as metered, joules.")
    duration_s = property(lambda self: self.run.duration_s, doc="Metered seconds.")
    datums = property(lambda self: self.run.total.datums, doc="Datums reported.")
    energy_per_datum_j = property(lambda self: self.run.total.energy_per_datum_j, doc="Energy per datum (None).")
    phases = property(lambda self: self.run.phases, doc="The named phases, in the order first entered.")

    @property
    def estimated(self) -> bool:
        """True when the energy is the estimate meter's (from CPU time), not a measurement."""
        return self.run.meter_kind is MeterKind.ESTIMATED

    def summary_rows(self) -> list[tuple[str, str]]:
        """The summary as (name, value) rows, for the CLI's table and for logs; the meter kind is on the energy
        rows of an estimate."""
        run, est = self.run, " (ESTIMATED)" if self.estimated else ""
        rows = [("status", str(run.status) + (f": {run.reject_reason}" if run.reject_reason else ""))]
        if run.command is not None:
            rows.append(("command", " ".join(run.command)[:200] + f"  (exit code {run.exit_code})"))
        kind = "ESTIMATED from CPU time, not a measurement" if self.estimated else str(run.meter_kind)
        metered = _joules(run.total.raw_energy_j)
        rows.append(("meter", f"{run.meter} ({kind})"))
        rows.append(("duration", f"{run.duration_s:.3f} s"))
        if self.measuring_cpu_s is not None and run.duration_s > 0:
            share = self.measuring_cpu_s / run.duration_s
            rows.append(("measuring overhead", f"{self.measuring_cpu_s:.3f} CPU s ({share:.2%} of the duration)"))
        rows.append(("idle power subtracted", f"{run.idle_power_w:.3g} W"))
        rows.append(("energy", f"{_joules(run.energy_j)}{est} (as metered: {metered})"))
        if run.total.datums:
            per_datum = _joules(run.total.energy_per_datum_j)
            rows.append(("per datum", f"{per_datum}{est} over {run.total.datums:,} datums"))
        rows += [(f"phase {phase.name}", _phase_line(phase) + est) for phase in run.phases]
        rows += self._prediction_rows()
        if run.job_id:
            rows.append(("batch job", run.job_id))
        if self.run_id is not None:
            rows.append(("stored", f"run {self.run_id} in {self.store}"))
        return rows

    def _prediction_rows(self) -> list[tuple[str, str]]:
        price, c = self.price, self.comparison
        if price is None:
            return []
        p = price.train
        note = " (ESTIMATED profile)" if price.estimated else ""
        note += " (beyond the calibrated grid: an extrapolation)" if price.beyond_grid else ""
        interval = f"{_joules(p.predictive_p05_j)} – {_joules(p.predictive_p95_j)}"
        predicted = f"{_joules(p.median_j)}, 90% predictive interval {interval} ({price.profile}){note}"
        rows = [("predicted per training datum", predicted)]
        if c is None:
            rows.append(("measured per datum", "no datums reported (m.datums(n) or --datums N): nothing to compare"))
        else:
            verdict = "inside" if c.inside else "OUTSIDE"
            judged = "" if c.ok else " (the measurement is not ok: shown, not judged)"
            measured = f"{_joules(c.measured_j)}: {verdict} the interval, {c.ratio:.2f}x the predicted median{judged}"
            rows.append((f"measured per datum ({c.phase})", measured))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (non-finite numbers as None)."""
        run = self.run
        out = {
            "label": run.label,
            "command": list(run.command) if run.command else None,
            "job_id": run.job_id,
            "status": str(run.status),
            "exit_code": run.exit_code,
            "reject_reason": run.reject_reason,
            "meter": run.meter,
            "meter_kind": str(run.meter_kind),
            "estimated": self.estimated,
            "idle_power_w": run.idle_power_w,
            "run_id": self.run_id,
            "store": None if self.store is None else str(self.store),
            "measuring_cpu_s": self.measuring_cpu_s,
            **{k: v for k, v in _phase_dict(run.total).items() if k not in ("name", "reject_reason")},
            "phases": [_phase_dict(p) for p in run.phases],
        }
        if run.network is not None:
            out["network"] = dataclasses.asdict(run.network)
        if self.price is not None:
            out["predicted"] = {
                "profile": self.price.profile,
                "estimated": self.price.estimated,
                "beyond_grid": self.price.beyond_grid,
                "train": dataclasses.asdict(self.price.train),
                "inference": dataclasses.asdict(self.price.inference),
            }
        if self.comparison is not None:
            c = self.comparison
            out["comparison"] = {
                "phase": c.phase,
                "measured_j": c.measured_j,
                "ratio": c.ratio,
                "inside": c.inside,
                "ok": c.ok,
            }
        return _clean(out)


def _phase_dict(phase: MeasuredPhase) -> dict[str, Any]:
    return {
        "name": phase.name,
        "windows": len(phase.windows),
        "energy_j": phase.energy_j,
        "raw_energy_j": phase.raw_energy_j,
        "duration_s": phase.duration_s,
        "datums": phase.datums,
        "energy_per_datum_j": phase.energy_per_datum_j,
        "reject_reason": phase.reject_reason,
    }


def _phase_line(phase: MeasuredPhase) -> str:
    line = f"{_joules(phase.energy_j)} in {phase.duration_s:.3f} s, {len(phase.windows)} blocks"
    if phase.datums:
        line += f", {_joules(phase.energy_per_datum_j)} a datum"
    return line + (f"; {phase.reject_reason}" if phase.reject_reason else "")


def _joules(value: float | None) -> str:
    """An energy with a unit that keeps it readable (J, mJ, uJ)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ")):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value * 1e9:.4g} nJ"


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _reject(windows: Sequence[Window], readings: Sequence[Reading]) -> str | None:
    """Why these windows are not a measurement (the harness's rules: a meter's own reason, a non-positive
    idle-subtracted energy, or one its meter cannot tell from zero), else None."""
    reason = next((r.reject_reason for r in readings if r.reject_reason), None)
    if reason or not windows:
        return reason
    energy = sum(w.standardised_j for w in windows)
    if not math.isfinite(energy):
        return "the meter gave a non-finite energy"
    if energy <= 0:
        return "non-positive idle-standardised energy (idle power above the run's power)"
    combined = Reading(
        energy_j=sum(r.energy_j for r in readings),
        duration_s=sum(r.duration_s for r in readings),
        meter=readings[0].meter,
        kind=readings[0].kind,
        resolution_j=sum(r.resolution_j for r in readings),
        noise_w=max(r.noise_w for r in readings),
    )
    if energy > combined.floor_j:
        return None
    return (
        f"dynamic energy {energy:.3g} J is not above the meter's floor of {combined.floor_j:.3g} J "
        f"({combined.floor_basis()}): the run cannot be told from idle"
    )


def _phase(name: str, segments: Sequence[Segment]) -> MeasuredPhase:
    windows = tuple(s.window for s in segments)
    return MeasuredPhase(
        name=name,
        windows=windows,
        datums=sum(w.datums for w in windows),
        reject_reason=_reject(windows, [s.reading for s in segments]),
    )


def build_run(
    label: str,
    segments: Sequence[Segment],
    idle_power_w: float,
    *,
    command: tuple[str, ...] | None,
    job_id: str | None,
    network: MeasuredNetwork | None,
    device: str,
    errors: Sequence[str],
    failure: str | None,
    exit_code: int | None,
) -> MeasuredRun:
    """The measured run from its metered windows: every window in the whole, each named phase's in it; failed
    when the program failed (``failure``), rejected when a meter error or the window rules say so."""
    total = _phase(TOTAL, segments)
    names = list(dict.fromkeys(s.phase for s in segments if s.phase is not None))
    phases = tuple(_phase(name, [s for s in segments if s.phase == name]) for name in names)
    reason = failure or (errors[0] if errors else None) or total.reject_reason
    status = RunStatus.FAILED if failure else RunStatus.REJECTED if reason else RunStatus.OK
    no_reading = Reading(energy_j=math.nan, duration_s=0.0, meter="none", kind=MeterKind.ESTIMATED)
    first = segments[0].reading if segments else no_reading
    return MeasuredRun(
        label=label,
        command=command,
        job_id=job_id,
        exit_code=exit_code,
        status=status,
        reject_reason=reason,
        meter=first.meter,
        meter_kind=first.kind,
        idle_power_w=idle_power_w,
        total=dataclasses.replace(total, reject_reason=reason),
        phases=phases,
        network=network,
        device=device,
    )
