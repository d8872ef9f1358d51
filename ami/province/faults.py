"""Meter faults on any meters × intervals matrix of registered energy, and their truth.

``plan_faults`` deals the fault kinds (``FAULT_KINDS``) to meters over a period;
``apply_faults`` renders one day of them into what the meters report (a ``DayFaults``);
``advance_registers``, ``never_reporting``, ``fault_events``, ``fault_truth``,
``fault_injections`` and ``fault_marks`` say what that does to the registers, the event log
and the truth. Nothing here knows the synthetic province, so the same fault mix is injected
into real readings (``quality.inject``); ``ami.province.delivery`` turns a ``DayFaults``
into the rows a head-end delivers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ami.province.clock import TZ, iso_utc, utc_instant

FAULT_KINDS = ("stuck", "gaps", "spikes", "duplicates", "clock_offset", "never_reporting",
               "negative", "off_grid", "multiplier", "reverse_energy", "register_jump")
#: Faults judged per interval; the others per meter-day (or, never_reporting, per meter).
CELL_FAULTS = ("gaps", "spikes", "duplicates", "negative", "off_grid")


def plan_faults(meters: Sequence[int], days: int, rng: np.random.Generator
                ) -> dict[int, dict[str, float | str | int]]:
    """The generator's meter-fault mix on ``meters`` (row indices) over ``days`` days.

    Kinds are dealt in turn (``FAULT_KINDS``); each fault starts between 10 % and 60 % of
    the period and lasts 5–30 % of it (at least a day), except ``never_reporting``, which
    lasts the whole period. ``seed`` seeds the fault's daily draws (:func:`apply_faults`).
    """
    def window(share_lo: float, share_hi: float) -> int:
        return int(days * rng.uniform(share_lo, share_hi))

    plan: dict[int, dict[str, float | str | int]] = {}
    for j, i in enumerate(meters):
        kind = FAULT_KINDS[j % len(FAULT_KINDS)]
        onset = window(0.1, 0.6) if kind != "never_reporting" else 0
        length = max(1, window(0.05, 0.3)) if kind != "never_reporting" else days
        plan[int(i)] = {"kind": kind, "onset": onset, "end": min(days - 1, onset + length - 1),
                        "seed": int(rng.integers(1 << 30))}
    return plan


def fault_injections(meter_ids: np.ndarray, plan: Mapping[int, Mapping[str, float | str | int]],
                     start: date, tz: ZoneInfo = TZ) -> list[dict[str, object]]:
    """One truth row per planned fault: its local days as UTC instants, and its seed."""
    rows: list[dict[str, object]] = []
    for i, f in sorted(plan.items()):
        kind = str(f["kind"])
        rows.append({
            "meter_id": meter_ids[i], "category": "never_reporting" if kind == "never_reporting"
            else "fault", "kind": kind,
            "onset": iso_utc(utc_instant(start + timedelta(days=int(f["onset"])), tz=tz)),
            "end": iso_utc(utc_instant(start + timedelta(days=int(f["end"]) + 1), tz=tz)),
            "params": json.dumps({"seed": f["seed"]})})
    return rows


def _gap_mask(rng: np.random.Generator, per_day: int) -> np.ndarray:
    """Which intervals of a day reach the head-end: a whole day lost, or a few gaps."""
    present = np.ones(per_day, dtype=bool)
    if rng.random() < 0.15:
        return ~present
    for _ in range(int(rng.integers(1, 4))):
        first = int(rng.integers(0, per_day))
        present[first:first + int(rng.choice([1, 2, 3, 4, 8, 12]))] = False
    return present


@dataclass
class DayFaults:
    """What the meter faults of one day did to the delivered data (and the truth of it)."""

    reported: np.ndarray                  # values as delivered (NaN-free)
    present: np.ndarray                   # which cells reach the head-end on the grid
    register_basis: np.ndarray            # what the physical register counted
    extras: list[tuple[int, int, float, int]]  # extra rows: meter, slot, value, minutes late
    offsets: dict[int, int]               # meters whose clock runs ahead [min]
    export: dict[int, np.ndarray]         # export reported by meters without solar
    cells: list[tuple[int, int, str]]     # (meter, slot, kind) of cell faults
    meter_days: list[tuple[int, str]]     # (meter, kind) of faults active this day


def apply_faults(plan: Mapping[int, Mapping[str, float | str | int]], d: int,
                 reported: np.ndarray, present: np.ndarray | None = None) -> DayFaults:
    """Reported values after the meter faults of day ``d``, with their truth.

    Works on any meters × intervals matrix of what the meters registered [kWh] (NaN-free;
    the register counts it). ``present`` says which intervals the head-end would receive
    without a fault (default all): a fault only corrupts a value that is delivered, so
    real data keeps its own gaps and the truth lists only what a fault did.
    """
    out = DayFaults(reported, np.ones_like(reported, dtype=bool) if present is None
                    else present.copy(), reported.copy(), [], {}, {}, [], [])
    for i, f in plan.items():
        kind = str(f["kind"])
        if kind == "never_reporting":
            out.present[i] = False
        elif int(f["onset"]) <= d <= int(f["end"]):
            out.meter_days.append((i, kind))
            _FAULTS[kind](out, i, np.random.default_rng([int(f["seed"]), d]))
    return out


def _stuck(out: DayFaults, i: int, _rng: np.random.Generator) -> None:
    value = float(max(out.reported[i, 0], 0.05))
    out.reported[i] = value
    out.register_basis[i] = value


def _gaps(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    lost = out.present[i] & ~_gap_mask(rng, out.reported.shape[1])
    out.present[i] &= ~lost
    out.cells += [(i, int(k), "gaps") for k in np.flatnonzero(lost)]


def _spikes(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    for k in rng.choice(out.reported.shape[1], size=2, replace=False):
        out.reported[i, k] = round(float(out.reported[i, k] + 0.05) * rng.uniform(20, 100), 3)
        if out.present[i, k]:
            out.cells.append((i, int(k), "spikes"))


def _duplicates(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    for k in rng.choice(out.reported.shape[1], size=6, replace=False):
        conflicting = rng.random() < 0.2
        value = float(out.reported[i, k])
        if not out.present[i, k]:
            continue
        out.extras.append((i, int(k), round(value * 1.5 + 0.1, 3) if conflicting else value, 0))
        out.cells.append((i, int(k), "duplicate_conflicting" if conflicting
                          else "duplicate_equal"))


def _clock_offset(out: DayFaults, i: int, _rng: np.random.Generator) -> None:
    out.offsets[i] = 60


def _negative(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    for k in rng.choice(out.reported.shape[1], size=2, replace=False):
        out.reported[i, k] = -round(float(out.reported[i, k]) + 0.1, 3)
        if out.present[i, k]:
            out.cells.append((i, int(k), "negative"))


def _off_grid(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    for k in rng.choice(out.reported.shape[1], size=2, replace=False):
        if not out.present[i, k]:
            continue
        out.present[i, k] = False
        out.extras.append((i, int(k), float(out.reported[i, k]), 7))
        out.cells.append((i, int(k), "off_grid"))


def _multiplier(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    """A wrong CT ratio in the head-end: every value ×k, the register too."""
    out.reported[i] = np.round(out.reported[i] * float(rng.choice([2.0, 3.0, 5.0])), 3)
    out.register_basis[i] = out.reported[i]


def _reverse_energy(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    """Export reported by a meter without solar (a wiring or meter fault)."""
    per_day = out.reported.shape[1]
    export = np.zeros(per_day)
    export[per_day // 3:per_day // 2] = np.round(
        rng.uniform(0.05, 0.4, per_day // 2 - per_day // 3), 3)
    out.export[i] = export


def _register_jump(out: DayFaults, i: int, rng: np.random.Generator) -> None:
    """The register skips ahead: energy the intervals do not show."""
    out.register_basis[i, 0] += round(float(rng.uniform(5, 50)), 3)


_FAULTS: dict[str, Callable[[DayFaults, int, np.random.Generator], None]] = {
    "stuck": _stuck, "gaps": _gaps, "spikes": _spikes, "duplicates": _duplicates,
    "clock_offset": _clock_offset, "negative": _negative, "off_grid": _off_grid,
    "multiplier": _multiplier, "reverse_energy": _reverse_energy,
    "register_jump": _register_jump,
}


def never_reporting(meter_ids: np.ndarray,
                    plan: Mapping[int, Mapping[str, float | str | int]]) -> list[str]:
    """Meters of the plan that never report (no readings, no register reads)."""
    return [str(meter_ids[i]) for i, f in plan.items() if f["kind"] == "never_reporting"]


def advance_registers(registers: np.ndarray, faults: DayFaults) -> np.ndarray:
    """Import registers [kWh] after the day: each adds what its meter physically counted."""
    return np.round(registers + faults.register_basis.sum(axis=1), 3)


def fault_truth(meter_ids: np.ndarray, faults: DayFaults, day: date, ends: list[datetime]
                ) -> tuple[list[tuple[str, datetime, str]], list[tuple[str, date, str]]]:
    """Truth rows of a day's faults: (meter, interval end, kind) and (meter, day, kind)."""
    return ([(meter_ids[i], ends[k], kind) for i, k, kind in faults.cells],
            [(meter_ids[i], day, kind) for i, kind in faults.meter_days])


def fault_events(meter_ids: np.ndarray, plan: Mapping[int, Mapping[str, float | str | int]],
                 d: int, day: date, tz: ZoneInfo = TZ) -> list[tuple[str, datetime, str]]:
    """Clock-adjust events (local 23:54 of ``day``) ending each clock-offset fault."""
    at = utc_instant(day, 23.9 * 60, tz)
    return [(meter_ids[i], at, "clock_adjusted") for i, f in plan.items()
            if f["kind"] == "clock_offset" and int(f["end"]) == d]


def fault_marks(plan: Mapping[int, Mapping[str, float | str | int]]
                ) -> dict[int, tuple[str, str]]:
    """Truth labels of faulty meters for :func:`labels_frame`."""
    return {i: ("fault", str(f["kind"])) for i, f in plan.items()}
