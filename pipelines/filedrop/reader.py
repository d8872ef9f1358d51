"""Streaming reads of landing files: memory stays bounded whatever a file's size.

A file is read in blocks (CSV, CSV.gz) or row groups (Parquet) into Arrow tables of text
in canonical names, each row numbered (``_row``, 1 = first data row). Clean CSV takes
Arrow's block reader; from the first malformed row on (a row with more or fewer fields
than the header) the rest of the file is read exactly with Python's csv module, and the
malformed rows are kept with ``_invalid`` saying what is wrong, so VEE quarantines them
and nothing is lost.
"""

from __future__ import annotations

import collections
import csv
import gzip
import io
import itertools
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import fsspec
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ami.errors import InputError
from pipelines.filedrop.helpers import LandingFile
from pipelines.filedrop.profiles import (
    Profile,
    detect,
    encoding_of,
    header_of,
    is_utf8,
    to_canonical,
)
from pipelines.filedrop.settings import REQUIRED_COLUMNS

#: Bytes of text per Arrow block (about 700,000 readings in the canonical format).
BLOCK_BYTES = 32 << 20
#: Rows per batch on the exact (slow) path and for Parquet row groups.
BATCH_ROWS = 200_000
#: Bytes read to detect a file's profile and encoding.
SNIFF_BYTES = 1 << 20


@dataclass(frozen=True)
class RawFile:
    """An open landing file: the profile that reads it and its batches (read lazily)."""

    profile: str
    batches: Iterator[pa.Table]


def open_raw(file: LandingFile, profiles: list[Profile], *,
             default_minutes: int = 30) -> RawFile:
    """Detect the file's profile from its first bytes and return its batches.

    Raises:
        InputError: the file cannot be read (now, for its header; or while iterating the
            batches, for a fault further in, such as a cut gzip stream).

    """
    if file.size == 0:
        raise InputError("the file is empty (0 bytes)", file=file.name,
                         fix="ask the head-end to re-deliver it")
    if file.name.endswith(".parquet"):
        return RawFile("parquet", _guarded(file, _parquet_batches(file)))
    with _guard(file), _open(file) as stream:
        head = stream.read(SNIFF_BYTES)
    profile = detect(head, file.kind, profiles, file.name)
    encoding = encoding_of(head, profile, file.name)
    names = header_of(head, profile, encoding)
    batches = _csv_batches(file, profile, encoding, names)
    return RawFile(profile.name, _guarded(file, (
        to_canonical(batch, file.kind, profile, encoding=encoding,
                     default_minutes=default_minutes) for batch in batches)))


def _open(file: LandingFile) -> IO[bytes]:
    """The file's bytes as a stream, gunzipped when its name ends in .gz."""
    gz = "gzip" if file.name.endswith(".gz") else None
    stream: IO[bytes] = file.fs.open(file.path, "rb", compression=gz)  # closes both
    return stream


#: What a broken or cut file raises while it is read: gzip and zlib (truncated or bad
#: streams), codecs (ValueError: UnicodeDecodeError), Arrow and Parquet (ArrowException,
#: ArrowInvalid is a ValueError; OSError for a bad footer), Polars and the csv module.
#: Anything else is a bug of ours and surfaces as one, not as a quarantined file.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, zlib.error, ValueError, csv.Error, pa.ArrowException,
    pl.exceptions.PolarsError,
)


@contextmanager
def _guard(file: LandingFile) -> Iterator[None]:
    """Turn a failure of reading ``file`` (one of ``READ_ERRORS``) into an InputError naming it."""
    try:
        yield
    except InputError:
        raise
    except READ_ERRORS as exc:
        raise _unreadable(file, exc) from exc


def _unreadable(file: LandingFile, exc: BaseException) -> InputError:
    """The error for a file that fails while being read."""
    if file.name.endswith(".gz") and isinstance(exc, EOFError | zlib.error | gzip.BadGzipFile):
        return InputError(f"the gzip stream is broken ({exc})", file=file.name,
                          fix="the transfer was probably cut: ask for the file again")
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in str(exc) or "utf8" in str(exc):
        return InputError(f"the text changes encoding inside the file ({str(exc)[:160]})",
                          file=file.name,
                          fix="export the whole file in one encoding (UTF-8) and re-deliver")
    return InputError(f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
                      file=file.name, fix="check the file is complete and re-deliver it")


