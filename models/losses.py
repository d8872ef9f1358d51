"""Loss tables for people and tools: month balances with the gap to the 6 % and 3 % goals."""

from __future__ import annotations

import polars as pl

from ami.errors import ConfigError, NoDataError
from ami.settings import Settings
from models.balances import LEVELS
from warehouse import Warehouse


def gap_kwh(target_pct: float) -> pl.Expr:
    """KWh that must be recovered for the node's loss to reach ``target_pct`` [kWh ≥ 0]."""
    return (
        pl.col("loss_kwh") - pl.col("energy_in_kwh") * target_pct / 100
    ).clip(lower_bound=0.0)


def read_losses(month: str, level: str, *, settings: Settings) -> pl.DataFrame:
    """Balances of one level for one month, worst first, with the gaps to both goals."""
    if level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}", fix=f"use one of {', '.join(LEVELS)}")
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise ConfigError(f"month {month!r} is not YYYY-MM", fix="write e.g. 2026-10")
    warehouse = Warehouse.at(settings.warehouse)
    if month not in warehouse.partitions("balance_month", "month"):
        have = ", ".join(warehouse.partitions("balance_month", "month")) or "none"
        raise NoDataError(f"no balances for {month} (months with data: {have})",
                          fix="ingest that month's data first (`ami ingest --landing …`)")
    frame = warehouse.scan("balance_month", month=month).drop("month").collect()
    return frame.filter(pl.col("level") == level).with_columns(
        pl.lit(settings.loss_target_pct).alias("target_pct"),
        gap_kwh(settings.loss_target_pct).alias("gap_to_target_kwh"),
        pl.lit(settings.loss_stretch_pct).alias("stretch_pct"),
        gap_kwh(settings.loss_stretch_pct).alias("gap_to_stretch_kwh"),
    ).sort(pl.col("reliable").not_(), pl.col("loss_kwh").fill_null(float("-inf")),
           descending=[False, True])
