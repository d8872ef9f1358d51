"""Demand response: each participant's load cut in an event against a like-day baseline.

The province's plan asks demand response (DR) to cut the peak load by at least 30 MW
(``DR_TARGET_MW``). A participant's reduction in an event is its baseline energy in the
event window minus its actual energy, over the window's hours [kW]. The baseline follows
CalTRACK's daily-methods spirit: the mean energy in the same local clock window over the
``baseline_days`` (10) most recent earlier days of the same day type
(``ami.calendar.day_class``: workday, saturday, off) whose window is fully covered by
readings, leaving out the participant's other event days, scaled by a **day-of
adjustment**: the participant's energy in the ``ADJUSTMENT_HOURS`` before the event
(ending ``ADJUSTMENT_GAP_HOURS`` before it starts, so that pre-cooling or an early start
does not count) over the same like days' energy in those hours, capped to
``ADJUSTMENT_RANGE``. Events fall on the hottest days; without the adjustment a like-day
mean underestimates the day's load and the cut with it (the North American DR programmes'
"10-of-10 with day-of adjustment" does the same). Fewer than
``MIN_BASELINE_DAYS`` such days, or a gap in the event window itself, give the verdict
``insufficient_data`` rather than a number.

Energies are pro-rated by overlap, so any mix of 15-, 30- and 60-minute readings and a
window that does not fall on their boundaries give the right energy. Pure functions over
frames: the caller reads the warehouse; the events were checked on their way to silver
(``quality.plan_inputs``: unknown participants, overlapping windows).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ami.calendar import day_class
from models.figures import kwh_sum
from models.savings.peak import (
    DEFAULT_TIMEZONE,
    KW_PER_MW,
    MAX_INTERVAL_MINUTES,
    Frame,
    interval_start,
    present,
)

#: The plan's demand-response goal: cut the province's peak load by this much [MW].
DR_TARGET_MW = 30.0
#: Like days a baseline averages over (CalTRACK uses the 10 most recent).
DEFAULT_BASELINE_DAYS = 10
#: Fewer like days than this and the baseline is not trusted.
MIN_BASELINE_DAYS = 5
#: How far before an event like days are looked for [days].
MAX_LOOKBACK_DAYS = 45
#: Day-of adjustment: hours of load before the event compared with the like days', the
#: gap between them and the event's start, and the bounds of the factor [h, h, -].
ADJUSTMENT_HOURS = 3
ADJUSTMENT_GAP_HOURS = 1
ADJUSTMENT_RANGE = (0.6, 1.4)

VERDICT_OK = "ok"
VERDICT_INSUFFICIENT = "insufficient_data"

REDUCTION_COLUMNS = ("event_id", "meter_id", "date", "start_at", "end_at", "window_hours",
                     "actual_kwh", "baseline_kwh", "baseline_days_used", "adjustment",
                     "reduction_kw",
                     "target_kw", "verdict", "reason")
SUMMARY_COLUMNS = ("event_id", "start_at", "end_at", "participants", "participants_ok",
                   "reduction_mw", "committed_mw", "target_mw", "met")

_US_PER_MINUTE = 60_000_000
_US_PER_HOUR = 60 * _US_PER_MINUTE


def _participants(events: Frame, timezone: str) -> pl.DataFrame:
    """One row per event × participant with its local date, clock window and day type."""
    frame = events.lazy().collect()
    if "target_kw" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("target_kw"))
    start = pl.col("start_at").dt.convert_time_zone(timezone)
    end = pl.col("end_at").dt.convert_time_zone(timezone)
    frame = frame.select(
        "event_id", "meter_id", "start_at", "end_at", pl.col("target_kw").cast(pl.Float64),
    ).unique(subset=["event_id", "meter_id"], keep="first", maintain_order=True).with_columns(
        start.dt.date().alias("date"),
        start.dt.time().alias("start_time"),
        end.dt.time().alias("end_time"),
        (end.dt.date() - start.dt.date()).dt.total_days().alias("end_day_offset"),
    )
    return frame.with_columns(pl.col("date").map_elements(
        day_class, return_dtype=pl.String).alias("day_class"))


def _windows(participants: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """The event day and its candidate like days, each with the same local clock window.

    Candidates are the ``MAX_LOOKBACK_DAYS`` days before the event of the event day's type
    that are not event days of the same participant. ``w_start``/``w_end`` are UTC.
    """
    event_days = participants.select("meter_id", pl.col("date").alias("day")).unique()
    days = participants.with_columns(pl.date_ranges(
        pl.col("date") - timedelta(days=MAX_LOOKBACK_DAYS), pl.col("date")).alias("day"),
    ).explode("day")
    unique_days = days.get_column("day").unique().sort()
    classes = pl.DataFrame({
        "day": unique_days,
        "class_of_day": [day_class(d) for d in unique_days.to_list()],
    })
    on_event_day = pl.col("day") == pl.col("date")
    candidates = days.join(classes, on="day", how="left").join(
        event_days.with_columns(pl.lit(True).alias("event_day")), on=["meter_id", "day"],
        how="left",
    ).filter(on_event_day | (
        (pl.col("class_of_day") == pl.col("day_class")) & pl.col("event_day").is_null()))

    def at(day: pl.Expr, clock: str) -> pl.Expr:
        return day.dt.combine(pl.col(clock)).dt.replace_time_zone(timezone) \
            .dt.convert_time_zone("UTC").dt.cast_time_unit("us")

    return candidates.select(
        "event_id", "meter_id", "day",
        at(pl.col("day"), "start_time").alias("w_start"),
        at(pl.col("day") + pl.duration(days=pl.col("end_day_offset")), "end_time")
        .alias("w_end"),
    )


def _window_energy(readings: Frame, windows: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Energy [kWh] and covered time [µs] of each window, from the readings overlapping it.

    A reading contributes the part of its energy that falls in the window (pro rata of
    time); only readings with a value count, for energy and coverage alike.
    """
    # a reading overlapping a window starts on one of the local days the window spans,
    # reaching back one longest interval before it
    spans = windows.with_columns(pl.date_ranges(
        (pl.col("w_start") - pl.duration(minutes=MAX_INTERVAL_MINUTES))
        .dt.convert_time_zone(timezone).dt.date(),
        (pl.col("w_end") - pl.duration(microseconds=1)).dt.convert_time_zone(timezone)
        .dt.date(),
    ).alias("start_day")).explode("start_day")
    first = windows.get_column("w_start").min()
    last = windows.get_column("w_end").max()
    overlap = (pl.min_horizontal("interval_end", "w_end")
               - pl.max_horizontal("start", "w_start")).dt.total_microseconds()
    length = pl.col("interval_minutes").cast(pl.Int64) * _US_PER_MINUTE
    return (
        readings.lazy()
        .join(windows.lazy().select("meter_id").unique(), on="meter_id", how="semi")
        .filter((pl.col("interval_end") > first)
                & (pl.col("interval_end") <= pl.lit(last)
                   + pl.duration(minutes=MAX_INTERVAL_MINUTES)))
        .filter(present())
        .select("meter_id", "interval_end", "interval_minutes", "kwh_import",
                interval_start().alias("start"),
                interval_start().dt.convert_time_zone(timezone).dt.date().alias("start_day"))
        .join(spans.lazy(), on=["meter_id", "start_day"], how="inner")
        .with_columns(overlap.clip(lower_bound=0).alias("overlap_us"))
        .filter(pl.col("overlap_us") > 0)
        .group_by("event_id", "meter_id", "day").agg(
            kwh_sum(pl.col("kwh_import") * pl.col("overlap_us") / length).alias("kwh"),
            pl.col("overlap_us").sum().alias("covered_us"),
            pl.col("w_start").first(), pl.col("w_end").first(),
        )
        .with_columns((pl.col("covered_us") >= (pl.col("w_end") - pl.col("w_start"))
                       .dt.total_microseconds()).alias("complete"))
        .collect()
    )


