"""The installed ``advisor`` command: version speed, arch output, grid, doctor, bad input."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time

import pytest

ADVISOR = shutil.which("advisor") or f"{sys.executable} -m advisor"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*ADVISOR.split(), *args], capture_output=True, text=True, timeout=timeout)


def test_version_is_fast() -> None:
    best = min(_timed(run, "--version") for _ in range(3))
    assert best < 1.0


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    result = fn(*args)
    assert result.returncode == 0 and "advisor" in result.stdout
    return time.perf_counter() - start


def test_arch_json() -> None:
    result = run("arch", "trapezoid", "5", "2^14", "--input-dim", "784", "--output-dim", "10", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["widths"][-1] == 10 and len(row["widths"]) == 5
    assert abs(row["params"] - 2**14) / 2**14 < 0.05


def test_arch_grid_csv_lists_off_target_configs() -> None:
    result = run("arch", "--grid", "--input-dim", "784", "--output-dim", "10", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 8 * 14 * 20
    assert any(r["off_target"] == "True" for r in rows)


def test_doctor_json_reports_meters_and_caches() -> None:
    result = run("doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
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
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0]
    assert "Traceback" not in result.stderr
