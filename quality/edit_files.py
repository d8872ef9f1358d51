"""A file of manual corrections (``ami vee edit --file``) read and checked row by row.

Every problem is raised as an ``InputError`` naming the file, the row, the column and
the fix, the first in file order; nothing is recorded from a file with one bad row.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ami.errors import InputError
from ami.instants import instant
from quality.parse import number, unreadable_csv
from warehouse.schemas import schema_of

#: Resolution on which every valid interval end lies [min] (the gcd of VALID_INTERVALS
#: in quality.intake).
GRID_MINUTES = 5


#: Columns a corrections file may have (``edited_by``/``reason`` may come from the caller).
INPUT_COLUMNS = ("meter_id", "first_interval_end", "last_interval_end", "kwh_import",
                 "kwh_export", "edited_by", "reason")


#: (failed, column, message, fix) of one row check.
Check = tuple[pl.Expr, str, str, str]


def read_edits_csv(path: Path) -> pl.DataFrame:
    """Bulk corrections from a CSV file (UTF-8), typed and checked row by row.

    Columns: ``meter_id``, ``first_interval_end`` and ``last_interval_end`` (ISO 8601 with
    zone, e.g. ``2026-10-01T00:30:00+07:00``; both ends included), ``kwh_import`` and
    ``kwh_export`` [kWh per interval; empty keeps the reading], ``edited_by``, ``reason``
    (both may be empty when ``record_edits`` is given ``by``/``reason``). The result keeps
    ``_file`` and ``_row`` (1 = first data row) so that ``record_edits`` places its own
    errors (unknown meter, missing who or why) in the file too.

    Raises:
        InputError: a missing file, a missing or unknown column, a malformed line or a bad
            value, naming the file, row and column and how to fix it.

    """
    name = str(path)
    if not path.is_file():
        raise InputError("the corrections file does not exist", file=name,
                         fix="check the path")
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise InputError("the file is empty", file=name,
                         fix=f"give a header line ({','.join(INPUT_COLUMNS)}) and one "
                             "line per correction") from None
    except pl.exceptions.ComputeError as exc:
        raise unreadable_csv(path, exc) from None
    unknown = [c for c in raw.columns if c not in INPUT_COLUMNS]
    if unknown:
        raise InputError(f"unknown column {unknown[0]!r}", file=name, column=unknown[0],
                         fix=f"use the columns {', '.join(INPUT_COLUMNS)}")
    if raw.is_empty():
        raise InputError("the file holds no corrections", file=name,
                         fix="add one line per correction below the header")
    raw = raw.with_columns(pl.lit(name).alias("_file"),
                           pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_row"))
    return typed_edits(raw)


def typed_edits(frame: pl.DataFrame) -> pl.DataFrame:
    """Edits typed to the ``edits`` columns and checked; raises on the first bad row.

    Accepts text columns (as read from a file) or typed ones (datetimes must carry a time
    zone). ``_file`` and ``_row`` locate errors and are kept; when absent, ``_row`` is the
    1-based position in ``frame``. ``edited_by`` and ``reason`` are not checked here,
    because ``record_edits`` may fill them.

    Raises:
        InputError: naming the row, column and fix.

    """
    file = str(frame["_file"][0]) if "_file" in frame.columns and frame.height else None
    for column in ("meter_id", "first_interval_end", "last_interval_end"):
        if column not in frame.columns:
            raise InputError(f"column {column!r} is missing", file=file, column=column,
                             fix=f"give the columns {', '.join(INPUT_COLUMNS)}")
    if "kwh_import" not in frame.columns and "kwh_export" not in frame.columns:
        raise InputError("neither kwh_import nor kwh_export is given", file=file,
                         column="kwh_import",
                         fix="give the corrected kWh per interval of at least one channel")
    if "_row" not in frame.columns:
        frame = frame.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64))
    if "_file" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("_file"))
    values, unparsed = [], []
    for column in ("meter_id", "edited_by", "reason"):
        values.append(_text(frame, column))
    for column in ("first_interval_end", "last_interval_end"):
        value = _instant(frame, column, file)
        values.append(value)
        unparsed.append(value.is_null().alias(f"_bad_{column}"))
    for column in ("kwh_import", "kwh_export"):
        value, bad = _kwh(frame, column, file)
        values.append(value)
        unparsed.append(bad.alias(f"_bad_{column}"))
    typed = frame.select(*values, *unparsed, "_file", "_row")
    raise_first(typed, _value_checks())
    return typed.select(*(c for c in schema_of("edits").polars if c in typed.columns), "_file",
                        "_row")


def _text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A text column stripped, null when absent or blank."""
    if column not in frame.columns:
        return pl.lit(None, pl.String).alias(column)
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text).alias(column)


