"""Public street lighting and outdoor advertising lighting against the plan's power cuts.

Public lighting: the plan asks for a 50 % power reduction 23:00–04:00 all year — the
mean power 23:00–04:00 over the mean power 19:00–23:00 of the same meter and month must
be at most ``NIGHT_RATIO_LIMIT`` (50 % plus 5 points of metering tolerance) — and, in the
peak months May–July, at all hours: the mean lit power of the month at most
``ALL_HOURS_RATIO_LIMIT`` of the same meter's evening power in the same month last year.

Advertising lighting (meters tagged ``advertising``: restaurants, hotels, shops): in
May–July its mean power in the evening peak (17:30–22:30) must be cut by at least
``ADVERTISING_CUT_PCT`` against the same month last year.

Power is energy over time, so any cadence (15, 30, 60 minutes) and a mix of them give
the same answer: the mean power of a window is Σ kWh / Σ hours of the readings whose
(local) start lies in it. Missing readings count for neither. Pure functions over frames:
the caller reads the warehouse.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from models.savings.consumption import PEAK_MONTHS, check_month
from models.savings.peak import (
    DEFAULT_TIMEZONE,
    MAX_INTERVAL_MINUTES,
    PEAK_WINDOW,
    Frame,
    in_window,
    interval_start,
    present,
)

#: A lighting meter is compliant when its 23:00–04:00 power is at most this share of its
#: evening power (the plan asks for a 50 % reduction; 5 points of metering tolerance).
NIGHT_RATIO_LIMIT = 0.55
#: May–July: mean lit power at most this share of last year's evening power (50 % + 5).
ALL_HOURS_RATIO_LIMIT = 0.55
#: Local clock windows [start, end).
NIGHT_WINDOW: tuple[time, time] = (time(23, 0), time(4, 0))
EVENING_WINDOW: tuple[time, time] = (time(19, 0), time(23, 0))
#: An interval is lit when its power is at least this share of the meter's highest
#: interval power of the month (a controller's standby draw by day is not "lit").
LIT_SHARE_OF_MAX = 0.10
#: Cut of evening-peak power advertising lighting must reach in May–July [%].
ADVERTISING_CUT_PCT = 50.0
#: Metering and weather tolerance of that cut, as for the street lights' 0.55 [pp].
ADVERTISING_TOLERANCE_PP = 5.0
#: The meter tag naming outdoor advertising lighting.
ADVERTISING_TAG = "advertising"

VERDICT_COMPLIANT = "compliant"
VERDICT_NOT_COMPLIANT = "not_compliant"
VERDICT_NOT_APPLICABLE = "not_applicable"
VERDICT_INSUFFICIENT = "insufficient_data"

LIGHTING_COLUMNS = ("meter_id", "period", "night_kw", "evening_kw", "night_ratio",
                    "compliant", "reason", "lit_kw", "last_year_evening_kw",
                    "all_hours_ratio", "all_hours_compliant", "all_hours_reason")
ADVERTISING_COLUMNS = ("meter_id", "period", "peak_kw", "last_year_peak_kw", "cut_pct",
                       "compliant", "verdict")




def month_span(first: date, timezone: str) -> tuple[datetime, datetime]:
    """UTC instants of local midnight on a month's first day and on the next month's."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    zone = ZoneInfo(timezone)
    return (datetime.combine(first, time(), zone).astimezone(UTC),
            datetime.combine(following, time(), zone).astimezone(UTC))


def _month_rows(readings: Frame, meter_ids: pl.LazyFrame, first: date,
                timezone: str) -> pl.LazyFrame:
    """Readings with a value of the given meters starting (locally) in the month.

    Columns: ``meter_id``, ``local`` (local start), ``kwh`` and ``hours`` of the interval.
    """
    start, end = month_span(first, timezone)
    begins = pl.col("start")
    return (
        readings.lazy()
        .filter((pl.col("interval_end") > start)
                & (pl.col("interval_end") <= end + timedelta(minutes=MAX_INTERVAL_MINUTES)))
        .join(meter_ids, on="meter_id", how="semi")
        .filter(present())
        .with_columns(interval_start().alias("start"))
        .filter((begins >= start) & (begins < end))
        .select("meter_id", begins.dt.convert_time_zone(timezone).alias("local"),
                pl.col("kwh_import").alias("kwh"),
                (pl.col("interval_minutes") / 60).alias("hours"))
    )


def mean_kw(mask: pl.Expr) -> pl.Expr:
    """Mean power of the readings a mask keeps [kW] = Σ kWh / Σ h; null without any."""
    hours = pl.col("hours").filter(mask).sum()
    return pl.when(hours > 0).then(pl.col("kwh").filter(mask).sum() / hours)


