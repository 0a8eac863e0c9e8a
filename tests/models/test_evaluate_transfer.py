"""Transfer evaluation: which runs each scheme holds out (no leakage), the scores on hand-made cases, the
held-out params line, the stored summary's JSON, and the held-out figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from measurement.errors import InputError
from models.evaluate import (
    BOOSTED_TREES,
    HELD_OUT_PARAMS_LINE,
    EvaluationSummary,
    ScoreSummary,
    TransferEvaluation,
    evaluate,
    evaluate_transfer,
    params_line_predictions,
    score_held_out,
)
from models.holdout import PREDICTION_COLUMNS, HeldOut, figure_predictions, held_out_predictions
from models.plot import figure_paths, plot_error_histogram, plot_measured_vs_predicted
from models.sampling import FitConfig, FitError
from tests.fakes.energy import TIERS, synthetic_runs
from tests.fakes.fits import RecordingFit

PNG = b"\x89PNG\r\n\x1a\n"
OLD_SUMMARY = {  # as the shipped reference profile stored it before transfer evaluation existed
    "folds": 5, "held_out": 516, "noise_floor": 0.2560300739834364,
    "scores": {
        "tier model": {"median_ape": 0.2898, "within_10pct": 0.1357, "coverage_90": 0.8992},
        "energy \u221d FLOPs": {"median_ape": 0.9829, "within_10pct": 0.0213, "coverage_90": None},
    },
}  # fmt: skip


def _runs() -> pd.DataFrame:
    """Calibration runs at input widths 16, 128 and 1024, and probe runs of two data sets (64 and 13 inputs)."""
    calibration = synthetic_runs(36, seed=1)
    probes = synthetic_runs(8, seed=2, widths=((64, 10), (13, 3)))
    probes["sweep_kind"] = "probe"
    probes["dataset"] = np.where(probes["input_dim"] == 64, "digits", "wine")
    probes["config"] = "p" + probes["config"]
    return pd.concat([calibration, probes], ignore_index=True)


def test_width_scheme_holds_out_each_calibration_width_and_never_fits_on_it() -> None:
    runs, fake = _runs(), RecordingFit()
    held = held_out_predictions(runs, "width", TIERS, fit_fn=fake)
    assert held.skipped is None and held.fits == 3 and held.divergences == 3
    assert list(pd.unique(held.runs["group"])) == ["16", "128", "1024"]
    calibration = runs[runs["sweep_kind"] == "calibrate"]
    for width, trained in zip((16, 128, 1024), fake.trained_on, strict=True):
        assert width not in set(trained["input_dim"])  # the held-out width never reaches its own fit
        assert set(trained["input_dim"]) == {16, 128, 1024} - {width}
        assert (trained["sweep_kind"] == "calibrate").all()  # probes are neither fit on nor held out
        rows = held.runs[held.runs["group"] == str(width)]
        assert len(rows) == int((calibration["input_dim"] == width).sum())
        assert set(rows["config"]) == set(calibration.loc[calibration["input_dim"] == width, "config"])
    assert len(held.runs) == len(calibration) and len(held.baselines) == len(held.runs)
    assert list(held.runs.columns) == list(PREDICTION_COLUMNS)
    assert list(held.baseline_p5.columns) == list(held.baseline_p95.columns) == [BOOSTED_TREES]  # the one interval
    assert len(held.baseline_p5) == len(held.runs) and (held.baseline_p5 <= held.baseline_p95).all().all()


def test_dataset_scheme_predicts_every_probe_from_one_calibration_fit() -> None:
    runs, fake = _runs(), RecordingFit()
    held = held_out_predictions(runs, "dataset", TIERS, fit_fn=fake)
    assert held.fits == 1 and len(fake.trained_on) == 1
    assert (fake.trained_on[0]["sweep_kind"] == "calibrate").all()
    assert len(fake.trained_on[0]) == int((runs["sweep_kind"] == "calibrate").sum())
    probes = runs[runs["sweep_kind"] == "probe"]
    assert held.runs.groupby("group").size().to_dict() == probes.groupby("dataset").size().to_dict()
    assert not set(held.runs["config"]) & set(fake.trained_on[0]["config"])


def test_schemes_say_why_they_cannot_run() -> None:
    one_width = synthetic_runs(12, widths=((16, 4),))
    fake = RecordingFit()
    held = held_out_predictions(one_width, "width", TIERS, fit_fn=fake)
    assert "2 or more input widths" in held.skipped and held.runs.empty and not fake.trained_on
    result = evaluate_transfer(one_width, "dataset", TIERS, fit_fn=fake)
    assert "no probe runs" in result.skipped and result.overall is None and not fake.trained_on
    with pytest.raises(InputError, match="unknown"):
        held_out_predictions(one_width, "bogus", TIERS, fit_fn=fake)
    with pytest.raises(InputError, match="transfer scheme"):
        evaluate_transfer(one_width, "kfold", TIERS, fit_fn=fake)


def _held(measured, predicted, lo, hi, group=("a",) * 4, phase=("train",) * 4, params=(1e3, 1e4, 1e5, 1e6)) -> HeldOut:
    runs = pd.DataFrame({"group": list(group), "phase": list(phase), "config": [f"c{i}" for i in range(len(measured))],
                         "dataset": "d", "input_dim": 16, "params": list(params), "measured_j": measured,
                         "predicted_j": predicted, "predicted_p5_j": lo, "predicted_p95_j": hi})  # fmt: skip
    return HeldOut("width", runs, pd.DataFrame({"energy ∝ FLOPs": np.asarray(measured) * 3.0}), fits=1)


def test_scores_of_a_hand_made_case() -> None:
    measured = [1.0, 2.0, 4.0, 8.0]
    predicted = [1.05, 2.4, 2.0, 8.0]  # APE 5%, 20%, 50%, 0%; ratios 1.05, 1.2, 0.5, 1
    lo, hi = [1.0, 1.0, 1.0, 9.0], [1.1, 3.0, 3.0, 10.0]  # covers runs 1 and 2 only
    result = score_held_out(_held(measured, predicted, lo, hi), noise_floor=0.05)
    (group,) = result.groups
    model = group.model
    assert model.median_ape == pytest.approx(0.125)  # median of 0, 5, 20, 50 %
    assert model.within_10pct == pytest.approx(0.5)
    assert model.worst_ratio == pytest.approx(2.0)  # measured 4 J, predicted 2 J
    assert model.coverage_90 == pytest.approx(0.5)
    assert group.noise_ratio == pytest.approx(0.125 / 0.05)
    assert group.n == 4 and result.overall.n == 4
    flops = group.baselines["energy ∝ FLOPs"]
    assert flops.median_ape == pytest.approx(2.0) and flops.worst_ratio == pytest.approx(3.0)
    assert flops.within_10pct == 0.0 and flops.coverage_90 is None


def test_a_baseline_interval_is_scored_where_it_states_one() -> None:
    measured = [1.0, 2.0, 4.0, 8.0]
    held = _held(measured, measured, measured, measured)
    trees = np.asarray(measured) * 1.5  # APE 50% each
    held = HeldOut(
        "width", held.runs, held.baselines.assign(**{BOOSTED_TREES: trees}), fits=1,
        baseline_p5=pd.DataFrame({BOOSTED_TREES: [0.5, 2.5, 3.0, 1.0]}),  # covers runs 1, 3 and 4
        baseline_p95=pd.DataFrame({BOOSTED_TREES: [1.5, 3.0, 5.0, 9.0]}),
    )  # fmt: skip
    result = score_held_out(held, noise_floor=None)
    for group in (result.groups[0], result.overall):
        assert group.baselines[BOOSTED_TREES].coverage_90 == pytest.approx(0.75)
        assert group.baselines[BOOSTED_TREES].median_ape == pytest.approx(0.5)
        assert group.baselines["energy ∝ FLOPs"].coverage_90 is None


def test_held_out_params_line_is_its_closed_form() -> None:
    params = np.array([1e3, 1e4, 1e5, 1e6, 2e3, 3e4])
    measured = np.array([1e-6, 3e-6, 2e-5, 5e-4, 1e-7, 9e-7])
    runs = pd.DataFrame({"group": ["a", "a", "a", "a", "b", "b"],
                         "phase": ["train", "train", "inference", "inference", "train", "train"],
                         "params": params, "measured_j": measured})  # fmt: skip
    got = params_line_predictions(runs)
    for rows in ([0, 1], [2, 3], [4, 5]):  # one constant per held-out group and phase
        a = np.exp(np.median(np.log(measured[rows]) - np.log(params[rows])))
        assert np.allclose(got[rows], a * params[rows])
    held = _held(list(measured[:4]), list(measured[:4]), [0.0] * 4, [1.0] * 4, params=params[:4])
    line = score_held_out(held, None).groups[0].baselines[HELD_OUT_PARAMS_LINE]
    expected = np.abs(params_line_predictions(held.runs) / measured[:4] - 1.0)
    assert line.median_ape == pytest.approx(float(np.median(expected)))


def test_transfer_scores_through_a_known_fit() -> None:
    runs, fake = _runs(), RecordingFit(factor=1.2)
    result = evaluate_transfer(runs, "width", TIERS, noise_floor=0.04, fit_fn=fake)
    assert [g.group for g in result.groups] == ["16", "128", "1024"] and result.divergences == 3
    for g in (*result.groups, result.overall):
        assert g.model.median_ape == pytest.approx(0.2) and g.model.within_10pct == 0.0
        assert g.model.worst_ratio == pytest.approx(1.2) and g.noise_ratio == pytest.approx(5.0)
        assert HELD_OUT_PARAMS_LINE in g.baselines and "energy ∝ params" in g.baselines
        assert 0.0 <= g.baselines[BOOSTED_TREES].coverage_90 <= 1.0
    assert result.overall.n == int((runs["sweep_kind"] == "calibrate").sum())


def test_kfold_runs_on_the_same_machinery() -> None:
    runs = synthetic_runs(20)
    result = evaluate(runs, TIERS, folds=4, noise_floor=0.1, fit_fn=RecordingFit(factor=0.8))
    assert result.held_out == len(runs) and result.folds == 4 and result.divergences == 4
    model = result.scores[0]
    assert model.name == "tier model" and model.median_ape == pytest.approx(0.2)
    assert {s.name for s in result.scores} >= {"energy ∝ FLOPs", "log-log regression", BOOSTED_TREES}
    coverage = {s.name: s.coverage_90 for s in result.scores}
    assert 0.0 <= coverage[BOOSTED_TREES] <= 1.0 and coverage["log-log regression"] is None
    trees = next(s for s in result.scores if s.name == BOOSTED_TREES)
    assert set(trees.per_phase_median_ape) == {"train", "inference"}  # 30 training rows: too few for its leaves


def test_summary_json_round_trip_and_ranges() -> None:
    transfer = evaluate_transfer(_runs(), "dataset", TIERS, noise_floor=0.04, fit_fn=RecordingFit())
    skipped = TransferEvaluation("width", 0.04, skipped="needs calibration runs at 2 or more input widths")
    summary = EvaluationSummary(5, 100, 0.03, {"tier model": ScoreSummary(0.05, 0.8, 0.9)},
                                {"dataset": transfer, "width": skipped})  # fmt: skip
    text = json.dumps(summary.to_dict(), allow_nan=False)
    assert EvaluationSummary.from_dict(json.loads(text)) == summary
    bad = json.loads(text)
    bad["transfer"]["dataset"]["overall"]["model"]["worst_ratio"] = 0.5
    with pytest.raises(InputError, match="worst_ratio"):
        EvaluationSummary.from_dict(bad)
    bad = json.loads(text)
    bad["transfer"]["dataset"]["scheme"] = "folds"
    with pytest.raises(InputError, match="scheme"):
        EvaluationSummary.from_dict(bad)


def test_a_summary_stored_before_transfer_evaluation_still_loads() -> None:
    old = json.loads(json.dumps(OLD_SUMMARY))
    summary = EvaluationSummary.from_dict(old)
    assert summary.folds == 5 and summary.transfer == {} and "tier model" in summary.scores
    only_transfer = EvaluationSummary.from_dict({**old, "folds": None, "held_out": 0, "scores": {}})
    assert only_transfer.folds is None


def test_held_out_figures_are_written(tmp_path: Path) -> None:
    runs, fake = _runs(), RecordingFit()
    held = figure_predictions(runs, TIERS, fit_fn=fake)
    assert held.scheme == "width"
    paths = figure_paths(tmp_path / "fit.png")
    assert paths == {"measured": tmp_path / "fit-measured.png", "errors": tmp_path / "fit-errors.png"}
    in_sample = held.runs.assign(group="in-sample")
    plot_measured_vs_predicted(in_sample, held.runs, paths["measured"], "leave-one-input-width-out", estimated=True)
    plot_error_histogram(held.runs, paths["errors"], "leave-one-input-width-out")
    for path in paths.values():
        assert path.read_bytes()[:8] == PNG
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic: no temporary left behind


def test_figures_fall_back_to_kfold_with_one_width() -> None:
    one_width, fake = synthetic_runs(12, widths=((16, 4),)), RecordingFit()
    held = figure_predictions(one_width, TIERS, fit_fn=fake)
    assert held.scheme == "kfold" and held.fits == 5 and len(held.runs) == len(one_width)
    assert held.baselines.columns.empty and held.baseline_p5.columns.empty  # the figures fit no baselines


@pytest.mark.slow
def test_leave_one_width_out_with_the_real_model_keeps_the_held_out_width_honest() -> None:
    result = evaluate_transfer(synthetic_runs(60, seed=3), "width", TIERS, noise_floor=0.05,
                               fit_config=FitConfig(draws=100, tune=150, chains=1))  # fmt: skip
    assert [g.group for g in result.groups] == ["16", "128", "1024"]
    assert result.overall.n == 120 and 0.0 <= result.overall.model.coverage_90 <= 1.0
    assert result.overall.model.worst_ratio >= 1.0 and result.overall.noise_ratio > 0


class _FailsWithoutAllWidths(RecordingFit):
    """A fit the data cannot support unless it sees all three widths (as too few runs would be)."""

    def __call__(self, frame, config, tiers):
        if frame["input_dim"].nunique() < 3:
            raise FitError("need at least 8 usable runs to fit, got 4")
        return super().__call__(frame, config, tiers)


def test_a_split_the_data_cannot_fit_is_named_and_figures_fall_back(tmp_path: Path) -> None:
    runs = synthetic_runs(24)
    with pytest.raises(FitError, match="width evaluation, holding out 16: need at least 8"):
        held_out_predictions(runs, "width", TIERS, fit_fn=_FailsWithoutAllWidths())
    held = figure_predictions(runs, TIERS, fit_fn=_FailsWithoutAllWidths())
    assert held.scheme == "kfold" and len(held.runs) == len(runs)


def test_figures_without_held_out_runs_still_write(tmp_path: Path) -> None:
    held = figure_predictions(synthetic_runs(1, widths=((16, 4),)), TIERS, fit_fn=RecordingFit())
    assert held.runs.empty and held.skipped
    empty_in_sample = held.runs.assign(group="in-sample")
    plot_measured_vs_predicted(empty_in_sample, held.runs, tmp_path / "a.png")
    plot_error_histogram(held.runs, tmp_path / "c.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG and (tmp_path / "c.png").read_bytes()[:8] == PNG


def _days(slow_day_factor: float) -> pd.DataFrame:
    """Calibration runs over three UTC days, a sentinel config on each (its energy moving by day), the last day
    ``slow_day_factor`` slower in every run."""
    runs = synthetic_runs(30, seed=3)
    day = runs["run_id"].to_numpy() % 3
    runs["finished_unix_s"] = 1_800_000_000.0 + day * 86_400.0 + runs["run_id"].to_numpy()
    sentinel = runs["run_id"].to_numpy() < 3  # config c0..c2: one per day, the same "sentinel" key
    runs["run_key"] = np.where(sentinel, "sentinel/r" + runs["run_id"].astype(str), runs["run_key"])
    runs["sentinel"] = sentinel.astype(int)
    runs.loc[sentinel, "dataset"] = "synthetic:4096,128,10"  # one sentinel config, on one data set
    shift = np.where(sentinel, np.array([0.0, 0.5, -0.4])[day], 0.0) + np.where(day == 2, np.log(slow_day_factor), 0)
    runs["log_energy"] = runs["log_energy"] + shift
    runs["energy_per_datum_j"] = np.exp(runs["log_energy"])
    return runs


def test_day_scheme_holds_out_each_calibration_day_and_widens_by_the_learnt_spread() -> None:
    runs, fake = _days(slow_day_factor=1.5), RecordingFit(factor=1.0, noise_sd=0.01)
    held = held_out_predictions(runs, "day", TIERS, fit_fn=fake, baselines=False)
    assert held.skipped is None and held.fits == 3
    assert list(pd.unique(held.runs["group"])) == ["2027-01-15", "2027-01-16", "2027-01-17"]
    days = (runs["finished_unix_s"] // 86_400).to_numpy()
    for held_day, trained in zip(sorted(set(days)), fake.trained_on, strict=True):
        assert held_day not in set(trained["finished_unix_s"] // 86_400)  # a day never reaches its own fit
    widths = np.log(held.runs["predicted_p95_j"] / held.runs["predicted_p5_j"])
    assert (widths > 2 * 1.645 * 0.1).all()  # the day-to-day spread (prior and sentinels), not the 1% run noise
    by_group = widths.groupby(held.runs["group"]).median()
    assert by_group["2027-01-17"] > 1.5 * by_group["2027-01-16"]  # days 0 and 1's sentinels disagree more


def test_day_scheme_needs_two_days() -> None:
    runs = _days(1.0)
    runs["finished_unix_s"] = 1_800_000_000.0
    held = held_out_predictions(runs, "day", TIERS, fit_fn=RecordingFit(), baselines=False)
    assert held.fits == 0 and "2 or more days" in held.skipped
