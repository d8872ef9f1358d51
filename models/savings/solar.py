"""Rooftop solar (ĐMTMN): installed capacity, export, uptake by households and offices.

The province's plan asks for at least 20 MW of new rooftop solar in 2026
(``NEW_SOLAR_TARGET_KWP``) and about 10 % of households and of state offices with it
(``SOLAR_SHARE_TARGET``). Solar is reported on its own so that the import it saves is
neither taken for savings nor for theft.

Counts and capacity are those of the customer meter rows valid at the month's end (the
SCD2 meter table: valid_from < month end ≤ valid_to, or open). New capacity is the kWp of
solar that appears in a meter's validity period starting in the year (local time) when
the meter's previous period had none, or in a meter's first period starting in the year;
a larger array on a meter that already had one does not count again. The key is the
meter: a meter replaced this year by one that carries the same array counts as new.

Pure functions over frames: the caller reads the warehouse.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from ami.vocabulary import CustomerGroup, MeterRole
from models.balances import PROVINCE_ID
from models.figures import kwh_sum
from models.savings.peak import DEFAULT_TIMEZONE, Frame

#: New rooftop solar the plan asks for in 2026 [kWp] (20 MW).
NEW_SOLAR_TARGET_KWP = 20_000.0
#: Share of households and of state offices the plan wants with rooftop solar.
SOLAR_SHARE_TARGET = 0.10

SUMMARY_COLUMNS = ("level", "node_id", "solar_meters", "solar_kwp", "export_kwh",
                   "households", "households_with_solar", "household_share",
                   "household_share_pct", "offices", "offices_with_solar", "office_share",
                   "office_share_pct", "new_kwp_this_year",
                   "new_kwp_target", "new_kwp_met", "share_target", "household_share_met",
                   "office_share_met")
_COUNTS = ("solar_meters", "households", "households_with_solar", "offices",
           "offices_with_solar")
_ENERGIES = ("solar_kwp", "export_kwh", "new_kwp_this_year")


def _utc(moment: datetime) -> datetime:
    """An instant in UTC; a naive one is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _kwp() -> pl.Expr:
    """Installed solar of a meter row [kWp], 0 without."""
    return pl.col("solar_kwp").cast(pl.Float64).fill_null(0.0)


def new_solar(meters: Frame, *, year: int, until_utc: datetime,
              timezone: str = DEFAULT_TIMEZONE) -> pl.DataFrame:
    """Customer meter rows where solar appeared in ``year`` before ``until_utc``.

    Returns ``meter_id``, ``branch_id`` (of that row), ``valid_from`` and ``new_kwp``
    [kWp]: rows whose local start year is ``year`` with solar, when the meter's previous
    row (by ``valid_from``) had none or there is none.
    """
    until = pl.lit(_utc(until_utc), dtype=pl.Datetime("us", "UTC"))
    previous = pl.col("kwp").shift(1).over("meter_id", order_by="valid_from")
    return (
        meters.lazy().filter(pl.col("meter_role") == MeterRole.CUSTOMER)
        .select("meter_id", "branch_id", "valid_from", _kwp().alias("kwp"))
        .with_columns(previous.fill_null(0.0).alias("previous_kwp"))
        .filter((pl.col("kwp") > 0) & (pl.col("previous_kwp") <= 0)
                & (pl.col("valid_from").dt.convert_time_zone(timezone).dt.year() == year)
                & (pl.col("valid_from") < until))
        .select("meter_id", "branch_id", "valid_from", pl.col("kwp").alias("new_kwp"))
        .sort("meter_id", "valid_from")
        .collect()
    )


def _exports(meter_month_export: pl.DataFrame | None) -> pl.DataFrame:
    """The month's export per meter [kWh] from ``kwh_export`` (or ``export_kwh``)."""
    if meter_month_export is None:
        return pl.DataFrame(schema={"meter_id": pl.String, "export_kwh": pl.Float64})
    column = "kwh_export" if "kwh_export" in meter_month_export.columns else "export_kwh"
    return meter_month_export.group_by("meter_id").agg(
        kwh_sum(pl.col(column).cast(pl.Float64).fill_null(0.0)).alias("export_kwh"))


