"""Every malformed input in cases.py: one line on stderr, exit code 2, no traceback, nothing written.

Every case runs through the entry point in-process, with the process's own stderr (file descriptor 2)
captured too, so a C library or a child writing past ``sys.stderr`` still fails it; one case per family
also runs the installed binary, for what only a fresh process shows (its start-up, its exit code).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.api import REFERENCE_PROFILE
from tests.fakes.cli import assert_one_line_error, call_cli, run_cli
from tests.reliability.cases import CASES

INSTALLED = ("calibrate-budget-abc", "dataset-pickled-npz", "profile-truncated-netcdf", "store-not-sqlite")
"""One case per family (arguments, data-set files, profiles, stores) that the installed binary runs too."""


def _materialise(tmp: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        source = REFERENCE_PROFILE / path.name
        if content == b"COPY":
            content = source.read_bytes()
        elif content == b"TRUNCATE":
            content = source.read_bytes()[:5000]
        elif content == b"VERSION":
            meta = json.loads((REFERENCE_PROFILE / "profile.json").read_text())
            content = json.dumps({**meta, "model_version": "energy-tiers-0"}).encode()
        path.write_bytes(content)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _folders(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    """The case's work folder (its files written) and an empty advisor home."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    _materialise(work, files)
    return work, home


def test_the_matrix_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)
    assert set(INSTALLED) <= {case_id for case_id, _, _ in CASES}


@pytest.mark.parametrize(("case_id", "argv", "files"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture, case_id: str, argv: list[str],
    files: dict[str, bytes],
) -> None:  # fmt: skip
    work, home = _folders(tmp_path, files)
    before = _snapshot(work)
    capfd.readouterr()
    result = call_cli(*[a.replace("{tmp}", str(work)) for a in argv], home=home, monkeypatch=monkeypatch)
    assert_one_line_error(result)
    past = capfd.readouterr()
    assert past.out == "" and past.err == "", f"{case_id} wrote past sys.stdout/sys.stderr: {past}"
    assert _snapshot(work) == before, "an input file was changed"
    assert not any(home.iterdir()), f"{case_id} wrote {list(home.iterdir())}"


@pytest.mark.parametrize(("case_id", "argv", "files"), [c for c in CASES if c[0] in INSTALLED], ids=INSTALLED)
def test_the_installed_command_refuses_alike(tmp_path: Path, case_id: str, argv: list[str],
                                             files: dict[str, bytes]) -> None:  # fmt: skip
    work, home = _folders(tmp_path, files)
    before = _snapshot(work)
    assert_one_line_error(run_cli(*[a.replace("{tmp}", str(work)) for a in argv], home=home))
    assert _snapshot(work) == before, "an input file was changed"
    assert not any(home.iterdir()), f"{case_id} wrote {list(home.iterdir())}"
