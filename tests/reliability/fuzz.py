"""Generators for the fuzz tests: hostile argument vectors for every subcommand, and mutations of a profile.

Argument vectors mix valid and hostile values per option; commands that do real work get a suffix that
bounds it (argparse keeps the last value of a repeated option, but converts and checks every one), so a
vector that happens to be valid finishes within seconds instead of calibrating for ten minutes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from tests.fakes.profiles import rehash

NUMBERS = ["0", "1", "2", "3", "8", "20", "21", "256", "0.5", "0.9", "0.95", "1.5", "-1", "-0.5", "1e308", "1e999",
           "-1e999", "nan", "inf", "-inf", "2^14", "2^99", "10^9", "1e18", "99999999999999999999", "0x10", "1_000",
           "", " ", "abc", "é", "--", "5s", "10m", "1.5h", "999999h", "-5m", "0s"]  # fmt: skip
SHAPES = [
    "rectangle",
    "trapezoid",
    "wide_first_16x",
    "triangle",
    "",
    "RECTANGLE",
    "rectangle,trapezoid",
    ",",
    "x" * 300,
]
DATASETS = ["digits", "wine", "mnist", "synthetic:200,4,2", "synthetic:0,0,0", "synthetic:99999999999,999999,4",
            "synthetic:1e9,1,1", "{tmp}/none.csv", "{tmp}", "/proc/self/status", "../../etc/passwd", ""]  # fmt: skip
PATHS = ["{tmp}/out.csv", "{tmp}/out.parquet", "{tmp}/sub/deeper/out.png", "{tmp}", "{tmp}/none",
         "/proc/advisor/x", "{tmp}/fifo", "../escape.csv", "", "{tmp}/runs.sqlite", "{reference}"]  # fmt: skip
METERS = ["auto", "replay", "estimate", "rapl", "nvml", "trace", "wattson", ""]
DEVICES = ["cpu", "cuda", "cuda:0", "cuda:x", "tpu", ""]
OBJECTIVES = ["energy-per-datum", "training-energy", "train", "inference", "lifecycle", "fastest", ""]
FORMATS = ["csv", "parquet", "table", "json", "xml"]

RECOMMEND = {"--profile": PATHS, "--dataset": DATASETS, "--accuracy": NUMBERS, "--confidence": NUMBERS,
             "--top": NUMBERS, "--shapes": SHAPES, "--min-depth": NUMBERS, "--max-depth": NUMBERS,
             "--min-size": NUMBERS, "--max-size": NUMBERS, "--max-params": NUMBERS, "--batch-size": NUMBERS,
             "--epochs": [*NUMBERS, "auto", "AUTO", "often"], "--predictions": NUMBERS, "--objective": OBJECTIVES,
             "--grid-g-per-kwh": NUMBERS, "--plot": PATHS, "--wide": None, "--json": None, "--csv": None}  # fmt: skip
CONFIG = {"--shape": SHAPES, "--depth": NUMBERS, "--size": NUMBERS, "--input-dim": NUMBERS, "--output-dim": NUMBERS}
PREDICT = {**CONFIG, "--profile": PATHS, "--batch-size": NUMBERS, "--phase": ["train", "inference", "test"],
           "--beyond-grid": None, "--json": None}  # fmt: skip
ARCH = {"--input-dim": NUMBERS, "--output-dim": NUMBERS, "--batch-size": NUMBERS, "--grid": None,
        "--beyond-grid": None, "--json": None, "--format": FORMATS}  # fmt: skip
SWEEP = {"--budget": NUMBERS, "--max-runs": NUMBERS, "--seed": NUMBERS, "--meter": METERS, "--device": DEVICES,
         "--threads": NUMBERS, "--windows": NUMBERS, "--window": NUMBERS, "--idle": NUMBERS, "--store": PATHS,
         "--trace": PATHS, "--trace-max-gap": NUMBERS, "--core-watts": NUMBERS, "--json": None,
         "--resume": None}  # fmt: skip
COMMANDS: dict[str, dict] = {
    "recommend": RECOMMEND,
    "predict": PREDICT,
    "arch": ARCH,
    "doctor": {"--json": None, "--profile": PATHS},
    "runs": {"--store": PATHS, "--format": FORMATS, "--out": PATHS, "--ok-only": None},
    "fit": {
        "--store": PATHS,
        "--out": PATHS,
        "--plot": PATHS,
        "--draws": NUMBERS,
        "--tune": NUMBERS,
        "--chains": NUMBERS,
        "--json": None,
    },
    "evaluate": {"--store": PATHS, "--runs": PATHS, "--folds": NUMBERS, "--save-to": PATHS, "--json": None},
    "calibrate": {**SWEEP, "--dataset": DATASETS},
    "probe": {
        **SWEEP,
        "--epochs": NUMBERS,
        "--batch-size": NUMBERS,
        "--target": ["target", "label", ""],
        "--no-fit": None,
        "--profile": PATHS,
    },
}
WEIGHTS = {"recommend": 6, "predict": 5, "arch": 5, "doctor": 2, "runs": 3, "fit": 2, "evaluate": 2, "calibrate": 2,
           "probe": 2}  # fmt: skip
BOUNDED = {
    # the last value of a repeated option wins: whatever was fuzzed before, the work stays seconds long
    "calibrate": ["--meter", "replay", "--replay", "{replay}", "--budget", "3s", "--max-runs", "1", "--windows", "1",
                  "--window", "0.01s", "--idle", "0s", "--dataset", "synthetic:200,4,2"],
    "probe": ["--meter", "replay", "--replay", "{replay}", "--budget", "3s", "--max-runs", "1", "--windows", "1",
              "--window", "0.01s", "--idle", "0s", "--epochs", "1", "--no-fit"],
    "fit": ["--store", "{tmp}/empty.sqlite"],  # every argument is checked before the store is read
    "evaluate": ["--folds", "2", "--store", "{tmp}/empty.sqlite"],
}  # fmt: skip
OUTPUT_OPTIONS = {"--out", "--plot", "--store", "--save-to", "--profile"}


@st.composite
def argument_vectors(draw) -> list[str]:
    """One command line: a subcommand, 0-4 fuzzed options (maybe a positional), and the work-bounding suffix."""
    names = [name for name, weight in WEIGHTS.items() for _ in range(weight)]
    command = draw(st.sampled_from(names))
    options = COMMANDS[command]
    argv = [command]
    if command == "probe":
        argv.append(draw(st.sampled_from(DATASETS)))
    if command == "arch" and draw(st.booleans()):
        argv += [draw(st.sampled_from(SHAPES)), draw(st.sampled_from(NUMBERS)), draw(st.sampled_from(NUMBERS))]
    for option in draw(st.lists(st.sampled_from(sorted(options)), max_size=4)):
        values = options[option]
        argv += [option] if values is None else [option, draw(st.sampled_from(values))]
    return argv + BOUNDED.get(command, [])


def written_outputs(argv: list[str]) -> set[str]:
    """Paths a command was told it may write (the values of its output options)."""
    return {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in OUTPUT_OPTIONS}


# ---- profile mutations ----------------------------------------------------------------------------------------

JSON_VALUES = [None, True, -1, 0, 2**70, 1e308, -1e308, "x", "", [], {}, [1, 2], {"a": 1}, "../../etc/passwd",
               "/etc/passwd", "accuracy-digits.nc", "energy.nc", 3.5, "NaN"]  # fmt: skip


def _json_paths(value, prefix=()) -> list[tuple]:
    """Every path to a leaf or container in a JSON document (bounded: run_ids lists are sampled)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _json_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            out += _json_paths(child, (*prefix, i))
    return out


