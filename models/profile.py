"""Profiles: fitted posteriors (netCDF) plus typed JSON metadata, in one folder; untrusted on load.

Layout: ``profile.json`` (:class:`ProfileMetadata`), ``energy.nc`` and one ``accuracy-<dataset>.nc`` per
dataset, each holding an InferenceData-style ``posterior`` group of thinned draws. Saving writes a
temporary folder and renames it into place, so a reader never sees half a profile. Loading validates
everything once, here: the JSON's every field (type, range), that every file named stays inside the
folder, that the netCDF variables have the expected names, dims, dtypes and bounded sizes, and that every
draw is finite and physically plausible. Nothing is ever unpickled. Every problem is one ProfileError line
naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from measurement.atomic import atomic_path
from measurement.errors import InputError, first_line
from measurement.hardware import Fingerprint
from measurement.tiers import Tier
from models import schema
from models.accuracy import AccuracyInfo, AccuracyPosterior
from models.energy import LOG_CAPACITY_BOUNDS, MODEL_VERSION, EnergyPosterior
from models.evaluate import EvaluationSummary
from models.features import feature_hash
from models.sampling import Diagnostics

PROFILE_JSON = "profile.json"
ENERGY_NC = "energy.nc"
FORMAT_VERSION = 2
MAX_JSON_BYTES = 16 * 2**20
MAX_DRAWS_ON_LOAD = 100_000
"""Chains x draws a profile may hold: bounds the memory a shared profile can make us allocate."""
MAX_TIERS = 8
METER_KINDS = ("measured", "estimated")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}\.nc")
KIB, TIB = 1024.0, 2.0**40

# Expected posterior variables: per-draw shape after the draw axis (T = tiers, P = phases, S = shapes),
# and physical bounds on every value.
_ENERGY_VARS = {
    "log_c1": (("P",), (-120.0, 20.0)), "r": (("P", "T"), (0.0, 1e6)),
    "log_S": (("T",), LOG_CAPACITY_BOUNDS), "log_tau": ((), (-20.0, 20.0)),
    "log_o": (("P",), (-120.0, 20.0)), "log_k": (("P",), (-120.0, 20.0)), "sigma": (("P",), (0.0, 100.0)),
}  # fmt: skip
_ACCURACY_VARS = {
    "floor": ((), (-1e3, 1e3)), "top": ((), (-1e3, 1e3)), "m": ((), (-1e3, 1e3)), "log_s": ((), (-50.0, 50.0)),
    "b_depth": ((), (-1e3, 1e3)), "g_shape": (("S",), (-1e3, 1e3)), "sigma": ((), (0.0, 1e3)),
}  # fmt: skip


class ProfileError(InputError):
    """A profile that cannot be used; the message names the file and the field, in one line."""


@dataclass(frozen=True)
class ProfileMetadata:
    """Everything ``profile.json`` says about a profile, typed.

    Attributes:
        fingerprint: the hardware the calibration ran on.
        meter_kinds: ``measured`` and/or ``estimated``: whether any energy behind the fit is an estimate.
        tiers: the cache tiers the energy model's capacities were seeded from.
        run_ids: the store's run ids the energy model was fit on.
        noise_floor: the calibration's repeat-noise floor (median relative difference of repeats).
        datasets: accuracy models by dataset name.
        evaluation: hold-out scores, once ``advisor evaluate --save-to`` stored them.
    """

    fingerprint: Fingerprint
    meter_kinds: tuple[str, ...]
    meters: tuple[str, ...]
    tiers: tuple[Tier, ...]
    run_ids: tuple[int, ...]
    observations: int
    diagnostics: Diagnostics
    noise_floor: float | None = None
    datasets: dict[str, AccuracyInfo] = field(default_factory=dict)
    evaluation: EvaluationSummary | None = None
    created_unix_s: float = 0.0
    format_version: int = FORMAT_VERSION
    model_version: str = MODEL_VERSION
    feature_hash: str = field(default_factory=feature_hash)

    @property
    def estimated(self) -> bool:
        """True when any run behind the profile came from the estimate meter."""
        return "estimated" in self.meter_kinds

    def to_dict(self) -> dict[str, Any]:
        """JSON form (accuracy files named per dataset)."""
        return {
            "format_version": self.format_version, "model_version": self.model_version,
            "feature_hash": self.feature_hash, "created_unix_s": self.created_unix_s,
            "fingerprint": self.fingerprint.to_dict(), "meter_kinds": list(self.meter_kinds),
            "meters": list(self.meters), "tiers": [dataclasses.asdict(t) for t in self.tiers],
            "run_ids": list(self.run_ids), "observations": self.observations,
            "diagnostics": self.diagnostics.to_dict(), "noise_floor": self.noise_floor,
            "datasets": {name: {**info.to_dict(), "file": accuracy_file(name)} for name, info in self.datasets.items()},
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> ProfileMetadata:
        """Read and check the JSON form; raises schema.SchemaError naming the field."""
        data = schema.obj(data, "")
        _check_versions(data)
        evaluation = data.get("evaluation")
        return cls(
            fingerprint=_fingerprint(data), meter_kinds=_meter_kinds(data),
            meters=tuple(str(m)[:100] for m in schema.array(data, "meters", max_len=16)),
            tiers=_tiers(data), run_ids=_run_ids(data), observations=schema.integer(data, "observations", hi=10**8),
            diagnostics=Diagnostics.from_dict(data.get("diagnostics")),
            noise_floor=schema.optional_number(data, "noise_floor", "", 0.0, 100.0),
            datasets=_datasets(data), created_unix_s=schema.number(data, "created_unix_s", "", 0.0, 1e11),
            evaluation=EvaluationSummary.from_dict(evaluation) if evaluation is not None else None,
        )  # fmt: skip


def _check_versions(data: Any) -> None:
    version, model = schema.integer(data, "format_version"), schema.text(data, "model_version", max_len=100)
    if version != FORMAT_VERSION or model != MODEL_VERSION:
        raise schema.SchemaError(f"model_version: made by model {model!r} (format {version}); this advisor uses "
                                 f"{MODEL_VERSION!r} (format {FORMAT_VERSION}): re-run 'advisor fit'")  # fmt: skip
    if schema.text(data, "feature_hash", max_len=100) != feature_hash():
        raise schema.SchemaError("feature_hash: fit on other feature definitions: re-run 'advisor fit'")


def _fingerprint(data: Any) -> Fingerprint:
    try:
        return Fingerprint.from_dict(dict(schema.mapping(data, "fingerprint", max_len=64)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise schema.SchemaError(f"fingerprint: malformed ({first_line(exc)})") from None


def _meter_kinds(data: Any) -> tuple[str, ...]:
    kinds = tuple(schema.array(data, "meter_kinds", max_len=len(METER_KINDS)))
    if not kinds or any(k not in METER_KINDS for k in kinds):
        raise schema.SchemaError(f"meter_kinds: expected a non-empty list of {', '.join(METER_KINDS)}")
    return kinds


def _tiers(data: Any) -> tuple[Tier, ...]:
    items = schema.array(data, "tiers", max_len=MAX_TIERS)
    if not items:
        raise schema.SchemaError("tiers: expected at least one tier")
    tiers = []
    for i, item in enumerate(items):
        at = f"tiers[{i}]"
        item = schema.obj(item, at)
        tiers.append(Tier(schema.text(item, "name", at, 32), schema.integer(item, "size_bytes", at, int(KIB), 2**40)))
    return tuple(tiers)


def _run_ids(data: Any) -> tuple[int, ...]:
    ids = schema.array(data, "run_ids", max_len=10**7)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise schema.SchemaError("run_ids: expected a list of integers")
    return tuple(ids)


def _datasets(data: Any) -> dict[str, AccuracyInfo]:
    out = {}
    for name, entry in schema.mapping(data, "datasets", max_len=1000).items():
        at = f"datasets.{name}"[:200]
        entry = schema.obj(entry, at)
        if schema.text(entry, "file", at) != accuracy_file(name):
            raise schema.SchemaError(f"{at}.file: expected {accuracy_file(name)!r}")
        out[str(name)] = AccuracyInfo.from_dict(entry, at)
    return out


def accuracy_file(dataset: str) -> str:
    """The accuracy posterior's file name for a dataset (a plain name inside the profile folder)."""
    return f"accuracy-{re.sub(r'[^A-Za-z0-9_.-]+', '_', dataset)[:150]}.nc"


