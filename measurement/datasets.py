"""Datasets for calibration and probes, preprocessed as BUTTER does.

A spec is one of: a scikit-learn bundled name (``digits``, ``breast_cancer``, ``wine``; ``diabetes``, a
regression — no download),
``synthetic:N,D,K`` (N samples, D features, K classes; K=0 means regression), or a CSV / Parquet / NPZ
file with a target column. Feature columns: constant dropped; 2-valued -> 0/1; non-numeric -> one-hot;
numeric -> min-max scaled (an intensity stays one input: ``digits`` has 64 inputs, not 884 one-hot ones,
and trains to ~97% where the one-hot form plateaus near 94%). The target: <= 20 distinct values or
non-numeric -> classes (binary or multiclass), otherwise regression (min-max scaled); it sets the output
width and the task. Where that rule guesses wrong (a rating or count is a regression; many numeric category
codes are classes), the user says what the target is (``--task``: :class:`TargetKind`).

A data set from a file is *named* by its stem (``data/landsat.csv.gz`` -> ``landsat``; see
:func:`dataset_name`): that is the name profiles, ``--dataset`` and the API use, while the run store keeps the
path as given beside the content hash. A stem that is a bundled name or a synthetic spec is refused.

A file is read within the bounds of :mod:`measurement.tables` (rows, columns, cells, decompressed text and
memory, checked while reading; an NPZ file's array headers are checked before its arrays are loaded), and
the encoded inputs are bounded too: rows x input width <= ``ENCODED_MAX_VALUES`` (a one-hot column of many
distinct values is refused before it is built), and a target has at most ``TARGET_MAX_CLASSES`` classes.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from measurement.errors import InputError, first_line
from measurement.tables import TableBounds, TableError, read_table

BUNDLED = ("digits", "breast_cancer", "wine", "diabetes")
ONE_HOT_MAX_DISTINCT = 20
TEST_FRACTION = 0.2
ENCODED_MAX_VALUES = 2**26
"""Rows x input width of the encoded features (256 MiB of float32), checked before a one-hot column is built."""
TARGET_MAX_CLASSES = 1000
"""Classes a target may have (the output layer's width; as for ``synthetic:N,D,K``)."""
SYNTHETIC_PREFIX = "synthetic"
DATA_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".parquet", ".pq", ".npz"})
"""Suffixes that mark a ``--dataset`` value as a file even where no such file exists (a path typed again later)."""
COMPRESSED_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".zst", ".zip"})
"""A compression suffix is dropped with the format's: ``landsat.csv.gz`` is named ``landsat``."""


class DatasetError(InputError):
    """A dataset spec or file we cannot use; the message says why in one line."""


class Task(enum.StrEnum):
    """What the output layer and loss are."""

    MULTICLASS = "multiclass"
    BINARY = "binary"
    REGRESSION = "regression"


class TargetKind(enum.StrEnum):
    """What a data file's target is when the user says so (``--task``), overriding the rule of the module doc:
    an integer-coded quantity (a rating, a count, 201_pol's 11 values) is a regression; a numeric code of many
    categories is a classification."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A preprocessed, split dataset (float32 features; targets as class indices or scaled values)."""

    name: str
    task: Task
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    output_dim: int

    @property
    def input_dim(self) -> int:
        """Width of the preprocessed input."""
        return int(self.x_train.shape[1])

    @property
    def train_samples(self) -> int:
        """Number of training rows."""
        return int(self.x_train.shape[0])

    @property
    def train_bytes(self) -> int:
        """Bytes of the training features (competes with the network for cache)."""
        return int(self.x_train.nbytes)

    @property
    def constant_accuracy(self) -> float | None:
        """Test accuracy of always predicting the training set's most frequent class (the floor a network's
        learning curve starts from after its first epoch; 0.5 on splice, whose chance level 1/3 is far below
        it); None for regression."""
        if self.task is Task.REGRESSION or len(self.y_test) == 0:
            return None
        majority = np.bincount(np.asarray(self.y_train, dtype=np.int64).ravel()).argmax()  # labels: class indices
        return float(np.mean(np.asarray(self.y_test).ravel() == majority))

    def fingerprint(self) -> str:
        """Short content hash, so runs can tell two files of the same name apart."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:12]


def is_builtin(spec: str) -> bool:
    """Whether a data set spec names a data set the project makes itself: a bundled name or a synthetic spec."""
    return spec in BUNDLED or spec.startswith(f"{SYNTHETIC_PREFIX}:")


def is_file_spec(spec: str) -> bool:
    """Whether a data set spec names a file: a data-file suffix, a folder in it, or an existing file with a
    suffix. A bare name (``landsat``, ``digits``, ``synthetic:N,D,K``) is not one."""
    if is_builtin(spec):
        return False
    path = Path(spec)
    if "/" in spec or "\\" in spec or path.suffix.lower() in DATA_SUFFIXES | COMPRESSED_SUFFIXES:
        return True
    return bool(path.suffix) and path.is_file()


def file_stem(spec: str) -> str:
    """A data file's name without its compression and format suffixes (``a/landsat.csv.gz`` -> ``landsat``)."""
    path = Path(spec)
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        path = Path(path.stem)
    return path.stem