def _set(doc, path: tuple, value, delete: bool = False) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if delete:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


@st.composite
def json_mutations(draw, meta: dict) -> Callable[[Path], str]:
    """Delete, retype, or put out of range one field of profile.json (or rewrite a file name)."""
    path = draw(st.sampled_from(_json_paths(meta)))
    delete = draw(st.booleans())
    value = draw(st.sampled_from(JSON_VALUES))

    def apply(folder: Path) -> str:
        try:
            doc = json.loads((folder / "profile.json").read_text())
            _set(doc, path, value, delete)
        except (OSError, ValueError, KeyError, IndexError, TypeError):  # an earlier mutation broke or moved it
            return "json (already broken)"
        (folder / "profile.json").write_text(json.dumps(doc))
        return f"json {'delete' if delete else f'set {value!r}'} at {'.'.join(map(str, path))}"

    return apply


NC_VARIABLES = {"energy.nc": ["log_c", "r", "log_S", "log_tau", "log_o", "log_q", "log_k", "sigma", "sigma_dataset",
                              "log_factor_dataset"],
                "accuracy-digits.nc": ["floor", "top", "m", "log_s", "b_depth", "g_shape", "sigma"]}  # fmt: skip
NC_DAMAGE = ["nan", "inf", "-inf", "huge", "negative", "truncate_draws", "no_draws", "drop", "int", "extra_dim",
             "rename"]  # fmt: skip


