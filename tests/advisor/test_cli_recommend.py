"""``advisor recommend`` / ``predict`` on the shipped reference profile, the API, and bad input.

Output and argument checks call the entry point in-process; a smoke test per command runs the installed binary.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

import advisor
from tests.fakes.cli import assert_one_line_error, call_cli, run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def profile_dir(advising_profile_dir: Path) -> Path:
    """The fake energy posterior with hand-made (real-format) accuracy posteriors, saved once per session."""
    return advising_profile_dir


def _recommend(profile_dir: Path, *args: str) -> tuple[int, str, str]:
    return call_cli("recommend", "--profile", str(profile_dir), *args)


def test_installed_recommend_runs(profile_dir: Path) -> None:
    result = run_cli("recommend", "--profile", str(profile_dir), "--dataset", "digits", "--accuracy", "0.95",
                     "--top", "3", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["estimated"] is True and len(answer["recommendations"]) == 3


def test_installed_predict_runs() -> None:
    result = run_cli("predict", "--shape", "rectangle", "--depth", "3", "--size", "4096", "--input-dim", "64",
                     "--output-dim", "10", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["estimated"] is True


def test_recommend_json_matches_the_api(profile_dir: Path) -> None:
    code, out, err = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--top", "3", "--json",
                                "--objective", "training-energy")  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["estimated"] is True and "ESTIMATE" in answer["message"] and answer["reason"].startswith("wins:")
    table = advisor.recommend(advisor.load_profile(profile_dir), "digits", 0.95, top=3, objective="training-energy")
    assert [r["params"] for r in answer["recommendations"]] == table["params"].tolist()
    row = answer["recommendations"][0]
    for column in ("shapes", "epochs", "energy_per_datum_j", "training_energy_j", "training_p05_j",
                   "inference_energy_per_prediction_j", "p_meet", "tier"):  # fmt: skip
        assert column in row
    assert all(r["p_meet"] >= 0.9 for r in answer["recommendations"])


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--objective", "training-energy", "--grid-g-per-kwh", "400"],
        ["--objective", "lifecycle", "--predictions", "1000000", "--grid-g-per-kwh", "50", "--top", "30"],
        ["--epochs", "1000", "--shapes", "trapezoid,wide_first_16x", "--top", "40"],
    ],
)
def test_table_fits_80_columns_with_nothing_cut(profile_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                options: list[str]) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", *options)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out and "..." not in out
    header = next(line for line in lines if line.lstrip().startswith("#"))
    for column in ("shapes", "widths", "params", "lr", "batch", "epochs", "J/datum", "train J", "P", "tier"):
        assert column in header, header
    assert "J " in out and "µJ" in out  # SI-prefixed joules, not raw powers of ten
    assert any(line.startswith("wins:") for line in lines)
    assert any(line.startswith("shapes: ") for line in lines)  # the legend of the abbreviations


def test_depth_two_networks_are_listed_once(profile_dir: Path) -> None:
    code, out, err = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.5", "--max-depth", "2",
                                "--top", "100", "--json")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["recommendations"]
    assert len({r["widths"] for r in rows}) == len(rows) > 5
    assert all(len(r["shapes"].split(",")) == 8 for r in rows)
    _, text, _ = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.5", "--max-depth", "2")
    assert "all 8" in text


def test_wide_shows_intervals_and_full_names(profile_dir: Path) -> None:
    code, out, err = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--wide", "--min-depth", "3")
    assert code == 0, err
    assert "J/datum 90%" in out and "train J 90%" in out and "J/pred" in out
    _, answer, _ = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--min-depth", "3", "--json")
    top = json.loads(answer)["recommendations"][0]
    assert top["shapes"].split(",")[0] in out  # full shape names, not abbreviations


def test_plot_writes_a_png_after_checking_the_destination(profile_dir: Path, tmp_path: Path) -> None:
    figure = tmp_path / "energy.png"
    code, _, err = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--plot", str(figure))
    assert code == 0, err
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["energy.png"]  # atomic: no temporary left behind
    assert_one_line_error(_recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--plot",
                                     str(tmp_path / "missing" / "x.png")), "does not exist")  # fmt: skip
    assert_one_line_error(_recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--plot",
                                     str(tmp_path / "x.txt")), "png")  # fmt: skip


def test_recommend_infeasible_message(profile_dir: Path) -> None:
    code, out, _ = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.9999", "--json")
    assert code == 0
    answer = json.loads(out)
    assert answer["recommendations"] == [] and "best achievable accuracy" in answer["message"]
    code, out, _ = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.9999")
    assert code == 0 and "best achievable accuracy" in " ".join(out.split()) and "wins:" not in out


def test_regression_budget_is_a_loss(profile_dir: Path) -> None:
    code, out, err = _recommend(profile_dir, "--dataset", "diabetes", "--accuracy", "0.05", "--json")
    assert code == 0, err
    rows = json.loads(out)["recommendations"]
    assert rows and all(r["expected_score"] < 0.05 for r in rows)


def test_predict_json() -> None:
    code, out, err = call_cli("predict", "--shape", "trapezoid", "--depth", "4", "--size", "2^14", "--input-dim",
                              "64", "--output-dim", "10", "--json")  # fmt: skip
    assert code == 0, err
    row = json.loads(out)
    assert row["energy_p05_j"] < row["energy_median_j"] < row["energy_p95_j"]
    assert row["tier"].startswith(("<=", ">", "tier ")) and row["estimated"] is True


def test_predict_on_a_probed_data_set_uses_its_cost_factors() -> None:
    """digits was probed for the reference profile: its fitted cost factors move the prediction, and a data
    set the fit never saw is refused in one line."""
    config = ("--shape", "trapezoid", "--depth", "4", "--size", "2^14", "--input-dim", "61", "--output-dim", "10")
    rows = {}
    for extra in ((), ("--dataset", "digits")):
        code, out, err = call_cli("predict", *config, *extra, "--json")
        assert code == 0, err
        rows[extra] = json.loads(out)
    unseen, digits = rows[()], rows[("--dataset", "digits")]
    assert unseen["energy_median_j"] != digits["energy_median_j"] and digits["dataset"] == "digits"

    def spread(row: dict) -> float:  # of one new measurement: an unseen data set adds a new data set's factors
        return row["predictive_p95_j"] / row["predictive_p05_j"]

    assert spread(digits) < spread(unseen)
    code, out, err = call_cli("predict", *config, "--dataset", "digits")
    assert code == 0 and "digits (its fitted cost factors)" in " ".join(out.split())
    code, out, err = call_cli("predict", *config, "--dataset", "mnist")
    assert code == 2 and "did not see data set 'mnist'" in err and len(err.strip().splitlines()) == 1
    wider = [a if a != "61" else "784" for a in config]  # digits has 61 inputs (its constant columns dropped)
    code, out, err = call_cli("predict", *wider, "--dataset", "digits")
    assert code == 2 and "'digits' has 61 inputs and 10 outputs, not 784 -> 10" in err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dataset", "digits", "--accuracy", "1.5"], "accuracy"),
        (["--dataset", "digits", "--accuracy", "0"], "accuracy"),
        (["--dataset", "digits", "--accuracy", "0.9", "--confidence", "1"], "confidence"),
        (["--dataset", "digits", "--accuracy", "0.9", "--confidence", "-0.2"], "confidence"),
        (["--dataset", "mnist", "--accuracy", "0.9"], "no accuracy model"),
        (["--dataset", "digits", "--accuracy", "0.9", "--shapes", ""], "empty"),
        (["--dataset", "digits", "--accuracy", "0.9", "--shapes", "triangle"], "unknown shape"),
        (["--dataset", "digits", "--accuracy", "0.9", "--min-depth", "9", "--max-depth", "3"], "no candidate"),
        (["--dataset", "digits", "--accuracy", "0.9", "--objective", "speed"], "objective"),
        (["--dataset", "digits", "--accuracy", "0.9", "--objective", "lifecycle"], "predictions"),
        (["--dataset", "digits", "--accuracy", "0.9", "--epochs", "often"], "epochs"),
        (["--dataset", "digits", "--accuracy", "0.9", "--epochs", "0"], "epochs"),
        (["--dataset", "digits", "--accuracy", "0.9", "--epochs", "10000000"], "epochs"),
        (["--dataset", "digits", "--accuracy", "0.9", "--predictions", "-3"], "predictions"),
        (["--dataset", "digits", "--accuracy", "0.9", "--grid-g-per-kwh", "-5"], "grid-g-per-kwh"),
        (["--dataset", "digits", "--accuracy", "0.9", "--grid-g-per-kwh", "9000"], "carbon"),
        (["--dataset", "digits", "--accuracy", "x"], "accuracy"),
    ],
)
def test_recommend_bad_input(profile_dir: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(_recommend(profile_dir, *args), fragment)


def test_recommend_missing_profile() -> None:
    assert_one_line_error(call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9", "--profile",
                                   "/nonexistent"), "no profile")  # fmt: skip


def test_probe_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert_one_line_error(call_cli("probe", str(data), home=tmp_path, monkeypatch=monkeypatch), "target")
    assert_one_line_error(call_cli("probe", "mnist", home=tmp_path, monkeypatch=monkeypatch), "unknown dataset")
    assert_one_line_error(
        call_cli("probe", "digits", "--epochs", "0", home=tmp_path, monkeypatch=monkeypatch), "positive"
    )
    assert not (tmp_path / "runs.sqlite").exists()


def test_design_script_example_runs(capsys) -> None:
    runpy.run_path(str(ROOT / "examples" / "design_script.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "ESTIMATED" in out and "Pareto front" in out


def test_an_answer_from_a_fit_that_did_not_converge_says_so(profile_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    from models.profile import Profile
    from models.sampling import Diagnostics

    profile = Profile.load(profile_dir)
    digits = profile.accuracy["digits"]
    stuck = Diagnostics(divergences=3, max_r_hat=1.5, min_ess_bulk=8.0, draws=2000, chains=4, fit_s=1.0)
    digits = dataclasses.replace(digits, info=dataclasses.replace(digits.info, diagnostics=stuck))
    folder = dataclasses.replace(profile, accuracy={**profile.accuracy, "digits": digits}, path=None).save(
        tmp_path / "stuck"
    )
    code, out, err = _recommend(folder, "--dataset", "digits", "--accuracy", "0.95", "--top", "3")
    assert code == 0, err
    assert "warning: the accuracy model of digits did not converge (max r_hat 1.500" in " ".join(out.split())
    code, out, _ = _recommend(folder, "--dataset", "digits", "--accuracy", "0.95", "--json")
    (warning,) = json.loads(out)["fit_warnings"]
    assert code == 0 and "accuracy model of digits did not converge" in warning
    assert "'advisor probe digits --extend'" in warning  # the step that settles an accuracy fit, as it is typed
    code, out, _ = _recommend(profile_dir, "--dataset", "digits", "--accuracy", "0.95", "--json")
    assert json.loads(out)["fit_warnings"] == []  # converged fits: no warning
