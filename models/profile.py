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
import hashlib
import json
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from measurement.atomic import atomic_folder, atomic_path, check_destination
from measurement.errors import InputError, first_line
from measurement.hardware import Fingerprint
from measurement.tiers import Tier
from models import schema
from models.accuracy import AccuracyInfo, AccuracyPosterior
from models.energy import DATASET_FACTOR, LOG_CAPACITY_BOUNDS, MODEL_VERSION, EnergyPosterior
from models.energy_params import saved_variables
from models.evaluate import EvaluationSummary
from models.features import TERMS, feature_hash
from models.machine_state import MachineState
from models.sampling import Diagnostics

PROFILE_JSON = "profile.json"
ENERGY_NC = "energy.nc"
FORMAT_VERSION = 2
MAX_JSON_BYTES = 16 * 2**20
MAX_DRAWS_ON_LOAD = 100_000
"""Chains x draws a profile may hold: bounds the memory a shared profile can make us allocate."""
MAX_TIERS = 8
MAX_DATASETS = 64
MAX_ENERGY_DATASETS = 256
"""Data sets the energy fit may have seen (each has fitted cost factors in energy.nc)."""
MAX_NC_BYTES = 256 * 2**20
"""Accuracy models per profile: bounds what a profile can make us read (64 x 100,000 draws)."""
CAPACITY_BOUNDS_BYTES = tuple(round(math.exp(b)) for b in LOG_CAPACITY_BOUNDS)
"""A cache tier holds 1 KiB .. 1 TiB: the energy model's prior support, and what profile.json may say."""
MAX_ELEMENTS = MAX_DRAWS_ON_LOAD * 64
"""Values in any one array of a profile's netCDF (the largest, r, holds draws x phases x tiers)."""
MAX_HDF5_OBJECTS = 256
METER_KINDS = ("measured", "estimated")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}\.(nc|json)")

# Expected posterior variables: per-draw shape after the draw axis (T = tiers, P = phases, M = terms, S = shapes,
# D = the energy fit's data sets), and physical bounds on every value.
_DIM_LETTERS = {"tier": "T", "phase": "P", "term": "M", "dataset": "D"}
_ENERGY_VARS = {
    name: (tuple(_DIM_LETTERS[d] for d in dims), bounds)
    for name, (dims, bounds) in saved_variables().items()
    if name != DATASET_FACTOR
}
"""The energy posterior's variables, from the model's parameter table (models.energy_params)."""
_DATASET_FACTOR_VAR = {DATASET_FACTOR: (("D", "M"), saved_variables()[DATASET_FACTOR][1])}
"""Present when the fit saw data sets (profile.json's ``energy_datasets`` names them, in order)."""
_ACCURACY_VARS = {
    "floor": ((), (-1e3, 1e3)),
    "top": ((), (-1e3, 1e3)),
    "m": ((), (-1e3, 1e3)),
    "log_s": ((), (-50.0, 50.0)),
    "b_depth": ((), (-1e3, 1e3)),
    "g_shape": (("S",), (-1e3, 1e3)),
    "h0": ((), (-1e3, 1e3)),
    "h_p": ((), (-1e3, 1e3)),
    "h_d": ((), (-1e3, 1e3)),
    "a_lr": ((), (-1e3, 1e3)),
    "a_b": ((), (-1e3, 1e3)),
    "l_hi": ((), (-1e3, 1e3)),
    "log_se": ((), (-50.0, 50.0)),
    "sigma": ((), (0.0, 1e3)),
    "sigma_run": ((), (0.0, 1e3)),
}
_CONFIG_VARS = {
    "sigma_seed": ((), (0.0, 1e3)),
    "config_mean": (("C",), (-1e3, 1e3)),
    "config_var": (("C",), (0.0, 1e3)),
}
"""What an accuracy posterior holds beside :data:`_ACCURACY_VARS` where its info names probed configs."""


