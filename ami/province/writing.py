"""Files of the landing zone and the truth folder, written atomically and deterministically.

``write_frame`` writes any frame (csv, csv.gz without a timestamp, or parquet); the others
write the truth the pipeline never reads: true readings, the fault cells and days, the list
of injections and the label of each meter (``labels_frame``).
"""

from __future__ import annotations

import gzip
import io
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl


def write_frame(frame: pl.DataFrame, target: Path, file_format: str) -> None:
    """Write a landing or truth file atomically and deterministically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        if file_format == "parquet":
            frame.write_parquet(tmp, compression="zstd", statistics=True)
        else:
            buffer = io.BytesIO()
            frame.write_csv(buffer, float_precision=3, datetime_format="%Y-%m-%dT%H:%M:%SZ")
            if file_format == "csv.gz":
                with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                           filename="") as gz:
                    gz.write(buffer.getvalue())
            else:
                tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_true_readings(meter_ids: np.ndarray, ends: list[datetime], *,
                        true_import: np.ndarray, true_export: np.ndarray,
                        registered: np.ndarray, target: Path,
                        keep: np.ndarray | None = None) -> None:
    """What every customer meter truly used and what it registered, per interval [kWh].

    ``keep`` (meters × intervals) leaves out intervals whose truth is unknown.
    """
    per_day = len(ends)
    frame = pl.DataFrame({
        "meter_id": np.repeat(meter_ids, per_day),
        "interval_end": ends * len(meter_ids),
        "true_kwh_import": true_import.ravel(),
        "true_kwh_export": true_export.ravel(),
        "registered_kwh_import": registered.ravel(),
    })
    write_frame(frame if keep is None else frame.filter(pl.Series(keep.ravel())), target,
                "parquet")


def write_fault_truth(truth: Path, cells: list[tuple[str, datetime, str]],
                      days: list[tuple[str, date, str]]) -> None:
    """Which intervals and meter-days the meter faults touched (for the VEE evaluation)."""
    write_frame(pl.DataFrame(cells, schema={
        "meter_id": pl.String, "interval_end": pl.Datetime("us", "UTC"), "kind": pl.String},
        orient="row"), truth / "fault_cells.parquet", "parquet")
    write_frame(pl.DataFrame(days, schema={
        "meter_id": pl.String, "date": pl.Date, "kind": pl.String}, orient="row"),
        truth / "fault_days.parquet", "parquet")


def write_injections(truth: Path, rows: list[dict[str, object]]) -> None:
    """The truth list of injections: meter, category, kind, period (UTC), parameters."""
    write_frame(pl.DataFrame(rows, schema={
        "meter_id": pl.String, "category": pl.String, "kind": pl.String, "onset": pl.String,
        "end": pl.String, "params": pl.String}), truth / "injections.csv", "csv")


def labels_frame(meter_ids: np.ndarray, *, customer_group: Sequence[str] | np.ndarray,
                 transformer_id: np.ndarray, solar: np.ndarray,
                 marks: Mapping[int, tuple[str, str]]) -> pl.DataFrame:
    """Truth label per customer meter: ``clean`` or its (category, kind) from ``marks``."""
    n = len(meter_ids)
    labels = np.array(["clean"] * n, dtype=object)
    category = np.array(["clean"] * n, dtype=object)
    for i, (what, kind) in marks.items():
        labels[i], category[i] = kind, what
    return pl.DataFrame({
        "meter_id": meter_ids, "customer_group": customer_group,
        "transformer_id": transformer_id, "solar": solar,
        "category": category.astype(str), "label": labels.astype(str),
    })
