"""Day features: each local day of a meter reduced to a few numbers theft moves.

Its energy against its peers' that day, the share of intervals at zero, the roughness
between intervals, the smoothness (lag-1 rank autocorrelation), repeated values, the
evening and early-morning shares and the rank correlation of its hours with its peers'.
``history.py`` finds each meter's most significant change in them; the warehouse keeps
them per day as gold ``anomaly_days``, and a readings file is reduced the same way.

A province day (300,000 meters × 48 intervals) is laid out as meter-day × interval arrays
and computed in a few seconds; readings the arrays cannot hold take the row-wise Polars
way, which gives the same features (a test holds the two equal, and both to a frozen copy
of the first implementation). The Polars-exact ranks and medians the arrays need are in
``ranks.py``. Somewhat over 500 lines: the array path (layout, chunks, features, peer
shape) is one algorithm, kept whole beside the row-wise definition it must match.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

import numpy as np
import polars as pl

from ami.settings import Settings
from models.anomaly.ranks import (
    Ranked,
    interpolated,
    order_key,
    rank_correlation,
    sort_rows,
    sorted_median,
    subset_ranks,
)

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
#: Decimals the day features are kept to.
FEATURE_DECIMALS = 9
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


def day_table(readings: pl.LazyFrame, *, settings: Settings, first_day: date, end_day: date,
              groups: pl.DataFrame | None = None) -> pl.DataFrame:
    """Day features per meter and local day of ``first_day``..``end_day``.

    ``readings``: ``normalise_readings`` output with ``interval_minutes`` and ``measured``
    (one row per meter and instant). Peers are the meters of the same ``customer_group``
    (``groups``: meter_id, customer_group; all meters form one group without it).
    Intraday features need a resolution of an hour or finer; a day counts when at least
    ``MIN_DAY_COVERAGE`` of its intervals were read (a gap is no zero). (Rooftop solar
    lowers a meter's import by day legitimately: the scorer weighs its changes little.)

    The features are computed on (meter-day × interval) arrays, a province day in
    seconds. Readings those cannot hold (two rows of a meter for one instant, a
    resolution that changes within a day, NaN or absurd energies, instants off the
    minute) take the row-wise way, ``_day_table_rows``, which gives the same features.
    """
    pooled = _peer_groups(groups)
    rows = _rows_of_days(readings, first_day, end_day)
    try:
        days = _day_table_arrays(rows, pooled, timezone=settings.timezone,
                                 first_day=first_day, end_day=end_day)
    except _UnusualRowsError:
        days = _day_table_rows(rows.lazy(), pooled, timezone=settings.timezone,
                               first_day=first_day, end_day=end_day)
    return _finish_days(days)


#: Rows turned into arrays at a time (bounds the temporaries) [rows].
ROWS_PER_CHUNK = 1 << 18
#: Meter-days × intervals of one block of the feature arrays (bounds the temporaries).
CELLS_PER_BLOCK = 250_000
#: Meter-days × intervals laid out at once: a province day is one layout; a longer
#: history is laid out in parts, each read from the rows anew.
CELLS_PER_LAYOUT = 40_000_000
#: Most meters × days of one call on the arrays (a year of 250,000 meters).
MAX_METER_DAYS = 100_000_000
#: Longest span of readings the minute clock is built for [min] (about 38 years).
MAX_CLOCK_MINUTES = 20_000_000
#: Largest energy of an interval the arrays take: a day's micro-kWh then add up exactly
#: in floats (below 2**53), as Polars adds them in integers [kWh].
MAX_INTERVAL_KWH = 1e7
_EPOCH = date(1970, 1, 1)


class _UnusualRowsError(Exception):
    """Readings the day arrays cannot hold; ``day_table`` takes the row-wise way."""


def _peer_groups(groups: pl.DataFrame | None) -> pl.DataFrame | None:
    """Each meter's peer group: its ``customer_group``, null when too small to be peers."""
    if groups is None:
        return None
    # a group too small to be its own peers joins everyone (a handful of shops)
    sizes = groups.group_by("customer_group").agg(pl.len())
    small = sizes.filter(pl.col("len") < MIN_PEER_METERS)["customer_group"]
    return groups.select("meter_id", pl.when(pl.col("customer_group").is_in(
        small.implode())).then(None).otherwise(pl.col("customer_group"))
        .alias("customer_group"))


def _rows_of_days(readings: pl.LazyFrame, first_day: date, end_day: date) -> pl.DataFrame:
    """The readings whose interval may start on a local day of ``first_day``..``end_day``.

    Two days' margin on each side holds every time zone; the local day is decided later.
    """
    start = pl.col("interval_end").dt.epoch("us") - pl.col("interval_minutes").cast(
        pl.Int64, strict=False) * 60_000_000
    low = datetime.combine(first_day - timedelta(days=2), time(), tzinfo=UTC)
    high = datetime.combine(end_day + timedelta(days=3), time(), tzinfo=UTC)
    return readings.select("meter_id", "interval_end", "interval_minutes", "kwh_import") \
        .filter(start >= int(low.timestamp()) * 1_000_000,
                start < int(high.timestamp()) * 1_000_000) \
        .collect(engine="streaming")


def _day_table_rows(lf: pl.LazyFrame, pooled: pl.DataFrame | None, *, timezone: str,
                    first_day: date, end_day: date) -> pl.LazyFrame:
    """``day_table``'s meter-days row by row in Polars, before the level and the fills.

    The definition the arrays are checked against, and the way for readings they cannot
    hold.
    """
    minutes = pl.col("interval_minutes")
    start = (pl.col("interval_end") - pl.duration(minutes=minutes)).dt.convert_time_zone(
        timezone)
    hours = minutes.cast(pl.Float64) / 60.0
    kwh = pl.col("kwh_import")
    floor = LOG_FLOOR_KW * hours
    lf = (
        lf.with_columns(start=start)
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
    if pooled is not None:
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
    return days.join(shape, on=["meter_id", "day"], how="left")


def _finish_days(days: pl.LazyFrame) -> pl.DataFrame:
    """The level against the peers', the fills, and ``DAY_SCHEMA`` rounded."""
    level = (pl.col("kwh") * pl.col("per_day") / pl.col("n_valid") + LOG_FLOOR_KWH).log()
    out = days.with_columns(
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


def _day_table_arrays(rows: pl.DataFrame, pooled: pl.DataFrame | None, *, timezone: str,
                      first_day: date, end_day: date) -> pl.LazyFrame:
    """``_day_table_rows`` on (meter-day × interval) arrays, for the same features.

    Computed as Polars computes them: sums in whole micro-kWh, Polars' logarithm, the
    nearest-rank quantile, the interpolated median, average ranks with NaN above every
    number, correlations over the pairs without a null. Raises ``_UnusualRowsError`` for
    readings the arrays cannot hold.
    """
    n_days = (end_day - first_day).days + 1
    if not _plain(rows) or n_days < 1:
        raise _UnusualRowsError
    clock = _clock(rows, timezone, first_day)
    meter, meters = _meter_codes(rows["meter_id"])
    if meters.len() * n_days > MAX_METER_DAYS:
        raise _UnusualRowsError
    # Pass one: which meter-days have rows, at which resolution (0: none).
    minutes_of = np.zeros(meters.len() * n_days, np.int16)
    for chunk in _chunks(rows, meter, clock, n_days, laid=False):
        minutes_of[chunk.key] = chunk.minutes
    parts = []
    longest = int(clock.elapsed[(clock.day >= 0) & (clock.day < n_days)].max())  # [min]
    for minutes in np.unique(minutes_of[minutes_of > 0]).tolist():
        keys = np.flatnonzero(minutes_of == minutes)
        slots = longest // minutes + 1
        per_layout = max(1, CELLS_PER_LAYOUT // slots)
        for first in range(0, keys.size, per_layout):
            parts.extend(_layout_features(
                rows, meter, clock, n_days=n_days, minutes_of=minutes_of,
                keys=keys[first:first + per_layout], minutes=minutes, slots=slots))
    if not parts:
        raise _UnusualRowsError  # no rows on the days: the row-wise way gives the empty table
    found = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.argsort(found["key"], kind="stable")  # by meter, then day
    found = {name: values[order] for name, values in found.items()}
    meter_of, day = np.divmod(found["key"], n_days)
    if pooled is None:
        group_of = np.zeros(meters.len(), np.int64)
    else:
        joined = meters.to_frame("meter_id").join(pooled, on="meter_id", how="left",
                                                  maintain_order="left")
        if joined.height != meters.len():
            raise _UnusualRowsError  # a meter in two groups: the row-wise joins count it twice
        group_of = joined["customer_group"].cast(pl.Categorical).to_physical() \
            .cast(pl.Int64).fill_null(-1).to_numpy() + 1
    group = group_of[meter_of]
    peer_shape = _peer_shape(day * (int(group_of.max()) + 1) + group, found["share"],
                             found["hour_read"])
    return pl.DataFrame({
        "meter_id": meters.gather(meter_of),
        "day": pl.Series(day + (first_day - _EPOCH).days, dtype=pl.Int32).cast(pl.Date),
        "customer_group": group,  # as a number: only the level's median groups by it
        "n_valid": pl.Series(found["n_valid"], dtype=pl.Int32),
        "per_day": found["per_day"],
        "kwh": found["kwh"],
        "zero_share": found["zero_share"],
        "roughness": found["roughness"],
        "smoothness": found["smoothness"],
        "repeat_share": found["repeat_share"],
        "evening_share": found["evening_share"],
        "morning_share": found["morning_share"],
        "peer_shape": peer_shape,
        "n_pairs": found["n_pairs"],
    }).lazy().with_columns(
        # no lag-1 pair: null, as Polars' median and mean of nothing
        pl.when(pl.col("n_pairs") > 0).then(pl.col(name)).alias(name)
        for name in ("roughness", "repeat_share"))


def _plain(rows: pl.DataFrame) -> bool:
    """Whether the rows suit the arrays.

    Time-zoned instants, known meters, energies that are numbers (up to
    ``MAX_INTERVAL_KWH``), resolutions of a minute to a day.
    """
    end_type = rows.schema["interval_end"]
    kwh = rows["kwh_import"]
    minutes = rows["interval_minutes"]
    return bool(
        rows.height > 0 and isinstance(end_type, pl.Datetime)
        and end_type.time_zone is not None and rows.schema["meter_id"] == pl.String()
        and kwh.dtype == pl.Float64() and minutes.dtype.is_integer()
        and rows["meter_id"].null_count() == 0 and minutes.null_count() == 0
        and not kwh.is_nan().any() and not (kwh.abs() > MAX_INTERVAL_KWH).any()
        and 1 <= minutes.min() <= minutes.max() <= 1440)  # type: ignore[operator]


class _Clock(NamedTuple):
    """Every UTC minute from ``origin`` in local time: day, hour, minutes since day began."""

    origin: int           # the first minute [min since 1970]
    per_minute: int       # units of ``interval_end`` in a minute
    day: np.ndarray       # local day, since ``first_day`` [d]
    hour: np.ndarray      # local hour
    elapsed: np.ndarray   # since the local day began [min] (a DST day has 23 or 25 h)


def _clock(rows: pl.DataFrame, timezone: str, first_day: date) -> _Clock:
    """The clock of the rows' interval starts, from two days before the first.

    Two days before, so that the first local day's beginning is on it.
    """
    end_type = rows.schema["interval_end"]
    assert isinstance(end_type, pl.Datetime)
    per_minute = {"ns": 60_000_000_000, "us": 60_000_000, "ms": 60_000}[end_type.time_unit]
    end = rows["interval_end"].to_physical()
    minutes = rows["interval_minutes"]
    origin = int(end.min()) // per_minute - int(minutes.max()) - 2 * 1440  # type: ignore[arg-type]
    span = int(end.max()) // per_minute - int(minutes.min()) - origin + 1  # type: ignore[arg-type]
    if span > MAX_CLOCK_MINUTES:
        raise _UnusualRowsError
    local = pl.Series(np.arange(origin, origin + span, dtype=np.int64) * 60_000_000) \
        .cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(timezone)
    day = local.dt.date().to_physical().to_numpy().astype(np.int64) - (first_day - _EPOCH).days
    tick = np.arange(span)
    began = np.maximum.accumulate(np.where(np.diff(day, prepend=day[0] - 1) != 0, tick, 0))
    return _Clock(origin=origin, per_minute=per_minute, day=day.astype(np.int32),
                  hour=local.dt.hour().to_numpy().astype(np.int8),
                  elapsed=(tick - began).astype(np.int32))


def _meter_codes(ids: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Each row's meter as an index into the distinct meter ids, sorted; and those ids.

    A meter's rows mostly come together (silver is stored by meter, and joins move
    blocks of rows), so only the first id of each run of equal ids is looked up.
    """
    run = ids.rle_id().to_numpy()
    starts = np.flatnonzero(run[1:] != run[:-1]) + 1
    grouped = 2 * (starts.size + 1) <= ids.len()
    heads = ids.gather(np.concatenate([[0], starts])) if grouped else ids
    categorical = heads.cast(pl.Categorical)
    distinct = categorical.unique()
    meters = distinct.cast(pl.String)
    order = meters.arg_sort().to_numpy()
    physical = distinct.to_physical().to_numpy().astype(np.int64)
    rank = np.empty(int(physical.max()) + 1, np.int64)
    rank[physical[order]] = np.arange(physical.size)
    codes = rank[categorical.to_physical().to_numpy()]
    return (codes[run] if grouped else codes), meters.gather(order)


class _Chunk(NamedTuple):
    """Rows of the days: meter-day (meter × days + day), resolution, slot, hour, energy.

    A slot is the interval's place in its local day (time since the day began, in
    intervals), so that missing rows leave their slots empty. Without ``laid``, only
    ``key`` and ``minutes`` are filled.
    """

    key: np.ndarray
    minutes: np.ndarray
    slot: np.ndarray | None = None
    hour: np.ndarray | None = None
    kwh: np.ndarray | None = None  # [kWh], NaN where the row has no energy (not measured)


def _chunks(rows: pl.DataFrame, meter: np.ndarray, clock: _Clock, n_days: int, *,
            laid: bool) -> Iterator[_Chunk]:
    """The rows on ``clock``'s days ``0..n_days - 1``, ``ROWS_PER_CHUNK`` at a time."""
    end = rows["interval_end"].to_physical().to_numpy()
    for first in range(0, rows.height, ROWS_PER_CHUNK):
        window = slice(first, first + ROWS_PER_CHUNK)
        part = rows.slice(first, ROWS_PER_CHUNK)
        minutes = part["interval_minutes"].to_numpy().astype(np.int64)
        # one resolution (the usual): numpy divides by a number much faster than by an array
        step: int | np.ndarray = int(minutes[0]) if (minutes == minutes[0]).all() else minutes
        start = end[window] - step * clock.per_minute
        at = start // clock.per_minute
        if (at * clock.per_minute != start).any():
            raise _UnusualRowsError  # an instant off the minute
        at -= clock.origin
        day = clock.day[at]
        inside = (day >= 0) & (day < n_days)
        if not inside.all():
            at, day, minutes = at[inside], day[inside], minutes[inside]
            step = step if isinstance(step, int) else minutes
        key = meter[window] if inside.all() else meter[window][inside]
        key = key.astype(np.int64) * n_days + day
        if not laid:
            yield _Chunk(key=key, minutes=minutes)
            continue
        kwh = part["kwh_import"].to_numpy()
        yield _Chunk(key=key, minutes=minutes, slot=clock.elapsed[at] // step,
                     hour=clock.hour[at], kwh=kwh if inside.all() else kwh[inside])


def _layout_features(rows: pl.DataFrame, meter: np.ndarray, clock: _Clock, *, n_days: int,
                     minutes_of: np.ndarray, keys: np.ndarray, minutes: int, slots: int
                     ) -> list[dict[str, np.ndarray]]:
    """The features of meter-days ``keys`` (one resolution), laid out as keys × slots."""
    position = np.full(minutes_of.size, -1, np.int32)  # a layout holds fewer than 2**31
    position[keys] = np.arange(keys.size)
    kwh = np.full(keys.size * slots, np.nan)
    read = np.zeros(keys.size * slots, bool)
    hour = np.zeros(keys.size * slots, np.int8)
    laid = 0
    for chunk in _chunks(rows, meter, clock, n_days, laid=True):
        assert chunk.slot is not None
        assert chunk.hour is not None
        assert chunk.kwh is not None
        if (minutes_of[chunk.key] != chunk.minutes).any():
            raise _UnusualRowsError  # the resolution changes within a day
        at = position[chunk.key]
        mine = at >= 0
        if mine.all():
            cells, energy, hours = at * slots + chunk.slot, chunk.kwh, chunk.hour
        else:
            cells = at[mine] * slots + chunk.slot[mine]
            energy, hours = chunk.kwh[mine], chunk.hour[mine]
        read[cells] = True
        kwh[cells] = energy
        hour[cells] = hours
        laid += cells.size
    if np.count_nonzero(read) != laid:
        raise _UnusualRowsError  # two rows of a meter for one interval
    grid = kwh.reshape(-1, slots), read.reshape(-1, slots), hour.reshape(-1, slots)
    per_block = max(1, CELLS_PER_BLOCK // slots)
    parts = []
    for first in range(0, keys.size, per_block):
        window = slice(first, first + per_block)
        part = _interval_features(*(array[window] for array in grid), minutes=minutes)
        part["key"] = keys[window][part.pop("kept")]
        parts.append(part)
    return parts


def _interval_features(kwh: np.ndarray, read: np.ndarray, hour: np.ndarray, *,
                       minutes: int) -> dict[str, np.ndarray]:
    """The features of a block of meter-days (rows) × slots of one resolution.

    ``kwh`` [kWh] is NaN where nothing was read, ``read`` where a row exists (its energy
    may be missing), ``hour`` the local hour of each slot. Returns, for the meter-days
    with enough coverage (``kept``: their rows), what ``_day_table_rows`` aggregates (NaN
    for a median or mean of no lag-1 pair: ``n_pairs`` is 0), and each hour's share of
    the day (``share``, NaN on a day without energy) where the hour has rows
    (``hour_read``).
    """
    valid = ~np.isnan(kwh)
    n_valid = np.count_nonzero(valid, axis=1)
    per_day = 1440 // minutes
    kept = np.flatnonzero(n_valid >= MIN_DAY_COVERAGE * per_day)
    kwh, read, hour, valid, n_valid = (kwh[kept], read[kept], hour[kept], valid[kept],
                                       n_valid[kept])
    n, slots = kwh.shape
    index = np.arange(n)
    hours = minutes / 60.0
    # the spike cap: Polars' nearest-rank 90th percentile (its index rounded half away
    # from zero)
    rank = (n_valid - 1) * 0.9
    nearest = np.floor(rank).astype(np.int64)
    nearest += rank - nearest >= 0.5
    cap = SPIKE_CAP * np.sort(kwh, axis=1)[index, nearest]
    kwh = np.minimum(kwh, cap[:, None])  # NaN stays NaN
    micro = np.where(valid, np.rint(kwh * 1e6), 0.0)  # whole micro-kWh: exact float sums
    cell = (index[:, None] * 24 + hour)[read]
    hourly = np.bincount(cell, weights=micro[read], minlength=n * 24).reshape(n, 24)
    hour_read = np.bincount(cell, minlength=n * 24).reshape(n, 24) > 0
    total = hourly.sum(axis=1)
    # Lag-1 pairs are consecutive rows of the day, as a shift over rows: a missing row is
    # skipped, a row without energy breaks the pair.
    tick = np.arange(slots)
    last = np.maximum.accumulate(np.where(read, tick, -1), axis=1)
    before = np.full((n, slots), -1)
    before[:, 1:] = last[:, :-1]
    before[~read] = -1
    source = np.maximum(before, 0) + index[:, None] * slots  # flat, of the row before
    pair = valid & (before >= 0) & valid.ravel()[source]
    n_pairs = np.count_nonzero(pair, axis=1)
    earlier = np.zeros(n * slots, bool)
    earlier[source[pair]] = True
    lx = pl.Series(np.where(valid, kwh + LOG_FLOOR_KW * hours, np.nan).ravel()).log() \
        .to_numpy().reshape(n, slots)
    ranked = sort_rows(order_key(lx))  # a negative energy's log is NaN: above all
    then = subset_ranks(ranked, earlier.reshape(n, slots)).ravel()[source]
    repeated = pair & (kwh == kwh.ravel()[source]) & (kwh > 0)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN as Polars gives it
        step = np.where(pair, np.abs(lx - lx.ravel()[source]), np.nan)
        return {
            "kept": kept,
            "n_valid": n_valid,
            "per_day": np.full(n, float(per_day)),
            "kwh": total / 1e6,
            "n_pairs": n_pairs,
            "zero_share": np.count_nonzero(valid & (kwh <= ZERO_KW * hours), axis=1)
            / n_valid,
            "roughness": sorted_median(np.sort(step, axis=1), n_pairs),
            "smoothness": rank_correlation(subset_ranks(ranked, pair), then, pair),
            "repeat_share": np.count_nonzero(repeated, axis=1) / n_pairs,
            "evening_share": hourly[:, slice(*EVENING_HOURS)].sum(axis=1) / total,
            "morning_share": hourly[:, slice(*MORNING_HOURS)].sum(axis=1) / total,
            "share": hourly / total[:, None],
            "hour_read": hour_read,
        }


def _peer_shape(segment: np.ndarray, share: np.ndarray, hour_read: np.ndarray
                ) -> np.ndarray:
    """Max over clock lags of the rank correlation of each day's hour shares and its peers'.

    ``segment``: each meter-day's day and peer group; the peers' share of an hour is the
    median over the segment's meter-days with rows in that hour, and hour h meets the
    peers' hour h − lag. NaN where no lag gives a correlation.
    """
    if segment.size == 0:
        return np.empty(0)
    segments, segment = np.unique(segment, return_inverse=True)
    peer = np.empty((segments.size, 24))
    has_peer = np.empty((segments.size, 24), bool)
    by_segment = np.argsort(segment, kind="stable")
    bounds = np.flatnonzero(np.diff(segment[by_segment])) + 1
    for s, days in enumerate(np.split(by_segment, bounds)):
        count = np.count_nonzero(hour_read[days], axis=0)
        peer[s] = _peer_median(np.where(hour_read[days], share[days], np.nan), count)
        has_peer[s] = count > 0
    peer_ranked = sort_rows(order_key(peer))
    share_key = order_key(share)
    # A day with rows in every hour, whose peers have every hour, meets them in all 24
    # hours at every lag: its ranks and theirs are the plain ones, rolled by the lag.
    complete = (np.count_nonzero(hour_read, axis=1) == 24) \
        & (np.count_nonzero(has_peer, axis=1) == 24)[segment]
    # ranks of all 24 hours, less their mean: a lag only reorders them (the same spread)
    peer_rank = subset_ranks(peer_ranked, np.ones(peer.shape, bool)) - 12.5
    lags = range(-CLOCK_SLACK_HOURS, CLOCK_SLACK_HOURS + 1)
    hours = np.arange(24)
    best = np.full(share.shape[0], np.nan)
    per_block = max(1, CELLS_PER_BLOCK // 24)
    whole = np.flatnonzero(complete)
    for first in range(0, whole.size, per_block):
        days = whole[first:first + per_block]
        ours = subset_ranks(sort_rows(share_key[days]), np.ones((days.size, 24), bool)) \
            - 12.5
        theirs = peer_rank[segment[days]]
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.sqrt(np.einsum("ij,ij->i", ours, ours)
                             * np.einsum("ij,ij->i", theirs, theirs))
            for lag in lags:
                best[days] = np.fmax(best[days], np.einsum(
                    "ij,ij->i", ours, theirs[:, (hours - lag) % 24]) / spread)
    partial = np.flatnonzero(~complete)
    peer_order = peer_ranked.order - np.arange(segments.size)[:, None] * 24  # hours
    peer_low = peer_ranked.low - np.arange(segments.size)[:, None] * 25
    peer_high = peer_ranked.high - np.arange(segments.size)[:, None] * 25
    for first in range(0, partial.size, per_block):
        days = partial[first:first + per_block]
        mine = segment[days]
        base = np.arange(days.size)[:, None]
        ours_ranked = sort_rows(share_key[days])
        for lag in lags:
            members = hour_read[days] & has_peer[mine][:, (hours - lag) % 24]
            theirs_ranked = Ranked(order=(peer_order[mine] + lag) % 24 + base * 24,
                                   low=peer_low[mine] + base * 25,
                                   high=peer_high[mine] + base * 25)
            with np.errstate(invalid="ignore", divide="ignore"):
                best[days] = np.fmax(best[days], rank_correlation(
                    subset_ranks(ours_ranked, members), subset_ranks(theirs_ranked, members),
                    members))
    return best


def _peer_median(share: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The peers' median share of each hour, as Polars takes it (NaN above every number).

    ``share``: meter-days × 24, NaN where an hour has no rows; ``count``: meter-days with
    rows in each hour (the first ``count`` sorted values are theirs: NaN last either way).
    """
    ordered = np.sort(share, axis=0)
    hours = np.arange(24)
    low = ordered[np.maximum(count - 1, 0) // 2, hours]
    high = ordered[np.minimum(count // 2, len(share) - 1), hours]
    return interpolated(low, high)