LOAD_CHECKS = (
    "profile.json: every field present, typed and in range; format, model version and feature hash match",
    "every file named is a plain name inside the profile folder (no absolute path, '..', symlink out or loop)",
    "every posterior file's SHA-256 matches the digest profile.json holds for it (no swapped or edited file)",
    f"netCDF only (never pickle), no links or external data; expected variables, dims and float dtypes; "
    f"1 to {MAX_DRAWS_ON_LOAD:,} draws",
    f"every draw finite and physically plausible (cache capacities {CAPACITY_BOUNDS_BYTES[0]:,} B to "
    f"{CAPACITY_BOUNDS_BYTES[1]:,} B, accuracies in [0, 1], noise scales positive)",
)
"""What :meth:`Profile.load` verifies, in words (``advisor doctor --profile`` lists them)."""


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
        energy_datasets: the data sets the energy fit saw, in the order of its fitted cost factors.
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
    drift: float | None = None
    """The calibration sentinel's drift (last third over first third, minus 1), when measured."""
    drift_corrected: bool = False
    """Whether that drift exceeded twice the noise floor and the energies were corrected for it (only when
    removing it brought the calibration's repeat pairs closer together: models.features.correct_drift)."""
    datasets: dict[str, AccuracyInfo] = field(default_factory=dict)
    energy_datasets: tuple[str, ...] = ()
    evaluation: EvaluationSummary | None = None
    files: dict[str, str] = field(default_factory=dict)
    """SHA-256 of every posterior file by name: binds each file to this metadata (a swapped file is refused)."""
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
            "format_version": self.format_version,
            "model_version": self.model_version,
            "feature_hash": self.feature_hash,
            "created_unix_s": self.created_unix_s,
            "fingerprint": self.fingerprint.to_dict(),
            "meter_kinds": list(self.meter_kinds),
            "meters": list(self.meters),
            "tiers": [dataclasses.asdict(t) for t in self.tiers],
            "run_ids": list(self.run_ids),
            "observations": self.observations,
            "diagnostics": self.diagnostics.to_dict(),
            "noise_floor": self.noise_floor,
            "drift": self.drift,
            "drift_corrected": self.drift_corrected,
            "datasets": {name: {**info.to_dict(), "file": accuracy_file(name)} for name, info in self.datasets.items()},
            "energy_datasets": list(self.energy_datasets),
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
            "files": dict(self.files),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ProfileMetadata:
        """Read and check the JSON form; raises schema.SchemaError naming the field."""
        data = schema.obj(data, "")
        _check_versions(data)
        evaluation = data.get("evaluation")
        return cls(
            fingerprint=_fingerprint(data),
            meter_kinds=_meter_kinds(data),
            meters=tuple(str(m)[:100] for m in schema.array(data, "meters", max_len=16)),
            tiers=_tiers(data),
            run_ids=_run_ids(data),
            observations=schema.integer(data, "observations", hi=10**8),
            diagnostics=Diagnostics.from_dict(data.get("diagnostics")),
            noise_floor=schema.optional_number(data, "noise_floor", "", 0.0, 100.0),
            drift=schema.optional_number(data, "drift", "", -1.0, 100.0),
            drift_corrected=data.get("drift_corrected", False) is True,
            datasets=_datasets(data),
            energy_datasets=_energy_datasets(data),
            created_unix_s=schema.number(data, "created_unix_s", "", 0.0, 1e11),
            evaluation=EvaluationSummary.from_dict(evaluation) if evaluation is not None else None,
            files=_file_hashes(data),
        )


def _check_versions(data: Any) -> None:
    version, model = schema.integer(data, "format_version"), schema.text(data, "model_version", max_len=100)
    if version != FORMAT_VERSION or model != MODEL_VERSION:
        raise schema.SchemaError(
            f"model_version: made by model {model!r} (format {version}); this advisor uses "
            f"{MODEL_VERSION!r} (format {FORMAT_VERSION}): re-run 'advisor fit'"
        )
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
        size = schema.integer(item, "size_bytes", at, *CAPACITY_BOUNDS_BYTES)
        tiers.append(Tier(schema.text(item, "name", at, 32), size))
    return tuple(tiers)


