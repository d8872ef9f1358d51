"""VEE editing: manual corrections of interval readings, kept with who, when and why.

An edit names one meter, an inclusive range of interval ends (UTC) and the corrected
energy *per interval* of one or both channels; a null value leaves that channel as VEE
made it. Edits are appended to the silver table ``edits`` and never deleted: a later
edit of the same intervals supersedes the earlier one and both stay, so the history
answers "who changed this value, when and why". VEE applies a day's edits on top of
the validated and estimated readings (``apply_edits``): each edited interval gets
quality ``edited`` and rule ``manual_edit:<edit_id>``, and an audit row keeps the value
it replaced (silver table ``edit_log``, one partition per local day).

**Latest wins.** Among edits naming the same interval, the one recorded last applies:
latest ``edited_at``, then highest ``edit_id`` (ids are a zero-padded sequence, so one
batch, which shares its ``edited_at``, is ordered as given).

**Interval grid.** Every interval length VEE accepts (5, 10, 15, 30, 60 min) divides an
hour, and Asia/Ho_Chi_Minh is a whole number of hours from UTC, so the interval ends of a
meter read every *m* minutes are the multiples of *m* minutes since the Unix epoch, all
on the 5-minute grid. An edit names, for such a meter, the multiples of *m* between its
first and last interval end.

**Nothing is invented.** An interval an edit names that the silver frame does not hold
(a meter not in service that day, or a range off the meter's cadence) is not added to
silver; it is returned in the audit with original quality ``absent``, so the person who
made the edit can see it did not apply.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from ami.errors import InputError, NoDataError
from ami.instants import instant
from ami.settings import Settings
from ami.vocabulary import Quality
from quality.days import day_bounds
from quality.parse import number, unreadable_csv
from warehouse import Warehouse, write_table
from warehouse.locks import exclusive
from warehouse.schemas import schema_of

#: Resolution on which every valid interval end lies [min] (the gcd of VALID_INTERVALS
#: in quality.vee).
GRID_MINUTES = 5

#: The silver ``edits`` table: one row per recorded edit, never deleted.
EDITS_SCHEMA = schema_of("edits").polars
#: Audit rows of applied edits (silver ``edit_log``, partitioned by local date).
EDIT_LOG_SCHEMA = schema_of("edit_log").polars

#: Columns a corrections file may have (``edited_by``/``reason`` may come from the caller).
INPUT_COLUMNS = ("meter_id", "first_interval_end", "last_interval_end", "kwh_import",
                 "kwh_export", "edited_by", "reason")

#: Original quality in the audit of an interval the silver frame does not hold.
ABSENT = "absent"

#: Prefix of the silver ``rule`` of an edited interval, followed by the edit id.
RULE_PREFIX = "manual_edit:"

#: How long a writer waits for another one recording edits [s].
LOCK_TIMEOUT_SECONDS = 30.0

_ID_PREFIX = "E"
_ID_DIGITS = 8
_US_PER_MINUTE = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: (failed, column, message, fix) of one row check.
Check = tuple[pl.Expr, str, str, str]


# --- reading and checking -------------------------------------------------------------


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
    _raise_first(typed, _value_checks())
    return typed.select(*(c for c in EDITS_SCHEMA if c in typed.columns), "_file", "_row")


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


def _raise_first(frame: pl.DataFrame, checks: list[Check]) -> None:
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
        raise InputError(f"{message}{more}", file=_str_or_none(first["_file"]), row=row,
                         column=column, fix=fix)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


# --- recording ------------------------------------------------------------------------


def record_edits(edits: pl.DataFrame, *, by: str, reason: str | None = None,
                 settings: Settings) -> list[str]:
    """Append edits to the silver ``edits`` table; returns their ids in input order.

    Args:
        edits: columns ``meter_id``, ``first_interval_end``, ``last_interval_end``
            (inclusive range of interval ends), ``kwh_import``/``kwh_export`` [kWh per
            interval; null keeps that channel], optionally ``edited_by`` and ``reason``
            per row (a row's own value wins over ``by``/``reason``), as text or typed.
        by: who makes the correction (name or staff id); must not be blank.
        reason: why, for rows that do not give their own reason.
        settings: where the warehouse is.

    The table is rewritten whole and atomically under an exclusive lock, so concurrent
    writers never lose each other's edits; earlier edits are kept as they were.
    ``edited_at`` is now (UTC), never earlier than the latest edit already recorded, so
    that "latest wins" follows the order of recording. Each call appends: recording the
    same correction twice leaves two edits (the later one applies).

    Raises:
        InputError: blank who or why, a bad range or value, or a meter not in silver
            ``meters`` — naming the row (and file) and column.
        NoDataError: the silver ``meters`` table does not exist yet.
        TransientError: another process held the lock for too long.

    """
    if not by.strip():
        raise InputError("who made the correction is not given", column="edited_by",
                         fix="pass by=<name or staff id of the person responsible>")
    typed = typed_edits(edits)
    typed = typed.with_columns(
        pl.col("edited_by").fill_null(by.strip()),
        pl.col("reason").fill_null(pl.lit((reason or "").strip() or None, pl.String)),
    )
    _raise_first(typed, [
        (pl.col("reason").is_null(), "reason", "the reason for the correction is not given",
         "say why (crew report, customer complaint, meter replaced …) in the reason "
         "column or with reason="),
    ])
    if typed.is_empty():
        return []
    warehouse = Warehouse.at(settings.warehouse)
    _check_meters(typed, warehouse)
    with _exclusive(warehouse):
        table = _read_table(warehouse)
        last_number = (table["edit_id"].str.strip_prefix(_ID_PREFIX)
                       .cast(pl.Int64, strict=False).max())
        start = int(last_number) + 1 if isinstance(last_number, int) else 1
        now = datetime.now(UTC)
        latest = table["edited_at"].max()
        if isinstance(latest, datetime) and latest > now:
            now = latest  # the clock stepped back: keep the order of recording
        new = typed.with_columns(
            (pl.lit(_ID_PREFIX)
             + (pl.int_range(pl.len(), dtype=pl.Int64) + start).cast(pl.String)
             .str.zfill(_ID_DIGITS)).alias("edit_id"),
            pl.lit(now, pl.Datetime("us", "UTC")).alias("edited_at"),
        ).select(list(EDITS_SCHEMA)).cast(EDITS_SCHEMA)  # type: ignore[arg-type]
        ids: list[str] = new["edit_id"].to_list()
        write_table(pl.concat([table, new]), "edits", warehouse=warehouse,
                    sort_by=("edit_id",), sources={"last_edit_id": ids[-1]})
    return ids


def record_edit(meter_id: str, first_end: datetime, last_end: datetime, *,
                kwh_import: float | None, kwh_export: float | None = None, by: str,
                reason: str, settings: Settings) -> str:
    """Record one correction of the intervals ending first_end … last_end (both included).

    The instants must be timezone-aware; the values are per interval [kWh] and None keeps
    that channel. Returns the edit id. Raises as ``record_edits``.
    """
    frame = pl.DataFrame({
        "meter_id": [meter_id], "first_interval_end": [first_end],
        "last_interval_end": [last_end], "kwh_import": [kwh_import],
        "kwh_export": [kwh_export], "edited_by": [by], "reason": [reason],
    })
    return record_edits(frame, by=by, reason=reason, settings=settings)[0]


def read_edits(*, settings: Settings) -> pl.DataFrame:
    """Every recorded edit (the silver ``edits`` table), oldest first; empty when none."""
    return _read_table(Warehouse.at(settings.warehouse))


def _read_table(warehouse: Warehouse) -> pl.DataFrame:
    try:
        table = warehouse.scan("edits").collect()
    except FileNotFoundError:
        return pl.DataFrame(schema=EDITS_SCHEMA)
    return table.select(list(EDITS_SCHEMA)).cast(EDITS_SCHEMA)  # type: ignore[arg-type]


def _check_meters(edits: pl.DataFrame, warehouse: Warehouse) -> None:
    """Raise when an edit names a meter the silver ``meters`` table does not know."""
    try:
        known = warehouse.scan("meters").select("meter_id").unique().collect()
    except FileNotFoundError:
        raise NoDataError(
            "the silver meters table does not exist, so edited meters cannot be checked",
            fix="ingest the customer system's meters first (ami ingest --landing …)",
        ) from None
    unknown = edits.join(known, on="meter_id", how="anti").sort("_row")
    if unknown.height:
        first = unknown.row(0, named=True)
        more = f" ({unknown.height} rows like this)" if unknown.height > 1 else ""
        raise InputError(
            f"meter {first['meter_id']} is not in the meters table{more}",
            file=_str_or_none(first["_file"]), row=int(first["_row"]), column="meter_id",
            fix="check the meter id against the customer system, or load that meter first",
        )


def _exclusive(warehouse: Warehouse) -> AbstractContextManager[None]:
    """Hold the warehouse's edits lock (released by the kernel if the process dies)."""
    return exclusive(warehouse.work / "edits.lock", "recording edits",
                     timeout=LOCK_TIMEOUT_SECONDS)


# --- the edits of a day ---------------------------------------------------------------


def _micros(instant_: datetime) -> int:
    return (instant_ - _EPOCH) // timedelta(microseconds=1)


def _epoch_us(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us")


def effective_edits(edits: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The parts of ``edits`` that apply to interval ends in (start, end]; latest wins.

    Resolved on the 5-minute grid, which refines every meter cadence: each row is a piece
    of one edit (same id and values) with its range cut to the period and to where no
    later edit of the meter overrides it. Edits fully overridden disappear. Ordered
    oldest edit first. Pure: no I/O.
    """
    step = GRID_MINUTES * _US_PER_MINUTE
    low, high = _micros(start) // step + 1, _micros(end) // step
    touching = edits.select(list(EDITS_SCHEMA)).filter(
        (pl.col("first_interval_end") <= end) & (pl.col("last_interval_end") > start)
    )
    ceil_first = (_epoch_us("first_interval_end") + step - 1) // step
    slots = (
        touching.with_row_index("_order")
        .with_columns(pl.int_ranges(pl.max_horizontal(ceil_first, pl.lit(low)),
                                    pl.min_horizontal(_epoch_us("last_interval_end") // step,
                                                      pl.lit(high)) + 1).alias("_k"))
        .explode("_k", empty_as_null=False).drop_nulls("_k")
        .sort("edited_at", "edit_id", "_order")
        .unique(["meter_id", "_k"], keep="last", maintain_order=True)
        .sort("meter_id", "_k")
    )
    new_piece = (
        (pl.col("meter_id") != pl.col("meter_id").shift(1))
        | (pl.col("_order") != pl.col("_order").shift(1))
        | (pl.col("_k") != pl.col("_k").shift(1) + 1)
    ).fill_null(True)

    def slot_end(k: pl.Expr) -> pl.Expr:
        return pl.from_epoch(k * step, time_unit="us").dt.replace_time_zone("UTC")

    return (
        slots.with_columns(new_piece.cum_sum().alias("_piece"))
        .group_by("_piece", maintain_order=True)
        .agg(pl.all().exclude("_k", "first_interval_end", "last_interval_end").first(),
             slot_end(pl.col("_k").min()).alias("first_interval_end"),
             slot_end(pl.col("_k").max()).alias("last_interval_end"))
        .sort("edited_at", "edit_id", "meter_id", "first_interval_end")
        .select(list(EDITS_SCHEMA)).cast(EDITS_SCHEMA)  # type: ignore[arg-type]
    )


def edits_for_day(day: str, *, settings: Settings) -> pl.DataFrame:
    """The edits that apply to one local day (``edits`` columns), latest wins per interval.

    An interval belongs to the local day of its end minus an instant, so one ending at
    local midnight belongs to the day before (as in VEE). Ranges are cut to the day's
    interval ends and to where no later edit overrides them (``effective_edits``).
    """
    start, end = day_bounds(day, settings)
    try:
        scan = Warehouse.at(settings.warehouse).scan("edits")
    except FileNotFoundError:
        return pl.DataFrame(schema=EDITS_SCHEMA)
    touching = scan.filter(
        (pl.col("first_interval_end") <= end) & (pl.col("last_interval_end") > start)
    ).collect()
    return effective_edits(touching, start, end)


def edit_sources(day: str, *, settings: Settings) -> str:
    """Checksum (SHA-256 hex) of the edits that apply to a day; "" when none do.

    VEE records it among a silver day's sources: a new edit of that day changes it and
    marks the day for recomputation; edits of other days do not.
    """
    edits = edits_for_day(day, settings=settings)
    if edits.is_empty():
        return ""
    text = edits.write_csv(datetime_format="%Y-%m-%dT%H:%M:%S%.6fZ", float_precision=None)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- applying -------------------------------------------------------------------------


def apply_edits(silver: pl.DataFrame, edits: pl.DataFrame, *,
                interval_minutes: int = 30) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply edits to silver readings; returns (new silver, audit rows).

    Every silver interval an edit names gets the edited values (a null value keeps the
    current one), quality ``edited`` and rule ``manual_edit:<edit_id>``; latest edit wins
    on overlap. Other rows are returned unchanged, in the same order, with the same
    schema. Audit rows (``EDIT_LOG_SCHEMA``) hold the original and new values of each
    edited interval; intervals an edit names that silver does not hold are not invented
    and appear in the audit with original quality ``absent``.

    Args:
        silver: silver readings (``meter_id``, ``interval_end``, ``interval_minutes``,
            ``kwh_import``, ``kwh_export``, ``quality``, ``rule``; other columns kept).
        edits: ``EDITS_SCHEMA`` rows; every interval end in their ranges is taken to
            belong to ``silver``'s period, so pass the edits of that period
            (``edits_for_day`` cuts them to the day).
        interval_minutes: cadence of meters that have no row in ``silver`` [min], to
            list the intervals an edit of such a meter names.

    """
    missing = [c for c in EDITS_SCHEMA if c not in edits.columns]
    if missing:
        raise InputError(f"the edits lack column {missing[0]!r}", column=missing[0],
                         fix="pass edits read with edits_for_day or read_edits")
    if edits.is_empty():
        return silver, pl.DataFrame(schema=EDIT_LOG_SCHEMA)
    time_dtype = silver.schema["interval_end"]
    cadence = silver.group_by("meter_id").agg(
        pl.col("interval_minutes").mode().min().cast(pl.Int64).alias("_minutes"))
    step = pl.col("_minutes") * _US_PER_MINUTE
    named = (
        edits.select(list(EDITS_SCHEMA)).with_row_index("_order")
        .join(cadence, on="meter_id", how="left", maintain_order="left")
        .with_columns(pl.col("_minutes").fill_null(interval_minutes))
        .with_columns(pl.int_ranges((_epoch_us("first_interval_end") + step - 1) // step,
                                    _epoch_us("last_interval_end") // step + 1).alias("_k"))
        .explode("_k", empty_as_null=False).drop_nulls("_k")
        .with_columns(pl.from_epoch(pl.col("_k") * step, time_unit="us")
                      .dt.replace_time_zone("UTC").cast(time_dtype).alias("interval_end"))
        .sort("edited_at", "edit_id", "_order")
        .unique(["meter_id", "interval_end"], keep="last", maintain_order=True)
    )
    keys = ["meter_id", "interval_end"]
    original = silver.select(
        *keys,
        pl.col("kwh_import").alias("original_kwh_import"),
        pl.col("kwh_export").alias("original_kwh_export"),
        pl.col("quality").alias("original_quality"),
        pl.col("rule").alias("original_rule"),
        pl.lit(True).alias("_present"),
    )
    present = pl.col("_present").fill_null(False)
    audit = (
        named.join(original, on=keys, how="left")
        .with_columns(
            pl.when(present).then(pl.col("original_quality")).otherwise(pl.lit(ABSENT))
            .alias("original_quality"),
            pl.when(present).then(pl.coalesce("kwh_import", "original_kwh_import"))
            .otherwise(pl.col("kwh_import")).alias("new_kwh_import"),
            pl.when(present).then(pl.coalesce("kwh_export", "original_kwh_export"))
            .otherwise(pl.col("kwh_export")).alias("new_kwh_export"),
        )
        .sort("meter_id", "interval_end")
        .select(list(EDIT_LOG_SCHEMA)).cast(EDIT_LOG_SCHEMA)  # type: ignore[arg-type]
    )
    hits = named.select(*keys, pl.col("edit_id").alias("_edit_id"),
                        pl.col("kwh_import").alias("_edit_import"),
                        pl.col("kwh_export").alias("_edit_export"))
    hit = pl.col("_edit_id").is_not_null()
    edited = (
        silver.join(hits, on=keys, how="left", maintain_order="left")
        .with_columns(
            pl.when(hit).then(pl.coalesce("_edit_import", "kwh_import"))
            .otherwise(pl.col("kwh_import")).alias("kwh_import"),
            pl.when(hit).then(pl.coalesce("_edit_export", "kwh_export"))
            .otherwise(pl.col("kwh_export")).alias("kwh_export"),
            pl.when(hit).then(pl.lit(Quality.EDITED)).otherwise(pl.col("quality")).alias("quality"),
            pl.when(hit).then(pl.lit(RULE_PREFIX) + pl.col("_edit_id"))
            .otherwise(pl.col("rule")).alias("rule"),
        )
        .select(silver.columns)
        .cast(silver.schema)
    )
    return edited, audit
