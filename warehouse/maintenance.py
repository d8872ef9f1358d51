"""Audits and housekeeping: status, verify, compaction and retention of the warehouse.

* ``status`` — the catalog as a table: per partition its rows, time range, checksum,
  sources and when it was written; per bronze table its files, rows and bytes.
* ``verify`` — every data file against its catalog record (present, readable Parquet,
  same checksum and row count) and leftovers of interrupted writes.
* ``compact_bronze`` — merges the small files dlt writes per load into one. A journal
  (``_compacted/<id>.json`` beside the files) is written first and the merged file is
  switched in atomically before the inputs are deleted; readers (``bronze_parts``) skip
  inputs whose merged file exists, so a crash at any step neither loses nor doubles rows.
* ``retain_bronze`` — retires landing files whose days all lie before a cutoff (their
  silver and gold stay; they are no longer rebuilt) and deletes bronze files that hold no
  current row any more (retired, or superseded by a corrected re-delivery).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.catalog import META_NAME, PartitionMeta, file_checksum, put_text, read_meta
from warehouse.layout import DATA_FILE, TABLE_LAYERS, Warehouse
from warehouse.schemas import TABLES
from warehouse.state import read_manifest, write_manifest
from warehouse.writer import write_atomic

#: Bronze files below this size are merged by ``compact_bronze`` [bytes].
SMALL_FILE_BYTES = 64 * 1024 * 1024
#: A merged bronze file grows up to about this size [bytes].
COMPACTED_FILE_BYTES = 512 * 1024 * 1024
#: Bronze datasets whose rows are selected through the ingest manifest (retention).
MANIFEST_DATASETS = ("filedrop", "hes_api")


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found wrong, with what to do about it."""

    path: str
    problem: str
    fix: str


def _rel(warehouse: Warehouse, path: str) -> str:
    return path.removeprefix(warehouse.root).lstrip("/")


def _bronze_tables(warehouse: Warehouse) -> list[tuple[str, str]]:
    """(dataset, table) of every bronze data table (dlt's own tables left out)."""
    found = set()
    for part in warehouse.glob(f"{warehouse.bronze}/*/*/*.parquet"):
        dataset, table = part.rsplit("/", 3)[-3:-1]
        if not table.startswith("_dlt"):
            found.add((dataset, table))
    return sorted(found)


