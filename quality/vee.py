"""VEE of interval readings for one local day: bronze strings → silver readings + findings.

Per day, in the order commercial MDM systems apply them:

* parse and de-duplicate (``quality.intake``) — rows that cannot be typed, negative
  values, instants off the interval grid or in the future are quarantined with the rule
  and a reason a person can act on; exact duplicates are dropped and counted, conflicting
  ones keep the first delivered row;
* validate (``quality.rules``, pure functions) on the day as a meters × intervals grid
  (``quality.grid``): absurd values and spikes are rejected (quarantined with their
  original value, then estimated); flat lines, zero runs, unknown meters and readings
  outside a meter's validity are flagged and kept; meter-days and transformer-days are
  judged over the finished day (``quality.day_findings``);
* estimate (``quality.estimate``) — linear for short gaps, like-day profile (scaled to
  the register when known) for longer ones; never beyond the last real reading;
* edit — manual corrections (``quality.edits``) are applied last, with their audit trail.

Every silver value carries ``quality`` (measured / estimated / edited / missing) and
``rule``; every finding is stored (silver ``findings``), per-meter and per-transformer
quality metrics go to silver ``quality_day``, and the day's events and register reads to
silver ``events`` and ``registers``. What a day reads besides its readings is
``quality.day_inputs``; which days are built, in which order, ``quality.schedule``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from ami.errors import NoDataError
from ami.instants import instant
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, Finding, MeterRole, Quality, Rule
from quality import estimate, rules
from quality.day_findings import day_findings, partial_day_finding, quality_day
from quality.day_inputs import HISTORY_DAYS, DayInputs, History, like_day_profile, own_delivery
from quality.edits import apply_edits, edits_for_day
from quality.grid import ESTIMATED, MEASURED, MISSING, RULE, Block, build_blocks, cells_of
from quality.intake import (
    QUARANTINE_SCHEMA,
    RULE_NAMES,
    deduplicate,
    parse_readings,
    quarantine_findings,
    to_quarantine,
)
from quality.sources import current_files, scan_bronze
from warehouse import (
    Warehouse,
    write_partition,
)
from warehouse.schemas import schema_of
from warehouse.state import read_manifest, write_json

__all__ = ["VeeCounts", "vee_day"]

SILVER_READINGS_SCHEMA = schema_of("readings").polars


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


# --- history ----------------------------------------------------------------------------


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
    inputs = DayInputs.read(warehouse, manifest, day, settings=settings)
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
        finding_parts.append(partial_day_finding(silver, day))
    finding_parts += day_findings(silver, inputs, settings=settings)
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


def _vee_block(block: Block, day: DayInputs, lineage: pl.DataFrame, rejected_rows: pl.DataFrame,
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
    # (a day not yet delivered has one finding for all its gaps, see partial_day_finding)
    gaps = before & ~whole[:, None] & (block.rule != RULE[Rule.ABSURD_VALUE]) \
        & (block.rule != RULE[Rule.SPIKE]) & delivered
    for state, action in ((ESTIMATED, "estimated"), (MISSING, "left missing")):
        parts.append(rules.from_runs(block, gaps & (block.quality == state),
                                     Finding.MISSING_INTERVAL, action,
                                     pl.format("{} interval(s) not delivered", "length")))
    return parts


# --- which days, in which order ---------------------------------------------------------


