"""The whole run's energy from its first epochs (``m.forecast(epochs=N)``), as Carbontracker forecasts it,
with an interval from the measured epochs' spread.

What it assumes, stated on every forecast: an epoch is one block of the named phase (``with m.phase("train")``)
and everything metered after it until the next such block (evaluation, checkpoints); what was metered before
the first block (setup) is counted once. Each epoch still to come costs what the measured epochs cost on
average, and epochs vary independently around that mean: the interval is the 90% prediction interval of the
remaining epochs' sum (Student t on the measured epochs' spread, which needs two epochs). A machine that drifts,
or a schedule that changes the work per epoch (a growing data set, early layers frozen), is outside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from measurement.errors import InputError
from measurement.meters.base import MeterKind, Reading
from measurement.records import Window

MAX_EPOCHS = 10**7


@dataclass(frozen=True)
class Segment:
    """One metered window of a measurement: the phase it belongs to (None between phases), the phase block it
    belongs to (blocks are numbered from 1 as they open), the meter's reading and the window it makes."""

    phase: str | None
    block: int
    reading: Reading
    window: Window


@dataclass(frozen=True)
class Forecast:
    """The whole run's idle-subtracted energy after ``epochs`` epochs.

    Attributes:
        epochs: the epochs the whole run trains.
        epochs_seen: the epochs measured so far.
        energy_j: the forecast (energy so far plus the remaining epochs at the measured mean), joules.
        p05_j, p95_j: its 90% prediction interval (None with one epoch measured: no spread yet).
        energy_so_far_j: the energy measured so far.
        epoch_energy_j: the measured epochs' mean energy.
        meter_kind: measured or ESTIMATED, as the windows it rests on.
        assumes: what the forecast assumes, in words.
    """

    epochs: int
    epochs_seen: float
    energy_j: float
    p05_j: float | None
    p95_j: float | None
    energy_so_far_j: float
    epoch_energy_j: float
    meter_kind: MeterKind
    assumes: str


def _epoch_energies(segments: Sequence[Segment], phase: str) -> list[float]:
    """Each epoch's energy: from the start of a block of ``phase`` to the start of the next (or now)."""
    starts = [i for i, s in enumerate(segments) if s.phase == phase and (i == 0 or segments[i - 1].block != s.block)]
    ends = [*starts[1:], len(segments)] if starts else []
    return [sum(s.window.standardised_j for s in segments[a:b]) for a, b in zip(starts, ends, strict=True)]


# A table kept aligned (fmt: skip): ten degrees of freedom a line, so line k (from 0) holds 10k+1 to 10k+10.
_T95 = (6.313752, 2.919986, 2.353363, 2.131847, 2.015048, 1.94318, 1.894579, 1.859548, 1.833113, 1.812461,
        1.795885, 1.782288, 1.770933, 1.76131, 1.75305, 1.745884, 1.739607, 1.734064, 1.729133, 1.724718,
        1.720743, 1.717144, 1.713872, 1.710882, 1.708141, 1.705618, 1.703288, 1.701131, 1.699127)  # fmt: skip
"""Student t's 95th percentile for 1 to 29 degrees of freedom (scipy.stats.t.ppf, to 6 decimals)."""
_Z95 = 1.6448536269514722


def t_quantile_95(dof: int) -> float:
    """Student t's 95th percentile: tabulated below 30 degrees of freedom, else the Cornish-Fisher expansion
    (within 4e-5 of scipy's at 30, closer above). Not scipy: importing it costs about a second of CPU, and a
    forecast runs inside the measurement."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    if dof <= len(_T95):
        return _T95[dof - 1]
    z = _Z95
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


def forecast_energy(
    segments: Sequence[Segment],
    epochs: int,
    phase: str = "train",
    datums_per_epoch: int | None = None,
    kind: MeterKind = MeterKind.ESTIMATED,
) -> Forecast:
    """Forecast the whole run from the windows metered so far (see the module's docstring for what it assumes).

    With ``datums_per_epoch`` the epochs are counted in datums reported instead (``m.datums``): the energy per
    datum so far times the run's datums, a point forecast without an interval.

    Raises:
        InputError: ``epochs`` not a whole number in [1, 10^7] or fewer than already measured, or nothing to
            forecast from yet.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise InputError(f"epochs must be a whole number in [1, {MAX_EPOCHS:,}], got {epochs!r}")
    so_far = sum(s.window.standardised_j for s in segments)
    if datums_per_epoch is not None:
        return _by_datums(segments, epochs, datums_per_epoch, so_far, kind)
    energies = _epoch_energies(segments, phase)
    if not energies:
        raise InputError(
            f"no {phase!r} block measured yet: a forecast needs one epoch (a `with m.phase({phase!r})` "
            "block), or datums_per_epoch with datums reported"
        )
    seen, remaining = len(energies), epochs - len(energies)
    if remaining < 0:
        raise InputError(f"{seen} epochs are measured already, more than the {epochs} forecast")
    mean = statistics.fmean(energies)
    point = so_far + remaining * mean
    low = high = point if remaining == 0 else None
    if seen >= 2 and remaining > 0:
        half = t_quantile_95(seen - 1) * statistics.stdev(energies) * math.sqrt(remaining + remaining**2 / seen)
        low, high = max(so_far, point - half), point + half
    assumes = (
        f"an epoch is a {phase!r} block and what follows it until the next; the {remaining} remaining "
        f"cost the mean of the {seen} measured, varying independently"
        + ("" if seen >= 2 or remaining == 0 else " (no interval from one epoch)")
    )
    return Forecast(
        epochs=epochs,
        epochs_seen=seen,
        energy_j=point,
        p05_j=low,
        p95_j=high,
        energy_so_far_j=so_far,
        epoch_energy_j=mean,
        meter_kind=kind,
        assumes=assumes,
    )


def _by_datums(
    segments: Sequence[Segment], epochs: int, datums_per_epoch: int, so_far: float, kind: MeterKind
) -> Forecast:
    if isinstance(datums_per_epoch, bool) or not isinstance(datums_per_epoch, int) or datums_per_epoch < 1:
        raise InputError(f"datums_per_epoch must be a whole number >= 1, got {datums_per_epoch!r}")
    datums = sum(s.window.datums for s in segments)
    if datums == 0:
        raise InputError("no datums reported yet (m.datums(n)): a forecast by datums needs some")
    seen = datums / datums_per_epoch
    if seen > epochs:
        raise InputError(f"{seen:.3g} epochs of datums are measured already, more than the {epochs} forecast")
    per_datum = so_far / datums
    assumes = (
        f"every datum of the {epochs} epochs of {datums_per_epoch:,} costs the mean energy per datum "
        f"so far (setup included); no interval"
    )
    return Forecast(
        epochs=epochs,
        epochs_seen=seen,
        energy_j=per_datum * datums_per_epoch * epochs,
        p05_j=None,
        p95_j=None,
        energy_so_far_j=so_far,
        epoch_energy_j=per_datum * datums_per_epoch,
        meter_kind=kind,
        assumes=assumes,
    )