def _window_kw(rows: pl.LazyFrame, window: tuple[time, time], name: str) -> pl.LazyFrame:
    """Per meter: mean power in a local clock window [kW], as column ``name``."""
    return rows.group_by("meter_id").agg(mean_kw(in_window(pl.col("local"), window))
                                         .alias(name))


def _ids(meters: Frame) -> pl.LazyFrame:
    """The distinct meter ids of a frame, as a lazy frame."""
    return meters.lazy().select(pl.col("meter_id").cast(pl.String)).unique()


def _last_year_kw(last_year: Frame | None, ids: pl.LazyFrame, first: date, *, timezone: str,
                  window: tuple[time, time], name: str) -> pl.LazyFrame:
    """Each meter's mean power in ``window`` in the same month a year earlier (null: none)."""
    if last_year is None:
        return ids.with_columns(pl.lit(None, pl.Float64).alias(name))
    before = date(first.year - 1, first.month, 1)
    return _window_kw(_month_rows(last_year, ids, before, timezone), window, name)


def lighting_compliance(readings: Frame, lights: Frame, *, month: str,
                        timezone: str = DEFAULT_TIMEZONE,
                        last_year: Frame | None = None) -> pl.DataFrame:
    """Per public-lighting meter: the 23:00–04:00 cut and, in May–July, the all-hours cut.

    ``readings`` are silver interval readings (the month's at least); ``lights`` the
    public-lighting meters (``meter_id``); ``last_year`` readings of the same month a
    year earlier (or None). Readings count by the local start of their interval. Returns
    one row per meter of ``lights``, sorted by meter:

    - ``meter_id``; ``period`` (``YYYY-MM``);
    - ``night_kw``, ``evening_kw`` (float): mean power 23:00–04:00 and 19:00–23:00 [kW];
    - ``night_ratio`` (float): night_kw / evening_kw, null without evening power;
    - ``compliant`` (bool): night_ratio ≤ ``NIGHT_RATIO_LIMIT`` — or, in May–July, the
      all-hours rule met (a light at half power all day has a night as high as its
      evening) — null without a ratio;
    - ``reason`` (str): why there is no verdict (``no readings``, ``no evening power``,
      ``no night readings``), else null;
    - ``lit_kw`` (float): mean power over the month's lit intervals [kW] (lit: at least
      ``LIT_SHARE_OF_MAX`` of the meter's highest interval power);
    - ``last_year_evening_kw`` (float): evening power in the same month last year [kW];
    - ``all_hours_ratio`` (float): lit_kw / last_year_evening_kw, in May–July only;
    - ``all_hours_compliant`` (bool): all_hours_ratio ≤ ``ALL_HOURS_RATIO_LIMIT``, null
      without a ratio;
    - ``all_hours_reason`` (str): why there is no all-hours verdict (``not a peak month``,
      ``no last year``, ``no evening power last year``, ``no lit power``), else null.
    """
    first = check_month(month)
    ids = _ids(lights)
    rows = _month_rows(readings, ids, first, timezone)
    kw = pl.col("kwh") / pl.col("hours")
    lit = (kw > 0) & (kw >= LIT_SHARE_OF_MAX * kw.max().over("meter_id"))
    lit_power = rows.filter(lit).group_by("meter_id").agg(
        mean_kw(pl.col("hours").is_not_null()).alias("lit_kw"))
    stats = rows.group_by("meter_id").agg(
        mean_kw(in_window(pl.col("local"), NIGHT_WINDOW)).alias("night_kw"),
        mean_kw(in_window(pl.col("local"), EVENING_WINDOW)).alias("evening_kw"),
        pl.len().alias("n_readings"),
    ).join(lit_power, on="meter_id", how="left")
    stats = stats.join(_last_year_kw(last_year, ids, first, timezone=timezone,
                                     window=EVENING_WINDOW, name="last_year_evening_kw"),
                       on="meter_id", how="left")
    evening, night = pl.col("evening_kw"), pl.col("night_kw")
    last_evening, lit_kw = pl.col("last_year_evening_kw"), pl.col("lit_kw")
    peak_month = first.month in PEAK_MONTHS
    all_hours_ratio = pl.when(pl.lit(peak_month) & (last_evening > 0)).then(
        lit_kw / last_evening)
    return (
        ids.join(stats, on="meter_id", how="left")
        .with_columns(
            pl.lit(month).alias("period"),
            pl.when(evening > 0).then(night / evening).alias("night_ratio"),
            pl.when(pl.col("n_readings").is_null()).then(pl.lit("no readings"))
            .when(evening.is_null() | (evening <= 0)).then(pl.lit("no evening power"))
            .when(night.is_null()).then(pl.lit("no night readings"))
            .alias("reason"),
            all_hours_ratio.alias("all_hours_ratio"),
            pl.when(pl.lit(not peak_month)).then(pl.lit("not a peak month"))
            .when(last_evening.is_null()).then(pl.lit("no last year"))
            .when(last_evening <= 0).then(pl.lit("no evening power last year"))
            .when(lit_kw.is_null()).then(pl.lit("no lit power"))
            .alias("all_hours_reason"),
        )
        .with_columns(
            (pl.col("all_hours_ratio") <= ALL_HOURS_RATIO_LIMIT).alias("all_hours_compliant"),
        )
        .with_columns(
            # dimmed at every hour (May–July) is dimmed at night too, though the night is
            # then no lower than the evening
            pl.when(pl.col("night_ratio").is_not_null()).then(
                (pl.col("night_ratio") <= NIGHT_RATIO_LIMIT)
                | pl.col("all_hours_compliant").fill_null(value=False)).alias("compliant"),
        )
        .sort("meter_id").select(LIGHTING_COLUMNS).collect()
    )


