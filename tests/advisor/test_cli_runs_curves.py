"""``advisor runs --curves``: the learning curves as CSV (a file, or stdout) or Parquet, written atomically;
a destination that cannot be written is refused in one line before the store is read."""

from __future__ import annotations

import dataclasses
import io
import itertools
from pathlib import Path

import pandas as pd
import pytest

from measurement.architecture import size_architecture
from measurement.datasets import load_dataset
from measurement.records import CURVE_COLUMNS, EXPORT_COLUMNS, CurvePoint
from measurement.store import RunStore
from tests.fakes.cli import assert_one_line_error, call_cli
from tests.fakes.measurement import FP, run_context
from tests.fakes.pool import fake_result

DATASET = "synthetic:600,6,3"
CURVE = (CurvePoint(1.0, 1.2, 1.1, 0.4), CurvePoint(2.0, 0.9, 0.95, 0.55))


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """An advisor home whose store holds two runs with a two-point curve each."""
    dataset = load_dataset(DATASET)
    with RunStore(tmp_path / "runs.sqlite") as store:
        sweep = store.open_sweep(store.hardware_id(FP), "probe", "h", {}, DATASET, "replay", "measured")
        for size in (64, 256):
            arch = size_architecture("rectangle", 2, size, dataset.input_dim, dataset.output_dim)
            result = dataclasses.replace(fake_result(arch), curve=CURVE)
            store.record_run(sweep, f"rectangle/d2/s{size}/b64/r0", result, run_context(dataset))
    return tmp_path


def test_curves_export_to_a_csv_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = home / "curves.csv"
    code, _, err = call_cli("runs", "--curves", "--out", str(out), home=home, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "4 rows written" in err
    frame = pd.read_csv(out)
    assert tuple(frame.columns) == CURVE_COLUMNS
    assert list(frame["epoch"]) == [1.0, 2.0, 1.0, 2.0] and list(frame["test_accuracy"]) == [0.4, 0.55] * 2
    assert list(frame["run_key"]) == ["rectangle/d2/s64/b64/r0"] * 2 + ["rectangle/d2/s256/b64/r0"] * 2
    assert not list(home.glob(".*.tmp-*"))  # written atomically: no temporary left beside it


def test_curves_export_to_parquet_and_stdout(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = home / "curves.parquet"
    code, _, err = call_cli("runs", "--curves", "--format", "parquet", "--out", str(out), home=home,
                            monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    assert tuple(pd.read_parquet(out).columns) == CURVE_COLUMNS
    code, stdout, err = call_cli("runs", "--curves", home=home, monkeypatch=monkeypatch)
    assert code == 0, err
    assert len(pd.read_csv(io.StringIO(stdout))) == 4


def test_without_curves_the_runs_export_is_unchanged(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, stdout, err = call_cli("runs", home=home, monkeypatch=monkeypatch)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(stdout))
    assert tuple(frame.columns) == EXPORT_COLUMNS and len(frame) == 4  # two runs, two phases


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--out", "{home}/missing/curves.csv"], "does not exist"),
        (["--out", "{home}"], "not a regular file"),
        (["--format", "parquet"], "--out"),
        (["--ok-only"], "--ok-only"),
    ],
)
def test_a_bad_curves_export_is_refused_in_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], fragment: str
) -> None:
    args = [arg.format(home=home) for arg in args]
    assert_one_line_error(call_cli("runs", "--curves", *args, home=home, monkeypatch=monkeypatch), fragment)


def test_curves_export_without_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "curves.csv"
    assert_one_line_error(call_cli("runs", "--curves", "--out", str(out), home=tmp_path, monkeypatch=monkeypatch),
                          "no run store")  # fmt: skip
    assert not out.exists()


def test_the_default_probe_plan_spans_sizes_depths_and_shapes_within_its_budget() -> None:
    """Probes train long (to digits' plateau), yet the plan still spreads over sizes, depths and shapes."""
    from advisor.calibration import DEFAULT_PROBE_BUDGET_S, DEFAULT_PROBE_EPOCHS, TrainConfig
    from measurement.sweep import PROBE_DEPTHS, TimeModel, plan_probe

    digits, config = load_dataset("digits"), TrainConfig(epochs=DEFAULT_PROBE_EPOCHS)
    assert DEFAULT_PROBE_EPOCHS >= 256  # digits plateaus there at 2^14 .. 2^17 parameters (lr 1e-4, batch 256)
    dims = (digits.input_dim, digits.output_dim, int(digits.x_test.shape[0]), digits.train_samples)
    runs = plan_probe(dims[0], dims[1], DEFAULT_PROBE_BUDGET_S, config, dims[2], dims[3])
    predicted_s = [TimeModel().run_s(size_architecture(r.shape, r.depth, r.size, dims[0], dims[1]), r.batch_size,
                                     config, dims[2], dims[3]) for r in runs]  # fmt: skip
    # the sweep stops at its budget: what a machine as slow as the (conservative) time model gets is the
    # plan's first runs, and those alone must span the curve
    kept = [r for r, total_s in zip(runs, itertools.accumulate(predicted_s), strict=True)
            if total_s <= DEFAULT_PROBE_BUDGET_S]  # fmt: skip
    sizes = {r.size.bit_length() - 1 for r in kept}
    assert len(kept) >= 20
    assert min(sizes) <= 11 and max(sizes) >= 17 and len(sizes) >= 8
    assert {r.depth for r in kept} == set(PROBE_DEPTHS) and len({r.shape for r in kept}) == 8


def test_probe_length_defaults_to_enough_steps_for_small_data_sets() -> None:
    from advisor.calibration import DEFAULT_PROBE_EPOCHS, MIN_PROBE_STEPS, probe_epochs

    assert probe_epochs(1438, 256) == DEFAULT_PROBE_EPOCHS  # digits: 6 steps per epoch, 1,536 steps
    assert probe_epochs(142, 256) == MIN_PROBE_STEPS  # wine: one step per epoch
    assert probe_epochs(455, 256) == MIN_PROBE_STEPS // 2  # breast_cancer: two steps per epoch
    assert probe_epochs(60_000, 256) == DEFAULT_PROBE_EPOCHS  # a large set: the default
