"""Learning curves: every run records train loss and test metrics at epochs 1, 2, 4, … and its last, before
(never inside) the metered windows; the store keeps them with their run (all or nothing), upgrades a
version-2 store in place, exports them, and a pool sweep's curves land in the store."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import pytest

from measurement import harness
from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.harness import curve_checkpoints, train_and_measure
from measurement.meters.replay import ReplayMeter
from measurement.records import CURVE_COLUMNS, CurvePoint
from measurement.store import SCHEMA, SCHEMA_VERSION, RunStore, StoreError
from measurement.store_schema import CURVES_TABLE
from measurement.sweep import SweepSpec, plan_calibration, run_sweep_on_pool
from tests.fakes.cli import DATA
from tests.fakes.measurement import FAST, FP, run_context
from tests.fakes.pool import FakePool, fake_result

DATASET = "synthetic:600,6,3"
CURVE = (CurvePoint(1.0, 1.2, 1.1, 0.4), CurvePoint(2.0, 0.9, 0.95, 0.55), CurvePoint(3.0, 0.7, 0.9, 0.6))


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DATASET)


@pytest.fixture(scope="module")
def arch(dataset):
    return size_architecture("rectangle", 3, 256, dataset.input_dim, dataset.output_dim)


def _meter() -> ReplayMeter:
    return ReplayMeter(DATA / "replay_readings.csv")


@pytest.mark.parametrize(
    ("epochs", "expected"),
    [(10, (1, 2, 4, 8, 10)), (8, (1, 2, 4, 8)), (3, (1, 2, 3)), (1, (1,)), (0.5, (0.5,)), (2.5, (1, 2, 2.5)),
     (0, ())],
)  # fmt: skip
def test_checkpoints_are_powers_of_two_then_the_last_epoch(epochs: float, expected: tuple) -> None:
    assert curve_checkpoints(epochs) == expected


def test_a_training_run_records_its_curve_ending_at_its_test_metrics(dataset, arch) -> None:
    result = train_and_measure(arch, dataset, _meter(), dataclasses.replace(FAST, epochs=10))
    assert [p.epoch for p in result.curve] == [1.0, 2.0, 4.0, 8.0, 10.0]  # batches follow epoch boundaries
    last = result.curve[-1]
    assert (last.test_loss, last.test_accuracy) == (result.test_loss, result.test_accuracy)
    assert result.epochs_trained == last.epoch == 10.0
    assert all(math.isfinite(p.train_loss) and 0 <= p.test_accuracy <= 1 for p in result.curve)
    assert result.curve[-1].train_loss < result.curve[0].train_loss  # it learns


def test_a_run_shorter_than_an_epoch_records_only_its_end(dataset, arch) -> None:
    result = train_and_measure(arch, dataset, _meter(), dataclasses.replace(FAST, epochs=0.5))
    assert len(result.curve) == 1
    point = result.curve[0]
    assert 0.5 <= point.epoch < 0.5 + FAST.batch_size / dataset.train_samples
    assert (point.test_loss, point.test_accuracy) == (result.test_loss, result.test_accuracy)


def test_a_run_without_epochs_has_no_curve_and_regression_has_no_accuracy(arch) -> None:
    regression = load_dataset("synthetic:300,6,0")
    arch = size_architecture("rectangle", 2, 64, regression.input_dim, regression.output_dim)
    assert train_and_measure(arch, regression, _meter(), FAST).curve == ()
    result = train_and_measure(arch, regression, _meter(), dataclasses.replace(FAST, epochs=2))
    assert [p.test_accuracy for p in result.curve] == [None, None]
    assert result.test_accuracy is None and math.isfinite(result.curve[-1].test_loss)


class _LoggingMeter:
    """A replay meter that logs its windows into a shared event list."""

    def __init__(self, events: list[str]) -> None:
        self.inner, self.events = _meter(), events
        self.name, self.kind = self.inner.name, self.inner.kind

    def start(self) -> None:
        self.events.append("meter_start")
        self.inner.start()

    def stop(self):
        self.events.append("meter_stop")
        return self.inner.stop()


def test_curve_evaluations_happen_before_any_metered_window(dataset, arch, monkeypatch) -> None:
    events: list[str] = []
    evaluate = harness._evaluate

    def logged(*args):
        events.append("evaluate")
        return evaluate(*args)

    monkeypatch.setattr(harness, "_evaluate", logged)
    result = train_and_measure(arch, dataset, _LoggingMeter(events), dataclasses.replace(FAST, epochs=4))
    assert events[: len(result.curve)] == ["evaluate"] * 3  # epochs 1, 2, 4
    assert "evaluate" not in events[3:]
    assert events[3:].count("meter_start") == len(result.train.windows) + len(result.inference.windows)
    assert len(result.train.windows) == FAST.windows  # the training windows are as they were


def _store_with_sweep(path: Path) -> tuple[RunStore, int]:
    store = RunStore(path)
    return store, store.open_sweep(store.hardware_id(FP), "probe", "h", {}, DATASET, "replay", "measured")


def test_the_store_keeps_a_runs_curve_and_exports_it(tmp_path: Path, dataset, arch) -> None:
    store, sweep = _store_with_sweep(tmp_path / "s.sqlite")
    with store:
        run_id = store.record_run(sweep, "a/r0", dataclasses.replace(fake_result(arch), curve=CURVE),
                                  run_context(dataset))  # fmt: skip
        store.record_run(sweep, "b/r0", fake_result(arch), run_context(dataset))  # no curve: no rows
        frame = store.curves_frame()
    assert tuple(frame.columns) == CURVE_COLUMNS
    assert list(frame["epoch"]) == [1.0, 2.0, 3.0] and set(frame["run_id"]) == {run_id}
    assert list(frame["test_accuracy"]) == [0.4, 0.55, 0.6] and list(frame["train_loss"]) == [1.2, 0.9, 0.7]
    row = frame.iloc[0]
    assert (row["run_key"], row["sweep_kind"], row["hardware"], row["dataset"]) == ("a/r0", "probe", FP.digest(),
                                                                                    DATASET)  # fmt: skip
    assert (row["params"], row["depth"], row["shape"], row["batch_size"]) == (arch.params, 3, "rectangle", 64)


def test_a_run_whose_curve_cannot_be_written_leaves_nothing(tmp_path: Path, dataset, arch) -> None:
    store, sweep = _store_with_sweep(tmp_path / "s.sqlite")
    twice = (*CURVE, CURVE[0])  # the same epoch twice: the curve's insert fails after the run's
    with store, pytest.raises(StoreError, match="cannot write run store"):
        store.record_run(sweep, "a/r0", dataclasses.replace(fake_result(arch), curve=twice), run_context(dataset))
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        counts = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "measurements",
                                                                                   "windows", "curves")]  # fmt: skip
    assert counts == [0, 0, 0, 0]


V2_SCHEMA = (
    SCHEMA.replace(CURVES_TABLE, "")
    .replace("sentinel TEXT, ", "")
    .replace("learning_rate REAL, constant_accuracy REAL,", "")
)  # version 4 added the sentinel, 6 the learning rate, 7 the floor


def _version_2_store(path: Path) -> None:
    assert V2_SCHEMA != SCHEMA, "the version-2 schema is today's without the curves table: update it"
    with sqlite3.connect(path) as conn:
        conn.executescript(V2_SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        conn.execute("INSERT INTO hardware VALUES (1, ?, ?, 0)", (FP.digest(), json.dumps(FP.to_dict())))
        conn.execute("INSERT INTO sweeps VALUES (1, 1, 'probe', 'h', '{}', 'synthetic:300,6,3', 'estimate',"
                     " 'estimated', 1.0, 'complete', 0)")  # fmt: skip
        conn.execute(
            "INSERT INTO runs VALUES (1, 1, 'rectangle/d2/s64/b16/r0', 'rectangle', 2, 64, 70, '[9, 3]', 6, 3,"
            " 'synthetic:300,6,3', 'x', 'multiclass', 240, 5760, 16, 0, 1, 'cpu', 'estimate', 'estimated', 1.0,"
            " 1.1, 0.3, 0.5, 'ok', NULL, 5, 'local', 1)"
        )
        for phase in ("train", "inference"):
            conn.execute("INSERT INTO measurements (run_id, phase, batch_size, energy_per_datum_j) VALUES (1, ?, 16,"
                         " 1e-4)", (phase,))  # fmt: skip


def test_a_version_2_store_is_upgraded_in_place_without_curves(tmp_path: Path, dataset, arch) -> None:
    path = tmp_path / "old.sqlite"
    _version_2_store(path)
    with RunStore(path, readonly=True) as store:  # a read-only open (advisor runs --curves) upgrades it too
        assert len(store.frame()) == 2
        curves = store.curves_frame()
    assert tuple(curves.columns) == CURVE_COLUMNS and curves.empty  # old runs have no curve
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION) == "7"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with RunStore(path) as store:  # the upgraded store takes new runs with their curves
        store.record_run(1, "a/r0", dataclasses.replace(fake_result(arch), curve=CURVE), run_context(dataset))
        assert list(store.curves_frame()["run_key"]) == ["a/r0"] * 3


def test_a_failed_upgrade_of_a_version_2_store_leaves_it_as_it_was(tmp_path: Path, monkeypatch) -> None:
    from measurement import store_schema

    path = tmp_path / "old.sqlite"
    _version_2_store(path)
    monkeypatch.setitem(store_schema.MIGRATIONS, 2, (CURVES_TABLE, "SELECT no_such_column FROM runs"))
    with pytest.raises(StoreError, match="cannot write run store"):
        RunStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == "2"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "curves" not in tables  # rolled back as a whole


def test_the_curves_of_a_pool_sweep_land_in_the_store(tmp_path: Path, dataset) -> None:
    runs = plan_calibration(FP, dataset.input_dim, dataset.output_dim, 600, FAST, int(dataset.x_test.shape[0]),
                            max_runs=6)  # fmt: skip
    spec = SweepSpec("probe", DATASET, dataset.fingerprint(), FAST, tuple(runs), 600.0)
    pool = FakePool(result=lambda run: dataclasses.replace(fake_result(run.arch), curve=CURVE))
    with RunStore(tmp_path / "s.sqlite") as store:
        summary = run_sweep_on_pool(spec, store, pool, dataset, FP, ("replay", "measured"), 600.0)
        curves = store.curves_frame()
    assert summary.committed_now == 6
    assert sorted(set(curves["run_key"])) == sorted(r.key for r in runs)
    epochs = {key: list(group["epoch"]) for key, group in curves.groupby("run_key")}
    assert all(points == [1.0, 2.0, 3.0] for points in epochs.values())
    assert set(curves["sweep_kind"]) == {"probe"} and list(curves["test_accuracy"][:3]) == [0.4, 0.55, 0.6]
