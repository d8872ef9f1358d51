"""The figures of an energy balance, each defined once: loss, loss rate, measured share, reliable.

Gold computes them with these expressions for every node (transformer, feeder, branch,
province) and every period (interval, day, month); readers (the monthly report, ``ami
losses``, the review page) read them from gold and derive none of them again, so the
workbook a regulator receives and the warehouse hold the same numbers.

Energy is summed in whole micro-kWh (``kwh_sum``): an integer sum does not depend on the
order Polars adds in (its threads, the files' chunks), so the same readings give the same
figures to the last bit in every run, and a published figure that lands on a half (e.g.
310 937.05 kWh) always rounds the same way.
"""

from __future__ import annotations

import polars as pl

#: Energy is summed in whole micro-kWh: finer than any meter records (a Wh is 1,000 of
#: them); a computed value (an estimate, a technical loss) moves by at most half of one.
MICRO_DIGITS = 6
MICRO_KWH = 10**MICRO_DIGITS

#: Version of the definitions below. Each gold day records it among its sources, so
#: raising it (when a definition changes) rebuilds every gold day and month with the new
#: definitions on the next ``ami ingest`` or ``ami_losses`` run.
DEFINITIONS_VERSION = 2


def micro_kwh(energy: str | pl.Expr) -> pl.Expr:
    """Energy [kWh] as a whole number of micro-kWh (Int64; null stays null)."""
    column = pl.col(energy) if isinstance(energy, str) else energy
    return (column * MICRO_KWH).round().cast(pl.Int64)


def from_micro_kwh(micro: pl.Expr) -> pl.Expr:
    """Whole micro-kWh back to kWh: the float nearest the decimal value.

    Polars divides by a constant as a product with its inverse, a bit off at times;
    rounding to the six decimals puts the value back on the nearest float.
    """
    return (micro / MICRO_KWH).round(MICRO_DIGITS)


def kwh_sum(energy: str | pl.Expr) -> pl.Expr:
    """Σ energy [kWh] in whole micro-kWh: the same rows give the same sum in any order."""
    return from_micro_kwh(micro_kwh(energy).sum())


def loss_kwh() -> pl.Expr:
    """Loss = energy in − energy out [kWh]; null without a total meter (nothing to compare)."""
    loss = from_micro_kwh(micro_kwh("energy_in_kwh") - micro_kwh("energy_out_kwh"))
    return pl.when(pl.col("has_total_meter")).then(loss).alias("loss_kwh")


def loss_pct(loss: str = "loss_kwh", energy_in: str = "energy_in_kwh") -> pl.Expr:
    """Loss rate = 100 × loss / energy in [%]: a sum over a sum, never a mean of rates.

    Null when there is no loss (no total meter) or no energy in.
    """
    return pl.when(pl.col(energy_in) > 0).then(100 * pl.col(loss) / pl.col(energy_in))


def measured_share() -> pl.Expr:
    """Share of the balance's energy that was measured, not estimated or missing [0-1].

    The energy of a balance is what its meters recorded, in and out (``energy_in_kwh +
    energy_out_kwh``); ``measured_kwh`` is the part recorded by readings of quality
    measured. A missing reading recorded nothing, so it counts as unmeasured energy the
    size of the node's mean reading: the energy share is scaled by the share of readings
    with a value, ``(n_intervals − n_missing) / n_intervals``. A node with no energy at all
    (an outage) has nothing to weigh: each reading counts alike, ``n_measured /
    n_intervals``. Additive columns, so every level and period sums them and applies this.
    """
    # in whole micro-kWh: a balance whose every reading was measured has a share of exactly 1
    energy = micro_kwh("energy_in_kwh") + micro_kwh("energy_out_kwh")
    with_value = (pl.col("n_intervals") - pl.col("n_missing")) / pl.col("n_intervals")
    return (
        pl.when(pl.col("n_intervals") == 0).then(None)
        .when(energy > 0).then(micro_kwh("measured_kwh") / energy * with_value)
        .otherwise(pl.col("n_measured") / pl.col("n_intervals"))
        .alias("measured_share")
    )


def reliable(completeness_threshold: float) -> pl.Expr:
    """A balance to be reported as fact: a total meter and a measured share at the threshold."""
    return (
        pl.col("has_total_meter") & (pl.col("measured_share") >= completeness_threshold)
    ).fill_null(value=False).alias("reliable")
