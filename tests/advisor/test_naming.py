"""Data sets by name (a file's stem) and which profile answers (the user's own, else the shipped reference).

Profiles are the saved fake advising profile (tests/conftest.py) with its ``digits`` accuracy model also under
``landsat``, a data set a user probed from ``landsat.csv``; every test starts with an empty ``ADVISOR_HOME``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import advisor
from advisor.api import ProfileSource, profile_source, profiled_dataset
from advisor.cli import build_parser
from advisor.fitting import named_runs
from advisor.measuring import default_profile
from measurement.architecture import size_architecture
from measurement.datasets import dataset_name, load_dataset
from measurement.errors import InputError
from measurement.hardware import fingerprint
from measurement.meters.base import MeterKind
from measurement.records import PhaseResult, PlannedRun, RunResult, Window
from measurement.store import RunContext, RunStore
from models.profile import Profile, ProfileError
from tests.fakes.cli import assert_one_line_error, call_cli

LANDSAT = "landsat"


def _landsat_profile(source: Path, folder: Path) -> Path:
    """The fake advising profile with its digits accuracy model also named ``landsat``, saved in ``folder``."""
    profile = Profile.load(source)
    accuracy = {**profile.accuracy, LANDSAT: profile.accuracy["digits"]}
    return dataclasses.replace(profile, accuracy=accuracy).save(folder)


@pytest.fixture(scope="module")
def landsat_dir(advising_profile_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile (not the user's) that knows ``landsat``, saved once per module (read-only)."""
    return _landsat_profile(advising_profile_dir, tmp_path_factory.mktemp("given") / "profile")


@pytest.fixture
def user_home(advising_profile_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``ADVISOR_HOME`` holding the user's own profile (one that knows ``landsat``)."""
    home = tmp_path / "home"
    _landsat_profile(advising_profile_dir, home / "profile")
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    return home


# --- A: names ----------------------------------------------------------------------------------------------


def test_runs_recorded_under_a_path_are_read_under_the_stem(caplog: pytest.LogCaptureFixture) -> None:
    specs = ["/home/me/data/landsat.csv", "data/landsat.csv.gz", "digits", "synthetic:600,8,3", "/old/wine.csv"]
    with caplog.at_level(logging.WARNING):
        names = named_runs(pd.DataFrame({"dataset": specs, "run_id": range(5)}))["dataset"].tolist()
    # an old store's file whose stem passes for a bundled set keeps its path, and the user is told why
    assert names == ["landsat", "landsat", "digits", "synthetic:600,8,3", "/old/wine.csv"]
    assert "rename the file" in caplog.text and "/old/wine.csv" in caplog.text


def _probe_store(path: Path, probes: list[tuple[str, str]]) -> Path:
    """A store with one probe run per (dataset spec, content hash), in that order (later = newer)."""
    arch = size_architecture("rectangle", 3, 256, 8, 3)
    window = Window(1.0, 0.1, 100, 1.0)
    phase = {p: PhaseResult(p, (window,) * 3, 1.0, 1.0, 0.01, 1000.0) for p in ("train", "inference")}
    with RunStore(path) as store:
        hardware = store.hardware_id(fingerprint(with_gpu=False))
        for i, (spec, digest) in enumerate(probes):
            sweep = store.open_sweep(hardware, "probe", f"plan-{i}", {}, spec, "replay", "measured")
            result = RunResult(arch=arch, meter="replay", meter_kind=MeterKind.MEASURED, idle_power_w=0.0,
                               train=phase["train"], inference=phase["inference"], test_loss=0.3, test_accuracy=0.9,
                               epochs_trained=8.0, wall_s=1.0)  # fmt: skip
            ctx = RunContext(spec, digest, "multiclass", 480, 480 * 32, 256, 256, 1, "cpu")
            store.record_run(sweep, PlannedRun("rectangle", 3, 256, 256, repeat=i).key, result, ctx)
    return path


def test_two_files_of_one_stem_the_newest_probe_wins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from models.accuracy import curve_frame

    store = _probe_store(tmp_path / "runs.sqlite", [("/a/landsat.csv", "old"), ("b/landsat.csv", "new")])
    with RunStore(store, readonly=True) as s:
        recorded = s.frame()
    assert set(recorded["dataset"]) == {"/a/landsat.csv", "b/landsat.csv"}  # the store keeps the paths
    with caplog.at_level(logging.WARNING):
        frame = curve_frame(named_runs(recorded), None)
    assert set(frame["dataset"]) == {"landsat"}
    assert set(recorded.loc[recorded["run_id"].isin(frame["run_id"]), "dataset_hash"]) == {"new"}
    assert "older version of data set landsat" in caplog.text


def test_a_probed_file_is_named_by_its_stem_or_its_path(landsat_dir: Path) -> None:
    profile = advisor.load_profile(landsat_dir)
    by_name = advisor.recommend(profile, LANDSAT, 0.9, top=3)
    by_path = advisor.recommend(profile, "/any/where/landsat.csv", 0.9, top=3)
    assert len(by_name) == 3
    pd.testing.assert_frame_equal(by_name, by_path)
    assert profiled_dataset(profile, "landsat.parquet") == LANDSAT


def test_recommend_and_predict_take_the_stem_or_the_path(landsat_dir: Path) -> None:
    answers = []
    for spec in (LANDSAT, "data/landsat.csv"):
        code, out, err = call_cli("recommend", "--profile", str(landsat_dir), "--dataset", spec, "--accuracy", "0.9",
                                  "--top", "2", "--json")  # fmt: skip
        assert code == 0, err
        answers.append(json.loads(out)["recommendations"])
    assert answers[0] == answers[1] and len(answers[0]) == 2
    config = ["--shape", "rectangle", "--depth", "3", "--size", "4096", "--input-dim", "61", "--output-dim", "10"]
    code, out, err = call_cli("predict", "--profile", str(landsat_dir), *config, "--dataset", "x/landsat.csv")
    assert code == 2 and "did not see data set 'landsat'" in err  # the energy fit is by stem too (it saw digits)


def test_a_file_named_like_a_bundled_set_is_refused(landsat_dir: Path, tmp_path: Path) -> None:
    assert_one_line_error(call_cli("recommend", "--profile", str(landsat_dir), "--dataset", "mine/wine.csv",
                                   "--accuracy", "0.9"), "rename the file, e.g. to my_wine.csv")  # fmt: skip
    file = tmp_path / "digits.csv"
    file.write_text("a,target\n" + "\n".join(f"{i},{i % 2}" for i in range(20)))
    assert_one_line_error(call_cli("probe", str(file), "--no-fit"), "rename the file")


def _suggested_command(message: str) -> list[str]:
    """The one command a message suggests (between single quotes after 'run'), as argv."""
    return shlex.split(message.split("run '", 1)[1].rsplit("'", 1)[0])


def _assert_probe_works(message: str, name: str) -> None:
    """The suggested ``advisor probe`` parses, and the data set it loads is the one the message was missing."""
    argv = _suggested_command(message)
    assert argv[:2] == ["advisor", "probe"], argv
    args = build_parser().parse_args(argv[1:])
    assert dataset_name(args.dataset) == name
    assert load_dataset(args.dataset, target=args.target).name == name


def test_missing_accuracy_models_name_a_probe_that_works(
    landsat_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = advisor.load_profile(landsat_dir)
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.random(40), "b": rng.random(40), "target": np.arange(40) % 3})
    table.to_csv(tmp_path / "forest.csv", index=False)
    monkeypatch.chdir(tmp_path)
    for spec, name in (("wine", "wine"), ("synthetic:600,8,3", "synthetic:600,8,3"), ("forest", "forest"),
                       (str(tmp_path / "forest.csv"), "forest"), ("forest.csv", "forest")):  # fmt: skip
        with pytest.raises(InputError, match="no accuracy model") as caught:
            advisor.recommend(profile, spec, 0.9)
        _assert_probe_works(str(caught.value), name)
    # a stem whose file is nowhere to be seen: no command to copy, but what to give 'advisor probe'
    with pytest.raises(InputError, match="give 'advisor probe' the path of its data file") as caught:
        advisor.recommend(profile, "covertype", 0.9)
    assert "run '" not in str(caught.value)
    with pytest.raises(InputError, match=r"there is no file gone/covertype\.csv"):
        advisor.recommend(profile, "gone/covertype.csv", 0.9)


