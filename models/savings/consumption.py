"""Consumption per customer group, branch and commune against the same period last year.

The utilities' convention ("cùng kỳ"): a group's consumption this month (and year to
date) against the same month (and months) of last year, from gold ``meter_day`` — the
energy each customer meter took from the grid. Rooftop solar lowers that import: it is not
savings, so the export is carried beside the import and the report says so.

A group without last year's figures gets no percentage ("no_history"), never one from
nothing; meters without last year's data (new customers) are counted in ``new_meters``.

Targets are those of the province's 2026 electricity-saving plan: whole consumption ≥ 3 %
a year and ≥ 10 % in the peak months May–July; state offices ≥ 5 % (≥ 10 % in May–July);
public street lighting ≥ 30 %.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ami.errors import ConfigError, NoDataError
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole
from models.figures import from_micro_kwh, kwh_sum, micro_kwh
from warehouse import Warehouse

PEAK_MONTHS = (5, 6, 7)
GROUP_TARGET_PCT: dict[str, float] = {
    CustomerGroup.PUBLIC_ADMIN: 5.0, CustomerGroup.PUBLIC_LIGHTING: 30.0}
DEFAULT_TARGET_PCT = 3.0
PEAK_MONTH_TARGET_PCT = 10.0
#: The row of every customer group together.
ALL_GROUPS = "all"
#: A consumer at or above this many kWh a year is a large consumer of the plan [kWh].
LARGE_CONSUMER_KWH = 500_000.0
#: Levels the consumption table is given at.
LEVELS = ("province", "branch", "commune")
PROVINCE_NODE = "province"


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


def month_end(first: date) -> date:
    """The last day of the month that starts on ``first``."""
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def year_before(day: date) -> date:
    """The same day a year earlier (29 February → 28 February)."""
    return day.replace(year=day.year - 1, day=min(day.day, 28 if day.month == 2 else day.day))


def customer_meters(warehouse: Warehouse) -> pl.DataFrame:
    """Each customer meter's latest customer-system row: group, branch, commune, tags."""
    return (
        warehouse.scan("meters").filter(pl.col("meter_role") == MeterRole.CUSTOMER)
        .sort("valid_from").group_by("meter_id").agg(pl.all().last())
        .select("meter_id", "customer_group", "branch_id", "commune", "solar_kwp", "tags")
        .collect()
    )


def _grid_meters(warehouse: Warehouse) -> pl.DataFrame:
    """Meters the customer system names with a grid role (never a customer's consumption)."""
    return (warehouse.scan("meters").filter(pl.col("meter_role") != MeterRole.CUSTOMER)
            .select("meter_id").unique().collect())


def meter_energy(first: date, last: date, *, settings: Settings) -> pl.DataFrame | None:
    """KWh imported and exported per customer meter over [first, last], or None.

    A meter the customer system does not know is a customer of group ``other`` (the
    warehouse runs on readings alone); a grid meter (transformer total, feeder head) is
    never a customer's consumption.
    """
    warehouse = Warehouse.at(settings.warehouse)
    days = [d for d in warehouse.partitions("meter_day", "date")
            if first.isoformat() <= d <= last.isoformat()]
    if not days:
        return None
    meters = customer_meters(warehouse)
    energy = (
        warehouse.scan("meter_day").filter(pl.col("date").is_in(days))
        .group_by("meter_id").agg(kwh_sum("kwh_import").alias("kwh_import"),
                                  kwh_sum("kwh_export").alias("kwh_export"),
                                  pl.col("date").n_unique().alias("days"))
        .collect()
        .join(_grid_meters(warehouse), on="meter_id", how="anti")
        .join(meters, on="meter_id", how="left")
    )
    return energy.with_columns(pl.col("customer_group").fill_null(CustomerGroup.OTHER.value))


