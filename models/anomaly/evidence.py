"""Per-meter evidence from meter events and register reads, to join onto interval signals.

This module owns two sources of theft evidence that the load profile alone does not give
(README: data contract), each reduced to one row per meter that ``signals.py``'s table can be
joined with on ``meter_id``:

- **Events** (``meter_id``, ``event_at``, ``event_code``): tamper alarms (cover open,
  magnetic field), reverse current and power-off events, counted in the recent window
  and per day of history (``event_signals``; codes mapped by ``ami.vocabulary``).
- **Register reads** (``meter_id``, ``read_at``, ``register_kwh_import``): the cumulative
  index advance between consecutive reads against the energy the load profile shows for
  the same local days (``register_signals``). A register that counts more than its
  profile means the profile under-reports; a register that goes backwards is a replaced
  meter or a fault (``register_resets``), never theft, and is left out of the comparison.

It also reads both kinds from the warehouse: the current bronze rows of the landing
zone's ``events*`` / ``registers*`` files (``read_bronze_events``,
``read_bronze_registers``), which the ingest stores in bronze only.

Local days are in the settings' time zone (Asia/Ho_Chi_Minh by default); instants are
UTC. Missing is missing: a signal without data is null, never 0, and no ratio divides
by zero. Output columns with units: ``EVENT_SIGNAL_COLUMNS``, ``REGISTER_SIGNAL_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import polars as pl

from ami.errors import InputError
from ami.instants import instant
from ami.settings import Settings
from ami.vocabulary import (
    COUNTED_EVENTS,
    EventCategory,
    event_category,
    normalise_event_code,
    texts,
)
from models.anomaly.signals import Window, local_midnight
from quality.parse import number
from quality.sources import current_files
from warehouse import Warehouse
from warehouse.layout import FILEDROP_DATASET, HES_API_DATASET
from warehouse.state import read_manifest

#: Landing-zone file kinds (``events*``, ``registers*``) whose rows land in bronze.
EVENTS_KIND = "events"
REGISTERS_KIND = "registers"

#: A register may read this much below the previous read without counting as going
#: backwards: reads are rounded to the meter resolution (0.001 kWh) [kWh].
RESET_TOLERANCE_KWH = 0.01
#: Below this register advance over a window the gap share is rounding noise, not
#: evidence, and is left null (this also keeps the share from dividing by zero) [kWh].
MIN_REGISTER_KWH = 1.0

EVENT_SIGNAL_COLUMNS: dict[str, str] = {
    "meter_id": "meter identifier",
    "tamper_events_recent": "tamper events (cover open, magnetic field) in the recent window",
    "tamper_events_hist_per_day": "tamper events per day of history [1/d]",
    "last_tamper_at": "latest tamper event in the window (null: none) [UTC]",
    "reverse_events_recent": "reverse-current events in the recent window",
    "reverse_events_hist_per_day": "reverse-current events per day of history [1/d]",
    "power_off_events_recent": "power-off events in the recent window",
    "power_off_events_hist_per_day": "power-off events per day of history [1/d]",
    "event_hist_days": "history days the per-day rates are over (null: none) [d]",
}

REGISTER_SIGNAL_COLUMNS: dict[str, str] = {
    "meter_id": "meter identifier",
    "register_kwh_recent": "register advance over recent read spans with profile data [kWh]",
    "interval_kwh_recent": "load-profile energy over the same spans [kWh]",
    "register_gap_share_recent": "(register - profile) / register, recent; positive = the "
    "profile shows less than the register counted [-]",
    "register_days_recent": "length of the recent spans compared [d]",
    "register_kwh_hist": "register advance over history read spans with profile data [kWh]",
    "interval_kwh_hist": "load-profile energy over the same spans [kWh]",
    "register_gap_share_hist": "(register - profile) / register, history [-]",
    "register_days_hist": "length of the history spans compared [d]",
    "register_resets": "reads below the previous one in the window (meter replaced or "
    "fault; not compared) [count]",
}

_EVENT_COLUMNS = ("meter_id", "event_at", "event_code")
_REGISTER_COLUMNS = ("meter_id", "read_at", "register_kwh_import")
_DAY_ENERGY_COLUMNS = ("meter_id", "day", "kwh")
_UTC = pl.Datetime("us", "UTC")
_DEFAULT_TIMEZONE: str = Settings.model_fields["timezone"].default


# --- events ------------------------------------------------------------------------------


def event_signals(
    events: pl.LazyFrame | pl.DataFrame, window: Window, *, settings: Settings | None = None
) -> pl.DataFrame:
    """Event counts per meter: recent window versus the rate per day of history.

    Events are taken on the local days ``window.first_day`` .. ``window.end_day``; the
    recent window starts at ``window.recent_first``. An event delivered twice (same meter,
    instant and normalised code) counts once. Codes of no counted category
    (``ami.vocabulary.COUNTED_EVENTS``: a clock set, power on, unknown codes) are ignored,
    so a meter with only such events has no row.

    An event feed says nothing about meters without events, so the history rates are over
    the history days since the feed's first event (any meter, any code) in the window:
    events loaded for a few weeks are not diluted over a 90-day history. Without an event
    before ``window.recent_first`` the rates are null.

    Args:
        events: ``meter_id``, ``event_at`` (timestamp, or ISO 8601 text with zone; naive =
            UTC), ``event_code``; other columns are ignored.
        window: the analysed local days (``signals.Window``).
        settings: for the local time zone (default Asia/Ho_Chi_Minh).

    Returns:
        One row per meter with a counted event, columns ``EVENT_SIGNAL_COLUMNS``, sorted by
        ``meter_id``.

    Raises:
        InputError: a required column is missing or has the wrong type.

    """
    tz = _zone(settings)
    lf = (
        _typed_events(events.lazy())
        .with_columns(day=pl.col("event_at").dt.convert_time_zone(tz).dt.date())
        .filter(pl.col("day").is_between(window.first_day, window.end_day))
        .unique(subset=["meter_id", "event_at", "event_code"])
    )
    known = lf.with_columns(category=event_category(pl.col("event_code"))).filter(
        pl.col("category").is_in(texts(COUNTED_EVENTS))
    )
    recent = pl.col("day") >= window.recent_first

    def count(category: EventCategory, when: pl.Expr) -> pl.Expr:
        return ((pl.col("category") == category) & when).sum().cast(pl.Int32)

    tamper = EventCategory.TAMPER
    counts = known.group_by("meter_id").agg(
        tamper_events_recent=count(tamper, recent),
        tamper_hist=count(tamper, ~recent),
        last_tamper_at=pl.col("event_at").filter(pl.col("category") == tamper).max(),
        reverse_events_recent=count(EventCategory.REVERSE, recent),
        reverse_hist=count(EventCategory.REVERSE, ~recent),
        power_off_events_recent=count(EventCategory.POWER_OFF, recent),
        power_off_hist=count(EventCategory.POWER_OFF, ~recent),
    )
    feed = lf.select(first=pl.col("day").min())
    table, first = pl.collect_all([counts, feed], engine="streaming")
    feed_first: date | None = first["first"][0]
    start = window.first_day if feed_first is None else max(window.first_day, feed_first)
    hist_days = (window.recent_first - start).days if feed_first is not None else 0

    def per_day(column: str) -> pl.Expr:
        if hist_days <= 0:
            return pl.lit(None, pl.Float64)
        return pl.col(column).cast(pl.Float64) / hist_days

    return (
        table.with_columns(
            tamper_events_hist_per_day=per_day("tamper_hist"),
            reverse_events_hist_per_day=per_day("reverse_hist"),
            power_off_events_hist_per_day=per_day("power_off_hist"),
            event_hist_days=pl.lit(hist_days if hist_days > 0 else None, pl.Int32),
            last_tamper_at=pl.col("last_tamper_at").cast(_UTC),
        )
        .select(list(EVENT_SIGNAL_COLUMNS))
        .sort("meter_id")
    )


def _typed_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """``meter_id``, ``event_at`` [UTC], normalised ``event_code``; unusable rows dropped."""
    schema = events.collect_schema()
    _require(schema, _EVENT_COLUMNS, "events",
             "provide meter_id, event_at (UTC instant) and event_code (DESIGN §4); map "
             "vendor names at ingestion")
    return events.select(
        pl.col("meter_id").cast(pl.String).str.strip_chars(),
        _utc("event_at", schema["event_at"], "events"),
        normalise_event_code(pl.col("event_code")).alias("event_code"),
    ).drop_nulls()


# --- registers ---------------------------------------------------------------------------


def register_signals(
    registers: pl.LazyFrame | pl.DataFrame,
    day_energy: pl.DataFrame | pl.LazyFrame,
    window: Window,
    *,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """Register advance versus load-profile energy per meter, recent window and history.

    Consecutive reads of a meter (between local ``window.first_day`` 00:00 and the
    midnight closing ``window.end_day``, both included) make a *span*; its advance is the
    later read minus the earlier one. The span is compared with the profile energy of the
    local days it covers: each day's energy counts by the share of the day inside the
    span. Daily reads at local midnight (as head-ends and the synthetic generator deliver
    them) cover exactly one day each; reads at other times split a day between two spans
    (profile energy assumed even within the day, so the error cancels over the window).
    A span is compared only when every day it touches has a complete-day energy in
    ``day_energy``, and it belongs to the recent window when the day its end falls on
    does. Spans whose register went backwards (by more than ``RESET_TOLERANCE_KWH``) are
    counted in ``register_resets`` and never compared. Duplicate reads of one instant
    are averaged.

    Args:
        registers: ``meter_id``, ``read_at`` (timestamp or ISO 8601 text; naive = UTC),
            ``register_kwh_import`` [kWh, cumulative]; other columns are ignored.
        day_energy: ``meter_id``, ``day`` (local Date), ``kwh`` (Σ interval import of
            that day [kWh]), complete days only; duplicate rows of a day are averaged.
        window: the analysed local days (``signals.Window``).
        settings: for the local time zone (default Asia/Ho_Chi_Minh).

    Returns:
        One row per meter with at least two reads in the window, columns
        ``REGISTER_SIGNAL_COLUMNS``, sorted by ``meter_id``. Sums and shares are null when
        no span could be compared; shares also when the register advanced less than
        ``MIN_REGISTER_KWH``.

    Raises:
        InputError: a required column is missing or has the wrong type.

    """
    tz = _zone(settings)
    start = local_midnight(window.first_day, tz)
    stop = local_midnight(window.end_day + timedelta(days=1), tz)
    energy = _typed_day_energy(day_energy.lazy()).filter(
        pl.col("day").is_between(window.first_day, window.end_day)
    )
    reads = (
        _typed_registers(registers.lazy())
        .filter(pl.col("read_at").is_between(start, stop))
        .group_by("meter_id", "read_at")
        .agg(pl.col("register_kwh_import").mean())
    )
    spans = (
        reads.with_columns(
            t0=_previous("read_at"),
            advance=pl.col("register_kwh_import") - _previous("register_kwh_import"),
        )
        .filter(pl.col("t0").is_not_null())
        .select(
            "meter_id",
            "t0",
            "advance",
            t1="read_at",
            first_day=_local_day(pl.col("t0"), tz),
            end_day=_local_day(pl.col("read_at") - timedelta(microseconds=1), tz),
        )
        .with_columns(
            reset=pl.col("advance") < -RESET_TOLERANCE_KWH,
            span_days=(pl.col("t1") - pl.col("t0")).dt.total_seconds(fractional=True) / 86_400.0,
        )
    )
    spans = _with_profile_energy(spans, energy, tz)
    recent = pl.col("end_day") >= window.recent_first
    parts = {"recent": pl.col("used") & recent, "hist": pl.col("used") & ~recent}
    sums = {"register_kwh": "advance", "interval_kwh": "interval_kwh", "register_days": "span_days"}
    # Masks first, then plain sums: the grouping stays on Polars' fast path.
    masked = spans.select(
        "meter_id",
        "reset",
        *[
            pl.when(mask).then(pl.col(column)).alias(f"{name}_{part}")
            for part, mask in parts.items()
            for name, column in sums.items()
        ],
        *[mask.cast(pl.Int32).alias(f"n_{part}") for part, mask in parts.items()],
    )
    table = masked.group_by("meter_id").agg(
        *[pl.col(f"{name}_{part}").sum() for part in parts for name in sums],
        *[pl.col(f"n_{part}").sum() for part in parts],
        register_resets=pl.col("reset").sum().cast(pl.Int32),
    )
    # No compared span: null sums, not 0.
    table = table.with_columns(
        pl.when(pl.col(f"n_{part}") > 0).then(pl.col(f"{name}_{part}")).alias(f"{name}_{part}")
        for part in parts
        for name in sums
    )

    def gap_share(suffix: str) -> pl.Expr:
        register = pl.col(f"register_kwh_{suffix}")
        return pl.when(register >= MIN_REGISTER_KWH).then(
            (register - pl.col(f"interval_kwh_{suffix}")) / register
        )

    return (
        table.with_columns(
            register_gap_share_recent=gap_share("recent"),
            register_gap_share_hist=gap_share("hist"),
        )
        .select(list(REGISTER_SIGNAL_COLUMNS))
        .sort("meter_id")
        .collect(engine="streaming")
    )


def _previous(column: str) -> pl.Expr:
    """The value of the meter's previous read (null for its first read)."""
    return pl.col(column).shift(1).over("meter_id", order_by="read_at")


