"""``advisor calibrate --recheck``: the panel measured for real (estimate meter, short windows), recorded in the
store and the history, applied by recommend and predict; bad input refused in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from advisor import recheck
from advisor.api import load_profile
from measurement.records import SweepKind
from measurement.store import RunStore
from measurement.sweep import RECHECK_PANEL
from models.machine_state import FLOOR_TO_SD, history_path, read_rechecks
from tests.fakes.cli import assert_one_line_error, call_cli

QUICK = ["--windows", "2", "--window", "0.05s", "--idle", "0.05s"]
"""Short windows, long enough that no phase falls below the estimate meter's resolution on a busy machine."""


def test_recheck_records_todays_scale_and_predictions_apply_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code, out, err = call_cli("calibrate", "--recheck", "--json", *QUICK, home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    found = json.loads(out)
    assert found["meter_kind"] == "estimated" and "ESTIMATED" in err
    scales = found["recheck"]["scales"]
    assert set(scales) == {"train", "inference"} and all(0.2 < 2.718 ** s[0] < 5 for s in scales.values())
    state = found["machine_state"]
    assert state["recheck_age_s"] < 60
    floor, calibration = found["recheck"]["floor"], load_profile().metadata.noise_floor
    noisier = max(0.0, floor**2 - calibration**2) * FLOOR_TO_SD**2  # today's noise beyond the calibration's
    moving = math.log1p(found["recheck"]["drift"]) ** 2  # and how far the machine moved during the panel
    assert state["residual_sigma_log"] == pytest.approx((noisier + moving) ** 0.5, abs=0.01)  # no day spread yet
    with RunStore(tmp_path / "runs.sqlite", readonly=True) as store:
        everything = store.frame(include_rechecks=True)
        assert store.frame().empty  # fits never see the panel
    assert set(everything["sweep_kind"]) == {str(SweepKind.RECHECK)}
    assert everything["run_key"].nunique() == 2 * len(RECHECK_PANEL)  # two passes of the panel
    code, out, err = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9", "--json", home=tmp_path,
                              monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    state = json.loads(out)["machine_state"]
    assert state["recheck"] == found["recheck"] and "applied" in json.loads(out)["machine"]
    code, _, _ = call_cli("calibrate", "--recheck", "--json", *QUICK, home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0
    history = read_rechecks(history_path(tmp_path))
    assert len(history) == 2 and history[0].sweep_id != history[1].sweep_id  # a new sweep, not a resumed one


def test_predict_says_which_state_it_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("predict", "--shape", "rectangle", "--depth", "4", "--size", "16384", "--input-dim", "64",
            "--output-dim", "10", "--json")  # fmt: skip
    code, out, err = call_cli(*args, home=tmp_path, monkeypatch=monkeypatch)
    assert code == 0, err
    row = json.loads(out)
    assert row["machine_state"]["recheck"] is None and row["machine_state"]["day_sigma_from_prior"]
    assert "stated prior" in row["machine"]


def test_an_interrupted_recheck_records_nothing(tmp_path: Path) -> None:
    profile = load_profile()
    job = recheck.prepare_recheck(profile, store=tmp_path / "runs.sqlite", idle_s=0.0)
    outcome = recheck.recheck(profile, job, should_stop=lambda: True, home=tmp_path)
    assert outcome.recheck is None and outcome.summary.interrupted
    assert not history_path(tmp_path).exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--dataset", "synthetic:400,5,3"], "drop --dataset"),
        (["--resume"], "drop --resume"),
        (["--profile", "/nonexistent/profile"], "profile"),
        (["--meter", "wattson"], "unknown meter"),
        (["--budget", "0s"], "budget"),
    ],
)
def test_bad_recheck_input_is_one_line(extra, fragment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(call_cli("calibrate", "--recheck", *extra, home=tmp_path, monkeypatch=monkeypatch), fragment)
    assert not history_path(tmp_path).exists()


def test_profile_without_recheck_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(call_cli("calibrate", "--profile", "x", home=tmp_path, monkeypatch=monkeypatch), "--recheck")


def test_a_broken_history_stops_answers_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    history_path(tmp_path).write_text('{"format_version": 1, "rechecks": [{"profile_id": 3}]}')
    result = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9", home=tmp_path, monkeypatch=monkeypatch)
    assert_one_line_error(result, "rechecks.json")