def dataset_name(spec: str) -> str:
    """The name a data set goes by in profiles, ``--dataset`` and the API: a file's stem (its path and content
    hash are recorded in the run store); a bundled name, a synthetic spec or a bare name as it is.

    Raises:
        DatasetError: a file whose stem is a bundled name or a synthetic spec (it would be taken for that data
            set): the message suggests renaming the file.
    """
    spec = str(spec)
    if not is_file_spec(spec):
        return spec
    stem = file_stem(spec)
    if is_builtin(stem):
        raise DatasetError(
            f"data file {spec[:200]} would be named {stem!r} (a file's data set is named by its stem), which "
            f"names another data set: rename the file, e.g. to my_{Path(spec).name}"
        )
    return stem


def _refuse_infinite(series, what: str) -> None:
    """Infinite values would turn min-max scaling into NaN features: refuse them at the door."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and not np.isfinite(series.to_numpy(np.float64)).all():
        raise DatasetError(f"{what} has infinite values; replace them first")


def _encode_column(values, max_width: int = ENCODED_MAX_VALUES) -> np.ndarray:
    """A feature column -> a 2-D float block (possibly zero columns for a constant); see the module doc.

    Raises:
        DatasetError: missing or infinite values, or a one-hot block wider than ``max_width`` columns.
    """
    import pandas as pd

    series = pd.Series(values)
    if series.isna().any():
        raise DatasetError(f"column {series.name!r} has missing values (NaN); fill or drop them first")
    _refuse_infinite(series, f"column {series.name!r}")
    distinct = series.nunique()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if distinct <= 1:
        return np.empty((len(series), 0), dtype=np.float32)
    if distinct == 2:
        return (series == sorted(series.unique(), key=str)[1]).to_numpy(np.float32)[:, None]
    if not numeric:
        if distinct > max_width:
            raise DatasetError(
                f"column {series.name!r}: one-hot encoding its {distinct:,} distinct values passes the bound of "
                f"{ENCODED_MAX_VALUES:,} encoded values (rows x input width); drop or bucket the column"
            )
        return pd.get_dummies(series.astype(str)).to_numpy(np.float32)
    return _min_max(series)[:, None]


def _min_max(series) -> np.ndarray:
    """A numeric column scaled to [0, 1] (float32), in its values' order."""
    column = series.to_numpy(np.float64)
    return ((column - column.min()) / (column.max() - column.min())).astype(np.float32)


