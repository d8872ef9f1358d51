"""Baselines beside the theft scorer: what a one-liner and a generic forest already find.

A scorer earns its complexity only by beating these on the same injected data
(``models.anomaly.evaluate``). Both are pure functions, readings in, one score per meter
out (``meter_id``, ``score``; higher = more suspicious), comparing the last
``recent_days`` (30) with the ``history_days`` (180) before them, by instants ending at
``as_of`` (default the last ``interval_end``):

- ``drop_ratio``: 1 − recent mean daily energy / history mean daily energy;
- ``reference_iforest``: six recent-versus-history features (ratios of the mean, 10th and
  90th percentile of interval energy, of the evening-peak share and of the day-to-day
  coefficient of variation; the change of the zero-interval share), each turned into
  ranks across meters, isolated by a seeded scikit-learn ``IsolationForest``.

Readings need ``meter_id``, ``interval_end`` (UTC instants, the end of the interval),
``kwh_import`` [kWh per interval] and ``interval_minutes`` (else each meter's median
step). Missing values are skipped, never read as zero. Every meter in the readings gets a
score: without the data a feature needs, the feature is neutral (no change).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

from ami.errors import InputError
from ami.settings import Settings

RECENT_DAYS = 30
HISTORY_DAYS = 180
MINUTES_PER_DAY = 1440
#: Added to both sides of a ratio so that 0/0 is 1 (no change) [kWh, or share].
EPS = 1e-6
#: The recent-versus-history features of ``reference_iforest``.
FEATURES = ("mean_ratio", "p10_ratio", "p90_ratio", "peak_share_ratio", "zero_share_diff",
            "cv_ratio")


def _canonical(readings: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The columns the baselines read, typed; ``interval_minutes`` inferred when absent."""
    lf = readings.lazy()
    schema = lf.collect_schema()
    for column in ("meter_id", "interval_end", "kwh_import"):
        if column not in schema:
            raise InputError("readings lack a required column", column=column,
                             fix="give meter_id, interval_end, kwh_import (+ interval_minutes)")
    if not isinstance(schema["interval_end"], pl.Datetime):
        raise InputError(f"interval_end has type {schema['interval_end']}, expected a timestamp",
                         column="interval_end", fix="parse interval_end as UTC instants")
    end = pl.col("interval_end")
    end = (end.dt.replace_time_zone("UTC") if schema["interval_end"].time_zone is None  # type: ignore[attr-defined]
           else end.dt.convert_time_zone("UTC"))
    lf = lf.select(pl.col("meter_id").cast(pl.String), end.alias("interval_end"),
                   pl.col("kwh_import").cast(pl.Float64),
                   *([pl.col("interval_minutes").cast(pl.Float64)]
                     if "interval_minutes" in schema else []))
    step = (pl.col("interval_end").sort().diff().dt.total_minutes().median()
            .over("meter_id").cast(pl.Float64))
    minutes = (pl.col("interval_minutes").fill_null(step) if "interval_minutes" in schema
               else step)
    return lf.with_columns(interval_minutes=minutes)


def _windows(lf: pl.LazyFrame, recent_days: int, history_days: int,
             as_of: datetime | None) -> pl.LazyFrame:
    """Readings of the history and recent windows, flagged ``recent``."""
    end = pl.col("interval_end").max() if as_of is None else pl.lit(
        as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC),
        pl.Datetime("us", "UTC"))
    recent_start = end - pl.duration(days=recent_days)
    first = recent_start - pl.duration(days=history_days)
    return lf.filter(pl.col("interval_end") > first, pl.col("interval_end") <= end) \
        .with_columns(recent=pl.col("interval_end") > recent_start)


def _every_meter(lf: pl.LazyFrame, scores: pl.LazyFrame, fill: dict[str, float]
                 ) -> pl.DataFrame:
    """One row per meter of the readings (sorted), absent values neutral."""
    meters = lf.select(pl.col("meter_id").unique())
    return (meters.join(scores, on="meter_id", how="left")
            .with_columns(pl.col(c).fill_nan(None).fill_null(v) for c, v in fill.items())
            .sort("meter_id").collect())


