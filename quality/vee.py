"""VEE of interval readings for one local day: bronze strings → silver readings + findings.

Per day, in the order commercial MDM systems apply them:

* parse — rows that cannot be typed, negative values, instants off the interval grid or
  in the future (after the load that delivered them) are quarantined with the rule and a
  reason a person can act on;
* de-duplicate — exact duplicates are dropped and counted; conflicting ones keep the
  first delivered row, the others are quarantined;
* validate (``quality.rules``) on the day as a meters × intervals grid (``quality.grid``):
  absurd values and spikes are rejected (quarantined with their original value, then
  estimated); flat lines, zero runs, unknown meters and readings outside a meter's
  validity are flagged and kept; meter-days are checked against the register delta,
  the customer group's range, the meter's own history (multiplier jumps), reverse energy
  and clock-adjust events; whole transformers at zero are told apart (outage or fault);
* estimate (``quality.estimate``) — linear for short gaps, like-day profile (scaled to
  the register when known) for longer ones; never beyond the last real reading;
* edit — manual corrections (``quality.edits``) are applied last, with their audit trail.

Every silver value carries ``quality`` (measured / estimated / edited / missing) and
``rule``; every finding is stored (silver ``findings``), and per-meter and per-transformer
quality metrics go to silver ``quality_day``. History (earlier days of ``quality_day`` and
same-weekday readings) makes a day depend on the days before: ``vee_pending`` builds days
in date order and rebuilds a day when any partition it was built from changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from ami.calendar import day_class
from ami.errors import NoDataError
from ami.instants import HINT, instant
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, EventCategory, Finding, MeterRole, Quality, Rule, texts
from quality import estimate, rules
from quality.channels import (
    day_events,
    day_registers,
    event_sources,
    register_deltas,
    register_sources,
)
from quality.days import day_bounds, local_day, shift_day
from quality.edits import apply_edits, edit_sources, edits_for_day
from quality.grid import ESTIMATED, MEASURED, MISSING, RULE, Block, build_blocks, cells_of
from quality.meters import meters_valid_on
from quality.parse import number, optional
from quality.sources import current_files, scan_bronze
from warehouse import (
    Warehouse,
    is_stale,
    partition_meta,
    source,
    source_key,
    write_partition,
)
from warehouse.schemas import schema_of
from warehouse.state import Manifest, read_json, read_manifest, write_json

__all__ = ["day_bounds", "local_day", "pending_days", "vee_day", "vee_pending", "vee_totals"]

SILVER_READINGS_SCHEMA = schema_of("readings").polars
QUARANTINE_SCHEMA = schema_of("quarantine").polars
QUALITY_DAY_SCHEMA = schema_of("quality_day").polars

VALID_INTERVALS = (5, 10, 15, 30, 60)
#: Quarantine rules that name an interval of the grid (their cell is not "missing").
RULE_NAMES = texts((Rule.NEGATIVE_VALUE, Rule.OFF_GRID_TIMESTAMP, Rule.FUTURE_TIMESTAMP,
                    Rule.UNPARSABLE))
#: Days of ``quality_day`` history the rules look back on (two of each weekday).
HISTORY_DAYS = 14
#: What a silver day holds; raised when VEE writes more (or other) tables, so that every
#: day is rebuilt once. v2: silver ``events`` and ``registers``.
OUTPUTS_VERSION = 2


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
    edited: int = 0
    findings: int = 0
    #: per delivery (landing file or API load): rows, accepted, duplicates_dropped,
    #: quarantined and the quarantined rows by rule
    entries: dict[str, dict[str, object]] = field(default_factory=dict)


# --- parse and de-duplicate -----------------------------------------------------------

def parse_readings(raw: pl.LazyFrame, day: str, first_dates: dict[str, str], *,
                   settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw rows of ``day`` into typed rows and rows to quarantine (rule and reason).

    Both keep their lineage and ``_entry`` (the delivery), for the per-file reconciliation.

    Rows whose instant cannot be parsed belong to the first day of their file, so each
    is quarantined exactly once. "In the future" is judged against the load that
    delivered the row (its ``_dlt_load_id`` is the load's Unix time), so a rerun decides
    the same way. Distinct instants and loads are parsed once and joined; bronze is read
    by the streaming engine with only the columns VEE needs.
    """
    raw = raw.with_columns(optional(raw, "interval_minutes"))
    minutes_text = pl.col("interval_minutes").fill_null("").str.strip_chars()
    minutes = minutes_text.cast(pl.Int32, strict=False)
    # A day's file holds few distinct instants and loads: parse each once, then join.
    stamps = raw.select(pl.col("interval_end").unique()).collect().with_columns(
        instant("interval_end").alias("ts"),
        instant("interval_end", zone="UTC").is_not_null().alias("_has_time")).with_columns(
        local_day("ts", settings).alias("day"),
        # the grid starts at local midnight (a zone may be offset by half an hour)
        (pl.col("ts").dt.convert_time_zone(settings.timezone).dt.hour().cast(pl.Int32) * 60
         + pl.col("ts").dt.convert_time_zone(settings.timezone).dt.minute())
        .alias("_minute_of_day"), pl.col("ts").dt.second().alias("_second"))
    loads = raw.select(pl.col("_dlt_load_id").unique()).collect().with_columns(
        (pl.col("_dlt_load_id").cast(pl.String).cast(pl.Float64, strict=False) * 1e6)
        .cast(pl.Int64)
        .cast(pl.Datetime("us", "UTC")).alias("_loaded_at"))
    # only rows of this day (or unreadable instants, judged below) go further
    stamps = stamps.filter((pl.col("day") == day) | pl.col("ts").is_null())
    typed = raw.join(stamps.lazy(), on="interval_end", how="inner", nulls_equal=True,
                     maintain_order="left").join(
        loads.lazy(), on="_dlt_load_id", how="left", nulls_equal=True, maintain_order="left",
    ).with_columns(
        optional(raw, "kwh_export"),
        pl.col("meter_id").str.strip_chars().alias("meter_id_clean"),
        number("kwh_import").alias("import_"),
        (number("kwh_export") if "kwh_export" in raw.collect_schema().names()
         else pl.lit(None, pl.Float64)).alias("export_"),
        minutes.fill_null(settings.interval_minutes).alias("minutes"),
    )
    # an unreadable instant belongs to the first day of its file
    firsts = [name for name, first in first_dates.items() if first == day]
    typed = typed.filter((pl.col("day") == day) | (
        pl.col("ts").is_null() & pl.col("_entry").is_in(firsts)))
    minute_of_day = pl.col("_minute_of_day")
    has_export_text = pl.col("kwh_export").fill_null("").str.strip_chars() != ""
    checks: list[tuple[pl.Expr, Rule, str]] = [
        (optional(raw, "_invalid").is_not_null(), Rule.UNPARSABLE, ""),  # the reader says why
        (pl.col("meter_id_clean").fill_null("") == "", Rule.UNPARSABLE,
         "meter_id is empty: give the meter's id"),
        (pl.col("ts").is_null() & pl.col("_has_time"), Rule.UNPARSABLE,
         f"interval_end has no zone: {HINT}, or add a source profile naming its zone"),
        (pl.col("ts").is_null(), Rule.UNPARSABLE,
         f"interval_end is not an ISO 8601 instant: {HINT}"),
        ((minutes_text != "") & minutes.is_null(), Rule.UNPARSABLE,
         "interval_minutes is not a whole number of minutes"),
        (~pl.col("minutes").is_in(VALID_INTERVALS), Rule.UNPARSABLE,
         "interval_minutes is not one of 5, 10, 15, 30, 60"),
        ((minute_of_day % pl.col("minutes") != 0) | (pl.col("_second") != 0),
         Rule.OFF_GRID_TIMESTAMP,
         "interval_end is off the interval grid: interval ends fall on whole intervals"),
        (pl.col("ts") > pl.col("_loaded_at") + pl.duration(minutes=pl.col("minutes")),
         Rule.FUTURE_TIMESTAMP,
         "interval_end is after the moment the reading was delivered: check the meter clock"),
        (pl.col("import_").is_null(), Rule.UNPARSABLE, "kwh_import is empty or not a number"),
        (pl.col("import_") < 0, Rule.NEGATIVE_VALUE,
         "kwh_import is negative: import and export are separate non-negative channels"),
        (has_export_text & pl.col("export_").is_null(), Rule.UNPARSABLE,
         "kwh_export is not a number"),
        (pl.col("export_") < 0, Rule.NEGATIVE_VALUE, "kwh_export is negative"),
    ]
    # The first failed check, as a small integer (0: none): rule and reason are written
    # out for the few rejected rows only.
    failed_check: pl.Expr = pl.lit(0, dtype=pl.Int8)
    for number_, (failed, _, _) in reversed(list(enumerate(checks, start=1))):
        failed_check = pl.when(failed).then(pl.lit(number_, dtype=pl.Int8)).otherwise(
            failed_check)
    typed = typed.with_columns(failed_check.alias("_check"))
    good, bad = pl.collect_all([
        typed.filter(pl.col("_check") == 0).select(
            pl.col("meter_id_clean").alias("meter_id"), pl.col("ts").alias("interval_end"),
            pl.col("minutes").alias("interval_minutes"), pl.col("import_").alias("kwh_import"),
            pl.col("export_").alias("kwh_export"), "_file", "_row", "_dlt_load_id",
            pl.col("_entry").cast(pl.String)),
        typed.filter(pl.col("_check") != 0).select(
            "meter_id", "interval_end", "kwh_import", "kwh_export", "_check",
            optional(raw, "_invalid"), "_file", "_row", "_dlt_load_id",
            pl.col("_entry").cast(pl.String)),
    ], engine="streaming")
    numbers = pl.Series(range(1, len(checks) + 1), dtype=pl.Int8)
    bad = bad.with_columns(
        pl.col("_check").replace_strict(numbers, list(texts(rule for _, rule, _ in checks)))
        .alias("rule"),
        pl.coalesce("_invalid", pl.col("_check").replace_strict(
            numbers, [reason for _, _, reason in checks])).alias("reason"))
    return good, bad


