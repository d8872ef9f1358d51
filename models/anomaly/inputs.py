"""Typing the columns of the anomaly evidence inputs: instants, energies, the local zone.

Meter events, register reads and day energies given as files (``ami anomalies score``)
arrive with instants as timestamps or ISO 8601 text and energies as numbers or text; these
turn them into UTC microseconds and Float64 kWh, or raise an ``InputError`` naming the column
(``require_columns`` for a missing one). Local days are in the settings' time zone, the
project default without settings (``local_zone``).
"""

from __future__ import annotations

import polars as pl

from ami.errors import InputError
from ami.instants import instant
from ami.settings import Settings
from quality.parse import number

#: The type the evidence keeps instants in: UTC, microseconds.
UTC_US = pl.Datetime("us", "UTC")
_DEFAULT_TIMEZONE: str = Settings.model_fields["timezone"].default


def local_zone(settings: Settings | None) -> str:
    """The local time zone name: the settings' or the project default."""
    return settings.timezone if settings is not None else _DEFAULT_TIMEZONE


def midnight_expr(day: pl.Expr, tz: str) -> pl.Expr:
    """The UTC instant of local 00:00 of a Date column."""
    return (
        day.cast(pl.Datetime("us")).dt.replace_time_zone(tz).dt.convert_time_zone("UTC")
    )


def local_day(moment: pl.Expr, tz: str) -> pl.Expr:
    """The local date of a UTC instant."""
    return moment.dt.convert_time_zone(tz).dt.date()


def require_columns(schema: pl.Schema, required: tuple[str, ...], what: str, fix: str) -> None:
    """Raise an InputError naming the first required column the input lacks."""
    for column in required:
        if column not in schema:
            raise InputError(f"{what} lack a required column", column=column, fix=fix)


def utc_column(column: str, dtype: pl.DataType, what: str) -> pl.Expr:
    """A timestamp column as UTC microseconds: ISO 8601 text parsed, naive taken as UTC."""
    if dtype == pl.String:
        return instant(column).dt.cast_time_unit("us").alias(column)
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column)
        expr = (
            expr.dt.replace_time_zone("UTC")
            if dtype.time_zone is None
            else expr.dt.convert_time_zone("UTC")
        )
        return expr.dt.cast_time_unit("us").alias(column)
    raise InputError(
        f"{what}: {column} has type {dtype}, expected a timestamp",
        column=column,
        fix=f"give {column} as a UTC timestamp or ISO 8601 text with zone "
        "(2026-10-01T17:00:00Z)",
    )


def kwh_column(column: str, dtype: pl.DataType, what: str) -> pl.Expr:
    """An energy column as Float64 [kWh]: text parsed (null when not a number)."""
    if dtype == pl.String:
        return number(column).alias(column)
    if dtype.is_numeric():
        return pl.col(column).cast(pl.Float64)
    raise InputError(
        f"{what}: {column} has type {dtype}, expected numbers",
        column=column,
        fix=f"give {column} in kWh as a number",
    )