def month_consumption(month: str, *, settings: Settings) -> pl.DataFrame | None:
    """KWh imported per customer meter in a month with its group, or None without data."""
    first = check_month(month)
    energy = meter_energy(first, month_end(first), settings=settings)
    return None if energy is None else energy.with_columns(pl.lit(month).alias("period"))


def _node(level: str) -> pl.Expr:
    if level == "province":
        return pl.lit(PROVINCE_NODE)
    return pl.col(f"{level}_id" if level == "branch" else level).fill_null("(không rõ)")


def _sums(energy: pl.DataFrame | None, prefix: str) -> pl.DataFrame:
    """Σ import, Σ export and meters per level × node × group (and every group)."""
    schema = {"level": pl.String, "node_id": pl.String, "customer_group": pl.String,
              f"{prefix}_kwh": pl.Float64, f"{prefix}_export_kwh": pl.Float64,
              f"{prefix}_meters": pl.UInt32}
    if energy is None or energy.is_empty():
        return pl.DataFrame(schema=schema)
    frames = []
    for level in LEVELS:
        keyed = energy.with_columns(pl.lit(level).alias("level"), _node(level).alias("node_id"))
        for group in (pl.col("customer_group"), pl.lit(ALL_GROUPS)):
            frames.append(keyed.group_by("level", "node_id", group.alias("customer_group")).agg(
                kwh_sum("kwh_import").alias(f"{prefix}_kwh"),
                kwh_sum("kwh_export").alias(f"{prefix}_export_kwh"),
                pl.len().alias(f"{prefix}_meters")))
    return pl.concat(frames).cast(schema)  # type: ignore[arg-type]


def _savings(base: str, now: str) -> pl.Expr:
    """100 × (baseline − consumption) / baseline [%]; positive = saved; null without a base."""
    saved = from_micro_kwh(micro_kwh(base) - micro_kwh(now))
    return pl.when(pl.col(base) > 0).then(100 * saved / pl.col(base))


def consumption_savings(month: str, *, settings: Settings) -> pl.DataFrame:
    """Consumption per level × node × customer group: month, year to date, same periods.

    One row per (level, node_id, customer_group) with the month's consumption and export,
    the same month last year, the year to date and last year's same part of the year,
    savings in % (positive = saved), the plan target and whether it is met (null without
    last year: ``note`` says why).
    """
    first = check_month(month)
    last = month_end(first)
    this = meter_energy(first, last, settings=settings)
    if this is None:
        raise NoDataError(f"no meter-day energy for {month}",
                          fix="ingest that month's data first (`ami ingest --landing …`)")
    parts = {
        "now": this,
        "base": meter_energy(year_before(first), year_before(last), settings=settings),
        "ytd": meter_energy(first.replace(month=1), last, settings=settings),
        "ytd_base": meter_energy(year_before(first.replace(month=1)), year_before(last),
                                 settings=settings),
    }
    keys = ["level", "node_id", "customer_group"]
    table = _sums(parts["now"], "now")
    for name in ("base", "ytd", "ytd_base"):
        table = table.join(_sums(parts[name], name), on=keys, how="left")
    new = _new_meters(this, parts["base"])
    table = table.join(new, on=keys, how="left").with_columns(pl.col("new_meters").fill_null(0))
    return table.with_columns(
        pl.lit(month).alias("period"),
        _savings("base_kwh", "now_kwh").alias("savings_pct"),
        _savings("ytd_base_kwh", "ytd_kwh").alias("ytd_savings_pct"),
        pl.col("customer_group").map_elements(lambda g: target_pct(g, month),
                                              return_dtype=pl.Float64).alias("target_pct"),
    ).with_columns(
        (pl.col("savings_pct") >= pl.col("target_pct")).alias("met"),
        pl.when(pl.col("base_kwh").is_null() | (pl.col("base_kwh") <= 0))
        .then(pl.lit("no_history"))
        .when(pl.col("new_meters") > 0).then(pl.lit("new_meters"))
        .otherwise(pl.lit("")).alias("note"),
    ).select(
        *keys, "period",
        pl.col("now_kwh").alias("consumption_kwh"),
        pl.col("base_kwh").alias("baseline_kwh"), "savings_pct",
        pl.col("ytd_kwh").alias("ytd_kwh"), pl.col("ytd_base_kwh").alias("ytd_baseline_kwh"),
        "ytd_savings_pct", "target_pct", "met",
        pl.col("now_export_kwh").alias("export_kwh"),
        pl.col("now_meters").alias("meters"), "new_meters", "note",
    ).sort(keys)


