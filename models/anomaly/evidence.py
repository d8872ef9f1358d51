"""Per-meter evidence from meter events and register reads, joined onto interval signals.

Two sources of theft evidence that the load profile alone does not give (README: data
contract), each reduced to one row per meter that ``signals.py``'s table is joined with
on ``meter_id`` (``with_evidence``):

- **Events** (``meter_id``, ``event_at``, ``event_code``): tamper alarms (cover open,
  magnetic field), reverse current and power-off events, counted in the recent window
  and per day of history (``events.py``).
- **Register reads** (``meter_id``, ``read_at``, ``register_kwh_import``): the cumulative
  index advance between consecutive reads against the energy the load profile shows for
  the same local days (``registers.py``). A register that counts more than its profile
  means the profile under-reports; a register that goes backwards is a replaced meter or
  a fault, never theft.

In the warehouse both are read from silver ``events`` and ``registers``, which VEE builds
from the landing zone's ``events*`` / ``registers*`` files (``channels.py``).

Local days are in the settings' time zone (Asia/Ho_Chi_Minh by default); instants are
UTC. Missing is missing: a signal without data is null, never 0 (``EVIDENCE_TYPES``).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ami.settings import Settings
from models.anomaly.events import event_signals
from models.anomaly.notes import add_note
from models.anomaly.readings import Window
from models.anomaly.registers import register_signals

#: Evidence columns and their types, present on every scored row (null without the data).
EVIDENCE_TYPES: dict[str, pl.DataType] = {
    "tamper_events_recent": pl.Int32(),
    "tamper_events_hist_per_day": pl.Float64(),
    "reverse_events_recent": pl.Int32(),
    "power_off_events_recent": pl.Int32(),
    "register_gap_share_recent": pl.Float64(),
    "register_gap_share_hist": pl.Float64(),
    "register_days_recent": pl.Float64(),
    "register_resets": pl.Int32(),
}


def with_evidence(
    signals: pl.DataFrame,
    *,
    settings: Settings,
    events: pl.LazyFrame | pl.DataFrame | None = None,
    registers: pl.LazyFrame | pl.DataFrame | None = None,
    day_energy: pl.DataFrame | pl.LazyFrame | None = None,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """The signal table with the event and register evidence of ``EVIDENCE_TYPES`` joined.

    The window is the signals' own (``window_end``); a missing source gives null columns.
    A source that was given but holds nothing usable for the window (events or reads
    outside it, register reads without the load-profile day energy to compare with)
    gives null columns too, and one line in ``notes`` (see :func:`add_note`).

    Raises:
        InputError: a given source lacks a required column or has a wrong type.

    """
    end = signals["window_end"].max()
    out = signals
    if isinstance(end, datetime):
        window = Window.ending(end, settings)
        days = f"{window.first_day}–{window.end_day}"
        if events is not None:
            counted = event_signals(events, window, settings=settings)
            if counted.is_empty():
                add_note(notes, "event evidence left out: none of the given meter events is "
                         "a counted alarm (cover open, magnetic tamper, reverse current, "
                         f"power off) on the scored local days {days}")
            out = out.join(counted, on="meter_id", how="left")
        if registers is not None and day_energy is None:
            add_note(notes, "register evidence left out: there is no load-profile day energy "
                     f"for the scored local days {days} to compare the register reads with "
                     "(in the warehouse: gold meter_day, built by the ami_losses DAG)")
        if registers is not None and day_energy is not None:
            found = register_signals(registers, day_energy, window, settings=settings)
            compared = found.filter(pl.col("register_days_recent").is_not_null()
                                    | pl.col("register_days_hist").is_not_null())
            if compared.is_empty():
                add_note(notes, "register evidence left out: no two register reads of a "
                         "meter bracket complete days of load profile on the scored local "
                         f"days {days}")
            out = out.join(found, on="meter_id", how="left")
    return out.with_columns(
        (pl.col(name).cast(dtype) if name in out.columns else pl.lit(None, dtype)).alias(name)
        for name, dtype in EVIDENCE_TYPES.items()
    )