def _with_profile_energy(spans: pl.LazyFrame, energy: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Spans with ``used`` and ``interval_kwh``, the profile energy inside the span [kWh].

    ``used``: the span is compared (not a reset, every local day it touches has energy).
    Spans within one local day (daily reads at midnight: nearly all) join their day
    directly; longer ones are split into the days they touch first.
    """
    keep = ["meter_id", "advance", "end_day", "reset", "span_days"]
    one_day = pl.col("first_day") == pl.col("end_day")
    short = (
        spans.filter(~pl.col("reset") & one_day)
        .join(energy, left_on=["meter_id", "first_day"], right_on=["meter_id", "day"],
              how="left")
        .with_columns(share=_day_share("t0", "t1", pl.col("first_day"), tz))
        .select(*keep, used=pl.col("kwh").is_not_null(),
                interval_kwh=pl.col("kwh") * pl.col("share"))
    )
    long = (
        spans.filter(~pl.col("reset") & ~one_day)
        .with_row_index("span")
        .with_columns(day=pl.date_ranges("first_day", "end_day"))
        .explode("day")
        .join(energy, on=["meter_id", "day"], how="left")
        .with_columns(share=_day_share("t0", "t1", pl.col("day"), tz))
        .group_by("span")
        .agg(
            pl.col(keep).first(),
            used=pl.col("kwh").null_count() == 0,
            interval_kwh=(pl.col("kwh") * pl.col("share")).sum(),
        )
        .drop("span")
    )
    resets = spans.filter(pl.col("reset")).select(
        *keep, used=pl.lit(value=False), interval_kwh=pl.lit(None, pl.Float64)
    )
    return pl.concat([short, long, resets], how="vertical_relaxed")


def _day_share(t0: str, t1: str, day: pl.Expr, tz: str) -> pl.Expr:
    """The share of local ``day`` that lies between the instants ``t0`` and ``t1`` [0-1]."""
    day_start = _midnight_expr(day, tz)
    day_end = _midnight_expr(day.dt.offset_by("1d"), tz)
    inside = pl.min_horizontal(t1, day_end) - pl.max_horizontal(t0, day_start)
    return inside.dt.total_microseconds().cast(pl.Float64) / (
        day_end - day_start
    ).dt.total_microseconds().cast(pl.Float64)


def _typed_registers(registers: pl.LazyFrame) -> pl.LazyFrame:
    """``meter_id``, ``read_at`` [UTC], ``register_kwh_import`` [kWh]; unusable rows dropped."""
    schema = registers.collect_schema()
    _require(schema, _REGISTER_COLUMNS, "register reads",
             "provide meter_id, read_at (UTC instant) and register_kwh_import (cumulative "
             "kWh) as in DESIGN §4")
    return registers.select(
        pl.col("meter_id").cast(pl.String).str.strip_chars(),
        _utc("read_at", schema["read_at"], "register reads"),
        _kwh("register_kwh_import", schema["register_kwh_import"], "register reads"),
    ).drop_nulls()


def _typed_day_energy(day_energy: pl.LazyFrame) -> pl.LazyFrame:
    """One ``kwh`` [kWh] per meter and local ``day``; duplicate rows averaged."""
    schema = day_energy.collect_schema()
    _require(schema, _DAY_ENERGY_COLUMNS, "day energy",
             "provide meter_id, day (local date) and kwh (Σ interval import of complete "
             "days)")
    day_type = schema["day"]
    if isinstance(day_type, pl.Datetime):
        day = pl.col("day").dt.date()
    elif day_type == pl.Date:
        day = pl.col("day")
    else:
        raise InputError(f"day has type {day_type}, expected a date", column="day",
                         fix="give the local day as a Date (Asia/Ho_Chi_Minh)")
    return (
        day_energy.select(
            pl.col("meter_id").cast(pl.String),
            day.alias("day"),
            _kwh("kwh", schema["kwh"], "day energy"),
        )
        .drop_nulls()
        .group_by("meter_id", "day")
        .agg(pl.col("kwh").mean())
    )


# --- warehouse readers -------------------------------------------------------------------


def read_bronze_events(
    warehouse: Warehouse,
    first_day: date,
    end_day: date,
    *,
    settings: Settings | None = None,
) -> pl.LazyFrame | None:
    """Events of the current landing ``events*`` files on local days first_day..end_day.

    Reads the bronze rows of the file versions the ingest manifest names current (a
    re-delivered file replaces its earlier version), one bronze file at a time so that
    files differing in optional columns combine. Returns ``meter_id``, ``event_at``
    [UTC], ``event_code`` (trimmed, as received); rows whose instant does not parse or
    that the reader marked malformed are left out (they stay in bronze). Exact duplicates
    are kept: ``event_signals`` counts them once. None when no current events file
    touches those days.
    """
    tz = _zone(settings)

    def columns(schema: pl.Schema) -> list[pl.Expr]:
        return [
            _text_or_null(schema, "meter_id"),
            _utc_or_null(schema, "event_at", "bronze events"),
            _text_or_null(schema, "event_code"),
        ]

    frame = _bronze_rows(warehouse, EVENTS_KIND, first_day, end_day, columns)
    if frame is None:
        return None
    start = local_midnight(first_day, tz)
    stop = local_midnight(end_day + timedelta(days=1), tz)
    return frame.filter(
        (pl.col("event_at") >= start) & (pl.col("event_at") < stop)
    ).drop_nulls(["meter_id", "event_at", "event_code"])


def read_bronze_registers(
    warehouse: Warehouse,
    first_day: date,
    end_day: date,
    *,
    settings: Settings | None = None,
) -> pl.LazyFrame | None:
    """Register reads of the current landing ``registers*`` files bracketing the local days.

    The reads from local ``first_day`` 00:00 up to and including the midnight that closes
    ``end_day`` (the read that ends the last day), so every day has its two bounding
    reads. Same current-version rule as ``read_bronze_events``. Returns ``meter_id``,
    ``read_at`` [UTC], ``register_kwh_import`` and ``register_kwh_export`` [kWh,
    cumulative; null when absent or not a number]; rows whose instant does not parse are
    left out. Duplicates are kept: ``register_signals`` averages them. None when no current
    registers file touches those days.
    """
    tz = _zone(settings)

    def columns(schema: pl.Schema) -> list[pl.Expr]:
        return [
            _text_or_null(schema, "meter_id"),
            _utc_or_null(schema, "read_at", "bronze register reads"),
            *[
                _kwh(name, schema[name], "bronze register reads")
                if name in schema
                else pl.lit(None, pl.Float64).alias(name)
                for name in ("register_kwh_import", "register_kwh_export")
            ],
        ]

    # The read closing end_day falls on the next local date.
    frame = _bronze_rows(
        warehouse, REGISTERS_KIND, first_day, end_day + timedelta(days=1), columns
    )
    if frame is None:
        return None
    start = local_midnight(first_day, tz)
    stop = local_midnight(end_day + timedelta(days=1), tz)
    return frame.filter(pl.col("read_at").is_between(start, stop)).drop_nulls(
        ["meter_id", "read_at"]
    )


def _bronze_rows(
    warehouse: Warehouse,
    kind: str,
    first_day: date,
    last_day: date,
    columns: Callable[[pl.Schema], list[pl.Expr]],
) -> pl.LazyFrame | None:
    """Typed rows of the current filedrop files of ``kind`` touching the local days.

    ``columns`` types one bronze file's columns from its schema; the per-file frames then
    share one schema and are concatenated (a multi-file scan would refuse files that
    differ in optional columns).
    """
    manifest = read_manifest(warehouse)
    days = {
        (first_day + timedelta(days=d)).isoformat()
        for d in range((last_day - first_day).days + 1)
    }
    # API loads (hes_api/<load id>) live in another bronze dataset; the head-end API
    # delivers readings only.
    files = {
        name: load
        for name, load in current_files(manifest, kind).items()
        if not name.startswith(f"{HES_API_DATASET}/")
        and days.intersection(manifest[name].dates)
    }
    if not files:
        return None
    wanted = pl.LazyFrame(
        {"_file": list(files), "_dlt_load_id": list(files.values())},
        schema={"_file": pl.String, "_dlt_load_id": pl.String},
    )
    frames = []
    for part in warehouse.bronze_parts(FILEDROP_DATASET, kind):
        scan = warehouse.scan_files([part])
        schema = scan.collect_schema()
        if "_file" not in schema or "_dlt_load_id" not in schema:
            continue
        rows = (
            scan.with_columns(pl.col("_file", "_dlt_load_id").cast(pl.String))
            .filter(pl.col("_file").is_in(list(files)))
            .join(wanted, on=["_file", "_dlt_load_id"], how="semi")
        )
        if "_invalid" in schema:
            rows = rows.filter(pl.col("_invalid").is_null())
        frames.append(rows.select(columns(schema)))
    if not frames:
        return None
    return pl.concat(frames, how="vertical")


# --- helpers -----------------------------------------------------------------------------


def _zone(settings: Settings | None) -> str:
    """The local time zone name: the settings' or the project default."""
    return settings.timezone if settings is not None else _DEFAULT_TIMEZONE


def _midnight_expr(day: pl.Expr, tz: str) -> pl.Expr:
    """The UTC instant of local 00:00 of a Date column."""
    return (
        day.cast(pl.Datetime("us")).dt.replace_time_zone(tz).dt.convert_time_zone("UTC")
    )


def _local_day(moment: pl.Expr, tz: str) -> pl.Expr:
    """The local date of a UTC instant."""
    return moment.dt.convert_time_zone(tz).dt.date()


def _require(schema: pl.Schema, required: tuple[str, ...], what: str, fix: str) -> None:
    """Raise an InputError naming the first required column the input lacks."""
    for column in required:
        if column not in schema:
            raise InputError(f"{what} lack a required column", column=column, fix=fix)


def _utc(column: str, dtype: pl.DataType, what: str) -> pl.Expr:
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


def _kwh(column: str, dtype: pl.DataType, what: str) -> pl.Expr:
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


def _utc_or_null(schema: pl.Schema, column: str, what: str) -> pl.Expr:
    """A timestamp column as UTC (null when the file lacks it)."""
    if column not in schema:
        return pl.lit(None, _UTC).alias(column)
    return _utc(column, schema[column], what)


def _text_or_null(schema: pl.Schema, column: str) -> pl.Expr:
    """A text column trimmed (null when the file lacks it)."""
    if column not in schema:
        return pl.lit(None, pl.String).alias(column)
    return pl.col(column).cast(pl.String).str.strip_chars().alias(column)


# --- joining the evidence onto the interval signals ----------------------------------------

#: Evidence columns and their types, present on every scored row (null without the data).
EVIDENCE_TYPES: dict[str, pl.DataType] = {
    "tamper_events_recent": pl.Int32(),
    "tamper_events_hist_per_day": pl.Float64(),
    "reverse_events_recent": pl.Int32(),
    "power_off_events_recent": pl.Int32(),
    "register_gap_share_recent": pl.Float64(),
    "register_gap_share_hist": pl.Float64(),
    "register_days_recent": pl.Float64(),
    "register_resets": pl.Int32(),
}


def add_note(notes: list[str] | None, text: str) -> None:
    """Append ``text`` to the caller's ``notes`` once (nothing when no list was given).

    Notes are the anomaly scoring's lines for people about an optional enrichment
    (prices, events, register reads, topology, inspection outcomes) that did not cover
    the scored window and was left out: the ranking is still produced, and the note says
    once what is missing and how to add it.
    """
    if notes is not None and text not in notes:
        notes.append(text)


def with_evidence(
    signals: pl.DataFrame,
    *,
    settings: Settings,
    events: pl.LazyFrame | pl.DataFrame | None = None,
    registers: pl.LazyFrame | pl.DataFrame | None = None,
    day_energy: pl.DataFrame | pl.LazyFrame | None = None,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """The signal table with the event and register evidence of ``EVIDENCE_TYPES`` joined.

    The window is the signals' own (``window_end``); a missing source gives null columns.
    A source that was given but holds nothing usable for the window (events or reads
    outside it, register reads without the load-profile day energy to compare with)
    gives null columns too, and one line in ``notes`` (see :func:`add_note`).

    Raises:
        InputError: a given source lacks a required column or has a wrong type.

    """
    end = signals["window_end"].max()
    out = signals
    if isinstance(end, datetime):
        window = Window.ending(end, settings)
        days = f"{window.first_day}–{window.end_day}"
        if events is not None:
            counted = event_signals(events, window, settings=settings)
            if counted.is_empty():
                add_note(notes, "event evidence left out: none of the given meter events is "
                         "a counted alarm (cover open, magnetic tamper, reverse current, "
                         f"power off) on the scored local days {days}")
            out = out.join(counted, on="meter_id", how="left")
        if registers is not None and day_energy is None:
            add_note(notes, "register evidence left out: there is no load-profile day energy "
                     f"for the scored local days {days} to compare the register reads with "
                     "(in the warehouse: gold meter_day, built by the ami_losses DAG)")
        if registers is not None and day_energy is not None:
            found = register_signals(registers, day_energy, window, settings=settings)
            compared = found.filter(pl.col("register_days_recent").is_not_null()
                                    | pl.col("register_days_hist").is_not_null())
            if compared.is_empty():
                add_note(notes, "register evidence left out: no two register reads of a "
                         "meter bracket complete days of load profile on the scored local "
                         f"days {days}")
            out = out.join(found, on="meter_id", how="left")
    return out.with_columns(
        (pl.col(name).cast(dtype) if name in out.columns else pl.lit(None, dtype)).alias(name)
        for name, dtype in EVIDENCE_TYPES.items()
    )


def day_energy_from_readings(
    readings: pl.LazyFrame, *, settings: Settings, first_day: date, end_day: date
) -> pl.DataFrame:
    """Import per meter and local day over complete days only (the register comparison)."""
    day = pl.col("interval_end").dt.convert_time_zone(settings.timezone).dt.offset_by("-1us")
    minutes = (
        pl.col("interval_minutes").cast(pl.Float64)
        if "interval_minutes" in readings.collect_schema()
        else pl.lit(float(settings.interval_minutes))
    )
    return (
        readings.with_columns(day=day.dt.date(), per_day=1440.0 / minutes)
        .filter(pl.col("day").is_between(first_day, end_day))
        .unique(subset=["meter_id", "interval_end"], keep="first")
        .group_by("meter_id", "day")
        .agg(kwh=pl.col("kwh_import").sum(), n=pl.col("kwh_import").count(),
             per_day=pl.col("per_day").max())
        .filter(pl.col("n") >= pl.col("per_day"))
        .select("meter_id", "day", "kwh")
        .collect(engine="streaming")
    )