def _damage_netcdf(file: Path, variable: str, damage: str) -> None:
    import warnings

    with warnings.catch_warnings():  # a twice-added extra dim is a duplicate name: the point of the damage
        warnings.simplefilter("ignore")
        _damage_netcdf_quietly(file, variable, damage)


def _damage_netcdf_quietly(file: Path, variable: str, damage: str) -> None:
    import xarray as xr

    with xr.open_dataset(file, group="posterior", engine="h5netcdf") as ds:
        ds = ds.load()
    values = ds[variable].values.copy()
    if damage in ("nan", "inf", "-inf"):
        values.flat[0] = float(damage)
        ds[variable] = (ds[variable].dims, values)
    elif damage == "huge":
        ds[variable] = (ds[variable].dims, values + 1e6)
    elif damage == "negative":
        ds[variable] = (ds[variable].dims, -np.abs(values) - 1e3)
    elif damage == "truncate_draws":
        ds = ds.isel(draw=slice(0, 3))
    elif damage == "no_draws":
        ds = ds.isel(draw=slice(0, 0))
    elif damage == "drop":
        ds = ds.drop_vars(variable)
    elif damage == "int":
        ds[variable] = (ds[variable].dims, values.astype(np.int64))
    elif damage == "extra_dim":
        ds[variable] = ((*ds[variable].dims, "extra"), values[..., None].repeat(2, axis=-1))
    elif damage == "rename":
        ds = ds.rename_vars({variable: f"{variable}_old"})
    file.unlink()
    ds.to_netcdf(file, group="posterior", engine="h5netcdf")


@st.composite
def netcdf_mutations(draw) -> Callable[[Path], str]:
    """NaN/inf/out-of-range values, truncated or missing arrays, wrong dtypes or dims in a posterior file."""
    file = draw(st.sampled_from(sorted(NC_VARIABLES)))
    variable = draw(st.sampled_from(NC_VARIABLES[file]))
    damage = draw(st.sampled_from(NC_DAMAGE))

    def apply(folder: Path) -> str:
        try:
            _damage_netcdf(folder / file, variable, damage)
            rehash(folder)  # a hostile author keeps the digests consistent: the deeper checks must refuse
        except Exception:  # an earlier mutation broke, moved or swapped the file: leave it as it is
            return f"netcdf {file} (already broken)"
        return f"netcdf {file}:{variable} {damage}"

    return apply


FILE_DAMAGE = ["swap", "symlink_out", "symlink_in", "delete", "truncate", "empty", "directory", "pickle", "huge_json"]


def _damage_file(folder: Path, name: str, damage: str) -> None:
    file = folder / name
    if damage == "swap":
        other = folder / ("accuracy-wine.nc" if name != "accuracy-wine.nc" else "energy.nc")
        tmp = folder / "swap.tmp"
        file.rename(tmp)
        other.rename(file)
        tmp.rename(other)
    elif damage in ("symlink_out", "symlink_in"):
        outside = folder.parent / f"outside-{name}"
        shutil.copy(file, outside)
        file.unlink()
        file.symlink_to(outside if damage == "symlink_out" else folder / "energy.nc")
    elif damage == "delete":
        file.unlink()
    elif damage == "truncate":
        file.write_bytes(file.read_bytes()[: max(1, file.stat().st_size // 3)])
    elif damage == "empty":
        file.write_bytes(b"")
    elif damage == "directory":
        file.unlink()
        file.mkdir()
    elif damage == "pickle":
        import pickle

        file.write_bytes(pickle.dumps({"posterior": [1, 2, 3]}))
    elif damage == "huge_json" and name == "profile.json":
        doc = json.loads(file.read_text())
        doc["run_ids"] = list(range(3_000_000))
        file.write_text(json.dumps(doc))


@st.composite
def file_mutations(draw) -> Callable[[Path], str]:
    """Swap, delete, truncate or replace files; symlinks leaving the folder."""
    damage = draw(st.sampled_from(FILE_DAMAGE))
    name = draw(st.sampled_from(["energy.nc", "accuracy-digits.nc", "accuracy-wine.nc", "profile.json"]))

    def apply(folder: Path) -> str:
        try:
            _damage_file(folder, name, damage)
        except (OSError, ValueError):  # an earlier mutation removed or replaced the file: leave it as it is
            return f"file {name} (already broken)"
        return f"file {name} {damage}"

    return apply
