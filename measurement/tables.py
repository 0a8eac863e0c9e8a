"""Read a user's data file (CSV, compressed CSV, Parquet) within bounds, so that no file can exhaust memory.

Data sets, power traces and run exports come from users, and a small file can hold a huge table (a 1 MB gzip
of 60 M rows inflates to gigabytes). Every bound is checked *while* reading, before the memory it guards is
spent, and a file past one is refused with one line that names the bound (:class:`TableError`, an
:class:`~measurement.errors.InputError`: exit code 2):

- columns: counted on the CSV header line, or read from the Parquet footer, before any row is parsed;
- text: the decompressed bytes are counted as they stream in (compression is recognised by its magic
  bytes, whatever the file is called: gzip, bzip2, xz, or a zip holding one file); no line may be longer
  than ``max_line_bytes``;
- rows and cells (rows x columns): counted chunk by chunk (at most ``CHUNK_CELLS`` cells a chunk);
- memory: the parsed chunks' in-memory size (pandas' deep size) is summed as they are kept;
- Parquet: rows, columns, cells and the declared uncompressed size of the columns read are checked from
  the footer before any data is read; each row group's real size is checked as it is read.

With the default bounds a file is refused or loaded with a peak memory well under 2 GB: at most 256 MiB of
text reaches the parser (in 256 KiB reads), the kept table is at most 256 MiB, and joining the chunks
doubles that once.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import enum
import gzip
import io
import lzma
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from measurement.errors import InputError, first_line

if TYPE_CHECKING:
    import pandas as pd

MIB = 2**20
TABLE_MAX_ROWS = 5_000_000
"""Rows a data file may have (a data set to train small networks on, or a power trace: 58 days at 1 Hz)."""
TABLE_MAX_COLUMNS = 10_000
"""Columns a data file may have, checked on the header line before any row is read."""
TABLE_MAX_CELLS = 2**24
"""Rows x columns a data file may have (16.8 M: 128 MiB as float64)."""
TABLE_MAX_TEXT_BYTES = 256 * MIB
"""Bytes of CSV text, counted after decompression, that a file may hold."""
TABLE_MAX_LINE_BYTES = 1 * MIB
"""Bytes one CSV line may hold (a 10,000-column row of 20-character cells is 200 KB)."""
TABLE_MAX_MEMORY_BYTES = 256 * MIB
"""In-memory size of the parsed table (pandas' deep size, strings included)."""
PARQUET_MAX_FOOTER_BYTES = 16 * MIB
"""Bytes of a Parquet footer (the schema and row-group metadata), checked before the footer is parsed."""
CHUNK_CELLS = 2**20
"""Cells parsed at a time (a chunk of rows is at most this many cells, and at most ``CHUNK_MAX_ROWS`` rows)."""
CHUNK_MAX_ROWS = 65_536
READ_BYTES = 256 * 1024
"""Bytes read from the file at a time."""


class TableError(InputError):
    """A data file that cannot be read within its bounds, or at all; the message names the file and why."""


@dataclass(frozen=True)
class TableBounds:
    """What a data file may hold; every field is a hard bound checked while reading (see the module doc)."""

    max_rows: int = TABLE_MAX_ROWS
    max_columns: int = TABLE_MAX_COLUMNS
    max_cells: int = TABLE_MAX_CELLS
    max_text_bytes: int = TABLE_MAX_TEXT_BYTES
    max_line_bytes: int = TABLE_MAX_LINE_BYTES
    max_memory_bytes: int = TABLE_MAX_MEMORY_BYTES


class Compression(enum.StrEnum):
    """How a data file's bytes are packed, recognised by their first bytes."""

    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZIP = "zip"
    ZSTD = "zstd"
    PARQUET = "parquet"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"PK\x03\x04", Compression.ZIP),
    (b"(\xb5/\xfd", Compression.ZSTD),
    (b"PAR1", Compression.PARQUET),
)


def sniff_compression(path: Path) -> Compression:
    """The file's packing, from its magic bytes (its name is not trusted)."""
    with path.open("rb") as handle:
        head = handle.read(8)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), Compression.NONE)


def _mib(value: int) -> str:
    return f"{value / MIB:,.0f} MiB" if value >= MIB else f"{value:,} bytes"


