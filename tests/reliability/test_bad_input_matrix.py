"""Every malformed input in cases.py: one line on stderr, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.api import REFERENCE_PROFILE
from tests.fakes.cli import assert_one_line_error, run_cli
from tests.reliability.cases import CASES


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


def test_the_matrix_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("case_id", "argv", "files"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, case_id: str, argv: list[str], files: dict[str, bytes]) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    _materialise(work, files)
    before = _snapshot(work)
    result = run_cli(*[a.replace("{tmp}", str(work)) for a in argv], home=home)
    assert_one_line_error(result)
    assert _snapshot(work) == before, "an input file was changed"
    assert not any(home.iterdir()), f"{case_id} wrote {list(home.iterdir())}"
