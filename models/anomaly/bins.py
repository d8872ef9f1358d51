"""Interval readings reduced to hour bins per meter and local day, supply outages blanked.

``hour_bins`` is the one streaming pass over the readings: energy, counts, evening-peak
parts and within-hour swings per meter, local day and local start hour; every later
signal works on these bins. The warehouse stores them per day (gold ``anomaly_hours``,
``day_bins``). A supply outage zeroes most meters of a transformer at once: those hours
(``drop_common_outages``) or intervals (``blank_common_outages``) are missing, not stolen.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ami.settings import Settings
from ami.vocabulary import CustomerGroup
from models.anomaly.readings import (
    deduplicate,
    is_measured,
    local_midnight,
    normalise_readings,
    topology_on,
    with_interval_minutes,
)

# --- module constants (candidates for Settings; not there yet) ------------------------
# An hour is "zero" below this mean power [kW] (per meter also below a share of its own
# mean: ``tables.ZERO_REL``).
ZERO_ABS_KW = 0.01
# Transformer-wide zero vote: at this share of voting meters at zero/missing in the same
# hour, with at least this many voters, the hour is an outage for all its meters.
COMMON_ZERO_SHARE = 0.6
COMMON_ZERO_MIN_METERS = 3


# --- interval → hour-bin reduction (the one streaming pass) ------------------------------


def hour_bins(
    lf: pl.LazyFrame, settings: Settings, days: pl.Expr, *, unique: bool, in_order: bool = False
) -> pl.DataFrame:
    """Energy, counts and evening-peak parts per meter, local day and local start hour.

    ``days`` selects the local days (a predicate on the ``day`` column). ``in_order``: the
    readings come sorted by meter, and the bins keep that order.

    ``unique`` says the readings hold one row per meter and instant (silver does); other
    inputs are de-duplicated first. Masked columns are formed before the grouping so that
    every aggregation is a plain sum, count or extreme (the fast path).
    """
    readings = (
        lf.with_columns(measured=is_measured()) if unique else deduplicate(lf)
    )
    peak_start = settings.peak_start.hour * 60 + settings.peak_start.minute
    peak_end = settings.peak_end.hour * 60 + settings.peak_end.minute
    start = (
        pl.col("interval_end") - pl.duration(minutes=pl.col("interval_minutes"))
    ).dt.convert_time_zone(settings.timezone)
    hours = pl.col("interval_minutes").cast(pl.Float64) / 60.0
    kwh = pl.col("kwh_import")
    minute = pl.col("start").dt.hour().cast(pl.Int32) * 60 + pl.col("start").dt.minute()
    # The evening peak is only defined for intraday resolutions.
    peak = (pl.col("interval_minutes") <= 60) & (minute >= peak_start) & (minute < peak_end)
    bins = (
        readings.with_columns(start=start)
        .with_columns(day=pl.col("start").dt.date())
        .filter(days)
        .select(
            "meter_id",
            "day",
            "interval_minutes",
            pl.col("start").dt.hour().cast(pl.Int32).alias("hour"),
            kwh,
            pl.col("measured").cast(pl.Int32),
            pl.when(kwh.is_not_null()).then(hours).alias("hours_valid"),
            pl.when(peak).then(kwh).alias("kwh_peak"),
            pl.col("kwh_export"),
            (kwh / hours).alias("kw"),
        )
        .group_by("meter_id", "day", "hour", maintain_order=in_order)
        .agg(
            pl.col("interval_minutes").max(),
            n_valid=kwh.count().cast(pl.Int32),
            n_measured=pl.col("measured").sum().cast(pl.Int32),
            kwh=kwh.sum(),
            hours_valid=pl.col("hours_valid").sum(),
            kwh_peak=pl.col("kwh_peak").sum(),
            n_peak=pl.col("kwh_peak").count().cast(pl.Int32),
            export=pl.col("kwh_export").sum(),
            kwh_max=kwh.max(),
            kwh_min=kwh.min(),
            kw_max=pl.col("kw").max(),
        )
    )
    # Within-hour swing between intervals: random per-interval tampering raises it.
    return (
        bins.with_columns(
            kwh_spread=pl.when(pl.col("n_valid") >= 2).then(pl.col("kwh_max") - pl.col("kwh_min"))
        )
        .drop("kwh_max", "kwh_min")
        .collect(engine="streaming")
    )


def drop_common_outages(bins: pl.DataFrame, topo: pl.DataFrame | None) -> pl.DataFrame:
    """Blank the hours when most meters of the same transformer read zero or nothing.

    A supply outage zeroes a whole transformer at once; theft is one meter. Public lighting
    and solar customers do not vote because they are zero by design at times. The blanked
    energy is missing (not zero, not stolen); the intervals stay 'measured', so confidence
    is kept. Without topology nothing is blanked.
    """
    if topo is None or bins.height == 0:
        return bins
    voters = _outage_voters(topo)
    kw = pl.when(pl.col("hours_valid") > 0).then(pl.col("kwh") / pl.col("hours_valid"))
    votes = (
        bins.join(voters, on="meter_id", how="inner")
        .filter(pl.col("export").fill_null(0.0) <= 0.0)
        .group_by("transformer_id", "day", "hour")
        .agg(n=pl.len(), n_zero=(kw.fill_null(0.0) <= ZERO_ABS_KW).sum())
        .filter(
            (pl.col("n") >= COMMON_ZERO_MIN_METERS)
            & (pl.col("n_zero") >= COMMON_ZERO_SHARE * pl.col("n"))
        )
        .select("transformer_id", "day", "hour", outage=pl.lit(True))
    )
    if votes.height == 0:
        return bins
    outage = pl.col("outage").fill_null(False)
    blank = ("kwh", "kwh_peak", "kwh_spread", "kw_max")
    return (
        bins.join(topo.select("meter_id", "transformer_id"), on="meter_id", how="left",
                  maintain_order="left")
        .join(votes, on=["transformer_id", "day", "hour"], how="left", maintain_order="left")
        .with_columns(
            [pl.when(outage).then(None).otherwise(pl.col(c)).alias(c) for c in blank]
            + [pl.when(outage).then(0).otherwise(pl.col(c)).alias(c) for c in ("n_valid", "n_peak")]
            + [pl.when(outage).then(0.0).otherwise(pl.col("hours_valid")).alias("hours_valid")]
        )
        .drop("outage", "transformer_id")
    )


def _outage_voters(topo: pl.DataFrame) -> pl.DataFrame:
    """Meters whose zeros tell a supply outage: not street lights, not solar (zero by design)."""
    return topo.filter(
        pl.col("transformer_id").is_not_null()
        & (pl.col("customer_group").fill_null("") != CustomerGroup.PUBLIC_LIGHTING)
        & (pl.col("solar_kwp").fill_null(0.0) <= 0.0)
    ).select("meter_id", "transformer_id")


def blank_common_outages(readings: pl.LazyFrame, topo: pl.DataFrame | None) -> pl.LazyFrame:
    """Intervals when most meters of a transformer read zero: a supply outage, not theft.

    The interval version of ``drop_common_outages`` (same voters and shares): the energy
    of those intervals is missing, for every meter of the transformer.
    """
    if topo is None:
        return readings
    voters = _outage_voters(topo)
    kw = pl.col("kwh_import") / (pl.col("interval_minutes").cast(pl.Float64) / 60.0)
    off = (
        readings.join(voters.lazy(), on="meter_id", how="inner")
        .group_by("transformer_id", "interval_end")
        .agg(n=pl.col("kwh_import").count(), n_zero=(kw <= ZERO_ABS_KW).sum())
        .filter((pl.col("n") >= COMMON_ZERO_MIN_METERS)
                & (pl.col("n_zero") >= COMMON_ZERO_SHARE * pl.col("n")))
        .select("transformer_id", "interval_end", outage=pl.lit(True))
    )
    return (
        readings.join(topo.lazy().select("meter_id", "transformer_id"), on="meter_id",
                      how="left")
        .join(off, on=["transformer_id", "interval_end"], how="left")
        .with_columns(kwh_import=pl.when(pl.col("outage").fill_null(False)).then(None)
                      .otherwise(pl.col("kwh_import")))
        .drop("transformer_id", "outage")
    )


def day_bins(
    readings: pl.LazyFrame, meters: pl.DataFrame | None, *, settings: Settings, day: date
) -> pl.DataFrame:
    """Hour bins of one local day of unique (silver) readings, supply outages blanked.

    Only the topology valid at the end of the day votes on outages, so that a meter added
    later does not change the bins of past days; grid meters are dropped when scored. The
    bins come sorted by meter (stored so, a range of meters reads few row groups).
    """
    topo = topology_on(meters, local_midnight(day + timedelta(days=1), settings.timezone))
    lf = with_interval_minutes(normalise_readings(readings), settings)
    # Silver is written sorted by meter: then the grouping keeps that order for free.
    in_order = bool(
        lf.select((pl.col("meter_id") >= pl.col("meter_id").shift(1)).all()).collect().item()
    )
    bins = hour_bins(lf, settings, pl.col("day") == day, unique=True, in_order=in_order)
    if not in_order:
        bins = bins.sort("meter_id", "hour")
    return drop_common_outages(bins, topo)