class _BoundedStream(io.RawIOBase):
    """The file's (decompressed) bytes, counted against the text and line bounds as they are read.

    The header line is read first (:meth:`first_line`) and then served again, so the parser sees the whole
    file.
    """

    def __init__(self, raw: IO[bytes], path: Path, bounds: TableBounds, packed: bool) -> None:
        super().__init__()
        self._raw, self._path, self._bounds = raw, path, bounds
        self._what = "of text once decompressed" if packed else "of text"
        self._pending = b""
        self.total_bytes = 0
        self._line_bytes = 0

    def readable(self) -> bool:
        return True

    def _pull(self, size: int) -> bytes:
        data = self._raw.read(size)
        self.total_bytes += len(data)
        if self.total_bytes > self._bounds.max_text_bytes:
            raise TableError(
                f"{self._path}: over the bound of {_mib(self._bounds.max_text_bytes)} {self._what} "
                "for a data file; use a sample of it"
            )
        newline = data.rfind(b"\n")
        self._line_bytes = self._line_bytes + len(data) if newline < 0 else len(data) - newline - 1
        if self._line_bytes > self._bounds.max_line_bytes:
            raise TableError(
                f"{self._path}: a line longer than the bound of {_mib(self._bounds.max_line_bytes)} "
                "(is it a text table?)"
            )
        return data

    def first_line(self) -> bytes:
        """The first line (without reading past the line bound); it is served again by :meth:`read`."""
        while b"\n" not in self._pending:
            data = self._pull(READ_BYTES)
            if not data:
                break
            self._pending += data
        return self._pending.split(b"\n", 1)[0]

    def readinto(self, buffer) -> int:
        data = self._pending[: len(buffer)] if self._pending else self._pull(min(len(buffer), READ_BYTES))
        self._pending = self._pending[len(data) :]
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def _unpacked(path: Path, kind: Compression) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed as they are read."""
    if kind is Compression.ZSTD:
        raise TableError(f"{path}: zstd-compressed files are not supported; decompress it or use gzip")
    if kind is Compression.ZIP:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise TableError(f"{path}: a zip data file must hold exactly one file, found {len(members)}")
            with archive.open(members[0]) as handle:
                yield handle
        return
    opener: Callable[..., IO[bytes]] = {
        Compression.GZIP: gzip.open,
        Compression.BZIP2: bz2.open,
        Compression.XZ: lzma.open,
    }.get(kind, open)
    with opener(path, "rb") as handle:
        yield handle


def _header(stream: _BoundedStream, path: Path, bounds: TableBounds, delimiter: str | None) -> tuple[str, _Counter]:
    """The delimiter (sniffed from the header line when ``delimiter`` is None) and the file's row counter
    (its column count checked against the bound before any row is parsed)."""
    line = stream.first_line().decode("utf-8-sig", errors="replace").rstrip("\r")
    if not line.strip():
        raise TableError(f"{path}: no header line (the file is empty)")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(line).delimiter
        except csv.Error:
            raise TableError(f"{path}: cannot tell the delimiter from the header line {line[:60]!r}") from None
    return delimiter, _Counter(path, bounds, len(next(csv.reader([line], delimiter=delimiter))))


class _Counter:
    """Running rows and cells of a file, refused as they pass their bounds."""

    def __init__(self, path: Path, bounds: TableBounds, columns: int) -> None:
        self.path, self.bounds, self.columns, self.rows = path, bounds, columns, 0
        if columns > bounds.max_columns:
            raise TableError(f"{path}: {columns:,} columns, over the bound of {bounds.max_columns:,} for a data file")

    def add(self, rows: int) -> None:
        """Count ``rows`` more rows; raise TableError, naming the bound, past the rows or cells bound."""
        self.rows += rows
        if self.rows > self.bounds.max_rows:
            raise TableError(
                f"{self.path}: over the bound of {self.bounds.max_rows:,} rows for a data file; use a sample of it"
            )
        if self.rows * self.columns > self.bounds.max_cells:
            raise TableError(
                f"{self.path}: over the bound of {self.bounds.max_cells:,} cells (rows x columns, "
                f"{self.columns:,} columns) for a data file; use a sample of it"
            )


def chunk_rows(columns: int) -> int:
    """Rows parsed at a time for a table of ``columns`` columns (at most ``CHUNK_CELLS`` cells)."""
    return max(1, min(CHUNK_MAX_ROWS, CHUNK_CELLS // max(columns, 1)))


@contextlib.contextmanager
def _translated(path: Path) -> Iterator[None]:
    """Library errors on a broken file become one TableError line naming the file (memory errors pass)."""
    try:
        yield
    except (TableError, MemoryError):
        raise
    except Exception as exc:  # pandas, pyarrow and the decompressors raise many types for broken files
        raise TableError(f"{path}: {first_line(exc)}") from None


@dataclass(frozen=True)
class Table:
    """An open data file: its column names, then its rows chunk by chunk (see :func:`open_table`).

    Attributes:
        path: the file.
        columns: its column names, as pandas names them.
        read: ``read(usecols)`` yields the rows (only ``usecols`` when given), a bounded chunk at a time,
            and raises TableError at a bound; call it once.
    """

    path: Path
    columns: tuple[str, ...]
    read: Callable[[list[str] | None], Iterator[pd.DataFrame]]


@contextlib.contextmanager
def _open_csv(path: Path, kind: Compression, bounds: TableBounds, delimiter: str | None) -> Iterator[Table]:
    import pandas as pd

    with _unpacked(path, kind) as raw:
        stream = _BoundedStream(raw, path, bounds, packed=kind is not Compression.NONE)
        sep, counter = _header(stream, path, bounds, delimiter)
        names = tuple(str(c) for c in pd.read_csv(io.BytesIO(stream.first_line()), sep=sep, nrows=0).columns)

        def read(usecols: list[str] | None) -> Iterator[pd.DataFrame]:
            with _translated(path):
                buffered = io.BufferedReader(stream, READ_BYTES)
                with pd.read_csv(buffered, sep=sep, usecols=usecols, chunksize=chunk_rows(counter.columns)) as reader:
                    for chunk in reader:
                        counter.add(len(chunk))
                        yield chunk

        yield Table(path, names, read)


def _parquet_footer_bytes(path: Path) -> int:
    """The footer's length, from the last 8 bytes (4-byte little-endian length, then ``PAR1``)."""
    with path.open("rb") as handle:
        handle.seek(0, io.SEEK_END)
        if handle.tell() < 12:
            raise TableError(f"{path}: not a Parquet file (too short)")
        handle.seek(-8, io.SEEK_END)
        length, magic = struct.unpack("<I4s", handle.read(8))
    if magic != b"PAR1":
        raise TableError(f"{path}: not a Parquet file (no PAR1 footer)")
    return length


