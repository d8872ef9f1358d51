"""Per-meter evidence from meter events: tamper, reverse-current and power-off alarms.

Events (``meter_id``, ``event_at``, ``event_code``; README: data contract) are counted per
meter in the recent window and per day of history (``event_signals``; codes mapped by
``ami.vocabulary``), one row per meter to join onto the signal table on ``meter_id``
(``evidence.with_evidence``). Local days are in the settings' time zone; instants are
UTC; a meter without counted events has no row. Output columns: ``EVENT_SIGNAL_COLUMNS``.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from ami.settings import Settings
from ami.vocabulary import (
    COUNTED_EVENTS,
    EventCategory,
    event_category,
    normalise_event_code,
    texts,
)
from models.anomaly.inputs import UTC_US, local_zone, require_columns, utc_column
from models.anomaly.readings import Window

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

_EVENT_COLUMNS = ("meter_id", "event_at", "event_code")


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
        window: the analysed local days (``readings.Window``).
        settings: for the local time zone (default Asia/Ho_Chi_Minh).

    Returns:
        One row per meter with a counted event, columns ``EVENT_SIGNAL_COLUMNS``, sorted by
        ``meter_id``.

    Raises:
        InputError: a required column is missing or has the wrong type.

    """
    tz = local_zone(settings)
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
            last_tamper_at=pl.col("last_tamper_at").cast(UTC_US),
        )
        .select(list(EVENT_SIGNAL_COLUMNS))
        .sort("meter_id")
    )


def _typed_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """``meter_id``, ``event_at`` [UTC], normalised ``event_code``; unusable rows dropped."""
    schema = events.collect_schema()
    require_columns(schema, _EVENT_COLUMNS, "events",
                    "provide meter_id, event_at (UTC instant) and event_code (the README's data "
                    "contract); map "
                    "vendor names at ingestion")
    return events.select(
        pl.col("meter_id").cast(pl.String).str.strip_chars(),
        utc_column("event_at", schema["event_at"], "events"),
        normalise_event_code(pl.col("event_code")).alias("event_code"),
    ).drop_nulls()
