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

The day features themselves are built per day in ``days.py`` (``day_table``), so the
warehouse keeps them as gold ``anomaly_days`` and scores a year from them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from models.anomaly.days import FEATURES, LOG_FLOOR_KWH

#: Days of history the change is looked for in [d].
HISTORY_MAX_DAYS = 400
#: Fewest days on each side of a change [d].
MIN_SEGMENT_DAYS = 7
#: The last days that must still show a change for it to go on [d].
LATEST_DAYS = 7
#: Meters whose day features are read at once (bounds memory at province scale).
METERS_PER_BLOCK = 20_000
#: Meters per block of the change-point arrays: a (meters × 400 days) float array of this
#: many meters is 16 MB, which the allocator reuses between NumPy operations; at 64 MB
#: each operation maps fresh pages and a block of 20,000 meters takes twice as long.
ARRAY_METERS = 5_000

#: The smallest change of each feature worth a t statistic: a meter whose feature never
#: moved (no zeros ever) must not turn a few zero hours into a huge t.
SCALE_FLOOR: dict[str, float] = {
    "level": 0.1, "zero_share": 0.05, "roughness": 0.05, "smoothness": 0.05,
    "repeat_share": 0.05, "peer_shape": 0.05, "evening_share": 0.03, "morning_share": 0.03,
    "level_swing": 0.05,
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
    for first in range(0, meters.len(), ARRAY_METERS):
        block = meters.slice(first, ARRAY_METERS)
        rows = days.join(block.to_frame(), on="meter_id", how="semi")
        with warnings.catch_warnings():
            # a feature a meter never has (intraday ones of daily data) is all NaN: its
            # statistics are NaN, and count for nothing
            warnings.simplefilter("ignore", RuntimeWarning)
            parts.append(_block_change(rows, block, all_days, min_segment_days))
    return pl.concat(parts).cast(CHANGE_COLUMNS)  # type: ignore[arg-type]


def _grid(rows: pl.DataFrame, place: tuple[np.ndarray, np.ndarray], shape: tuple[int, int],
          column: str) -> np.ndarray:
    """``column`` as a (meters × days) array at ``place``, NaN where a meter has no day."""
    out = np.full(shape, np.nan)
    out[place] = rows[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return out


def _block_change(rows: pl.DataFrame, meters: pl.Series, days: pl.Series,
                  min_segment: int) -> pl.DataFrame:
    """``change_signals`` for one block of meters."""
    # each row's place in the (meters × days) arrays, found once for every feature
    place = (rows["meter_id"].replace_strict(meters, pl.Series(range(meters.len())))
             .to_numpy(), (rows["day"] - days[0]).dt.total_days().to_numpy())
    shape = (meters.len(), days.len())
    level = _grid(rows, place, shape, "level")
    seen = ~np.isnan(level)
    # Days before a meter's first day or after its last are not its history.
    first = np.where(seen.any(axis=1), seen.argmax(axis=1), days.len())
    last = np.where(seen.any(axis=1), days.len() - 1 - seen[:, ::-1].argmax(axis=1), -1)
    swing = np.abs(np.diff(level, axis=1, prepend=np.nan))
    features = {name: (swing if name == "level_swing" else _grid(rows, place, shape, name))
                for name in FEATURES}
    kwh = _grid(rows, place, shape, "kwh")
    n_days = days.len()
    t_all = np.zeros((meters.len(), n_days + 1))
    t_each = {}
    span = np.arange(n_days + 1)[None, :]
    inside = (span >= first[:, None] + min_segment) & (span <= last[:, None] + 1 - min_segment)
    filled = {}
    spans = _Spans.of(first, last, n_days)
    for name, direction in FEATURES.items():
        filled[name] = _filled(features[name], first, last)
        t = _split_t(filled[name], spans, SCALE_FLOOR[name]) * direction
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


def _row_median(values: np.ndarray) -> np.ndarray:
    """Median of each row, NaN ignored (NaN for a row without values), as a column.

    ``np.nanmedian`` of the same, an order faster on a block of meters × 400 days (below
    600 columns NumPy takes a masked-array way).
    """
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = (~np.isnan(values)).sum(axis=1)
    index = np.arange(values.shape[0])
    low = ordered[index, np.maximum(count - 1, 0) // 2]
    high = ordered[index, np.minimum(count // 2, values.shape[1] - 1)]
    return np.where(count > 0, (low + high) / 2.0, np.nan)[:, None]


def _filled(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Missing days inside a meter's span at its median (they then pull neither way)."""
    with np.errstate(all="ignore"):
        median = _row_median(values)
    return np.where(np.isnan(values), np.nan_to_num(median), values)


@dataclass(frozen=True)
class _Spans:
    """Each meter's span of days and what every split of it needs, for all features."""

    first: np.ndarray
    last: np.ndarray
    #: (meters × days): the day is inside the meter's span.
    own: np.ndarray
    #: (meters × days + 1): days before and after split k, and sqrt(1/before + 1/after).
    n_before: np.ndarray
    n_after: np.ndarray
    root: np.ndarray

    @classmethod
    def of(cls, first: np.ndarray, last: np.ndarray, n_days: int) -> _Spans:
        k = np.arange(n_days + 1)[None, :]
        n_before = (k - first[:, None]).astype(np.float64)
        n_after = (last[:, None] + 1 - k).astype(np.float64)
        span = np.arange(n_days)[None, :]
        with np.errstate(all="ignore"):
            root = np.sqrt(1.0 / n_before + 1.0 / n_after)
        return cls(first, last, (span >= first[:, None]) & (span <= last[:, None]),
                   n_before, n_after, root)


def _split_t(values: np.ndarray, spans: _Spans, floor: float) -> np.ndarray:
    """The t statistic of mean(after) − mean(before) at every split of each meter's span.

    Column k splits days < k from days ≥ k; the scale is the meter's robust spread
    (1.4826·MAD, at least a fifth of its standard deviation and ``floor``), so a meter
    whose feature always swings needs a larger change.
    """
    n, n_days = values.shape
    first, last = spans.first, spans.last
    v = np.where(spans.own, values, 0.0)
    with np.errstate(all="ignore"):
        masked = np.where(spans.own, values, np.nan)
        median = _row_median(masked)
        mad = 1.4826 * _row_median(np.abs(masked - median))
        scale = np.maximum(np.maximum(mad, 0.2 * np.nanstd(masked, axis=1, keepdims=True)),
                           floor)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(v, axis=1)], axis=1)
    start = cum[np.arange(n), first.clip(0, n_days)][:, None]
    total = cum[np.arange(n), (last + 1).clip(0, n_days)][:, None]
    with np.errstate(all="ignore"):
        diff = (total - cum) / spans.n_after - (cum - start) / spans.n_before
        return diff / (scale * spans.root)
