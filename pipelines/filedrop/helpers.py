"""Reading landing-zone files: discovery, fingerprints, raw string tables with lineage."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from ami.errors import ConfigError, InputError
from pipelines.filedrop.profiles import Profile, detect, raw_bytes, read_with_profile
from pipelines.filedrop.settings import KINDS, REQUIRED_COLUMNS, SUFFIXES, TIME_COLUMNS


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing zone with the fingerprint that makes loading incremental."""

    name: str
    kind: str
    path: Path
    size: int
    mtime: float
    sha256: str


def kind_of(name: str) -> str | None:
    """The file kind from its name (``readings_2026-10-01.csv.gz`` → ``readings``)."""
    if not name.endswith(SUFFIXES):
        return None
    for kind in sorted(KINDS, key=len, reverse=True):
        if name.startswith(kind):
            return kind
    return None


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_landing(landing: str | Path) -> list[LandingFile]:
    """Every loadable file of the landing zone, sorted by kind order then name."""
    text = str(landing)
    if "://" in text and not text.startswith("file://"):
        raise ConfigError(
            f"landing location {text!r} is not a local folder",
            fix="give a local folder (s3:// and sftp:// come with issue 3)",
        )
    root = Path(text.removeprefix("file://"))
    if not root.is_dir():
        raise ConfigError(
            f"landing folder {root} does not exist",
            fix="create it and drop head-end files into it, or run `ami demo` first",
        )
    files = []
    for path in root.iterdir():
        kind = kind_of(path.name)
        if kind is None or not path.is_file():
            continue
        stat = path.stat()
        files.append(
            LandingFile(path.name, kind, path, stat.st_size, stat.st_mtime, sha256_of(path))
        )
    return sorted(files, key=lambda f: (KINDS.index(f.kind), f.name))


def read_raw(file: LandingFile, profiles: list[Profile], *,
             default_minutes: int = 30) -> tuple[pl.DataFrame, str]:
    """The file's rows as text in canonical names, with ``_row`` (1 = first data row).

    Returns the rows and the name of the source profile that read them.

    Raises:
        InputError: the file cannot be read or lacks a required column.

    """
    if file.size == 0:
        raise InputError("the file is empty (0 bytes)", file=file.name,
                         fix="ask the head-end to re-deliver it")
    try:
        if file.name.endswith(".parquet"):
            frame, profile = _read_parquet_as_text(file.path), "parquet"
        else:
            data = raw_bytes(file.path)
            chosen = detect(data, file.kind, profiles, file.name)
            frame = read_with_profile(data, file.kind, chosen, file.name,
                                      default_minutes=default_minutes)
            profile = chosen.name
    except InputError:
        raise
    except Exception as exc:  # polars and pyarrow raise many types for unreadable input
        raise InputError(
            f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})", file=file.name,
            fix="check the file is complete and re-deliver it",
        ) from exc
    missing = [c for c in REQUIRED_COLUMNS[file.kind] if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})",
            file=file.name, row=1, column=missing[0],
            fix=f"a {file.kind} file needs the columns {', '.join(REQUIRED_COLUMNS[file.kind])}",
        )
    rows = frame.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64))
    return rows, profile


def _read_parquet_as_text(path: Path) -> pl.DataFrame:
    """A Parquet file with every column as text (instants as ISO 8601 UTC with Z)."""
    frame = pl.read_parquet(path)
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        if getattr(frame.schema[c], "time_zone", None)
        else pl.col(c).cast(pl.String)
        for c in frame.columns
    )


def local_dates(frame: pl.DataFrame, kind: str, tz: ZoneInfo) -> list[str]:
    """Local dates (YYYY-MM-DD) that the file's parsable instants touch.

    An interval labelled by its end at local midnight belongs to the day before.
    """
    column = TIME_COLUMNS.get(kind)
    if column is None:
        return []
    instants = frame.select(
        pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC", strict=False)
    ).to_series()
    offset = "-1us" if kind == "readings" else "0us"
    dates = (
        instants.drop_nulls()
        .dt.convert_time_zone(str(tz))
        .dt.offset_by(offset)
        .dt.date()
        .unique()
        .sort()
    )
    return [d.isoformat() for d in dates]


def with_lineage(frame: pl.DataFrame, file: LandingFile, profile: str) -> pa.Table:
    """Arrow table of the raw rows plus lineage columns, ready for dlt's Arrow path."""
    return frame.with_columns(
        pl.lit("filedrop").alias("_source"),
        pl.lit(profile).alias("_profile"),
        pl.lit(file.name).alias("_file"),
        pl.lit(file.sha256).alias("_file_sha256"),
    ).to_arrow()
