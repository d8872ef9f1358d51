"""The Vietnamese working calendar: public holidays and day types (working day or not).

Consumption of offices, factories and shops depends on the day type, so history is
compared like with like (VEE multiplier checks, like-day estimation, anomaly signals).
"""

from __future__ import annotations

from datetime import date, timedelta

#: First day of the lunar new year (Tết Nguyên Đán).
TET = {2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
       2027: date(2027, 2, 6)}
#: Hùng Kings' Commemoration (10th day of the 3rd lunar month).
HUNG_KINGS = {2024: date(2024, 4, 18), 2025: date(2025, 4, 7), 2026: date(2026, 4, 26),
              2027: date(2027, 4, 16)}


def holidays(year: int) -> set[date]:
    """Vietnamese public holidays of a year (Labour Code 2019, art. 112)."""
    days = {date(year, 1, 1), date(year, 4, 30), date(year, 5, 1), date(year, 9, 1),
            date(year, 9, 2)}
    if year in TET:
        days |= {TET[year] + timedelta(days=k) for k in range(-2, 5)}
    if year in HUNG_KINGS:
        days.add(HUNG_KINGS[year])
    return days


def day_type(day: date) -> str:
    """``holiday``, ``sunday``, ``saturday`` or ``workday``."""
    if day in holidays(day.year):
        return "holiday"
    return {6: "sunday", 5: "saturday"}.get(day.weekday(), "workday")


def day_class(day: date) -> str:
    """``workday``, ``saturday`` or ``off`` (Sundays and public holidays): like-for-like."""
    kind = day_type(day)
    return "off" if kind in ("sunday", "holiday") else kind
