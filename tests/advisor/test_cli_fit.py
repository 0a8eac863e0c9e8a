"""``advisor fit`` / ``evaluate`` on a small real calibration: diagnostics, --strict, plot, profile.

Report and argument checks call the entry point in-process. The calibration fixture, the --strict exit code and
evaluate (its only test) run the installed binary: those are the smoke tests of calibrate, fit and evaluate.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.cli import assert_one_line_error, call_cli, run_cli


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    result = run_cli("calibrate", "--budget", "2m", "--max-runs", "16", "--windows", "3", "--window", "0.03s",
                     "--idle", "0.1s", "--dataset", "synthetic:600,8,3", "--json", home=home)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return home


@pytest.mark.slow
def test_fit_saves_a_profile_with_plot_and_metadata(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plot = home / "fit.png"
    argv = ["fit", "--plot", str(plot), "--draws", "300", "--max-draws", "300", "--tune", "400", "--chains", "1"]
    code, out, _ = call_cli(*argv, "--json", home=home, monkeypatch=monkeypatch)
    report = json.loads(out)
    assert report["runs"] == 32 and report["meter_kinds"] == ["estimated"]
    assert report["saved"] and code == 0
    meta = json.loads((home / "profile" / "profile.json").read_text())
    assert meta["meter_kinds"] == ["estimated"] and len(meta["run_ids"]) == 16
    assert meta["diagnostics"]["draws"] == 300
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (home / "fit-tiers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # figure (b), beside it
    code, out, err = call_cli("predict", "--profile", str(home / "profile"), "--shape", "rectangle", "--depth", "3",
                              "--size", "4096", "--input-dim", "8", "--output-dim", "3", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["energy_median_j"] > 0


@pytest.mark.slow
def test_unconverged_fit_is_not_saved_under_strict(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "strict-profile"
    result = run_cli("fit", "--out", str(out), "--draws", "5", "--max-draws", "10", "--tune", "5", "--chains", "2",
                     "--strict", home=home)  # fmt: skip
    assert result.returncode == 1
    assert "did not converge" in result.stderr
    # 5 then 10 draws: the energy model cannot converge, and the bound is named
    assert "not converged within 10 draws; try --max-draws 20" in result.stderr
    assert not out.exists()


def test_fit_without_runs_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(call_cli("fit", home=tmp_path, monkeypatch=monkeypatch), "no run store")


@pytest.mark.slow
def test_evaluate_reports_model_baselines_and_noise_floor(home: Path) -> None:
    result = run_cli("evaluate", "--folds", "2", "--json", home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = [s["name"] for s in report["scores"]]
    assert names[0] == "tier model" and "energy ∝ FLOPs" in names
    assert report["scores"][0]["coverage_90"] is not None
    assert report["held_out"] == 32
