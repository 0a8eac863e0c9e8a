"""Data files are bounded while they are read: a hostile file is refused naming the bound, within ~2 GB."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from measurement.datasets import ENCODED_MAX_VALUES, DatasetError, from_frame, load_dataset
from measurement.tables import (
    TABLE_MAX_COLUMNS,
    TABLE_MAX_ROWS,
    TableBounds,
    TableError,
    chunk_rows,
    open_table,
    read_table,
)

REPO = Path(__file__).resolve().parents[2]
AS_LIMIT_BYTES = 2_500 * 2**20
"""Address space of the child that reads the hostile file: past it, an allocation fails instead of the kernel
killing the machine."""
PEAK_RSS_LIMIT_BYTES = 2 * 2**30

_CHILD = """
import json, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from measurement.datasets import DatasetError, load_dataset
try:
    load_dataset(sys.argv[1], target="target")
    outcome = "loaded"
except DatasetError as exc:
    outcome = str(exc)
except MemoryError:
    outcome = "MemoryError"
try:  # this process's own peak: ru_maxrss inherits the parent's peak across exec (a busy pytest worker's)
    with open("/proc/self/status") as status:
        peak_kib = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
except (OSError, StopIteration):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "peak_rss_bytes": peak_kib * 1024}))
"""


def _write_gzip_rows(path: Path, rows: int) -> None:
    """A gzip CSV of ``rows`` short rows, written a block at a time (the test never holds the file)."""
    block_rows = 100_000
    block = b"".join(b"%d,%d\n" % (i % 10, i % 2) for i in range(block_rows))
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(b"x,target\n")
        for _ in range(rows // block_rows):
            handle.write(block)


def _read_in_child(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(AS_LIMIT_BYTES)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_60m_row_gzip_csv_is_refused_at_the_row_bound_under_a_memory_limit(tmp_path: Path) -> None:
    path = tmp_path / "hostile.csv.gz"
    began = time.perf_counter()
    _write_gzip_rows(path, 60_000_000)
    assert time.perf_counter() - began < 20, "generating the file should stay fast (else mark the test slow)"
    assert path.stat().st_size < 3 * 2**20  # ~1 MB on disk, 240 MB of text once inflated
    result = _read_in_child(path)
    assert f"over the bound of {TABLE_MAX_ROWS:,} rows" in result["outcome"]
    assert "\n" not in result["outcome"]
    assert result["peak_rss_bytes"] < PEAK_RSS_LIMIT_BYTES


def _hollow_parquet(path: Path, x: np.ndarray) -> None:
    """A valid Parquet file of feature ``x`` and a target whose data pages are then zeroed: only its footer is
    readable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": x, "target": np.arange(len(x), dtype=np.int8) % 2}), path)
    data = bytearray(path.read_bytes())
    footer_bytes = int.from_bytes(data[-8:-4], "little")
    data[4 : len(data) - 8 - footer_bytes] = bytes(len(data) - 12 - footer_bytes)
    path.write_bytes(bytes(data))


def test_parquet_over_the_row_bound_is_refused_from_its_footer(tmp_path: Path) -> None:
    path = tmp_path / "many.parquet"
    _hollow_parquet(path, np.zeros(TABLE_MAX_ROWS + 1, np.int8))  # reading a row would fail on the zeroed pages
    with pytest.raises(DatasetError, match=f"over the bound of {TABLE_MAX_ROWS:,} rows"):
        load_dataset(str(path), target="target")


def test_parquet_declared_size_over_the_memory_bound_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    _hollow_parquet(path, np.random.default_rng(0).random(5_000))  # 40 kB of float64 declared in the footer
    with open_table(path, TableBounds(max_memory_bytes=20_000)) as table, pytest.raises(TableError, match="in memory"):
        next(table.read(None))


def test_csv_with_an_absurd_number_of_columns_is_refused_on_its_header(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(2 * TABLE_MAX_COLUMNS)) + ",target\n"
    path.write_bytes(header.encode() + b"\x00" * (8 * 2**20))  # 8 MiB without a newline: never reached
    with pytest.raises(DatasetError, match=f"20,001 columns, over the bound of {TABLE_MAX_COLUMNS:,}"):
        load_dataset(str(path), target="target")


def test_a_header_longer_than_the_line_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absurd.csv"
    path.write_text(",".join(f"column_{i}" for i in range(200_000)) + "\n1\n")
    with pytest.raises(DatasetError, match="a line longer than the bound of 1 MiB"):
        load_dataset(str(path))