def drop_ratio(readings: pl.LazyFrame | pl.DataFrame, *, recent_days: int = RECENT_DAYS,
               history_days: int = HISTORY_DAYS, as_of: datetime | None = None
               ) -> pl.DataFrame:
    """1 − mean daily energy of the recent days / that of the history before [-].

    Daily energy is the mean interval energy per minute × 1,440, so a gap lowers neither
    window. A meter without history consumption (or without recent readings) scores 0.
    """
    lf = _canonical(readings)
    rate = pl.col("kwh_import") / pl.col("interval_minutes") * MINUTES_PER_DAY
    per_meter = _windows(lf, recent_days, history_days, as_of).group_by("meter_id").agg(
        recent=rate.filter(pl.col("recent")).mean(),
        history=rate.filter(~pl.col("recent")).mean(),
    ).select("meter_id", score=pl.when(pl.col("history") > 0)
             .then(1.0 - pl.col("recent") / pl.col("history")))
    return _every_meter(lf, per_meter, {"score": 0.0})


def _ratio(name: str) -> pl.Expr:
    """Recent over history of a statistic; 1 when both are 0."""
    return (pl.col(f"{name}_recent") + EPS) / (pl.col(f"{name}_history") + EPS)


def recent_history_features(
    readings: pl.LazyFrame | pl.DataFrame, *, settings: Settings,
    recent_days: int = RECENT_DAYS, history_days: int = HISTORY_DAYS,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """``FEATURES`` per meter: the recent window against the history before it.

    The evening peak (``settings.peak_start``–``peak_end``) and the days of the day-to-day
    variation are local to ``settings.timezone``; an interval belongs to the local time at
    which it starts.
    """
    lf = _canonical(readings)
    kwh = pl.col("kwh_import")
    start = (pl.col("interval_end") - pl.duration(minutes=pl.col("interval_minutes")))\
        .dt.convert_time_zone(settings.timezone)
    tod = start.dt.time()
    peak_start, peak_end = settings.peak_start, settings.peak_end
    in_peak = ((tod >= peak_start) & (tod < peak_end) if peak_start < peak_end
               else (tod >= peak_start) | (tod < peak_end))
    windowed = _windows(lf, recent_days, history_days, as_of).with_columns(
        day=start.dt.date(), peak=in_peak)
    rate = kwh / pl.col("interval_minutes") * MINUTES_PER_DAY
    daily = windowed.group_by("meter_id", "recent", "day").agg(day_kwh=rate.mean()) \
        .group_by("meter_id", "recent").agg(
            cv=pl.when(pl.col("day_kwh").mean() > 0)
            .then(pl.col("day_kwh").std() / pl.col("day_kwh").mean()))
    stats = windowed.group_by("meter_id", "recent").agg(
        mean=kwh.mean(),
        p10=kwh.quantile(0.1, "linear"),
        p90=kwh.quantile(0.9, "linear"),
        peak_share=pl.when(kwh.sum() > 0).then(kwh.filter(pl.col("peak")).sum() / kwh.sum()),
        zero_share=(kwh == 0).cast(pl.Float64).mean(),
    ).join(daily, on=["meter_id", "recent"], how="left")
    names = ("mean", "p10", "p90", "peak_share", "zero_share", "cv")
    recent = stats.filter(pl.col("recent")).select(
        "meter_id", *(pl.col(n).alias(f"{n}_recent") for n in names))
    history = stats.filter(~pl.col("recent")).select(
        "meter_id", *(pl.col(n).alias(f"{n}_history") for n in names))
    features = recent.join(history, on="meter_id", how="full", coalesce=True).select(
        "meter_id",
        mean_ratio=_ratio("mean"),
        p10_ratio=_ratio("p10"),
        p90_ratio=_ratio("p90"),
        peak_share_ratio=_ratio("peak_share"),
        zero_share_diff=pl.col("zero_share_recent") - pl.col("zero_share_history"),
        cv_ratio=_ratio("cv"),
    )
    neutral = {name: (0.0 if name == "zero_share_diff" else 1.0) for name in FEATURES}
    return _every_meter(lf, features, neutral)


def reference_iforest(
    readings: pl.LazyFrame | pl.DataFrame, *, settings: Settings, seed: int = 0,
    trees: int = 200, recent_days: int = RECENT_DAYS, history_days: int = HISTORY_DAYS,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Isolation of each meter's recent-versus-history ``FEATURES`` (as ranks) [-].

    Ranks (average ties, divided by the meter count) make the forest blind to scale and to
    the heavy tails of ratios; the score is ``-score_samples``, so higher = more isolated.
    A generic detector: it flags change in any direction, not only the way theft goes.
    """
    features = recent_history_features(readings, settings=settings, recent_days=recent_days,
                                       history_days=history_days, as_of=as_of)
    ranks = features.select(pl.col(name).rank("average") / pl.len() for name in FEATURES)
    x = ranks.to_numpy().astype(np.float64)
    forest = IsolationForest(n_estimators=trees, random_state=seed).fit(x)
    return features.select("meter_id").with_columns(score=pl.Series(-forest.score_samples(x)))
