"""One calibration sweep over several data sets (input widths): run keys with a data index, plans that cover
every (tier, data set) with a recurring sentinel, runs committed with their own data set (serial, pool and
worker side), resume, the sentinel's drift, and a budget kept within 2% when runs take longer than predicted."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import pytest

from measurement import distributed
from measurement.architecture import size_architecture
from measurement.cost import cost
from measurement.datasets import load_dataset
from measurement.errors import InputError
from measurement.meters.auto import build_meter_options, close_meter
from measurement.meters.replay import ReplayMeter
from measurement.records import (
    Drift,
    PlannedRun,
    TrainConfig,
    config_key,
    drift,
    drift_of,
    noise_floor,
    parse_run_key,
)
from measurement.store import RunStore
from measurement.sweep import (
    SENTINEL,
    SENTINEL_EVERY,
    DataDims,
    SweepSpec,
    SweepTally,
    TimeModel,
    plan_calibration,
    plan_calibration_across,
    run_sweep,
    run_sweep_on_pool,
)
from measurement.tiers import device_tiers, tier_index
from tests.fakes.cli import DATA
from tests.fakes.measurement import FAST, FP, FakeClock
from tests.fakes.pool import FakePool, fake_result

NAMES = ("synthetic:300,4,3", "synthetic:300,12,2")
REPLAY = DATA / "replay_readings.csv"


@pytest.fixture(scope="module")
def datasets():
    return tuple(load_dataset(name) for name in NAMES)


def _spec(datasets, runs: tuple[PlannedRun, ...], budget_s: float = 600.0) -> SweepSpec:
    extra = ((NAMES[1], datasets[1].fingerprint()),)
    return SweepSpec("calibrate", NAMES[0], datasets[0].fingerprint(), FAST, runs, budget_s, extra)


RUNS = (
    PlannedRun("rectangle", 2, 64, 64),
    PlannedRun("trapezoid", 3, 128, 64, data=1),
    PlannedRun("rectangle", 2, 64, 64, repeat=1),
    PlannedRun("rectangle", 3, 256, 16, data=1),
)


# --- keys and specs ---------------------------------------------------------------------------------------------


def test_keys_round_trip_with_and_without_data_index() -> None:
    plain, wide = PlannedRun("trapezoid", 5, 4096, 64, repeat=2), PlannedRun("trapezoid", 5, 4096, 64, 2, data=3)
    assert plain.key == "trapezoid/d5/s4096/b64/r2" and wide.key == "trapezoid/d5/s4096/b64/x3/r2"
    assert parse_run_key(plain.key) == plain and parse_run_key(wide.key) == wide
    assert wide.config_key == "trapezoid/d5/s4096/b64/x3" != plain.config_key == config_key(plain.key)
    # keys stored before data sets existed still parse, as data set 0
    assert parse_run_key("rectangle/d2/s64/b64/r0") == PlannedRun("rectangle", 2, 64, 64)
    assert parse_run_key("rectangle/d2/s64/b64") == PlannedRun("rectangle", 2, 64, 64)
    with pytest.raises(InputError, match="not a run key"):
        parse_run_key("rectangle/d2/s64/b64/xa/r0")


def test_a_one_data_set_plan_keeps_its_stored_form_and_digest() -> None:
    runs = (PlannedRun("rectangle", 2, 64, 64), PlannedRun("trapezoid", 3, 128, 16, repeat=1))
    spec = SweepSpec("calibrate", "synthetic:600,6,3", "0123456789ab", TrainConfig(), runs, 60.0)
    stored = spec.to_dict()
    assert "extra_datasets" not in stored and all("data" not in r for r in stored["runs"])
    assert spec.digest() == "035603861eacf288"  # the digest the code before data sets gave this plan
    assert SweepSpec.from_dict(stored) == spec


def test_a_multi_data_set_spec_round_trips(datasets) -> None:
    spec = _spec(datasets, RUNS)
    assert spec.dataset_names == NAMES
    again = SweepSpec.from_dict(spec.to_dict())
    assert again == spec and again.digest() == spec.digest()
    assert spec.digest() != dataclasses.replace(spec, extra_datasets=((NAMES[1], "other"),)).digest()


# --- planning ---------------------------------------------------------------------------------------------------

WIDTHS = (DataDims(8, 1, 819), DataDims(128, 10, 819), DataDims(2048, 10, 819))


@pytest.fixture(scope="module")
def wide_plan() -> list[PlannedRun]:
    return plan_calibration_across(FP, WIDTHS, 600, TrainConfig())


def _predicted_prefix(runs: list[PlannedRun], budget_s: float) -> list[tuple[PlannedRun, int, float]]:
    """The runs of the plan whose predicted time fits one budget, with their tier and seconds."""
    tiers, model, total, out = device_tiers(FP), TimeModel(), 0.0, []
    for run in runs:
        dims = WIDTHS[run.data]
        arch = size_architecture(run.shape, run.depth, run.size, dims.input_dim, dims.output_dim)
        seconds = model.run_s(arch, run.batch_size, TrainConfig(), dims.test_samples)
        total += seconds
        if total > budget_s:
            break
        out.append((run, int(tier_index(cost(arch, run.batch_size).train_working_set_bytes, tiers)), seconds))
    return out


def test_plan_covers_every_data_set_and_tier_within_one_budget(wide_plan) -> None:
    assert len({r.key for r in wide_plan}) == len(wide_plan)
    assert wide_plan == plan_calibration_across(FP, WIDTHS, 600, TrainConfig())  # deterministic: resumable
    reachable = {(t, d) for t, d in ((t, r.data) for r, t, _ in _predicted_prefix(wide_plan, math.inf))}
    prefix = _predicted_prefix(wide_plan, 600)
    assert {(t, r.data) for r, t, _ in prefix} == reachable  # every (tier, data set) the plan can reach
    assert {t for t, d in reachable if d == 2} == {1, 2, 3}  # 2048 inputs: no working set fits L1d
    assert {r.shape for r, _, _ in prefix} >= {"rectangle", "trapezoid", "exponential", "wide_first_16x"}
    # large networks on wide inputs as well as on narrow ones
    assert all(any(r.data == d and r.size >= 2**20 for r, _, _ in prefix) for d in range(3))
    time_per_data = [sum(s for r, _, s in prefix if r.data == d) for d in range(3)]
    assert max(time_per_data) < 2.5 * min(time_per_data)  # about equal time per (tier, data set) stratum


def test_sentinel_is_planned_first_and_recurs_across_the_plan(wide_plan) -> None:
    sentinel = wide_plan[0]
    assert (sentinel.shape, sentinel.depth, sentinel.size, sentinel.batch_size) == SENTINEL
    assert sentinel.data == 1 and sentinel.repeat == 0  # the middle data set
    positions = [i for i, r in enumerate(wide_plan) if r.config_key == sentinel.config_key]
    repeats = [wide_plan[i].repeat for i in positions]
    assert repeats == list(range(len(positions))) and len(positions) >= 10
    assert max(b - a for a, b in itertools.pairwise(positions)) <= SENTINEL_EVERY + 1
    in_budget = [r for r, _, _ in _predicted_prefix(wide_plan, 600)]
    late = in_budget[2 * len(in_budget) // 3 :]
    assert sum(r.config_key == sentinel.config_key for r in late) >= 2  # it spans the whole budget
    others = [r for r in wide_plan if r.repeat and r.config_key != sentinel.config_key]
    assert others and max(r.repeat for r in others) == 1  # interleaved pairs for the noise floor


def test_sentinel_falls_back_to_the_nearest_candidate_when_off_target() -> None:
    # 2048 inputs, 1 output: rectangle/d4/2^14 is off target (the first layer alone is bigger)
    runs = plan_calibration(FP, 2048, 1, 600, TrainConfig(), 819)
    first = runs[0]
    assert not size_architecture(first.shape, first.depth, first.size, 2048, 1).off_target
    assert sum(r.config_key == first.config_key for r in runs) >= 4


# --- running: serial, pool and worker side ----------------------------------------------------------------------


def test_multi_data_set_sweep_commits_each_run_with_its_own_data_set(tmp_path: Path, datasets) -> None:
    spec = _spec(datasets, RUNS)
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep(spec, store, ReplayMeter(REPLAY), datasets, FP, 600.0, idle_s=0)
        frame = store.frame().query("phase == 'train'").set_index("run_key")
    assert summary.complete and summary.committed_now == 4
    for run in RUNS:
        row, data = frame.loc[run.key], datasets[run.data]
        assert (row["dataset"], row["input_dim"], row["output_dim"]) == (NAMES[run.data], data.input_dim,
                                                                         data.output_dim)  # fmt: skip
        assert (row["dataset_hash"], row["train_samples"]) == (data.fingerprint(), data.train_samples)
    ok = frame[frame["status"] == "ok"]
    assert summary.datasets == {name: int((ok["dataset"] == name).sum()) for name in NAMES}


def test_interrupted_multi_data_set_sweep_resumes_and_a_changed_data_set_is_refused(tmp_path: Path, datasets) -> None:
    spec = _spec(datasets, RUNS)
    calls = {"n": 0}

    def stop_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with RunStore(tmp_path / "s.sqlite") as store:
        first = run_sweep(spec, store, ReplayMeter(REPLAY), datasets, FP, 600, idle_s=0, should_stop=stop_after_two)
        assert first.interrupted and first.committed_now == 2
        changed = (datasets[0], load_dataset(NAMES[1], seed=1))
        with pytest.raises(InputError, match=r"dataset synthetic:300,12,2 no longer matches") as refused:
            run_sweep(spec, store, ReplayMeter(REPLAY), changed, FP, 600, idle_s=0)
        assert "\n" not in str(refused.value)
        with pytest.raises(InputError, match="2 data sets, 1 were given"):
            run_sweep(spec, store, ReplayMeter(REPLAY), datasets[0], FP, 600, idle_s=0)
        second = run_sweep(spec, store, ReplayMeter(REPLAY), datasets, FP, 600, idle_s=0)
        keys = store.frame().query("phase == 'train'")["run_key"].to_list()
    assert second.already_done == 2 and second.committed_now == 2 and second.complete
    assert sorted(keys) == sorted(r.key for r in RUNS)  # nothing redone


def test_pool_sweep_hands_each_run_its_data_set(tmp_path: Path, datasets) -> None:
    seen = []

    def result(remote):
        seen.append((remote.data, remote.arch.input_dim))
        return fake_result(remote.arch)

    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(_spec(datasets, RUNS), store, FakePool(result=result), datasets, FP,
                                    ("replay", "measured"), 600.0)  # fmt: skip
        frame = store.frame().query("phase == 'train'")
    assert summary.complete and sorted(seen) == sorted((r.data, datasets[r.data].input_dim) for r in RUNS)
    assert dict(zip(frame["run_key"], frame["dataset"], strict=True)) == {r.key: NAMES[r.data] for r in RUNS}
    assert set(frame["input_dim"]) == {4, 12}


def test_a_worker_loads_and_checks_every_data_set(datasets) -> None:
    options = build_meter_options("replay", replay_path=REPLAY)
    setup = distributed.WorkerSetup(options, NAMES[0], None, 0, datasets[0].fingerprint(), idle_s=0.0,
                                    extra_datasets=((NAMES[1], datasets[1].fingerprint()),))  # fmt: skip
    try:
        state = distributed._state(setup)
        assert [d.input_dim for d in state.datasets] == [4, 12] and state.datasets[1].name == NAMES[1]
        bad = dataclasses.replace(setup, extra_datasets=((NAMES[1], "not-its-hash"),))
        with pytest.raises(InputError, match=r"dataset synthetic:300,12,2 on .* is not the one"):
            distributed._state(bad)
    finally:
        for state in distributed._STATES.values():
            close_meter(state.meter)
        distributed._STATES.clear()


# --- drift ------------------------------------------------------------------------------------------------------


def test_drift_of_thirds_and_whether_it_is_real() -> None:
    assert drift_of([1.0, 1.0, 1.0]) is None
    assert drift_of([1.0, 5.0, 5.0, 1.1]) == pytest.approx(0.1)
    assert drift_of([1.0, 1.0, 2.0, 2.0, 1.2, 1.2]) == pytest.approx(0.2)
    assert Drift(0.1, 6).is_real(0.04) and not Drift(0.1, 6).is_real(0.06)
    assert Drift(None, 3).is_real(0.01) is None and Drift(0.1, 6).is_real(None) is None


def test_the_tally_and_the_export_give_the_same_drift(tmp_path: Path, datasets) -> None:
    sentinel = PlannedRun("rectangle", 2, 64, 64, data=1)
    runs = [sentinel]
    for i in range(1, 7):
        runs += [PlannedRun("trapezoid", 3, 64 * 2**i, 16), dataclasses.replace(sentinel, repeat=i)]
    runs.append(PlannedRun("trapezoid", 3, 128, 16, repeat=1))
    energies = iter([1.0, 5.0, 1.02, 6.0, 1.0, 7.0, 1.1, 8.0, 1.2, 9.0, 1.25, 10.0, 1.3, 4.0])

    def result(remote):
        return fake_result(remote.arch, energy_per_datum_j=next(energies))

    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(_spec(datasets, tuple(runs)), store, FakePool(("tcp://w1:1",), result=result),
                                    datasets, FP, ("replay", "measured"), 600.0)  # fmt: skip
        frame = store.frame()
    expected = drift_of([1.0, 1.02, 1.0, 1.1, 1.2, 1.25, 1.3])
    assert summary.drift == pytest.approx(expected) and summary.drift_count == 7
    assert drift(frame) == Drift(summary.drift, 7, sentinel.config_key, summary.sweep_id)
    assert drift(frame, sweep_id=summary.sweep_id + 1) == Drift(None, 0)
    floor, pairs = noise_floor(frame)
    # the sentinel's pairs (far apart: drift, not noise) are left out; the one interleaved repeat pair stays
    assert (summary.noise_floor, summary.repeat_pairs) == (floor, pairs) and pairs == 1
    assert summary.drift_is_real == (abs(summary.drift) > 2 * floor)


def test_tally_counts_runs_per_data_set() -> None:
    tally = SweepTally(device_tiers(FP), dataset_names=NAMES)
    arch = size_architecture("rectangle", 2, 64, 12, 1)
    tally.add("rectangle/d2/s64/b64/x1/r0", arch, 64, 1.0)
    tally.add("rectangle/d2/s64/b64/x1/r1", arch, 64, 1.1)
    assert tally.dataset_counts() == {NAMES[0]: 0, NAMES[1]: 2}
    assert tally.drift() == Drift(None, 2, "rectangle/d2/s64/b64/x1")


# --- budget -----------------------------------------------------------------------------------------------------

HARNESS_WINDOWS, HARNESS_MIN_WINDOWS = 5, 3
SHORT, LONG = PlannedRun("rectangle", 2, 64, 64), PlannedRun("rectangle", 4, 2**23, 1024)
"""Predicted 2.8 s and 22.4 s on 4 inputs; the first is over-predicted (x 0.7), the second under-predicted (x 3)."""


class SlowHarness:
    """Stands in for ``train_and_measure`` on a fake clock: a run takes 0.7 times its predicted seconds when
    predicted under 10 s (fixed-length windows dominate) and 3 times when longer (compute bound), as on a
    2-vCPU VM; 30% set-up and warm-up, then two phases of 5 windows; past the deadline each phase stops after
    3 windows, as the harness does."""

    def __init__(self, clock: FakeClock, test_samples: int) -> None:
        self.clock, self.test_samples = clock, test_samples

    def __call__(self, arch, dataset, meter, config, idle_w, clock, deadline):
        predicted = TimeModel().run_s(arch, config.batch_size, config, self.test_samples)
        actual = (0.7 if predicted < 10 else 3.0) * predicted
        began = self.clock.now
        self.clock.advance(0.3 * actual)
        window = 0.7 * actual / (2 * HARNESS_WINDOWS)
        for _phase in range(2):
            for index in range(HARNESS_WINDOWS):
                if index >= HARNESS_MIN_WINDOWS and self.clock.now > deadline:
                    break
                self.clock.advance(window)
        return dataclasses.replace(fake_result(arch), wall_s=self.clock.now - began)


def _short_and_long_plan() -> tuple[PlannedRun, ...]:
    """One long run first, then 12 short runs per long one (long runs are under 10% of those finished, so one
    scale for all, their 90th percentile, stays at the short runs' 0.7)."""
    runs, shorts, longs = [LONG], 0, 1
    while len(runs) < 600:
        runs += [dataclasses.replace(SHORT, repeat=shorts + i) for i in range(12)]
        runs.append(dataclasses.replace(LONG, repeat=longs))
        shorts, longs = shorts + 12, longs + 1
    return tuple(runs)


def test_sweep_ends_within_2_percent_of_its_budget_when_runs_take_longer_than_predicted(
    tmp_path: Path, datasets, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget_s, data, config = 600.0, datasets[0], TrainConfig()
    clock = FakeClock()
    monkeypatch.setattr("measurement.sweep.serial._train", SlowHarness(clock, int(data.x_test.shape[0])))

    def idle(self) -> float:  # an idle measurement takes its seconds on the fake clock
        clock.advance(self.idle_s)
        self._last, self.watts = clock(), 1.0
        return self.watts

    monkeypatch.setattr("measurement.sweep.IdlePower.measure", idle)
    spec = SweepSpec("calibrate", NAMES[0], data.fingerprint(), config, _short_and_long_plan(), budget_s)
    with RunStore(tmp_path / "s.sqlite") as store:
        began = clock() - 3.0  # loading and planning took 3 s before the sweep: they count
        summary = run_sweep(spec, store, ReplayMeter(REPLAY), data, FP, budget_s, idle_s=2.0, idle_every_s=60.0,
                            clock=clock, began=began)  # fmt: skip
        walls = store.frame().query("phase == 'train'")["wall_s"]
    assert summary.elapsed_s <= 1.02 * budget_s and clock() - began == pytest.approx(summary.elapsed_s)
    assert summary.elapsed_s >= 0.9 * budget_s and not summary.complete  # the budget was used, not given up
    assert (walls > 60).sum() >= 3  # long, under-predicted runs did run


def test_the_harness_honours_a_passed_deadline_in_both_phases(datasets) -> None:
    import time

    from measurement.harness import MIN_WINDOWS, train_and_measure

    arch = size_architecture("rectangle", 3, 256, datasets[0].input_dim, datasets[0].output_dim)
    config = dataclasses.replace(FAST, windows=6)
    late = train_and_measure(arch, datasets[0], ReplayMeter(REPLAY), config, deadline=time.perf_counter() - 1.0)
    assert len(late.train.windows) == len(late.inference.windows) == MIN_WINDOWS
    on_time = train_and_measure(arch, datasets[0], ReplayMeter(REPLAY), config, deadline=time.perf_counter() + 600)
    assert len(on_time.train.windows) == len(on_time.inference.windows) == 6
