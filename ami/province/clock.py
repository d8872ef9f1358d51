"""Local days of the province as UTC instants: the zone, interval ends, ISO text.

The province keeps local time (``TZ``); every instant it writes is UTC. A local day has 46
or 50 half-hours on a clock-change day, so its interval ends come from the zone, not from
a fixed count.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utc_instant(day: date, minutes: float = 0.0, tz: ZoneInfo = TZ) -> datetime:
    """UTC instant of local ``day`` 00:00 plus ``minutes`` (of wall-clock time in ``tz``)."""
    return (datetime.combine(day, time(0), tz) + timedelta(minutes=minutes)).astimezone(UTC)


def day_ends(day: date, interval_minutes: int, tz: ZoneInfo = TZ) -> list[datetime]:
    """UTC end instants of the intervals of local ``day`` (46 or 50 on a clock-change day)."""
    start = utc_instant(day, tz=tz)
    count = ((utc_instant(day + timedelta(days=1), tz=tz) - start)
             // timedelta(minutes=interval_minutes))
    return [start + timedelta(minutes=(k + 1) * interval_minutes) for k in range(count)]


def naive_utc(moments: list[datetime]) -> np.ndarray:
    """UTC instants as numpy datetime64[us] (numpy has no time zones)."""
    return np.array([m.replace(tzinfo=None) for m in moments], dtype="datetime64[us]")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC text with ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
