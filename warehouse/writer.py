"""Atomic, idempotent partition writes.

A partition is one Parquet file, ``part-0.parquet``, replaced whole: the new content is
written beside it under a temporary name and switched in with ``os.replace`` (atomic on
POSIX), so a crash leaves the previous version readable. The same frame always yields
the same bytes (fixed compression, sorted rows, no timestamps inside the file).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from warehouse.catalog import PartitionMeta, file_checksum, write_meta
from warehouse.layout import Warehouse

#: Rows per Parquet row group: large enough for scans, small enough for per-meter reads.
ROW_GROUP_SIZE = 512 * 1024


def _atomic_parquet(frame: pl.DataFrame, target: Path) -> None:
    """Write ``frame`` to ``target`` via a temporary file and an atomic rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.write_parquet(
            tmp, compression="zstd", compression_level=3, statistics=True,
            row_group_size=ROW_GROUP_SIZE,
        )
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_partition(
    frame: pl.DataFrame,
    table: str,
    partition: dict[str, str],
    *,
    warehouse: Warehouse,
    sort_by: Iterable[str] = (),
    sources: dict[str, str] | None = None,
    time_column: str | None = None,
) -> PartitionMeta:
    """Replace one partition of ``table`` with ``frame`` and record it in the catalog.

    Args:
        frame: the partition's rows, without the partition columns.
        table: the table's name (see ``warehouse.layout.TABLE_LAYERS``).
        partition: Hive partition values, e.g. ``{"date": "2026-10-01"}``.
        sort_by: columns that order the rows (meter then time for per-meter reads).
        sources: what the partition was built from (load ids or upstream checksums), so
            that a changed source marks it stale.
        time_column: column whose min/max the catalog records.
        warehouse: where to write.

    """
    frame = frame.drop([key for key in partition if key in frame.columns])
    keys = list(sort_by)
    if keys:
        frame = frame.sort(keys, maintain_order=True)
    target = warehouse.partition_dir(table, partition) / "part-0.parquet"
    _atomic_parquet(frame, target)
    t_min = t_max = None
    if time_column and frame.height:
        t_min = str(frame[time_column].min())
        t_max = str(frame[time_column].max())
    meta = PartitionMeta(
        table=table,
        partition=dict(partition),
        rows=frame.height,
        checksum=file_checksum(target),
        time_min=t_min,
        time_max=t_max,
        sources=dict(sources or {}),
    )
    write_meta(target.parent, meta)
    return meta


def write_table(
    frame: pl.DataFrame,
    table: str,
    *,
    warehouse: Warehouse,
    sort_by: Iterable[str] = (),
    sources: dict[str, str] | None = None,
) -> PartitionMeta:
    """Replace an unpartitioned table (for example ``meters``) whole."""
    return write_partition(
        frame, table, {}, warehouse=warehouse, sort_by=sort_by, sources=sources
    )
