"""What a head-end delivers: interval readings, daily register reads and meter events.

``delivered_readings`` renders a day's ``DayFaults`` into readings rows in the canonical
columns (duplicates, off-grid rows and clock offsets included); ``customer_rows`` and
``as_delivered`` are its two steps, which the generator uses to add the transformer total
meters' rows to the same day. ``registers_frame`` and ``events_frame`` give the other two
landing files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ami.province.clock import TZ, naive_utc, utc_instant
from ami.province.faults import DayFaults


def events_frame(rows: list[tuple[str, datetime, str]]) -> pl.DataFrame:
    """Meter events in the canonical columns, sorted."""
    return pl.DataFrame(sorted(rows), schema={"meter_id": pl.String,
                                              "event_at": pl.Datetime("us", "UTC"),
                                              "event_code": pl.String}, orient="row")


def customer_rows(meter_ids: np.ndarray, faults: DayFaults, *, ends: list[datetime],
                   export: np.ndarray) -> pl.DataFrame:
    """Delivered rows of the customer meters, with each row's clock offset [min]."""
    reported, present, extras, offsets = (faults.reported, faults.present, faults.extras,
                                          faults.offsets)
    n, per_day = reported.shape
    export = export.copy()
    for i, values in faults.export.items():
        export[i] = values
    customer = pl.DataFrame({
        "meter_id": np.repeat(meter_ids, per_day),
        "interval_end": np.tile(naive_utc(ends), n),
        "kwh_import": reported.ravel(),
        "kwh_export": export.ravel(),
        "_present": present.ravel(),
        "_offset": np.repeat([offsets.get(i, 0) for i in range(n)], per_day),
    }).filter(pl.col("_present"))
    if extras:
        extra = pl.DataFrame({
            "meter_id": [meter_ids[i] for i, _, _, _ in extras],
            "interval_end": naive_utc([ends[k] for _, k, _, _ in extras]),
            "kwh_import": [v for _, _, v, _ in extras],
            "kwh_export": [float(export[i, k]) for i, k, _, _ in extras],
            "_present": [True] * len(extras), "_offset": [m for _, _, _, m in extras]})
        customer = pl.concat([customer, extra])
    return customer


def as_delivered(frame: pl.DataFrame, per_day: int) -> pl.DataFrame:
    """Rows with their clock offsets applied, in the canonical readings columns."""
    return frame.with_columns(
        (pl.col("interval_end") + pl.duration(minutes=pl.col("_offset")))
        .dt.replace_time_zone("UTC"),
        pl.lit(24 * 60 // per_day, dtype=pl.Int32).alias("interval_minutes"),
        pl.col("kwh_export").fill_nan(None),
    ).select("meter_id", "interval_end", "interval_minutes", "kwh_import", "kwh_export") \
        .sort("meter_id", "interval_end", maintain_order=True)


def delivered_readings(meter_ids: np.ndarray, faults: DayFaults, *, ends: list[datetime],
                       export: np.ndarray) -> pl.DataFrame:
    """Interval rows of one day as a head-end delivers them after the meter faults.

    ``export`` is the true export (meters × intervals, NaN for a meter without an export
    channel); ``ends`` the UTC end of each interval of the day.
    """
    return as_delivered(customer_rows(meter_ids, faults, ends=ends, export=export),
                         len(ends))


def registers_frame(meter_ids: np.ndarray, day: date, *, imports: np.ndarray,
                    exports: np.ndarray, silent: Sequence[str] = (),
                    tz: ZoneInfo = TZ) -> pl.DataFrame:
    """Daily register reads [kWh] at the local midnight that ends ``day``.

    A NaN export means the meter has no export register; ``silent`` meters send none.
    """
    return pl.DataFrame({
        "meter_id": meter_ids,
        "read_at": [utc_instant(day + timedelta(days=1), tz=tz)] * len(meter_ids),
        "register_kwh_import": imports, "register_kwh_export": exports,
    }).with_columns(
        pl.col("register_kwh_export").fill_nan(None), pl.col("read_at").dt.replace_time_zone("UTC")
    ).filter(~pl.col("meter_id").is_in(list(silent)))
