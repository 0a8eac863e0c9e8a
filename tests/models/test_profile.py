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
from tests.fakes.profiles import rehash

FP = Fingerprint("fake cpu", 2, (CacheLevel(1, "Data", 32768, 1),), 8 * 2**30, "x86_64")


def _profile(posterior, run_ids=(1, 2)) -> Profile:
    meta = ProfileMetadata(fingerprint=FP, meter_kinds=("measured",), meters=("replay",), tiers=TIERS,
                           run_ids=tuple(run_ids), observations=10, diagnostics=posterior.diagnostics)  # fmt: skip
    return Profile(posterior, meta)


@pytest.fixture
def saved(tmp_path: Path, fake_fit) -> Path:
    return _profile(fake_fit).save(tmp_path / "profile")


def test_round_trip(saved: Path, fake_fit, synthetic_frame) -> None:
    loaded = Profile.load(saved)
    assert loaded.fingerprint == FP and loaded.hardware_matches(FP) and not loaded.estimated
    assert loaded.metadata.diagnostics.to_dict() == fake_fit.diagnostics.to_dict()  # one chain: r_hat NaN -> null
    assert loaded.metadata.tiers == TIERS
    assert loaded.energy.datasets == fake_fit.datasets and len(fake_fit.datasets) == 3
    before = fake_fit.log_energy(synthetic_frame)  # each row on a fitted data set: its cost factors apply
    after = loaded.energy.log_energy(synthetic_frame)
    assert np.allclose(before, after)
    assert not np.allclose(after, loaded.energy.log_energy(synthetic_frame.drop(columns="dataset")))
    assert Profile.load(saved / "profile.json").metadata.run_ids == (1, 2)


def test_save_replaces_atomically(saved: Path, fake_fit) -> None:
    _profile(fake_fit, run_ids=[9]).save(saved)
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


def _hostile(path: Path, content: bytes) -> None:
    (path / "energy.nc").write_bytes(content)
    rehash(path)


def _swap(path: Path, a: str, b: str) -> None:
    (path / a).rename(path / "tmp")
    (path / b).rename(path / a)
    (path / "tmp").rename(path / b)


def _names(path: Path) -> list[str]:
    return json.loads((path / "profile.json").read_text())["energy_datasets"]


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
        (lambda p: _edit(p, energy_datasets=["a", "a", "b"]), "energy_datasets: expected distinct"),
        (lambda p: _edit(p, energy_datasets=["a", 7, "b"]), "energy_datasets: expected distinct"),
        (lambda p: _edit(p, energy_datasets=["a"]), "'log_factor_dataset' has shape"),
        (lambda p: _edit(p, energy_datasets=_names(p)[::-1]), "dataset labels .* are not profile.json's"),
        (lambda p: _edit(p, energy_datasets=[]), "dataset labels .* are not profile.json's"),
        (lambda p: (p / "profile.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "profile.json").write_text("[1, 2]"), "expected an object"),
        (lambda p: (p / "profile.json").write_text(json.dumps({"model_version": "x"})), "missing"),
        (lambda p: (p / "profile.json").unlink(), "has no profile.json"),
        (lambda p: (p / "energy.nc").write_bytes((p / "energy.nc").read_bytes()[:4000]), "does not match the digest"),
        (lambda p: _hostile(p, (p / "energy.nc").read_bytes()[:4000]), "cannot read"),
        (lambda p: _hostile(p, pickle.dumps({"a": 1})), "never pickles"),
        (lambda p: _swap(p, "energy.nc", "profile.json"), "not valid JSON|does not match"),
        (lambda p: (p / "energy.nc").unlink(), "missing"),
        (lambda p: shutil.rmtree(p), "no profile at"),
    ],
)
def test_bad_profiles_are_refused(saved: Path, damage, message: str) -> None:
    damage(saved)
    with pytest.raises(ProfileError, match=message):
        Profile.load(saved)


def _set_dataset_file(path: Path, name: str) -> None:
    meta = json.loads((path / "profile.json").read_text())
    meta["datasets"] = {"digits": {**_digits_info(), "file": name}}
    (path / "profile.json").write_text(json.dumps(meta))


def _digits_info() -> dict:
    return {"task": "multiclass", "chance": 0.1, "log_params_range": [3.0, 17.0], "runs": 9, "epochs": 30.0,
            "input_dim": 64, "train_samples": 1437, "output_dim": 10, "best_observed": 0.9, "version":
            "accuracy-saturating-1", "diagnostics": {"divergences": 0, "max_r_hat": 1.0, "min_ess_bulk": 500.0,
                                                     "draws": 500, "chains": 4, "fit_s": 1.0}}  # fmt: skip


