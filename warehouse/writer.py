"""Atomic, idempotent partition writes.

A partition is one Parquet file, ``part-0.parquet``, replaced whole: the new content is
written aside under a temporary name and switched in with ``os.replace`` (atomic on
POSIX), or put as one object on S3 (an object appears whole or not at all), so a crash
leaves the previous version readable. The catalog record follows the data; a crash
between the two leaves a record whose checksum no longer matches, which ``ami warehouse
verify`` reports and the next build repairs. The same frame always yields the same bytes
(fixed compression, sorted rows, no timestamps inside the file). Writers of one partition
take turns on a lock file; a writer kept waiting too long fails with a clear message.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl

from ami.errors import TransientError
from warehouse.catalog import PartitionMeta, aside, stream_checksum, switch, write_meta
from warehouse.layout import Warehouse
from warehouse.locks import exclusive
from warehouse.schemas import TABLES

#: How long a writer waits for another writer of the same partition [s].
LOCK_TIMEOUT_SECONDS = 600.0


def write_atomic(warehouse: Warehouse, target: str, write: Callable[[Path], None]) -> str:
    """Write a file with ``write(local_path)`` and switch it in as ``target`` atomically.

    Locally the file is written beside the target and renamed over it; on S3 it is put as
    one object. Returns the SHA-256 of the bytes written.
    """
    if warehouse.local:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = aside(path)
        try:
            write(tmp)
            checksum = _checksum(tmp)
            switch(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return checksum
    with tempfile.TemporaryDirectory(prefix="ami-part-") as folder:
        tmp = Path(folder) / "part"
        write(tmp)
        checksum = _checksum(tmp)
        warehouse.fs.put_file(str(tmp), target)
    return checksum


def _checksum(path: Path) -> str:
    with open(path, "rb") as handle:
        return stream_checksum(handle)


def _parquet_writer(frame: pl.DataFrame, row_group_size: int) -> Callable[[Path], None]:
    """Parquet with zstd and statistics, in row groups of ``row_group_size`` rows."""
    return lambda path: frame.write_parquet(path, compression="zstd", compression_level=3,
                                            statistics=True, row_group_size=row_group_size)


def write_partition(
    frame: pl.DataFrame,
    table: str,
    partition: dict[str, str],
    *,
    warehouse: Warehouse,
    sort_by: Iterable[str] = (),
    sources: dict[str, str] | None = None,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
) -> PartitionMeta:
    """Replace one partition of ``table`` with ``frame`` and record it in the catalog.

    Args:
        frame: the partition's rows, without the partition columns.
        table: the table's name (see ``warehouse.layout.TABLE_LAYERS``).
        partition: Hive partition values, e.g. ``{"date": "2026-10-01"}``.
        sort_by: columns that order the rows (meter then time for per-meter reads).
        sources: what the partition was built from (load ids or upstream checksums), so
            that a changed source marks it stale.
        warehouse: where to write.
        lock_timeout: how long to wait for another writer of the same partition [s].

    Raises:
        SchemaError: the frame does not fit the table's declared schema.
        TransientError: the storage refused the write (disk full, no permission, …) or
            another writer held the partition too long; the previous version is intact.

    """
    schema = TABLES[table]
    frame = schema.conform(frame.drop([key for key in partition if key in frame.columns]))
    keys = list(sort_by)
    if keys:
        frame = frame.sort(keys, maintain_order=True)
    folder = warehouse.partition_dir(table, partition)
    name = "/".join([table, *[f"{k}={v}" for k, v in partition.items()]]) or table
    lock = warehouse.work / "locks" / f"{name.replace('/', '__')}.lock"
    with exclusive(lock, f"writing {name}", timeout=lock_timeout):
        try:
            checksum = write_atomic(warehouse, warehouse.data_file(table, partition),
                                    _parquet_writer(frame, schema.row_group_rows))
        except (OSError, pl.exceptions.ComputeError) as exc:
            # (Polars reports a failing disk as a ComputeError naming the IO error)
            if not isinstance(exc, OSError) and "IO error" not in str(exc):
                raise
            reason = exc.strerror if isinstance(exc, OSError) else str(exc).rsplit(": ", 1)[-1]
            raise TransientError(
                f"could not write {name} to {folder}: {reason or exc}; the previous "
                "version of the partition is unchanged",
                fix="free space (or fix permissions) on the warehouse storage, then run "
                    "the same command again") from exc
        t_min = t_max = None
        if schema.time_column and frame.height:
            t_min = str(frame[schema.time_column].min())
            t_max = str(frame[schema.time_column].max())
        meta = PartitionMeta(table=table, partition=dict(partition), rows=frame.height,
                             checksum=checksum, time_min=t_min, time_max=t_max,
                             sources=dict(sources or {}), schema_version=schema.version)
        write_meta(warehouse, folder, meta)
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
