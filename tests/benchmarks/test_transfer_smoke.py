"""benchmarks/transfer.py's core functions on hand-made numbers, a fake profile and the replay meter (not timed)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from measurement.architecture import DEPTHS, SHAPES, size_architecture
from measurement.meters.replay import ReplayMeter

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION_WIDTHS = {8, 16, 32, 128, 512, 2048}


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("transfer_benchmark", ROOT / "benchmarks" / "transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


transfer = _load_benchmark()


class FakeProfile:
    """Predicts 2 x params x 1e-9 J per datum, interval [0.5x, 1.5x]; records what it was asked."""

    display_name = "fake"

    def __init__(self) -> None:
        self.asked: pd.DataFrame | None = None

    def predict(self, configs: pd.DataFrame) -> pd.DataFrame:
        self.asked = configs
        params = np.array([size_architecture(r.shape, r.depth, r.size, r.input_dim, r.output_dim).params
                           for r in configs.itertuples()], float)  # fmt: skip
        median = 2e-9 * params
        return configs.assign(energy_median_j=median, predictive_p05_j=0.5 * median, predictive_p95_j=1.5 * median)


def _measurement(label: str, params: int, pass1: float, pass2: float) -> object:
    config = transfer.TransferConfig(label, 3, params, 784, 10, 32)
    return transfer.Measurement(config, params, {"train": pass1, "inference": 1.0}, {"train": pass2, "inference": 1.0})


def _hand_table() -> pd.DataFrame:
    """Four configs: measured means 1.1, 2, 4, 8 J; predicted x1.05, x0.8, x1.2, x1.0; one outside its 90%."""
    measurements = [_measurement("a", 1000, 1.0, 1.2), _measurement("b", 2000, 2.0, 2.0),
                    _measurement("c", 4000, 3.0, 5.0), _measurement("d", 4000, 8.0, 8.0)]  # fmt: skip
    predicted = {"a": 1.155, "b": 1.6, "c": 4.8, "d": 8.0}
    rows = []
    for m in measurements:
        label, value = m.config.label, predicted[m.config.shape]
        low = value * 1.5 if m.config.shape == "c" else value * 0.5  # c's interval misses its measurement
        rows.append({"label": label, "phase": "train", "batch_size": 32, "predicted_j": value, "p05_j": low,
                     "p95_j": value * 2})  # fmt: skip
        rows.append({"label": label, "phase": "inference", "batch_size": 256, "predicted_j": 1.0, "p05_j": 0.9,
                     "p95_j": 1.1})  # fmt: skip
    return transfer.results_table(measurements, pd.DataFrame(rows))


def test_design_spans_every_shape_at_two_unseen_widths_off_the_grid() -> None:
    configs = transfer.design()
    assert len(configs) >= 24
    widths = {(c.input_dim, c.output_dim) for c in configs}
    assert widths == {(784, 10), (100, 5)} and not {i for i, _ in widths} & CALIBRATION_WIDTHS
    for width in widths:
        assert {c.shape for c in configs if (c.input_dim, c.output_dim) == width} == {s.value for s in SHAPES}
    assert {c.batch_size for c in configs} == {32, 256, 1024}
    assert min(c.depth for c in configs) == 2 and max(c.depth for c in configs) == 20
    assert {11, 13, 17, 19} <= {c.depth for c in configs} - set(DEPTHS)
    assert all(c.size & (c.size - 1) for c in configs)  # no size is a power of two
    archs = [size_architecture(c.shape, c.depth, c.size, c.input_dim, c.output_dim) for c in configs]
    assert not any(a.off_target for a in archs)
    assert 1e3 <= min(a.params for a in archs) < 2e3 and 5e6 < max(a.params for a in archs) <= 1e7
    assert len(transfer.design(quick=True)) == 4


def test_pass_two_runs_in_reverse_order_and_the_value_is_the_mean() -> None:
    configs = transfer.design(quick=True)
    calls: list[str] = []

    def measure(config):
        calls.append(config.label)
        return 100, {"train": float(len(calls)), "inference": 2.0 * len(calls)}

    measurements = transfer.measure_twice(configs, measure)
    labels = [c.label for c in configs]
    assert calls == labels + labels[::-1]
    first = measurements[0]  # measured 1st in pass 1 and 8th in pass 2
    assert (first.pass1_j["train"], first.pass2_j["train"]) == (1.0, 8.0)
    assert first.measured_j("train") == 4.5 and first.measured_j("inference") == 9.0


def test_scores_match_hand_computed_values() -> None:
    s = transfer.score(_hand_table(), "train")
    assert s.configs == 4
    assert s.median_ape == pytest.approx(0.125)  # APEs 0.05, 0.2, 0.2, 0
    assert s.within_10pct == pytest.approx(0.5)
    assert s.worst_ratio == pytest.approx(1.25)  # 0.8 is 1.25x too low
    assert s.coverage_90 == pytest.approx(0.75)
    assert s.noise_floor == pytest.approx((0.2 / 1.1 + 0.0) / 2)  # pass differences 0.2/1.1, 0, 2/4, 0
    # params line: E/params = 1.1e-3, 1e-3, 1e-3, 2e-3 -> a = 1e-3 * sqrt(1.1); its median APE is sqrt(1.1) - 1
    assert s.params_line_ape == pytest.approx(math.sqrt(1.1) - 1)
    assert s.improvement == pytest.approx((math.sqrt(1.1) - 1) / 0.125)
    assert s.ape_over_floor == pytest.approx(0.125 / (0.1 / 1.1))
    inference = transfer.score(_hand_table(), "inference")
    assert (inference.median_ape, inference.noise_floor, inference.coverage_90) == (0.0, 0.0, 1.0)


def test_params_line_coefficient_is_the_median_log_ratio() -> None:
    a = transfer.params_line_coefficient(np.array([2.0, 8.0, 30.0]), np.array([1.0, 2.0, 10.0]))
    assert a == pytest.approx(3.0)  # ratios 2, 4, 3: the median is 3


def test_a_rejected_pass_leaves_the_config_out() -> None:
    table = _hand_table()
    table.loc[(table["label"] == table["label"].iloc[0]) & (table["phase"] == "train"), "measured_j"] = math.nan
    assert transfer.score(table, "train").configs == 3


def test_acceptance_names_each_bound() -> None:
    good = transfer.PhaseScore("train", 24, 0.05, 0.9, 1.3, 0.9, 0.03, 0.3)
    assert all(ok for _, ok in transfer.acceptance(good))
    bad = transfer.PhaseScore("train", 24, 0.12, 0.4, 1.6, 0.99, 0.02, 0.2)
    verdicts = dict(transfer.acceptance(bad))
    assert not any(verdicts.values())
    assert any("worst ratio 1.60x" in text for text in verdicts)


def test_predict_asks_the_profile_for_both_phases() -> None:
    profile = FakeProfile()
    configs = transfer.design(quick=True)
    frame = transfer.predict(profile, configs)
    assert len(frame) == 2 * len(configs)
    asked = profile.asked
    assert list(asked["phase"][:2]) == ["train", "inference"]
    assert list(asked["batch_size"][:2]) == [configs[0].batch_size, 256]
    params = size_architecture(configs[0].shape, configs[0].depth, configs[0].size, 784, 10).params
    assert frame["predicted_j"].iloc[0] == pytest.approx(2e-9 * params)
    assert frame["p05_j"].iloc[0] == pytest.approx(1e-9 * params)


def test_harness_measures_tiny_configs_with_the_replay_meter(tmp_path: Path) -> None:
    meter = ReplayMeter(ROOT / "data" / "replay_readings.csv")
    measure = transfer.HarnessMeasure(meter, samples=200, windows=3, window_s=0.01)
    configs = transfer.design(quick=True)[:2]
    measurements = transfer.measure_twice(configs, measure)
    for m in measurements:
        arch = size_architecture(m.config.shape, m.config.depth, m.config.size, m.config.input_dim, 10)
        assert m.params == arch.params
        assert all(math.isfinite(v) and v > 0 for v in (*m.pass1_j.values(), *m.pass2_j.values()))
    table = transfer.results_table(measurements, transfer.predict(FakeProfile(), configs))
    out = tmp_path / "transfer.json"
    scores = [transfer.score(table, phase) for phase in transfer.PHASES]
    transfer.write_json(out, table, scores, 1.0)
    blob = json.loads(out.read_text())
    assert len(blob["rows"]) == 4 and blob["scores"][0]["phase"] == "train"
    assert blob["scores"][0]["noise_floor"] == pytest.approx(scores[0].noise_floor)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert transfer.main(["--profile", str(tmp_path / "missing"), "--quick"]) == 2
    assert transfer.main(["--quick", "--json", str(tmp_path / "no" / "such" / "out.json")]) == 2
    assert transfer.main(["--quick", "--calibrate-first", "ten minutes"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)


@pytest.mark.slow
def test_calibrate_first_gives_a_profile_that_predicts_the_design(tmp_path: Path) -> None:
    from advisor.api import load_profile
    from advisor.calibration import CalibrationRequest, meter_options
    from advisor.fitting import FitRequest
    from measurement.records import TrainConfig

    store = tmp_path / "runs.sqlite"
    calibration = CalibrationRequest(
        budget_s=120.0, store=store, meter=meter_options("replay", replay=ROOT / "data" / "replay_readings.csv"),
        dataset="synthetic:600,8,3", config=TrainConfig(windows=3, window_s=0.03), max_runs=16, idle_s=0.0,
    )  # fmt: skip
    lines: list[str] = []
    request = FitRequest(store=store, out=tmp_path / "profile", draws=300, max_draws=300, tune=400, chains=1)
    folder = transfer.calibrate_first(calibration, request, lines.append)
    assert folder == tmp_path / "profile"
    assert lines[0].startswith("calibrating: 10 runs") and lines[-2].startswith("calibrated: 16 runs")
    frame = transfer.predict(load_profile(folder, warn_on_other_hardware=False), transfer.design(quick=True))
    assert len(frame) == 8 and (frame["predicted_j"] > 0).all()
    assert (frame["p05_j"] < frame["predicted_j"]).all() and (frame["predicted_j"] < frame["p95_j"]).all()