def _new_meters(now: pl.DataFrame, base: pl.DataFrame | None) -> pl.DataFrame:
    """Meters with consumption now and none in the same month last year, per key."""
    fresh = now if base is None else now.join(base.select("meter_id"), on="meter_id",
                                              how="anti")
    counts = _sums(fresh, "new")
    return counts.select("level", "node_id", "customer_group",
                         pl.col("new_meters").cast(pl.Int64))


def group_savings(month: str, *, settings: Settings) -> pl.DataFrame:
    """The command-line contract: one row per customer group of the province.

    ``customer_group, period, consumption_kwh, baseline_kwh`` (same period last year),
    ``savings_pct`` (positive = saved), ``target_pct, met`` and the meters behind them.
    """
    table = consumption_savings(month, settings=settings)
    return groups_of(table)


def groups_of(table: pl.DataFrame) -> pl.DataFrame:
    """The province rows of a consumption table in the command-line contract's columns."""
    return table.filter(pl.col("level") == "province").select(
        "customer_group", "period", "consumption_kwh", "baseline_kwh", "savings_pct",
        "target_pct", "met", "meters", "new_meters", "export_kwh", "note",
    ).sort(pl.col("customer_group") == ALL_GROUPS, "customer_group")


def large_consumers(month: str, *, settings: Settings) -> pl.DataFrame:
    """Consumers of ≥ 500,000 kWh over the 12 months to the month's end, and their savings.

    A consumer with less than a year of data is judged on its consumption scaled to a
    year (``annualised``). Savings: the month against the same month last year, target
    3 % (≥ 10 % in May–July, the plan's peak-month rule for the whole).
    """
    first = check_month(month)
    last = month_end(first)
    year = meter_energy(year_before(last) + timedelta(days=1), last, settings=settings)
    if year is None:
        raise NoDataError(f"no meter-day energy for the year to {month}",
                          fix="ingest that period's data first")
    annual = year.with_columns(
        (pl.col("kwh_import") * 365.0 / pl.col("days")).alias("annual_kwh"),
        (pl.col("days") < 365).alias("annualised"))
    large = annual.filter(pl.col("annual_kwh") >= LARGE_CONSUMER_KWH)
    now = meter_energy(first, last, settings=settings)
    base = meter_energy(year_before(first), year_before(last), settings=settings)
    target = target_pct(ALL_GROUPS, month)
    frame = large.select("meter_id", "customer_group", "branch_id", "annual_kwh",
                         "annualised").join(
        (now if now is not None else pl.DataFrame(schema={"meter_id": pl.String,
                                                          "kwh_import": pl.Float64}))
        .select("meter_id", pl.col("kwh_import").alias("consumption_kwh")),
        on="meter_id", how="left")
    if base is not None:
        frame = frame.join(base.select("meter_id", pl.col("kwh_import").alias("baseline_kwh")),
                           on="meter_id", how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("baseline_kwh"))
    return frame.with_columns(
        pl.lit(month).alias("period"),
        _savings("baseline_kwh", "consumption_kwh").alias("savings_pct"),
        pl.lit(target).alias("target_pct"),
    ).with_columns(
        (pl.col("savings_pct") >= pl.col("target_pct")).alias("met"),
    ).select("meter_id", "customer_group", "branch_id", "period", "annual_kwh", "annualised",
             "consumption_kwh", "baseline_kwh", "savings_pct", "target_pct", "met"
             ).sort("annual_kwh", descending=True)
