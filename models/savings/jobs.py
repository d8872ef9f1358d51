"""The savings month in gold: every part of the plan computed from the warehouse and kept.

``build_savings_month`` reads gold meter-day energy, silver readings (peak, lighting,
demand response), silver meters, temperature and DR events, computes each part with the
package's modules and writes one partition per month of each ``savings_*`` table; the
plan table (``savings_plan``) judges them. ``pending_savings_months`` lists the months
whose partitions were not built from their current sources (the chain's one rule,
``warehouse.catalog.is_stale``), so late data and corrected meters rebuild the month.

Weather-normalised baselines are fitted once per meter and baseline year and kept in
``savings_baselines`` (a fit costs 2–4 s of one core); a month only predicts.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from ami.errors import NoDataError
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole
from models.savings import caltrack, consumption, demand_response, lighting, peak, solar
from models.savings.consumption import check_month, month_end, year_before
from models.savings.plan import PlanParts, plan_table
from warehouse import Warehouse, write_partition
from warehouse.catalog import is_stale, partition_meta, source, source_key
from warehouse.schemas import schema_of

#: Version of the savings definitions: raising it rebuilds every savings month.
DEFINITIONS_VERSION = 1
#: Meter-day partitions of the baseline year CalTRACK needs before any meter is fitted
#: (its 90 % coverage rule; opendsm then checks each meter).
BASELINE_DAYS_NEEDED = 329
#: The savings tables of a month, each one partition per month.
MONTH_TABLES = ("savings_groups", "savings_normalised", "savings_plan", "savings_large",
                "savings_lighting", "savings_advertising", "savings_peak_day",
                "savings_peak_month", "savings_dr", "savings_dr_events", "savings_solar")


def _days(warehouse: Warehouse, table: str, first: date, last: date) -> list[str]:
    return [d for d in warehouse.partitions(table, "date")
            if first.isoformat() <= d <= last.isoformat()]


def _periods(month: str) -> dict[str, tuple[date, date]]:
    first = check_month(month)
    last = month_end(first)
    return {"month": (first, last), "last_year": (year_before(first), year_before(last)),
            "ytd": (first.replace(month=1), last),
            "baseline_year": (date(first.year - 1, 1, 1), date(first.year - 1, 12, 31)),
            "dr": (first - timedelta(days=demand_response.MAX_LOOKBACK_DAYS), last)}


def savings_sources(warehouse: Warehouse, month: str) -> dict[str, str]:
    """What a savings month is built from: every partition it reads, and the definitions."""
    periods = _periods(month)
    meter_days = sorted({d for name in ("month", "last_year", "ytd", "baseline_year")
                         for d in _days(warehouse, "meter_day", *periods[name])}
                        | set(_days(warehouse, "meter_day", year_before(periods["month"][1])
                                    + timedelta(days=1), periods["month"][1])))
    reading_days = sorted(set(_days(warehouse, "readings", *periods["dr"]))
                          | set(_days(warehouse, "readings", *periods["last_year"])))
    sources = {source_key("meter_day", {"date": d}): source(warehouse, "meter_day", {"date": d})
               for d in meter_days}
    sources |= {source_key("readings", {"date": d}): source(warehouse, "readings", {"date": d})
                for d in reading_days}
    for table in ("meters", "temperature", "dr_events"):
        sources[table] = source(warehouse, table)
    sources["balance_month"] = source(warehouse, "balance_month", {"month": month})
    sources["definitions"] = f"savings v{DEFINITIONS_VERSION}"
    return sources


def pending_savings_months(*, settings: Settings) -> list[str]:
    """Months with meter-day energy whose savings were not built from current sources."""
    warehouse = Warehouse.at(settings.warehouse)
    months = sorted({d[:7] for d in warehouse.partitions("meter_day", "date")})
    return [m for m in months
            if is_stale(warehouse, "savings_plan", {"month": m}, savings_sources(warehouse, m))]


def _readings(warehouse: Warehouse, first: date, last: date) -> pl.LazyFrame | None:
    days = _days(warehouse, "readings", first, last)
    return warehouse.scan("readings").filter(pl.col("date").is_in(days)).drop("date") \
        if days else None


def _optional(warehouse: Warehouse, table: str) -> pl.DataFrame | None:
    return warehouse.read(table) if partition_meta(warehouse, table) else None


def build_savings_month(month: str, *, settings: Settings) -> int:
    """Compute and write every savings table of ``month``; returns the plan's row count."""
    warehouse = Warehouse.at(settings.warehouse)
    periods = _periods(month)
    tz = settings.timezone
    groups = consumption.consumption_savings(month, settings=settings)
    meters = warehouse.read("meters")
    customers = consumption.customer_meters(warehouse)
    now = _readings(warehouse, *periods["month"])
    if now is None:
        raise NoDataError(f"no silver readings for {month}", fix="ingest that month first")
    before = _readings(warehouse, *periods["last_year"])
    lights = customers.filter(pl.col("customer_group") == CustomerGroup.PUBLIC_LIGHTING)
    lighting_table = lighting.lighting_compliance(now, lights, month=month, timezone=tz,
                                                  last_year=before)
    advertising_table = lighting.advertising_compliance(now, customers, month=month,
                                                        timezone=tz, last_year=before)
    customer_ids = meters.filter(pl.col("meter_role") == MeterRole.CUSTOMER)
    peak_days = peak.peak_demand(now, customer_ids, timezone=tz)
    peak_before = (peak.peak_demand(before, customer_ids, timezone=tz)
                   if before is not None else None)
    peak_months = peak.peak_month(peak_days, last_year=peak_before)
    events = _month_events(warehouse, month, tz)
    dr_rows: pl.DataFrame | None = None
    dr_events: pl.DataFrame | None = None
    if events is not None and events.height:
        readings_dr = _readings(warehouse, *periods["dr"])
        assert readings_dr is not None  # the month has readings
        participants = readings_dr.join(events.select("meter_id").unique().lazy(),
                                        on="meter_id", how="semi")
        dr_rows = demand_response.dr_reductions(participants, events, timezone=tz)
        dr_events = demand_response.dr_summary(dr_rows)
    energy = consumption.month_consumption(month, settings=settings)
    month_export = (energy.select("meter_id", pl.col("kwh_export").alias("export_kwh"))
                    if energy is not None else None)
    end_utc = datetime.combine(periods["month"][1] + timedelta(days=1), datetime.min.time(),
                               ZoneInfo(tz)).astimezone(UTC)
    solar_table = solar.solar_summary(meters, month_export, year=periods["month"][0].year,
                                      month_end_utc=end_utc, timezone=tz)
    normalised = _normalised(warehouse, month, customers, groups, settings=settings)
    large = consumption.large_consumers(month, settings=settings)
    losses = (warehouse.scan("balance_month", month=month).collect()
              if month in warehouse.partitions("balance_month", "month") else None)
    plan = plan_table(PlanParts(
        month=month, consumption=groups, normalised=normalised, lighting=lighting_table,
        advertising=advertising_table, large=large, peak=peak_months, dr=dr_events,
        solar=solar_table, losses=losses, loss_target_pct=settings.loss_target_pct,
        loss_stretch_pct=settings.loss_stretch_pct))
    sources = savings_sources(warehouse, month)
    tables = {
        "savings_groups": groups, "savings_normalised": normalised, "savings_large": large,
        "savings_lighting": lighting_table, "savings_advertising": advertising_table,
        "savings_peak_day": peak_days, "savings_peak_month": peak_months,
        "savings_dr": dr_rows, "savings_dr_events": dr_events, "savings_solar": solar_table,
    }
    for table, frame in tables.items():
        write_partition(frame if frame is not None else _empty(table), table,
                        {"month": month}, warehouse=warehouse, sources=sources)
    # the plan last: its catalog entry is what ``pending_savings_months`` checks
    write_partition(plan, "savings_plan", {"month": month}, warehouse=warehouse,
                    sources=sources)
    return plan.height


