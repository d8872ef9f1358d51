"""Meter events and register reads of the scoring window, read from silver.

VEE types the landing zone's ``events*`` and ``registers*`` rows once, with the rules'
reading of them (the current version of each file, event codes normalised, a read
delivered twice counted once), into silver ``events`` and ``registers`` partitions per
local day (``quality.channels``). The anomaly evidence reads those: ``read_events`` and
``read_registers`` give the frames ``events.event_signals`` and
``registers.register_signals`` take.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse import Warehouse


def _days(warehouse: Warehouse, table: str, first_day: date, last_day: date) -> list[str]:
    """The partitions of ``table`` on local days first_day..last_day."""
    first, last = first_day.isoformat(), last_day.isoformat()
    return [d for d in warehouse.partitions(table, "date") if first <= d <= last]


def read_events(warehouse: Warehouse, first_day: date, end_day: date) -> pl.LazyFrame | None:
    """Events on local days first_day..end_day; None when silver holds none of them.

    ``meter_id``, ``event_at`` [UTC], ``event_code`` (normalised).
    """
    days = _days(warehouse, "events", first_day, end_day)
    if not days:
        return None
    return warehouse.scan("events").filter(pl.col("date").is_in(days)).select(
        "meter_id", "event_at", "event_code")


def read_registers(warehouse: Warehouse, first_day: date, end_day: date
                   ) -> pl.LazyFrame | None:
    """Register reads from local first_day 00:00 to the midnight closing end_day.

    ``meter_id``, ``read_at`` [UTC], ``register_kwh_import`` and ``register_kwh_export``
    [kWh, cumulative]. A day's partition holds both midnights, so the read between two
    days of the window is in both partitions: counted once here. None when silver holds
    none of those days.
    """
    days = _days(warehouse, "registers", first_day, end_day)
    if not days:
        return None
    return warehouse.scan("registers").filter(pl.col("date").is_in(days)).select(
        "meter_id", "read_at", "register_kwh_import", "register_kwh_export",
    ).unique(["meter_id", "read_at"], maintain_order=True)
