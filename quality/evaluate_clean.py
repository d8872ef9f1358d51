"""What VEE does to real readings as delivered (``ami vee evaluate --readings --clean``).

Nothing is injected: the file's rows of the window go unchanged through ingest and VEE,
and the outcome is measured against them — intervals rejected, the change of each
meter-month's energy, estimates of the intervals the file lacks, and every rule's
findings per 1,000 meter-days — next to the targets ``CLEAN_REJECTED_SHARE_MAX`` and
``CLEAN_MONTH_CHANGE_MAX``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from ami.province import day_ends
from ami.settings import Settings
from ami.vocabulary import Quality
from quality.days import local_day
from quality.evaluate import run_vee, workspace
from quality.real_readings import DataWindow, read_real_window
from warehouse import Warehouse
from warehouse.schemas import schema_of

#: Clean-mode targets. Rejected intervals over delivered ones [-] (0.01 %).
CLEAN_REJECTED_SHARE_MAX = 0.0001
#: … and the change VEE may make to a meter-month's delivered energy [-] (0.1 %).
CLEAN_MONTH_CHANGE_MAX = 0.001


@dataclass(frozen=True)
class CleanEvaluation:
    """What VEE does to real readings as delivered (nothing injected)."""

    window: DataWindow
    delivered: int                 # rows delivered (the file's rows in the window)
    rejected: int                  # silver quarantine rows, every rule
    rejected_by_rule: pl.DataFrame  # rule, rows
    meter_months: pl.DataFrame     # meter_id, month, delivered_kwh, silver_kwh, change
    missing_in_file: int           # grid intervals of the file's meters the file lacks
    estimated: int                 # silver intervals with quality "estimated"
    estimated_missing: int         # … of them missing in the file
    estimated_delivered: int       # … of them delivered (rejected, then estimated)
    left_missing: int              # silver intervals with quality "missing"
    rules: pl.DataFrame            # rule, findings, meter_days, intervals, per_1000_meter_days

    @property
    def meter_days(self) -> int:
        """Meter-days of the window (the denominator of the noise rates)."""
        return self.window.meters * self.window.days

    @property
    def rejected_share(self) -> float:
        """Rejected over delivered intervals [-]."""
        return self.rejected / self.delivered if self.delivered else 0.0

    @property
    def max_month_change(self) -> float:
        """Largest relative change of a meter-month's delivered energy [-]."""
        value = self.meter_months["change"].max() if self.meter_months.height else 0.0
        return float(value) if isinstance(value, (int, float)) else 0.0

    @property
    def months_over(self) -> int:
        """Meter-months changed by more than ``CLEAN_MONTH_CHANGE_MAX``."""
        return self.meter_months.filter(pl.col("change") > CLEAN_MONTH_CHANGE_MAX).height


def _table(warehouse: Warehouse, name: str) -> pl.DataFrame:
    """A silver table, or an empty one with its schema when nothing was written."""
    try:
        return warehouse.scan(name).collect()
    except FileNotFoundError:
        return pl.DataFrame(schema=schema_of(name).polars)


def clean_vee_readings(path: Path, *, days: int | None = None,
                       settings: Settings | None = None,
                       root: Path | None = None) -> CleanEvaluation:
    """Run ingest + VEE on a real readings file as delivered, and measure what VEE did.

    The file's rows of the last ``days`` complete local days (None: all) go unchanged into
    one landing readings file, with no meters file and no registers. Measured: rejected
    intervals (silver quarantine), the change of each meter-month's delivered energy,
    estimates against the intervals the file lacks, and every rule's findings per 1,000
    meter-days.
    """
    path = Path(path)
    with workspace(root, settings) as (folder, run):
        raw, rows, window = read_real_window(path, days=days, settings=run,
                                             required_minutes=None)
        stem = f"readings_{window.first_day.isoformat()}_{window.last_day.isoformat()}"
        landing = folder / "landing"
        landing.mkdir(parents=True, exist_ok=True)
        if path.name.lower().endswith(".parquet"):
            raw.write_parquet(landing / f"{stem}.parquet")
        else:
            raw.write_csv(landing / f"{stem}.csv")
        run_vee(run)
        return _measure_clean(Warehouse.at(run.warehouse), rows, window, settings=run)


def _measure_clean(warehouse: Warehouse, rows: pl.DataFrame, window: DataWindow, *,
                   settings: Settings) -> CleanEvaluation:
    """Compare silver with the delivered rows (see :func:`clean_vee_readings`)."""
    silver = _table(warehouse, "readings").select("meter_id", "interval_end", "kwh_import",
                                                  "quality")
    quarantine = _table(warehouse, "quarantine")
    findings = _table(warehouse, "findings")
    keys = ["meter_id", "interval_end"]
    delivered = rows.unique(keys, keep="first", maintain_order=True).select(
        *keys, pl.col("kwh_import").alias("delivered_kwh"))
    month = local_day("interval_end", settings).str.slice(0, 7).alias("month")
    sums = delivered.join(silver.select(*keys, pl.col("kwh_import").alias("silver_kwh")),
                          on=keys, how="left").group_by("meter_id", month).agg(
        pl.col("delivered_kwh").sum(), pl.col("silver_kwh").sum())
    difference = (pl.col("silver_kwh") - pl.col("delivered_kwh")).abs()
    meter_months = sums.with_columns(
        pl.when(pl.col("delivered_kwh") > 0).then(difference / pl.col("delivered_kwh"))
        .when(difference < 1e-6).then(0.0).otherwise(math.inf).alias("change"),
    ).sort("meter_id", "month")
    step = window.interval_minutes
    on_grid = delivered.filter(pl.col("interval_end").dt.epoch("s") // 60 % step == 0).height
    grid = window.meters * sum(len(day_ends(window.first_day + timedelta(days=d), step,
                                            settings.tz)) for d in range(window.days))
    estimated = silver.filter(pl.col("quality") == Quality.ESTIMATED)
    estimated_delivered = estimated.join(delivered, on=keys, how="semi").height
    meter_days = window.meters * window.days
    per_rule = findings.with_columns(local_day("first_interval_end", settings).alias("_day")) \
        .group_by("rule").agg(
            pl.len().alias("findings"),
            pl.struct("node_id", "_day").n_unique().alias("meter_days"),
            pl.col("n_intervals").cast(pl.Int64).sum().alias("intervals")) \
        .with_columns((pl.col("findings") * 1000 / meter_days).alias("per_1000_meter_days")) \
        .sort(["findings", "rule"], descending=[True, False])
    return CleanEvaluation(
        window=window, delivered=rows.height, rejected=quarantine.height,
        rejected_by_rule=quarantine.group_by("rule").agg(pl.len().alias("rows")).sort("rule"),
        meter_months=meter_months, missing_in_file=grid - on_grid,
        estimated=estimated.height, estimated_missing=estimated.height - estimated_delivered,
        estimated_delivered=estimated_delivered,
        left_missing=silver.filter(pl.col("quality") == Quality.MISSING).height, rules=per_rule)
