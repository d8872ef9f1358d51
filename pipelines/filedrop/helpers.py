"""Reading landing-zone files: discovery, fingerprints, raw string tables with lineage."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fsspec
import numpy as np
import polars as pl
import pyarrow as pa
from fsspec.spec import AbstractFileSystem

from ami.errors import ConfigError, TransientError
from ami.instants import parse_series, problem
from pipelines.filedrop.settings import KINDS, SUFFIXES, TIME_COLUMNS
from warehouse.state import Manifest


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing zone with the fingerprint that makes loading incremental."""

    name: str
    kind: str
    path: str
    size: int
    mtime: float
    sha256: str
    fs: AbstractFileSystem = field(compare=False, repr=False)

    def read_bytes(self) -> bytes:
        """The file's bytes, from wherever the landing zone lives."""
        data: bytes = self.fs.cat_file(self.path)
        return data


def kind_of(name: str) -> str | None:
    """The file kind from its name (``readings_2026-10-01.csv.gz`` → ``readings``)."""
    if not name.endswith(SUFFIXES):
        return None
    for kind in sorted(KINDS, key=len, reverse=True):
        if name.startswith(kind):
            return kind
    return None


def redact(url: str) -> str:
    """A URL without its password, for messages and records."""
    return re.sub(r"(://[^:/@]+):[^@/]+@", r"\1:***@", url)


def sha256_of(fs: AbstractFileSystem, path: str) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mtime(info: dict[str, Any]) -> float:
    """Modification time of an fsspec listing entry [s since the epoch]."""
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0.0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _unreachable(url: str, exc: Exception) -> TransientError:
    """The error for a landing location that does not answer (retrying may help)."""
    return TransientError(
        f"landing location {redact(url)} cannot be reached ({type(exc).__name__}: "
        f"{redact(str(exc))})",
        fix="check the address, the credentials and the network; the run will retry",
    )


def list_landing(landing: str | Path,
                 known: Manifest | None = None) -> list[LandingFile]:
    """Every loadable file of the landing zone, sorted by kind order then name.

    The landing zone is a local folder or a URL (``s3://bucket/prefix``,
    ``sftp://user:password@host:port/path``); credentials of S3 come from the environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``).
    """
    text = str(landing)
    try:
        # A fresh client per run: listings must not come from an earlier run's cache.
        fs, root = fsspec.core.url_to_fs(text, skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"landing location {redact(text)!r} is not usable ({exc})",
                          fix="give a local folder, s3://bucket/prefix or sftp://host/path") \
            from None
    except Exception as exc:  # remote file systems connect when they are created
        raise _unreachable(text, exc) from exc
    try:
        is_dir = fs.isdir(root)
    except Exception as exc:  # each protocol raises its own errors when unreachable
        raise _unreachable(text, exc) from exc
    if not is_dir:
        raise ConfigError(
            f"landing folder {redact(text)} does not exist",
            fix="create it and drop head-end files into it, or run `ami demo` first",
        )
    files = []
    for info in fs.ls(root, detail=True):
        name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
        kind = kind_of(name)
        if kind is None or info.get("type") != "file":
            continue
        path, size, mtime = str(info["name"]), int(info.get("size") or 0), _mtime(info)
        before = (known or {}).get(name)
        same = before is not None and before.size == size and before.mtime == mtime and mtime
        sha = before.sha256 if same and before is not None else sha256_of(fs, path)
        files.append(LandingFile(name, kind, path, size, mtime, sha, fs))
    return sorted(files, key=lambda f: (KINDS.index(f.kind), f.name))


def release(files: list[LandingFile]) -> None:
    """Close the connections a listing opened (SFTP keeps an SSH session per client)."""
    for fs in {id(f.fs): f.fs for f in files}.values():
        client = getattr(fs, "client", None)
        if client is not None and hasattr(client, "close"):
            client.close()


@dataclass
class InstantCensus:
    """Rows per local date of a file's instants, and the rows whose instant is unusable."""

    date_rows: Counter[str] = field(default_factory=Counter)
    unusable: int = 0
    first_unusable: str | None = None   # "row N: why" of the first unusable instant

    def add(self, rows: pl.DataFrame | pa.Table, kind: str, tz: ZoneInfo) -> None:
        """Count one batch of raw rows (text) of a file of ``kind``.

        An interval labelled by its end at local midnight belongs to the day before. VEE
        uses the counts to tell a day's own delivery from a few rows spilling over
        midnight; rows whose instant does not parse have no day (VEE quarantines them on
        the file's first day).
        """
        column = TIME_COLUMNS.get(kind)
        table = rows.to_arrow() if isinstance(rows, pl.DataFrame) else rows
        if column is None or column not in table.column_names:
            return
        text = pl.Series("text", table[column]).cast(pl.String)
        moments = parse_series(text)
        offset = "-1us" if kind == "readings" else "0us"
        days = moments.dt.convert_time_zone(str(tz)).dt.offset_by(offset).dt.date()
        counts = days.drop_nulls().value_counts(name="rows")
        self.date_rows.update({d.isoformat(): int(n) for d, n in counts.iter_rows()})
        bad = moments.is_null()
        self.unusable += int(bad.sum())
        if self.first_unusable is None and bool(bad.any()):
            first = int(bad.arg_true()[0])
            number = (int(table["_row"][first].as_py()) if "_row" in table.column_names
                      else first + 1)
            self.first_unusable = f"row {number}: {column} {problem(text[first])}"

    @property
    def dates(self) -> list[str]:
        """The local dates touched, ascending."""
        return sorted(self.date_rows)


def local_dates(rows: pl.DataFrame | pa.Table, kind: str, tz: ZoneInfo) -> dict[str, int]:
    """Rows per local date (YYYY-MM-DD) of the parsable instants of ``rows``."""
    census = InstantCensus()
    census.add(rows, kind, tz)
    return dict(sorted(census.date_rows.items()))


def with_lineage(table: pa.Table, file: LandingFile, profile: str) -> pa.Table:
    """The raw rows (text, plain Arrow strings) plus lineage, ready for dlt's Arrow path.

    Lineage values are constant per file, so they are dictionary-encoded: one value and
    an index per row instead of millions of copies of a file name and a hash.
    """
    table = table.cast(pa.schema(
        pa.field(f.name, pa.string()) if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type) else f
        for f in table.schema))
    for name, value in (("_source", "filedrop"), ("_profile", profile), ("_file", file.name),
                        ("_file_sha256", file.sha256)):
        table = table.append_column(name, _constant(value, table.num_rows))
    return table


def _constant(value: str, rows: int) -> pa.DictionaryArray:
    """A dictionary-encoded column holding ``value`` on every row."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)),
                                          pa.array([value]))
