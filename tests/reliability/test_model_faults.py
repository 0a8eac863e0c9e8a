"""A profile from other hardware is flagged; a fit that does not converge is reported, not saved silently."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import advisor
from advisor.api import REFERENCE_PROFILE
from tests.fakes.cli import run_cli


def _foreign_profile(tmp_path: Path) -> Path:
    copy = tmp_path / "foreign"
    shutil.copytree(REFERENCE_PROFILE, copy)
    meta = json.loads((copy / "profile.json").read_text())
    meta["fingerprint"]["cpu_model"] = "Some Other CPU 9000"
    (copy / "profile.json").write_text(json.dumps(meta))
    return copy


def test_profile_from_other_hardware_is_flagged(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        advisor.load_profile(_foreign_profile(tmp_path))
    assert "other hardware" in caplog.text and "Some Other CPU 9000" in caplog.text


def test_cli_warns_but_answers_with_a_foreign_profile(tmp_path: Path) -> None:
    result = run_cli("recommend", "--profile", str(_foreign_profile(tmp_path)), "--dataset", "digits",
                     "--accuracy", "0.8", "--json")  # fmt: skip
    assert result.returncode == 0
    assert "other hardware" in result.stderr
    assert json.loads(result.stdout)["recommendations"]
