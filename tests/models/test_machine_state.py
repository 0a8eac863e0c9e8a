"""The machine's state on the day: day-to-day spread, rechecks, their history, and how predictions apply them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import machine_state as ms
from models.features import training_frame
from models.machine_state import (
    DAY_PRIOR_WEIGHT,
    DAY_S,
    DAY_SIGMA_PRIOR,
    DayVariation,
    MachineState,
    MachineStateError,
    PhaseScale,
    Recheck,
)
from models.profile import Profile

NOW = 1_800_000_000.0


def _recheck(when: float = NOW, scale: float = 0.2, sd: float = 0.0, drift: float = 0.0, **kw) -> Recheck:
    fields = dict(profile_id="p1", machine="m1", measured_unix_s=when, scales=(PhaseScale(scale, sd),
                  PhaseScale(scale / 2, sd)), floor=0.02, drift=drift, runs=20)  # fmt: skip
    return Recheck(**{**fields, **kw})


def test_day_variation_is_the_prior_until_a_series_spans_two_days() -> None:
    assert ms.learn_day_variation([]) == DayVariation(DAY_SIGMA_PRIOR, 0, 0)
    assert ms.learn_day_variation([[0.3], [-1.0]]).from_prior  # one day each: no between-day spread


def test_day_variation_pools_series_with_the_prior_counted_as_days() -> None:
    found = ms.learn_day_variation([[0.0, 0.4], [1.0, 1.0, 1.3]])
    squares = 0.08 + (2 * 0.1**2 + 0.2**2)  # around each series' own mean: 0.2 and 1.1
    expected = math.sqrt((DAY_PRIOR_WEIGHT * DAY_SIGMA_PRIOR**2 + squares) / (DAY_PRIOR_WEIGHT + 1 + 2))
    assert found.sigma_log == pytest.approx(expected)
    assert (found.days, found.series, found.from_prior) == (3, 2, False)
    steady = ms.learn_day_variation([[0.5] * 10])  # ten identical days pull the spread far below the prior
    assert steady.sigma_log < DAY_SIGMA_PRIOR / 2


def test_sentinel_day_series_takes_median_ln_energy_per_day_of_calibration_sentinels() -> None:
    rows = []
    for day, energies in ((0, (1.0, 1.2, 5.0)), (1, (2.0,))):
        for i, energy in enumerate(energies):
            rows.append(dict(sweep_kind="calibrate", sentinel=1, status="ok", phase="train", energy_per_datum_j=energy,
                             finished_unix_s=day * DAY_S + 60 * i, run_key=f"rectangle/d4/s16384/b256/r{i}",
                             dataset="synthetic:4096,128,10"))  # fmt: skip
    rows.append({**rows[0], "sentinel": 0})  # not the sentinel
    rows.append({**rows[0], "sweep_kind": "probe"})  # not a calibration
    series = ms.sentinel_day_series(pd.DataFrame(rows))
    assert len(series) == 1
    assert series[0] == pytest.approx([math.log(1.2), math.log(2.0)])


def test_recheck_round_trips_and_a_malformed_history_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "rechecks.json"
    kept = ms.append_recheck(path, _recheck(day=DayVariation(0.1, 3, 2), sweep_id=7))
    assert ms.read_rechecks(path) == kept
    assert {p.name for p in tmp_path.iterdir()} == {"rechecks.json", "rechecks.json.lock"}  # no temporary file
    body = json.loads(path.read_text())
    body["rechecks"][0]["scales"]["train"] = [float("nan"), 0.1]
    entry = body["rechecks"][0]
    hostile = [
        {**entry, "runs": 10**30}, {**entry, "day": [1000, 2, 1]}, {**entry, "floor": 1e200}, {**entry, "runs": True},
        {**entry, "measured_unix_s": "soon"}, {**entry, "scales": {"train": [0, 1e6], "inference": [0, 0]}},
    ]  # fmt: skip
    cases = [(json.dumps(body), "recheck 0 is malformed"), ("{", "cannot read"),
             (json.dumps({"format_version": 99}), "not a recheck history"),
             (" " * (ms.MAX_HISTORY_BYTES + 1), "larger than"), ("[" * 100_000 + "]" * 100_000, "cannot read"),
             ('{"format_version": 1, "rechecks": [{"runs": ' + "9" * 5000 + "}]}", "cannot read"),
             *((json.dumps({"format_version": 1, "rechecks": [h]}), "malformed") for h in hostile)]  # fmt: skip
    for text, fragment in cases:
        path.write_text(text)
        with pytest.raises(MachineStateError, match=fragment) as info:
            ms.read_rechecks(path)
        assert "\n" not in str(info.value) and "move it aside" in str(info.value)
    path.unlink()
    path.mkdir()
    with pytest.raises(MachineStateError, match="not a file"):
        ms.read_rechecks(path)


def test_history_keeps_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ms, "MAX_HISTORY", 3)
    path = tmp_path / "rechecks.json"
    for i in range(5):
        ms.append_recheck(path, _recheck(when=NOW + i))
    assert [r.measured_unix_s for r in ms.read_rechecks(path)] == [NOW + 2, NOW + 3, NOW + 4]


def test_state_applies_the_newest_recheck_of_this_profile_on_this_machine() -> None:
    history = [
        _recheck(when=NOW - 100, scale=0.1),
        _recheck(when=NOW - 50, scale=0.3),
        _recheck(when=NOW, scale=0.9, profile_id="other"),
        _recheck(when=NOW, scale=0.9, machine="other"),
    ]
    state = ms.machine_state(history, "p1", "m1", now_unix_s=NOW)
    assert state.recheck.scales[0].log_scale == 0.3
    assert ms.machine_state(history, "p2", "m1", now_unix_s=NOW).recheck is None


def test_residual_spread_grows_back_with_the_rechecks_age() -> None:
    day = DayVariation(0.2, 4, 1)
    assert MachineState(None, day, NOW).residual_sigma == 0.2
    fresh = MachineState(_recheck(day=day), day, NOW, calibration_floor=0.02)  # as noisy as the calibration day
    assert fresh.residual_sigma == 0.0 and not fresh.warnings()
    noisier = MachineState(_recheck(day=day), day, NOW, calibration_floor=0.01)  # today's floor 2%, 1% then
    assert noisier.residual_sigma == pytest.approx(math.sqrt(0.02**2 - 0.01**2) * ms.FLOOR_TO_SD)
    old = MachineState(_recheck(when=NOW - 3 * DAY_S), day, NOW, calibration_floor=0.02)
    assert 0.19 < old.residual_sigma < 0.2
    assert any("3.0 days old" in w for w in old.warnings())
    moved = MachineState(_recheck(drift=0.2, day=day), day, NOW, calibration_floor=0.02)
    assert any("moved +20.0% during the recheck" in w for w in moved.warnings())
    assert moved.residual_sigma == pytest.approx(math.log(1.2))  # its movement stays in the interval


def test_log_offsets_are_the_same_draws_for_fewer_draws() -> None:
    state = MachineState(_recheck(scale=0.2, sd=0.05), DayVariation(), NOW)
    many, few = state.log_offsets(400), state.log_offsets(100)
    assert np.array_equal(many[:100], few)
    assert many[:, 0].mean() == pytest.approx(0.2, abs=0.01) and many[:, 0].std() == pytest.approx(0.05, rel=0.15)
    assert not MachineState(None, DayVariation(), NOW).log_offsets(5).any()


def _panel_rows(scale: float, drift: float) -> tuple[np.ndarray, pd.DataFrame]:
    """Five panel configs, two passes, two phases: ln E = model + scale (+ drift on the second pass)."""
    rows = []
    for c in range(5):
        for repeat in (0, 1):
            for phase in ("train", "inference"):
                rows.append(dict(run_key=f"rectangle/d2/s{2**(10 + c)}/b16/r{repeat}", phase=phase, status="ok",
                                 shape="rectangle", depth=2, target_size=2 ** (10 + c), input_dim=8, output_dim=2,
                                 batch_size=16, dataset="d", train_samples=1000,
                                 energy_per_datum_j=math.exp(-10 + c + scale + drift * repeat)))  # fmt: skip
    frame = training_frame(pd.DataFrame(rows))
    predicted = np.tile(frame["log_energy"].to_numpy() - scale - drift * frame["run_key"].str.endswith("r1"), (50, 1))
    return predicted, frame


def test_panel_result_recovers_todays_scale_floor_and_drift() -> None:
    predicted, rows = _panel_rows(scale=0.0, drift=0.0)
    rows = rows.assign(log_energy=rows["log_energy"] + math.log(1.25))  # today everything costs 25% more
    found = ms.panel_result(predicted, rows)
    assert [s.factor for s in found.scales] == pytest.approx([1.25, 1.25])
    assert (found.floor, found.drift, found.runs) == (0.0, 0.0, 20)
    predicted, rows = _panel_rows(scale=0.0, drift=0.0)
    second = rows["run_key"].str.endswith("r1").to_numpy()
    rows = rows.assign(log_energy=rows["log_energy"] + np.where(second, math.log(1.1), 0.0))
    found = ms.panel_result(predicted, rows)
    assert found.drift == pytest.approx(0.1) and found.floor == pytest.approx(0.0, abs=1e-12)  # a drift, no noise
    assert found.scales[0].factor == pytest.approx(math.sqrt(1.1), rel=0.01)  # the passes' mean


def test_a_recheck_the_machine_moved_during_warns(tmp_path: Path) -> None:
    predicted, rows = _panel_rows(scale=0.0, drift=0.0)
    second = rows["run_key"].str.endswith("r1").to_numpy()
    noise = np.resize([0.01, -0.01, 0.0, 0.005, -0.005], len(rows))  # a 1% floor ...
    rows = rows.assign(log_energy=rows["log_energy"] + noise + np.where(second, math.log(1.1), 0.0))  # ... +10%
    found = ms.panel_result(predicted, rows)
    recheck = Recheck("p", "m", NOW, found.scales, found.floor, found.drift, found.runs)
    assert any("moved +9.5% during the recheck" in w for w in MachineState(recheck, DayVariation(), NOW).warnings())
    steady = ms.panel_result(predicted, rows.assign(log_energy=rows["log_energy"] - np.where(second, math.log(1.1), 0)))
    recheck = Recheck("p", "m", NOW, steady.scales, steady.floor, steady.drift, steady.runs)
    assert not MachineState(recheck, DayVariation(), NOW).warnings()


def test_panel_result_refuses_a_phase_with_one_config() -> None:
    predicted, rows = _panel_rows(scale=0.0, drift=0.0)
    keep = rows["run_key"].str.contains("/s1024/").to_numpy()
    with pytest.raises(MachineStateError, match="1 config"):
        ms.panel_result(predicted[:, keep], rows[keep])
    first_pass = rows["run_key"].str.endswith("r0").to_numpy()  # the budget ran out before the second pass
    with pytest.raises(MachineStateError, match="in both passes"):
        ms.panel_result(predicted[:, first_pass], rows[first_pass])


def test_predictions_apply_the_recheck_and_the_day_spread(thin_reference: Path) -> None:
    profile = Profile.load(thin_reference)
    configs = dict(shape=["rectangle", "trapezoid"], depth=[4, 3], size=[2**14, 2**18], input_dim=[64, 300],
                   output_dim=[10, 3], phase=["train", "inference"])  # fmt: skip
    bare = profile.predict(**configs)
    day = DayVariation(0.3, 5, 2)
    loose = Profile(profile.energy.with_machine(MachineState(None, day, NOW)), profile.metadata, path=profile.path)
    wide = loose.predict(**configs)
    assert np.allclose(wide["energy_mean_j"], bare["energy_mean_j"])  # no recheck: the calibration day's mean
    width = wide["predictive_p95_j"] / wide["predictive_p05_j"]
    assert (width > bare["predictive_p95_j"] / bare["predictive_p05_j"]).all()
    checked = Profile(profile.energy.with_machine(MachineState(_recheck(scale=0.2), day, NOW)), profile.metadata)
    scaled = checked.predict(**configs)
    assert scaled["energy_mean_j"].to_numpy() == pytest.approx(bare["energy_mean_j"].to_numpy() * np.exp([0.2, 0.1]))
    narrow = scaled["predictive_p95_j"] / scaled["predictive_p05_j"]
    assert (narrow < width).all()  # a fresh recheck: no day spread


def test_panel_result_refuses_a_panel_without_accepted_runs() -> None:
    predicted, rows = _panel_rows(scale=0.0, drift=0.0)
    with pytest.raises(MachineStateError, match="no accepted run"):
        ms.panel_result(predicted[:, :0], training_frame(rows.iloc[:0].assign(status="rejected")))


def test_recheck_days_start_at_the_calibration_days_zero_and_keep_to_one_machine() -> None:
    history = [_recheck(when=NOW, scale=0.3), _recheck(when=NOW + DAY_S, scale=0.3),
               _recheck(when=NOW + DAY_S, scale=0.9, machine="other")]  # fmt: skip
    assert ms.recheck_day_series(history, "p1", "m1") == [[0.0, 0.3, 0.3]]  # two later days both at x1.35


def test_sentinel_days_of_another_machine_or_meter_are_not_another_day() -> None:
    days = ((0, 1.0, "a", "estimated"), (1, 3.0, "a", "measured"), (2, 5.0, "b", "estimated"))
    rows = [dict(sweep_kind="calibrate", sentinel=1, status="ok", phase="train", energy_per_datum_j=e,
                 finished_unix_s=d * DAY_S, run_key="rectangle/d4/s16384/b256/r0", dataset="s", hardware=h,
                 meter_kind=k, device="cpu") for d, e, h, k in days]  # fmt: skip
    assert all(len(series) == 1 for series in ms.sentinel_day_series(pd.DataFrame(rows)))
    assert ms.sentinel_day_series(pd.DataFrame(rows), hardware="b") == [[pytest.approx(math.log(5.0))]]


def test_a_machine_that_moved_since_the_recheck_before_is_named() -> None:
    history = [_recheck(when=NOW - 600, scale=0.05), _recheck(when=NOW, scale=0.15)]  # +10.5% in ten minutes
    state = ms.machine_state(history, "p1", "m1", now_unix_s=NOW)
    assert state.previous.measured_unix_s == NOW - 600
    assert any("moved +10.5% (train) since the recheck before" in w for w in state.warnings())
    steady = ms.machine_state([_recheck(when=NOW - 600, scale=0.14), history[1]], "p1", "m1", now_unix_s=NOW)
    assert not steady.warnings()  # 1% apart: within the floors
    days_apart = ms.machine_state([_recheck(when=NOW - 3 * DAY_S, scale=0.05), history[1]], "p1", "m1", NOW)
    assert days_apart.moved_since_previous() is None  # another day: the day-to-day spread covers it