def test_decompressed_text_and_cells_and_memory_bounds(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.xz"
    with lzma.open(path, "wb") as handle:
        handle.write(b"a,b\n" + b"1,2\n" * 10_000)
    with pytest.raises(TableError, match="over the bound of 1,000 bytes of text once decompressed"):
        read_table(path, TableBounds(max_text_bytes=1_000))
    with pytest.raises(TableError, match=r"over the bound of 5,000 cells \(rows x columns, 2 columns\)"):
        read_table(path, TableBounds(max_cells=5_000))
    with pytest.raises(TableError, match="over the bound of 10,000 bytes in memory"):
        read_table(path, TableBounds(max_memory_bytes=10_000))
    assert len(read_table(path)) == 10_000


@pytest.mark.parametrize("packing", ["gzip", "bz2", "zip", "plain"])
def test_packing_is_recognised_by_content_not_name(tmp_path: Path, packing: str) -> None:
    text = b"a;b;target\n" + b"".join(b"%d;%d.5;%d\n" % (i, i % 7, i % 3) for i in range(40))
    path = tmp_path / "data.csv"  # the same name whatever is inside
    if packing == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("inner.csv", text)
    else:
        path.write_bytes({"gzip": gzip.compress, "bz2": bz2.compress, "plain": bytes}[packing](text))
    ds = load_dataset(str(path))  # the delimiter is sniffed from the header line
    assert (ds.input_dim, ds.output_dim, ds.train_samples + len(ds.x_test)) == (2, 3, 40)


def test_unusable_packings_are_refused_in_one_line(tmp_path: Path) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "a,target\n1,0\n")
        archive.writestr("b.csv", "a,target\n1,0\n")
    with pytest.raises(DatasetError, match="exactly one file, found 2"):
        load_dataset(str(two))
    zstd = tmp_path / "d.csv.zst"
    zstd.write_bytes(b"(\xb5/\xfd" + b"\x00" * 64)
    with pytest.raises(DatasetError, match="zstd"):
        load_dataset(str(zstd))
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"a,target\n" + b"1,0\n" * 1000)[:-20])
    with pytest.raises(DatasetError, match=r"cannot read dataset .*broken\.csv\.gz") as info:
        load_dataset(str(broken))
    assert "\n" not in str(info.value)


def test_chunked_reading_equals_one_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 9, (9_000, 300)), columns=[f"c{i}" for i in range(300)])
    frame["c7"] = frame["c7"].astype(float)
    frame.loc[8_500, "c7"] = np.nan  # a NaN only in the last chunk: the column still reads as float
    path = tmp_path / "w.csv"
    frame.to_csv(path, index=False)
    assert chunk_rows(300) < 9_000  # so the file is read in several chunks
    read = read_table(path)
    pd.testing.assert_frame_equal(read.reset_index(drop=True), pd.read_csv(path))


def test_one_hot_encoding_past_the_encoded_bound_is_refused_before_it_is_built() -> None:
    rows = 10_000
    features = pd.DataFrame({"id": [f"user{i}" for i in range(rows)], "x": np.arange(rows) % 7})
    assert rows * rows > ENCODED_MAX_VALUES  # a 10,000-wide one-hot block of 10,000 rows
    with pytest.raises(DatasetError, match="column 'id': one-hot encoding its 10,000 distinct values"):
        from_frame("ids", features, np.arange(rows) % 2)


def test_a_target_with_too_many_classes_is_refused() -> None:
    labels = [f"label{i % 1_500}" for i in range(3_000)]
    with pytest.raises(DatasetError, match="1,500 classes, over the bound of 1,000"):
        from_frame("many", pd.DataFrame({"x": np.arange(3_000) % 5}), labels)


def test_npz_arrays_are_checked_from_their_headers(tmp_path: Path) -> None:
    path = tmp_path / "wide.npz"
    np.savez_compressed(path, x=np.zeros((12, TABLE_MAX_COLUMNS + 1), np.float32), y=np.arange(12) % 2)
    with pytest.raises(DatasetError, match=f"{TABLE_MAX_COLUMNS + 1:,} columns, over the bound"):
        load_dataset(str(path))
    mismatched = tmp_path / "mismatched.npz"
    np.savez(mismatched, x=np.zeros((12, 3)), y=np.arange(11) % 2)
    with pytest.raises(DatasetError, match="one value a row"):
        load_dataset(str(mismatched))
