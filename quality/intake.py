"""A day's bronze readings typed and de-duplicated: the first steps of VEE.

Pure frames in, frames out (unit-tested on hand-built rows, ``tests/quality``):

* ``parse_readings`` — rows that cannot be typed, negative values, instants off the local
  interval grid or in the future (after the load that delivered them) are quarantined
  with the rule and a reason a person can act on;
* ``deduplicate`` — exact copies of a cell are dropped and counted; of conflicting ones
  the first delivered is kept and the others are quarantined;
* ``quarantine_findings`` — a finding per quarantined row.
"""

from __future__ import annotations

import polars as pl

from ami.instants import HINT, instant
from ami.settings import Settings
from ami.vocabulary import Finding, Rule, texts
from quality import rules
from quality.days import local_day
from quality.parse import number, optional
from warehouse.schemas import schema_of

QUARANTINE_SCHEMA = schema_of("quarantine").polars


VALID_INTERVALS = (5, 10, 15, 30, 60)


#: Quarantine rules that name an interval of the grid (their cell is not "missing").
RULE_NAMES = texts((Rule.NEGATIVE_VALUE, Rule.OFF_GRID_TIMESTAMP, Rule.FUTURE_TIMESTAMP,
                    Rule.UNPARSABLE))


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
    # first delivered: the earlier load (its id is its Unix time), then file and row
    loaded = pl.col("_dlt_load_id").cast(pl.String).cast(pl.Float64, strict=False)
    ordered = dup.sort(pl.col("meter_id"), pl.col("interval_end"), loaded, pl.col("_file"),
                       pl.col("_row"), nulls_last=True)
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
