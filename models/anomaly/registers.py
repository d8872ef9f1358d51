"""Per-meter evidence from register reads: the index advance against the load profile.

The cumulative register advance between consecutive reads (``meter_id``, ``read_at``,
``register_kwh_import``; README: data contract) is compared with the energy the load
profile shows for the same local days (``register_signals``; the day energies from
readings: ``day_energy_from_readings``). A register that counts more than its profile
means the profile under-reports; a register that goes backwards is a replaced meter or a
fault (``register_resets``), never theft, and is left out of the comparison. Missing is
missing: a signal without data is null, never 0, and no ratio divides by zero. Output
columns: ``REGISTER_SIGNAL_COLUMNS``.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ami.errors import InputError
from ami.settings import Settings
from models.anomaly.inputs import (
    kwh_column,
    local_day,
    local_zone,
    midnight_expr,
    require_columns,
    utc_column,
)
from models.anomaly.readings import Window, local_midnight

#: A register may read this much below the previous read without counting as going
#: backwards: reads are rounded to the meter resolution (0.001 kWh) [kWh].
RESET_TOLERANCE_KWH = 0.01
#: Below this register advance over a window the gap share is rounding noise, not
#: evidence, and is left null (this also keeps the share from dividing by zero) [kWh].
MIN_REGISTER_KWH = 1.0

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

_REGISTER_COLUMNS = ("meter_id", "read_at", "register_kwh_import")
_DAY_ENERGY_COLUMNS = ("meter_id", "day", "kwh")


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
        window: the analysed local days (``readings.Window``).
        settings: for the local time zone (default Asia/Ho_Chi_Minh).

    Returns:
        One row per meter with at least two reads in the window, columns
        ``REGISTER_SIGNAL_COLUMNS``, sorted by ``meter_id``. Sums and shares are null when
        no span could be compared; shares also when the register advanced less than
        ``MIN_REGISTER_KWH``.

    Raises:
        InputError: a required column is missing or has the wrong type.

    """
    tz = local_zone(settings)
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
            first_day=local_day(pl.col("t0"), tz),
            end_day=local_day(pl.col("read_at") - timedelta(microseconds=1), tz),
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
    day_start = midnight_expr(day, tz)
    day_end = midnight_expr(day.dt.offset_by("1d"), tz)
    inside = pl.min_horizontal(t1, day_end) - pl.max_horizontal(t0, day_start)
    return inside.dt.total_microseconds().cast(pl.Float64) / (
        day_end - day_start
    ).dt.total_microseconds().cast(pl.Float64)


def _typed_registers(registers: pl.LazyFrame) -> pl.LazyFrame:
    """``meter_id``, ``read_at`` [UTC], ``register_kwh_import`` [kWh]; unusable rows dropped."""
    schema = registers.collect_schema()
    require_columns(schema, _REGISTER_COLUMNS, "register reads",
                    "provide meter_id, read_at (UTC instant) and register_kwh_import (cumulative "
                    "kWh) as in the README's 'Landing zone and data contract'")
    return registers.select(
        pl.col("meter_id").cast(pl.String).str.strip_chars(),
        utc_column("read_at", schema["read_at"], "register reads"),
        kwh_column("register_kwh_import", schema["register_kwh_import"], "register reads"),
    ).drop_nulls()


def _typed_day_energy(day_energy: pl.LazyFrame) -> pl.LazyFrame:
    """One ``kwh`` [kWh] per meter and local ``day``; duplicate rows averaged."""
    schema = day_energy.collect_schema()
    require_columns(schema, _DAY_ENERGY_COLUMNS, "day energy",
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
            kwh_column("kwh", schema["kwh"], "day energy"),
        )
        .drop_nulls()
        .group_by("meter_id", "day")
        .agg(pl.col("kwh").mean())
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
