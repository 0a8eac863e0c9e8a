"""``advisor probe DATASET --extend``: the best probed runs again, and their neighbours, trained longer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from advisor.candidates import candidate_grid
from advisor.extend import MAX_EXTEND_EPOCHS, extend_request, extension, probed_file, target_kind_for
from measurement.datasets import TargetKind
from measurement.errors import InputError
from measurement.hardware import fingerprint
from measurement.meters.base import MeterKind
from measurement.records import PlannedRun
from measurement.store import RunStore
from measurement.sweep import SweepKind
from measurement.sweep.plan import EXTEND_REPEAT, plan_extension
from models.accuracy import ProbedRun
from tests.fakes.accuracy import real_accuracy
from tests.fakes.cli import assert_one_line_error, call_cli
from tests.fakes.posteriors import fake_profile


def _profile(frontier):
    accuracy = real_accuracy()
    accuracy = dataclasses.replace(accuracy, info=dataclasses.replace(accuracy.info, frontier=tuple(frontier)))
    return dataclasses.replace(fake_profile(), accuracy={"digits": accuracy})


def test_an_extension_centres_on_the_best_probed_runs_and_trains_them_longer() -> None:
    info = real_accuracy().info
    grid = [a for a in candidate_grid(info.input_dim, info.output_dim) if a.shape.value == "trapezoid" and a.depth == 3]
    arch = grid[len(grid) // 2]
    best = ProbedRun("trapezoid", 3, arch.params, 3e-3, 64, 48.0, 0.97)
    plan = extension(_profile([best, dataclasses.replace(best, params=-1, score=0.9)]), "digits")
    assert plan.centres == (PlannedRun("trapezoid", 3, arch.target_size, 64, learning_rate=3e-3),)  # off-grid: skipped
    assert plan.epochs == 96
    long = extension(_profile([dataclasses.replace(best, epochs=900.0)]), "digits")
    assert long.epochs == MAX_EXTEND_EPOCHS
    with pytest.raises(InputError, match="nothing to extend"):
        extension(_profile([]), "digits")
    with pytest.raises(InputError, match="nothing to extend"):
        extension(_profile([best]), "wine")


def test_the_plan_measures_every_centre_first_then_one_step_neighbours() -> None:
    centres = [
        PlannedRun("rectangle", 3, 1024, 64, learning_rate=1e-3),
        PlannedRun("trapezoid", 4, 2**24, 1024, learning_rate=1e-2),
    ]
    runs = plan_extension(centres, train_samples=600).runs
    assert [r.repeat for r in runs[:2]] == [EXTEND_REPEAT] * 2 and [r.size for r in runs[:2]] == [1024, 2**24]
    first = [r for r in runs[2:] if r.shape == "rectangle"]
    assert {r.size for r in first} == {512, 1024, 2048}
    assert sorted(r.learning_rate for r in first if r.learning_rate != 1e-3) == pytest.approx([1e-3 / 3, 3e-3])
    assert {r.batch_size for r in first} == {32, 64, 128}
    second = [r for r in runs[2:] if r.shape == "trapezoid"]
    assert max(r.size for r in second) == 2**24  # the grid's largest size is not exceeded
    assert max(r.batch_size for r in second if r.batch_size != 1024) <= 600  # a step up stops at the training set
    assert max(r.learning_rate for r in second) == pytest.approx(3e-2)
    assert len({r.key for r in runs}) == len(runs)
    assert np.all([r.repeat == 0 for r in runs[2:]])


def test_a_centre_a_halving_rung_continued_is_one_centre_re_run_on_a_seed_no_rung_used() -> None:
    centre = PlannedRun("rectangle", 3, 1024, 64, learning_rate=1e-3)
    rungs = [dataclasses.replace(centre, repeat=k) for k in range(3)]  # the rungs' seeds of one config
    runs = plan_extension(rungs, train_samples=600).runs
    again = [r for r in runs if r.config_key == centre.config_key]
    assert len(again) == 1 and again[0].repeat not in {0, 1, 2}


def test_extending_a_data_set_the_profile_never_probed_is_one_line(tmp_path, monkeypatch) -> None:
    answer = call_cli(
        "probe", "synthetic:500,4,2", "--extend", "--budget", "10s", home=tmp_path, monkeypatch=monkeypatch
    )
    assert_one_line_error(answer, "nothing to extend")
    assert not (tmp_path / "runs.sqlite").exists()  # refused before anything is written


def _store_with_probes(path, *datasets: str):
    with RunStore(path) as store:
        hw = store.hardware_id(fingerprint(with_gpu=False))
        for i, dataset in enumerate(datasets):
            store.open_sweep(hw, SweepKind.PROBE, f"plan{i}", {}, dataset, "estimate", MeterKind.ESTIMATED)
    return path


def test_the_name_an_answer_gives_extends_the_file_its_probe_read(tmp_path) -> None:
    old, new = tmp_path / "old" / "landsat.csv", tmp_path / "new" / "landsat.csv.gz"
    for f in (old, new):
        f.parent.mkdir()
        f.write_text("a,target\n1,0\n")
    store = _store_with_probes(tmp_path / "runs.sqlite", str(old), "digits", str(new))
    assert probed_file("landsat", store) == str(new)  # the newest probe of that name
    assert probed_file("digits", store) == "digits" and probed_file(str(old), store) == str(old)  # as given
    new.unlink()
    with pytest.raises(InputError, match="the file the probe of 'landsat' read is gone") as gone:
        probed_file("landsat", store)  # not the older file: it may be another version of the data set
    assert str(new) in str(gone.value)
    with pytest.raises(InputError, match=r"no probe in .* read a file named 'forest'"):
        probed_file("forest", store)
    with pytest.raises(InputError, match="give 'advisor probe' the path"):
        probed_file("landsat", tmp_path / "none.sqlite")


def test_an_extension_reads_the_target_as_its_probe_did() -> None:
    info = real_accuracy().info
    arch = next(a for a in candidate_grid(info.input_dim, info.output_dim) if a.shape.value == "trapezoid")
    best = ProbedRun("trapezoid", arch.depth, arch.params, 3e-3, 64, 48.0, 0.97)
    classes = extension(_profile([best]), "digits")
    assert classes.target_kind is TargetKind.CLASSIFICATION
    regression = dataclasses.replace(classes, target_kind=TargetKind.REGRESSION)
    assert target_kind_for(regression, None, "pol.csv") is TargetKind.REGRESSION  # no --task: the probe's reading
    assert target_kind_for(regression, TargetKind.REGRESSION, "pol.csv") is TargetKind.REGRESSION
    with pytest.raises(InputError, match="read its target as regression; extend it without --task"):
        target_kind_for(regression, TargetKind.CLASSIFICATION, "pol.csv")
    assert target_kind_for(classes, None, "digits") is None  # a bundled set keeps its own task
    asked = extend_request(_profile([best]), "digits", None, None)
    assert (asked.dataset, asked.target_kind, asked.plan) == ("digits", None, classes)


def test_a_config_given_twice_is_one_centre() -> None:
    """A halving probe trains its best configs again in the next rung: the frontier can name one config twice
    (it failed the store's unique run key mid-extension on splice)."""
    best = PlannedRun("wide_first_8x", 2, 2**20, 256, learning_rate=1e-2)
    other = PlannedRun("rectangle_residual", 2, 2**18, 1024, learning_rate=1e-3)
    runs = plan_extension([best, other, best], train_samples=2550).runs
    assert runs == plan_extension([best, other], train_samples=2550).runs
    assert len({r.key for r in runs}) == len(runs)


def test_an_extension_centres_first_on_the_cheapest_runs_near_the_best() -> None:
    info = real_accuracy().info
    grid = [a for a in candidate_grid(info.input_dim, info.output_dim) if a.shape.value == "rectangle" and a.depth == 2]
    big, small, tiny = grid[-1], grid[len(grid) // 2], grid[0]
    best = [ProbedRun("rectangle", 2, big.params, 1e-2, 256, 48.0 - i, 0.97 - i / 1000) for i in range(3)]
    best = [dataclasses.replace(run, batch_size=2 ** (5 + i)) for i, run in enumerate(best)]  # three configs
    cheap = ProbedRun("rectangle", 2, small.params, 3e-3, 64, 16.0, 0.955)  # within 2 points of the best
    far = ProbedRun("rectangle", 2, tiny.params, 3e-3, 64, 16.0, 0.90)  # cheaper, but not near the best
    plan = extension(_profile([*best, cheap, far]), "digits")
    assert plan.centres[0] == PlannedRun("rectangle", 2, small.target_size, 64, learning_rate=3e-3)
    assert len(plan.centres) == 4 and all(c.size == big.target_size for c in plan.centres[1:])
    assert plan.epochs == 96


def test_a_neighbour_that_is_another_centres_config_is_not_trained_again_and_max_runs_holds() -> None:
    small = PlannedRun("exponential", 2, 2048, 16, learning_rate=1e-2)
    double = dataclasses.replace(small, size=4096)  # small's size x2 neighbour
    runs = plan_extension([small, double], train_samples=2550).runs
    configs = [r.config_key for r in runs]
    assert len(configs) == len(set(configs))  # each config once: the centres again, then new neighbours
    assert [r.repeat for r in runs[:2]] == [EXTEND_REPEAT] * 2
    assert len(plan_extension([small, double], train_samples=2550, max_runs=5).runs) == 5