def _run_ids(data: Any) -> tuple[int, ...]:
    ids = schema.array(data, "run_ids", max_len=10**7)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise schema.SchemaError("run_ids: expected a list of integers")
    return tuple(ids)


def _datasets(data: Any) -> dict[str, AccuracyInfo]:
    out = {}
    entries = schema.mapping(data, "datasets", max_len=MAX_DATASETS)
    _refuse_shared_files(entries)
    for name, entry in entries.items():
        at = f"datasets.{name}"[:200]
        entry = schema.obj(entry, at)
        if schema.text(entry, "file", at) != accuracy_file(name):
            raise schema.SchemaError(f"{at}.file: expected {accuracy_file(name)!r}")
        out[str(name)] = AccuracyInfo.from_dict(entry, at)
    return out


def _energy_datasets(data: Any) -> tuple[str, ...]:
    """The data sets the energy fit saw (``energy_datasets``): distinct names, bounded in number and length."""
    names = schema.array(data, "energy_datasets", max_len=MAX_ENERGY_DATASETS)
    if any(not isinstance(n, str) or not 0 < len(n) <= 200 for n in names) or len(set(names)) != len(names):
        raise schema.SchemaError("energy_datasets: expected distinct names of 1 to 200 characters")
    return tuple(names)


def _file_hashes(data: Any) -> dict[str, str]:
    files = schema.mapping(data, "files", max_len=MAX_DATASETS + 1)
    out = {}
    for name, digest in files.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise schema.SchemaError(f"files.{str(name)[:80]}: expected a SHA-256 hex digest")
        out[str(name)] = digest
    return out


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_file(folder: Path, name: str, meta: ProfileMetadata) -> Path:
    """The file, inside the folder, bounded in size, with the digest profile.json names for it."""
    file = _inside(folder, name)
    if file.stat().st_size > MAX_NC_BYTES:
        raise ProfileError(f"{file}: larger than {MAX_NC_BYTES // 2**20} MiB: not a profile's posterior")
    expected = meta.files.get(name)
    if expected is None:
        raise ProfileError(f"{folder / PROFILE_JSON}: files: no digest for {name!r}")
    if _sha256(file) != expected:
        raise ProfileError(f"{file}: content does not match the digest in profile.json (swapped or edited)")
    return file


