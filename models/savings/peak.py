"""Evening peak demand per branch and province: the coincident load of customer meters.

The national time-of-use decision of 2026 puts the evening peak at 17:30–22:30 local time
(``PEAK_WINDOW``); the province's plan asks the company to report its peak and to cut it
by demand response (``models.savings.demand_response``).

Coincident demand is the sum, over the customer meters below a node, of each meter's
average power on a common 30-minute grid (``GRID_MINUTES``), so meters of different
cadences add up: a 60-minute reading gives its average power [kW] to both half hours it
spans, the 15-minute readings of a half hour add their energy into it (kWh / 0.5 h). An
interval belongs to the local half hour of its start (readings are labelled by their
end). Missing readings contribute nothing; ``measured_share`` tells how much of the
window the node's meters covered.

Pure functions over frames: the caller reads the warehouse. The helpers for local time
windows (``local_start``, ``in_window``, ``present``) are shared by the other savings
modules.
"""

from __future__ import annotations

from datetime import time

import polars as pl

from ami.vocabulary import MeterRole, Quality
from models.balances import PROVINCE_ID
from models.figures import from_micro_kwh, micro_kwh

#: A frame argument: a lazy scan or a frame in memory.
Frame = pl.LazyFrame | pl.DataFrame

#: Local time zone of the province (UTC+7, no DST), the default of every function here.
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
#: Evening peak window, local clock [start, end) (national TOU decision of 2026).
PEAK_WINDOW: tuple[time, time] = (time(17, 30), time(22, 30))
#: The common grid coincident demand is summed on [minutes].
GRID_MINUTES = 30
#: Levels a peak is reported at, widest first.
PEAK_LEVELS = ("province", "branch")
#: Longest interval a reading may cover [minutes]: how far before a window to look.
MAX_INTERVAL_MINUTES = 60
#: kW in a MW.
KW_PER_MW = 1000.0

DAILY_COLUMNS = ("level", "node_id", "date", "peak_mw", "peak_at", "n_meters",
                 "measured_share")
MONTH_COLUMNS = ("level", "node_id", "period", "peak_mw", "peak_date", "peak_at",
                 "mean_daily_peak_mw", "days", "last_year_peak_mw", "change_pct")


def interval_start() -> pl.Expr:
    """UTC instant an interval starts at: ``interval_end − interval_minutes``."""
    return pl.col("interval_end") - pl.duration(minutes=pl.col("interval_minutes"))


def local_start(timezone: str) -> pl.Expr:
    """Local wall-clock instant an interval starts at (it decides the interval's hour)."""
    return interval_start().dt.convert_time_zone(timezone)


def minute_of_day(moment: pl.Expr) -> pl.Expr:
    """Minutes since local midnight of a (local) instant, 0–1439."""
    return moment.dt.hour().cast(pl.Int32) * 60 + moment.dt.minute().cast(pl.Int32)


def in_window(moment: pl.Expr, window: tuple[time, time]) -> pl.Expr:
    """Whether a local instant lies in a clock window [start, end); it may cross midnight."""
    start, end = (t.hour * 60 + t.minute for t in window)
    minute = minute_of_day(moment)
    if start <= end:
        return (minute >= start) & (minute < end)
    return (minute >= start) | (minute < end)


def clock_minus(moment: time, minutes: int) -> time:
    """A clock time ``minutes`` earlier, around midnight if need be."""
    hour, minute = divmod((moment.hour * 60 + moment.minute - minutes) % (24 * 60), 60)
    return time(hour, minute)


