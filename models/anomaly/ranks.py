"""Ranks, medians and rank correlations on numpy arrays, exactly as Polars computes them.

The day features' array path (``days.py``) must give, to the last bit, what Polars gives
row by row: floats ordered as Polars sorts them (NaN above inf, -0.0 tied with 0.0),
average ranks of any subset of a row, the interpolated median, and the Pearson
correlation of ranks (Spearman's). Each works on whole (rows × width) arrays at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def order_key(values: np.ndarray) -> np.ndarray:
    """Integers in the order Polars sorts and ranks floats: NaN above inf, ties equal.

    -0.0 and 0.0 tie, and every NaN is one value (IEEE bits, negatives flipped).
    """
    canonical = np.where(np.isnan(values), np.nan, values + 0.0)  # -0.0 + 0.0 is 0.0
    bits = canonical.view(np.int64)
    return np.where(bits < 0, bits ^ np.int64(0x7FFF_FFFF_FFFF_FFFF), bits)


def interpolated(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Halfway from ``low`` to ``high`` as Polars' median takes it (inf and inf: inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(low == high, low, low + (high - low) * 0.5)


class Ranked(NamedTuple):
    """Rows of an (n × width) array sorted, with their ties, in flat positions."""

    order: np.ndarray  # each row's positions ascending, flat in the (n × width) array
    low: np.ndarray    # per sorted position, flat in (n × width + 1): its tie's first
    high: np.ndarray   # ... and one past its tie's last


def sort_rows(values: np.ndarray) -> Ranked:
    """Each row of ``values`` sorted (stable), and the ties of each sorted position."""
    n, width = values.shape
    order = np.argsort(values, axis=1)  # ties are averaged: their order does not matter
    ordered = np.take_along_axis(values, order, axis=1)
    tick = np.broadcast_to(np.arange(width), (n, width))
    new = np.ones((n, width), bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones((n, width), bool)
    ends[:, :-1] = new[:, 1:]
    first = np.maximum.accumulate(np.where(new, tick, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, tick, width - 1)[:, ::-1], axis=1)[:, ::-1]
    base = np.arange(n)[:, None]
    return Ranked(order=order + base * width, low=first + base * (width + 1),
                  high=last + 1 + base * (width + 1))


def subset_ranks(ranked: Ranked, members: np.ndarray) -> np.ndarray:
    """Average ranks (from 1, ties share) of each row's ``members`` among themselves.

    Positions outside ``members`` get ranks that mean nothing.
    """
    n, width = members.shape
    count = np.zeros((n, width + 1), np.int32)  # members before each sorted position
    np.cumsum(members.ravel()[ranked.order], axis=1, dtype=np.int32, out=count[:, 1:])
    count = count.ravel()
    ranks = np.empty(n * width)
    ranks[ranked.order] = (count[ranked.low] + count[ranked.high] + 1) * 0.5
    return ranks.reshape(n, width)


def rank_correlation(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row's ranks ``x`` and ``y`` where ``mask``; NaN if none.

    Average ranks of n values have the mean (n + 1) / 2.
    """
    centre = ((np.count_nonzero(mask, axis=1) + 1) * 0.5)[:, None]
    dx = np.where(mask, x - centre, 0.0)
    dy = np.where(mask, y - centre, 0.0)
    return np.einsum("ij,ij->i", dx, dy) / np.sqrt(
        np.einsum("ij,ij->i", dx, dx) * np.einsum("ij,ij->i", dy, dy))


def sorted_median(ordered: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of each row's first ``count`` values (sorted), as Polars interpolates it."""
    index = np.arange(count.size)
    low = ordered[index, np.maximum(count - 1, 0) // 2]
    high = ordered[index, np.minimum(count // 2, ordered.shape[1] - 1)]
    return np.where(count > 0, interpolated(low, high), np.nan)
