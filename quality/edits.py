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

import polars as pl

from ami.errors import InputError, NoDataError
from ami.settings import Settings
from ami.vocabulary import Quality
from quality.days import day_bounds
from quality.edit_files import GRID_MINUTES, raise_first, str_or_none, typed_edits
from warehouse import Warehouse, write_table
from warehouse.locks import exclusive
from warehouse.schemas import schema_of

#: The silver ``edits`` table: one row per recorded edit, never deleted.
EDITS_SCHEMA = schema_of("edits").polars
#: Audit rows of applied edits (silver ``edit_log``, partitioned by local date).
EDIT_LOG_SCHEMA = schema_of("edit_log").polars


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
    raise_first(typed, [
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
            file=str_or_none(first["_file"]), row=int(first["_row"]), column="meter_id",
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
