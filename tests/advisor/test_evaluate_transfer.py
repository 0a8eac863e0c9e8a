"""``advisor evaluate`` with transfer schemes: --scheme parsing, one-line errors, tables and JSON per scheme,
and merging into a stored summary. The energy fit and the boosted-trees baseline are faked
(``models.energy.fit``, ``models.baselines.fit_boosted``): these test the plumbing and the rendering; the
scores themselves are tested in tests/models/test_evaluate_transfer.py, the trees in
tests/models/test_baselines.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from advisor.evaluation import calibration_noise_floor, merge_summaries, parse_schemes
from measurement.errors import InputError
from measurement.records import noise_floor
from models.evaluate import EvaluationSummary, ScoreSummary, TransferEvaluation
from tests.fakes.cli import DATA, assert_one_line_error, call_cli
from tests.fakes.energy import synthetic_runs
from tests.fakes.fits import FactorPosterior, RecordingFit, constant_boosted

RUNS = DATA / "reference" / "runs.csv"


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch) -> RecordingFit:
    fake = RecordingFit(factor=1.25)
    monkeypatch.setattr("models.energy.fit", fake)
    monkeypatch.setattr("models.baselines.fit_boosted", constant_boosted)  # three tree fits per split: ~1 s
    return fake


def test_parse_schemes() -> None:
    assert parse_schemes("all") == ("kfold", "width", "dataset", "day", "accuracy")
    assert parse_schemes("accuracy") == ("accuracy",)
    assert parse_schemes("dataset, KFOLD") == ("kfold", "dataset")
    assert parse_schemes("width") == ("width",)
    for bad in ("", "widths", "kfold,nope", ","):
        with pytest.raises(InputError, match="scheme must be"):
            parse_schemes(bad)


@pytest.mark.parametrize(("args", "fragment"), [
    (("--scheme", "loo"), "scheme must be"),
    (("--scheme", ""), "scheme must be"),
    (("--folds", "1"), "folds must be between"),
    (("--folds", "0"), "positive"),
])  # fmt: skip
def test_bad_flags_are_one_line_errors(args, fragment, fake_fit, monkeypatch, tmp_path: Path) -> None:
    result = call_cli("evaluate", "--runs", str(RUNS), *args, home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, fragment)
    assert not fake_fit.trained_on  # refused before any fitting


def test_json_holds_every_scheme(fake_fit, monkeypatch, tmp_path: Path) -> None:
    code, out, err = call_cli("evaluate", "--runs", str(RUNS), "--json", "--scheme", "kfold,width,dataset",
                              home=tmp_path, monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["folds"] == 5 and report["scores"][0]["name"] == "tier model"
    width, dataset = report["transfer"]
    assert width["scheme"] == "width" and width["skipped"] is None  # the calibration spans five input widths
    assert sorted(int(g["group"]) for g in width["groups"]) == [8, 32, 128, 512, 2048]
    assert dataset["scheme"] == "dataset" and dataset["skipped"] is None
    assert sorted(g["group"] for g in dataset["groups"]) == ["breast_cancer", "diabetes", "digits", "wine"]
    assert dataset["overall"]["model"]["median_ape"] == pytest.approx(0.25)
    runs = pd.read_csv(RUNS)
    floor = noise_floor(runs[runs["sweep_kind"] == "calibrate"])[0]
    assert dataset["noise_floor"] == pytest.approx(floor) == pytest.approx(calibration_noise_floor(runs))
    assert dataset["overall"]["noise_ratio"] == pytest.approx(0.25 / floor)
    assert "energy ∝ params (fit on the held-out runs)" in dataset["overall"]["baselines"]
    names = [s["name"] for s in report["scores"]]
    assert names == ["tier model", "energy ∝ FLOPs", "energy ∝ params", "log-log regression", "gradient-boosted trees"]
    assert report["scores"][-1]["coverage_90"] is not None and report["scores"][-2]["coverage_90"] is None
    for scheme in (width, dataset):  # the boosted trees beside the model wherever it is scored, with an interval
        for group in (*scheme["groups"], scheme["overall"]):
            trees = group["baselines"]["gradient-boosted trees"]
            assert trees["median_ape"] >= 0.0 and 0.0 <= trees["coverage_90"] <= 1.0
    assert len(fake_fit.trained_on) == 5 + 5 + 1  # five folds, five widths, one calibration fit for the data sets


def test_tables_per_scheme(fake_fit, monkeypatch, tmp_path: Path) -> None:
    code, out, err = call_cli("evaluate", "--runs", str(RUNS), "--scheme", "width,dataset", home=tmp_path,
                              monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    assert "k-fold hold-out" not in out and len(fake_fit.trained_on) == 5 + 1  # five widths, one for the data sets
    assert "leave-one-input-width-out" in out and "2048" in out
    assert "new data set" in out and "digits" in out and "line*" in out and "25.0%" in out
    assert out.count("trees") >= 4  # a column of each transfer table, and its caption
    code, out, err = call_cli("evaluate", "--runs", str(RUNS), "--scheme", "kfold", home=tmp_path,
                              monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    assert "5-fold hold-out" in out and "gradient-boosted trees" in out


def test_saving_keeps_the_stored_figures_of_schemes_not_run() -> None:
    kfold = EvaluationSummary(5, 100, 0.03, {"tier model": ScoreSummary(0.05, 0.8, 0.9)},
                              {"width": TransferEvaluation("width", 0.03, skipped="one width")})  # fmt: skip
    dataset = TransferEvaluation("dataset", 0.03, skipped="no probe runs")
    new = EvaluationSummary(None, 0, 0.03, {}, {"dataset": dataset})
    merged = merge_summaries(new, kfold, ("dataset",))
    assert merged.folds == 5 and merged.scores == kfold.scores
    assert merged.transfer == {"width": kfold.transfer["width"], "dataset": dataset}
    assert merge_summaries(new, None, ("dataset",)) == new


def test_fit_plot_writes_the_held_out_figures_beside_the_plot(fake_fit, tmp_path: Path) -> None:
    from advisor.fitting import _plot_held_out

    frame = synthetic_runs(24)  # three input widths: held out by width
    profile = SimpleNamespace(energy=FactorPosterior(frame), metadata=SimpleNamespace(estimated=True))
    _plot_held_out(profile, frame, tmp_path / "fit.png")
    for name in ("fit-measured.png", "fit-errors.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fake_fit.trained_on) == 3 and all(len(set(t["input_dim"])) == 2 for t in fake_fit.trained_on)


def test_fit_refuses_an_unwritable_companion_figure_before_fitting(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "fit-errors.png").mkdir()
    result = call_cli("fit", "--plot", str(tmp_path / "fit.png"), home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, "fit-errors.png")