def _empty(table: str) -> pl.DataFrame:
    return schema_of(table).empty()


def _month_events(warehouse: Warehouse, month: str, tz: str) -> pl.DataFrame | None:
    """DR event × participant rows whose window starts in the month (local)."""
    events = _optional(warehouse, "dr_events")
    if events is None:
        return None
    return events.filter(
        pl.col("start_at").dt.convert_time_zone(tz).dt.strftime("%Y-%m") == month)


def _normalised(warehouse: Warehouse, month: str, customers: pl.DataFrame,
                groups: pl.DataFrame, *, settings: Settings) -> pl.DataFrame:
    """Weather-normalised savings per group and for all; fits cached per baseline year.

    Without a temperature file, or with less than CalTRACK's 90 % of the baseline year in
    meter-day energy, every group is ``insufficient_data`` at once (no meter is fitted).
    """
    periods = _periods(month)
    temperature = _optional(warehouse, "temperature")
    base_first, base_last = periods["baseline_year"]
    base_days = _days(warehouse, "meter_day", base_first, base_last)
    members = customers.select("meter_id", "customer_group")
    reason = ("savings.no_temperature_file" if temperature is None else
              f"savings.baseline_year_has_{len(base_days)}_of_365_days"
              if len(base_days) < BASELINE_DAYS_NEEDED else "")
    if reason:
        table = pl.DataFrame([{
            "customer_group": group, "period": month, "meters": count, "meters_sampled": 0,
            "meters_fitted": 0, "consumption_kwh": None, "baseline_kwh": None,
            "savings_pct": None, "verdict": caltrack.INSUFFICIENT, "reasons": [reason]}
            for group, count in members.group_by("customer_group").len().sort(
                "customer_group").iter_rows()], schema=caltrack.MONTH_SCHEMA)
    else:
        assert temperature is not None
        days = [*base_days, *_days(warehouse, "meter_day", *periods["month"])]
        meter_days = (warehouse.scan("meter_day").filter(pl.col("date").is_in(days))
                      .select("meter_id", pl.col("date").str.to_date(), "kwh_import")
                      .collect())
        fits = _read_fits(warehouse, base_first.year)
        table, fitted = caltrack.group_savings_normalised(
            meter_days, temperature, members, month=month, timezone=settings.timezone,
            sample_per_group=settings.savings_model_meters, seed=0, fits=fits)
        if set(fitted) - set(fits):
            _write_fits(warehouse, base_first.year, fitted)
    table = pl.concat([table, _all_groups(table, groups, month)])
    return table.with_columns(pl.col("reasons").list.join("; "))


