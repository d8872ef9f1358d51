"""Run the anomaly scorer on files (the CLI contract) or on the warehouse (the DAG)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ami.errors import InputError, NoDataError
from ami.settings import Settings
from models.anomaly.scorer import score_meters
from quality.meters import parse_meters
from quality.parse import instant, number, read_table
from warehouse import Warehouse, write_table

#: Days of history the daily scoring reads from silver.
HISTORY_DAYS = 90


def _readings_from_file(path: Path, settings: Settings) -> pl.LazyFrame:
    """Canonical readings from a CSV or Parquet file, typed; bad rows named in the error.

    ``interval_end`` is an ISO 8601 instant; one written without a zone (as many public
    data sets are) is read as local time (``settings.timezone``).
    """
    frame = read_table(path)
    for column in ("meter_id", "interval_end", "kwh_import"):
        if column not in frame.columns:
            raise InputError(
                f"missing column {column!r}",
                file=str(path),
                row=1,
                column=column,
                fix="give canonical readings: meter_id, interval_end, kwh_import "
                "(+ interval_minutes, kwh_export)",
            )
    if frame.schema["interval_end"] == pl.String:
        naive = (
            pl.col("interval_end").str.strip_chars()
            .str.to_datetime(time_unit="us", strict=False)
            .dt.replace_time_zone(settings.timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
        )
        typed = frame.with_columns(pl.coalesce(instant("interval_end"), naive))
        bad = typed.with_row_index("_i").filter(
            pl.col("interval_end").is_null() & frame["interval_end"].is_not_null()
        )
        if bad.height:
            raise InputError(
                "interval_end is not an ISO 8601 instant with zone",
                file=str(path),
                row=int(bad["_i"][0]) + 1,
                column="interval_end",
                fix="write e.g. 2026-10-01T17:30:00Z (or 2026-10-02 00:30:00 in local time)",
            )
        frame = typed
    text = {
        c
        for c in ("kwh_import", "kwh_export", "interval_minutes")
        if c in frame.columns and frame.schema[c] == pl.String
    }
    frame = frame.with_columns(number(c) for c in text)
    if "interval_minutes" not in frame.columns:
        # Regular series: the interval is the most common step between a meter's readings.
        step = (
            frame.sort("meter_id", "interval_end")
            .select(
                pl.col("interval_end").diff().over("meter_id").dt.total_minutes().mode().first()
            )
            .item()
        )
        frame = frame.with_columns(pl.lit(step or 30).alias("interval_minutes"))
    if "kwh_export" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("kwh_export"))
    if "quality" not in frame.columns:
        frame = frame.with_columns(pl.lit("measured").alias("quality"))
    end_type = frame.schema["interval_end"]
    if isinstance(end_type, pl.Datetime) and end_type.time_zone is None:
        frame = frame.with_columns(
            pl.col("interval_end").dt.replace_time_zone(settings.timezone, ambiguous="earliest")
        )
    return frame.lazy().with_columns(
        pl.col("interval_minutes").cast(pl.Int32),
        pl.col("interval_end").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
    )


def score_files(
    readings: Path, meters: Path | None, labels: Path | None, *, settings: Settings
) -> pl.DataFrame:
    """``ami anomalies score``: read the files, return one scored row per meter."""
    lazy = _readings_from_file(readings, settings)
    meter_frame = None
    if meters is not None:
        raw = read_table(meters)
        raw = raw.with_columns(pl.all().cast(pl.String)).with_columns(
            pl.lit(str(meters)).alias("_file"), pl.int_range(1, pl.len() + 1).alias("_row")
        )
        meter_frame = parse_meters(raw)
    label_frame = read_table(labels) if labels is not None else None
    return score_meters(lazy, meter_frame, label_frame, settings=settings)


def score_warehouse(*, settings: Settings) -> int:
    """Score every customer meter on the latest silver data; returns the meter count."""
    warehouse = Warehouse.at(settings.warehouse)
    days = warehouse.partitions("readings", "date")
    if not days:
        raise NoDataError("no silver readings to score", fix="run ingestion first")
    window = days[-HISTORY_DAYS:]
    readings = warehouse.scan("readings").filter(pl.col("date").is_in(window)).drop("date")
    meters = warehouse.scan("meters").collect()
    scored = score_meters(readings, meters, None, settings=settings)
    write_table(
        scored,
        "anomaly_scores",
        warehouse=warehouse,
        sort_by=("rank",),
        sources={"days": f"{window[0]}..{window[-1]}"},
    )
    return scored.height