def has_tag(tag: str) -> pl.Expr:
    """Whether a meter's comma-separated ``tags`` include ``tag`` (case and spaces aside)."""
    return pl.col("tags").fill_null("").str.split(",").list.eval(
        pl.element().str.strip_chars().str.to_lowercase()).list.contains(tag.lower())


def advertising_compliance(readings: Frame, meters_with_tag: Frame, *, month: str,
                           timezone: str = DEFAULT_TIMEZONE,
                           last_year: Frame | None = None) -> pl.DataFrame:
    """Per advertising-lighting meter: the evening-peak power cut against last year.

    ``meters_with_tag`` is the meter table (``meter_id``, ``tags``; with ``valid_from`` /
    ``valid_to`` only the rows in force during the month count); meters tagged
    ``advertising`` are checked. ``last_year`` holds readings of the same month a year
    earlier (or None). Returns one row per such meter, sorted by meter:

    - ``meter_id``; ``period`` (``YYYY-MM``);
    - ``peak_kw``, ``last_year_peak_kw`` (float): mean power in the evening peak
      17:30–22:30 this month and the same month last year [kW];
    - ``cut_pct`` (float): 100 × (last year − this) / last year [%], null without last
      year's power;
    - ``compliant`` (bool): cut_pct ≥ ``ADVERTISING_CUT_PCT`` less
      ``ADVERTISING_TOLERANCE_PP`` (a month's weather moves the evening load by a few
      percent against last year's); null unless the verdict
      is ``compliant`` or ``not_compliant``;
    - ``verdict`` (str): ``not_applicable`` outside May–July, ``insufficient_data``
      without this or last year's evening-peak power, else ``compliant`` /
      ``not_compliant``.
    """
    first = check_month(month)
    start, end = month_span(first, timezone)
    tagged = meters_with_tag.lazy().filter(has_tag(ADVERTISING_TAG))
    if "valid_from" in tagged.collect_schema().names():
        tagged = tagged.filter(
            (pl.col("valid_from") < end)
            & (pl.col("valid_to").is_null() | (pl.col("valid_to") > start)))
    ids = _ids(tagged)
    stats = ids.join(_window_kw(_month_rows(readings, ids, first, timezone), PEAK_WINDOW,
                                "peak_kw"), on="meter_id", how="left")
    stats = stats.join(_last_year_kw(last_year, ids, first, timezone=timezone,
                                     window=PEAK_WINDOW, name="last_year_peak_kw"),
                       on="meter_id", how="left")
    this, last = pl.col("peak_kw"), pl.col("last_year_peak_kw")
    cut = pl.when(last > 0).then(100 * (last - this) / last)
    verdict = (
        pl.when(pl.lit(first.month not in PEAK_MONTHS)).then(pl.lit(VERDICT_NOT_APPLICABLE))
        .when(pl.col("cut_pct").is_null()).then(pl.lit(VERDICT_INSUFFICIENT))
        .when(pl.col("cut_pct") >= ADVERTISING_CUT_PCT - ADVERTISING_TOLERANCE_PP)
        .then(pl.lit(VERDICT_COMPLIANT))
        .otherwise(pl.lit(VERDICT_NOT_COMPLIANT))
    )
    return (
        stats.with_columns(pl.lit(month).alias("period"), cut.alias("cut_pct"))
        .with_columns(verdict.alias("verdict"))
        .with_columns(
            pl.when(pl.col("verdict").is_in([VERDICT_COMPLIANT, VERDICT_NOT_COMPLIANT]))
            .then(pl.col("verdict") == VERDICT_COMPLIANT).alias("compliant"))
        .sort("meter_id").select(ADVERTISING_COLUMNS).collect()
    )