def _refuse_shared_files(names) -> None:
    """Two data set names that sanitise to one file name would share (and overwrite) one posterior."""
    files: dict[str, str] = {}
    for name in names:
        other = files.setdefault(accuracy_file(name), name)
        if other != name:
            raise schema.SchemaError(
                f"datasets: {other[:80]!r} and {name[:80]!r} would share the file {accuracy_file(name)!r}: rename one"
            )


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
    def machine(self) -> MachineState | None:
        """The machine state its predictions apply (a recheck, the day-to-day spread); None: the calibration
        day's posterior as fitted (:meth:`models.energy.EnergyPosterior.with_machine`)."""
        return self.energy.machine

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

    def predict(self, configs: pd.DataFrame | None = None, beyond_grid: bool = False, **columns: Any) -> pd.DataFrame:
        """Energy per datum of configs (a DataFrame or keyword lists); see :func:`models.predict.predict`."""
        from models.predict import predict

        frame = pd.DataFrame(columns) if configs is None else configs
        dims = {name: (info.input_dim, info.output_dim) for name, info in self.datasets.items()}
        return predict(self.energy, frame, self.estimated, beyond_grid, dims)

    def save(self, path: Path | str) -> Path:
        """Write the profile folder atomically (replacing any previous profile at ``path``)."""
        path = check_profile_destination(path)
        try:
            _refuse_shared_files(self.accuracy)
        except schema.SchemaError as exc:
            raise ProfileError(str(exc)) from None
        meta = dataclasses.replace(
            self.metadata, datasets=self.datasets, energy_datasets=self.energy.datasets, created_unix_s=time.time()
        )
        try:
            _energy_datasets({"energy_datasets": list(meta.energy_datasets)})  # what load will accept
        except schema.SchemaError as exc:
            raise ProfileError(f"cannot save profile {path}: {exc}") from None
        try:
            with atomic_folder(path) as tmp:
                self.energy.to_dataset().to_netcdf(tmp / ENERGY_NC, group="posterior", engine="h5netcdf")
                for name, acc in self.accuracy.items():
                    acc.to_dataset().to_netcdf(tmp / accuracy_file(name), group="posterior", engine="h5netcdf")
                names = [ENERGY_NC, *(accuracy_file(name) for name in self.accuracy)]
                meta = dataclasses.replace(meta, files={name: _sha256(tmp / name) for name in names})
                (tmp / PROFILE_JSON).write_text(json.dumps(meta.to_dict(), indent=2))
        except OSError as exc:
            raise ProfileError(f"cannot write profile {path}: {first_line(exc)}") from None
        return path

    @classmethod
    def load(cls, path: Path | str) -> Profile:
        """Load and validate a profile folder (or its profile.json); see the module docstring.

        Raises:
            ProfileError: one line naming the file and the field at fault.
        """
        folder = _folder(Path(path))
        meta = read_metadata(folder)
        sizes = {"T": len(meta.tiers), "P": 2, "M": len(TERMS), "D": len(meta.energy_datasets)}
        expected = {**_ENERGY_VARS, **(_DATASET_FACTOR_VAR if meta.energy_datasets else {})}
        draws = _read_draws(folder, ENERGY_NC, meta, expected, sizes, {"dataset": meta.energy_datasets})
        energy = EnergyPosterior(draws, meta.tiers, meta.diagnostics, meta.energy_datasets)
        accuracy = {}
        for name, info in meta.datasets.items():
            expected = {**_ACCURACY_VARS, **(_CONFIG_VARS if info.configs else {})}
            sizes = {"S": 8, "C": len(info.configs)}
            draws = _read_draws(folder, accuracy_file(name), meta, expected, sizes)
            _check_probabilities(folder / accuracy_file(name), draws, info)
            accuracy[name] = AccuracyPosterior(draws, info)
        return cls(energy, meta, accuracy, folder)


load = Profile.load


def check_profile_destination(path: Path | str) -> Path:
    """Where a profile may be written: a writable place, holding nothing or an earlier profile (InputError)."""
    path = check_destination(path, folder=True)
    if path.exists() and not (path / PROFILE_JSON).is_file():
        raise ProfileError(f"{path} exists and is not a profile: refusing to replace it")
    return path


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
    try:
        inside = bool(_FILE_NAME.fullmatch(name)) and file.resolve().parent == folder.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a path too long
        raise ProfileError(f"{file}: cannot be resolved (a symlink loop?)") from None
    if not inside:
        raise ProfileError(f"{file}: a profile may only name files inside its own folder")
    if not file.is_file():
        raise ProfileError(f"profile file missing or not a regular file: {file}")
    return file


def read_metadata(folder: Path) -> ProfileMetadata:
    """The folder's ``profile.json``, validated (bounded size, every field typed and in range)."""
    file = folder / PROFILE_JSON
    try:
        if file.stat().st_size > MAX_JSON_BYTES:
            raise ProfileError(f"{file}: larger than {MAX_JSON_BYTES // 2**20} MiB: not a profile")
        _inside(folder, PROFILE_JSON)
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


