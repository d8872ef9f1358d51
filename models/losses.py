"""Loss tables for people and tools: the month, year to date and the same period last year.

Utilities read losses three ways — the month ("theo tháng"), year to date ("lũy kế") and
the same period of last year ("cùng kỳ") — against the plan rate ("kế hoạch"). Every rate
here is energy-weighted: a sum of losses over a sum of energy received, never a mean of
percentages. For every node the table gives the kWh a month that must be recovered to
reach 6 % and 3 %, the non-technical part that inspections can recover, and, for
transformers, the day their daily loss rate jumped (a new bypass, a meter fault, a
topology change). Balances marked unreliable (too little measured data, no total meter,
a negative loss) stay in the table but are ranked after the reliable ones.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ami.errors import ConfigError, NoDataError
from ami.settings import Settings
from models.balances import LEVELS
from models.figures import kwh_sum, loss_pct
from warehouse import Warehouse

#: Days of daily loss rates on each side of a candidate change day.
JUMP_BEFORE_DAYS, JUMP_AFTER_DAYS = 14, 7


def gap_kwh(target_pct: float) -> pl.Expr:
    """KWh that must be recovered for the node's loss to reach ``target_pct`` [kWh ≥ 0]."""
    return (
        pl.col("loss_kwh") - pl.col("energy_in_kwh") * target_pct / 100
    ).clip(lower_bound=0.0)


def _check(month: str, level: str) -> None:
    if level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}", fix=f"use one of {', '.join(LEVELS)}")
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise ConfigError(f"month {month!r} is not YYYY-MM", fix="write e.g. 2026-10")


def _rate(prefix: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Loss rate of summed months (``models.figures``), columns named with ``prefix``."""
    return frame.group_by("node_id").agg(
        kwh_sum("energy_in_kwh").alias(f"energy_in_kwh_{prefix}"),
        kwh_sum("loss_kwh").alias(f"loss_kwh_{prefix}"),
    ).with_columns(
        loss_pct(f"loss_kwh_{prefix}", f"energy_in_kwh_{prefix}").alias(f"loss_pct_{prefix}"))


def read_losses(month: str, level: str, *, settings: Settings) -> pl.DataFrame:
    """Balances of one level for one month with the three views, gaps and ranking.

    Columns added to the month's balances: ``*_ytd`` (January to the month),
    ``*_last_year`` (the same month a year before), ``loss_pct_ytd_last_year``,
    ``plan_pct``, the gaps to the goal and the stretch goal, ``recoverable_kwh`` (the
    non-technical loss, ≥ 0), ``rank`` (by recoverable kWh among reliable balances) and,
    for transformers, ``loss_jump_date`` / ``loss_jump_pp``.
    """
    _check(month, level)
    warehouse = Warehouse.at(settings.warehouse)
    months = warehouse.partitions("balance_month", "month")
    if month not in months:
        raise NoDataError(f"no balances for {month} (months with data: "
                          f"{', '.join(months) or 'none'})",
                          fix="ingest that month's data first (`ami ingest --landing …`)")
    last_year = f"{int(month[:4]) - 1}{month[4:]}"
    frame = warehouse.scan("balance_month").filter(pl.col("level") == level).collect()
    this = frame.filter(pl.col("month") == month).drop("month")
    def months_to(last: str) -> pl.Expr:  # January of that year to ``last``
        return pl.col("month").is_between(pl.lit(f"{last[:4]}-01"), pl.lit(last))

    ytd = _rate("ytd", frame.filter(months_to(month)))
    same = _rate("last_year", frame.filter(pl.col("month") == last_year))
    ytd_last = _rate("ytd_last_year", frame.filter(months_to(last_year))).select(
        "node_id", "loss_pct_ytd_last_year")
    ranked = pl.col("reliable") & ~pl.col("flags").str.contains("negative_loss")
    recoverable = pl.coalesce("non_technical_kwh", "loss_kwh").clip(lower_bound=0.0)
    out = this.join(ytd, on="node_id", how="left").join(
        same, on="node_id", how="left").join(ytd_last, on="node_id", how="left").with_columns(
        pl.lit(settings.loss_target_pct).alias("plan_pct"),
        pl.lit(settings.loss_target_pct).alias("target_pct"),
        gap_kwh(settings.loss_target_pct).alias("gap_to_target_kwh"),
        pl.lit(settings.loss_stretch_pct).alias("stretch_pct"),
        gap_kwh(settings.loss_stretch_pct).alias("gap_to_stretch_kwh"),
        pl.when(pl.col("has_total_meter")).then(recoverable).alias("recoverable_kwh"),
    ).with_columns(
        pl.when(ranked).then(pl.col("recoverable_kwh").rank("ordinal", descending=True)
                             .over(ranked)).cast(pl.Int64).alias("rank"))
    if level == "transformer":
        out = out.join(loss_jumps(warehouse, month, settings=settings), on="node_id",
                       how="left")
    return out.sort(pl.col("rank").is_null(), "rank",
                    pl.col("loss_kwh").fill_null(float("-inf")), descending=[False, False, True])


def loss_jumps(warehouse: Warehouse, month: str, *, settings: Settings) -> pl.DataFrame:
    """Per transformer, the day in ``month`` its daily loss rate stepped up, if any.

    A day d is a change when the median rate of the ``JUMP_AFTER_DAYS`` days from d
    exceeds that of the ``JUMP_BEFORE_DAYS`` before it by at least ``loss_jump_pp``
    percentage points and most days after are above the level before. Of the days that
    pass, the onset is the one where the mean rates before and after differ most. Only
    reliable days count.
    """
    schema = {"node_id": pl.String(), "loss_jump_date": pl.String(),
              "loss_jump_pp": pl.Float64()}
    days = warehouse.partitions("balance_day", "date")
    if not days:
        return pl.DataFrame(schema=schema)
    daily = warehouse.scan("balance_day").filter(
        (pl.col("level") == "transformer") & pl.col("reliable")
        & (pl.col("date") <= f"{month}-31")).select(
        "node_id", "date", "loss_pct").drop_nulls().collect().sort("node_id", "date")
    rows = []
    for (node,), series in daily.group_by("node_id", maintain_order=True):
        dates, rates = series["date"].to_list(), series["loss_pct"].to_numpy()
        best: tuple[float, str, float] | None = None
        for i in range(JUMP_BEFORE_DAYS // 2, len(rates) - JUMP_AFTER_DAYS // 2 + 1):
            if not dates[i].startswith(month):
                continue
            before = rates[max(0, i - JUMP_BEFORE_DAYS):i]
            after = rates[i:i + JUMP_AFTER_DAYS]
            step = float(np.median(after) - np.median(before))
            level = float(np.median(before))
            # robust test on medians; the onset is where the means differ most
            sharpness = float(after.mean() - before.mean())
            if step >= settings.loss_jump_pp and (after > level).mean() >= 0.8 \
                    and (best is None or sharpness > best[0] + 1e-9):
                best = (sharpness, dates[i], step)
        if best is not None:
            rows.append({"node_id": node, "loss_jump_date": best[1],
                         "loss_jump_pp": round(best[2], 2)})
    return pl.DataFrame(rows, schema=schema)
