"""Which bronze rows are current: the latest delivered version of each landing file."""

from __future__ import annotations

import polars as pl

from ami.errors import NoDataError
from warehouse import Warehouse
from warehouse.layout import FILEDROP_DATASET, HES_API_DATASET
from warehouse.state import Manifest


def current_files(manifest: Manifest, kind: str, date: str | None = None) -> dict[str, str]:
    """File name → load id of the current files of ``kind`` (touching ``date`` if given)."""
    return {
        name: str(entry.load_id)
        for name, entry in sorted(manifest.items())
        if entry.kind == kind and entry.loaded and (date is None or entry.touches(date))
    }


def scan_bronze(warehouse: Warehouse, kind: str, files: dict[str, str]) -> pl.LazyFrame:
    """Bronze rows of the current manifest entries ``files`` (name → load id).

    Entries are landing files (bronze ``filedrop``) or API loads (``hes_api/<load_id>``).
    Each row carries ``_entry``, the manifest entry it belongs to.
    """
    dropped = {n: load for n, load in files.items() if not n.startswith(f"{HES_API_DATASET}/")}
    loads = {n: load for n, load in files.items() if n.startswith(f"{HES_API_DATASET}/")}
    frames = []
    if dropped:
        frames.append(_scan_files(warehouse, kind, dropped))
    if loads:
        frames.append(_scan_loads(warehouse, kind, loads))
    if not frames:
        raise NoDataError(f"no bronze {kind} rows to read",
                          fix="run `ami ingest --landing FOLDER` (or `ami demo`) first")
    return pl.concat(frames, how="diagonal_relaxed")


def _parts(warehouse: Warehouse, dataset: str, kind: str) -> list[str]:
    """Parquet files of one bronze table; a clear error when there are none."""
    parts = warehouse.bronze_parts(dataset, kind)
    if not parts:
        raise NoDataError(f"no bronze {kind} rows to read in {warehouse.bronze}/{dataset}",
                          fix="run `ami ingest --landing FOLDER` (or `ami demo`) first")
    return parts


def _text_lineage(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Lineage columns as categoricals: a few distinct values over millions of rows."""
    lineage = ("_source", "_profile", "_file", "_file_sha256", "_dlt_load_id")
    names = frame.collect_schema().names()
    return frame.with_columns(pl.col(c).cast(pl.String).cast(pl.Categorical)
                              for c in lineage if c in names)


def _scan_files(warehouse: Warehouse, kind: str, files: dict[str, str]) -> pl.LazyFrame:
    """Rows of the current version of each landing file."""
    wanted = pl.DataFrame(
        {"_file": list(files), "_dlt_load_id": list(files.values())},
        schema={"_file": pl.Categorical, "_dlt_load_id": pl.Categorical},
    ).lazy()
    # Files of one table may differ in optional columns; absent ones read as null.
    frame = warehouse.scan_files(_parts(warehouse, FILEDROP_DATASET, kind),
                                 missing_columns="insert")
    # The file filter prunes row groups by their statistics before the exact load match.
    frame = _text_lineage(frame.filter(pl.col("_file").is_in(list(files))))
    return frame.join(wanted, on=["_file", "_dlt_load_id"], how="semi").with_columns(
        pl.col("_file").alias("_entry"))


def _scan_loads(warehouse: Warehouse, kind: str, loads: dict[str, str]) -> pl.LazyFrame:
    """Rows of whole API loads."""
    frame = _text_lineage(warehouse.scan_files(_parts(warehouse, HES_API_DATASET, kind),
                                          missing_columns="insert"))
    return frame.filter(pl.col("_dlt_load_id").is_in(list(loads.values()))).with_columns(
        (pl.lit(f"{HES_API_DATASET}/") + pl.col("_dlt_load_id").cast(pl.String))
        .cast(pl.Categorical).alias("_entry"))
