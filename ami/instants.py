"""Instants from outside the project: one parser for every time a file, an API or a person gives.

Real systems write an instant in many valid ISO 8601 ways; every place that reads a time
from outside (landing files, the head-end API, the customer system, events, registers,
inspections, temperatures, ``ami anomalies score --readings``, VEE edits, the command
line) calls this module, so they all accept and reject the same texts.

Accepted (the grammar is checked against Python's ``datetime.fromisoformat`` by property
tests, ``tests/test_instants.py``)::

    YYYY-MM-DD{T|t|space}HH:MM[:SS[{.|,}fraction]][ ]zone
    zone = Z | z | ±HH:MM | ±HHMM | ±HH

Fractions of any length are truncated to microseconds (as ``fromisoformat`` does). Text
without a zone is an instant only where the caller names the zone the source writes its
local time in (a source profile, or the documented readings-only rule of the scorer);
elsewhere it is refused, because guessing the zone shifts every reading by hours. The
result is always ``Datetime("us", "UTC")``.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ami.errors import ConfigError

#: One ISO 8601 instant: date, time (seconds and fraction optional), zone (optional).
PATTERN = (
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?[ ]*"
    r"(?:([Zz])|([+-]\d{2})(?::?(\d{2}))?)?$"
)

#: The type every parsed instant has.
UTC_INSTANT = pl.Datetime("us", "UTC")

#: What to tell a person whose time did not parse.
HINT = ("write an ISO 8601 instant with its zone, e.g. 2026-10-01T17:30:00Z or "
        "2026-10-02T00:30:00+07:00")


def _normalised(text: pl.Expr, zone: str | None) -> pl.Expr:
    """The instant of each text (strings only), by one regular expression; slow per row."""
    parts = text.str.strip_chars().str.extract_groups(PATTERN)
    fraction = parts.struct.field("4").fill_null("").str.pad_end(6, "0").str.slice(0, 6)
    field = parts.struct.field
    local = pl.concat_str([field("1"), pl.lit("T"), field("2"), pl.lit(":"),
                           field("3").fill_null("00"), pl.lit("."), fraction])
    offset = pl.when(parts.struct.field("5").is_not_null()).then(pl.lit("+00:00")).otherwise(
        pl.concat_str([parts.struct.field("6"), pl.lit(":"),
                       parts.struct.field("7").fill_null("00")]))
    aware = pl.concat_str([local, offset]).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False)
    if zone is None:
        return aware
    # Local time of a zone with clock changes: the earlier of a repeated hour; a skipped
    # hour does not exist and is refused.
    naive = local.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False) \
        .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null") \
        .dt.convert_time_zone("UTC")
    return pl.when(offset.is_null()).then(naive).otherwise(aware)


def parse_series(values: pl.Series, *, zone: str | None = None) -> pl.Series:
    """:func:`instant` on a Series: each distinct text is parsed once (a day file holds few).

    Typed input is accepted too: a zoned ``Datetime`` is converted to UTC, a naive one is
    local time of ``zone`` (refused without one), a ``Date`` is midnight of ``zone`` (UTC
    without one).
    """
    dtype = values.dtype
    name = values.name
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            out = values.dt.convert_time_zone("UTC")
        elif zone is not None:
            out = values.dt.replace_time_zone(zone, ambiguous="earliest",
                                              non_existent="null").dt.convert_time_zone("UTC")
        else:
            out = pl.Series(name, [None] * len(values), dtype=UTC_INSTANT)
        return out.dt.cast_time_unit("us").cast(UTC_INSTANT).alias(name)
    if dtype == pl.Date:
        return values.cast(pl.Datetime("us")).dt.replace_time_zone(zone or "UTC") \
            .dt.convert_time_zone("UTC").alias(name)
    text = values.cast(pl.String)
    distinct = text.unique()
    parsed = distinct.to_frame("t").select(_normalised(pl.col("t"), zone)).to_series()
    return text.replace_strict(distinct, parsed, default=None,
                               return_dtype=UTC_INSTANT).alias(name)


def instant(column: str | pl.Expr, *, zone: str | None = None) -> pl.Expr:
    """Any ISO 8601 instant with its zone → ``Datetime("us", "UTC")``; null where it is not one.

    ``zone`` (an IANA name such as ``Asia/Ho_Chi_Minh``) is the zone of texts written
    without one; None refuses them (null). Works in lazy and streaming queries; distinct
    texts are parsed once per batch.
    """
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.map_batches(lambda s: parse_series(s, zone=zone), return_dtype=UTC_INSTANT,
                            is_elementwise=True)


def parse_instant(text: str, *, zone: str | None = None) -> datetime | None:
    """:func:`instant` for one text (aware UTC ``datetime``), None when it is not an instant."""
    value = parse_series(pl.Series("t", [text], dtype=pl.String), zone=zone)[0]
    return value if isinstance(value, datetime) else None


def require_instant(text: str, name: str) -> datetime:
    """An instant with zone given by a person (a command-line option), as aware UTC.

    Raises:
        ConfigError: ``text`` is not one, naming the option and how to write it.

    """
    value = parse_instant(text)
    if value is None:
        raise ConfigError(f"{name} {problem(text)}", fix=HINT)
    return value


def problem(text: str | None) -> str:
    """Why ``text`` is not an instant with zone, in words for an error message."""
    if text is None or not str(text).strip():
        return "the time is empty"
    if parse_instant(str(text), zone="UTC") is not None:
        return f"{str(text).strip()!r} has no zone (Z or ±hh:mm)"
    return f"{str(text).strip()!r} is not an ISO 8601 instant"
