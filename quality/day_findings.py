"""Meter-day and transformer-day findings over a finished silver day, and its quality.

On the day's silver readings and its inputs (``quality.day_inputs.DayInputs``): the
interval sum against the register delta, the customer group's range, the meter's own
history (multiplier jumps), clock-adjust events, transformers whose customers all read
zero (an outage or a data fault); then ``quality_day``, the completeness and findings
per meter and transformer that later days read as their history.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from ami.settings import Settings
from ami.vocabulary import CustomerGroup, EventCategory, Finding, MeterRole, Quality, texts
from quality import rules
from quality.day_inputs import QUALITY_DAY_SCHEMA, USUAL_LEVEL, DayInputs, like_days


def partial_day_finding(silver: pl.DataFrame, day: str) -> pl.DataFrame:
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


def day_findings(silver: pl.DataFrame, day: DayInputs, *,
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


def _jump_history(day: DayInputs, *, settings: Settings) -> pl.DataFrame:
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
