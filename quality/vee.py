"""VEE of interval readings for one local day: bronze strings → silver readings.

First pass (issue 2); issue 4 deepens the rules. Per day:
  * parse — rows that cannot be typed go to quarantine with the reason;
  * validate — negative values are quarantined; absurd values (far above what the
    contracted capacity allows) are rejected and estimated; exact duplicates are
    dropped and counted; conflicting duplicates keep the first delivered row and
    quarantine the others;
  * complete the grid — every meter valid that day gets every interval; absent ones are
    ``missing``;
  * estimate — gaps up to ``max_interpolation_gap_minutes`` between two real readings
    are linearly interpolated (``estimated``, rule ``linear_interpolation``). Nothing is
    invented before the first or after the last real reading, and a measured zero stays
    a measured zero (a bypassed meter is not "repaired").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta

import polars as pl

from ami.errors import NoDataError
from ami.settings import Settings
from quality.meters import meters_valid_on
from quality.parse import instant, number, optional, reject_reason
from quality.sources import current_files, scan_bronze
from warehouse import Warehouse, read_meta, write_partition
from warehouse.state import read_manifest, write_json

SILVER_READINGS_SCHEMA = {
    "meter_id": pl.String,
    "interval_end": pl.Datetime("us", "UTC"),
    "interval_minutes": pl.Int32,
    "kwh_import": pl.Float64,
    "kwh_export": pl.Float64,
    "quality": pl.String,
    "rule": pl.String,
}

QUARANTINE_SCHEMA = {
    "meter_id": pl.String, "interval_end": pl.String, "kwh_import": pl.String,
    "kwh_export": pl.String, "reason": pl.String, "_file": pl.String, "_row": pl.Int64,
    "_dlt_load_id": pl.String,
}

VALID_INTERVALS = (5, 10, 15, 30, 60)


@dataclass(frozen=True)
class VeeCounts:
    """Reconciliation of one day: rows_in = accepted + duplicates_dropped + quarantined."""

    date: str
    rows_in: int
    accepted: int
    duplicates_dropped: int
    quarantined: int
    rejected_estimated: int
    estimated: int
    missing: int


def day_bounds(day: str, settings: Settings) -> tuple[datetime, datetime]:
    """UTC instants of the local midnights that start and end ``day``."""
    start = datetime.combine(dt.date.fromisoformat(day), time(0), settings.tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def local_day(column: str, settings: Settings) -> pl.Expr:
    """Local date (YYYY-MM-DD) of an interval labelled by its end instant."""
    return (
        pl.col(column).dt.convert_time_zone(settings.timezone)
        .dt.offset_by("-1us").dt.date().cast(pl.String)
    )


def parse_readings(raw: pl.DataFrame, day: str, first_dates: dict[str, str], *,
                   settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw rows of ``day`` into typed rows and quarantined rows with reasons.

    Rows whose instant cannot be parsed belong to the first day of their file, so each
    is quarantined exactly once.
    """
    raw = raw.with_columns(optional(raw, "interval_minutes"))
    minutes_text = pl.col("interval_minutes").fill_null("").str.strip_chars()
    minutes = minutes_text.cast(pl.Int32, strict=False)
    typed = raw.with_columns(
        optional(raw, "kwh_export"),
        pl.col("meter_id").str.strip_chars().alias("meter_id_clean"),
        instant("interval_end").alias("ts"),
        number("kwh_import").alias("import_"),
        (number("kwh_export") if "kwh_export" in raw.columns
         else pl.lit(None, pl.Float64)).alias("export_"),
        minutes.fill_null(settings.interval_minutes).alias("minutes"),
    )
    first = pl.col("_entry").replace_strict(first_dates, default=None, return_dtype=pl.String)
    typed = typed.with_columns(local_day("ts", settings).alias("day")).filter(
        pl.when(pl.col("ts").is_null()).then(first == day).otherwise(pl.col("day") == day)
    )
    minute_of_day = pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute()
    has_export_text = pl.col("kwh_export").fill_null("").str.strip_chars() != ""
    reason = reject_reason([
        (pl.col("meter_id_clean").fill_null("") == "",
         "meter_id is empty: give the meter's id"),
        (pl.col("ts").is_null(),
         "interval_end is not an ISO 8601 instant with zone (e.g. 2026-10-01T17:30:00Z)"),
        ((minutes_text != "") & minutes.is_null(),
         "interval_minutes is not a whole number of minutes"),
        (~pl.col("minutes").is_in(VALID_INTERVALS),
         "interval_minutes is not one of 5, 10, 15, 30, 60"),
        ((minute_of_day % pl.col("minutes") != 0) | (pl.col("ts").dt.second() != 0),
         "interval_end is off the interval grid: interval ends fall on whole intervals"),
        (pl.col("import_").is_null(), "kwh_import is empty or not a number"),
        (pl.col("import_") < 0, "kwh_import is negative: import and export are separate "
         "non-negative channels"),
        (has_export_text & pl.col("export_").is_null(), "kwh_export is not a number"),
        (pl.col("export_") < 0, "kwh_export is negative"),
    ])
    # A row the reader could not split into the header's columns says why itself.
    typed = typed.with_columns(pl.coalesce(optional(raw, "_invalid"), reason).alias("reason"))
    bad = typed.filter(pl.col("reason").is_not_null())
    good = typed.filter(pl.col("reason").is_null()).select(
        pl.col("meter_id_clean").alias("meter_id"),
        pl.col("ts").alias("interval_end"),
        pl.col("minutes").alias("interval_minutes"),
        pl.col("import_").alias("kwh_import"),
        pl.col("export_").alias("kwh_export"),
        "_file", "_row", "_dlt_load_id",
    )
    return good, to_quarantine(bad)


