"""Paths of the warehouse layers and tables (local paths for now; URLs in a later issue)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ami.errors import ConfigError

#: Layer of every table the project writes; the folder under the warehouse root.
TABLE_LAYERS: dict[str, str] = {
    "readings": "silver",
    "registers": "silver",
    "events": "silver",
    "meters": "silver",
    "quarantine": "silver",
    "findings": "silver",
    "quality_day": "silver",
    "edits": "silver",
    "edit_log": "silver",
    "meter_day": "gold",
    "balance_day": "gold",
    "balance_month": "gold",
    "anomaly_scores": "gold",
}

#: Hive partition keys of each partitioned table, outermost first (kept as strings).
PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    "readings": ("date",),
    "registers": ("date",),
    "events": ("date",),
    "quarantine": ("date",),
    "findings": ("date",),
    "quality_day": ("date",),
    "edit_log": ("date",),
    "meter_day": ("date",),
    "balance_day": ("date",),
    "balance_month": ("month",),
}


@dataclass(frozen=True)
class Warehouse:
    """The warehouse rooted at ``root`` (a local folder)."""

    root: Path

    @classmethod
    def at(cls, location: str | Path) -> Warehouse:
        """Open the warehouse at a location; only local paths are supported for now."""
        text = str(location)
        if "://" in text and not text.startswith("file://"):
            raise ConfigError(
                f"warehouse location {text!r} is not a local path",
                fix="set AMI_WAREHOUSE to a local folder (object storage comes with issue 5)",
            )
        return cls(Path(text.removeprefix("file://")))

    @property
    def bronze(self) -> Path:
        """Root of the bronze layer (written by dlt, as received)."""
        return self.root / "bronze"

    @property
    def state(self) -> Path:
        """Small bookkeeping files: ingest manifests, dlt working folders."""
        return self.root / "_state"

    def table_dir(self, table: str) -> Path:
        """Folder of a silver or gold table."""
        try:
            layer = TABLE_LAYERS[table]
        except KeyError:
            known = ", ".join(sorted(TABLE_LAYERS))
            raise ConfigError(f"unknown table {table!r}", fix=f"use one of: {known}") from None
        return self.root / layer / table

    def partition_dir(self, table: str, partition: dict[str, str] | None = None) -> Path:
        """Folder of one Hive-style partition, e.g. ``silver/readings/date=2026-10-01``."""
        path = self.table_dir(table)
        for key, value in (partition or {}).items():
            path = path / f"{key}={value}"
        return path

    def partitions(self, table: str, key: str) -> list[str]:
        """Values of the first partition key that hold a data file, sorted."""
        base = self.table_dir(table)
        if not base.exists():
            return []
        return sorted(
            p.name.split("=", 1)[1]
            for p in base.glob(f"{key}=*")
            if (p / "part-0.parquet").exists()
        )

    def scan(self, table: str, **where: str) -> pl.LazyFrame:
        """Lazy scan of a table, Hive partition columns included, filtered to ``where``."""
        base = self.table_dir(table)
        if not any(base.rglob("part-0.parquet")):
            raise FileNotFoundError(base)
        frame = pl.scan_parquet(
            str(base / "**" / "part-0.parquet"),
            hive_partitioning=True,
            hive_schema=dict.fromkeys(PARTITION_KEYS.get(table, ()), pl.String),
        )
        for key, value in where.items():
            frame = frame.filter(pl.col(key) == value)
        return frame
