"""Profiles: save/load round trip; every kind of bad profile is refused with one clear line."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from measurement.hardware import CacheLevel, Fingerprint
from models import profile as profiles
from models.profile import ProfileError
from tests.models.conftest import TIERS

FP = Fingerprint("fake cpu", 2, (CacheLevel(1, "Data", 32768, 1),), 8 * 2**30, "x86_64")


def _meta() -> dict:
    return {
        "fingerprint": FP.to_dict(), "meter_kinds": ["measured"], "tiers": [t.__dict__ for t in TIERS],
        "run_ids": [1, 2], "diagnostics": {"converged": True}, "datasets": {},
    }  # fmt: skip


@pytest.fixture
def saved(tmp_path: Path, small_fit) -> Path:
    return profiles.save(tmp_path / "profile", small_fit[0], _meta())


def test_round_trip(saved: Path, small_fit, synthetic_frame) -> None:
    loaded = profiles.load(saved)
    assert loaded.fingerprint == FP and loaded.hardware_matches(FP) and not loaded.estimated
    before = small_fit[2].log_energy(synthetic_frame)
    after = loaded.energy.log_energy(synthetic_frame)
    assert np.allclose(np.median(before, axis=0), np.median(after, axis=0))
    assert profiles.load(saved / "profile.json").metadata["run_ids"] == [1, 2]


def test_save_replaces_atomically(saved: Path, small_fit) -> None:
    profiles.save(saved, small_fit[0], {**_meta(), "run_ids": [9]})
    assert profiles.load(saved).metadata["run_ids"] == [9]
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]


def _edit(path: Path, **changes) -> None:
    meta = json.loads((path / "profile.json").read_text())
    meta.update(changes)
    (path / "profile.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: _edit(p, model_version="energy-tiers-0"), "re-run 'advisor fit'"),
        (lambda p: _edit(p, feature_hash="0000"), "other feature definitions"),
        (lambda p: _edit(p, tiers="L1"), "should be a list"),
        (lambda p: (p / "profile.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "profile.json").write_text("[1, 2]"), "JSON object"),
        (lambda p: (p / "profile.json").write_text(json.dumps({"model_version": "x"})), "missing key"),
        (lambda p: (p / "profile.json").unlink(), "has no profile.json"),
        (lambda p: (p / "energy.nc").write_bytes((p / "energy.nc").read_bytes()[:4000]), "cannot read"),
        (lambda p: (p / "energy.nc").write_bytes(pickle.dumps({"a": 1})), "never pickles"),
        (lambda p: (p / "energy.nc").unlink(), "missing"),
        (lambda p: shutil.rmtree(p), "no profile at"),
    ],
)
def test_bad_profiles_are_refused(saved: Path, damage, message: str) -> None:
    damage(saved)
    with pytest.raises(ProfileError, match=message):
        profiles.load(saved)
