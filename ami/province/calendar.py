"""Calendar and weather of Lạng Sơn for the synthetic province: holidays, day types, °C."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

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


def mean_temperature(day: date, seed: int) -> float:
    """Daily mean air temperature in Lạng Sơn [°C]: ~13 °C in January, ~27.5 °C in July."""
    doy = day.timetuple().tm_yday
    seasonal = 20.3 - 7.3 * math.cos(2 * math.pi * (doy - 15) / 365.25)
    noise = np.random.default_rng([seed, day.toordinal(), 7]).normal(0.0, 1.6)
    return round(seasonal + float(noise), 1)


def dusk_dawn(day: date) -> tuple[float, float]:
    """Local hours when street lights switch on (dusk) and off (dawn) [h]."""
    phase = math.cos(2 * math.pi * (day.timetuple().tm_yday - 172) / 365.25)
    return 17.9 + 0.5 * phase, 5.9 - 0.5 * phase
