"""The content of the monthly report to Sở Công Thương, as tables, before any formatting.

This module owns the tables: losses by branch and for the province against the plan (6 %)
and stretch (3 %) rates, and consumption by customer group against the same month last year
and the plan's savings targets. Every loss figure (energy, loss, loss %, technical loss,
measured share, reliable) is read from gold's month balances, the province row from gold's
province balance: the report computes none of them again (``models.figures`` defines
them), so a regulator finds the workbook's numbers in the warehouse. Consumption is summed
here from gold meter-month energy, in whole micro-kWh (the same sum in any row order).
Published figures are rounded half away from zero on their decimal digits, as people and
spreadsheets round (``rounded``). The workbook, JSON and CSV writers in ``workbook.py``
render exactly these rows, so all three outputs carry the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from ami.errors import InputError, NoDataError
from ami.reference import BRANCH_NAMES, CUSTOMER_GROUP_NAMES
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, texts
from models.figures import MICRO_DIGITS, from_micro_kwh, kwh_sum, micro_kwh
from models.savings.consumption import check_month, target_pct

#: The gold balance columns the loss table shows (warehouse schema ``balance_month``).
BALANCE_COLUMNS = ("level", "node_id", "period", "energy_in_kwh", "energy_out_kwh", "loss_kwh",
                   "loss_pct", "technical_loss_kwh", "measured_share", "reliable")
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


def rounded(column: str | pl.Expr, decimals: int) -> pl.Expr:
    """A published figure: rounded half away from zero on its decimal digits.

    The value is read to the micro unit first (whole micro-kWh for energy, as gold sums
    it), so 310 937.05 kWh is 310 937.1 kWh, as a person or a spreadsheet rounds it, and
    not the 310 937.0 of the binary float just below ``.05``.
    """
    if not 0 <= decimals <= MICRO_DIGITS:
        raise ValueError(f"decimals must be 0 to {MICRO_DIGITS}, got {decimals}")
    micro = micro_kwh(column)
    step = 10 ** (MICRO_DIGITS - decimals)
    units = (micro.abs() + step // 2) // step * micro.sign()
    # a division by a constant is a product with its inverse in Polars, a bit off at
    # times: rounding puts the figure on the float nearest its decimal value
    return (units / 10**decimals).round(decimals)


@dataclass(frozen=True)
class MonthlyReport:
    """Everything the monthly report says, ready to render."""

    month: str
    generated_on: date
    losses: pl.DataFrame  # one row per branch, then the province
    consumption: pl.DataFrame  # one row per customer group, then the total
    measured_share: float | None  # gold's measured share of the province [0-1]
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
                fix=f"provide {', '.join(columns)} (the gold tables of the README's "
                    "warehouse layout)",
            )


# --- losses -----------------------------------------------------------------------------


def _month_balances(month: str, balances: pl.DataFrame) -> pl.DataFrame:
    """Gold's branch and province balances of the month, as written (no figure derived)."""
    _require(balances, BALANCE_COLUMNS, "balances")
    monthly = balances.filter(
        (pl.col("period") == month) & pl.col("level").is_in(["branch", "province"]))
    provinces = monthly.filter(pl.col("level") == "province").height
    if provinces > 1:
        raise InputError(f"balances hold {provinces} province rows for {month}",
                         column="level", fix="pass gold's month balances (balance_month) of "
                                             "one province")
    if provinces == 0:
        days = balances.filter(pl.col("period").str.starts_with(f"{month}-")).height
        raise NoDataError(
            f"No province balance for {month}"
            + (" (only day balances: the report reads the month's, never sums days)."
               if days else "."),
            fix="build the month's balances first (ami ingest / the ami_losses DAG); the "
                "report reads gold balance_month",
        )
    return monthly


def loss_table(
    month: str,
    balances: pl.DataFrame,
    *,
    settings: Settings,
    branch_names: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Losses per branch and for the province, against plan and stretch rates.

    Every figure is gold's: the branch rows are gold's branch balances and the province
    row is gold's province balance (all metered transformers of the province; the sum of
    the branches when every transformer has one), with its own measured share and
    reliable flag. Only the comparison with the plan and stretch rates and the rounding
    are the report's.
    """
    frame = _month_balances(month, balances)
    branches = frame.filter(pl.col("level") == "branch").sort("node_id")
    province = frame.filter(pl.col("level") == "province").with_columns(
        node_id=pl.lit(PROVINCE_ID))
    names = {**BRANCH_NAMES, **(branch_names or {})}
    rows = pl.concat([branches, province], how="vertical_relaxed")
    return (
        rows.with_columns(
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
            *(rounded(c, KWH_DECIMALS).alias(c) for c in
              ("energy_in_kwh", "energy_out_kwh", "loss_kwh", "technical_loss_kwh")),
            rounded("loss_pct", PCT_DECIMALS).alias("loss_pct"),
            rounded("measured_share", SHARE_DECIMALS).alias("measured_share"),
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
    export = kwh_sum("kwh_export") if "kwh_export" in frame.columns else pl.lit(0.0)
    return (
        frame.with_columns(pl.col("customer_group").fill_null(CustomerGroup.OTHER))
        .group_by("customer_group")
        .agg(
            kwh_sum(pl.col("kwh_import").cast(pl.Float64)).alias(f"{prefix}_kwh"),
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

    Savings targets are those of the province's 2026 plan
    (``models.savings.consumption.target_pct``).
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
        now_kwh=pl.when(pl.col("now_kwh").is_not_null().any()).then(kwh_sum("now_kwh")),
        now_export_kwh=pl.when(pl.col("now_kwh").is_not_null().any()).then(
            kwh_sum("now_export_kwh")
        ),
        now_meters=pl.when(pl.col("now_kwh").is_not_null().any()).then(pl.col("now_meters").sum()),
        ly_kwh=pl.when(pl.col("ly_kwh").is_not_null().any()).then(kwh_sum("ly_kwh")),
        ly_export_kwh=kwh_sum("ly_export_kwh"),
        ly_meters=pl.col("ly_meters").sum(),
    )
    rows = pl.concat([groups, total], how="vertical_relaxed")
    change = from_micro_kwh(micro_kwh("now_kwh") - micro_kwh("ly_kwh"))
    change_pct = pl.when(pl.col("ly_kwh") > 0).then(100.0 * change / pl.col("ly_kwh"))
    targets = {group: target_pct(group, month) for group in order}
    targets[TOTAL_GROUP] = target_pct(TOTAL_GROUP, month)
    return (
        rows.sort("order")
        .with_columns(
            group_name=pl.col("customer_group").replace_strict(
                GROUP_NAMES, default=pl.col("customer_group")
            ),
            change_kwh=rounded(change, KWH_DECIMALS),
            change_pct=rounded(change_pct, PCT_DECIMALS),
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
            rounded("now_kwh", KWH_DECIMALS).alias("consumption_kwh"),
            rounded("ly_kwh", KWH_DECIMALS).alias("consumption_last_year_kwh"),
            "change_kwh",
            "change_pct",
            "target_pct",
            "met",
            "status",
            rounded("now_export_kwh", KWH_DECIMALS).alias("solar_export_kwh"),
        )
    )