@dataclass(frozen=True)
class Profile:
    """A loaded profile: energy posterior, per-dataset accuracy posteriors, and typed metadata.

    Attributes:
        name: how UIs title it (``reference profile (shipped)``); the folder when not set.
    """

    energy: EnergyPosterior
    metadata: ProfileMetadata
    accuracy: dict[str, AccuracyPosterior] = field(default_factory=dict)
    path: Path | None = None
    name: str | None = None

    @property
    def fingerprint(self) -> Fingerprint:
        """The hardware the calibration ran on."""
        return self.metadata.fingerprint

    @property
    def estimated(self) -> bool:
        """True when the calibration used the estimate meter: predictions are estimates too."""
        return self.metadata.estimated

    @property
    def display_name(self) -> str:
        """A title for UIs."""
        return self.name or str(self.path)

    @property
    def datasets(self) -> dict[str, AccuracyInfo]:
        """What the profile knows per dataset: task, dims, epochs, runs, best observed score."""
        return {name: acc.info for name, acc in self.accuracy.items()}

    def hardware_matches(self, fp: Fingerprint) -> bool:
        """Whether ``fp`` is the machine this profile was calibrated on."""
        return self.fingerprint.same_machine(fp)

    def predict(self, configs: pd.DataFrame | None = None, **columns: Any) -> pd.DataFrame:
        """Energy per datum of configs (a DataFrame or keyword lists); see :func:`models.predict.predict`."""
        from models.predict import predict

        return predict(self.energy, pd.DataFrame(columns) if configs is None else configs, self.estimated)

    def save(self, path: Path | str) -> Path:
        """Write the profile folder atomically (replacing any previous profile at ``path``)."""
        path = Path(path)
        meta = dataclasses.replace(self.metadata, datasets=self.datasets, created_unix_s=time.time())
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            self.energy.to_dataset().to_netcdf(tmp / ENERGY_NC, group="posterior", engine="h5netcdf")
            for name, acc in self.accuracy.items():
                acc.to_dataset().to_netcdf(tmp / accuracy_file(name), group="posterior", engine="h5netcdf")
            (tmp / PROFILE_JSON).write_text(json.dumps(meta.to_dict(), indent=2))
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            if path.exists():
                os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Profile:
        """Load and validate a profile folder (or its profile.json); see the module docstring.

        Raises:
            ProfileError: one line naming the file and the field at fault.
        """
        folder = _folder(Path(path))
        meta = read_metadata(folder)
        energy = EnergyPosterior(_read_draws(folder, ENERGY_NC, _ENERGY_VARS, {"T": len(meta.tiers), "P": 2}),
                                 meta.tiers, meta.diagnostics)  # fmt: skip
        accuracy = {}
        for name, info in meta.datasets.items():
            draws = _read_draws(folder, accuracy_file(name), _ACCURACY_VARS, {"S": 8})
            _check_probabilities(folder / accuracy_file(name), draws, info)
            accuracy[name] = AccuracyPosterior(draws, info)
        return cls(energy, meta, accuracy, folder)


