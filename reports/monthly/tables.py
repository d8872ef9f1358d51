"""The content of the monthly report to Sở Công Thương, as tables, before any formatting.

This module owns the numbers: losses by branch and for the province (energy-weighted, never
an average of percentages) against the plan (6 %) and stretch (3 %) rates, and consumption
by customer group against the same month last year and the plan's savings targets. The
workbook, JSON and CSV writers in ``workbook.py`` render exactly these rows, so all three
outputs carry the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from ami.errors import InputError, NoDataError
from ami.reference import BRANCH_NAMES, CUSTOMER_GROUP_NAMES
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, texts
from models.balances import technical_sum
from models.savings import check_month, target_pct

BALANCE_COLUMNS = ("level", "node_id", "period", "energy_in_kwh", "energy_out_kwh", "loss_kwh")
CONSUMPTION_COLUMNS = ("customer_group", "kwh_import")
PROVINCE_ID = "province"
PROVINCE_NAME = "Toàn tỉnh"
TOTAL_GROUP = "total"

#: Customer groups in report order with the names the province's plan uses.
#: Keyed by text: Polars cannot read enum members mixed with other text as replace keys.
GROUP_NAMES: dict[str, str] = {
    **{str(group): name for group, name in CUSTOMER_GROUP_NAMES.items()},
    TOTAL_GROUP: "Tổng cộng",
}
#: Groups always listed, with or without data; others appear only when present.
FIXED_GROUPS = texts(group for group in CustomerGroup if group != CustomerGroup.OTHER)

STATUS_MET = "Đạt"
STATUS_NOT_MET = "Không đạt"
STATUS_NO_BASELINE = "Chưa có số liệu cùng kỳ"
STATUS_NO_DATA = "Chưa có số liệu tháng này"

# Rounding of published figures: the workbook, JSON and CSV carry these exact values.
KWH_DECIMALS = 1
PCT_DECIMALS = 2
SHARE_DECIMALS = 4


@dataclass(frozen=True)
class MonthlyReport:
    """Everything the monthly report says, ready to render."""

    month: str
    generated_on: date
    losses: pl.DataFrame  # one row per branch, then the province
    consumption: pl.DataFrame  # one row per customer group, then the total
    measured_share: float | None  # energy-weighted measured share of the province [0-1]
    branches_reliable: int
    branches: int
    has_last_year: bool


def build_tables(
    *,
    month: str,
    balances: pl.DataFrame,
    consumption: pl.DataFrame,
    consumption_last_year: pl.DataFrame | None,
    settings: Settings,
    branch_names: dict[str, str] | None = None,
    generated_on: date,
) -> MonthlyReport:
    """Compute the report's loss and consumption tables for ``month`` (YYYY-MM)."""
    check_month(month)
    losses = loss_table(month, balances, settings=settings, branch_names=branch_names)
    branches = losses.filter(pl.col("level") == "branch")
    province = losses.filter(pl.col("level") == "province").row(0, named=True)
    last_year = _last_year_month(month)
    groups = consumption_table(month, consumption, consumption_last_year, last_year_month=last_year)
    return MonthlyReport(
        month=month,
        generated_on=generated_on,
        losses=losses,
        consumption=groups,
        measured_share=province["measured_share"],
        branches_reliable=int(branches["reliable"].sum()),
        branches=branches.height,
        has_last_year=groups.filter(pl.col("consumption_last_year_kwh").is_not_null()).height > 0,
    )


def _last_year_month(month: str) -> str:
    first = check_month(month)
    return f"{first.year - 1}-{first.month:02d}"


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                f"{what} lack a required column",
                column=column,
                fix=f"provide {', '.join(columns)} (DESIGN §4 / gold contract)",
            )


# --- losses -----------------------------------------------------------------------------


def _month_balances(month: str, balances: pl.DataFrame) -> pl.DataFrame:
    """Branch and province balances of the month; daily balances are summed if needed."""
    _require(balances, BALANCE_COLUMNS, "balances")
    optional = {
        "measured_share": pl.Float64,
        "technical_loss_kwh": pl.Float64,
        "reliable": pl.Boolean,
    }
    frame = balances.with_columns(
        pl.lit(None, dtype).alias(name)
        for name, dtype in optional.items()
        if name not in balances.columns
    ).filter(pl.col("level").is_in(["branch", "province"]))
    monthly = frame.filter(pl.col("period") == month)
    if monthly.height:
        return monthly
    daily = frame.filter(pl.col("period").str.starts_with(f"{month}-"))
    # Energy-weighted measured share; a sum of technical losses only when every day has one.
    return daily.group_by("level", "node_id").agg(
        pl.col("energy_in_kwh", "energy_out_kwh", "loss_kwh").sum(),
        measured_share=(pl.col("measured_share") * pl.col("energy_in_kwh")).sum()
        / pl.col("energy_in_kwh").sum(),
        technical_loss_kwh=technical_sum(),
        reliable=pl.col("reliable").all(),
        period=pl.lit(month),
    )


