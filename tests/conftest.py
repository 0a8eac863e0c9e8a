"""Fixtures shared across the suite: what several test files would otherwise build once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.accuracy import saved_advising_profile
from tests.fakes.profiles import thinned_reference


@pytest.fixture(autouse=True)
def empty_advisor_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test starts with an empty ``ADVISOR_HOME``: commands without ``--profile`` answer from the shipped
    reference (no profile of whoever runs the suite answers), and no test writes to the real user data folder.
    A test that needs its own home sets ``ADVISOR_HOME`` (or passes ``home=``) as before."""
    home = tmp_path_factory.mktemp("advisor-home")
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def thin_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped reference profile with 100 of its 1,000 draws, saved once (treat it as read-only: copy it
    before changing it)."""
    return thinned_reference(tmp_path_factory.mktemp("reference") / "thin")


@pytest.fixture(scope="session")
def advising_profile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake energy posterior with hand-made (real-format) accuracy posteriors for digits and diabetes,
    saved once (read-only)."""
    return saved_advising_profile(tmp_path_factory.mktemp("profile") / "advising")
