"""Typing of raw bronze strings into the canonical schema, with reasons for rejects."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from ami.errors import ConfigError, InputError

TRUE_TEXT = ("true", "1", "yes", "y", "t", "x", "có")


def number(column: str | pl.Expr) -> pl.Expr:
    """Parse a decimal number from text (a column or an expression); null if not a number."""
    text = pl.col(column) if isinstance(column, str) else column
    return text.str.strip_chars().cast(pl.Float64, strict=False)


def flag(column: str) -> pl.Expr:
    """Parse a yes/no text (true/false, 1/0, có/không)."""
    return pl.col(column).str.strip_chars().str.to_lowercase().is_in(TRUE_TEXT)


def optional(frame: pl.LazyFrame | pl.DataFrame, column: str) -> pl.Expr:
    """The column when the input has it, else a null string column of that name."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return pl.col(column) if column in names else pl.lit(None, dtype=pl.String).alias(column)


def read_table(path: Path) -> pl.DataFrame:
    """A CSV (all columns as text) or Parquet file given on the command line."""
    if not path.exists():
        raise ConfigError(f"file {path} does not exist", fix="check the path")
    if path.suffix.lower() == ".parquet":
        return pl.read_parquet(path)
    if path.suffix.lower() in (".csv", ".gz"):
        return pl.read_csv(path, infer_schema=False)
    raise ConfigError(f"cannot read {path.name}", fix="give a .csv or .parquet file")


def unreadable_csv(path: Path, exc: Exception, *, what: str = "the file",
                   fields_fix: str = "quote values that contain a comma, or remove the "
                                     "extra fields") -> InputError:
    """Locate why a CSV could not be read: a line with too many fields, or bad bytes."""
    fix = "save it as a comma-separated CSV file in UTF-8"
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle)
            width = len(next(rows, []))
            # Error path only: the first line that does not fit the header.
            for number, fields in enumerate(rows, start=1):
                if len(fields) > width:
                    return InputError(f"{len(fields)} fields where the header has {width}",
                                      file=str(path), row=number, fix=fields_fix)
    except UnicodeDecodeError:
        return InputError(f"{what} is not UTF-8 text", file=str(path), fix=fix)
    return InputError(f"cannot read {what}: {str(exc).splitlines()[0]}", file=str(path),
                      fix=fix)