def _guarded(file: LandingFile, batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``batches`` with every failure turned into an InputError naming the file."""
    with _guard(file):
        yield from batches


def _numbered(table: pa.Table, first: int) -> pa.Table:
    """``table`` with a row number ``_row`` counting from ``first``."""
    rows = np.arange(first, first + table.num_rows, dtype=np.int64)
    return table.append_column("_row", pa.array(rows))


def _csv_batches(file: LandingFile, profile: Profile, encoding: str,
                 names: list[str]) -> Iterator[pa.Table]:
    """Arrow's block reader while rows are well formed, then the exact reader."""
    arrow_encoding = "utf8" if is_utf8(encoding) else encoding
    emitted = 0
    with _open(file) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                           block_size=BLOCK_BYTES, encoding=arrow_encoding),
            parse_options=pacsv.ParseOptions(delimiter=profile.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=False),
        )
        try:
            for batch in reader:
                yield _numbered(pa.Table.from_batches([batch]), emitted + 1)
                emitted += batch.num_rows
        except pa.ArrowInvalid as exc:
            # A row with too many or too few fields fails its whole block: read on exactly.
            if "CSV parse error" not in str(exc):
                raise
            malformed = True
        else:
            malformed = False
    if malformed:
        yield from _exact_batches(file, profile, encoding, names, skip=emitted)


def _exact_batches(file: LandingFile, profile: Profile, encoding: str, names: list[str], *,
                   skip: int) -> Iterator[pa.Table]:
    """Rows after the first ``skip`` read one by one; malformed rows kept with a reason."""
    width = len(names)
    with io.TextIOWrapper(_open(file), encoding=encoding, newline="") as text:
        rows = (fields for fields in csv.reader(text, delimiter=profile.delimiter) if fields)
        next(rows, None)  # the header
        collections.deque(itertools.islice(rows, skip), maxlen=0)
        number = skip
        while True:
            chunk = list(itertools.islice(rows, BATCH_ROWS))
            if not chunk:
                return
            columns: list[list[str | None]] = [[] for _ in names]
            invalid: list[str | None] = []
            for fields in chunk:
                ok = len(fields) == width
                for column, value in zip(columns, fields if ok else [None] * width,
                                         strict=True):
                    column.append(value or None)
                invalid.append(None if ok else (
                    f"the row has {len(fields)} fields where the header has {width} "
                    f"({profile.delimiter.join(fields)[:120]!r}): fix the export so every "
                    "row has the header's columns"))
            table = pa.table([pa.array(c, pa.string()) for c in columns], names=names)
            table = table.append_column("_invalid", pa.array(invalid, pa.string()))
            yield _numbered(table, number + 1)
            number += len(chunk)


def _parquet_batches(file: LandingFile) -> Iterator[pa.Table]:
    """Row groups of a Parquet file with every column as text (instants ISO 8601 UTC)."""
    with file.fs.open(file.path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        missing = [c for c in REQUIRED_COLUMNS[file.kind] if c not in parquet.schema_arrow.names]
        if missing:
            raise InputError(
                f"missing required column(s) {', '.join(missing)} "
                f"(found: {', '.join(parquet.schema_arrow.names)})",
                file=file.name, row=1, column=missing[0],
                fix=f"a {file.kind} file needs the columns "
                    f"{', '.join(REQUIRED_COLUMNS[file.kind])}")
        emitted = 0
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            text = frame.with_columns(
                pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                if getattr(frame.schema[c], "time_zone", None)
                else pl.col(c).cast(pl.String)
                for c in frame.columns
            ).to_arrow()
            yield _numbered(text, emitted + 1)
            emitted += batch.num_rows


def local_file(path: Path, kind: str) -> LandingFile:
    """A file on this machine (given on the command line) as a landing file of ``kind``."""
    fs = fsspec.filesystem("file")
    info = fs.info(str(path))
    return LandingFile(path.name, kind, str(path), int(info["size"]), float(info["mtime"]),
                       "", fs)


def profile_of(path: Path, kind: str, profiles: list[Profile]) -> str:
    """The name of the source profile that reads a local CSV (``parquet`` for Parquet)."""
    file = local_file(path, kind)
    if file.name.endswith(".parquet"):
        return "parquet"
    with _guard(file), _open(file) as stream:
        head = stream.read(SNIFF_BYTES)
    return detect(head, kind, profiles, file.name).name


def write_canonical(path: Path, kind: str, folder: Path, *, profiles: list[Profile],
                    default_minutes: int = 30) -> None:
    """Stream a local file of any source profile into ``folder`` as canonical text Parquet.

    The same reader as the landing zone (``open_raw``), so a file reads the same whether
    it is dropped there or given on the command line; memory stays bounded. One part per
    batch (``part-N.parquet``); rows carry ``_row`` and, when malformed, ``_invalid``.

    Raises:
        InputError: the file cannot be read (naming it and why).

    """
    raw = open_raw(local_file(path, kind), profiles, default_minutes=default_minutes)
    folder.mkdir(parents=True, exist_ok=True)
    parts = 0
    for batch in raw.batches:
        pq.write_table(batch, folder / f"part-{parts:06d}.parquet")
        parts += 1
    if not parts:
        pl.DataFrame(schema={**dict.fromkeys(REQUIRED_COLUMNS[kind], pl.String),
                             "_row": pl.Int64}).write_parquet(folder / "part-000000.parquet")