def to_quarantine(rows: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows in their raw form with the rule and reason."""
    return rows.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]


def deduplicate(dup: pl.DataFrame,
                ) -> tuple[pl.DataFrame, int, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Resolve rows sharing a (meter, interval): drop exact copies, quarantine conflicts.

    Exact copies are dropped and counted; of conflicting ones the first delivered is kept
    and the others are quarantined.

    ``dup`` holds only rows whose cell another row also claims (found on the grid).
    Returns (the row kept per cell, exact duplicates dropped, quarantined conflicts,
    findings, rows dropped and quarantined per delivery: ``_entry``, ``dropped``,
    ``conflicting``).
    """
    key = ["meter_id", "interval_end"]
    ordered = dup.sort("meter_id", "interval_end", "_file", "_row")
    exact = ordered.unique([*key, "kwh_import", "kwh_export"], keep="first",
                           maintain_order=True)
    first = exact.unique(key, keep="first", maintain_order=True)
    conflicting = exact.join(first, on=[*key, "_file", "_row"], how="anti")
    copies = ordered.join(exact, on=[*key, "_file", "_row"], how="anti")
    per_entry = pl.concat([
        copies.select("_entry", pl.lit(1).alias("dropped"), pl.lit(0).alias("conflicting")),
        conflicting.select("_entry", pl.lit(0).alias("dropped"), pl.lit(1).alias("conflicting")),
    ]).group_by("_entry").agg(pl.col("dropped").sum(), pl.col("conflicting").sum())
    quarantined = conflicting.join(
        first.select(*key, pl.col("_file").alias("kept_file"), pl.col("_row").alias("kept_row"),
                     pl.col("kwh_import").alias("kept_value")),
        on=key,
    ).select(
        "meter_id", pl.col("interval_end").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("kwh_import").cast(pl.String), pl.col("kwh_export").cast(pl.String),
        pl.lit(Finding.DUPLICATE_CONFLICTING).alias("rule"),
        pl.format("conflicting duplicate: kept the value of {} row {}; correct the head-end "
                  "export if that value is wrong", "kept_file", "kept_row").alias("reason"),
        "_file", "_row", "_dlt_load_id",
    )
    counts = ordered.group_by(key).agg(
        pl.len().alias("_copies"),
        pl.struct("kwh_import", "kwh_export").n_unique().alias("_values"),
        pl.col("kwh_import").first().alias("_kept"))
    findings = counts.select(
        pl.lit("meter").alias("level"), pl.col("meter_id").alias("node_id"),
        pl.when(pl.col("_values") > 1).then(pl.lit(Finding.DUPLICATE_CONFLICTING))
        .otherwise(pl.lit(Finding.DUPLICATE_EQUAL)).alias("rule"),
        pl.col("interval_end").alias("first_interval_end"),
        pl.col("interval_end").alias("last_interval_end"), pl.lit(1).alias("n_intervals"),
        pl.when(pl.col("_values") > 1).then(pl.lit("quarantined"))
        .otherwise(pl.lit("dropped")).alias("action"),
        pl.format("{} copies, {} distinct values; kept {} kWh", "_copies", "_values", "_kept")
        .alias("evidence"),
    ).cast(rules.FINDINGS_SCHEMA)  # type: ignore[arg-type]
    return first, ordered.height - exact.height, to_quarantine(quarantined), findings, per_entry


def quarantine_findings(quarantined: pl.DataFrame) -> pl.DataFrame:
    """A finding per quarantined row (duplicates have their own)."""
    rows = quarantined.filter(pl.col("rule") != Finding.DUPLICATE_CONFLICTING).with_columns(
        instant("interval_end").alias("_ts"))
    return rows.select(
        pl.lit("meter").alias("level"), pl.col("meter_id").fill_null("").alias("node_id"),
        "rule", pl.col("_ts").alias("first_interval_end"),
        pl.col("_ts").alias("last_interval_end"), pl.lit(1).alias("n_intervals"),
        pl.lit("quarantined").alias("action"),
        pl.format("{} (file {} row {})", "reason", "_file", "_row").alias("evidence"),
    ).cast(rules.FINDINGS_SCHEMA)  # type: ignore[arg-type]


# --- history ----------------------------------------------------------------------------

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


# --- the day ----------------------------------------------------------------------------

@dataclass
class _Context:
    """Per-meter facts aligned with a block's rows."""

    contracted_kw: np.ndarray
    has_solar: np.ndarray
    zero_eligible: np.ndarray
    known: np.ndarray
    expected: np.ndarray


def _context(block: Block, attrs: pl.DataFrame, *, readings_only: bool) -> _Context:
    """The block's meters as the customer system describes them.

    With no customer system at all (``readings_only``), every meter that reports is a
    customer meter of unknown group, without solar, that no list expects.
    """
    aligned = block.meter_ids.to_frame("meter_id").join(
        attrs, on="meter_id", how="left", maintain_order="left")
    if readings_only:
        aligned = aligned.with_columns(pl.lit(MeterRole.CUSTOMER).alias("meter_role"))
    group = aligned["customer_group"].fill_null("")
    solar = aligned["solar_kwp"].fill_null(0.0).to_numpy() > 0
    customer = (aligned["meter_role"] == MeterRole.CUSTOMER).fill_null(False).to_numpy()
    return _Context(
        contracted_kw=aligned["contracted_kw"].fill_null(np.inf).to_numpy(),
        has_solar=solar,
        zero_eligible=customer & ~solar & (group != CustomerGroup.PUBLIC_LIGHTING).to_numpy(),
        known=aligned["meter_role"].is_not_null().to_numpy(),
        expected=aligned["_expected"].fill_null(False).to_numpy(),
    )


def _reject(block: Block, mask: np.ndarray, rule: Rule, lineage: pl.DataFrame, reason: str,
            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Remove flagged measured values for estimation; their quarantine rows and findings."""
    if not mask.any():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA), rules.empty_findings()
    findings = rules.from_runs(block, mask, rule, "rejected", pl.format(
        "{} kWh against a day median of {} kWh (MAD {}): {}", pl.col("value").round(3),
        pl.col("median").round(3), pl.col("mad").round(3), pl.lit(reason)))
    r, c = np.nonzero(mask)
    cells = pl.DataFrame({"meter_id": block.meter_ids.gather(pl.Series(r)),
                          "interval_end": block.ends().gather(pl.Series(c))})
    near = lineage.filter(pl.col("meter_id").is_in(cells["meter_id"].unique().implode())).sort(
        "meter_id", "interval_end", "_file", "_row").unique(  # of duplicates, the kept row
        ["meter_id", "interval_end"], keep="first", maintain_order=True)
    rows = cells.join(near, on=["meter_id", "interval_end"], how="left").select(
        "meter_id", pl.col("interval_end").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col("kwh_import").cast(pl.String), pl.col("kwh_export").cast(pl.String),
        pl.lit(rule).alias("rule"), pl.lit(f"{reason}; rejected and estimated").alias("reason"),
        "_file", "_row", "_dlt_load_id")
    block.kwh_import[mask] = np.nan
    block.kwh_export[mask] = np.nan
    block.quality[mask] = MISSING
    block.rule[mask] = RULE[rule]
    return to_quarantine(rows), findings


def _flag(block: Block, mask: np.ndarray, rule: Rule) -> None:
    """Name a flag on measured values that carry no rule yet (the value is kept)."""
    target = mask & (block.quality == MEASURED) & (block.rule == 0)
    block.rule[target] = RULE[rule]


def _align(block: Block, frame: pl.DataFrame, column: str) -> np.ndarray:
    """A per-meter value of ``frame`` aligned with the block's rows (NaN when absent)."""
    aligned = block.meter_ids.to_frame("meter_id").join(
        frame.select("meter_id", column), on="meter_id", how="left", maintain_order="left")
    return aligned[column].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _profile_matrix(block: Block, profile: pl.DataFrame) -> np.ndarray:
    """The like-day profile as a (meters × intervals) array (NaN where unknown)."""
    out = np.full(block.kwh_import.shape, np.nan)
    if profile.height == 0:
        return out
    index = block.index_of(profile["meter_id"])
    end_minute = profile["minute"].to_numpy()
    start_minute = block.start.hour * 60 + block.start.minute
    slot = ((end_minute - start_minute) % 1440) // block.minutes - 1
    slot = np.where(slot < 0, slot + block.per_day, slot)
    ok = index >= 0
    out[index[ok], slot[ok]] = profile["kwh_import"].to_numpy()[ok]
    return out


def _validity_mask(block: Block, periods: pl.DataFrame) -> np.ndarray:
    """Cells outside every validity period of their meter (meters listed only)."""
    outside = np.zeros(block.kwh_import.shape, dtype=bool)
    partial = periods.filter(pl.col("_partial"))
    if partial.height == 0:
        return outside
    ends = block.ends()
    cells = partial.join(ends.to_frame().with_row_index("_slot"), how="cross").with_columns(
        ((pl.col("valid_from") < pl.col("interval_end"))
         & (pl.col("valid_to").is_null() | (pl.col("interval_end") <= pl.col("valid_to"))))
        .alias("_in")).group_by("meter_id", "_slot").agg(pl.col("_in").any())
    index = block.index_of(cells["meter_id"])
    ok = index >= 0
    slots = cells["_slot"].to_numpy().astype(np.int64)
    outside[index[ok], slots[ok]] = ~cells["_in"].to_numpy()[ok]
    return outside


@dataclass(frozen=True)
class _Day:
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
             settings: Settings) -> _Day:
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


def vee_day(day: str, *, settings: Settings) -> VeeCounts:
    """Build the silver partitions of one day.

    Readings, quarantine, findings, quality_day, edit_log, events and registers.
    """
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    files = current_files(manifest, "readings", day)
    if not files:
        raise NoDataError(f"no readings delivered for {day}",
                          fix="check the date or ingest the landing files for that day")
    first_dates = {name: manifest[name].dates[0] for name in files}
    good, bad = parse_readings(scan_bronze(warehouse, "readings", files), day, first_dates,
                               settings=settings)
    quarantined = to_quarantine(bad)
    rows_in = good.height + quarantined.height
    inputs = _Day.read(warehouse, manifest, day, settings=settings)
    expected = inputs.attrs.filter(pl.col("_expected").fill_null(False))["meter_id"]
    # A day the deliveries barely touch (rows of a meter with a fast clock spilling over
    # midnight) is not judged meter by meter: its own delivery has not come yet.
    delivered = own_delivery(manifest, day, settings=settings)
    blocks = list(build_blocks(good, expected, inputs.start,
                               default_minutes=settings.interval_minutes))
    # quarantined: rows that failed parsing, copies of one cell that disagree, and rows
    # the rules rejected (an estimate took their place) — kept apart, counted apart
    conflict_parts: list[pl.DataFrame] = []
    rejected_parts: list[pl.DataFrame] = []
    finding_parts = [quarantine_findings(quarantined)]
    dropped = 0
    dup_entries = []
    for block in blocks:  # duplicates: rows the grid found sharing a cell
        if block.collisions is not None:
            first, copies, conflicts, dup_findings, per_entry = deduplicate(block.collisions)
            block.place(first)
            dropped += copies
            conflict_parts.append(conflicts)
            finding_parts.append(dup_findings)
            dup_entries.append(per_entry)
    entries = _entry_counts(good, bad, dup_entries)
    rejected_rows = _rejected_cells(quarantined, settings=settings)
    sources = dict(inputs.sources)
    for block in blocks:
        rows, found, used = _vee_block(block, inputs, good, rejected_rows, warehouse,
                                       delivered=delivered, settings=settings)
        rejected_parts += rows
        finding_parts += found
        sources.update(used)
    conflicting = sum(part.height for part in conflict_parts)
    accepted = good.height - dropped - conflicting
    del good  # free the typed rows before silver is built
    silver = pl.concat([b.to_frame() for b in blocks]) if blocks else pl.DataFrame(
        schema=SILVER_READINGS_SCHEMA)
    several = len(blocks) > 1  # cadences: rows are then not ordered by meter overall
    del blocks
    silver, audit = apply_edits(silver, edits_for_day(day, settings=settings),
                                interval_minutes=settings.interval_minutes)
    silver = silver.select(list(SILVER_READINGS_SCHEMA)).cast(
        SILVER_READINGS_SCHEMA)  # type: ignore[arg-type]
    if not delivered:
        finding_parts.append(_partial_day_finding(silver, day))
    finding_parts += _day_findings(silver, inputs, settings=settings)
    findings = pl.concat(finding_parts).sort("level", "node_id", "first_interval_end", "rule")
    rejected = sum(part.height for part in rejected_parts)
    quarantine = pl.concat([quarantined, *conflict_parts, *rejected_parts])
    counts = VeeCounts(
        date=day, rows_in=rows_in, accepted=accepted,
        duplicates_dropped=dropped, quarantined=quarantined.height + conflicting,
        rejected_estimated=rejected,
        estimated=int((silver["quality"] == Quality.ESTIMATED).sum()),
        missing=int((silver["quality"] == Quality.MISSING).sum()),
        edited=int((silver["quality"] == Quality.EDITED).sum()), findings=findings.height,
        entries=entries,
    )
    _write_day(warehouse, day, silver=silver, quarantine=quarantine, findings=findings,
               quality=quality_day(silver, inputs.attrs, findings), audit=audit,
               channels=(inputs.events, inputs.reads), sources=sources, sort=several)
    write_json(warehouse, f"vee/{day}.json", asdict(counts))
    return counts


def _entry_counts(good: pl.DataFrame, bad: pl.DataFrame,
                  duplicates: list[pl.DataFrame]) -> dict[str, dict[str, object]]:
    """What became of each delivery's rows of the day (the per-file reconciliation).

    ``rows`` = ``accepted`` (in silver) + ``duplicates_dropped`` + ``quarantined``, the
    quarantined ones by rule.
    """
    rows = pl.concat([good.select("_entry"), bad.select("_entry")]).group_by("_entry").len()
    rules = bad.group_by("_entry", "rule").len()
    dups = pl.concat(duplicates) if duplicates else pl.DataFrame(
        schema={"_entry": pl.String, "dropped": pl.Int32, "conflicting": pl.Int32})
    dups = dups.group_by("_entry").agg(pl.col("dropped").sum(), pl.col("conflicting").sum())
    out: dict[str, dict[str, object]] = {}
    for entry, n in rows.iter_rows():
        by_rule = {str(r): int(k) for e, r, k in rules.iter_rows() if e == entry}
        dup = dups.filter(pl.col("_entry") == entry)
        dropped = int(dup["dropped"].sum()) if dup.height else 0
        conflicting = int(dup["conflicting"].sum()) if dup.height else 0
        if conflicting:
            by_rule["duplicate_conflicting"] = conflicting
        quarantined = sum(by_rule.values())
        out[str(entry)] = {"rows": int(n), "accepted": int(n) - dropped - quarantined,
                           "duplicates_dropped": dropped, "quarantined": quarantined,
                           "rules": dict(sorted(by_rule.items()))}
    return out


def _rejected_cells(quarantined: pl.DataFrame, *, settings: Settings) -> pl.DataFrame:
    """The intervals quarantined rows were meant for (meter_id, interval_end, rule)."""
    step = f"{settings.interval_minutes}m"
    return quarantined.filter(pl.col("rule").is_in(RULE_NAMES)).with_columns(
        instant("interval_end").alias("_ts")).filter(pl.col("_ts").is_not_null()).select(
        # a stamp a few minutes late names the interval end just before it
        "meter_id", pl.col("_ts").dt.truncate(step).alias("interval_end"), "rule")


def _vee_block(block: Block, day: _Day, lineage: pl.DataFrame, rejected_rows: pl.DataFrame,
               warehouse: Warehouse, *, delivered: bool, settings: Settings,
               ) -> tuple[list[pl.DataFrame], list[pl.DataFrame], dict[str, str]]:
    """Validate and estimate one block in place.

    Returns its quarantine rows, its findings and the sources its estimates read (the
    like days of other dates).
    """
    ctx = _context(block, day.attrs, readings_only=day.readings_only)
    before = block.quality == MISSING
    # intervals whose row was delivered but quarantined: not "missing", named by their rule
    delivered_bad = np.zeros(before.shape, dtype=bool)
    for (rule,), group in rejected_rows.group_by("rule"):
        r, c = cells_of(block, group.select("meter_id", "interval_end"))
        delivered_bad[r, c] = True
        block.rule[r, c] = np.where(block.quality[r, c] == MISSING, RULE[Rule(str(rule))],
                                    block.rule[r, c])
    before &= ~delivered_bad
    register = _align(block, day.registers, "register_delta_kwh")
    quarantine, findings = [], []
    absurd = rules.absurd(block, ctx.contracted_kw, settings=settings)
    rows, found = _reject(block, absurd, Rule.ABSURD_VALUE, lineage,
                          f"absurd value: above {settings.absurd_kwh_per_kw} × contracted_kw × "
                          "hours")
    quarantine.append(rows)
    findings.append(found)
    record = day.history.meter_days.group_by("meter_id").agg(pl.col("kwh_max").max())
    spike, high = rules.spikes(block, register, _align(block, record, "kwh_max"),
                               settings=settings)
    rows, found = _reject(block, spike, Rule.SPIKE, lineage,
                          "spike: far above the meter's own readings of the day, and the "
                          "intervals exceed the register delta")
    quarantine.append(rows)
    findings.append(found)
    _flag(block, high, Rule.HIGH_VALUE)
    findings.append(rules.from_runs(block, high, Rule.HIGH_VALUE, "flagged", pl.format(
        "{} kWh against a day median of {} kWh (MAD {}), above the meter's largest interval "
        "of the last {} days: kept, no register delta to contradict it",
        pl.col("value").round(3), pl.col("median").round(3), pl.col("mad").round(3),
        pl.lit(HISTORY_DAYS))))
    estimate.linear(block, max_gap_minutes=settings.max_interpolation_gap_minutes)
    estimate.scale_to_register(block, register)
    profile_sources: dict[str, str] = {}
    if (block.quality == MISSING).any():
        need = block.meter_ids.filter(pl.Series((block.quality == MISSING).any(axis=1)))
        profile, profile_sources = like_day_profile(warehouse, day.day, need,
                                                    settings=settings)
        estimate.like_day(block, _profile_matrix(block, profile), register)
    findings += _flags(block, ctx, day.periods, before, day.history, delivered=delivered,
                       settings=settings)
    return quarantine, findings, profile_sources


def _partial_day_finding(silver: pl.DataFrame, day: str) -> pl.DataFrame:
    """One finding for a day whose own delivery has not arrived."""
    delivered = silver.filter(pl.col("quality") != Quality.MISSING)
    return pl.DataFrame({
        "level": "province", "node_id": "", "rule": "day_not_delivered",
        "first_interval_end": silver["interval_end"].min(),
        "last_interval_end": silver["interval_end"].max(),
        "n_intervals": silver.height, "action": "left missing",
        "evidence": f"{day}: only {delivered.height} interval(s) of "
                    f"{delivered['meter_id'].n_unique()} meter(s) delivered (spill-over from "
                    "other days); the day's own delivery has not arrived",
    }).cast(rules.FINDINGS_SCHEMA)  # type: ignore[arg-type]


def _write_day(warehouse: Warehouse, day: str, *, silver: pl.DataFrame,
               quarantine: pl.DataFrame, findings: pl.DataFrame, quality: pl.DataFrame,
               audit: pl.DataFrame, channels: tuple[pl.DataFrame, pl.DataFrame],
               sources: dict[str, str], sort: bool) -> None:
    """Write the day's silver partitions; readings last, as its catalog says "done"."""
    partition = {"date": day}
    events, reads = channels
    write_partition(events, "events", partition, warehouse=warehouse, sources=sources)
    write_partition(reads, "registers", partition, warehouse=warehouse, sources=sources)
    write_partition(quarantine, "quarantine", partition, warehouse=warehouse,
                    sort_by=("_file", "_row"), sources=sources)
    write_partition(findings, "findings", partition, warehouse=warehouse, sources=sources)
    write_partition(quality, "quality_day", partition, warehouse=warehouse,
                    sort_by=("level", "node_id"), sources=sources)
    write_partition(audit, "edit_log", partition, warehouse=warehouse, sources=sources)
    write_partition(silver, "readings", partition, warehouse=warehouse,
                    sort_by=("meter_id", "interval_end") if sort else (),
                    sources=sources)


def _flags(block: Block, ctx: _Context, periods: pl.DataFrame, before: np.ndarray,
           history: History, *, delivered: bool, settings: Settings) -> list[pl.DataFrame]:
    """Flags kept on measured values and findings about the block's gaps."""
    parts = []
    flat = rules.flat_lines(block, settings=settings)
    _flag(block, flat, Rule.FLAT_LINE)
    parts.append(rules.from_runs(block, flat, Rule.FLAT_LINE, "flagged", pl.format(
        "{} kWh repeated for {} intervals", pl.col("value").round(3), "length")))
    zero = rules.zero_runs(block, ctx.zero_eligible, settings=settings)
    _flag(block, zero, Rule.ZERO_RUN)
    parts.append(rules.from_runs(block, zero, Rule.ZERO_RUN, "flagged", pl.format(
        "zero for {} intervals (kept: a bypassed meter is not repaired)", "length")))
    unknown = np.broadcast_to(~ctx.known[:, None], block.quality.shape)
    _flag(block, unknown, Rule.UNKNOWN_METER)
    rows = np.flatnonzero(~ctx.known)
    parts.append(rules.meter_days(block, rows, Rule.UNKNOWN_METER, "flagged", pl.Series(
        ["readings of a meter the customer system does not list: add it to CMIS"] * len(rows),
        dtype=pl.String)))
    outside = _validity_mask(block, periods) & ctx.known[:, None]
    _flag(block, outside, Rule.OUTSIDE_ACTIVE_PERIOD)
    parts.append(rules.from_runs(block, outside & (block.quality == MEASURED),
                                 Rule.OUTSIDE_ACTIVE_PERIOD, "flagged"))
    parts.append(rules.reverse_energy(block, ctx.has_solar, ctx.known))
    # gaps: whole days first, then runs within a day
    whole = before.all(axis=1) & ctx.expected & delivered
    reported_before = history.meter_days.filter(pl.col("n_measured") > 0)["meter_id"].unique()
    seen = block.meter_ids.is_in(reported_before.implode()).to_numpy()
    never = whole & ~seen & (history.meter_days.height > 0)
    for rows_, rule, text in ((np.flatnonzero(never), Finding.NEVER_REPORTING,
                               "listed in the customer system but has not reported on any "
                               "day of the history: check the meter's communication"),
                              (np.flatnonzero(whole & ~never), Finding.NO_READINGS_DAY,
                               "nothing delivered for the whole day")):
        filled = (block.quality[rows_] == ESTIMATED).all(axis=1)
        parts.append(rules.meter_days(
            block, rows_, rule, pl.Series(np.where(filled, "estimated", "left missing")),
            pl.Series([text] * len(rows_), dtype=pl.String)))
    # (a day not yet delivered has one finding for all its gaps, see _partial_day_finding)
    gaps = before & ~whole[:, None] & (block.rule != RULE[Rule.ABSURD_VALUE]) \
        & (block.rule != RULE[Rule.SPIKE]) & delivered
    for state, action in ((ESTIMATED, "estimated"), (MISSING, "left missing")):
        parts.append(rules.from_runs(block, gaps & (block.quality == state),
                                     Finding.MISSING_INTERVAL, action,
                                     pl.format("{} interval(s) not delivered", "length")))
    return parts


def _day_findings(silver: pl.DataFrame, day: _Day, *,
                  settings: Settings) -> list[pl.DataFrame]:
    """Meter-day and transformer-day findings over the finished silver day."""
    per_meter = silver.group_by("meter_id").agg(
        pl.col("kwh_import").sum().alias("kwh"),
        pl.col("interval_end").min().alias("first_interval_end"),
        pl.col("interval_end").max().alias("last_interval_end"),
        pl.len().cast(pl.Int32).alias("n_intervals"),
        (pl.col("quality") == Quality.MISSING).sum().alias("_missing"),
        (pl.col("quality") == Quality.MEASURED).sum().alias("_measured"),
        pl.col("kwh_import").filter(pl.col("quality") == Quality.MEASURED).mean()
        .alias("kwh_per_interval"),
        pl.col("kwh_import").filter(pl.col("quality") == Quality.MEASURED).quantile(0.25)
        .alias("kwh_p25"),
    ).join(day.attrs.select("meter_id", "meter_role", "customer_group", "contracted_kw",
                            "transformer_id"), on="meter_id", how="left")
    complete = per_meter.filter(pl.col("_missing") == 0)
    # Intervals against the register only where every interval was measured: an estimate
    # that could not be scaled to the register would make its own mismatch.
    measured = per_meter.filter(pl.col("_measured") == pl.col("n_intervals"))
    parts = [
        rules.register_mismatch(measured.join(day.registers, on="meter_id"), settings=settings),
        rules.group_range(complete.filter((pl.col("meter_role") == MeterRole.CUSTOMER)
                                          & (pl.col("_measured") == pl.col("n_intervals"))),
                          settings=settings),
        rules.multiplier_jumps(
            per_meter.filter(pl.col("_measured") >= 0.9 * pl.col("n_intervals")),
            _jump_history(day, settings=settings), settings=settings),
        rules.clock_events(day.events.filter(pl.col("category") == EventCategory.CLOCK),
                           timedelta(minutes=settings.interval_minutes)),
        _transformer_zero_days(per_meter, day.events, day.meters),
    ]
    return parts


def _jump_history(day: _Day, *, settings: Settings) -> pl.DataFrame:
    """Earlier days a meter's energy is compared with for multiplier jumps.

    Like days (working day / Saturday / off) of the meter's usual level: days already
    judged a jump or a stuck meter are left out, and a meter whose jump has lasted longer
    than the two weeks is compared with the days before it (``History.before_jumps``), so a
    multiplier that stays is flagged every day until it ends (up to
    ``JUMP_LOOKBACK_DAYS``). Households and street lights use the same energy whatever the
    day type, so while they have too few like days, any earlier day serves.
    """
    earlier = pl.concat([day.history.meter_days, day.history.before_jumps],
                        how="diagonal_relaxed").filter(USUAL_LEVEL)
    like = like_days(earlier, day.day)
    enough = like.group_by("meter_id").len().filter(
        pl.col("len") >= settings.multiplier_min_history_days)["meter_id"]
    steady = day.attrs.filter(pl.col("customer_group").is_in(
        texts((CustomerGroup.RESIDENTIAL, CustomerGroup.PUBLIC_LIGHTING))))["meter_id"]
    fallback = earlier.filter(pl.col("meter_id").is_in(steady.implode())
                              & ~pl.col("meter_id").is_in(enough.implode()))
    return pl.concat([like, fallback])


def _transformer_zero_days(per_meter: pl.DataFrame, events: pl.DataFrame,
                           meters: pl.DataFrame) -> pl.DataFrame:
    """Transformers whose customers all read zero all day: outage or data fault."""
    by_tx = per_meter.filter(pl.col("transformer_id").is_not_null()).group_by(
        "transformer_id").agg(
        pl.col("kwh").filter(pl.col("meter_role") == MeterRole.CUSTOMER).sum()
        .alias("_customers"),
        (pl.col("meter_role") == MeterRole.CUSTOMER).sum().alias("_n"),
        pl.col("kwh").filter(pl.col("meter_role") == MeterRole.TRANSFORMER_TOTAL).sum()
        .alias("_total"),
        pl.col("first_interval_end").min(), pl.col("last_interval_end").max(),
        pl.col("n_intervals").max(),
    ).filter((pl.col("_n") > 0) & (pl.col("_customers") == 0))
    if by_tx.height == 0:
        return rules.empty_findings()
    off = events.filter(pl.col("category") == EventCategory.POWER_OFF).join(
        meters.select("meter_id", "transformer_id"), on="meter_id")["transformer_id"].unique()
    outage = (pl.col("_total") <= 0.01) | pl.col("transformer_id").is_in(off.implode())
    return by_tx.select(
        pl.lit("transformer").alias("level"), pl.col("transformer_id").alias("node_id"),
        pl.when(outage).then(pl.lit(Finding.TRANSFORMER_OUTAGE))
        .otherwise(pl.lit(Finding.TRANSFORMER_DATA_FAULT)).alias("rule"),
        "first_interval_end", "last_interval_end", "n_intervals",
        pl.lit("flagged").alias("action"),
        pl.when(outage).then(pl.format("{} customer meters at zero, total meter {} kWh: a "
                                       "supply outage", "_n", pl.col("_total").round(2)))
        .otherwise(pl.format("{} customer meters at zero while the total meter delivered {} "
                             "kWh: a data or communication fault", "_n",
                             pl.col("_total").round(2))).alias("evidence"),
    ).cast(rules.FINDINGS_SCHEMA)  # type: ignore[arg-type]


def quality_day(silver: pl.DataFrame, attrs: pl.DataFrame,
                findings: pl.DataFrame) -> pl.DataFrame:
    """Completeness and estimated share per meter and per transformer for the day."""
    counts = findings.filter(pl.col("level") == "meter").group_by("node_id").agg(
        pl.len().cast(pl.Int64).alias("n_findings"),
        pl.col("rule").unique().sort().str.join(",").alias("rules"))
    meter = silver.group_by("meter_id").agg(
        pl.len().cast(pl.Int64).alias("n_intervals"),
        *[(pl.col("quality") == q).sum().cast(pl.Int64).alias(f"n_{q}") for q in Quality],
        pl.col("kwh_import").sum().alias("kwh_import"),
        pl.col("kwh_import").filter(pl.col("quality") == Quality.MEASURED).sum()
        .alias("kwh_measured"),
        pl.col("kwh_import").filter(pl.col("quality") == Quality.MEASURED).mean()
        .alias("kwh_per_interval"),
        pl.col("kwh_import").filter(pl.col("quality") == Quality.MEASURED).quantile(0.25)
        .alias("kwh_p25"),
        pl.col("kwh_import").filter(pl.col("quality") == Quality.MEASURED).max()
        .alias("kwh_max"),
    ).rename({"meter_id": "node_id"}).join(counts, on="node_id", how="left").with_columns(
        pl.col("n_findings").fill_null(0), pl.col("rules").fill_null(""))
    sums = ["n_intervals", "n_measured", "n_estimated", "n_edited", "n_missing", "kwh_import",
            "kwh_measured", "n_findings"]
    transformer = meter.join(attrs.select(pl.col("meter_id").alias("node_id"),
                                          "transformer_id"), on="node_id").filter(
        pl.col("transformer_id").is_not_null()).group_by("transformer_id").agg(
        *[pl.col(c).sum() for c in sums]).rename({"transformer_id": "node_id"}).with_columns(
        (pl.col("kwh_measured") / pl.col("n_measured")).alias("kwh_per_interval"))
    both = pl.concat([meter.with_columns(pl.lit("meter").alias("level")),
                      transformer.with_columns(pl.lit("transformer").alias("level"))],
                     how="diagonal_relaxed")
    return both.with_columns(
        ((pl.col("n_measured") + pl.col("n_edited")) / pl.col("n_intervals"))
        .alias("completeness"),
        (pl.col("n_estimated") / pl.col("n_intervals")).alias("estimated_share"),
    ).select(list(QUALITY_DAY_SCHEMA)).cast(QUALITY_DAY_SCHEMA)  # type: ignore[arg-type]


# --- which days, in which order ---------------------------------------------------------

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


def _stale(warehouse: Warehouse, day: str, *, settings: Settings) -> bool:
    return is_stale(warehouse, "readings", {"date": day},
                    readings_sources(warehouse, day, settings=settings))


def delivered_days(warehouse: Warehouse) -> list[str]:
    """Local days any current readings delivery touches, ascending."""
    manifest = read_manifest(warehouse)
    return sorted({d for e in manifest.values() if e.kind == "readings" and e.loaded
                   for d in e.dates})


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


def _waiting_rows(warehouse: Warehouse, manifest: Manifest, day: str,
                  *, settings: Settings) -> int | None:
    """Rows held in bronze for a day never built whose own delivery has not arrived.

    None when the day is to be built: its delivery is there, or it was built before (a
    built day always follows its sources).
    """
    if own_delivery(manifest, day, settings=settings) or partition_meta(
            warehouse, "readings", {"date": day}) is not None:
        return None
    return sum(manifest[name].date_rows.get(day, 0)
               for name in current_files(manifest, "readings", day))


def pending_days(*, settings: Settings) -> list[str]:
    """Days whose silver is absent or older than what it depends on, ascending.

    Days whose own delivery has not arrived wait (see ``vee_pending``).
    """
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    return [d for d in delivered_days(warehouse) if _stale(warehouse, d, settings=settings)
            and _waiting_rows(warehouse, manifest, d, settings=settings) is None]


def vee_pending(*, settings: Settings,
                on_unit: Callable[[str], object] | None = None) -> list[str]:
    """Build every stale day in date order; returns the days built.

    A rebuilt day may make the days after it stale (their rules read its quality_day):
    each day is judged when its turn comes. A day that only a few rows spilling over
    midnight touch is not built: its rows wait in bronze for the day's own delivery,
    recorded in the day's VEE record. The counts of each day built are in its VEE record
    (``vee_totals``).
    """
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    done = []
    for day in delivered_days(warehouse):
        if not _stale(warehouse, day, settings=settings):
            continue
        held = _waiting_rows(warehouse, manifest, day, settings=settings)
        if held is not None:
            write_json(warehouse, f"vee/{day}.json",
                       {"date": day, "waiting_rows": held})
            continue
        done.append(vee_day(day, settings=settings).date)
        if on_unit is not None:
            on_unit(day)
    return done


def vee_totals(days: list[str], *, settings: Settings) -> dict[str, int]:
    """Reconciliation of the given days summed from their VEE records (empty: none).

    Days waiting for their own delivery add to ``waiting_days`` and ``waiting_rows``.
    """
    warehouse = Warehouse.at(settings.warehouse)
    totals: dict[str, int] = {}
    for day in days:
        record = read_json(warehouse, f"vee/{day}.json")
        if record is None:
            continue
        counted = "waiting_days" if "waiting_rows" in record else "days"
        totals[counted] = totals.get(counted, 0) + 1
        for key, value in record.items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    return totals