@pytest.mark.parametrize("name", ["../outside.nc", "/etc/passwd", "sub/accuracy-digits.nc", "accuracy-digits.nc "])
def test_a_profile_cannot_name_a_file_outside_its_folder(saved: Path, name: str) -> None:
    (saved.parent / "outside.nc").write_bytes((saved / "energy.nc").read_bytes())
    _set_dataset_file(saved, name)
    with pytest.raises(ProfileError, match=r"datasets\.digits\.file"):
        Profile.load(saved)


def test_a_symlink_leaving_the_folder_is_refused(saved: Path) -> None:
    outside = saved.parent / "elsewhere.nc"
    (saved / "energy.nc").rename(outside)
    (saved / "energy.nc").symlink_to(outside)
    with pytest.raises(ProfileError, match="only name files inside its own folder"):
        Profile.load(saved)


def _rewrite(file: Path, change) -> None:
    import xarray as xr

    with xr.open_dataset(file, group="posterior", engine="h5netcdf") as ds:
        ds = change(ds.load())
    file.unlink()
    ds.to_netcdf(file, group="posterior", engine="h5netcdf")
    rehash(file.parent)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ds: ds.assign(log_c=ds["log_c"].where(ds["log_c"] > 1e9)), "non-finite draws"),
        (lambda ds: ds.assign(log_S=ds["log_S"] * 0 + 50.0), "outside its physical range"),
        (lambda ds: ds.assign(sigma=-ds["sigma"]), "outside its physical range"),
        (lambda ds: ds.drop_vars("log_tau"), "lacks posterior variable 'log_tau'"),
        (lambda ds: ds.drop_vars("log_factor_dataset"), "lacks posterior variable 'log_factor_dataset'"),
        (lambda ds: ds.assign(log_factor_dataset=ds["log_factor_dataset"] + 40.0), "outside its physical range"),
        (lambda ds: ds.assign(r=ds["r"].astype("int64")), "expected floats"),
        (lambda ds: ds.isel(tier=slice(0, 2)), "has shape"),
    ],
)
def test_implausible_or_malformed_draws_are_refused(saved: Path, change, message: str) -> None:
    _rewrite(saved / "energy.nc", change)
    with pytest.raises(ProfileError, match=message):
        Profile.load(saved)


def test_a_profile_cannot_make_us_allocate_without_bound(saved: Path) -> None:
    import xarray as xr

    _rewrite(saved / "energy.nc", lambda ds: xr.concat([ds] * 600, dim="draw"))  # 120,000 draws
    with pytest.raises(ProfileError, match="more than 100000 draws"):
        Profile.load(saved)


def test_saving_over_something_that_is_not_a_profile_is_refused(tmp_path: Path, fake_fit) -> None:
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("months of work")
    with pytest.raises(ProfileError, match="not a profile"):
        _profile(fake_fit).save(precious)
    assert (precious / "chapter1.tex").read_text() == "months of work"


def test_data_stored_outside_the_netcdf_file_is_refused(saved: Path) -> None:
    """HDF5 lets a dataset keep its values in another file (external storage); h5py would follow it."""
    import h5py

    outside = saved.parent / "outside.raw"
    with h5py.File(saved / "energy.nc", "a") as h5:
        values = h5["posterior/log_tau"][()]
        outside.write_bytes(values.astype("<f8").tobytes())
        attrs = dict(h5["posterior/log_tau"].attrs)
        del h5["posterior/log_tau"]
        ds = h5.create_dataset("posterior/log_tau", shape=values.shape, dtype="<f8",
                               external=[(str(outside), 0, values.nbytes)])  # fmt: skip
        for key, value in attrs.items():
            if key not in ("DIMENSION_LIST",):
                ds.attrs[key] = value
    rehash(saved)
    with pytest.raises(ProfileError, match="stores its data outside the file"):
        Profile.load(saved)


def test_an_empty_or_oversized_posterior_is_refused_before_it_is_read(saved: Path) -> None:
    _rewrite(saved / "energy.nc", lambda ds: ds.isel(draw=slice(0, 0)))
    with pytest.raises(ProfileError, match="no draws"):
        Profile.load(saved)


def test_two_dataset_names_cannot_share_one_file(saved: Path) -> None:
    meta = json.loads((saved / "profile.json").read_text())
    meta["datasets"] = {"a b": {**_digits_info(), "file": "accuracy-a_b.nc"},
                        "a_b": {**_digits_info(), "file": "accuracy-a_b.nc"}}  # fmt: skip
    (saved / "profile.json").write_text(json.dumps(meta))
    with pytest.raises(ProfileError, match="would share the file"):
        Profile.load(saved)
