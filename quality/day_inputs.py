"""What one day's VEE reads besides its readings, and what it is built from.

``DayInputs.read`` gathers the meters valid that day, the history of earlier days
(``History``: ``quality_day`` of two weeks, further back for a multiplier jump that
lasts), the register reads and events of the day (``quality.channels``);
``readings_sources`` names every partition and file the day is built from, which the one
staleness rule (``warehouse.catalog.is_stale``) compares with the catalog.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ami.calendar import day_class
from ami.settings import Settings
from ami.vocabulary import Finding, Quality, Rule
from quality.channels import (
    day_events,
    day_registers,
    event_sources,
    register_deltas,
    register_sources,
)
from quality.days import day_bounds, shift_day
from quality.edits import edit_sources
from quality.meters import meters_valid_on
from quality.sources import current_files
from warehouse import (
    Warehouse,
    partition_meta,
    source,
    source_key,
)
from warehouse.schemas import schema_of
from warehouse.state import Manifest, read_manifest

QUALITY_DAY_SCHEMA = schema_of("quality_day").polars


#: Days of ``quality_day`` history the rules look back on (two of each weekday).
HISTORY_DAYS = 14


#: What a silver day holds; raised when VEE writes more (or other) tables, so that every
#: day is rebuilt once. v2: silver ``events`` and ``registers``.
OUTPUTS_VERSION = 2


#: Days a multiplier jump that lasts looks back for the level it is judged against.
JUMP_LOOKBACK_DAYS = 62


#: A history day that tells a meter's usual level: measured, neither a jump nor stuck.
USUAL_LEVEL = (pl.col("n_measured") > 0) & ~pl.col("rules").str.contains(
    f"{Finding.MULTIPLIER_JUMP}|{Rule.FLAT_LINE}")


def like_days(meter_days: pl.DataFrame, day: str) -> pl.DataFrame:
    """History rows of days of the same class as ``day`` (working day, Saturday, off).

    Only like days compare: an office's Monday against its holiday looks like a
    multiplier jump. A first Saturday therefore has no history to be judged on.
    """
    wanted = day_class(dt.date.fromisoformat(day))
    dates = [d for d in meter_days["date"].unique().to_list()
             if day_class(dt.date.fromisoformat(d)) == wanted]
    return meter_days.filter(pl.col("date").is_in(dates))


@dataclass(frozen=True)
class History:
    """What earlier days say about the meters, and the partitions it was read from."""

    meter_days: pl.DataFrame   # quality_day meter rows of earlier days: meter_id, date, …
    sources: dict[str, str]
    #: Days before ``HISTORY_DAYS`` of the meters whose two weeks hold too few days of
    #: their usual level because they were judged jumps: the level before the jump.
    before_jumps: pl.DataFrame

    @classmethod
    def read(cls, warehouse: Warehouse, day: str, *, settings: Settings) -> History:
        """``quality_day`` of the ``HISTORY_DAYS`` days before ``day`` (those that exist).

        A multiplier that stays makes every day a jump; after two weeks no day of the
        history would show the level it is judged against. For those meters the history
        reaches back, up to ``JUMP_LOOKBACK_DAYS``, until it holds enough such days.
        """
        frames, sources = [], {}

        def read_day(back: int, meters: pl.Series | None = None) -> None:
            other = shift_day(day, -back)
            meta = partition_meta(warehouse, "quality_day", {"date": other})
            if meta is None:
                return
            sources[source_key("quality_day", {"date": other})] = meta.checksum
            rows = pl.col("level") == "meter"
            if meters is not None:
                rows &= pl.col("node_id").is_in(meters.implode())
            frames.append(warehouse.scan_files([warehouse.data_file("quality_day",
                                                                    {"date": other})])
                          .filter(rows).with_columns(pl.lit(other).alias("date")).collect())

        for back in range(1, HISTORY_DAYS + 1):
            read_day(back)
        recent = len(frames)
        empty = pl.DataFrame(schema={**QUALITY_DAY_SCHEMA, "date": pl.String()})
        meter_days = pl.concat(frames, how="diagonal_relaxed") if frames else empty
        short = _short_of_usual_level(meter_days, settings.multiplier_min_history_days)
        jumping = meter_days.filter(pl.col("node_id").is_in(short.implode()))
        for back in range(HISTORY_DAYS + 1, JUMP_LOOKBACK_DAYS + 1):
            if short.len() == 0:
                break
            read_day(back, short)
            short = _short_of_usual_level(pl.concat([jumping, *frames[recent:]],
                                                    how="diagonal_relaxed"),
                                          settings.multiplier_min_history_days)
        before = (pl.concat(frames[recent:], how="diagonal_relaxed")
                  if len(frames) > recent else empty)
        return cls(meter_days.rename({"node_id": "meter_id"}), sources,
                   before.rename({"node_id": "meter_id"}))


def _short_of_usual_level(meter_days: pl.DataFrame, min_days: int) -> pl.Series:
    """Meters judged a jump in ``meter_days`` that have fewer than ``min_days`` usual days."""
    return meter_days.group_by("node_id").agg(
        pl.col("rules").str.contains(Finding.MULTIPLIER_JUMP).any().alias("_jumped"),
        USUAL_LEVEL.sum().alias("_usual"),
    ).filter(pl.col("_jumped") & (pl.col("_usual") < min_days))["node_id"]


def like_day_profile(warehouse: Warehouse, day: str, meters: pl.Series, *,
                     settings: Settings) -> tuple[pl.DataFrame, dict[str, str]]:
    """Mean measured import per (meter, minute of day) on the same weekday of past weeks."""
    frames, sources = [], {}
    for week in range(1, settings.like_day_weeks + 1):
        other = shift_day(day, -7 * week)
        meta = partition_meta(warehouse, "readings", {"date": other})
        if meta is None:
            continue
        sources[source_key("readings", {"date": other})] = meta.checksum
        frames.append(
            warehouse.scan_files([warehouse.data_file("readings", {"date": other})])
            .filter(pl.col("meter_id").is_in(meters.implode())
                    & (pl.col("quality") == Quality.MEASURED))
            .select("meter_id", (pl.col("interval_end").dt.hour().cast(pl.Int32) * 60
                                 + pl.col("interval_end").dt.minute()).alias("minute"),
                    "kwh_import"))
    if not frames:
        return pl.DataFrame(schema={"meter_id": pl.String(), "minute": pl.Int32(),
                                    "kwh_import": pl.Float64()}), sources
    profile = pl.concat(frames).group_by("meter_id", "minute").agg(pl.col("kwh_import").mean())
    return profile.collect(), sources


@dataclass(frozen=True)
class DayInputs:
    """What one day's VEE reads: the day's rows and what the rules compare them with."""

    day: str
    start: datetime
    end: datetime
    meters: pl.DataFrame      # meter rows valid during the day
    attrs: pl.DataFrame       # latest row per meter, with ``_expected``
    readings_only: bool       # no customer system: the meters table is empty
    periods: pl.DataFrame     # validity per meter, ``_partial`` when it starts/ends inside
    history: History
    reads: pl.DataFrame       # register reads bounding and inside the day (silver registers)
    registers: pl.DataFrame   # meter_id → register_delta_kwh
    events: pl.DataFrame      # the day's events (silver events)
    sources: dict[str, str]

    @classmethod
    def read(cls, warehouse: Warehouse, manifest: Manifest, day: str, *,
             settings: Settings) -> DayInputs:
        """Everything day ``day``'s VEE reads besides its readings."""
        start, end = day_bounds(day, settings)
        all_meters = warehouse.scan("meters").collect()
        meters = meters_valid_on(all_meters, start, end)
        history = History.read(warehouse, day, settings=settings)
        readings_only = all_meters.height == 0
        # Expected today: the meters valid today; with no customer system, those that
        # reported in the history (a meter silent all day is then a no_readings_day).
        expected = (history.meter_days.filter(pl.col("n_measured") > 0)["meter_id"]
                    if readings_only else meters["meter_id"]).unique()
        attrs = (pl.concat([all_meters.sort("meter_id", "valid_from")
                            .unique("meter_id", keep="last"),
                            expected.to_frame()], how="diagonal_relaxed")
                 .unique("meter_id", keep="first", maintain_order=True)
                 .join(expected.to_frame().with_columns(pl.lit(True).alias("_expected")),
                       on="meter_id", how="left"))
        periods = meters.group_by("meter_id").agg(
            pl.col("valid_from").min(), pl.col("valid_to").max()).with_columns(
            ((pl.col("valid_from") > start) | (pl.col("valid_to") < end).fill_null(False))
            .alias("_partial"))
        sources = readings_sources(warehouse, day, settings=settings, history=history)
        reads = day_registers(warehouse, manifest, day, start, end)
        return cls(day, start, end, meters, attrs, readings_only, periods, history, reads,
                   register_deltas(reads, start, end),
                   day_events(warehouse, manifest, day, start, end), sources)


