"""The seams of the structure: reading, fitting, evaluating and advising never load torch; importing the
models changes nothing process-wide; the reference profile ships as package data; defects stay fixed."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from models.sampling import pytensor_cache_dir
from tests.fakes.cli import ROOT, call_cli, run_python

TORCH_FREE = """
import sys
from pathlib import Path
from advisor.api import REFERENCE_PROFILE  # the fit below makes a profile of your own, without digits
from advisor.cli import main
from measurement.hardware import fingerprint
from tests.fakes.store import fill_store

home = Path(sys.argv[1])
fill_store(home / "runs.sqlite", fingerprint(with_gpu=False))
steps = [
    ["runs", "--out", str(home / "runs.csv")],
    ["fit", "--draws", "60", "--max-draws", "60", "--tune", "60", "--chains", "1"],
    ["evaluate", "--folds", "2"],
    ["predict", "--profile", str(home / "profile"), "--shape", "trapezoid", "--depth", "4", "--size", "4096",
     "--input-dim", "16", "--output-dim", "4", "--json"],
    ["recommend", "--dataset", "digits", "--accuracy", "0.8", "--json", "--profile", str(REFERENCE_PROFILE)],
]
for argv in steps:
    code = main(argv)
    assert code in (0, 1), (argv, code)  # 1: a 60-draw fit may not converge; it still saves
    assert "torch" not in sys.modules, argv
