"""Registers and events of one local day, typed from bronze, for the VEE rules.

A register read is the meter's cumulative energy at an instant; the day's register delta
(read at the local midnight ending the day minus the read at the one starting it) checks
the sum of the day's intervals and scales like-day estimates. Events (clock adjustments,
power off/on) explain shifted or zero intervals.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ami.instants import instant
from ami.vocabulary import event_category, normalise_event_code
from quality.days import shift_day
from quality.parse import number, optional
from quality.sources import current_files, scan_bronze
from warehouse import Warehouse
from warehouse.state import Manifest


def _rows(warehouse: Warehouse, manifest: Manifest, kind: str,
          days: list[str]) -> pl.DataFrame | None:
    """Bronze rows of the current files of ``kind`` touching any of ``days``."""
    files: dict[str, str] = {}
    for day in days:
        files.update(current_files(manifest, kind, day))
    if not files:
        return None
    return scan_bronze(warehouse, kind, files).collect()


def _register_days(day: str) -> list[str]:
    """Local dates of the two reads a day's delta needs: its own midnight and the next."""
    return [day, shift_day(day, 1)]


def register_sources(manifest: Manifest, day: str) -> dict[str, str]:
    """The register files a day's delta is read from (name → load id)."""
    files: dict[str, str] = {}
    for date in _register_days(day):
        files.update(current_files(manifest, "registers", date))
    return {f"registers:{name}": load for name, load in files.items()}


def register_deltas(warehouse: Warehouse, manifest: Manifest, day: str,
                    start: datetime, end: datetime) -> pl.DataFrame:
    """meter_id → register_delta_kwh for the day (reads exactly at both midnights)."""
    raw = _rows(warehouse, manifest, "registers", _register_days(day))
    schema: dict[str, pl.DataType] = {"meter_id": pl.String(),
                                      "register_delta_kwh": pl.Float64()}
    if raw is None:
        return pl.DataFrame(schema=schema)
    reads = raw.select(
        pl.col("meter_id").str.strip_chars(), instant("read_at").alias("read_at"),
        number("register_kwh_import").alias("reg"),
    ).filter(pl.col("read_at").is_in([start, end]) & pl.col("reg").is_not_null())
    # a read delivered twice counts once (the latest delivery wins, it is sorted last)
    reads = reads.unique(["meter_id", "read_at"], keep="last", maintain_order=True)
    first = reads.filter(pl.col("read_at") == start).select("meter_id", pl.col("reg").alias("a"))
    last = reads.filter(pl.col("read_at") == end).select("meter_id", pl.col("reg").alias("b"))
    return first.join(last, on="meter_id").select(
        "meter_id", (pl.col("b") - pl.col("a")).alias("register_delta_kwh"))


def day_events(warehouse: Warehouse, manifest: Manifest, day: str,
               start: datetime, end: datetime) -> pl.DataFrame:
    """The day's meter events: meter_id, event_at (UTC), event_code, category.

    ``event_code`` is normalised and ``category`` is its ``EventCategory`` (null: a code
    of no category), both by ``ami.vocabulary``: VEE and the anomaly evidence read a
    head-end's "Power Down" alike.
    """
    raw = _rows(warehouse, manifest, "events", [day])
    schema: dict[str, pl.DataType] = {"meter_id": pl.String(),
                                      "event_at": pl.Datetime("us", "UTC"),
                                      "event_code": pl.String(), "category": pl.String()}
    if raw is None:
        return pl.DataFrame(schema=schema)
    code = optional(raw, "event_code")
    return raw.select(
        pl.col("meter_id").str.strip_chars(), instant("event_at").alias("event_at"),
        normalise_event_code(code).alias("event_code"),
        event_category(code).alias("category"),
    ).filter((pl.col("event_at") >= start) & (pl.col("event_at") < end)).unique().sort(
        "meter_id", "event_at")


def event_sources(manifest: Manifest, day: str) -> dict[str, str]:
    """The event files of a day (name → load id)."""
    return {f"events:{n}": load for n, load in current_files(manifest, "events", day).items()}
