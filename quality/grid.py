"""A day of interval readings as matrices: one row per meter, one column per interval.

VEE works on whole meter-days. Holding a day as dense arrays (meters × intervals, NaN
where nothing was delivered) makes every rule and estimate a vectorised array operation,
so a province day (300,000 meters × 48) is checked in seconds, and "complete the grid" is
the shape itself. Rows that fall on a cell another row also falls on (duplicates) are not
placed: the block keeps them in ``collisions`` for the caller to resolve and ``place``.
Meters of different cadences (15, 30, 60 minutes) live in separate blocks. Quality and
rule are small integer codes per cell, named by ``QUALITIES`` and ``RULES``;
``to_frame`` turns a block back into silver rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from ami.vocabulary import Quality, Rule

#: Quality of a silver value; the code is the index.
QUALITIES: tuple[Quality, ...] = tuple(Quality)
MEASURED, ESTIMATED, EDITED, MISSING = (QUALITIES.index(q) for q in (
    Quality.MEASURED, Quality.ESTIMATED, Quality.EDITED, Quality.MISSING))

#: Rule or method named in silver ``rule`` (``Rule``); 0 (None) is a plain measured value.
RULES: tuple[Rule | None, ...] = (None, *Rule)
RULE: dict[Rule, int] = {name: code for code, name in enumerate(RULES) if name is not None}


@dataclass
class Block:
    """Meters of one cadence: ``kwh_import`` etc. are (meters × intervals) arrays."""

    meter_ids: pl.Series      # String, sorted
    minutes: int
    start: datetime           # UTC instant of the day's first interval start
    kwh_import: np.ndarray    # float64, NaN = no value
    kwh_export: np.ndarray    # float64, NaN = no value
    quality: np.ndarray       # int8 codes of QUALITIES
    rule: np.ndarray          # int16 codes of RULES
    collisions: pl.DataFrame | None = None  # rows sharing a cell, not placed

    def place(self, rows: pl.DataFrame) -> None:
        """Put measured values of rows (at most one per cell) on the grid."""
        self._put(_flat(self, rows), rows, np.ones(rows.height, dtype=bool))

    def _put(self, flat: np.ndarray, rows: pl.DataFrame, keep: np.ndarray) -> None:
        """Values of the ``keep`` rows at their flat cell index (-1: off the grid)."""
        keep = keep & (flat >= 0)
        cells = flat[keep]
        self.kwh_import.ravel()[cells] = rows["kwh_import"].to_numpy().astype(np.float64)[keep]
        self.kwh_export.ravel()[cells] = rows["kwh_export"].fill_null(np.nan).to_numpy() \
            .astype(np.float64)[keep]
        self.quality.ravel()[cells] = MEASURED
        self.rule.ravel()[cells] = 0

    @property
    def per_day(self) -> int:
        """Intervals of this cadence in the day."""
        return self.kwh_import.shape[1]

    def ends(self) -> pl.Series:
        """Interval end instants of one day (UTC)."""
        return pl.Series("interval_end", [
            self.start + timedelta(minutes=self.minutes * (k + 1)) for k in range(self.per_day)
        ], dtype=pl.Datetime("us", "UTC"))

    def index_of(self, meter_ids: pl.Series) -> np.ndarray:
        """Row index of each meter id in this block (-1 when absent)."""
        return meter_ids.replace_strict(
            self.meter_ids, pl.Series(np.arange(len(self.meter_ids), dtype=np.int64)),
            default=-1, return_dtype=pl.Int64).to_numpy()

    def to_frame(self) -> pl.DataFrame:
        """Silver rows, ordered by meter then time."""
        n, per = self.kwh_import.shape
        rows = np.repeat(np.arange(n, dtype=np.int64), per)
        slots = np.tile(np.arange(per, dtype=np.int64), n)
        imp, exp = self.kwh_import.ravel(), self.kwh_export.ravel()
        return pl.DataFrame({
            "meter_id": self.meter_ids.gather(rows),
            "interval_end": self.ends().gather(slots),
            "interval_minutes": pl.Series(np.full(n * per, self.minutes, dtype=np.int32)),
            "kwh_import": pl.Series(imp, nan_to_null=True),
            "kwh_export": pl.Series(exp, nan_to_null=True),
            "quality": _named(self.quality.ravel(), QUALITIES),
            "rule": _named(self.rule.ravel(), RULES),
        })


def _named(codes: np.ndarray, names: tuple[Quality | None, ...] | tuple[Rule | None, ...],
           ) -> pl.Series:
    """Text of integer codes (null for a None name)."""
    labels = pl.Series([None if name is None else name.value for name in names],
                       dtype=pl.String)
    return labels.gather(pl.Series(codes.astype(np.int64)))


def build_blocks(rows: pl.DataFrame, expected: pl.Series, start: datetime, *,
                 default_minutes: int) -> Iterator[Block]:
    """Blocks of the day from typed rows of the day.

    Args:
        rows: meter_id, interval_end (UTC, on the meter's grid), interval_minutes,
            kwh_import, kwh_export (other columns ride along into ``collisions``).
        expected: meter ids that should report this day (every one gets a full row).
        start: the UTC instant of local midnight starting the day.
        default_minutes: cadence of meters without any reading this day.

    Duplicates are found on the grid itself: rows landing on a cell that another row
    also lands on are left out and handed back in ``Block.collisions``.

    """
    cadences = rows["interval_minutes"].unique().drop_nulls()
    if cadences.len() <= 1:  # the usual day: one cadence, no per-meter vote needed
        one = int(cadences[0]) if cadences.len() else default_minutes
        meters = pl.concat([expected.to_frame("meter_id"), rows.select("meter_id")]).unique() \
            .with_columns(pl.lit(one).alias("interval_minutes"))
    else:
        cadence = rows.group_by("meter_id").agg(pl.col("interval_minutes").mode().min())
        meters = (
            pl.concat([expected.to_frame("meter_id"), rows.select("meter_id")]).unique()
            .join(cadence, on="meter_id", how="left")
            .with_columns(pl.col("interval_minutes").fill_null(default_minutes))
        )
    single = meters["interval_minutes"].n_unique() == 1
    for (minutes,), group in meters.group_by("interval_minutes", maintain_order=True):
        ids = group.sort("meter_id")
        per = 1440 // int(minutes)  # type: ignore[call-overload]
        n = ids.height
        block = Block(
            meter_ids=ids["meter_id"], minutes=int(minutes), start=start,  # type: ignore[call-overload]
            kwh_import=np.full((n, per), np.nan), kwh_export=np.full((n, per), np.nan),
            quality=np.full((n, per), MISSING, dtype=np.int8),
            rule=np.full((n, per), RULE[Rule.NO_READING], dtype=np.int16),
        )
        mine = rows if single else rows.join(ids.select("meter_id"), on="meter_id", how="semi")
        flat = _flat(block, mine)
        taken = np.bincount(flat[flat >= 0], minlength=n * per)
        shared = (flat >= 0) & (taken[np.maximum(flat, 0)] > 1)
        if shared.any():
            block.collisions = mine.filter(pl.Series(shared))
        block._put(flat, mine, ~shared)
        yield block


def _flat(block: Block, rows: pl.DataFrame) -> np.ndarray:
    """Flat cell index of each row (-1 when off the block's grid or its day)."""
    step_us = block.minutes * 60_000_000
    offset = (pl.col("interval_end") - pl.lit(block.start)).dt.total_microseconds()
    slot = rows.select(
        pl.when((offset % step_us == 0) & (offset > 0) & (offset <= step_us * block.per_day))
        .then(offset // step_us - 1).otherwise(-1).alias("_slot"))["_slot"].to_numpy()
    index = block.index_of(rows["meter_id"])
    return np.where((slot >= 0) & (index >= 0), index * block.per_day + slot, -1)


def cells_of(block: Block, cells: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Block (row, column) of (meter_id, interval_end) pairs that fall on its grid."""
    flat = _flat(block, cells)
    flat = flat[flat >= 0]
    return flat // block.per_day, flat % block.per_day


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True along each row: (row, first column, length)."""
    n, per = mask.shape
    padded = np.zeros((n, per + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)
    rows_s, first = np.nonzero(change == 1)
    _, after = np.nonzero(change == -1)
    return rows_s, first, after - first


def run_lengths(mask: np.ndarray) -> np.ndarray:
    """For every True cell, the length of the run of True it belongs to (0 elsewhere)."""
    out = np.zeros(mask.shape, dtype=np.int32)
    rows_s, first, length = runs(mask)
    if len(length) == 0:
        return out
    # paint each run's length over its cells
    row_index = np.repeat(rows_s, length)
    col_index = np.repeat(first, length) + _ramp(length)
    out[row_index, col_index] = np.repeat(length, length)
    return out


def _ramp(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, len−1 for each length, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - starts
