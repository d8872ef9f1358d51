"""The whole history of a meter: day features, and the change that theft makes in them.

A theft that began months ago is inside any fixed "history" window, so comparing the
last two weeks with the three months before cannot see it. Instead every local day of a
meter (up to ``HISTORY_MAX_DAYS``) is reduced to a few features — its energy against its
peers' that day, zero share, roughness between intervals, smoothness (lag-1
autocorrelation), repeated values, the evening and morning shares and the correlation
of its shape with its peers' — and each meter's most significant change in them is
found: the one split of its days into before and after that best separates the two, in
the directions theft moves them (less energy, more zeros, rougher, flatter, a shape
unlike its peers'). The after part runs to the last day, as a theft does.

This is the l2 single change point of ``ruptures`` (``Binseg(model="l2")``, one break,
on the standardised features; the tests check it against ruptures), computed for all
meters at once with cumulative sums, and made one-sided: only changes towards theft
count. Its t statistics per feature say what changed, ``change_day`` when.

Day features are built per day (``day_table``), so the warehouse keeps them as gold
``anomaly_days`` and scores a year from them; a readings file is reduced the same way.
"""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import polars as pl

from ami.settings import Settings

#: Days of history the change is looked for in [d].
HISTORY_MAX_DAYS = 400
#: Fewest days on each side of a change [d].
MIN_SEGMENT_DAYS = 7
#: Share of a day's intervals a day needs to count [0-1].
MIN_DAY_COVERAGE = 0.9
#: Power below which an interval counts as zero [kW].
ZERO_KW = 0.001
#: Power added before taking logs, so that near-zero intervals do not dominate [kW].
LOG_FLOOR_KW = 0.04
#: Energy added to a day's energy before taking its log [kWh].
LOG_FLOOR_KWH = 0.05
#: A customer group needs this many meters to be its own peers [meters].
MIN_PEER_METERS = 10
#: An interval counts up to this many times its day's 90th percentile (spikes) [-].
SPIKE_CAP = 4.0
#: A day's shape may be this far off its peers' and still be theirs (a meter clock) [h].
CLOCK_SLACK_HOURS = 2
#: Local hours of the evening and the early morning (theft by reversal moves the peak).
EVENING_HOURS = (17, 22)
MORNING_HOURS = (4, 9)
#: The last days that must still show a change for it to go on [d].
LATEST_DAYS = 7
#: Decimals the day features are kept to.
FEATURE_DECIMALS = 9
#: Meters per block of the change-point arrays (bounds memory at province scale).
METERS_PER_BLOCK = 20_000

#: The smallest change of each feature worth a t statistic: a meter whose feature never
#: moved (no zeros ever) must not turn a few zero hours into a huge t.
SCALE_FLOOR: dict[str, float] = {
    "level": 0.1, "zero_share": 0.05, "roughness": 0.05, "smoothness": 0.05,
    "repeat_share": 0.05, "peer_shape": 0.05, "evening_share": 0.03, "morning_share": 0.03,
    "level_swing": 0.05,
}
#: Day features and the direction theft moves them: +1 up, -1 down.
FEATURES: dict[str, int] = {
    "level": -1,          # log day energy against the peers' median that day
    "zero_share": +1,     # share of intervals at zero
    "roughness": +1,      # median |Δ log energy| between consecutive intervals
    "smoothness": -1,     # lag-1 rank autocorrelation of the energy within the day
    "repeat_share": +1,   # share of intervals equal to the one before (non-zero)
    "peer_shape": -1,     # rank correlation of the day's hours with the peers' (±2 h)
    "evening_share": -1,  # share of the day's energy in the evening
    "morning_share": +1,  # share of the day's energy in the early morning
    "level_swing": +1,    # |level − level of the day before| (computed from level)
}

DAY_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.String(), "day": pl.Date(), "n_valid": pl.Int32(), "kwh": pl.Float64(),
    **{name: pl.Float64() for name in FEATURES if name != "level_swing"},
}