def _encode_target(values, kind: TargetKind | None = None) -> tuple[np.ndarray, Task, int]:
    import pandas as pd

    series = pd.Series(values)
    if series.isna().any():
        raise DatasetError("the target column has missing values (NaN)")
    _refuse_infinite(series, "the target column")
    distinct = series.nunique()
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if distinct < 2:
        raise DatasetError("the target has a single value: nothing to learn")
    if kind is TargetKind.REGRESSION:
        if not numeric:
            raise DatasetError(f"--task regression needs a numeric target; it holds {series.dtype} values")
        if distinct == 2:  # its scaled values would be the binary reading's, byte for byte: one data set, two tasks
            raise DatasetError("--task regression needs a target of at least 3 values; this one has 2 (a binary class)")
        return _min_max(series), Task.REGRESSION, 1
    if distinct == 2:
        return _encode_column(series)[:, 0], Task.BINARY, 1
    if distinct <= ONE_HOT_MAX_DISTINCT or not numeric or kind is TargetKind.CLASSIFICATION:
        if distinct > TARGET_MAX_CLASSES:
            raise DatasetError(f"the target has {distinct:,} classes, over the bound of {TARGET_MAX_CLASSES:,}")
        codes = pd.Categorical(series.astype(str)).codes.astype(np.int64)
        return codes, Task.MULTICLASS, int(distinct)
    return _encode_column(series)[:, 0], Task.REGRESSION, 1


def from_frame(name: str, features, target, seed: int = 0, kind: TargetKind | None = None) -> Dataset:
    """Preprocess a feature table and a target column (``kind``: what the target is, where the user says so),
    then split 80/20 (shuffled, seeded)."""
    import pandas as pd

    features = pd.DataFrame(features)
    if len(features) < 10:
        raise DatasetError(f"dataset {name!r} has {len(features)} rows; at least 10 are needed")
    y, task, output_dim = _encode_target(target, kind)
    blocks, width = [], 0
    for column in features.columns:
        blocks.append(_encode_column(features[column].rename(str(column)), ENCODED_MAX_VALUES // len(features) - width))
        width += blocks[-1].shape[1]
    x = np.concatenate(blocks, axis=1) if blocks else np.empty((len(features), 0), np.float32)
    if x.shape[1] == 0:
        raise DatasetError(f"dataset {name!r} has no usable feature columns (all constant)")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, round(TEST_FRACTION * len(x)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        name=name, task=task, x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test], output_dim=output_dim
    )


def synthetic(samples: int, features: int, classes: int, seed: int = 0) -> Dataset:
    """Gaussian features; labels from a random linear map (K >= 2) or a noisy linear target (K = 0)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features)).astype(np.float32)
    weights = rng.standard_normal((features, max(classes, 1)))
    scores = x @ weights + 0.3 * rng.standard_normal((samples, max(classes, 1)))
    target = scores.argmax(axis=1) if classes >= 2 else scores[:, 0]
    # synthetic features are already scaled: min-max them like any continuous column
    x = (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0))
    name = f"synthetic:{samples},{features},{classes}"
    if classes >= 2:
        order = rng.permutation(samples)
        n_test = max(1, round(TEST_FRACTION * samples))
        te, tr = order[:n_test], order[n_test:]
        task, out = (Task.BINARY, 1) if classes == 2 else (Task.MULTICLASS, classes)
        y = target.astype(np.float32) if classes == 2 else target.astype(np.int64)
        return Dataset(name=name, task=task, x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te], output_dim=out)
    return from_frame(name, x, target, seed=seed)


def _bundled(name: str) -> Dataset:
    from sklearn import datasets as sk

    loader = {
        "digits": sk.load_digits,
        "breast_cancer": sk.load_breast_cancer,
        "wine": sk.load_wine,
        "diabetes": sk.load_diabetes,
    }[name]
    bunch = loader()
    return from_frame(name, bunch.data, bunch.target)


def _npz_header(npz, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """An NPZ member's shape and dtype, from its header alone (the array is not read)."""
    with npz.zip.open(f"{key}.npy") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)
    return tuple(shape), dtype