def status(warehouse: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The catalog: silver and gold partitions, and bronze tables with their files."""
    rows = []
    for layer in sorted(set(TABLE_LAYERS.values())):
        for path in warehouse.glob(warehouse.path(layer, "**", META_NAME)):
            meta = read_meta(warehouse, path.rsplit("/", 1)[0])
            if meta is None:
                continue
            rows.append({
                "layer": layer, "table": meta.table,
                "partition": "/".join(f"{k}={v}" for k, v in meta.partition.items()),
                "rows": meta.rows, "time_min": meta.time_min, "time_max": meta.time_max,
                "checksum": meta.checksum[:12], "sources": len(meta.sources),
                "written_at": meta.written_at,
            })
    partitions = pl.DataFrame(rows, schema={
        "layer": pl.String, "table": pl.String, "partition": pl.String, "rows": pl.Int64,
        "time_min": pl.String, "time_max": pl.String, "checksum": pl.String,
        "sources": pl.Int64, "written_at": pl.String}).sort("layer", "table", "partition")
    bronze = []
    for dataset, table in _bronze_tables(warehouse):
        parts = warehouse.bronze_parts(dataset, table)
        bronze.append({"dataset": dataset, "table": table, "files": len(parts),
                       "rows": sum(_footer(warehouse, p).num_rows for p in parts),
                       "bytes": sum(int(warehouse.fs.size(p)) for p in parts)})
    tables = pl.DataFrame(bronze, schema={"dataset": pl.String, "table": pl.String,
                                          "files": pl.Int64, "rows": pl.Int64,
                                          "bytes": pl.Int64})
    return partitions, tables


def _footer(warehouse: Warehouse, path: str) -> pq.FileMetaData:
    with warehouse.fs.open(path, "rb") as handle:
        return pq.read_metadata(handle)


def verify(warehouse: Warehouse) -> list[Problem]:
    """Check every data file against the catalog; an empty list means all is well."""
    problems = []
    folders = set()
    for layer in sorted(set(TABLE_LAYERS.values())):
        for path in (warehouse.glob(warehouse.path(layer, "**", DATA_FILE))
                     + warehouse.glob(warehouse.path(layer, "**", META_NAME))):
            folders.add(path.rsplit("/", 1)[0])
        for path in warehouse.glob(warehouse.path(layer, "**", ".*.tmp")):
            problems.append(Problem(_rel(warehouse, path), "temporary file of an interrupted "
                                    "write (readers ignore it)", "delete the file"))
    rebuild = ("rebuild it: `ami ingest` (or the ami_vee / ami_losses DAGs) rewrites stale "
               "partitions; for a silver day, delete its folder and ingest again")
    for folder in sorted(folders):
        problems += _check_partition(warehouse, folder, rebuild)
    for dataset, table in _bronze_tables(warehouse):
        for part in warehouse.bronze_parts(dataset, table):
            try:
                _footer(warehouse, part)
            except (OSError, pa.ArrowInvalid) as exc:
                problems.append(Problem(_rel(warehouse, part),
                                        f"bronze file is not readable Parquet: {exc}",
                                        "restore it from backup or re-deliver its landing "
                                        "file (`ami ingest`)"))
    return problems


def _check_partition(  # noqa: PLR0911 - one return per finding reads best
        warehouse: Warehouse, folder: str, rebuild: str) -> list[Problem]:
    data = f"{folder}/{DATA_FILE}"
    rel = _rel(warehouse, data)
    try:
        meta: PartitionMeta | None = read_meta(warehouse, folder)
    except (ValueError, TypeError) as exc:
        return [Problem(_rel(warehouse, f"{folder}/{META_NAME}"),
                        f"catalog record is not readable: {exc}", rebuild)]
    if not warehouse.exists(data):
        return [Problem(rel, "catalog record without its data file", rebuild)]
    if meta is None:
        return [Problem(rel, "data file without a catalog record", rebuild)]
    try:
        rows = _footer(warehouse, data).num_rows
    except (OSError, pa.ArrowInvalid) as exc:
        return [Problem(rel, f"not a readable Parquet file ({exc})", rebuild)]
    if file_checksum(warehouse, data) != meta.checksum:
        return [Problem(rel, "content differs from the catalog's checksum (changed outside "
                        "the warehouse package, or a write was cut short)", rebuild)]
    if rows != meta.rows:
        return [Problem(rel, f"{rows} rows, the catalog says {meta.rows}", rebuild)]
    current = TABLES[meta.table].version if meta.table in TABLES else meta.schema_version
    if meta.schema_version < current:
        return [Problem(rel, f"written with schema version {meta.schema_version}, the table "
                             f"is at version {current}", "run `ami warehouse migrate`")]
    return []


@dataclass(frozen=True)
class Compaction:
    """One merge of small bronze files."""

    dataset: str
    table: str
    inputs: int
    rows: int
    output: str


def compact_bronze(warehouse: Warehouse, *, dry_run: bool = False,
                   small_bytes: int = SMALL_FILE_BYTES) -> list[Compaction]:
    """Merge the small files of every bronze table (see the module docstring)."""
    done = []
    for dataset, table in _bronze_tables(warehouse):
        small = [p for p in warehouse.bronze_parts(dataset, table)
                 if int(warehouse.fs.size(p)) < small_bytes]
        for group in _groups(warehouse, small):
            names = [p.rsplit("/", 1)[-1] for p in group]
            digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
            output = f"compacted-{digest}.parquet"
            rows = sum(_footer(warehouse, p).num_rows for p in group)
            done.append(Compaction(dataset, table, len(group), rows, output))
            if dry_run:
                continue
            folder = group[0].rsplit("/", 1)[0]
            journal = {"output": output, "inputs": names, "rows": rows,
                       "at": datetime.now(UTC).isoformat()}
            put_text(warehouse, f"{folder}/_compacted/{digest}.json", json.dumps(journal))
            merged = pa.concat_tables([_read(warehouse, p) for p in group],
                                      promote_options="default")
            if merged.num_rows != rows:  # pragma: no cover - a reader fault
                raise RuntimeError(f"compaction of {folder} read {merged.num_rows} rows, "
                                   f"the files hold {rows}")
            write_atomic(warehouse, f"{folder}/{output}", _table_writer(merged))
            for path in group:
                warehouse.fs.rm_file(path)
    return done


def _table_writer(table: pa.Table) -> Callable[[Path], None]:
    return lambda path: pq.write_table(table, path, compression="zstd")


def _groups(warehouse: Warehouse, small: list[str]) -> list[list[str]]:
    """Consecutive small files in groups of about ``COMPACTED_FILE_BYTES`` (≥ 2 each)."""
    groups: list[list[str]] = [[]]
    size = 0
    for path in small:
        if size >= COMPACTED_FILE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += int(warehouse.fs.size(path))
    return [g for g in groups if len(g) >= 2]


def _read(warehouse: Warehouse, path: str) -> pa.Table:
    with warehouse.fs.open(path, "rb") as handle:
        return pq.read_table(handle)


@dataclass(frozen=True)
class Retention:
    """What ``retain_bronze`` did (or would do)."""

    retired_entries: list[str]
    deleted_files: list[str]
    deleted_rows: int
    freed_bytes: int


def retain_bronze(warehouse: Warehouse, *, before: date, dry_run: bool = False) -> Retention:
    """Retire landing deliveries older than ``before``; delete bronze nobody reads.

    A delivery (landing file or API load) is retired when every local day it touches is
    before ``before``: VEE no longer rebuilds those days (their silver and gold stay).
    A bronze file is deleted when none of its rows belongs to a current delivery.
    """
    manifest = read_manifest(warehouse)
    cutoff = before.isoformat()
    retired = [name for name, entry in manifest.items()
               if entry.loaded and entry.dates and max(entry.dates) < cutoff]
    now = datetime.now(UTC).isoformat()
    for name in retired:
        manifest[name] = manifest[name].retired(now)
    current = {(name, str(e.load_id)) for name, e in manifest.items() if e.loaded}
    current_loads = {str(e.load_id) for e in manifest.values() if e.loaded}
    deleted, rows, freed = [], 0, 0
    for dataset, table in _bronze_tables(warehouse):
        if dataset not in MANIFEST_DATASETS:
            continue
        for part in warehouse.bronze_parts(dataset, table):
            if _holds_current(warehouse, part, dataset, current, current_loads):
                continue
            deleted.append(_rel(warehouse, part))
            rows += _footer(warehouse, part).num_rows
            freed += int(warehouse.fs.size(part))
    if not dry_run:
        write_manifest(warehouse, manifest)  # retire first: readers stop at once
        for path in deleted:
            warehouse.fs.rm_file(warehouse.path(path))
    return Retention(retired, deleted, rows, freed)


def _holds_current(warehouse: Warehouse, part: str, dataset: str,
                   current: set[tuple[str, str]], current_loads: set[str]) -> bool:
    """Whether a bronze file holds a row of a current delivery."""
    lineage = warehouse.scan_files([part]).select(
        pl.col("_file").cast(pl.String) if dataset == "filedrop" else pl.lit(""),
        pl.col("_dlt_load_id").cast(pl.String)).unique().collect()
    if dataset == "filedrop":
        return any((f, load) in current for f, load in lineage.iter_rows())
    return any(load in current_loads for _, load in lineage.iter_rows())
