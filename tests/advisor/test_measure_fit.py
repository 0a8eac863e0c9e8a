"""``advisor fit --include-measured``: measured programs that name their network become training rows of the
energy fit (their own data set each); without the flag, and when they name no network, they stay out."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

import advisor
from advisor.fitting import FitRequest
from advisor.measuring import network_of
from measurement.store import RunStore
from models.features import FEATURE_COLUMNS, arch_features, training_frame
from models.modules import add_measured, split_measured
from tests.fakes.measurement import FP
from tests.fakes.meters import LineMeter, PowerLine
from tests.fakes.posteriors import fake_profile
from tests.fakes.store import fill_store


def _measure(path: Path, label: str, network=None, fail: bool = False, phase: bool = True) -> None:
    line = PowerLine(idle_w=2.0)
    named = {"model": network, "batch_size": network.batch_size, "profile": fake_profile()} if network else {}
    m = advisor.measure(label, meter=LineMeter(line), idle_s=1.0, sleep=line.sleep, store=path, **named)
    with pytest.raises(RuntimeError) if fail else contextlib.nullcontext(), m:
        line.run(1.0, 7.0)  # setup: 5 J above idle, outside the train phase
        with m.phase("train") if phase else contextlib.nullcontext():
            line.run(2.0, 12.0)
            m.datums(1000)
        if fail:
            raise RuntimeError("diverged")


def _store(tmp_path: Path) -> tuple[Path, object]:
    path = fill_store(tmp_path / "runs.sqlite", FP)
    network = network_of(16, (32, 32, 4), batch_size=32)
    _measure(path, "my loop", network)
    _measure(path, "no network")
    _measure(path, "crashed", network, fail=True)
    _measure(path, "a command", network, phase=False)  # no train phase: its whole is the observation
    return path, network


def test_measured_runs_join_the_training_frame_only_when_asked(tmp_path: Path) -> None:
    path, network = _store(tmp_path)
    with RunStore(path) as store:
        default, asked = store.frame(), store.frame(include_measured=True)
    calibration, none = split_measured(default)
    assert none.empty
    runs, measured = split_measured(asked)
    assert set(measured["run_key"]) == {"my loop", "no network", "crashed", "a command"}
    assert len(runs) == len(calibration)
    base = training_frame(runs)
    frame = add_measured(base, measured)
    assert len(frame) == len(base) + 2  # the ok runs that name their network, once each
    row, command = frame.iloc[-2], frame.iloc[-1]
    assert (row["dataset"], row["phase"], row["phase_index"]) == ("my loop", "train", 0)
    assert row["log_energy"] == pytest.approx(np.log(2.0 * 10.0 / 1000))  # its train phase alone
    assert (command["dataset"], command["phase"]) == ("a command", "train")
    assert command["log_energy"] == pytest.approx(np.log((5.0 + 20.0) / 1000))  # the whole, setup included
    expected = arch_features([network.architecture()], 32, "train").iloc[0]
    assert np.allclose([row[c] for c in FEATURE_COLUMNS], [expected[c] for c in FEATURE_COLUMNS])


def test_the_fit_request_leaves_measured_runs_out_by_default() -> None:
    assert FitRequest().include_measured is False