def by_level(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in report order: province first, then branches; by node and time within."""
    order = {level: rank for rank, level in enumerate(PEAK_LEVELS)}
    keys = [c for c in ("node_id", "date", "period") if c in frame.columns]
    return frame.with_columns(
        pl.col("level").replace_strict(order, return_dtype=pl.Int8).alias("_order"),
    ).sort("_order", *keys).drop("_order")


def present() -> pl.Expr:
    """Whether a reading holds a value (estimated and edited values count; missing not)."""
    return (pl.col("quality") != Quality.MISSING) & pl.col("kwh_import").is_not_null()


def interval_kw() -> pl.Expr:
    """Average power of a reading over its interval [kW] = kWh × 60 / interval_minutes."""
    return pl.col("kwh_import") * 60 / pl.col("interval_minutes")


def _valid_at_reading() -> pl.Expr:
    """The meter row valid at a reading ending at t: valid_from < t ≤ valid_to (or open)."""
    return (pl.col("valid_from") < pl.col("interval_end")) & (
        pl.col("valid_to").is_null() | (pl.col("interval_end") <= pl.col("valid_to")))


def _half_hours(readings: Frame, meters: Frame, timezone: str) -> pl.LazyFrame:
    """Each customer reading's share of the peak-window half hours it covers.

    One row per reading × grid half hour in the window, with the branch of the meter row
    valid at the reading, ``kw_micro`` (its average power over the half hour in whole
    micro-kW, 0 when missing), ``minutes`` of the half hour it covers and
    ``present_minutes`` (the same when it holds a value).
    """
    # widened backwards: a 60-minute reading starting 17:00 still covers 17:30–18:00
    wide = (clock_minus(PEAK_WINDOW[0], MAX_INTERVAL_MINUTES), PEAK_WINDOW[1])
    customers = meters.lazy().filter(pl.col("meter_role") == MeterRole.CUSTOMER).select(
        "meter_id", "branch_id", "valid_from", "valid_to")
    minutes = pl.col("interval_minutes")
    grid = pl.lit(GRID_MINUTES)
    covered = pl.min_horizontal(minutes, grid)          # minutes of a half hour it covers
    slot = (pl.col("start_local").dt.truncate(f"{GRID_MINUTES}m")
            + pl.duration(minutes=pl.col("k") * GRID_MINUTES))
    # energy in the half hour [kWh] over its length [h]: the half hour's average power
    slot_kw = pl.col("kwh_import") * covered / minutes * (60 / GRID_MINUTES)
    return (
        readings.lazy()
        .select("meter_id", "interval_end", "interval_minutes", "kwh_import", "quality")
        .with_columns(local_start(timezone).alias("start_local"))
        .filter(in_window(pl.col("start_local"), wide))
        .join(customers, on="meter_id", how="inner")
        .filter(_valid_at_reading())
        .with_columns(
            pl.int_ranges(0, pl.max_horizontal(minutes // GRID_MINUTES, pl.lit(1))).alias("k"))
        .explode("k")
        .with_columns(slot.alias("slot_local"))
        .filter(in_window(pl.col("slot_local"), PEAK_WINDOW))
        .select(
            "meter_id", "branch_id", "slot_local",
            pl.col("slot_local").dt.date().alias("date"),
            pl.when(present()).then(micro_kwh(slot_kw)).otherwise(0).alias("kw_micro"),
            covered.alias("minutes"),
            pl.when(present()).then(covered).otherwise(0).alias("present_minutes"),
            present().alias("present"),
        )
    )


def peak_demand(readings: Frame, meters: Frame, *,
                timezone: str = DEFAULT_TIMEZONE) -> pl.DataFrame:
    """Daily evening peak of coincident customer demand per province and branch.

    ``readings`` are silver interval readings (any mix of 15-, 30- and 60-minute meters);
    ``meters`` the SCD2 meter table: a reading counts for the branch of the customer meter
    row valid at it (valid_from < interval_end ≤ valid_to); other roles are left out.

    Returns one row per level × node × local date, sorted so:

    - ``level`` (str): ``province`` or ``branch``;
    - ``node_id`` (str): the branch id, or ``models.balances.PROVINCE_ID`` for the province;
    - ``date`` (Date): local date;
    - ``peak_mw`` (float): highest coincident demand over the day's 17:30–22:30 half
      hours [MW] (null when no reading of the node's meters holds a value);
    - ``peak_at`` (Datetime UTC): end of that half hour (the earliest on a tie);
    - ``n_meters`` (int): customer meters with a value in the day's window;
    - ``measured_share`` (float): minutes of the window covered by readings with a value
      over the minutes of all the node's readings there (silver writes a ``missing`` row
      for each absent interval, so these are the expected minutes), 0–1.
    """
    halves = _half_hours(readings, meters, timezone)
    levels = {"province": pl.lit(PROVINCE_ID), "branch": pl.col("branch_id").cast(pl.String)}
    frames = []
    for level in PEAK_LEVELS:
        nodes = halves.with_columns(levels[level].alias("node_id"))
        slots = nodes.group_by("node_id", "date", "slot_local").agg(pl.col("kw_micro").sum())
        peaks = slots.group_by("node_id", "date").agg(
            pl.col("kw_micro").max().alias("peak_micro"),
            pl.col("slot_local").sort_by(["kw_micro", "slot_local"], descending=[True, False])
            .first().alias("peak_slot"),
        )
        cover = nodes.group_by("node_id", "date").agg(
            pl.col("meter_id").filter(pl.col("present")).n_unique().alias("n_meters"),
            pl.col("present_minutes").sum().alias("present_minutes"),
            pl.col("minutes").sum().alias("minutes"),
        )
        has_value = pl.col("present_minutes") > 0
        frames.append(
            peaks.join(cover, on=["node_id", "date"], how="inner").select(
                pl.lit(level).alias("level"), "node_id", "date",
                pl.when(has_value).then(from_micro_kwh(pl.col("peak_micro")) / KW_PER_MW)
                .alias("peak_mw"),
                pl.when(has_value).then(
                    (pl.col("peak_slot") + pl.duration(minutes=GRID_MINUTES))
                    .dt.convert_time_zone("UTC")).alias("peak_at"),
                pl.col("n_meters").cast(pl.Int64),
                (pl.col("present_minutes") / pl.col("minutes")).alias("measured_share"),
            )
        )
    return by_level(pl.concat(frames).collect()).select(DAILY_COLUMNS)


def _month_peaks(daily: pl.DataFrame) -> pl.DataFrame:
    """Per level × node × month (first day): the month's peak, its day and mean daily peak."""
    rank = ["peak_mw", "date"]
    return daily.with_columns(pl.col("date").dt.truncate("1mo").alias("month")).group_by(
        "level", "node_id", "month").agg(
        pl.col("peak_mw").max(),
        pl.col("date").sort_by(rank, descending=[True, False], nulls_last=True).first()
        .alias("peak_date"),
        pl.col("peak_at").sort_by(rank, descending=[True, False], nulls_last=True).first(),
        pl.col("peak_mw").mean().alias("mean_daily_peak_mw"),
        pl.col("date").n_unique().cast(pl.Int64).alias("days"),
    )


def peak_month(daily: pl.DataFrame, *, last_year: pl.DataFrame | None = None) -> pl.DataFrame:
    """The month's evening peak per level × node, against the same month last year.

    ``daily`` and ``last_year`` are outputs of ``peak_demand`` (``last_year`` for the same
    month(s) a year earlier, or None). Returns one row per level × node × month:

    - ``level``, ``node_id`` (str): as in ``peak_demand``;
    - ``period`` (str): ``YYYY-MM``;
    - ``peak_mw`` (float): highest daily peak of the month [MW];
    - ``peak_date`` (Date), ``peak_at`` (Datetime UTC): the day and half-hour end of it;
    - ``mean_daily_peak_mw`` (float): mean of the daily peaks [MW];
    - ``days`` (int): days with a daily row;
    - ``last_year_peak_mw`` (float): the same month's peak a year earlier [MW], null
      without last year;
    - ``change_pct`` (float): 100 × (peak − last year) / last year [%], null without it.
    """
    this = _month_peaks(daily)
    if last_year is not None and last_year.height:
        before = _month_peaks(last_year).select(
            "level", "node_id", pl.col("month").dt.offset_by("1y"),
            pl.col("peak_mw").alias("last_year_peak_mw"))
        this = this.join(before, on=["level", "node_id", "month"], how="left")
    else:
        this = this.with_columns(pl.lit(None, pl.Float64).alias("last_year_peak_mw"))
    last = pl.col("last_year_peak_mw")
    return by_level(this.with_columns(
        pl.col("month").dt.strftime("%Y-%m").alias("period"),
        pl.when(last > 0).then(100 * (pl.col("peak_mw") - last) / last).alias("change_pct"),
    )).select(MONTH_COLUMNS)
