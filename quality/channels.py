"""Registers and events of one local day, typed from bronze: silver ``registers``, ``events``.

VEE writes them beside the day's readings; the rules read them here, every later layer
from silver (the anomaly evidence: ``models.anomaly.channels``).

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
from warehouse.schemas import schema_of
from warehouse.state import Manifest

EVENTS_SCHEMA = schema_of("events").polars
REGISTERS_SCHEMA = schema_of("registers").polars


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


def day_registers(warehouse: Warehouse, manifest: Manifest, day: str,
                  start: datetime, end: datetime) -> pl.DataFrame:
    """The register reads bounding the day and inside it, typed: silver ``registers``.

    ``read_at`` from the midnight that starts the day up to and including the one that
    ends it (both are the day's delta). A read delivered twice counts once: the latest
    delivery wins (it is sorted last). Rows whose instant does not parse stay in bronze.
    """
    raw = _rows(warehouse, manifest, "registers", _register_days(day))
    if raw is None:
        return pl.DataFrame(schema=REGISTERS_SCHEMA)
    return raw.select(
        pl.col("meter_id").str.strip_chars(), instant("read_at").alias("read_at"),
        number("register_kwh_import").alias("register_kwh_import"),
        number(optional(raw, "register_kwh_export")).alias("register_kwh_export"),
    ).filter(pl.col("read_at").is_between(start, end) & pl.col("meter_id").is_not_null()
             & (pl.col("meter_id") != "")
             ).unique(["meter_id", "read_at"], keep="last", maintain_order=True).sort(
        "meter_id", "read_at").cast(REGISTERS_SCHEMA)  # type: ignore[arg-type]


def register_deltas(reads: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """meter_id → register_delta_kwh of the day: the import read at ``end`` minus ``start``."""
    known = reads.filter(pl.col("register_kwh_import").is_not_null())
    first = known.filter(pl.col("read_at") == start).select(
        "meter_id", pl.col("register_kwh_import").alias("a"))
    last = known.filter(pl.col("read_at") == end).select(
        "meter_id", pl.col("register_kwh_import").alias("b"))
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
    if raw is None:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    code = optional(raw, "event_code")
    return raw.select(
        pl.col("meter_id").str.strip_chars(), instant("event_at").alias("event_at"),
        normalise_event_code(code).alias("event_code"),
        event_category(code).alias("category"),
    ).filter((pl.col("event_at") >= start) & (pl.col("event_at") < end)
             & pl.col("meter_id").is_not_null() & (pl.col("meter_id") != "")
             ).unique().sort("meter_id", "event_at")


def event_sources(manifest: Manifest, day: str) -> dict[str, str]:
    """The event files of a day (name → load id)."""
    return {f"events:{n}": load for n, load in current_files(manifest, "events", day).items()}