def _read_draws(
    folder: Path,
    name: str,
    meta: ProfileMetadata,
    expected: dict,
    sizes: dict[str, int],
    labels: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Posterior draws of one netCDF file, each variable checked (dims, dtype, size, finite, in bounds);
    ``labels``: the coordinate values the file must hold along each named dimension (an empty tuple: the
    file must not have that dimension at all)."""
    from models.sampling import thin

    file = _verify_file(folder, name, meta)
    with open(file, "rb") as handle:
        if handle.read(8) != _HDF5_MAGIC:
            raise ProfileError(f"{file} is not a netCDF-4 file (profiles are never pickles)")
    try:
        import xarray as xr

        with warnings.catch_warnings():  # xarray/h5py comment on malformed files; we refuse them in one line
            warnings.simplefilter("ignore")
            _scan_hdf5(file)  # before xarray touches anything: it would follow links and build indexes
            with xr.open_dataset(file, group="posterior", engine="h5netcdf") as posterior:
                _check_variables(file, posterior, expected, sizes)
                _check_labels(file, posterior, labels or {})
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


def _scan_hdf5(file: Path) -> None:
    """Refuse what would make reading reach outside the file or allocate without bound: soft and external
    links, external or virtual datasets, and any array larger than a profile ever needs."""
    import h5py

    with h5py.File(file, "r") as h5:
        links: list[str] = []
        h5.visit_links(links.append)
        if len(links) > MAX_HDF5_OBJECTS:
            raise ProfileError(f"{file}: more than {MAX_HDF5_OBJECTS} objects: not a profile")
        for name in links:
            link = h5.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ProfileError(f"{file}: {name!r} is a {type(link).__name__} (a profile holds only its own data)")
            item = h5[name]
            if isinstance(item, h5py.Dataset):
                if item.external or item.is_virtual:
                    raise ProfileError(f"{file}: {name!r} stores its data outside the file")
                if item.size > MAX_ELEMENTS:
                    raise ProfileError(f"{file}: {name!r} has {item.size:,} values, more than a profile holds")


def _check_variables(file: Path, posterior, expected: dict, sizes: dict[str, int]) -> None:
    if "chain" not in posterior.sizes or "draw" not in posterior.sizes:
        raise ProfileError(f"{file}: posterior lacks chain/draw dimensions")
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    if not (n_chain >= 1 and n_draw >= 1):
        raise ProfileError(f"{file}: the posterior holds no draws")
    if n_chain * n_draw > MAX_DRAWS_ON_LOAD:
        raise ProfileError(f"{file}: more than {MAX_DRAWS_ON_LOAD} draws")
    for var, (dims, _) in expected.items():
        if var not in posterior:
            raise ProfileError(f"{file} lacks posterior variable {var!r}")
        values = posterior[var]
        want = tuple(sizes[d] for d in dims)
        if values.dims[:2] != ("chain", "draw") or tuple(values.shape[2:]) != want:
            raise ProfileError(
                f"{file}: posterior variable {var!r} has shape {values.shape}, expected "
                f"(chain, draw{''.join(f', {n}' for n in want)})"
            )
        if values.dtype.kind != "f":
            raise ProfileError(f"{file}: posterior variable {var!r} is {values.dtype}, expected floats")


def _check_labels(file: Path, posterior, labels: dict[str, tuple[str, ...]]) -> None:
    """The file's coordinate values along each dimension of ``labels`` are exactly those profile.json names."""
    for dim, names in labels.items():
        found = tuple(str(v) for v in posterior[dim].to_numpy()) if dim in posterior.dims else ()
        if found != tuple(names):
            raise ProfileError(
                f"{file}: its {dim} labels {list(found)[:4]!r:.120} are not profile.json's "
                f"energy_datasets {list(names)[:4]!r:.120}"
            )


def _check_probabilities(file: Path, draws: dict[str, np.ndarray], info: AccuracyInfo) -> None:
    if info.task == "regression":
        return
    for var in ("floor", "top"):
        if draws[var].min() < 0 or draws[var].max() > 1:
            raise ProfileError(f"{file}: posterior variable {var!r} is an accuracy outside [0, 1]")
