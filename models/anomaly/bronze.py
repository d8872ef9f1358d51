"""Meter events and register reads read from the warehouse's bronze landing rows.

The ingest stores the landing zone's ``events*`` / ``registers*`` files in bronze only;
``read_bronze_events`` and ``read_bronze_registers`` read the rows of the file versions the
ingest manifest names current, typed for ``events.event_signals`` and
``registers.register_signals``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import polars as pl

from ami.settings import Settings
from models.anomaly.inputs import kwh_column, local_zone, text_or_null, utc_or_null
from models.anomaly.readings import local_midnight
from quality.sources import current_files
from warehouse import Warehouse
from warehouse.layout import FILEDROP_DATASET, HES_API_DATASET
from warehouse.state import read_manifest

#: Landing-zone file kinds (``events*``, ``registers*``) whose rows land in bronze.
EVENTS_KIND = "events"
REGISTERS_KIND = "registers"


def read_bronze_events(
    warehouse: Warehouse,
    first_day: date,
    end_day: date,
    *,
    settings: Settings | None = None,
) -> pl.LazyFrame | None:
    """Events of the current landing ``events*`` files on local days first_day..end_day.

    Reads the bronze rows of the file versions the ingest manifest names current (a
    re-delivered file replaces its earlier version), one bronze file at a time so that
    files differing in optional columns combine. Returns ``meter_id``, ``event_at``
    [UTC], ``event_code`` (trimmed, as received); rows whose instant does not parse or
    that the reader marked malformed are left out (they stay in bronze). Exact duplicates
    are kept: ``event_signals`` counts them once. None when no current events file
    touches those days.
    """
    tz = local_zone(settings)

    def columns(schema: pl.Schema) -> list[pl.Expr]:
        return [
            text_or_null(schema, "meter_id"),
            utc_or_null(schema, "event_at", "bronze events"),
            text_or_null(schema, "event_code"),
        ]

    frame = _bronze_rows(warehouse, EVENTS_KIND, first_day, end_day, columns)
    if frame is None:
        return None
    start = local_midnight(first_day, tz)
    stop = local_midnight(end_day + timedelta(days=1), tz)
    return frame.filter(
        (pl.col("event_at") >= start) & (pl.col("event_at") < stop)
    ).drop_nulls(["meter_id", "event_at", "event_code"])


def read_bronze_registers(
    warehouse: Warehouse,
    first_day: date,
    end_day: date,
    *,
    settings: Settings | None = None,
) -> pl.LazyFrame | None:
    """Register reads of the current landing ``registers*`` files bracketing the local days.

    The reads from local ``first_day`` 00:00 up to and including the midnight that closes
    ``end_day`` (the read that ends the last day), so every day has its two bounding
    reads. Same current-version rule as ``read_bronze_events``. Returns ``meter_id``,
    ``read_at`` [UTC], ``register_kwh_import`` and ``register_kwh_export`` [kWh,
    cumulative; null when absent or not a number]; rows whose instant does not parse are
    left out. Duplicates are kept: ``register_signals`` averages them. None when no current
    registers file touches those days.
    """
    tz = local_zone(settings)

    def columns(schema: pl.Schema) -> list[pl.Expr]:
        return [
            text_or_null(schema, "meter_id"),
            utc_or_null(schema, "read_at", "bronze register reads"),
            *[
                kwh_column(name, schema[name], "bronze register reads")
                if name in schema
                else pl.lit(None, pl.Float64).alias(name)
                for name in ("register_kwh_import", "register_kwh_export")
            ],
        ]

    # The read closing end_day falls on the next local date.
    frame = _bronze_rows(
        warehouse, REGISTERS_KIND, first_day, end_day + timedelta(days=1), columns
    )
    if frame is None:
        return None
    start = local_midnight(first_day, tz)
    stop = local_midnight(end_day + timedelta(days=1), tz)
    return frame.filter(pl.col("read_at").is_between(start, stop)).drop_nulls(
        ["meter_id", "read_at"]
    )


def _bronze_rows(
    warehouse: Warehouse,
    kind: str,
    first_day: date,
    last_day: date,
    columns: Callable[[pl.Schema], list[pl.Expr]],
) -> pl.LazyFrame | None:
    """Typed rows of the current filedrop files of ``kind`` touching the local days.

    ``columns`` types one bronze file's columns from its schema; the per-file frames then
    share one schema and are concatenated (a multi-file scan would refuse files that
    differ in optional columns).
    """
    manifest = read_manifest(warehouse)
    days = {
        (first_day + timedelta(days=d)).isoformat()
        for d in range((last_day - first_day).days + 1)
    }
    # API loads (hes_api/<load id>) live in another bronze dataset; the head-end API
    # delivers readings only.
    files = {
        name: load
        for name, load in current_files(manifest, kind).items()
        if not name.startswith(f"{HES_API_DATASET}/")
        and days.intersection(manifest[name].dates)
    }
    if not files:
        return None
    wanted = pl.LazyFrame(
        {"_file": list(files), "_dlt_load_id": list(files.values())},
        schema={"_file": pl.String, "_dlt_load_id": pl.String},
    )
    frames = []
    for part in warehouse.bronze_parts(FILEDROP_DATASET, kind):
        scan = warehouse.scan_files([part])
        schema = scan.collect_schema()
        if "_file" not in schema or "_dlt_load_id" not in schema:
            continue
        rows = (
            scan.with_columns(pl.col("_file", "_dlt_load_id").cast(pl.String))
            .filter(pl.col("_file").is_in(list(files)))
            .join(wanted, on=["_file", "_dlt_load_id"], how="semi")
        )
        if "_invalid" in schema:
            rows = rows.filter(pl.col("_invalid").is_null())
        frames.append(rows.select(columns(schema)))
    if not frames:
        return None
    return pl.concat(frames, how="vertical")