def readings_sources(warehouse: Warehouse, day: str, *, settings: Settings,
                     history: History | None = None) -> dict[str, str]:
    """What a day's silver is built from, as it stands now (compared with the catalog).

    Like-day readings are added by the build itself, as it finds which meters need them.
    """
    manifest = read_manifest(warehouse)
    history = history or History.read(warehouse, day, settings=settings)
    return {"vee": f"outputs v{OUTPUTS_VERSION}",
            **current_files(manifest, "readings", day), **register_sources(manifest, day),
            **event_sources(manifest, day), **history.sources,
            "meters": source(warehouse, "meters"),
            "edits": edit_sources(day, settings=settings)}

def own_delivery(manifest: Manifest, day: str, *,
                 settings: Settings) -> bool:
    """Whether the day's own delivery has arrived (not only rows spilling over midnight).

    A delivery is a day's own when it holds at least ``day_delivered_share`` as many rows
    for that day as for its fullest day: a day file for its day, a week file for each of
    its days, but not a day file for the next day that its fast-clock meters reach.
    Deliveries that did not count their rows per date are taken as the day's own.
    """
    for name in current_files(manifest, "readings", day):
        counts = manifest[name].date_rows
        if not counts:
            return True
        if counts.get(day, 0) >= settings.day_delivered_share * max(counts.values()):
            return True
    return False
