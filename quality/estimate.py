"""Estimation of VEE: fill missing or rejected intervals, each estimate naming its method.

In the order utilities apply them (e.g. Oracle Utilities MDM's "interpolation from
scalar" and "profile" estimation):

1. ``linear_interpolation`` — a gap of at most ``max_interpolation_gap_minutes`` between
   two real readings of the same day is filled on the straight line between them.
   When the day's register delta is known and the day is complete, the interpolated
   values are scaled (``linear_register``) so that the day adds up to the register —
   within a factor of 2 either way: a register that disagrees more than that is a
   finding (``register_mismatch``), not something to hide in estimates.
2. ``like_day`` — a longer gap takes the meter's own average of the same interval on
   days of the same type (working day / weekend) of the recent weeks;
   ``like_day_register`` — when the day's register delta is known, the like-day shape is
   scaled so that the day adds up to the register exactly.

Nothing is invented beyond the last real reading: a gap that runs to the end of the day
is filled only when a register read at the day's end vouches for the energy. Measured
values are never touched — a bypassed meter reading zero stays a measured zero.
"""

from __future__ import annotations

import numpy as np

from ami.vocabulary import Rule
from quality.grid import ESTIMATED, MISSING, RULE, Block


def linear(block: Block, *, max_gap_minutes: int) -> int:
    """Interpolate short gaps between real readings; returns the cells filled."""
    values, missing = block.kwh_import, block.quality == MISSING
    n, per = values.shape
    cols = np.broadcast_to(np.arange(per), (n, per))
    prev = np.maximum.accumulate(np.where(~missing, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(~missing, cols, per)[:, ::-1], axis=1)[:, ::-1]
    gap = nxt - prev - 1
    fill = missing & (prev >= 0) & (nxt < per) & (gap * block.minutes <= max_gap_minutes)
    if not fill.any():
        return 0
    r, c = np.nonzero(fill)
    p, q = prev[r, c], nxt[r, c]
    weight = (c - p) / (q - p)
    for channel in (block.kwh_import, block.kwh_export):
        a, b = channel[r, p], channel[r, q]
        channel[r, c] = a + (b - a) * weight
    block.quality[r, c] = ESTIMATED
    block.rule[r, c] = RULE[Rule.LINEAR_INTERPOLATION]
    return len(r)


def like_day(block: Block, profile: np.ndarray, register_kwh: np.ndarray) -> int:
    """Fill the remaining gaps from the like-day profile, scaled to the register if known.

    Args:
        block: the day, after linear interpolation.
        profile: (meters × intervals) average import of like days [kWh]; NaN = unknown.
        register_kwh: (meters,) the day's register delta [kWh]; NaN = no register.

    Returns the cells filled.

    """
    missing = block.quality == MISSING
    if not missing.any():
        return 0
    per = missing.shape[1]
    has_register = ~np.isnan(register_kwh)
    known = np.where(missing, 0.0, np.nan_to_num(block.kwh_import))
    measured_any = (~missing).any(axis=1)
    cols = np.arange(per)
    last_real = np.where(measured_any, np.max(np.where(~missing, cols, -1), axis=1), -1)
    # After the last real reading only a register at the day's end vouches for energy.
    allowed = missing & ((cols[None, :] <= last_real[:, None]) | has_register[:, None])
    shape = np.where(allowed, profile, np.nan)
    usable = allowed & ~np.isnan(shape)
    # Scale to the register: the energy the register says is missing, spread like the
    # profile (only when every missing cell of the day can be filled).
    rest = register_kwh - known.sum(axis=1)
    shape_sum = np.nansum(np.where(usable, shape, 0.0), axis=1)
    complete = (usable == missing).all(axis=1)
    scale_ok = has_register & complete & (rest >= 0) & (shape_sum > 0)
    factor = np.where(scale_ok, rest / np.where(shape_sum > 0, shape_sum, 1.0), 1.0)
    fill = usable & (scale_ok | ~has_register)[:, None]
    if not fill.any():
        return 0
    r, c = np.nonzero(fill)
    block.kwh_import[r, c] = shape[r, c] * factor[r]
    block.quality[r, c] = ESTIMATED
    block.rule[r, c] = np.where(scale_ok[r], RULE[Rule.LIKE_DAY_REGISTER], RULE[Rule.LIKE_DAY])
    return len(r)


#: How far a register may scale interpolated values [-]; beyond it the register and the
#: intervals disagree and the day is flagged instead.
REGISTER_SCALE_LIMITS = (0.5, 2.0)


def scale_to_register(block: Block, register_kwh: np.ndarray) -> int:
    """Scale a complete day's interpolated values so the day matches its register.

    Returns the cells rescaled. Days with a missing interval, without a register, or
    whose needed factor is outside ``REGISTER_SCALE_LIMITS`` are left as they are.
    """
    linear_cells = block.rule == RULE[Rule.LINEAR_INTERPOLATION]
    complete = ~(block.quality == MISSING).any(axis=1)
    candidates = complete & linear_cells.any(axis=1) & ~np.isnan(register_kwh)
    if not candidates.any():
        return 0
    values = np.nan_to_num(block.kwh_import)
    estimated = np.where(linear_cells, values, 0.0).sum(axis=1)
    rest = register_kwh - np.where(linear_cells, 0.0, values).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(estimated > 0, rest / estimated, np.nan)
    low, high = REGISTER_SCALE_LIMITS
    ok = candidates & (factor >= low) & (factor <= high)
    cells = linear_cells & ok[:, None]
    if not cells.any():
        return 0
    r, c = np.nonzero(cells)
    block.kwh_import[r, c] = block.kwh_import[r, c] * factor[r]
    block.rule[r, c] = RULE[Rule.LINEAR_REGISTER]
    return len(r)