def _all_groups(table: pl.DataFrame, groups: pl.DataFrame, month: str) -> pl.DataFrame:
    """Every group together: each group's savings weighted by its share of consumption.

    The groups are strata sampled separately, so pooling their samples would weight a
    group by its sample, not by its energy; a group without a usable baseline leaves the
    total insufficient.
    """
    weights = groups.filter((pl.col("level") == "province")
                            & (pl.col("customer_group") != consumption.ALL_GROUPS)).select(
        "customer_group", pl.col("consumption_kwh").alias("weight_kwh"))
    joined = table.join(weights, on="customer_group", how="inner")
    usable = joined.filter(pl.col("verdict") == caltrack.OK)
    ok = usable.height == joined.height and joined.height > 0
    total = float(joined["weight_kwh"].sum()) if ok else 0.0
    savings = (sum(r["savings_pct"] * r["weight_kwh"] for r in usable.iter_rows(named=True))
               / total if ok and total > 0 else None)
    reasons = sorted({r for rs in joined["reasons"].to_list() for r in (rs or [])})
    return pl.DataFrame([{
        "customer_group": consumption.ALL_GROUPS, "period": month,
        "meters": int(table["meters"].sum()), "meters_sampled": int(
            table["meters_sampled"].sum()), "meters_fitted": int(table["meters_fitted"].sum()),
        "consumption_kwh": float(usable["consumption_kwh"].sum()) if ok else None,
        "baseline_kwh": float(usable["baseline_kwh"].sum()) if ok else None,
        "savings_pct": savings,
        "verdict": caltrack.OK if savings is not None else caltrack.INSUFFICIENT,
        "reasons": reasons if savings is not None or reasons else
        ["savings.a_group_without_usable_baseline"]}], schema=caltrack.MONTH_SCHEMA)


def _read_fits(warehouse: Warehouse, year: int) -> dict[str, caltrack.MeterBaseline]:
    if str(year) not in warehouse.partitions("savings_baselines", "year"):
        return {}
    rows = warehouse.scan("savings_baselines", year=str(year)).drop("year").collect()
    return {caltrack.fit_key(row["meter_id"], year): caltrack.MeterBaseline(
        **{**row, "reasons": tuple(json.loads(row["reasons"]))})
        for row in rows.iter_rows(named=True)}


def _write_fits(warehouse: Warehouse, year: int,
                fits: dict[str, caltrack.MeterBaseline]) -> None:
    rows = [{**asdict(fit), "reasons": json.dumps(list(fit.reasons))}
            for key, fit in fits.items() if key.endswith(f"@{year}")]
    frame = pl.DataFrame(rows, schema=schema_of("savings_baselines").polars, orient="row")
    write_partition(frame, "savings_baselines", {"year": str(year)}, warehouse=warehouse,
                    sort_by=("meter_id",))


def savings_month(month: str, *, settings: Settings) -> dict[str, pl.DataFrame]:
    """Every savings table of ``month`` from gold, built first when stale or missing."""
    check_month(month)
    warehouse = Warehouse.at(settings.warehouse)
    if is_stale(warehouse, "savings_plan", {"month": month}, savings_sources(warehouse, month)):
        build_savings_month(month, settings=settings)
    return {table: warehouse.scan(table, month=month).drop("month").collect()
            for table in MONTH_TABLES}