# --- B: which profile answers ----------------------------------------------------------------------------


def test_without_a_profile_of_your_own_the_reference_answers_and_says_so() -> None:
    code, out, err = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9", "--top", "1", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["profile"], answer["profile_source"]) == ("reference profile (shipped)", "reference")
    code, out, err = call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9", "--top", "1")
    assert code == 0 and out.splitlines()[0] == "profile: reference profile (shipped)"


def test_an_empty_profile_folder_is_no_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "profile").mkdir()
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    assert profile_source(advisor.load_profile()) is ProfileSource.REFERENCE


def test_your_own_profile_answers_everywhere(user_home: Path) -> None:
    own = f"your profile ({user_home / 'profile'})"
    code, out, err = call_cli("recommend", "--dataset", "data/landsat.csv", "--accuracy", "0.9", "--top", "2",
                              "--json")  # fmt: skip
    assert code == 0, err
    assert (json.loads(out)["profile"], json.loads(out)["profile_source"]) == (own, "user")
    code, out, err = call_cli("recommend", "--dataset", LANDSAT, "--accuracy", "0.9", "--top", "2", "--csv")
    assert code == 0 and f"profile: {own}" in err.splitlines()
    config = ["--shape", "rectangle", "--depth", "3", "--size", "4096", "--input-dim", "61", "--output-dim", "10"]
    code, out, err = call_cli("predict", *config, "--json")
    assert code == 0 and json.loads(out)["profile_source"] == "user"
    code, out, err = call_cli("predict", *config)
    assert code == 0 and "your profile" in out
    profile = advisor.load_profile()
    assert profile_source(profile) is ProfileSource.USER and profile.display_name == own
    assert advisor.recommend(profile, LANDSAT, 0.9, top=1).attrs["profile"] == own
    assert default_profile().display_name == own  # pricing a module: the same rule, from the same home


def test_the_tui_status_line_names_your_profile(user_home: Path) -> None:
    from advisor.tui.app import AdvisorApp

    assert AdvisorApp().sub_title.startswith(f"your profile ({user_home / 'profile'})")


def test_a_profile_of_your_own_that_does_not_load_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "profile.json").write_text("{")
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    assert_one_line_error(call_cli("recommend", "--dataset", "digits", "--accuracy", "0.9"), "your profile does not")
    with pytest.raises(ProfileError, match="your profile does not load"):
        advisor.load_profile()
