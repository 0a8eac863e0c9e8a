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


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--top", "3", "--json"],
        ["predict", "--shape", "rectangle", "--depth", "3", "--size", "4096", "--input-dim", "64", "--output-dim",
         "10", "--json"],
    ],
)  # fmt: skip
def test_installed_command_runs(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["estimated"] is True


def test_recommend_json_matches_the_api() -> None:
    code, out, err = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.8", "--top", "3", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["estimated"] is True and "ESTIMATE" in answer["message"]
    table = advisor.recommend(advisor.load_profile(), "digits", 0.8, top=3)
    assert len(table) == 3
    assert [r["params"] for r in answer["recommendations"]] == table["params"].tolist()
    assert all(r["p_meet"] >= 0.9 for r in answer["recommendations"])


def test_recommend_table_and_infeasible_message() -> None:
    code, out, err = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.8")
    assert code == 0, err
    assert "ESTIMATE" in out and "P(meet)" in out
    code, out, _ = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9999", "--json")
    assert code == 0
    answer = json.loads(out)
    assert answer["recommendations"] == [] and "best achievable accuracy" in answer["message"]


def test_predict_json() -> None:
    code, out, err = call_cli("predict", "--shape", "trapezoid", "--depth", "4", "--size", "2^14", "--input-dim",
                              "64", "--output-dim", "10", "--json")  # fmt: skip
    assert code == 0, err
    row = json.loads(out)
    assert row["energy_p05_j"] < row["energy_median_j"] < row["energy_p95_j"]
    assert row["tier"].startswith(("<=", ">")) and row["estimated"] is True


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
        (["--dataset", "digits", "--accuracy", "x"], "accuracy"),
        (["--dataset", "digits", "--accuracy", "0.9", "--profile", "/nonexistent"], "no profile"),
    ],
)
def test_recommend_bad_input(args: list[str], fragment: str) -> None:
    assert_one_line_error(call_cli("recommend", *args), fragment)


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