def loss_table(
    month: str,
    balances: pl.DataFrame,
    *,
    settings: Settings,
    branch_names: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Losses per branch and for the province, against plan and stretch rates.

    The province row is the energy-weighted aggregate of the branch rows shown above it
    (Σ loss / Σ energy in), so the table adds up; without branch rows the province balance
    is used as given.
    """
    frame = _month_balances(month, balances)
    branches = frame.filter(pl.col("level") == "branch").sort("node_id")
    if branches.height:
        province = branches.select(
            level=pl.lit("province"),
            node_id=pl.lit(PROVINCE_ID),
            energy_in_kwh=pl.col("energy_in_kwh").sum(),
            energy_out_kwh=pl.col("energy_out_kwh").sum(),
            loss_kwh=pl.col("loss_kwh").sum(),
            technical_loss_kwh=technical_sum(),
            measured_share=(pl.col("measured_share") * pl.col("energy_in_kwh")).sum()
            / pl.col("energy_in_kwh").sum(),
        )
    else:
        province = frame.filter(pl.col("level") == "province").head(1)
    if province.height == 0:
        raise NoDataError(
            f"No branch or province balances for {month}.",
            fix="run the loss balances for that month first (ami losses / the ami_losses DAG)",
        )
    names = {**BRANCH_NAMES, **(branch_names or {})}
    columns = [
        "level",
        "node_id",
        "energy_in_kwh",
        "energy_out_kwh",
        "loss_kwh",
        "technical_loss_kwh",
        "measured_share",
    ]
    rows = pl.concat(
        [
            branches.select(*columns, "reliable"),
            province.select(columns).with_columns(reliable=pl.lit(None, pl.Boolean)),
        ],
        how="vertical_relaxed",
    )
    loss_pct = pl.when(pl.col("energy_in_kwh") > 0).then(
        100.0 * pl.col("loss_kwh") / pl.col("energy_in_kwh")
    )
    complete = pl.col("measured_share") >= settings.completeness_threshold
    return (
        rows.with_columns(loss_pct=loss_pct)
        .with_columns(
            # A branch's own reliable flag wins; the province is judged on its measured share.
            reliable=pl.coalesce("reliable", complete).fill_null(False),
            name=pl.when(pl.col("level") == "province")
            .then(pl.lit(PROVINCE_NAME))
            .otherwise(pl.col("node_id").replace_strict(names, default=pl.col("node_id"))),
            plan_pct=pl.lit(settings.loss_target_pct),
            stretch_pct=pl.lit(settings.loss_stretch_pct),
            # The plan rate is a ceiling: a loss rate at or below it meets it.
            met_plan=pl.col("loss_pct") <= settings.loss_target_pct,
            met_stretch=pl.col("loss_pct") <= settings.loss_stretch_pct,
        )
        .with_columns(
            pl.col("energy_in_kwh", "energy_out_kwh", "loss_kwh", "technical_loss_kwh")
            .cast(pl.Float64)
            .round(KWH_DECIMALS),
            pl.col("loss_pct").round(PCT_DECIMALS),
            pl.col("measured_share").cast(pl.Float64).round(SHARE_DECIMALS),
        )
        .select(
            "level",
            "node_id",
            "name",
            "energy_in_kwh",
            "energy_out_kwh",
            "loss_kwh",
            "loss_pct",
            "technical_loss_kwh",
            "plan_pct",
            "stretch_pct",
            "met_plan",
            "met_stretch",
            "measured_share",
            "reliable",
        )
    )


# --- consumption by customer group ----------------------------------------------------------


def _group_sums(frame: pl.DataFrame | None, period: str, prefix: str) -> pl.DataFrame:
    """Σ import (and export, meters) per customer group for one period; empty when absent."""
    schema = {
        "customer_group": pl.String,
        f"{prefix}_kwh": pl.Float64,
        f"{prefix}_export_kwh": pl.Float64,
        f"{prefix}_meters": pl.Int64,
    }
    if frame is None or frame.width == 0 or frame.height == 0:
        return pl.DataFrame(schema=schema)
    _require(frame, CONSUMPTION_COLUMNS, "consumption rows")
    if "period" in frame.columns:
        frame = frame.filter(pl.col("period") == period)
    meters = pl.col("meter_id").n_unique() if "meter_id" in frame.columns else pl.len()
    export = pl.col("kwh_export").sum() if "kwh_export" in frame.columns else pl.lit(0.0)
    return (
        frame.with_columns(pl.col("customer_group").fill_null(CustomerGroup.OTHER))
        .group_by("customer_group")
        .agg(
            pl.col("kwh_import").cast(pl.Float64).sum().alias(f"{prefix}_kwh"),
            export.cast(pl.Float64).alias(f"{prefix}_export_kwh"),
            meters.cast(pl.Int64).alias(f"{prefix}_meters"),
        )
        .cast(schema)  # type: ignore[arg-type]
    )


def consumption_table(
    month: str,
    consumption: pl.DataFrame,
    consumption_last_year: pl.DataFrame | None,
    *,
    last_year_month: str,
) -> pl.DataFrame:
    """Consumption per customer group and in total vs the same month last year.

    Savings targets are those of the province's 2026 plan (``models.savings.target_pct``).
    Without last year's figures a row says so instead of inventing a baseline.
    """
    this = _group_sums(consumption, month, "now")
    last = _group_sums(consumption_last_year, last_year_month, "ly")
    present = set(this["customer_group"]) | set(last["customer_group"])
    order = [*FIXED_GROUPS, *sorted(present - set(FIXED_GROUPS))]
    groups = (
        pl.DataFrame({"customer_group": order, "order": list(range(len(order)))})
        .join(this, on="customer_group", how="left")
        .join(last, on="customer_group", how="left")
    )
    total = groups.select(
        customer_group=pl.lit(TOTAL_GROUP),
        order=pl.lit(len(order)),
        # A total only when some group has figures for that month.
        now_kwh=pl.when(pl.col("now_kwh").is_not_null().any()).then(pl.col("now_kwh").sum()),
        now_export_kwh=pl.when(pl.col("now_kwh").is_not_null().any()).then(
            pl.col("now_export_kwh").sum()
        ),
        now_meters=pl.when(pl.col("now_kwh").is_not_null().any()).then(pl.col("now_meters").sum()),
        ly_kwh=pl.when(pl.col("ly_kwh").is_not_null().any()).then(pl.col("ly_kwh").sum()),
        ly_export_kwh=pl.col("ly_export_kwh").sum(),
        ly_meters=pl.col("ly_meters").sum(),
    )
    rows = pl.concat([groups, total], how="vertical_relaxed")
    change = pl.col("now_kwh") - pl.col("ly_kwh")
    change_pct = pl.when(pl.col("ly_kwh") > 0).then(100.0 * change / pl.col("ly_kwh"))
    targets = {group: target_pct(group, month) for group in order}
    targets[TOTAL_GROUP] = target_pct(TOTAL_GROUP, month)
    return (
        rows.sort("order")
        .with_columns(
            group_name=pl.col("customer_group").replace_strict(
                GROUP_NAMES, default=pl.col("customer_group")
            ),
            change_kwh=change.round(KWH_DECIMALS),
            change_pct=change_pct.round(PCT_DECIMALS),
            target_pct=pl.col("customer_group").replace_strict(targets, return_dtype=pl.Float64),
        )
        .with_columns(
            # Savings target met when consumption fell by at least the target share.
            met=pl.col("change_pct") <= -pl.col("target_pct"),
        )
        .with_columns(
            status=pl.when(pl.col("now_kwh").is_null())
            .then(pl.lit(STATUS_NO_DATA))
            .when(pl.col("met").is_null())
            .then(pl.lit(STATUS_NO_BASELINE))
            .when(pl.col("met"))
            .then(pl.lit(STATUS_MET))
            .otherwise(pl.lit(STATUS_NOT_MET)),
        )
        .select(
            "customer_group",
            "group_name",
            pl.col("now_meters").alias("meters"),
            pl.col("now_kwh").round(KWH_DECIMALS).alias("consumption_kwh"),
            pl.col("ly_kwh").round(KWH_DECIMALS).alias("consumption_last_year_kwh"),
            "change_kwh",
            "change_pct",
            "target_pct",
            "met",
            "status",
            pl.col("now_export_kwh").round(KWH_DECIMALS).alias("solar_export_kwh"),
        )
    )
