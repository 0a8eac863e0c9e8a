"""Profiles: a fitted posterior (netCDF InferenceData) plus JSON metadata, in one folder.

Layout: ``profile.json`` (model version, feature hash, hardware fingerprint, meter kinds, run ids,
diagnostics, evaluation), ``energy.nc`` and ``accuracy-<dataset>.nc``. Saving writes a temporary
folder and renames it into place, so a reader never sees half a profile. Loading checks the version and
feature hash and reads netCDF only (no pickle, ever); every problem is one ProfileError line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from measurement.errors import InputError, first_line
from measurement.hardware import Fingerprint
from models.energy import MODEL_VERSION, EnergyPosterior, Tier, posterior_arrays
from models.features import feature_hash

PROFILE_JSON = "profile.json"
ENERGY_NC = "energy.nc"
FORMAT_VERSION = 1
REQUIRED = {
    "format_version": int,
    "model_version": str,
    "feature_hash": str,
    "fingerprint": dict,
    "meter_kinds": list,
    "tiers": list,
    "run_ids": list,
    "diagnostics": dict,
    "datasets": dict,
}


class ProfileError(InputError):
    """A profile that cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Profile:
    """A loaded profile: energy posterior, per-dataset accuracy posteriors, and metadata."""

    energy: EnergyPosterior
    metadata: dict
    accuracy: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def fingerprint(self) -> Fingerprint:
        """The hardware the calibration ran on."""
        return Fingerprint.from_dict(self.metadata["fingerprint"])

    @property
    def estimated(self) -> bool:
        """True when any run behind the profile came from the estimate meter."""
        return "estimated" in self.metadata["meter_kinds"]

    def hardware_matches(self, fp: Fingerprint) -> bool:
        """Whether ``fp`` is the machine this profile was calibrated on."""
        return fp.digest() == self.fingerprint.digest()


def _safe_name(dataset: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)


def save(path: Path | str, energy_idata, metadata: dict, accuracy_idata: dict | None = None) -> Path:
    """Write a profile folder atomically (replacing any previous profile at ``path``)."""
    path = Path(path)
    accuracy_idata = accuracy_idata or {}
    meta = {
        "format_version": FORMAT_VERSION,
        "model_version": MODEL_VERSION,
        "feature_hash": feature_hash(),
        "created_unix_s": time.time(),
        **metadata,
    }
    datasets = dict(meta.get("datasets", {}))
    for name in accuracy_idata:
        datasets[name] = {**datasets.get(name, {}), "file": f"accuracy-{_safe_name(name)}.nc"}
    meta["datasets"] = datasets
    _check_metadata(meta, path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        energy_idata.to_netcdf(str(tmp / ENERGY_NC), engine="h5netcdf")
        for name, idata in accuracy_idata.items():
            idata.to_netcdf(str(tmp / meta["datasets"][name]["file"]), engine="h5netcdf")
        (tmp / PROFILE_JSON).write_text(json.dumps(meta, indent=2, default=_json_default))
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def update_metadata(path: Path | str, **entries) -> None:
    """Add entries (e.g. ``evaluation``) to an existing profile's JSON, atomically."""
    from measurement.atomic import atomic_path

    path = Path(path)
    load(path)  # refuse to touch something that is not a valid profile
    meta = json.loads((path / PROFILE_JSON).read_text())
    meta.update(entries)
    with atomic_path(path / PROFILE_JSON) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _check_metadata(meta: object, path: Path) -> None:
    if not isinstance(meta, dict):
        raise ProfileError(f"{path / PROFILE_JSON}: expected a JSON object")
    for key, kind in REQUIRED.items():
        if key not in meta:
            raise ProfileError(f"{path / PROFILE_JSON}: missing key {key!r} (not a profile, or edited by hand)")
        if not isinstance(meta[key], kind):
            raise ProfileError(f"{path / PROFILE_JSON}: {key!r} should be a {kind.__name__}")


def _read_idata(file: Path):
    import arviz as az

    if not file.is_file():
        raise ProfileError(f"profile file missing: {file}")
    with open(file, "rb") as handle:
        magic = handle.read(8)
    if magic != b"\x89HDF\r\n\x1a\n":
        raise ProfileError(f"{file} is not a netCDF-4 file (profiles are never pickles)")
    try:
        idata = az.from_netcdf(str(file), engine="h5netcdf")
        idata.posterior.load()
        return idata
    except Exception as exc:  # h5py/xarray raise many types for broken files
        raise ProfileError(f"cannot read {file}: {first_line(exc)}") from None


def load(path: Path | str) -> Profile:
    """Load and validate a profile folder (or its profile.json).

    Raises:
        ProfileError: missing files, bad JSON, another model version or feature hash, broken netCDF.
    """
    path = Path(path)
    if path.name == PROFILE_JSON:
        path = path.parent
    if not path.is_dir():
        raise ProfileError(f"no profile at {path} (a profile is a folder with {PROFILE_JSON} and {ENERGY_NC})")
    try:
        meta = json.loads((path / PROFILE_JSON).read_text())
    except FileNotFoundError:
        raise ProfileError(f"{path} has no {PROFILE_JSON}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path / PROFILE_JSON} is not valid JSON: {exc}") from None
    _check_metadata(meta, path)
    if meta["model_version"] != MODEL_VERSION or meta["format_version"] != FORMAT_VERSION:
        raise ProfileError(
            f"profile {path} was made by model {meta['model_version']!r} (format {meta['format_version']}); "
            f"this advisor uses {MODEL_VERSION!r} (format {FORMAT_VERSION}): re-run 'advisor fit'"
        )
    if meta["feature_hash"] != feature_hash():
        raise ProfileError(f"profile {path} was fit on other feature definitions: re-run 'advisor fit'")
    try:
        tiers = tuple(Tier(str(t["name"]), int(t["size_bytes"])) for t in meta["tiers"])
    except (KeyError, TypeError, ValueError):
        raise ProfileError(f"{path / PROFILE_JSON}: 'tiers' must be a list of {{name, size_bytes}}") from None
    idata = _read_idata(path / ENERGY_NC)
    try:
        draws = posterior_arrays(idata)
    except KeyError as exc:
        raise ProfileError(f"{path / ENERGY_NC} lacks posterior variable {exc}") from None
    if draws["log_S"].shape[-1] != len(tiers):
        raise ProfileError(f"{path}: posterior has {draws['log_S'].shape[-1]} tiers, metadata {len(tiers)}")
    accuracy = {}
    for name, info in meta["datasets"].items():
        if isinstance(info, dict) and "file" in info:
            from models.accuracy import AccuracyPosterior

            accuracy[name] = AccuracyPosterior.from_idata(_read_idata(path / info["file"]), info)
    return Profile(EnergyPosterior(draws, tiers), meta, accuracy, path)
