"""Which bronze rows are current: the latest delivered version of each landing file."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ami.errors import NoDataError
from pipelines.filedrop.settings import DATASET
from warehouse import Warehouse


def current_files(
    manifest: dict[str, dict[str, object]], kind: str, date: str | None = None
) -> dict[str, str]:
    """File name → load id of the current files of ``kind`` (touching ``date`` if given)."""
    return {
        name: str(entry["load_id"])
        for name, entry in sorted(manifest.items())
        if entry["kind"] == kind and entry.get("status", "loaded") == "loaded"
        and (date is None or date in entry.get("dates", []))  # type: ignore[operator]
    }


def scan_bronze(warehouse: Warehouse, kind: str, files: dict[str, str]) -> pl.LazyFrame:
    """Bronze rows of the current versions of ``files`` (name → load id)."""
    folder: Path = warehouse.bronze / DATASET / kind
    parts = sorted(folder.glob("*.parquet"))
    if not parts or not files:
        raise NoDataError(
            f"no bronze {kind} rows to read in {folder}",
            fix="run `ami ingest --landing FOLDER` (or `ami demo`) first",
        )
    wanted = pl.DataFrame(
        {"_file": list(files), "_dlt_load_id": list(files.values())},
        schema={"_file": pl.String, "_dlt_load_id": pl.String},
    ).lazy()
    # Files of one table may differ in optional columns; absent ones read as null.
    frame = pl.scan_parquet([str(p) for p in parts], missing_columns="insert")
    # The file filter prunes row groups by their statistics before the exact load match.
    frame = frame.filter(pl.col("_file").is_in(list(files)))
    lineage = ("_source", "_profile", "_file", "_file_sha256", "_dlt_load_id")
    names = frame.collect_schema().names()
    return frame.with_columns(pl.col(c).cast(pl.String) for c in lineage if c in names).join(
        wanted, on=["_file", "_dlt_load_id"], how="semi"
    )
