"""``advisor measure -- COMMAND``: exit codes passed on, failed commands stored as failed, bad input as one line and
exit 2 with nothing stored; the command runner with an injected program and meter; predict_module's refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from advisor.measuring import network_of, predict_module
from advisor.measuring_command import exit_status, run_command
from measurement.records import RunStatus
from measurement.store import RunStore
from models.modules import ModuleError
from tests.fakes.cli import assert_one_line_error, call_cli
from tests.fakes.meters import LineMeter, PowerLine
from tests.fakes.posteriors import fake_profile

PYTHON = sys.executable


def _measured(store: Path):
    with RunStore(store) as s:
        return s.measured_frame()


def test_a_command_is_measured_stored_and_its_json_is_the_last_line(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code, out, _ = call_cli("measure", "--json", "--idle", "0", "--meter", "estimate", "--datums", "1000",
                            "--label", "burn", "--store", str(store), "--",
                            PYTHON, "-c", "sum(range(300000))")  # fmt: skip
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["status"], result["meter_kind"], result["estimated"], result["exit_code"]) == (
        "ok", "estimated", True, 0)  # fmt: skip
    assert result["energy_j"] > 0 and result["energy_per_datum_j"] == pytest.approx(result["energy_j"] / 1000)
    row = _measured(store).iloc[0]
    assert (row["label"], row["status"], row["meter_kind"]) == ("burn", "ok", "estimated")
    assert json.loads(row["command"])[1:] == ["-c", "sum(range(300000))"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [("import sys; sys.exit(3)", 3), ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", 128 + 15)],
)
def test_a_failing_command_keeps_its_exit_code_and_is_stored_as_failed(tmp_path: Path, code: str, expected: int):
    store = tmp_path / "runs.sqlite"
    exit_code, _, err = call_cli("measure", "--idle", "0", "--meter", "estimate", "--store", str(store), "--",
                                 PYTHON, "-c", code)  # fmt: skip
    assert exit_code == expected
    row = _measured(store).iloc[0]
    assert row["status"] == "failed" and row["exit_code"] in (3, -15)
    assert "failed" in err  # the summary says so


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--", "no-such-program-here"), "command not found"),
        (("--meter", "bogus", "--", "true"), "unknown meter 'bogus'"),
        (("--",), "no command to measure"),
        (("--widths", "8,2", "--", "true"), "give all three"),
        (("--idle", "-1", "--", "true"), "expected a number"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_is_stored(tmp_path: Path, args: tuple, fragment: str) -> None:
    store = tmp_path / "runs.sqlite"
    assert_one_line_error(call_cli("measure", "--store", str(store), *args), fragment)
    assert not store.exists()


class _Program:
    """A program that 'runs' by drawing power on the line, then exits with ``code``."""

    def __init__(self, line: PowerLine, code: int = 0) -> None:
        self.line, self.code, self.argv = line, code, None

    def __call__(self, argv: list[str]) -> _Program:
        self.argv = argv
        return self

    def wait(self) -> int:
        self.line.run(4.0, 30.0)
        return self.code


def test_the_runner_measures_the_program_with_datums_a_job_id_and_its_network_priced() -> None:
    line = PowerLine(idle_w=10.0)
    program = _Program(line)
    network = network_of(16, (32, 32, 4), batch_size=64)
    result = run_command(["true", "--flag"], meter=LineMeter(line), datums=2000, idle_s=1.0, store=False,
                         network=network, profile=fake_profile(), env={"SLURM_JOB_ID": "4242"}, sleep=line.sleep,
                         popen=program)  # fmt: skip
    assert program.argv == ["true", "--flag"] and result.label == "true" and result.run.job_id == "slurm:4242"
    assert result.energy_j == pytest.approx(4.0 * 20.0) and result.energy_per_datum_j == pytest.approx(0.04)
    c = result.comparison
    assert c is not None and c.phase == "total" and c.measured_j == pytest.approx(0.04)
    assert c.inside is (c.predicted.predictive_p05_j <= 0.04 <= c.predicted.predictive_p95_j)
    assert c.ratio == pytest.approx(0.04 / result.price.train.median_j)
    assert "measured per datum (total)" in dict(result.summary_rows())


def test_a_commands_measuring_overhead_is_this_processs_cpu_while_it_ran() -> None:
    line, ticks = PowerLine(), iter([100.0, 100.25, 999.0])  # start, after the wait, (never read again)
    result = run_command(["true"], meter=LineMeter(line), idle_s=0, store=False, sleep=line.sleep,
                         popen=_Program(line), cpu_clock=lambda: next(ticks))  # fmt: skip
    assert result.measuring_cpu_s == pytest.approx(0.25)
    assert result.to_dict()["measuring_cpu_s"] == pytest.approx(0.25)
    share = 0.25 / result.duration_s
    assert dict(result.summary_rows())["measuring overhead"] == f"0.250 CPU s ({share:.2%} of the duration)"


def test_a_failed_program_is_not_judged_against_its_prediction() -> None:
    line = PowerLine()
    result = run_command(["true"], meter=LineMeter(line), datums=10, idle_s=0, store=False,
                         network=network_of(4, (8, 2), batch_size=8), profile=fake_profile(), sleep=line.sleep,
                         popen=_Program(line, code=2))  # fmt: skip
    assert result.status is RunStatus.FAILED and result.exit_code == 2 and not result.comparison.ok
    assert exit_status(-9) == 137 and exit_status(2) == 2


def test_predict_module_reads_a_sequential_mlp_and_its_parameters() -> None:
    from torch import nn

    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Sequential(nn.Linear(64, 32), nn.ReLU()), nn.Linear(32, 3))
    price = predict_module(model, batch_size=128, profile=fake_profile())
    assert price.network.widths == (64, 32, 3) and price.network.input_dim == 20 and not price.network.residual
    assert price.network.params == sum(p.numel() for p in model.parameters())
    for phase in (price.train, price.inference):
        assert 0 < phase.predictive_p05_j < phase.median_j < phase.predictive_p95_j
    assert price.estimated and not price.beyond_grid


def test_predict_module_reads_the_catalogues_residual_form() -> None:
    from measurement.architecture import size_architecture
    from measurement.network import build_module

    arch = size_architecture("rectangle_residual", 4, 2**12, 10, 3)
    price = predict_module(build_module(arch), batch_size=32, profile=fake_profile())
    assert price.network.residual and price.network.widths == arch.widths and price.network.params == arch.params


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda nn: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)), r"layer 1 \(Tanh\) is not ReLU"),
        (lambda nn: nn.Sequential(nn.Linear(4, 8), nn.ReLU()), r"layer 1 \(ReLU\).*ends with its output Linear"),
        (lambda nn: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(9, 2)), "takes 9 inputs"),
        (lambda nn: nn.Sequential(nn.Linear(4, 2)), "2 or more"),
        (lambda nn: nn.Conv1d(1, 1, 3), "class Conv1d is not an nn.Sequential"),
    ],
)
def test_a_module_that_is_not_such_an_mlp_names_the_offending_layer(build, message: str) -> None:
    from torch import nn

    with pytest.raises(ModuleError, match=message):
        predict_module(build(nn), batch_size=16, profile=fake_profile())


def test_a_wrong_input_width_is_refused() -> None:
    from torch import nn

    with pytest.raises(ModuleError, match="input_dim 5 does not match"):
        predict_module(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), batch_size=16, input_dim=5,
                       profile=fake_profile())  # fmt: skip


def test_advisor_runs_exports_the_measured_programs(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    call_cli("measure", "--idle", "0", "--meter", "estimate", "--store", str(store), "--", PYTHON, "-c", "pass")
    code, out, _ = call_cli("runs", "--measured", "--store", str(store))
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split(",")[:4] == ["run_id", "sweep_id", "hardware", "label"] and ",ok," in row
    code, out, _ = call_cli("runs", "--store", str(store))  # the run export (what fits read) leaves it out
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert_one_line_error(call_cli("runs", "--measured", "--curves", "--store", str(store)), "--measured")


def test_a_store_that_cannot_be_written_is_refused_before_the_program_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    marker = tmp_path / "ran"
    code = call_cli("measure", "--idle", "0", "--meter", "estimate", "--store", str(blocker / "runs.sqlite"), "--",
                    PYTHON, "-c", f"open({str(marker)!r}, 'w')")  # fmt: skip
    assert_one_line_error(code, "cannot open run store")
    assert not marker.exists()
