"""Write a table to CSV, Parquet or xlsx, chosen by the file's extension, atomically."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import polars as pl

from ami.errors import ConfigError

SUFFIXES = (".csv", ".parquet", ".xlsx")


def write_frame(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` (format by extension) via a temporary file."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"cannot write {path.name}: unknown extension {suffix or '(none)'}",
                          fix=f"name the output file with one of {', '.join(SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{suffix}")
    flat = frame.with_columns(
        pl.col(c).list.join("; ") for c, t in frame.schema.items() if t == pl.List(pl.String)
    )
    try:
        if suffix == ".csv":
            flat.write_csv(tmp)
        elif suffix == ".parquet":
            frame.write_parquet(tmp)
        else:
            flat.write_excel(tmp, autofit=True, freeze_panes=(1, 0))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
