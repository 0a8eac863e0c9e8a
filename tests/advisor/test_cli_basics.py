"""The ``advisor`` command: version speed and the installed binary (subprocess); arch output, grid, doctor and
bad input through the entry point in-process."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from tests.fakes.cli import call_cli, run_cli


def test_version_is_fast() -> None:
    best = min(_timed(run_cli, "--version") for _ in range(3))
    assert best < 1.0


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    result = fn(*args)
    assert result.returncode == 0 and "advisor" in result.stdout
    return time.perf_counter() - start


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["arch", "rectangle", "3", "100", "--input-dim", "4", "--output-dim", "1", "--json"], "widths"),
        (["doctor", "--json"], "meters"),
    ],
)
def test_installed_command_runs(args: list[str], key: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert key in json.loads(result.stdout)


def test_arch_json() -> None:
    code, out, err = call_cli("arch", "trapezoid", "5", "2^14", "--input-dim", "784", "--output-dim", "10", "--json")
    assert code == 0, err
    row = json.loads(out)
    assert row["widths"][-1] == 10 and len(row["widths"]) == 5
    assert abs(row["params"] - 2**14) / 2**14 < 0.05


def test_arch_grid_csv_lists_off_target_configs() -> None:
    code, out, err = call_cli("arch", "--grid", "--input-dim", "784", "--output-dim", "10", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8 * 14 * 20
    assert any(r["off_target"] == "True" for r in rows)


def test_doctor_json_reports_meters_and_caches() -> None:
    code, out, err = call_cli("doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    meters = {m["meter"]: m for m in report["meters"]}
    assert meters["estimate"]["available"] is True
    assert {"rapl", "nvml"} <= set(meters)
    for m in meters.values():
        assert m["available"] or m["detail"]  # every 'no' says why


@pytest.mark.parametrize(
    "args",
    [
        ["arch", "triangle", "3", "100", "--input-dim", "4", "--output-dim", "1"],
        ["arch", "triangle", "3", "100"],
        ["arch", "rectangle", "0", "100", "--input-dim", "4", "--output-dim", "1"],
        ["arch", "rectangle", "3", "-5", "--input-dim", "4", "--output-dim", "1"],
        ["arch", "rectangle", "three", "100", "--input-dim", "4", "--output-dim", "1"],
        ["arch", "rectangle", "3", "abc", "--input-dim", "4", "--output-dim", "1"],
        ["arch", "rectangle", "3", "--input-dim", "4", "--output-dim", "1"],
        ["arch", "--grid", "--input-dim", "x", "--output-dim", "1"],
        ["nosuchcommand"],
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    code, out, err = call_cli(*args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0]
    assert "Traceback" not in err
