"""Profiles: save/load round trip with typed metadata; every kind of bad profile is refused with one clear line."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from measurement.hardware import CacheLevel, Fingerprint
from models.evaluate import EvaluationSummary, ScoreSummary
from models.profile import Profile, ProfileError, ProfileMetadata, save_evaluation
from tests.fakes.energy import TIERS

FP = Fingerprint("fake cpu", 2, (CacheLevel(1, "Data", 32768, 1),), 8 * 2**30, "x86_64")


def _profile(posterior, run_ids=(1, 2)) -> Profile:
    meta = ProfileMetadata(fingerprint=FP, meter_kinds=("measured",), meters=("replay",), tiers=TIERS,
                           run_ids=tuple(run_ids), observations=10, diagnostics=posterior.diagnostics)  # fmt: skip
    return Profile(posterior, meta)


@pytest.fixture
def saved(tmp_path: Path, small_fit) -> Path:
    return _profile(small_fit).save(tmp_path / "profile")


def test_round_trip(saved: Path, small_fit, synthetic_frame) -> None:
    loaded = Profile.load(saved)
    assert loaded.fingerprint == FP and loaded.hardware_matches(FP) and not loaded.estimated
    assert loaded.metadata.diagnostics.to_dict() == small_fit.diagnostics.to_dict()  # one chain: r_hat NaN -> null
    assert loaded.metadata.tiers == TIERS
    before = small_fit.log_energy(synthetic_frame)
    after = loaded.energy.log_energy(synthetic_frame)
    assert np.allclose(before, after)
    assert Profile.load(saved / "profile.json").metadata.run_ids == (1, 2)


def test_save_replaces_atomically(saved: Path, small_fit) -> None:
    _profile(small_fit, run_ids=[9]).save(saved)
    assert Profile.load(saved).metadata.run_ids == (9,)
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]


def test_evaluation_is_stored_typed(saved: Path) -> None:
    summary = EvaluationSummary(5, 100, 0.03, {"tier model": ScoreSummary(0.05, 0.8, 0.9)})
    save_evaluation(saved, summary)
    assert Profile.load(saved).metadata.evaluation == summary


def test_metadata_json_round_trip(saved: Path) -> None:
    meta = Profile.load(saved).metadata
    text = json.dumps(meta.to_dict(), allow_nan=False)  # standard JSON: no NaN
    assert ProfileMetadata.from_dict(json.loads(text)).to_dict() == meta.to_dict()
    assert dataclasses.replace(meta, meter_kinds=("estimated",)).estimated


def _edit(path: Path, **changes) -> None:
    meta = json.loads((path / "profile.json").read_text())
    meta.update(changes)
    (path / "profile.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: _edit(p, model_version="energy-tiers-0"), "re-run 'advisor fit'"),
        (lambda p: _edit(p, feature_hash="0000"), "other feature definitions"),
        (lambda p: _edit(p, tiers="L1"), "tiers: expected a list"),
        (lambda p: _edit(p, observations=-3), "observations: expected an integer"),
        (lambda p: _edit(p, meter_kinds=["guessed"]), "meter_kinds"),
        (lambda p: (p / "profile.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "profile.json").write_text("[1, 2]"), "expected an object"),
        (lambda p: (p / "profile.json").write_text(json.dumps({"model_version": "x"})), "missing"),
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
        Profile.load(saved)
