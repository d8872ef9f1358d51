"""Calendar and weather of Lạng Sơn for the synthetic province: holidays, day types, °C."""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from ami.calendar import day_type, holidays

__all__ = ["day_type", "dusk_dawn", "holidays", "mean_temperature"]


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