def _check_npz(path: Path, npz, bounds: TableBounds) -> None:
    """Refuse an NPZ data set past the table bounds before its arrays are loaded."""
    if "x" not in npz or "y" not in npz:
        raise DatasetError(f"{path}: an NPZ dataset needs arrays 'x' and 'y' (found {list(npz)})")
    (x_shape, x_dtype), (y_shape, y_dtype) = _npz_header(npz, "x"), _npz_header(npz, "y")
    if x_dtype.hasobject or y_dtype.hasobject:
        raise DatasetError(f"cannot read dataset {path}: object arrays need pickle, which is not loaded")
    if len(x_shape) not in (1, 2) or len(y_shape) != 1 or x_shape[0] != y_shape[0]:
        raise DatasetError(f"{path}: 'x' must be rows (x features) and 'y' one value a row, got {x_shape}, {y_shape}")
    rows, columns = x_shape[0], math.prod(x_shape[1:])
    size_bytes = rows * columns * x_dtype.itemsize + rows * y_dtype.itemsize
    for value, bound, what in (
        (rows, bounds.max_rows, "rows"),
        (columns, bounds.max_columns, "columns"),
        (rows * columns, bounds.max_cells, "cells (rows x columns)"),
        (size_bytes, bounds.max_memory_bytes, "bytes in memory"),
    ):
        if value > bound:
            raise DatasetError(f"{path}: {value:,} {what}, over the bound of {bound:,} for a data file")


def _read_table(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() != ".npz":
            return read_table(path, delimiter=None)
        with np.load(path, allow_pickle=False) as npz:
            _check_npz(path, npz, TableBounds())
            frame = pd.DataFrame(npz["x"])
            frame["target"] = npz["y"]
            return frame
    except TableError as exc:
        raise DatasetError(f"cannot read dataset {exc}") from None
    except DatasetError:
        raise
    except Exception as exc:  # numpy raises many types for broken files
        first = first_line(exc)
        raise DatasetError(f"cannot read dataset {path}: {first}") from None


MAX_SYNTHETIC_SAMPLES = 10**7
MAX_SYNTHETIC_FEATURES = 2**16
MAX_SYNTHETIC_VALUES = 2**28
"""A synthetic data set holds at most 2^28 values (1 GiB of float32): a typo cannot exhaust memory."""


def load_dataset(spec: str, target: str | None = None, seed: int = 0, kind: TargetKind | None = None) -> Dataset:
    """Load a dataset by spec (see module doc); ``target`` and ``kind`` (what the target is: classification or
    regression, else the module doc's rule) apply to a data file only.

    Raises:
        DatasetError: unknown name, bad synthetic spec, unreadable file, missing target column, NaNs …
    """
    if kind is not None and not is_file_spec(spec):
        raise DatasetError(f"--task applies to a data file; {spec[:80]!r} has its own task")
    if spec in BUNDLED:
        return _bundled(spec)
    match = re.fullmatch(r"synthetic:(\d{1,12}),(\d{1,12}),(\d{1,12})", spec)
    if match:
        n, d, k = map(int, match.groups())
        if not (
            10 <= n <= MAX_SYNTHETIC_SAMPLES
            and 1 <= d <= MAX_SYNTHETIC_FEATURES
            and k != 1
            and k <= 1000
            and n * d <= MAX_SYNTHETIC_VALUES
        ):
            raise DatasetError(
                f"synthetic:N,D,K needs 10 <= N <= {MAX_SYNTHETIC_SAMPLES:,}, 1 <= D <= {MAX_SYNTHETIC_FEATURES:,}, "
                f"N x D <= {MAX_SYNTHETIC_VALUES:,} and K = 0 or 2..1000, got {spec[:80]!r}"
            )
        return synthetic(n, d, k, seed=seed)
    if spec.startswith(SYNTHETIC_PREFIX):
        raise DatasetError(f"bad synthetic spec {spec!r}: use synthetic:N,D,K (e.g. synthetic:4096,16,4)")
    path = Path(spec)
    if not path.suffix or not path.exists():
        raise DatasetError(
            f"unknown dataset {spec[:200]!r}: use {', '.join(BUNDLED)}, synthetic:N,D,K or an existing "
            "CSV/Parquet/NPZ file"
        )
    name = dataset_name(spec)  # refused before reading when the stem would pass for another data set
    frame = _read_table(path)
    column = target or ("target" if "target" in frame.columns else None)
    if column is None or column not in frame.columns:
        raise DatasetError(f"{path}: no target column {column or ''!r} (pass --target; columns: {list(frame.columns)})")
    if frame.shape[1] < 2:
        raise DatasetError(f"{path}: only the target column was found (is the delimiter right?)")
    return from_frame(name, frame.drop(columns=[column]), frame[column], seed=seed, kind=kind)