@contextlib.contextmanager
def _open_parquet(path: Path, bounds: TableBounds) -> Iterator[Table]:
    import pyarrow.parquet as pq

    if _parquet_footer_bytes(path) > PARQUET_MAX_FOOTER_BYTES:
        raise TableError(f"{path}: a Parquet footer over the bound of {_mib(PARQUET_MAX_FOOTER_BYTES)}")
    handle = pq.ParquetFile(path)
    try:
        meta = handle.metadata
        names = tuple(handle.schema_arrow.names)
        counter = _Counter(path, bounds, max(meta.num_columns, len(names)))
        _Counter(path, bounds, counter.columns).add(meta.num_rows)  # the footer's count, before any data

        def read(usecols: list[str] | None) -> Iterator[pd.DataFrame]:
            with _translated(path):
                _check_declared_bytes(path, meta, usecols, bounds)
                for group in range(meta.num_row_groups):
                    table = handle.read_row_group(group, columns=usecols)
                    counter.add(table.num_rows)
                    if table.nbytes > bounds.max_memory_bytes:
                        raise TableError(_memory_message(path, bounds))
                    yield table.to_pandas()

        yield Table(path, names, read)
    finally:
        handle.close()


def _check_declared_bytes(path: Path, meta, usecols: list[str] | None, bounds: TableBounds) -> None:
    """Refuse, from the footer alone, columns whose declared uncompressed size passes the memory bound."""
    wanted = None if usecols is None else set(usecols)
    declared = 0
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if wanted is None or column.path_in_schema.split(".")[0] in wanted:
                declared += column.total_uncompressed_size
    if declared > bounds.max_memory_bytes:
        raise TableError(_memory_message(path, bounds))


def _memory_message(path: Path, bounds: TableBounds) -> str:
    return f"{path}: over the bound of {_mib(bounds.max_memory_bytes)} in memory for a data file; use a sample of it"


@contextlib.contextmanager
def open_table(path: Path | str, bounds: TableBounds | None = None, delimiter: str | None = ",") -> Iterator[Table]:
    """Open a CSV (plain or compressed) or Parquet file to read it chunk by chunk within ``bounds``.

    Args:
        path: the file; its packing is recognised from its first bytes.
        bounds: the bounds (the defaults when None).
        delimiter: the CSV delimiter; None sniffs it from the header line.

    Raises:
        TableError: a bound is passed, or the file cannot be read (one line naming the file).
    """
    path, bounds = Path(path), bounds or TableBounds()
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    with contextlib.ExitStack() as stack:
        with _translated(path):
            kind = sniff_compression(path)
            parquet = kind is Compression.PARQUET
            opened = _open_parquet(path, bounds) if parquet else _open_csv(path, kind, bounds, delimiter)
            table = stack.enter_context(opened)
        yield table


def read_table(path: Path | str, bounds: TableBounds | None = None, delimiter: str | None = ",") -> pd.DataFrame:
    """The whole table of a data file, read within ``bounds`` (see :func:`open_table`).

    Raises:
        TableError: a bound is passed (memory included), or the file cannot be read.
    """
    import pandas as pd

    bounds = bounds or TableBounds()
    with open_table(path, bounds, delimiter) as table:
        frames, memory_bytes = [], 0
        for chunk in table.read(None):
            memory_bytes += int(chunk.memory_usage(deep=True).sum())
            if memory_bytes > bounds.max_memory_bytes:
                raise TableError(_memory_message(table.path, bounds))
            frames.append(chunk)
        columns = list(table.columns)
    if not frames:
        return pd.DataFrame(columns=columns)
    return frames[0] if len(frames) == 1 else pd.concat(frames)
