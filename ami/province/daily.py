"""Daily truth of a synthetic province without writing it: for model-level evaluations.

``daily_truth`` simulates every day of a spec exactly as ``generate_province`` does (the
same province, the same demand-response windows, the same savings) and sums each customer
meter's intervals per local day, without building or writing any interval file, so a
whole baseline year of a few hundred meters takes seconds. ``temperature_frame`` is the
matching daily temperature (what ``temperature_<first day>.csv`` holds).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from ami.province.generate import build_province, temperature_frame
from ami.province.grid import GROUPS
from ami.province.load import dr_windows, simulate_day
from ami.province.spec import ProvinceSpec

__all__ = ["daily_truth", "temperature_frame"]


def daily_truth(spec: ProvinceSpec) -> pl.DataFrame:
    """One row per customer meter and local day of the span [kWh].

    Columns: ``meter_id``, ``date`` (pl.Date, local), ``customer_group``,
    ``kwh_import_true`` (true import after solar netting), ``kwh_import_registered`` (what
    the meter registers: less for a thief; meter faults and delivery gaps are not applied)
    and ``kwh_export`` (true export, 0 without solar). Sorted by meter, then date; each sum
    is of the interval values at meter resolution (0.001 kWh), so it equals the daily sum
    of ``true_readings_<day>.parquet``.
    """
    spec.check()
    p = build_province(spec)
    windows = dr_windows(spec)
    n, days = len(p.meter_id), spec.days
    imp, reg, exp = (np.zeros((n, days)) for _ in range(3))
    for d in range(days):
        res = simulate_day(p, spec, d, windows)
        imp[:, d] = res.true_import.sum(axis=1)
        reg[:, d] = res.registered.sum(axis=1)
        exp[:, d] = res.true_export.sum(axis=1)
    dates = [spec.start + timedelta(days=d) for d in range(days)]
    return pl.DataFrame({
        "meter_id": np.repeat(p.meter_id, days),
        "date": pl.Series(dates * n, dtype=pl.Date),
        "customer_group": np.repeat(np.array(GROUPS)[p.group], days),
        "kwh_import_true": np.round(imp, 3).ravel(),
        "kwh_import_registered": np.round(reg, 3).ravel(),
        "kwh_export": np.round(exp, 3).ravel(),
    }, schema={"meter_id": pl.String, "date": pl.Date, "customer_group": pl.String,
               "kwh_import_true": pl.Float64, "kwh_import_registered": pl.Float64,
               "kwh_export": pl.Float64})
