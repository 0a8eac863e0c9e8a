"""The gradient-boosted baseline in benchmarks/transfer.py: fit on the profile's own runs, predicted at the
benchmark's configs, scored per phase and shown in the printed table and on the results page."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from measurement.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "data" / "reference" / "runs.csv"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("transfer_benchmark_trees", ROOT / "benchmarks" / "transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


transfer = _load_benchmark()


def _profile(run_ids=()) -> SimpleNamespace:
    return SimpleNamespace(metadata=SimpleNamespace(run_ids=tuple(run_ids)))


def _table(trees: dict[str, float] | None) -> pd.DataFrame:
    """Two configs measured 1 and 4 J (train), predicted exactly; trees at ``trees`` (None: no trees)."""
    measurements = [
        transfer.Measurement(transfer.TransferConfig(name, 3, 1000, 784, 10, 32), 1000, {"train": j, "inference": j},
                             {"train": j, "inference": j})
        for name, j in (("a", 1.0), ("b", 4.0))
    ]  # fmt: skip
    rows = []
    for m in measurements:
        for phase in transfer.PHASES:
            j = m.measured_j(phase)
            row = {"label": m.config.label, "phase": phase, "batch_size": 32, "predicted_j": j, "p05_j": j / 2,
                   "p95_j": 2 * j}  # fmt: skip
            if trees is not None:
                t = trees[m.config.shape] * j
                row |= {"trees_j": t, "trees_p05_j": t * 0.9, "trees_p95_j": t * 1.1}
            rows.append(row)
    return transfer.results_table(measurements, pd.DataFrame(rows))


def test_trees_are_scored_beside_the_model() -> None:
    s = transfer.score(_table({"a": 1.05, "b": 1.5}), "train")  # APE 5% and 50%; b's interval misses 4 J
    assert s.trees_median_ape == pytest.approx(0.275) and s.trees_coverage_90 == pytest.approx(0.5)
    assert s.median_ape == 0.0  # the model's own scores are unchanged
    row = transfer.score_rows([s])[0]
    assert row[-2:] == ("27.5%", "50%")
    page = transfer.page_body(["fake"], [_table({"a": 1.05, "b": 1.5})], [[s]], 1.0)
    assert "trees APE" in page and "27.5%" in page and "gradient-boosted" in page


def test_without_trees_the_rows_say_so() -> None:
    table = _table(None)
    assert table["trees_j"].isna().all()
    s = transfer.score(table, "train")
    assert s.trees_median_ape is None and s.trees_coverage_90 is None
    assert transfer.score_rows([s])[0][-2:] == ("—", "—")
    assert transfer.config_rows(table, "train")[0][-1] == "—"


def test_trees_fit_on_the_reference_runs_predict_the_design() -> None:
    runs = pd.read_csv(RUNS)
    trees = transfer.fit_trees(_profile(runs["run_id"]), RUNS)
    configs = transfer.design(quick=True)
    found = transfer.trees_predictions(trees, configs, samples=transfer.QUICK_SAMPLES)
    assert len(found) == 2 * len(configs) and list(found["phase"][:2]) == ["train", "inference"]
    assert (found["trees_j"] > 0).all() and (found["trees_p05_j"] <= found["trees_p95_j"]).all()
    measured = runs["energy_per_datum_j"]  # the trees predict within the range they were trained on
    assert found["trees_j"].between(measured.min() / 2, measured.max() * 2).all()
    again = transfer.trees_predictions(transfer.fit_trees(_profile(runs["run_id"]), RUNS), configs)
    assert np.array_equal(transfer.trees_predictions(trees, configs)["trees_j"], again["trees_j"])


def test_runs_the_profile_was_not_fit_on_are_refused() -> None:
    with pytest.raises(InputError, match="none of its runs") as caught:
        transfer.fit_trees(_profile([10**9]), RUNS)
    assert "\n" not in str(caught.value)


def test_where_the_trees_training_runs_come_from(tmp_path: Path) -> None:
    args = transfer.parse_args(["--quick"])
    assert transfer.trees_source(args, tmp_path) == transfer.REFERENCE_RUNS == RUNS
    args = transfer.parse_args(["--profile", str(tmp_path)])
    assert transfer.trees_source(args, tmp_path) is None
    args = transfer.parse_args(["--profile", str(tmp_path), "--runs", str(RUNS)])
    assert transfer.trees_source(args, tmp_path) == RUNS
    args = transfer.parse_args(["--calibrate-first", "1m"])
    assert transfer.trees_source(args, tmp_path) == tmp_path / "runs.sqlite"
    assert math.isnan(_table(None)["trees_p95_j"].iloc[0])
