"""A profile from other hardware is flagged; a fit that does not converge is reported, not saved silently."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

import advisor
from tests.fakes.cli import call_cli


def _foreign_profile(tmp_path: Path, profile: Path) -> Path:
    copy = tmp_path / "foreign"
    shutil.copytree(profile, copy)
    meta = json.loads((copy / "profile.json").read_text())
    meta["fingerprint"]["cpu_model"] = "Some Other CPU 9000"
    (copy / "profile.json").write_text(json.dumps(meta))
    return copy


def test_profile_from_other_hardware_is_flagged(tmp_path: Path, thin_reference: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        advisor.load_profile(_foreign_profile(tmp_path, thin_reference))
    assert "other hardware" in caplog.text and "Some Other CPU 9000" in caplog.text


def test_cli_warns_but_answers_with_a_foreign_profile(
    tmp_path: Path, thin_reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = _foreign_profile(tmp_path, thin_reference)
    code, out, err = call_cli("recommend", "--profile", str(foreign), "--dataset", "digits", "--accuracy", "0.8",
                              "--json", home=tmp_path, monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0, err
    assert "other hardware" in err and "Some Other CPU 9000" in err
    assert json.loads(out)["recommendations"]