load = Profile.load


def save_evaluation(path: Path | str, evaluation: EvaluationSummary) -> None:
    """Store hold-out scores in an existing, valid profile's JSON, atomically."""
    folder = _folder(Path(path))
    meta = dataclasses.replace(read_metadata(folder), evaluation=evaluation)
    with atomic_path(folder / PROFILE_JSON) as tmp:
        tmp.write_text(json.dumps(meta.to_dict(), indent=2))


def _folder(path: Path) -> Path:
    if path.name == PROFILE_JSON:
        path = path.parent
    if not path.is_dir():
        raise ProfileError(f"no profile at {path} (a profile is a folder with {PROFILE_JSON} and {ENERGY_NC})")
    return path


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused unless it is a plain regular file that resolves inside the folder."""
    file = folder / name
    if not _FILE_NAME.fullmatch(name) or file.resolve().parent != folder.resolve():
        raise ProfileError(f"{file}: a profile may only name files inside its own folder")
    if not file.is_file():
        raise ProfileError(f"profile file missing: {file}")
    return file


def read_metadata(folder: Path) -> ProfileMetadata:
    """The folder's ``profile.json``, validated (bounded size, every field typed and in range)."""
    file = folder / PROFILE_JSON
    if file.is_symlink() and file.resolve().parent != folder.resolve():
        raise ProfileError(f"{file}: a profile may only name files inside its own folder")
    try:
        if file.stat().st_size > MAX_JSON_BYTES:
            raise ProfileError(f"{file}: larger than {MAX_JSON_BYTES // 2**20} MiB: not a profile")
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise ProfileError(f"{folder} has no {PROFILE_JSON}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProfileError(f"{file} is not valid JSON: {first_line(exc)}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read {file}: {first_line(exc)}") from None
    try:
        return ProfileMetadata.from_dict(data)
    except schema.SchemaError as exc:
        raise ProfileError(f"{file}: {exc}") from None


def _read_draws(folder: Path, name: str, expected: dict, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Posterior draws of one netCDF file, each variable checked (dims, dtype, size, finite, in bounds)."""
    from models.sampling import thin

    file = _inside(folder, name)
    with open(file, "rb") as handle:
        if handle.read(8) != _HDF5_MAGIC:
            raise ProfileError(f"{file} is not a netCDF-4 file (profiles are never pickles)")
    try:
        import xarray as xr

        with xr.open_dataset(file, group="posterior", engine="h5netcdf") as posterior:
            _check_variables(file, posterior, expected, sizes)
            draws = thin(posterior, tuple(expected))
    except ProfileError:
        raise
    except Exception as exc:  # h5py/xarray raise many types for broken files
        raise ProfileError(f"cannot read {file}: {first_line(exc)}") from None
    for var, (_, (lo, hi)) in expected.items():
        values = draws[var]
        if not np.isfinite(values).all():
            raise ProfileError(f"{file}: posterior variable {var!r} has non-finite draws")
        if values.min() < lo or values.max() > hi:
            raise ProfileError(f"{file}: posterior variable {var!r} outside its physical range [{lo:g}, {hi:g}]")
    return draws


def _check_variables(file: Path, posterior, expected: dict, sizes: dict[str, int]) -> None:
    if "chain" not in posterior.sizes or "draw" not in posterior.sizes:
        raise ProfileError(f"{file}: posterior lacks chain/draw dimensions")
    if posterior.sizes["chain"] * posterior.sizes["draw"] > MAX_DRAWS_ON_LOAD:
        raise ProfileError(f"{file}: more than {MAX_DRAWS_ON_LOAD} draws")
    for var, (dims, _) in expected.items():
        if var not in posterior:
            raise ProfileError(f"{file} lacks posterior variable {var!r}")
        values = posterior[var]
        want = tuple(sizes[d] for d in dims)
        if values.dims[:2] != ("chain", "draw") or tuple(values.shape[2:]) != want:
            raise ProfileError(f"{file}: posterior variable {var!r} has shape {values.shape}, expected "
                               f"(chain, draw{''.join(f', {n}' for n in want)})")  # fmt: skip
        if values.dtype.kind != "f":
            raise ProfileError(f"{file}: posterior variable {var!r} is {values.dtype}, expected floats")


def _check_probabilities(file: Path, draws: dict[str, np.ndarray], info: AccuracyInfo) -> None:
    if info.task == "regression":
        return
    for var in ("floor", "top"):
        if draws[var].min() < 0 or draws[var].max() > 1:
            raise ProfileError(f"{file}: posterior variable {var!r} is an accuracy outside [0, 1]")
