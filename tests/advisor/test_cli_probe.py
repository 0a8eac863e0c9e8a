"""``advisor probe``: the recipe flags, their bad input, the help's account of the schedule, and one probe of
successive-halving rungs end to end."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from tests.fakes.cli import assert_one_line_error, call_cli, run_cli

FAST = ["--windows", "2", "--window", "0.05s", "--idle", "0.05s", "--meter", "estimate"]


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--learning-rate", "0"], "learning rate (--learning-rate) must be [1e-07, 1]"),
        (["--learning-rate", "3"], "learning rate (--learning-rate) must be [1e-07, 1]"),
        (["--learning-rate", "fast"], "learning-rate"),
        (["--batch-size", "0"], "positive"),
    ],
)
def test_a_bad_recipe_is_refused_in_one_line_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], fragment: str
) -> None:
    result = call_cli("probe", "synthetic:300,6,3", *flags, home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs.sqlite").exists()


def test_the_help_describes_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    from advisor.cli import main

    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "successive halving" in text and "best third" in text and "--learning-rate" in text


@pytest.mark.slow
def test_a_probe_runs_halving_rungs_over_recipes_then_a_fixed_one_runs_one_sweep(tmp_path: Path) -> None:
    result = run_cli("probe", "synthetic:600,6,3", "--budget", "40s", "--no-fit", "--json", *FAST, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sweep"]["committed_now"] > 0
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        rungs = conn.execute("SELECT json_extract(plan_json, '$.config.epochs'), COUNT(r.id) FROM sweeps s"
                             " JOIN runs r ON r.sweep_id = s.id GROUP BY s.id ORDER BY s.id").fetchall()  # fmt: skip
        rates = {row[0] for row in conn.execute("SELECT learning_rate FROM runs")}
    assert len(rungs) >= 2  # a shared machine may leave runs of a rung out of its share, never a whole rung
    assert all(b[0] == 3 * a[0] and b[1] <= -(-a[1] // 3) for a, b in itertools.pairwise(rungs))
    assert len(rates) >= 4 and rates <= {1e-4, 3e-4, 1e-3, 3e-3, 1e-2}
    fixed = run_cli("probe", "synthetic:600,6,3", "--budget", "10s", "--epochs", "2", "--learning-rate", "0.002",
                    "--batch-size", "32", "--max-runs", "3", "--no-fit", "--json", *FAST, home=tmp_path)  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        last = conn.execute("SELECT run_key, learning_rate, batch_size FROM runs WHERE sweep_id ="
                            " (SELECT MAX(id) FROM sweeps)").fetchall()  # fmt: skip
    assert len(last) == 3 and all("/lr" not in key and (lr, b) == (0.002, 32) for key, lr, b in last)


@pytest.mark.parametrize(
    ("spec", "flags", "fragment"),
    [
        ("digits", ["--task", "regression"], "--task applies to a data file"),
        ("synthetic:300,6,3", ["--task", "ordinal"], "invalid choice: 'ordinal'"),
    ],
)
def test_a_task_that_cannot_apply_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, flags: list[str], fragment: str
) -> None:
    result = call_cli("probe", spec, *flags, home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs.sqlite").exists()


def test_an_integer_rating_probed_as_a_regression_is_stored_as_one(tmp_path: Path) -> None:
    data = tmp_path / "ratings.csv"
    data.write_text("\n".join(["a,b,target", *(f"{i % 7 / 7},{i % 5 / 5},{(i % 7 + i % 5) % 11}" for i in range(300))]))
    fixed = ["--epochs", "1", "--learning-rate", "0.001", "--batch-size", "32", "--max-runs", "2", "--no-fit"]
    result = run_cli("probe", str(data), "--task", "regression", "--budget", "10s", *fixed, "--json", *FAST,
                     home=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        tasks = {row[0] for row in conn.execute("SELECT task FROM runs")}
    assert tasks == {"regression"}
