"""Fixtures shared across the suite: what several test files would otherwise build once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.accuracy import saved_advising_profile
from tests.fakes.profiles import thinned_reference


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
