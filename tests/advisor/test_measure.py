"""Measuring the user's own code (``advisor.measure``, ``@advisor.measured``): windows, idle subtraction, phases,
datums, failure, rejection, storage and the forecast, against a power line the test drives (no hardware)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

import advisor
from advisor.measuring_forecast import forecast_energy
from measurement.errors import InputError
from measurement.measured import MEASURED_COLUMNS, TOTAL, MeasuredPhase, MeasuredRun
from measurement.meters.base import MeterError, MeterKind
from measurement.records import EXPORT_COLUMNS, RunStatus, SweepKind, Window
from measurement.store import RunStore, StoreError
from tests.fakes.measurement import FP
from tests.fakes.meters import LineMeter, PowerLine


def _measure(line: PowerLine, store: Path | bool = False, **options):
    options.setdefault("meter", LineMeter(line))
    return advisor.measure("loop", idle_s=options.pop("idle_s", 2.0), sleep=line.sleep, store=store, **options)


def _three_epochs(line: PowerLine, m, watts=(25.0, 26.0, 27.0)) -> None:
    """Setup 1 s at 15 W, then per epoch 2 s of training at the given watts (100 datums) and 0.5 s of eval at
    10 W."""
    line.run(1.0, 15.0)
    for w in watts:
        with m.phase("train"):
            line.run(2.0, w)
            m.datums(100)
        with m.phase("eval"):
            line.run(0.5, 10.0)


def test_idle_power_is_measured_first_and_subtracted_from_every_window() -> None:
    line = PowerLine(idle_w=5.0)
    with _measure(line) as m:
        _three_epochs(line, m)
    r = m.result
    assert r.idle_power_w == pytest.approx(5.0)
    assert r.duration_s == pytest.approx(8.5)
    assert r.raw_energy_j == pytest.approx(15 + 2 * (25 + 26 + 27) + 3 * 5)
    assert r.energy_j == pytest.approx(r.raw_energy_j - 5.0 * 8.5)
    assert r.status is RunStatus.OK and r.reject_reason is None and r.meter_kind is MeterKind.MEASURED


def test_phases_add_their_blocks_and_datums_and_give_energy_per_datum() -> None:
    line = PowerLine(idle_w=5.0)
    with _measure(line) as m:
        _three_epochs(line, m)
    train, evaluation = m.result.phases
    assert (train.name, len(train.windows), train.datums) == ("train", 3, 300)
    assert train.energy_j == pytest.approx(2 * (20 + 21 + 22))
    assert train.energy_per_datum_j == pytest.approx(126 / 300)
    assert evaluation.energy_j == pytest.approx(3 * 0.5 * 5) and evaluation.energy_per_datum_j is None
    assert m.result.datums == 300 and m.result.energy_per_datum_j == pytest.approx(m.result.energy_j / 300)


def test_idle_zero_subtracts_nothing() -> None:
    line = PowerLine(idle_w=5.0)
    with _measure(line, idle_s=0) as m:
        line.run(2.0, 30.0)
    assert m.result.idle_power_w == 0.0 and m.result.energy_j == pytest.approx(60.0)


def test_an_estimate_stays_loud() -> None:
    line = PowerLine()
    with _measure(line, meter=LineMeter(line, MeterKind.ESTIMATED)) as m:
        line.run(1.0, 20.0)
    rows = dict(m.result.summary_rows())
    assert m.result.estimated and m.result.to_dict()["meter_kind"] == "estimated"
    assert "ESTIMATED" in rows["meter"] and "ESTIMATED" in rows["energy"]


def test_a_block_that_raises_is_stored_as_failed_and_the_exception_passes_on(tmp_path: Path) -> None:
    line = PowerLine()
    m = _measure(line, store=tmp_path / "runs.sqlite")
    with pytest.raises(ZeroDivisionError), m:
        line.run(1.0, 20.0)
        1 / 0  # noqa: B018
    assert m.result.status is RunStatus.FAILED and "ZeroDivisionError" in m.result.reject_reason
    with RunStore(tmp_path / "runs.sqlite") as store:
        measured, runs = store.measured_frame(), store.frame(include_measured=True)
    assert list(measured["status"]) == ["failed"] and list(measured["exit_code"]) == [1]
    assert set(runs["status"]) == {"failed"}


def test_a_run_below_the_meters_floor_is_rejected_as_idle() -> None:
    line = PowerLine(idle_w=5.0)
    with _measure(line, meter=LineMeter(line, resolution_j=10.0)) as m:
        line.run(1.0, 6.0)  # 1 J above idle, under a 10 J resolution
    assert m.result.status is RunStatus.REJECTED and "cannot be told from idle" in m.result.reject_reason


def test_a_meter_that_fails_mid_way_rejects_the_run_with_its_error() -> None:
    line = PowerLine()
    with _measure(line, meter=LineMeter(line, fail_on_stop=2)) as m:  # stop 1 is the idle window's
        with m.phase("train"):
            line.run(1.0, 20.0)
        line.run(1.0, 20.0)
    assert m.result.status is RunStatus.REJECTED and "counter vanished" in m.result.reject_reason


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda m: m.phase("total").__enter__(), "other than 'total'"),
        (lambda m: m.datums(-1), "whole number >= 0"),
        (lambda m: m.datums(True), "whole number >= 0"),
    ],
)
def test_bad_calls_inside_a_measurement_are_refused(action, message: str) -> None:
    line = PowerLine()
    with _measure(line) as m:
        line.run(1.0, 20.0)
        with pytest.raises(InputError, match=message):
            action(m)


def test_phases_do_not_nest() -> None:
    line = PowerLine()
    with _measure(line) as m, m.phase("train"):
        line.run(1.0, 20.0)
        with pytest.raises(InputError, match="do not nest"), m.phase("eval"):
            pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"label": ""}, "label"),
        ({"idle_s": -1}, "idle length"),
        ({"meter": "bogus"}, "unknown meter 'bogus'"),
        ({"batch_size": 32}, "pass model= too"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(options: dict, message: str) -> None:
    with pytest.raises((InputError, MeterError), match=message):  # both are one line and exit 2 in the CLI
        advisor.measure(**{"label": "x", **options})


def test_the_decorator_passes_values_and_errors_through_and_keeps_the_last_result() -> None:
    line = PowerLine()

    @advisor.measured(label="step", meter=LineMeter(line), idle_s=0, sleep=line.sleep, store=False)
    def step(seconds: float) -> str:
        line.run(seconds, 40.0)
        if seconds > 5:
            raise ValueError("too long")
        return "done"

    assert step(1.5) == "done"
    assert step.last_result.label == "step" and step.last_result.energy_j == pytest.approx(60.0)
    with pytest.raises(ValueError, match="too long"):
        step(6.0)
    assert step.last_result.status is RunStatus.FAILED


def test_a_measurement_is_stored_as_its_own_sweep_kind_and_left_out_of_exports_unless_asked(tmp_path: Path) -> None:
    line = PowerLine(idle_w=5.0)
    path = tmp_path / "runs.sqlite"
    with _measure(line, store=path) as m:
        _three_epochs(line, m)
    with RunStore(path) as store:
        measured, default, every = store.measured_frame(), store.frame(), store.frame(include_measured=True)
        kind = store.conn.execute("SELECT kind FROM sweeps").fetchone()[0]
    assert kind == SweepKind.MEASURE and default.empty
    assert tuple(measured.columns) == MEASURED_COLUMNS and tuple(every.columns) == EXPORT_COLUMNS
    row = measured.iloc[0]
    assert (row["label"], row["status"], row["meter_kind"], row["datums"]) == ("loop", "ok", "measured", 300)
    assert row["energy_j"] == pytest.approx(m.result.energy_j) and m.result.run_id == int(row["run_id"])
    assert sorted(every["phase"]) == ["eval", "total", "train"]
    train = every[every["phase"] == "train"].iloc[0]
    assert train["energy_per_datum_j"] == pytest.approx(126 / 300) and train["sweep_kind"] == "measure"


def test_a_job_id_is_recorded_from_the_batch_scheduler() -> None:
    assert advisor.measure.__module__ == "advisor.measuring"  # a function, not a module shadowing it
    from advisor.measuring import job_id

    assert job_id({"SLURM_JOB_ID": "77"}) == "slurm:77"
    assert job_id({"PBS_JOBID": "12.server"}) == "pbs:12.server"
    assert job_id({}) is None


def test_nothing_is_half_written_when_the_store_refuses_a_row(tmp_path: Path) -> None:
    window = Window(10.0, 1.0, 0, 5.0)
    phase = MeasuredPhase("train", (window,))
    run = MeasuredRun("twice", None, None, 0, RunStatus.OK, None, "fake", MeterKind.MEASURED, 5.0,
                      MeasuredPhase(TOTAL, (window,)), phases=(phase, phase))  # fmt: skip  # one phase twice
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(StoreError, match="cannot write run store"):
            store.record_measured(FP, run)
        counts = [store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("hardware", "sweeps", "runs", "measured", "measurements", "windows")]  # fmt: skip
    assert counts == [0] * 6


def test_a_version_4_store_gains_the_measured_table_in_place(tmp_path: Path) -> None:
    from measurement.measured import MEASURED_TABLE
    from measurement.store import SCHEMA, SCHEMA_VERSION

    path = tmp_path / "v4.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace(MEASURED_TABLE, ""))
        conn.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    line = PowerLine()
    with _measure(line, store=path) as m:
        line.run(1.0, 20.0)
    assert m.result.run_id == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION) == "7"


def test_the_forecast_adds_the_remaining_epochs_at_their_measured_mean_with_a_t_interval() -> None:
    line = PowerLine(idle_w=5.0)
    with _measure(line) as m:
        _three_epochs(line, m)
        f = m.forecast(epochs=10)
    epochs = [2 * (w - 5) + 0.5 * 5 for w in (25, 26, 27)]  # 42.5, 44.5, 46.5 J: a train block and its eval
    assert f.epochs_seen == 3 and f.epoch_energy_j == pytest.approx(44.5)
    assert f.energy_so_far_j == pytest.approx(10 + sum(epochs))  # setup counted once
    assert f.energy_j == pytest.approx(10 + sum(epochs) + 7 * 44.5)
    half = 2.919986 * 2.0 * math.sqrt(7 + 49 / 3)  # t(0.95, 2 dof) x stdev x sqrt(R + R^2/k)
    assert (f.p05_j, f.p95_j) == (pytest.approx(f.energy_j - half, rel=1e-5), pytest.approx(f.energy_j + half,
                                                                                            rel=1e-5))  # fmt: skip
    assert "3 measured" in f.assumes and f.meter_kind is MeterKind.MEASURED


def test_one_epoch_gives_a_forecast_without_an_interval_and_none_gives_an_error() -> None:
    line = PowerLine()
    with _measure(line) as m:
        with pytest.raises(InputError, match="no 'train' block"):
            m.forecast(epochs=5)
        with m.phase("train"):
            line.run(1.0, 20.0)
            with pytest.raises(InputError, match="between epochs"):
                m.forecast(epochs=5)
        f = m.forecast(epochs=5)
    assert f.p05_j is None and f.energy_j == pytest.approx(5 * f.epoch_energy_j)
    with pytest.raises(InputError, match="epochs must be a whole number"):
        forecast_energy([], 0)


def test_a_forecast_by_datums_scales_the_energy_per_datum() -> None:
    line = PowerLine(idle_w=0.0)
    with _measure(line, idle_s=0) as m:
        line.run(2.0, 10.0)
        m.datums(500)
    f = m.forecast(epochs=4, datums_per_epoch=1000)
    assert f.epochs_seen == 0.5 and f.energy_j == pytest.approx(20.0 / 500 * 4000) and f.p95_j is None


def test_the_t_quantile_matches_scipy_without_importing_it() -> None:
    from scipy import stats

    from advisor.measuring_forecast import t_quantile_95

    for dof in (1, 2, 7, 29, 30, 45, 200):
        assert t_quantile_95(dof) == pytest.approx(stats.t.ppf(0.95, dof), abs=5e-5)


def test_a_failing_block_keeps_its_own_exception_when_the_store_goes_away(tmp_path: Path, caplog) -> None:
    line, path = PowerLine(), tmp_path / "runs.sqlite"
    with pytest.raises(KeyError, match="lost"), _measure(line, store=path):
        line.run(1.0, 20.0)
        for stale in tmp_path.iterdir():
            stale.unlink()
        path.mkdir()  # the store's file is now a folder: it cannot be written
        raise KeyError("lost")
    assert "could not be stored" in caplog.text