print("TORCH-FREE")
"""


@pytest.mark.slow
def test_runs_fit_evaluate_predict_recommend_never_import_torch(tmp_path: Path) -> None:
    # A bare environment, but the compile cache every other fit uses (a fresh one costs a minute of compiling)
    env = {"ADVISOR_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "ADVISOR_PYTENSOR_CACHE": pytensor_cache_dir()}  # fmt: skip
    result = run_python(TORCH_FREE, str(tmp_path), env=env, timeout=600)
    assert result.returncode == 0 and "TORCH-FREE" in result.stdout, result.stdout + result.stderr


def test_importing_models_changes_nothing_process_wide() -> None:
    code = (
        "import numpy, pandas, scipy.special, scipy.stats, xarray  # third-party filters of their own\n"
        "import os, warnings; flags = os.environ.get('PYTENSOR_FLAGS'); before = list(warnings.filters)\n"
        "import models, models.energy, models.accuracy, models.profile, models.pipeline, models.evaluate\n"
        "import advisor.api, advisor.engine\n"
        "assert os.environ.get('PYTENSOR_FLAGS') == flags, os.environ.get('PYTENSOR_FLAGS')\n"
        "assert warnings.filters == before, [f for f in warnings.filters if f not in before]\n"
        "import sys; assert 'pymc' not in sys.modules and 'arviz' not in sys.modules\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_recommend_prints_no_warning_even_on_a_fresh_cache(tmp_path: Path) -> None:
    """ArviZ warns once a day per cache folder on import; a fresh cache is its first day."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "ADVISOR_HOME": str(tmp_path / "home"), "COLUMNS": "200"}  # fmt: skip
    advisor = Path(sys.executable).parent / "advisor"
    result = subprocess.run([str(advisor), "recommend", "--dataset", "digits", "--accuracy", "0.8"],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_sampling_hides_the_arviz_notice_only_inside_its_block(tmp_path: Path) -> None:
    code = (
        "import warnings\n"
        "from models.sampling import arviz\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    arviz()\n"
        "assert not [w for w in caught if 'ArviZ' in str(w.message)], caught\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr


def test_evaluate_with_absurd_folds_is_one_line(tmp_path: Path, monkeypatch) -> None:
    code, out, err = call_cli("evaluate", "--folds", "1000", "--store", str(tmp_path / "none.sqlite"),
                              monkeypatch=monkeypatch, home=tmp_path)  # fmt: skip
    assert code == 2 and out == "" and "folds must be between 2 and 50" in err and len(err.strip().splitlines()) == 1


def test_reference_profile_is_package_data() -> None:
    from advisor.api import REFERENCE_PROFILE

    assert REFERENCE_PROFILE.is_relative_to(ROOT / "advisor")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"reference/profile/*"' in pyproject
    names = {p.name for p in REFERENCE_PROFILE.iterdir()}
    assert {"profile.json", "energy.nc", "accuracy-digits.nc"} <= names


@pytest.mark.slow
def test_a_wheel_carries_the_reference_profile(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                             str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("profile.json", "energy.nc", "accuracy-digits.nc"):
        assert f"advisor/reference/profile/{name}" in names, sorted(names)[:20]


def test_a_profile_made_on_this_cuda_machine_is_not_other_hardware(tmp_path: Path, caplog) -> None:
    """Profiles made with a GPU fingerprint; the check runs without torch, so it must not compare a GPU it
    cannot see against one the profile names."""
    import logging
    import shutil

    import advisor
    from advisor.api import REFERENCE_PROFILE, this_machine

    here = this_machine()
    copy = tmp_path / "cuda-profile"
    shutil.copytree(REFERENCE_PROFILE, copy)
    meta = json.loads((copy / "profile.json").read_text())
    meta["fingerprint"] = {**here.to_dict(), "gpu": {"name": "NVIDIA H100", "l2_bytes": 52428800,
                                                     "memory_bytes": 80 * 2**30}}  # fmt: skip
    (copy / "profile.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        advisor.load_profile(copy)
    assert "other hardware" not in caplog.text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "--draws", "99999999"], "draws must be an integer in"),
        (["fit", "--chains", "500"], "chains must be an integer in"),
        (["fit", "--plot", "{tmp}/fit.csv"], "expected a png/pdf/svg/jpg/jpeg file name"),
        (["fit", "--out", "{tmp}/notes.txt/profile"], "is not a writable folder"),
        (["runs", "--out", ""], "is not a file or folder name"),
    ],
)
def test_work_is_refused_before_it_starts(tmp_path: Path, monkeypatch, argv: list[str], message: str) -> None:
    import time

    import advisor.fitting
    import advisor.runs  # noqa: F401  (imports are start-up, not work: time only the refusal)

    (tmp_path / "notes.txt").write_text("a file, not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    start = time.perf_counter()
    code, out, err = call_cli(*argv, home=tmp_path, monkeypatch=monkeypatch)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1, err
    assert time.perf_counter() - start < 1.0


def test_synthetic_specs_are_bounded() -> None:
    from measurement.datasets import DatasetError, load_dataset

    for spec in ("synthetic:99999999999,999999,4", "synthetic:10000000,100,2", "synthetic:" + "9" * 5000 + ",1,2"):
        with pytest.raises(DatasetError, match="synthetic"):
            load_dataset(spec)


def test_doctor_vets_a_profile_with_the_load_checks(tmp_path: Path, monkeypatch) -> None:
    import shutil

    from advisor.api import REFERENCE_PROFILE
    from models.profile import Profile

    code, out, err = call_cli("doctor", "--profile", str(REFERENCE_PROFILE), "--json", home=tmp_path,
                              monkeypatch=monkeypatch)  # fmt: skip
    report = json.loads(out)
    assert code == 0 and report["meter_kinds"] == ["estimated"]
    # the verdict is the profile's own diagnostics: the shipped accuracy models end at r_hat 1.01-1.03 (said)
    profile = Profile.load(REFERENCE_PROFILE)
    problems = profile.metadata.diagnostics.problems() + [
        p for acc in profile.accuracy.values() for p in acc.diagnostics.problems()
    ]
    assert report["converged"] is (not problems) and len(report["problems"]) == len(problems)
    assert profile.metadata.diagnostics.converged  # the shipped energy model converged
    assert set(report["datasets"]) == {"digits", "breast_cancer", "wine", "diabetes"} and report["runs"] > 100
    assert any("inside the profile folder" in check for check in report["checks"])
    shared = tmp_path / "shared"
    shutil.copytree(REFERENCE_PROFILE, shared)
    meta = json.loads((shared / "profile.json").read_text())
    meta["datasets"]["digits"]["file"] = "../../secrets.nc"
    (shared / "profile.json").write_text(json.dumps(meta))
    code, out, err = call_cli("doctor", "--profile", str(shared), home=tmp_path, monkeypatch=monkeypatch)
    assert code == 2 and out == "" and "datasets.digits.file" in err and len(err.strip().splitlines()) == 1


def test_the_shipped_profile_and_special_files_are_never_written(tmp_path: Path, monkeypatch) -> None:
    import os
    import stat

    from advisor.api import REFERENCE_PROFILE

    os.mkfifo(tmp_path / "fifo")
    for argv, message in (
        (["fit", "--out", str(REFERENCE_PROFILE)], "shipped reference profile"),
        (["evaluate", "--save-to", str(REFERENCE_PROFILE)], "shipped reference profile"),
        (["runs", "--out", str(tmp_path / "fifo")], "not a regular file"),
        (["fit", "--plot", str(tmp_path / "missing" / "fit.png")], "does not exist"),
    ):
        code, out, err = call_cli(*argv, home=tmp_path, monkeypatch=monkeypatch)
        assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)