def solar_summary(meters: Frame, meter_month_export: pl.DataFrame | None, *, year: int,
                  month_end_utc: datetime, timezone: str = DEFAULT_TIMEZONE) -> pl.DataFrame:
    """Rooftop solar per branch and for the province at a month's end.

    ``meters`` is the SCD2 meter table; ``meter_month_export`` the month's export per meter
    (``meter_id``, ``kwh_export`` or ``export_kwh``; several rows of a meter add up; None
    when unknown: exports then count 0); ``month_end_utc`` the
    month's (exclusive) end instant, i.e. local midnight of the next month's first day;
    ``year`` the plan year new capacity is counted in (up to ``month_end_utc``).

    Returns the province row first, then one row per branch:

    - ``level`` (``province``/``branch``), ``node_id`` (``models.balances.PROVINCE_ID`` or
      the branch id);
    - ``solar_meters`` (int), ``solar_kwp`` (float, kWp): customer meters with solar and
      their capacity;
    - ``export_kwh`` (float): the month's export of the customer meters [kWh];
    - ``households``, ``households_with_solar`` (int), ``household_share`` (float, 0–1):
      residential customer meters, those with solar, the share (null without
      households); ``household_share_pct`` (float): the same share in %;
    - ``offices``, ``offices_with_solar`` (int), ``office_share`` (float, 0–1),
      ``office_share_pct`` (float, %): the same for state offices (``public_admin``);
    - ``new_kwp_this_year`` (float): capacity new in ``year`` up to the month's end [kWp];
    - ``new_kwp_target`` (float, ``NEW_SOLAR_TARGET_KWP``), ``new_kwp_met`` (bool),
      ``share_target`` (float, ``SOLAR_SHARE_TARGET``), ``household_share_met``,
      ``office_share_met`` (bool): the plan's targets and verdicts, on the province row
      only (null on branch rows).
    """
    end = pl.lit(_utc(month_end_utc), dtype=pl.Datetime("us", "UTC"))
    at_end = meters.lazy().filter(
        (pl.col("meter_role") == MeterRole.CUSTOMER) & (pl.col("valid_from") < end)
        & (pl.col("valid_to").is_null() | (end <= pl.col("valid_to")))
    ).sort("meter_id", "valid_from").select(
        "meter_id", pl.col("branch_id").cast(pl.String), "customer_group", _kwp().alias("kwp"),
    ).unique("meter_id", keep="last", maintain_order=True).collect()
    exports = _exports(meter_month_export)
    solar = pl.col("kwp") > 0
    home = pl.col("customer_group") == CustomerGroup.RESIDENTIAL
    office = pl.col("customer_group") == CustomerGroup.PUBLIC_ADMIN
    per_meter = at_end.join(exports, on="meter_id", how="left").select(
        "branch_id",
        solar.cast(pl.Int64).alias("solar_meters"),
        pl.when(solar).then(pl.col("kwp")).otherwise(0.0).alias("solar_kwp"),
        pl.col("export_kwh").fill_null(0.0),
        home.cast(pl.Int64).alias("households"),
        (home & solar).cast(pl.Int64).alias("households_with_solar"),
        office.cast(pl.Int64).alias("offices"),
        (office & solar).cast(pl.Int64).alias("offices_with_solar"),
        pl.lit(0.0).alias("new_kwp_this_year"),
    )
    new = new_solar(meters, year=year, until_utc=month_end_utc, timezone=timezone).select(
        pl.col("branch_id").cast(pl.String),
        *(pl.lit(0, pl.Int64).alias(c) for c in _COUNTS),
        pl.lit(0.0).alias("solar_kwp"), pl.lit(0.0).alias("export_kwh"),
        pl.col("new_kwp").alias("new_kwp_this_year"),
    ).select(per_meter.columns)
    parts = pl.concat([per_meter, new])
    sums = [pl.col(*_COUNTS).sum(), *(kwh_sum(c).alias(c) for c in _ENERGIES)]
    branches = parts.group_by("branch_id").agg(*sums).select(
        pl.lit("branch").alias("level"), pl.col("branch_id").alias("node_id"),
        *_COUNTS, *_ENERGIES).sort("node_id")
    province = parts.select(*sums).select(
        pl.lit("province").alias("level"), pl.lit(PROVINCE_ID).alias("node_id"),
        *_COUNTS, *_ENERGIES)
    share = {"household_share": ("households_with_solar", "households"),
             "office_share": ("offices_with_solar", "offices")}
    is_province = pl.col("level") == "province"
    return pl.concat([province, branches]).with_columns(
        pl.when(pl.col(total) > 0).then(pl.col(part) / pl.col(total)).alias(name)
        for name, (part, total) in share.items()
    ).with_columns(
        *((100 * pl.col(name)).alias(f"{name}_pct") for name in share),
        pl.when(is_province).then(pl.lit(NEW_SOLAR_TARGET_KWP)).alias("new_kwp_target"),
        pl.when(is_province).then(pl.lit(SOLAR_SHARE_TARGET)).alias("share_target"),
    ).with_columns(
        (pl.col("new_kwp_this_year") >= pl.col("new_kwp_target")).alias("new_kwp_met"),
        (pl.col("household_share") >= pl.col("share_target")).alias("household_share_met"),
        (pl.col("office_share") >= pl.col("share_target")).alias("office_share_met"),
    ).select(SUMMARY_COLUMNS)