def to_quarantine(rows: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows in their raw form with the reason."""
    return rows.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]


def deduplicate(good: pl.DataFrame) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """Drop exact duplicates (counted); keep the first of conflicting ones, quarantine rest."""
    ordered = good.sort("meter_id", "interval_end", "_file", "_row")
    exact = ordered.unique(["meter_id", "interval_end", "kwh_import", "kwh_export"],
                           keep="first", maintain_order=True)
    dropped = ordered.height - exact.height
    first = exact.unique(["meter_id", "interval_end"], keep="first", maintain_order=True)
    conflicting = exact.join(first, on=["meter_id", "interval_end", "_file", "_row"],
                             how="anti")
    quarantined = conflicting.join(
        first.select("meter_id", "interval_end", pl.col("_file").alias("kept_file"),
                     pl.col("_row").alias("kept_row")),
        on=["meter_id", "interval_end"],
    ).select(
        "meter_id",
        pl.col("interval_end").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("kwh_import").cast(pl.String),
        pl.col("kwh_export").cast(pl.String),
        pl.format("conflicting duplicate: kept the value of {} row {}; correct the head-end "
                  "export if that value is wrong", "kept_file", "kept_row").alias("reason"),
        "_file", "_row", "_dlt_load_id",
    )
    return first, dropped, to_quarantine(quarantined)


def complete_grid(rows: pl.DataFrame, meters: pl.DataFrame, start: datetime, *,
                  settings: Settings) -> pl.DataFrame:
    """Every interval of the day for every meter expected or seen; absent ones null."""
    cadence = rows.group_by("meter_id").agg(pl.col("interval_minutes").mode().min())
    expected = (
        pl.concat([meters.select("meter_id"), rows.select("meter_id")]).unique()
        .join(cadence, on="meter_id", how="left")
        .with_columns(pl.col("interval_minutes").fill_null(settings.interval_minutes))
        .with_columns(pl.int_ranges(1, 1440 // pl.col("interval_minutes") + 1).alias("k"))
        .explode("k")
        .with_columns(
            (pl.lit(start) + pl.duration(minutes=pl.col("k") * pl.col("interval_minutes")))
            .dt.cast_time_unit("us").alias("interval_end")
        )
        .drop("k")
    )
    return expected.join(
        rows.drop("interval_minutes"), on=["meter_id", "interval_end"], how="full",
        coalesce=True,
    ).with_columns(pl.col("interval_minutes").fill_null(settings.interval_minutes))


def interpolate_short_gaps(frame: pl.DataFrame, *, settings: Settings) -> pl.DataFrame:
    """Linear interpolation of gaps bounded by real readings and short enough."""
    frame = frame.sort("meter_id", "interval_end")
    is_gap = pl.col("kwh_import").is_null()
    run_id = (is_gap != is_gap.shift(1).over("meter_id")).fill_null(True).cum_sum()
    frame = frame.with_columns(run_id.alias("_run"))
    run_len = pl.len().over("meter_id", "_run")
    limit = settings.max_interpolation_gap_minutes
    short = is_gap & (run_len * pl.col("interval_minutes") <= limit)
    filled = pl.col("kwh_import").interpolate().over("meter_id")
    filled_export = pl.col("kwh_export").interpolate().over("meter_id")
    estimated = short & filled.is_not_null()
    return frame.with_columns(
        pl.when(estimated).then(filled).otherwise(pl.col("kwh_import")).alias("kwh_import"),
        pl.when(estimated).then(filled_export).otherwise(pl.col("kwh_export"))
        .alias("kwh_export"),
        pl.when(estimated).then(pl.lit("estimated"))
        .when(is_gap).then(pl.lit("missing")).otherwise(pl.col("quality")).alias("quality"),
        pl.when(estimated).then(pl.lit("linear_interpolation"))
        .when(is_gap).then(pl.coalesce(pl.col("rule"), pl.lit("no_reading")))
        .otherwise(pl.col("rule")).alias("rule"),
    ).drop("_run")


def reject_absurd(rows: pl.DataFrame, meters: pl.DataFrame, *,
                  settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Null out values far above the contracted capacity; return them for quarantine."""
    capacity = meters.group_by("meter_id").agg(pl.col("contracted_kw").max())
    limit = (pl.col("contracted_kw") * settings.absurd_kwh_per_kw
             * pl.col("interval_minutes") / 60)
    rows = rows.join(capacity, on="meter_id", how="left").with_columns(
        (pl.col("contracted_kw").is_not_null() & (pl.col("kwh_import") > limit))
        .alias("_absurd")
    )
    rejected = rows.filter(pl.col("_absurd")).select(
        "meter_id",
        pl.col("interval_end").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("kwh_import").cast(pl.String),
        pl.col("kwh_export").cast(pl.String),
        pl.format("absurd value: above {} × contracted_kw × hours; rejected and estimated "
                  "(rule absurd_value)", pl.lit(settings.absurd_kwh_per_kw)).alias("reason"),
        "_file", "_row", "_dlt_load_id",
    )
    cleaned = rows.with_columns(
        pl.when(pl.col("_absurd")).then(None).otherwise(pl.col("kwh_import"))
        .alias("kwh_import"),
        pl.when(pl.col("_absurd")).then(pl.lit("absurd_value")).alias("rule"),
    ).drop("_absurd", "contracted_kw")
    return cleaned, to_quarantine(rejected)


def readings_sources(warehouse: Warehouse, day: str) -> dict[str, str]:
    """What a day's silver readings are built from: current files and the meters table."""
    sources = current_files(read_manifest(warehouse), "readings", day)
    meta = read_meta(warehouse.partition_dir("meters"))
    sources["meters"] = meta.checksum if meta else ""
    return sources


def pending_days(*, settings: Settings) -> list[str]:
    """Days whose silver readings are absent or older than what was delivered since."""
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    days = sorted({d for e in manifest.values() if e["kind"] == "readings" for d in e["dates"]})
    stale = []
    for day in days:
        meta = read_meta(warehouse.partition_dir("readings", {"date": day}))
        if meta is None or meta.sources != readings_sources(warehouse, day):
            stale.append(day)
    return stale


def vee_day(day: str, *, settings: Settings) -> VeeCounts:
    """Build the silver readings (and quarantine) partition of one local day."""
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    files = current_files(manifest, "readings", day)
    if not files:
        raise NoDataError(f"no readings delivered for {day}",
                          fix="check the date or ingest the landing files for that day")
    first_dates = {name: str(manifest[name]["dates"][0]) for name in files}
    raw = scan_bronze(warehouse, "readings", files).collect()
    start, end = day_bounds(day, settings)
    good, quarantined = parse_readings(raw, day, first_dates, settings=settings)
    unique, dropped, conflicts = deduplicate(good)
    all_meters = warehouse.scan("meters").collect()
    meters = meters_valid_on(all_meters, start, end)
    cleaned, absurd = reject_absurd(
        unique.with_columns(
            pl.lit("measured").alias("quality"), pl.lit(None, pl.String).alias("rule")),
        meters, settings=settings,
    )
    cleaned = cleaned.drop("_file", "_row", "_dlt_load_id")
    silver = interpolate_short_gaps(
        complete_grid(cleaned, meters, start, settings=settings), settings=settings
    ).select(list(SILVER_READINGS_SCHEMA)).cast(SILVER_READINGS_SCHEMA)  # type: ignore[arg-type]
    quarantine = pl.concat([quarantined, conflicts, absurd])
    rows_in = good.height + quarantined.height
    counts = VeeCounts(
        date=day, rows_in=rows_in, accepted=unique.height, duplicates_dropped=dropped,
        quarantined=quarantined.height + conflicts.height,
        rejected_estimated=absurd.height,
        estimated=silver.filter(pl.col("quality") == "estimated").height,
        missing=silver.filter(pl.col("quality") == "missing").height,
    )
    sources = readings_sources(warehouse, day)
    write_partition(silver, "readings", {"date": day}, warehouse=warehouse,
                    sort_by=("meter_id", "interval_end"), sources=sources,
                    time_column="interval_end")
    write_partition(quarantine, "quarantine", {"date": day}, warehouse=warehouse,
                    sort_by=("_file", "_row"), sources=sources)
    write_json(warehouse.state / "vee" / f"{day}.json", asdict(counts))
    return counts


def vee_totals(days: list[str], *, settings: Settings) -> dict[str, int]:
    """Reconciliation of the given days summed from their VEE records (empty: none)."""
    warehouse = Warehouse.at(settings.warehouse)
    totals: dict[str, int] = {}
    for day in days:
        path = warehouse.state / "vee" / f"{day}.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        totals["days"] = totals.get("days", 0) + 1
        for key, value in record.items():
            if key != "date":
                totals[key] = totals.get(key, 0) + int(value)
    return totals
