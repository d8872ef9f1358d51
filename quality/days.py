"""Local days of the province: which UTC instants a day spans, which day an interval is in."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, time, timedelta

import polars as pl

from ami.errors import ConfigError
from ami.settings import Settings


def day_bounds(day: str, settings: Settings) -> tuple[datetime, datetime]:
    """UTC instants of the local midnights that start and end ``day`` (YYYY-MM-DD)."""
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        raise ConfigError(f"day {day!r} is not a date", fix="give it as YYYY-MM-DD") from None
    start = datetime.combine(date, time(0), settings.tz)
    first, last = start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
    if last - first != timedelta(days=1):
        raise ConfigError(
            f"day {day} lasts {(last - first).total_seconds() / 3600:g} h in "
            f"{settings.timezone}: day grids need a zone without clock changes",
            fix="set AMI_TIMEZONE to a zone without daylight saving (Asia/Ho_Chi_Minh, or "
                "UTC for data from elsewhere)")
    return first, last


def local_day(column: str, settings: Settings) -> pl.Expr:
    """Local date (YYYY-MM-DD) of an interval labelled by its end instant."""
    return (
        pl.col(column).dt.convert_time_zone(settings.timezone)
        .dt.offset_by("-1us").dt.date().cast(pl.String)
    )


def shift_day(day: str, days: int) -> str:
    """The local date ``days`` after ``day`` (negative: before)."""
    return (dt.date.fromisoformat(day) + timedelta(days=days)).isoformat()