#: What ``change_signals`` returns per meter.
CHANGE_COLUMNS: dict[str, pl.DataType] = {
    "meter_id": pl.String(), "change_day": pl.Date(), "change_stat": pl.Float64(),
    "days_before": pl.Int32(), "days_after": pl.Int32(), "kwh_day_before": pl.Float64(),
    "kwh_day_after": pl.Float64(), "kwh_day_expected": pl.Float64(),
    "persistence": pl.Float64(), "low_days_before": pl.Int32(),
    **{f"chg_{name}": pl.Float64() for name in FEATURES},
}
#: A day before the change is "as low as after" up to this multiple of the after mean.
AS_LOW = 1.2


def day_table(readings: pl.LazyFrame, *, settings: Settings, first_day: date, end_day: date,
              groups: pl.DataFrame | None = None) -> pl.DataFrame:
    """Day features per meter and local day of ``first_day``..``end_day``.

    ``readings``: ``normalise_readings`` output with ``interval_minutes`` and ``measured``
    (one row per meter and instant). Peers are the meters of the same ``customer_group``
    (``groups``: meter_id, customer_group; all meters form one group without it).
    Intraday features need a resolution of an hour or finer; a day counts when at least
    ``MIN_DAY_COVERAGE`` of its intervals were read (a gap is no zero). (Rooftop solar
    lowers a meter's import by day legitimately: the scorer weighs its changes little.)
    """
    minutes = pl.col("interval_minutes")
    start = (pl.col("interval_end") - pl.duration(minutes=minutes)).dt.convert_time_zone(
        settings.timezone)
    hours = minutes.cast(pl.Float64) / 60.0
    kwh = pl.col("kwh_import")
    floor = LOG_FLOOR_KW * hours
    lf = (
        readings.with_columns(start=start)
        .with_columns(day=pl.col("start").dt.date(), hour=pl.col("start").dt.hour())
        .filter(pl.col("day").is_between(first_day, end_day))
    )
    # A few spikes (a meter fault VEE did not see) must not move the day's shares: an
    # interval counts up to SPIKE_CAP times the day's 90th percentile.
    cap = SPIKE_CAP * kwh.quantile(0.9).over("meter_id", "day")
    lf = (
        lf
        .with_columns(kwh_import=kwh.clip(upper_bound=cap))
        # Energy in whole micro-kWh: integer sums do not depend on the order Polars adds
        # them in, so the same readings always give the same features.
        .with_columns(micro=(kwh * 1e6).round().cast(pl.Int64))
        .sort("meter_id", "interval_end")
        .with_columns(lx=(kwh + floor).log())
        .with_columns(
            lx_prev=pl.col("lx").shift(1).over("meter_id", "day"),
            prev=kwh.shift(1).over("meter_id", "day"),
        )
    )
    if groups is not None:
        # a group too small to be its own peers joins everyone (a handful of shops)
        sizes = groups.group_by("customer_group").agg(pl.len())
        small = sizes.filter(pl.col("len") < MIN_PEER_METERS)["customer_group"]
        pooled = groups.select("meter_id", pl.when(pl.col("customer_group").is_in(
            small.implode())).then(None).otherwise(pl.col("customer_group"))
            .alias("customer_group"))
        lf = lf.join(pooled.lazy(), on="meter_id", how="left")
    else:
        lf = lf.with_columns(customer_group=pl.lit(None, pl.String))
    per_day = (1440 // minutes).cast(pl.Float64)
    days = lf.group_by("meter_id", "day").agg(
        pl.col("customer_group").first(),
        n_valid=kwh.count().cast(pl.Int32),
        per_day=per_day.first(),
        kwh=pl.col("micro").sum() / 1e6,
        zero_share=(kwh <= ZERO_KW * hours).mean(),
        roughness=(pl.col("lx") - pl.col("lx_prev")).abs().median(),
        smoothness=pl.corr("lx", "lx_prev", method="spearman"),
        repeat_share=((kwh == pl.col("prev")) & (kwh > 0)).filter(
            pl.col("prev").is_not_null()).mean(),
        evening_share=pl.col("micro").filter(
            pl.col("hour").is_between(*EVENING_HOURS, closed="left")).sum()
        / pl.col("micro").sum(),
        morning_share=pl.col("micro").filter(
            pl.col("hour").is_between(*MORNING_HOURS, closed="left")).sum()
        / pl.col("micro").sum(),
    ).filter(pl.col("n_valid") >= MIN_DAY_COVERAGE * pl.col("per_day"))
    # Shape against the peers': each hour's share of the day, against the peers' median
    # share of that hour (the same day, the same customer group), allowing the day to be
    # shifted by up to CLOCK_SLACK_HOURS — a meter clock an hour off is no new shape.
    shares = lf.join(days.select("meter_id", "day"), on=["meter_id", "day"], how="semi") \
        .group_by("meter_id", "day", "customer_group", "hour").agg(micro=pl.col("micro").sum()) \
        .with_columns(share=pl.col("micro") / pl.col("micro").sum().over("meter_id", "day"))
    peers = shares.group_by("day", "customer_group", "hour").agg(peer=pl.col("share").median())
    lagged = [
        shares.join(peers.with_columns(hour=(pl.col("hour") + lag) % 24),
                    on=["day", "customer_group", "hour"], how="left", nulls_equal=True)
        .group_by("meter_id", "day").agg(corr=pl.corr("share", "peer", method="spearman"))
        for lag in range(-CLOCK_SLACK_HOURS, CLOCK_SLACK_HOURS + 1)
    ]
    shape = pl.concat(lagged).group_by("meter_id", "day").agg(
        peer_shape=pl.col("corr").fill_nan(None).max())
    level = (pl.col("kwh") * pl.col("per_day") / pl.col("n_valid") + LOG_FLOOR_KWH).log()
    out = days.join(shape, on=["meter_id", "day"], how="left").with_columns(
        level=level - level.median().over("day", "customer_group"),
        # a day without energy, or flat, has no shape: unlike its peers', not smooth
        peer_shape=pl.col("peer_shape").fill_nan(0.0).fill_null(0.0),
        smoothness=pl.col("smoothness").fill_nan(0.0).fill_null(0.0),
        evening_share=pl.col("evening_share").fill_nan(0.0),
        morning_share=pl.col("morning_share").fill_nan(0.0),
    ).select(list(DAY_SCHEMA)).sort("meter_id", "day")
    # Sums in another order differ in the last bits; rounded, the same readings always give
    # the same features, so the change point (an argmax) cannot flip between near ties.
    return out.collect(engine="streaming").cast(DAY_SCHEMA).with_columns(  # type: ignore[arg-type]
        pl.col(pl.Float64).round(FEATURE_DECIMALS))


def change_signals(days: pl.DataFrame, *, min_segment_days: int = MIN_SEGMENT_DAYS
                   ) -> pl.DataFrame:
    """Each meter's most significant change towards theft in its day features.

    ``days``: ``day_table`` rows. Returns one row per meter with ``CHANGE_COLUMNS``:
    ``change_day`` (the first day after the change), ``change_stat`` (the root of the
    summed squared one-sided t statistics at that split; 0 when a meter has too few
    days), ``chg_<feature>`` (the t statistic of each feature, signed so that positive
    points towards theft), the mean day energy before and after [kWh/d],
    ``persistence`` (how much of the change the last ``LATEST_DAYS`` still show, 0-1) and
    ``low_days_before``: days before the change already as low as after it (a home
    empty before too; zeros that are new are evidence).
    """
    if days.height == 0:
        return pl.DataFrame(schema=CHANGE_COLUMNS)
    first_day, last_day = days["day"].min(), days["day"].max()
    assert isinstance(first_day, date)
    assert isinstance(last_day, date)
    all_days = pl.Series("day", pl.date_range(first_day, last_day, eager=True))
    meters = days["meter_id"].unique().sort()
    parts = []
    for first in range(0, meters.len(), METERS_PER_BLOCK):
        block = meters.slice(first, METERS_PER_BLOCK)
        rows = days.join(block.to_frame(), on="meter_id", how="semi")
        with warnings.catch_warnings():
            # a feature a meter never has (intraday ones of daily data) is all NaN: its
            # statistics are NaN, and count for nothing
            warnings.simplefilter("ignore", RuntimeWarning)
            parts.append(_block_change(rows, block, all_days, min_segment_days))
    return pl.concat(parts).cast(CHANGE_COLUMNS)  # type: ignore[arg-type]


def _grid(rows: pl.DataFrame, meters: pl.Series, days: pl.Series, column: str) -> np.ndarray:
    """``column`` as a (meters × days) array, NaN where a meter has no such day."""
    out = np.full((meters.len(), days.len()), np.nan)
    m = rows["meter_id"].replace_strict(meters, pl.Series(range(meters.len()))).to_numpy()
    d = (rows["day"] - days[0]).dt.total_days().to_numpy()
    out[m, d] = rows[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return out


def _block_change(rows: pl.DataFrame, meters: pl.Series, days: pl.Series,
                  min_segment: int) -> pl.DataFrame:
    """``change_signals`` for one block of meters."""
    level = _grid(rows, meters, days, "level")
    seen = ~np.isnan(level)
    # Days before a meter's first day or after its last are not its history.
    first = np.where(seen.any(axis=1), seen.argmax(axis=1), days.len())
    last = np.where(seen.any(axis=1), days.len() - 1 - seen[:, ::-1].argmax(axis=1), -1)
    swing = np.abs(np.diff(level, axis=1, prepend=np.nan))
    features = {name: (swing if name == "level_swing" else _grid(rows, meters, days, name))
                for name in FEATURES}
    kwh = _grid(rows, meters, days, "kwh")
    n_days = days.len()
    t_all = np.zeros((meters.len(), n_days + 1))
    t_each = {}
    span = np.arange(n_days + 1)[None, :]
    inside = (span >= first[:, None] + min_segment) & (span <= last[:, None] + 1 - min_segment)
    filled = {}
    for name, direction in FEATURES.items():
        filled[name] = _filled(features[name], first, last)
        t = _split_t(filled[name], first, last, SCALE_FLOOR[name]) * direction
        t = np.where(inside, t, np.nan)
        t_each[name] = t
        t_all += np.nan_to_num(np.clip(t, 0.0, None)) ** 2
    t_all = np.where(inside, t_all, -1.0)
    split = t_all.argmax(axis=1)
    index = np.arange(meters.len())
    valid = inside[index, split]
    before = (span < split[:, None]) & (span >= first[:, None])
    after = (span >= split[:, None]) & (span <= last[:, None])
    latest = (span > last[:, None] - LATEST_DAYS) & (span <= last[:, None]) & after
    persistence = _persistence(filled, before[:, :n_days], after[:, :n_days],
                               latest[:, :n_days])
    kwh_day = np.where(np.isnan(kwh), 0.0, kwh)
    counted = ~np.isnan(kwh)

    def mean(mask: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.where(mask[:, :n_days], kwh_day, 0.0).sum(axis=1)
                    / np.where(mask[:, :n_days], counted, False).sum(axis=1))

    return pl.DataFrame({
        "meter_id": meters,
        "change_day": pl.Series([days[int(s)] if ok else None
                                 for s, ok in zip(split, valid, strict=True)], dtype=pl.Date),
        "change_stat": np.where(valid, np.sqrt(np.maximum(t_all[index, split], 0.0)), 0.0),
        "days_before": np.where(valid, split - first, 0).astype(np.int32),
        "days_after": np.where(valid, last + 1 - split, 0).astype(np.int32),
        "kwh_day_before": np.where(valid, mean(before), np.nan),
        "kwh_day_after": np.where(valid, mean(after), np.nan),
        "kwh_day_expected": np.where(valid, _expected_after(kwh, level, before, after), np.nan),
        "persistence": np.where(valid, persistence, np.nan),
        "low_days_before": np.where(
            valid, (before[:, :n_days] & counted
                    & (kwh_day <= AS_LOW * np.nan_to_num(mean(after))[:, None])).sum(axis=1),
            0).astype(np.int32),
        **{f"chg_{name}": np.where(valid, t_each[name][index, split], np.nan)
           for name in FEATURES},
    }).with_columns(pl.col(pl.Float64).fill_nan(None))


def _expected_after(kwh: np.ndarray, level: np.ndarray, before: np.ndarray,
                    after: np.ndarray) -> np.ndarray:
    """Mean day energy after the change had the meter kept its place among its peers [kWh/d].

    A day's peers' (log) level is the meter's log energy minus its level that day; the
    meter's mean level before the change, on the peers' days after it, gives the energy it
    would have recorded then — seasons and holidays included, as the peers lived them.
    """
    n_days = kwh.shape[1]
    with np.errstate(all="ignore"):
        peers = np.log(kwh + LOG_FLOOR_KWH) - level
        own = np.nanmean(np.where(before[:, :n_days], level, np.nan), axis=1, keepdims=True)
        expected = np.clip(np.exp(peers + own) - LOG_FLOOR_KWH, 0.0, None)
        return np.nanmean(np.where(after[:, :n_days], expected, np.nan), axis=1)


def _persistence(features: dict[str, np.ndarray], before: np.ndarray, after: np.ndarray,
                 latest: np.ndarray) -> np.ndarray:
    """How much of the change is still there in the last days [0-1].

    The change towards theft (after − before, per feature in its meter's spread) projected
    on the last ``LATEST_DAYS``' change: 1 when they show it as strongly as the whole
    after part, 0 when they are back to before — a week away, a meter stuck for days, is
    over; a theft goes on.
    """
    dot = np.zeros(before.shape[0])
    norm = np.zeros(before.shape[0])
    with np.errstate(all="ignore"):
        for name, direction in FEATURES.items():
            v = features[name]
            scale = np.nanstd(np.where(before | after, v, np.nan), axis=1) + 1e-3
            b = np.nanmean(np.where(before, v, np.nan), axis=1)
            change = np.clip(direction * (np.nanmean(np.where(after, v, np.nan), axis=1) - b)
                             / scale, 0.0, None)
            now = direction * (np.nanmean(np.where(latest, v, np.nan), axis=1) - b) / scale
            dot += np.nan_to_num(change * now)
            norm += np.nan_to_num(change * change)
        return np.where(norm > 0, np.clip(dot / norm, 0.0, 1.0), 0.0)


def _filled(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Missing days inside a meter's span at its median (they then pull neither way)."""
    with np.errstate(all="ignore"):
        median = np.nanmedian(values, axis=1, keepdims=True)
    return np.where(np.isnan(values), np.nan_to_num(median), values)


def _split_t(values: np.ndarray, first: np.ndarray, last: np.ndarray,
             floor: float) -> np.ndarray:
    """The t statistic of mean(after) − mean(before) at every split of each meter's span.

    Column k splits days < k from days ≥ k; the scale is the meter's robust spread
    (1.4826·MAD, at least a fifth of its standard deviation and ``floor``), so a meter
    whose feature always swings needs a larger change.
    """
    n, n_days = values.shape
    span = np.arange(n_days)[None, :]
    own = (span >= first[:, None]) & (span <= last[:, None])
    v = np.where(own, values, 0.0)
    with np.errstate(all="ignore"):
        masked = np.where(own, values, np.nan)
        median = np.nanmedian(masked, axis=1, keepdims=True)
        mad = 1.4826 * np.nanmedian(np.abs(masked - median), axis=1, keepdims=True)
        scale = np.maximum(np.maximum(mad, 0.2 * np.nanstd(masked, axis=1, keepdims=True)),
                           floor)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(v, axis=1)], axis=1)
    k = np.arange(n_days + 1)[None, :]
    n_before = (k - first[:, None]).astype(np.float64)
    n_after = (last[:, None] + 1 - k).astype(np.float64)
    start = cum[np.arange(n), first.clip(0, n_days)][:, None]
    total = cum[np.arange(n), (last + 1).clip(0, n_days)][:, None]
    with np.errstate(all="ignore"):
        diff = (total - cum) / n_after - (cum - start) / n_before
        return diff / (scale * np.sqrt(1.0 / n_before + 1.0 / n_after))
