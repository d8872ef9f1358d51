"""Savings per customer group against the same month last year, and lighting compliance.

Targets are those of the province's 2026 electricity-saving plan: whole
consumption ≥ 3 % a year and ≥ 10 % in the peak months May–July; state offices ≥ 5 %
(≥ 10 % in May–July); public street lighting ≥ 30 %, and 50 % power reduction
23:00–04:00 all year.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from ami.errors import ConfigError, NoDataError
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole, Quality
from models.figures import kwh_sum
from warehouse import Warehouse

PEAK_MONTHS = (5, 6, 7)
GROUP_TARGET_PCT: dict[str, float] = {
    CustomerGroup.PUBLIC_ADMIN: 5.0, CustomerGroup.PUBLIC_LIGHTING: 30.0}
DEFAULT_TARGET_PCT = 3.0
PEAK_MONTH_TARGET_PCT = 10.0

#: A lighting meter is compliant when its 23:00–04:00 power is at most this share of its
#: evening power (the plan asks for a 50 % reduction; 5 points of metering tolerance).
NIGHT_RATIO_LIMIT = 0.55


def target_pct(group: str, month: str) -> float:
    """The plan's savings target for a customer group in a month [%]."""
    base = GROUP_TARGET_PCT.get(group, DEFAULT_TARGET_PCT)
    if int(month[5:7]) in PEAK_MONTHS and group != CustomerGroup.PUBLIC_LIGHTING:
        return max(base, PEAK_MONTH_TARGET_PCT)
    return base


def check_month(month: str) -> date:
    """The first day of a YYYY-MM month, or a clear error."""
    try:
        return date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ConfigError(f"month {month!r} is not YYYY-MM", fix="write e.g. 2026-10") from None


def month_consumption(month: str, *, settings: Settings) -> pl.DataFrame | None:
    """KWh imported per customer meter in a month with its group, or None without data."""
    warehouse = Warehouse.at(settings.warehouse)
    days = [d for d in warehouse.partitions("meter_day", "date") if d.startswith(month)]
    if not days:
        return None
    meters = (
        warehouse.scan("meters").filter(pl.col("meter_role") == MeterRole.CUSTOMER)
        .sort("valid_from").group_by("meter_id").agg(pl.all().last())
        .select("meter_id", "customer_group", "branch_id")
    )
    return (
        warehouse.scan("meter_day").filter(pl.col("date").is_in(days))
        .group_by("meter_id").agg(kwh_sum("kwh_import").alias("kwh_import"),
                                  kwh_sum("kwh_export").alias("kwh_export"),
                                  pl.col("date").n_unique().alias("days"))
        .join(meters, on="meter_id", how="inner")
        .with_columns(pl.lit(month).alias("period"))
        .collect()
    )


def group_savings(month: str, *, settings: Settings) -> pl.DataFrame:
    """One row per customer group: consumption, same month last year, savings, target, met."""
    first = check_month(month)
    this = month_consumption(month, settings=settings)
    if this is None:
        raise NoDataError(f"no meter-day energy for {month}",
                          fix="ingest that month's data first (`ami ingest --landing …`)")
    last_month = f"{first.year - 1}-{first.month:02d}"
    last = month_consumption(last_month, settings=settings)
    groups = this.group_by("customer_group").agg(
        kwh_sum("kwh_import").alias("consumption_kwh"), pl.len().alias("meters"))
    if last is not None:
        base = last.group_by("customer_group").agg(
            kwh_sum("kwh_import").alias("baseline_kwh"))
        groups = groups.join(base, on="customer_group", how="left")
    else:
        groups = groups.with_columns(pl.lit(None, pl.Float64).alias("baseline_kwh"))
    savings = 100 * (pl.col("baseline_kwh") - pl.col("consumption_kwh")) / pl.col("baseline_kwh")
    return groups.with_columns(
        pl.lit(month).alias("period"),
        pl.when(pl.col("baseline_kwh") > 0).then(savings).alias("savings_pct"),
        pl.col("customer_group").map_elements(lambda g: target_pct(g, month),
                                              return_dtype=pl.Float64).alias("target_pct"),
    ).with_columns(
        (pl.col("savings_pct") >= pl.col("target_pct")).alias("met"),
    ).select("customer_group", "period", "consumption_kwh", "baseline_kwh", "savings_pct",
             "target_pct", "met", "meters").sort("customer_group")


def lighting_compliance(month: str, *, settings: Settings) -> pl.DataFrame:
    """Per public-lighting meter: 23:00–04:00 power over its evening power, and compliance."""
    check_month(month)
    warehouse = Warehouse.at(settings.warehouse)
    days = [d for d in warehouse.partitions("readings", "date") if d.startswith(month)]
    if not days:
        raise NoDataError(f"no silver readings for {month}", fix="ingest that month first")
    lights = warehouse.scan("meters").filter(
        pl.col("customer_group") == CustomerGroup.PUBLIC_LIGHTING).select("meter_id").unique()
    # The interval's start decides its hour: an interval ending 23:30 lies in 23:00–23:30.
    start = (pl.col("interval_end") - pl.duration(minutes=pl.col("interval_minutes"))) \
        .dt.convert_time_zone(settings.timezone)
    hour = start.dt.hour()
    night = (hour >= 23) | (hour < 4)
    evening = (hour >= 19) & (hour < 23)
    power = pl.col("kwh_import") * 60 / pl.col("interval_minutes")
    return (
        warehouse.scan("readings").filter(pl.col("date").is_in(days))
        .join(lights, on="meter_id", how="semi")
        .filter(pl.col("quality") != Quality.MISSING)
        .group_by("meter_id").agg(
            power.filter(night).mean().alias("night_kw"),
            power.filter(evening).mean().alias("evening_kw"),
        )
        .with_columns(
            pl.lit(month).alias("period"),
            pl.when(pl.col("evening_kw") > 0)
            .then(pl.col("night_kw") / pl.col("evening_kw")).alias("night_ratio"),
        )
        .with_columns((pl.col("night_ratio") <= NIGHT_RATIO_LIMIT).alias("compliant"))
        .select("meter_id", "period", "night_kw", "evening_kw", "night_ratio", "compliant")
        .sort("meter_id")
        .collect()
    )
