"""Validation rules of VEE: each returns the cells or meter-days it flags, as findings.

Checks return findings; the caller (``quality.vee``) decides what a finding does to a
value: rejected values are removed and estimated, flagged values are kept with the rule
named in silver ``rule``. A finding is one run of cells (or one meter-day, or one
transformer-day) with the rule, the action taken and the evidence in numbers.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from ami.settings import Settings
from ami.vocabulary import Finding, Rule
from quality.grid import MEASURED, Block, run_lengths, runs
from warehouse.schemas import schema_of

FINDINGS_SCHEMA = schema_of("findings").polars

#: A day's export at or below this is a meter's noise, not export [kWh] (reverse_energy).
EXPORT_NOISE_KWH = 0.01
#: Added to a day's kWh/kW before its logarithm, so an empty day has one [kWh/kW].
GROUP_LOG_OFFSET = 0.01
#: The group's robust spread (log scale) is at least this: in a group of near-identical
#: days a tiny difference would otherwise be "far out" of its range [-].
GROUP_SPREAD_MIN = 0.05

#: Rules with their meaning, for the evaluation and the docs (rule → what it finds).
RULE_TEXT: dict[str, str] = {
    Finding.MISSING_INTERVAL: "intervals the head-end did not deliver",
    Finding.NO_READINGS_DAY: "a meter expected that day delivered nothing",
    Finding.NEVER_REPORTING: "a meter listed in the customer system has never reported",
    Finding.DUPLICATE_EQUAL: "the same interval delivered twice with the same value",
    Finding.DUPLICATE_CONFLICTING: "the same interval delivered twice with different values",
    Rule.NEGATIVE_VALUE: "a negative interval energy",
    Rule.OFF_GRID_TIMESTAMP: "an interval end off the meter's interval grid",
    Rule.FUTURE_TIMESTAMP: "an interval end in the future",
    Rule.UNPARSABLE: "a value or instant that cannot be read",
    Rule.ABSURD_VALUE: "energy far above what the contracted capacity allows",
    Rule.SPIKE: "energy far above the meter's own day that the register delta contradicts",
    Rule.HIGH_VALUE: "energy far above the meter's own day, kept: no register delta to judge it",
    Rule.FLAT_LINE: "the same non-zero value for many intervals (stuck meter)",
    Rule.ZERO_RUN: "zero energy for hours on a meter that normally consumes",
    Finding.REVERSE_ENERGY: "exported energy on a meter without solar",
    Rule.UNKNOWN_METER: "readings of a meter the customer system does not list",
    Rule.OUTSIDE_ACTIVE_PERIOD: "readings outside the meter's validity period",
    Finding.REGISTER_MISMATCH: "the day's interval sum disagrees with the register delta",
    Finding.CLOCK_ADJUSTED: "the meter reported a clock adjustment",
    Finding.MULTIPLIER_JUMP: "daily energy suddenly a multiple of its history (CT ratio)",
    Finding.GROUP_HIGH: "daily energy far above the customer group's usual range",
    Finding.GROUP_LOW: "daily energy far below the customer group's usual range",
    Finding.TRANSFORMER_OUTAGE: "every meter of a transformer at zero, total meter too (outage)",
    Finding.TRANSFORMER_DATA_FAULT: "every customer of a transformer at zero but energy delivered",
}


def empty_findings() -> pl.DataFrame:
    """A findings frame with no rows."""
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


def from_runs(block: Block, mask: np.ndarray, rule: str, action: str,
              evidence: pl.Expr | None = None) -> pl.DataFrame:
    """One finding per run of flagged cells of a meter.

    ``evidence`` may use the columns ``value`` (the run's first value), ``median``,
    ``mad`` (the meter's day statistics) and ``length``.
    """
    rows, first, length = runs(mask)
    if len(rows) == 0:
        return empty_findings()
    ends = block.ends()
    stats = _day_stats(block, rows)
    frame = pl.DataFrame({
        "node_id": block.meter_ids.gather(pl.Series(rows)),
        "first_interval_end": ends.gather(pl.Series(first)),
        "last_interval_end": ends.gather(pl.Series(first + length - 1)),
        "n_intervals": pl.Series(length.astype(np.int32)),
        "value": block.kwh_import[rows, first],
        "median": stats[0], "mad": stats[1], "length": length,
    })
    return frame.select(
        pl.lit("meter").alias("level"), "node_id", pl.lit(rule).alias("rule"),
        "first_interval_end", "last_interval_end", "n_intervals",
        pl.lit(action).alias("action"),
        (evidence if evidence is not None else pl.lit(RULE_TEXT.get(rule, rule)))
        .alias("evidence"),
    ).cast(FINDINGS_SCHEMA)  # type: ignore[arg-type]


def meter_days(block: Block, rows: np.ndarray, rule: str, action: str | pl.Series,
               evidence: pl.Series) -> pl.DataFrame:
    """One finding per listed block row covering the whole day."""
    if len(rows) == 0:
        return empty_findings()
    ends = block.ends()
    return pl.DataFrame({
        "level": "meter", "node_id": block.meter_ids.gather(pl.Series(rows)), "rule": rule,
        "first_interval_end": ends[0], "last_interval_end": ends[-1],
        "n_intervals": block.per_day, "action": action, "evidence": evidence,
    }).cast(FINDINGS_SCHEMA)  # type: ignore[arg-type]


def row_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles of each row ignoring NaN (0 for a row without values), by one sort.

    ``numpy.nanpercentile`` loops over rows in Python; sorting once (NaN sort last) and
    interpolating between order statistics is the same quantile, vectorised.
    """
    ordered = np.sort(values, axis=1)
    count = np.sum(~np.isnan(values), axis=1)
    top = np.maximum(count - 1, 0)
    out = []
    for q in qs:
        position = top * q
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, top)
        frac = position - low
        a = np.take_along_axis(ordered, low[:, None], axis=1)[:, 0]
        b = np.take_along_axis(ordered, high[:, None], axis=1)[:, 0]
        out.append(np.where(count > 0, a + (b - a) * frac, 0.0))
    return out


def _day_stats(block: Block, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of each meter's measured import this day [kWh] (of ``rows``)."""
    values = np.where(block.quality == MEASURED, block.kwh_import, np.nan)
    if rows is not None:
        values = values[rows]
    (median,) = row_quantiles(values, (0.5,))
    (mad,) = row_quantiles(np.abs(values - median[:, None]), (0.5,))
    return median, mad


def spikes(block: Block, register_kwh: np.ndarray, record_kwh: np.ndarray, *,
           settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Measured values far above the meter's own readings of the day (robust statistic).

    A candidate exceeds median + k·1.4826·MAD of the meter's measured values of the day
    (k = ``spike_factor``), ``spike_p90_factor`` times the day's 90th percentile, and a
    floor of ``spike_floor_kwh_per_hour`` (a near-idle meter's ordinary switching is not a
    spike). A high value alone is not a fault: a kettle, a cooker or a pump draws ten times
    a household's median for a half hour. The register decides, as an MDM's sum check
    does (``register_kwh`` = the day's register delta, NaN = unknown):

    * known, and the measured intervals exceed it (beyond the tolerance): the meter did
      not consume that energy. The register says how much the intervals overstate; the
      largest outliers of the day (above median + k·1.4826·MAD and the floor; the 90th
      percentile test is dropped, a busy evening must not hide a spike) that account for
      the excess are the spikes, and no more of them;
    * known and not exceeded: the energy was really consumed — nothing to say;
    * unknown: nothing contradicts the value — it is kept, and flagged ``high_value``
      when it is above the meter's own record (``record_kwh``: its largest interval of
      the days before, NaN = unknown): a cooking peak the meter draws every week is not
      worth a finding. (Values above what the contracted capacity allows are ``absurd``
      whatever the register says.)

    Returns (spikes to reject, high values to flag).
    """
    median, mad = _day_stats(block)
    values = np.where(block.quality == MEASURED, block.kwh_import, np.nan)
    (p90,) = row_quantiles(values, (0.9,))
    measured_sum = np.nansum(values, axis=1)
    floor = settings.spike_floor_kwh_per_hour * block.minutes / 60
    k = settings.spike_factor
    limit = np.maximum.reduce([median + k * 1.4826 * mad, settings.spike_p90_factor * p90,
                               np.full_like(p90, floor)])
    with np.errstate(invalid="ignore"):
        candidate = (block.quality == MEASURED) & (block.kwh_import > limit[:, None])
        tolerance = np.maximum(settings.register_tolerance_kwh,
                               settings.register_tolerance_share * np.abs(register_kwh))
        known = ~np.isnan(register_kwh)
        excess = np.where(known, measured_sum - register_kwh - tolerance, 0.0)
        outlier = (block.quality == MEASURED) & (block.kwh_import > np.maximum(
            median + k * 1.4826 * mad, floor)[:, None]) & (excess > 0)[:, None]
        beyond = ~(block.kwh_import <= record_kwh[:, None])  # NaN record: no history
    return (_largest_covering(block.kwh_import, outlier, excess),
            candidate & ~known[:, None] & beyond)


def _largest_covering(values: np.ndarray, mask: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Per row, the fewest largest ``mask``ed values whose sum reaches ``excess``.

    All of them when even they do not reach it.
    """
    ranked = -np.sort(-np.where(mask, values, 0.0), axis=1)      # descending, zeros last
    reached = np.cumsum(ranked, axis=1) >= excess[:, None]
    count = np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, mask.sum(axis=1))
    cutoff = np.take_along_axis(ranked, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0]
    with np.errstate(invalid="ignore"):
        return mask & (values >= cutoff[:, None]) & (count > 0)[:, None]


def flat_lines(block: Block, *, settings: Settings) -> np.ndarray:
    """Runs of the same non-zero measured value at least ``flat_line_intervals`` long."""
    values = block.kwh_import
    measured = block.quality == MEASURED
    # a cell that repeats its predecessor: a run of n equal values is n − 1 such cells
    # (marking both cells of each equal pair would join 0.1, 0.1, 0.2, 0.2, … into one run)
    repeats = np.zeros(values.shape, dtype=bool)
    repeats[:, 1:] = measured[:, 1:] & measured[:, :-1] & (values[:, 1:] == values[:, :-1]) \
        & (values[:, 1:] != 0)
    long = repeats & (run_lengths(repeats) >= settings.flat_line_intervals - 1)
    flat = long.copy()
    flat[:, :-1] |= long[:, 1:]  # and each run's first value
    return flat


def zero_runs(block: Block, eligible: np.ndarray, *, settings: Settings) -> np.ndarray:
    """Runs of measured zeros lasting ``zero_run_minutes`` or more on eligible meters.

    Eligible meters are those where zeros are not normal (no rooftop solar, not street
    lighting). The values are kept: a bypassed meter reading zero stays zero.
    """
    zero = (block.quality == MEASURED) & (block.kwh_import == 0) & eligible[:, None]
    need = max(1, settings.zero_run_minutes // block.minutes)
    return zero & (run_lengths(zero) >= need)


def absurd(block: Block, contracted_kw: np.ndarray, *, settings: Settings) -> np.ndarray:
    """Measured values above ``absurd_kwh_per_kw`` × contracted capacity × hours."""
    limit = contracted_kw * settings.absurd_kwh_per_kw * block.minutes / 60
    with np.errstate(invalid="ignore"):
        return (block.quality == MEASURED) & (block.kwh_import > limit[:, None])


def reverse_energy(block: Block, has_solar: np.ndarray, expected: np.ndarray) -> pl.DataFrame:
    """Meter-days with exported energy on a customer meter without rooftop solar."""
    export = np.where(block.quality == MEASURED, block.kwh_export, np.nan)
    with np.errstate(all="ignore"):
        total = np.nansum(export, axis=1)
    rows = np.flatnonzero((total > EXPORT_NOISE_KWH) & ~has_solar & expected)
    evidence = pl.Series([f"export {v:.2f} kWh in the day, no solar listed"
                          for v in total[rows]], dtype=pl.String)
    return meter_days(block, rows, Finding.REVERSE_ENERGY, "flagged", evidence)


def group_range(day_kwh: pl.DataFrame, *, settings: Settings) -> pl.DataFrame:
    """Meter-days far outside their customer group's range that day (robust, log scale).

    ``day_kwh``: meter_id, customer_group, contracted_kw, kwh (complete measured days).
    The energy per contracted kW is compared on a log scale with the group's median and
    MAD: more than ``group_range_z`` robust deviations above is ``group_high``, below is
    ``group_low``.
    """
    scored = day_kwh.lazy().filter(pl.col("contracted_kw") > 0).with_columns(
        (pl.col("kwh") / pl.col("contracted_kw") + GROUP_LOG_OFFSET).log().alias("_x")
    ).with_columns(
        pl.col("_x").median().over("customer_group").alias("_m"),
    ).with_columns(
        ((pl.col("_x") - pl.col("_m")).abs().median().over("customer_group") * 1.4826)
        .clip(lower_bound=GROUP_SPREAD_MIN).alias("_s"),
        pl.len().over("customer_group").alias("_n"),
    ).with_columns(((pl.col("_x") - pl.col("_m")) / pl.col("_s")).alias("_z")).filter(
        (pl.col("_n") >= settings.group_range_min_meters)
        & (pl.col("_z").abs() > settings.group_range_z)
    )
    return scored.select(
        pl.lit("meter").alias("level"), pl.col("meter_id").alias("node_id"),
        pl.when(pl.col("_z") > 0).then(pl.lit(Finding.GROUP_HIGH))
        .otherwise(pl.lit(Finding.GROUP_LOW)).alias("rule"),
        "first_interval_end", "last_interval_end", "n_intervals",
        pl.lit("flagged").alias("action"),
        pl.format("{} kWh/kW in the day; group {} median {} kWh/kW (z = {})",
                  (pl.col("kwh") / pl.col("contracted_kw")).round(3), "customer_group",
                  (pl.col("_m").exp() - 0.01).round(3), pl.col("_z").round(1))
        .alias("evidence"),
    ).cast(FINDINGS_SCHEMA).collect()  # type: ignore[arg-type]


def multiplier_jumps(today: pl.DataFrame, history: pl.DataFrame, *,
                     settings: Settings) -> pl.DataFrame:
    """Meter-days whose energy per measured interval is a multiple of the meter's history.

    ``today``: meter_id, kwh_per_interval, kwh_p25, first/last_interval_end, n_intervals;
    ``history``: meter_id, kwh_per_interval, kwh_p25 over earlier days (one row per day).
    A CT or multiplier change makes every interval ×k at once: the ratio to the median of
    the earlier days is at least ``multiplier_min_ratio``, and so is the ratio of the base
    load (the day's 25th percentile, below ``multiplier_base_floor_kw`` counted as that
    floor). People using more — cold days, guests, a return from holiday — raise the
    evening far more than the fridge and standby at night; a multiplier raises both. The
    jump must also stand out of the meter's own day-to-day spread: its logarithm at least
    ``multiplier_noise_z`` robust deviations (1.4826·MAD of the log daily energy of the
    history). On history written before the base load was kept, the energy decides.
    """
    if history.height == 0:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    log_level = pl.col("kwh_per_interval").clip(lower_bound=1e-6).log()
    usual = history.group_by("meter_id").agg(
        pl.col("kwh_per_interval").median().alias("_usual"),
        pl.col("kwh_p25").median().alias("_base"), pl.len().alias("_days"),
        ((log_level - log_level.median()).abs().median() * 1.4826).alias("_spread"))
    floor = settings.multiplier_base_floor_kw * 24 / pl.col("n_intervals")  # [kWh/interval]
    base_ratio = (pl.col("kwh_p25") + floor) / (pl.col("_base") + floor)
    jumped = today.lazy().join(usual.lazy(), on="meter_id").with_columns(
        (pl.col("kwh_per_interval") / pl.col("_usual")).alias("_ratio"),
        base_ratio.alias("_base_ratio"),
    ).filter(
        (pl.col("_days") >= settings.multiplier_min_history_days)
        & (pl.col("_usual") > 0.005)
        & (pl.col("_ratio") >= settings.multiplier_min_ratio)
        & (pl.col("_base_ratio") >= settings.multiplier_min_ratio).fill_null(True)
        & (pl.col("_ratio").log() >= settings.multiplier_noise_z * pl.col("_spread"))
    )
    return jumped.select(
        pl.lit("meter").alias("level"), pl.col("meter_id").alias("node_id"),
        pl.lit(Finding.MULTIPLIER_JUMP).alias("rule"), "first_interval_end", "last_interval_end",
        "n_intervals", pl.lit("flagged").alias("action"),
        pl.format("{} kWh per interval against {} over the {} days before (×{}; base load "
                  "×{}): check the CT ratio / multiplier", pl.col("kwh_per_interval").round(3),
                  pl.col("_usual").round(3), "_days", pl.col("_ratio").round(1),
                  pl.col("_base_ratio").round(1)).alias("evidence"),
    ).cast(FINDINGS_SCHEMA).collect()  # type: ignore[arg-type]


def register_mismatch(sums: pl.DataFrame, *, settings: Settings) -> pl.DataFrame:
    """Meter-days whose interval sum disagrees with the register delta.

    ``sums``: meter_id, kwh (Σ of the day's silver import, complete days only),
    register_delta_kwh, first/last_interval_end, n_intervals.
    """
    tolerance = pl.max_horizontal(
        pl.lit(settings.register_tolerance_kwh),
        pl.col("register_delta_kwh").abs() * settings.register_tolerance_share)
    # (one lazy query: the eager filter-then-format of a joined frame panicked in polars 2.1)
    return sums.lazy().filter(
        (pl.col("kwh") - pl.col("register_delta_kwh")).abs() > tolerance
    ).select(
        pl.lit("meter").alias("level"), pl.col("meter_id").alias("node_id"),
        pl.lit(Finding.REGISTER_MISMATCH).alias("rule"), "first_interval_end", "last_interval_end",
        "n_intervals", pl.lit("flagged").alias("action"),
        pl.format("intervals sum to {} kWh, the register advanced {} kWh",
                  pl.col("kwh").round(3), pl.col("register_delta_kwh").round(3))
        .alias("evidence"),
    ).cast(FINDINGS_SCHEMA).collect()  # type: ignore[arg-type]


def clock_events(events: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """A finding per clock-adjust event (meter_id, event_at, event_code)."""
    return events.select(
        pl.lit("meter").alias("level"), pl.col("meter_id").alias("node_id"),
        pl.lit(Finding.CLOCK_ADJUSTED).alias("rule"),
        pl.col("event_at").alias("first_interval_end"),
        (pl.col("event_at") + step).alias("last_interval_end"),
        pl.lit(0).alias("n_intervals"), pl.lit("flagged").alias("action"),
        pl.format("event {} at {}: intervals around it may be shifted", "event_code",
                  pl.col("event_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).alias("evidence"),
    ).cast(FINDINGS_SCHEMA)  # type: ignore[arg-type]
