"""Schema migrations: the steps that rewrite partitions written under an older schema.

Each table's schema has a ``version`` (``warehouse.schemas``) and every catalog record
says which version its partition was written with. To change a schema, raise the
version and register the step from the old version here, e.g.::

    def _meter_day_net(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns((pl.col("kwh_import") - pl.col("kwh_export"))
                                  .alias("kwh_net"))

    MIGRATIONS[("meter_day", 1)] = _meter_day_net   # version 1 → 2

``ami warehouse migrate`` rewrites every older partition through the steps (atomically,
keeping its sources); ``ami warehouse verify`` reports partitions still behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from warehouse.catalog import META_NAME, read_meta
from warehouse.layout import Warehouse
from warehouse.schemas import TABLES, SchemaError
from warehouse.writer import write_partition

Migration = Callable[[pl.DataFrame], pl.DataFrame]

def _balances_v2(frame: pl.DataFrame) -> pl.DataFrame:
    """Balances 1 → 2: the technical method, non-technical loss and flags columns.

    Version 1 had no technical loss (always empty), so the method is unknown and the
    non-technical part is empty too; ``ami ingest`` rebuilds days with both.
    """
    return frame.with_columns(
        pl.lit(None, pl.String).alias("technical_method"),
        (pl.col("loss_kwh") - pl.col("technical_loss_kwh")).alias("non_technical_kwh"),
        pl.lit("", pl.String).alias("flags"))


def _balances_v3(frame: pl.DataFrame) -> pl.DataFrame:
    """Balances 2 → 3 (balance_interval 1 → 2): what the energy-weighted share is made of.

    The missing readings and the measured energy of a balance written before are unknown:
    both stay empty, and its ``measured_share`` and ``reliable`` stay as written (a share
    of intervals) until the day is rebuilt. Every gold day records the figures' definitions
    version among its sources (``models.figures.DEFINITIONS_VERSION``), so the next ``ami
    ingest`` (or ``ami_losses`` run) rebuilds each such day and its month from silver.
    """
    return frame.with_columns(pl.lit(None, pl.Int64).alias("n_missing"),
                              pl.lit(None, pl.Float64).alias("measured_kwh"))


def _anomaly_scores_v2(frame: pl.DataFrame) -> pl.DataFrame:
    """Anomaly scores 1 → 2: the VND value and the model; the next scoring fills both."""
    return frame.with_columns(
        pl.lit(None, pl.Float64).alias("est_unbilled_vnd_month"),
        pl.lit("unsupervised", pl.String).alias("model"))


def _anomaly_scores_v3(frame: pl.DataFrame) -> pl.DataFrame:
    """Anomaly scores 2 → 3: the change day; the next scoring fills it."""
    return frame.with_columns(pl.lit(None, pl.Date).alias("change_day"))


def _inspections_v2(frame: pl.DataFrame) -> pl.DataFrame:
    """Inspections 1 → 2: who recorded a row in the app, and the photo reference.

    Rows recorded before came from files or the command line: neither is known.
    """
    return frame.with_columns(pl.lit(None, pl.String).alias(c)
                              for c in ("recorded_by", "photo_ref"))


def _quality_day_v2(frame: pl.DataFrame) -> pl.DataFrame:
    """Quality day 1 → 2: base load (25th percentile) and largest interval of each meter.

    Unknown until the day is rebuilt: the multiplier check then judges the meter by its
    energy alone, and a high value without register is flagged as if it had no history.
    """
    return frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("kwh_p25", "kwh_max"))


#: (table, from_version) → the step to from_version + 1.
def _meters_v2(frame: pl.DataFrame) -> pl.DataFrame:
    """Meters 1 → 2: customer-system tags (none known until the meters are reloaded)."""
    return frame.with_columns(pl.lit(None, pl.String).alias("tags"))


MIGRATIONS: dict[tuple[str, int], Migration] = {
    ("meters", 1): _meters_v2,
    ("quality_day", 1): _quality_day_v2,
    ("balance_day", 1): _balances_v2,
    ("balance_month", 1): _balances_v2,
    ("balance_interval", 1): _balances_v3,
    ("balance_day", 2): _balances_v3,
    ("balance_month", 2): _balances_v3,
    ("anomaly_scores", 1): _anomaly_scores_v2,
    ("anomaly_scores", 2): _anomaly_scores_v3,
    ("inspections", 1): _inspections_v2,
}


@dataclass(frozen=True)
class Outdated:
    """A partition written under an older schema version."""

    table: str
    partition: dict[str, str]
    version: int
    current: int


def outdated(warehouse: Warehouse) -> list[Outdated]:
    """Partitions whose catalog records an older schema version than the table's."""
    found = []
    for path in warehouse.glob(warehouse.path("*", "**", META_NAME)):
        meta = read_meta(warehouse, path.rsplit("/", 1)[0])
        if meta is None or meta.table not in TABLES:
            continue
        current = TABLES[meta.table].version
        if meta.schema_version < current:
            found.append(Outdated(meta.table, meta.partition, meta.schema_version, current))
    return found


def migrate(warehouse: Warehouse, *, dry_run: bool = False) -> list[Outdated]:
    """Rewrite every outdated partition through its migration steps; what was migrated."""
    todo = outdated(warehouse)
    for item in todo:
        steps = []
        for version in range(item.version, item.current):
            step = MIGRATIONS.get((item.table, version))
            if step is None:
                raise SchemaError(
                    f"no migration of table {item.table} from schema version {version} to "
                    f"{version + 1}", fix="add the step to warehouse/migrations.py")
            steps.append(step)
        if dry_run:
            continue
        meta = read_meta(warehouse, warehouse.partition_dir(item.table, item.partition))
        frame = warehouse.read(item.table, item.partition)
        for step in steps:
            frame = step(frame)
        write_partition(frame, item.table, item.partition, warehouse=warehouse,
                        sources=meta.sources if meta else {})
    return todo