def _instant(frame: pl.DataFrame, column: str, file: str | None) -> pl.Expr:
    """An instant column as UTC microseconds: parsed from ISO 8601 text or converted."""
    dtype = frame.schema[column]
    if dtype == pl.String:
        return instant(column).alias(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            raise InputError(f"{column} has no time zone", file=file, column=column,
                             fix="give instants with their zone, e.g. "
                                 "2026-10-01T00:30:00+07:00 or tzinfo=ZoneInfo(...)")
        return (pl.col(column).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
                .alias(column))
    if dtype == pl.Null:
        return pl.lit(None, pl.Datetime("us", "UTC")).alias(column)
    raise InputError(f"{column} holds {dtype} values, not instants", file=file,
                     column=column, fix="give ISO 8601 text with zone or aware datetimes")


def _kwh(frame: pl.DataFrame, column: str, file: str | None) -> tuple[pl.Expr, pl.Expr]:
    """An energy column as float [kWh] and whether a given text is not a number."""
    if column not in frame.columns:
        return pl.lit(None, pl.Float64).alias(column), pl.lit(False)
    dtype = frame.schema[column]
    if dtype == pl.String:
        given = pl.col(column).fill_null("").str.strip_chars() != ""
        return number(column).alias(column), given & number(column).is_null()
    if dtype.is_numeric() or dtype == pl.Null:
        return pl.col(column).cast(pl.Float64).alias(column), pl.lit(False)
    raise InputError(f"{column} holds {dtype} values, not numbers", file=file, column=column,
                     fix="give kWh per interval as numbers")


def _value_checks() -> list[Check]:
    """Row checks of typed edits, in the order their messages are most useful."""
    checks: list[Check] = [
        (pl.col("meter_id").is_null(), "meter_id", "meter_id is empty",
         "give the meter's id as in the customer system"),
    ]
    for column, which in (("first_interval_end", "first"), ("last_interval_end", "last")):
        checks += [
            (pl.col(f"_bad_{column}"), column,
             f"{column} is empty or not an ISO 8601 instant with zone",
             f"give the end of the {which} interval to correct, e.g. "
             "2026-10-01T00:30:00+07:00"),
            (pl.col(column) != pl.col(column).dt.truncate(f"{GRID_MINUTES}m"), column,
             f"{column} is not an interval end",
             f"interval ends fall on whole intervals: multiples of {GRID_MINUTES} minutes "
             "with zero seconds"),
        ]
    checks.append(
        (pl.col("first_interval_end") > pl.col("last_interval_end"), "last_interval_end",
         "last_interval_end is before first_interval_end",
         "give the first and the last interval end of the range in order (both included)"))
    for column in ("kwh_import", "kwh_export"):
        checks += [
            (pl.col(f"_bad_{column}"), column, f"{column} is not a number",
             "give kWh per interval with a decimal point, or leave it empty to keep "
             "the reading"),
            ((pl.col(column) < 0) | ~pl.col(column).is_finite(), column,
             f"{column} is negative or not finite",
             "give kWh ≥ 0: import and export are separate non-negative channels"),
        ]
    checks.append(
        (pl.col("kwh_import").is_null() & pl.col("kwh_export").is_null(), "kwh_import",
         "neither kwh_import nor kwh_export is given",
         "give the corrected kWh per interval of at least one channel"))
    return checks


def raise_first(frame: pl.DataFrame, checks: list[Check]) -> None:
    """Raise InputError for the earliest failing row (first failing check on that row)."""
    worst: tuple[int, int, int, Check, dict[str, object]] | None = None
    for index, check in enumerate(checks):
        bad = frame.filter(check[0])
        if bad.height:
            first = bad.sort("_row").row(0, named=True)
            key = (int(first["_row"]), index, bad.height, check, first)
            if worst is None or key[:2] < worst[:2]:
                worst = key
    if worst is not None:
        row, _, count, (_, column, message, fix), first = worst
        more = f" ({count} rows like this)" if count > 1 else ""
        raise InputError(f"{message}{more}", file=str_or_none(first["_file"]), row=row,
                         column=column, fix=fix)


def str_or_none(value: object) -> str | None:
    """A frame value as text (a row's file name), None when missing."""
    return None if value is None else str(value)