def _like_days(readings: Frame, participants: pl.DataFrame, timezone: str,
               baseline_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per event × participant: the window's energy, and its mean over the like days."""
    keys = ["event_id", "meter_id"]
    energy = _window_energy(readings, _windows(participants, timezone), timezone).join(
        participants.select("event_id", "meter_id", "date"), on=keys)
    actual = energy.filter((pl.col("day") == pl.col("date")) & pl.col("complete")).select(
        *keys, pl.col("kwh").alias("actual_kwh"))
    baseline = (
        energy.filter((pl.col("day") < pl.col("date")) & pl.col("complete"))
        .sort(*keys, "day", descending=[False, False, True])
        .group_by(keys, maintain_order=True).head(baseline_days)
        .group_by(keys).agg(pl.col("kwh").mean().alias("baseline_kwh"),
                            pl.len().cast(pl.Int64).alias("baseline_days_used"))
    )
    return actual, baseline


def dr_reductions(readings: Frame, events: Frame, *, timezone: str = DEFAULT_TIMEZONE,
                  baseline_days: int = DEFAULT_BASELINE_DAYS) -> pl.DataFrame:
    """Load cut of each participant in each DR event against its like-day baseline.

    ``readings`` are silver interval readings of the participants (covering the event
    days and at least the ``MAX_LOOKBACK_DAYS`` before them); ``events`` the silver DR
    events, one row per event × participant (``event_id``, ``start_at``, ``end_at``,
    ``meter_id``, ``target_kw``). Returns one row per event × participant, sorted by
    event and meter:

    - ``event_id``, ``meter_id``, ``start_at``, ``end_at``: as in ``events``;
    - ``date`` (Date): local date of the event's start;
    - ``window_hours`` (float): length of the event window [h];
    - ``actual_kwh`` (float): energy imported in the window [kWh] (null when the window
      is not fully covered by readings with a value);
    - ``baseline_kwh`` (float): mean energy in the same local clock window over the like
      days used, times ``adjustment`` [kWh] (null without any);
    - ``baseline_days_used`` (int): like days averaged (at most ``baseline_days``);
    - ``adjustment`` (float): the day-of adjustment factor (1 when the hours before the
      event lack data on the event day or the like days);
    - ``reduction_kw`` (float): (baseline − actual) / window hours [kW]; positive = cut;
      null unless the verdict is ``ok``;
    - ``target_kw`` (float): the participant's committed cut from ``events`` [kW];
    - ``verdict`` (str): ``ok`` or ``insufficient_data``;
    - ``reason`` (str): why the data are insufficient, null when ``ok``.
    """
    participants = _participants(events, timezone)
    if participants.is_empty():
        return pl.DataFrame(schema={
            "event_id": participants.schema["event_id"], "meter_id": pl.String,
            "date": pl.Date, "start_at": participants.schema["start_at"],
            "end_at": participants.schema["end_at"], "window_hours": pl.Float64,
            "actual_kwh": pl.Float64, "baseline_kwh": pl.Float64,
            "baseline_days_used": pl.Int64, "adjustment": pl.Float64,
            "reduction_kw": pl.Float64,
            "target_kw": pl.Float64, "verdict": pl.String, "reason": pl.String})
    keys = ["event_id", "meter_id"]
    actual, baseline = _like_days(readings, participants, timezone, baseline_days)
    before = participants.with_columns(
        (pl.col("start_at") - pl.duration(hours=ADJUSTMENT_HOURS + ADJUSTMENT_GAP_HOURS))
        .alias("start_at"),
        (pl.col("start_at") - pl.duration(hours=ADJUSTMENT_GAP_HOURS)).alias("end_at"))
    adj_actual, adj_baseline = _like_days(
        readings, _participants(before, timezone).with_columns(
            participants["day_class"]), timezone, baseline_days)
    low, high = ADJUSTMENT_RANGE
    adjustment = adj_actual.join(adj_baseline, on=keys).select(
        *keys, pl.when(pl.col("baseline_kwh") > 0)
        .then((pl.col("actual_kwh") / pl.col("baseline_kwh")).clip(low, high))
        .alias("adjustment"))
    baseline = baseline.join(adjustment, on=keys, how="left").with_columns(
        pl.col("adjustment").fill_null(1.0)).with_columns(
        (pl.col("baseline_kwh") * pl.col("adjustment")).alias("baseline_kwh"))
    hours = ((pl.col("end_at") - pl.col("start_at")).dt.total_microseconds()
             / _US_PER_HOUR)
    used = pl.col("baseline_days_used")
    no_window = pl.when(pl.col("actual_kwh").is_null()).then(
        pl.lit("missing data in the event window"))
    few_days = pl.when(used < MIN_BASELINE_DAYS).then(pl.format(
        "{} baseline day(s) of the same type, {} needed", used, pl.lit(MIN_BASELINE_DAYS)))
    return (
        participants.join(actual, on=keys, how="left").join(baseline, on=keys, how="left")
        .with_columns(hours.alias("window_hours"), used.fill_null(0))
        .with_columns(pl.concat_str([no_window, few_days], separator="; ",
                                    ignore_nulls=True).alias("reason"))
        .with_columns(pl.when(pl.col("reason") != "").then(pl.col("reason")).alias("reason"))
        .with_columns(
            pl.when(pl.col("reason").is_null()).then(pl.lit(VERDICT_OK))
            .otherwise(pl.lit(VERDICT_INSUFFICIENT)).alias("verdict"),
        )
        .with_columns(
            pl.when(pl.col("verdict") == VERDICT_OK)
            .then((pl.col("baseline_kwh") - pl.col("actual_kwh")) / pl.col("window_hours"))
            .alias("reduction_kw"),
        )
        .sort(keys).select(REDUCTION_COLUMNS)
    )


def dr_summary(reductions: pl.DataFrame) -> pl.DataFrame:
    """Province-wide cut of each DR event against the plan's 30 MW.

    ``reductions`` is the output of ``dr_reductions``. Returns one row per event, sorted by
    start:

    - ``event_id``; ``start_at``, ``end_at`` (the earliest start and latest end listed);
    - ``participants`` (int): participants listed; ``participants_ok`` (int): those with
      a verdict ``ok``;
    - ``reduction_mw`` (float): Σ reduction of the ``ok`` participants [MW];
    - ``committed_mw`` (float): Σ committed ``target_kw`` [MW] (null when none given);
    - ``target_mw`` (float): ``DR_TARGET_MW``;
    - ``met`` (bool): reduction_mw ≥ target_mw.
    """
    ok = pl.col("verdict") == VERDICT_OK
    return reductions.group_by("event_id").agg(
        pl.col("start_at").min(), pl.col("end_at").max(),
        pl.len().cast(pl.Int64).alias("participants"),
        ok.sum().cast(pl.Int64).alias("participants_ok"),
        (kwh_sum(pl.col("reduction_kw").filter(ok)) / KW_PER_MW).alias("reduction_mw"),
        pl.when(pl.col("target_kw").is_not_null().any())
        .then(kwh_sum("target_kw") / KW_PER_MW).alias("committed_mw"),
    ).with_columns(
        pl.lit(DR_TARGET_MW).alias("target_mw"),
    ).with_columns(
        (pl.col("reduction_mw") >= pl.col("target_mw")).alias("met"),
    ).sort("start_at", "event_id").select(SUMMARY_COLUMNS)
