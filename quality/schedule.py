"""Which days VEE builds, in which order: the ``vee_days`` step of the chain.

A day is built when its silver is missing or stale (``warehouse.catalog.is_stale`` on the
day's ``readings_sources``), in date order, since a day's rules read the days before it.
A day that only rows spilling over midnight touch waits for its own delivery.
"""

from __future__ import annotations

from collections.abc import Callable

from ami.settings import Settings
from quality.day_inputs import own_delivery, readings_sources
from quality.sources import current_files
from quality.vee import vee_day
from warehouse import (
    Warehouse,
    is_stale,
    partition_meta,
)
from warehouse.state import Manifest, read_json, read_manifest, write_json


def _stale(warehouse: Warehouse, day: str, *, settings: Settings) -> bool:
    return is_stale(warehouse, "readings", {"date": day},
                    readings_sources(warehouse, day, settings=settings))


def delivered_days(warehouse: Warehouse) -> list[str]:
    """Local days any current readings delivery touches, ascending."""
    manifest = read_manifest(warehouse)
    return sorted({d for e in manifest.values() if e.kind == "readings" and e.loaded
                   for d in e.dates})




def _waiting_rows(warehouse: Warehouse, manifest: Manifest, day: str,
                  *, settings: Settings) -> int | None:
    """Rows held in bronze for a day never built whose own delivery has not arrived.

    None when the day is to be built: its delivery is there, or it was built before (a
    built day always follows its sources).
    """
    if own_delivery(manifest, day, settings=settings) or partition_meta(
            warehouse, "readings", {"date": day}) is not None:
        return None
    return sum(manifest[name].date_rows.get(day, 0)
               for name in current_files(manifest, "readings", day))


def pending_days(*, settings: Settings) -> list[str]:
    """Days whose silver is absent or older than what it depends on, ascending.

    Days whose own delivery has not arrived wait (see ``vee_pending``).
    """
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    return [d for d in delivered_days(warehouse) if _stale(warehouse, d, settings=settings)
            and _waiting_rows(warehouse, manifest, d, settings=settings) is None]


def vee_pending(*, settings: Settings,
                on_unit: Callable[[str], object] | None = None) -> list[str]:
    """Build every stale day in date order; returns the days built.

    A rebuilt day may make the days after it stale (their rules read its quality_day):
    each day is judged when its turn comes. A day that only a few rows spilling over
    midnight touch is not built: its rows wait in bronze for the day's own delivery,
    recorded in the day's VEE record. The counts of each day built are in its VEE record
    (``vee_totals``).
    """
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    done = []
    for day in delivered_days(warehouse):
        if not _stale(warehouse, day, settings=settings):
            continue
        held = _waiting_rows(warehouse, manifest, day, settings=settings)
        if held is not None:
            write_json(warehouse, f"vee/{day}.json",
                       {"date": day, "waiting_rows": held})
            continue
        done.append(vee_day(day, settings=settings).date)
        if on_unit is not None:
            on_unit(day)
    return done


def vee_totals(days: list[str], *, settings: Settings) -> dict[str, int]:
    """Reconciliation of the given days summed from their VEE records (empty: none).

    Days waiting for their own delivery add to ``waiting_days`` and ``waiting_rows``.
    """
    warehouse = Warehouse.at(settings.warehouse)
    totals: dict[str, int] = {}
    for day in days:
        record = read_json(warehouse, f"vee/{day}.json")
        if record is None:
            continue
        counted = "waiting_days" if "waiting_rows" in record else "days"
        totals[counted] = totals.get(counted, 0) + 1
        for key, value in record.items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    return totals
