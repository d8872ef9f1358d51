"""Thefts, meter faults, outages and moves of the province, and what they leave behind.

``inject`` chooses the thieves (``THEFT_KINDS`` and their parameters), the faulty meters
(``ami.province.faults.plan_faults``), the outages and the topology moves of a ``Province``
and records one truth row per injection; ``meter_labels`` is the truth label per meter and
``day_events`` the meter events a day of them produces (tamper, power off/on, clock
adjustment). What a thief registers is simulated with the day (``ami.province.load``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from ami.province.clock import iso_utc, utc_instant
from ami.province.delivery import events_frame
from ami.province.faults import fault_events, fault_injections, fault_marks, plan_faults
from ami.province.grid import GROUPS, Province
from ami.province.spec import ProvinceSpec
from ami.province.writing import labels_frame

THEFT_KINDS = ("under_registration", "partial_bypass", "full_bypass", "flattened",
               "time_shifted")


def inject(p: Province, spec: ProvinceSpec, rng: np.random.Generator) -> None:
    """Choose thieves, faulty meters, outages and moves; record them for the truth."""
    n, per_day = len(p.meter_id), 1440 // spec.interval_minutes
    order = rng.permutation(n)
    no_solar = p.solar_kwp == 0
    theft_pool = [i for i in order if no_solar[i] and p.group[i] in (0, 1, 2)]
    n_theft = round(spec.theft_share * n) if spec.days >= 4 else 0
    thieves = theft_pool[:n_theft]
    rest = [i for i in order if i not in set(thieves) and no_solar[i] and p.group[i] != 4]
    n_fault = round(spec.fault_share * n)
    faulty, rest = rest[:n_fault], rest[n_fault:]
    n_outage = max(0, round(0.005 * n))
    outages, rest = rest[:n_outage], rest[n_outage:]
    n_move = round(spec.move_share * n) if spec.days >= 2 else 0
    movers = [i for i in rest if np.sum(p.tx_feeder == p.tx_feeder[p.tx[i]]) > 1][:n_move]

    def window(share_lo: float, share_hi: float) -> int:
        return int(spec.days * rng.uniform(share_lo, share_hi))

    for j, i in enumerate(thieves):
        kind = THEFT_KINDS[j % len(THEFT_KINDS)]
        params: dict[str, float | str | int] = {"kind": kind, "onset": window(0.3, 0.7)}
        if kind == "under_registration":
            params["alpha"] = round(float(rng.uniform(0.3, 0.8)), 3)
        elif kind == "partial_bypass":
            params["start_h"] = int(rng.integers(16, 20))
            params["hours"] = int(rng.integers(4, 9))
        elif kind == "flattened":
            params["beta"] = round(float(rng.uniform(0.4, 0.8)), 3)
        elif kind == "time_shifted":
            params["shift_h"] = int(rng.integers(4, 9))
        p.theft[i] = params
        tamper = kind in ("partial_bypass", "full_bypass") and rng.random() < 0.3
        params["tamper_event"] = int(tamper)
    p.fault = plan_faults(faulty, spec.days, rng)
    for i in outages:
        day = int(rng.integers(0, spec.days))
        first = int(rng.integers(0, per_day - 4))
        p.outage[i] = (day, first, min(per_day, first + int(rng.integers(2, 12))))
    for i in movers:
        same_feeder = np.flatnonzero((p.tx_feeder == p.tx_feeder[p.tx[i]])
                                     & (np.arange(len(p.tx_ids)) != p.tx[i]))
        p.move[i] = (int(rng.choice(same_feeder)), int(rng.integers(1, spec.days)),
                     int(rng.integers(0, per_day)))
    _record_injections(p, spec)


def inject_savings(p: Province, spec: ProvinceSpec) -> None:
    """Choose the advertising-lit customers and the new rooftop solar installs.

    Both from their own random streams (``[seed, 11]`` and ``[seed, 12]``), so that the
    other draws of the province stay as they were. Advertising depends on the grid only
    (the same customers for every span of a seed); a new install falls on a day inside
    the span, never on a thief, a faulty or a moved meter nor one that has solar already.
    """
    n = len(p.meter_id)
    ads = np.random.default_rng([spec.seed, 11])
    lit = (p.group == 1) & (ads.random(n) < spec.advertising_share)
    complies = ads.random(n) < spec.advertising_compliance
    p.advertising = {int(i): bool(complies[i]) for i in np.flatnonzero(lit)}
    new = np.random.default_rng([spec.seed, 12])
    pick = new.random(n) < spec.new_solar_share
    day = new.integers(1, max(spec.days, 2), n)
    kwp = np.where(p.group == 3, new.uniform(10, 50, n), new.uniform(3, 10, n)).round(1)
    taken = set(p.theft) | set(p.fault) | set(p.move)
    eligible = np.isin(p.group, (0, 3)) & (p.solar_kwp == 0) & pick
    if spec.days >= 2:
        p.solar_install = {int(i): (int(day[i]), float(kwp[i]))
                           for i in np.flatnonzero(eligible) if int(i) not in taken}


def _record_injections(p: Province, spec: ProvinceSpec) -> None:
    """One truth row per injection with its period and parameters."""
    step = spec.interval_minutes
    end_all = iso_utc(utc_instant(spec.start + timedelta(days=spec.days)))
    for i, t in sorted(p.theft.items()):
        params = {k: v for k, v in t.items() if k not in ("kind", "onset")}
        onset = utc_instant(spec.start + timedelta(days=int(t["onset"])))
        p.injections.append({"meter_id": p.meter_id[i], "category": "theft", "kind": t["kind"],
                             "onset": iso_utc(onset), "end": end_all,
                             "params": json.dumps(params, sort_keys=True)})
    p.injections += fault_injections(p.meter_id, p.fault, spec.start)
    for i, (day, first, last) in sorted(p.outage.items()):
        d = spec.start + timedelta(days=day)
        p.injections.append({"meter_id": p.meter_id[i], "category": "outage", "kind": "outage",
                             "onset": iso_utc(utc_instant(d, first * step)),
                             "end": iso_utc(utc_instant(d, last * step)), "params": "{}"})
    for i in map(int, np.flatnonzero((p.group == 4) & ~p.lit_compliant)):
        p.injections.append({"meter_id": p.meter_id[i], "category": "lighting_not_dimmed",
                             "kind": "not_dimmed", "onset": iso_utc(utc_instant(spec.start)),
                             "end": end_all, "params": "{}"})
    for i, (new, day, k) in sorted(p.move.items()):
        moment = iso_utc(utc_instant(spec.start + timedelta(days=day), k * step))
        p.injections.append({"meter_id": p.meter_id[i], "category": "move", "kind": "move",
                             "onset": moment, "end": end_all,
                             "params": json.dumps({"from": str(p.tx_ids[p.tx[i]]),
                                                   "to": str(p.tx_ids[new])})})


def meter_labels(p: Province) -> pl.DataFrame:
    """Truth label per customer meter: ``clean`` or the theft / fault kind.

    ``solar`` is true for a meter with rooftop solar on any day of the span (new installs too).
    """
    marks = {i: ("theft", str(t["kind"])) for i, t in p.theft.items()} | fault_marks(p.fault)
    return labels_frame(p.meter_id, customer_group=[GROUPS[g] for g in p.group],
                        transformer_id=p.tx_ids[p.tx], solar=p.solar_on(10**9) > 0,
                        marks=marks)


def day_events(p: Province, spec: ProvinceSpec, d: int, day: date) -> pl.DataFrame:
    """Meter events of one day: tamper at theft onset, outages, clock adjustments."""
    rows: list[tuple[str, datetime, str]] = []
    step = spec.interval_minutes
    for i, t in p.theft.items():
        if int(t["onset"]) == d and t.get("tamper_event"):
            code = "cover_open" if t["kind"] == "partial_bypass" else "magnetic_tamper"
            rows.append((p.meter_id[i], utc_instant(day, 10 * 60), code))
    for i, (oday, first, last) in p.outage.items():
        if oday == d:
            rows.append((p.meter_id[i], utc_instant(day, first * step), "power_off"))
            rows.append((p.meter_id[i], utc_instant(day, last * step), "power_on"))
    rows += fault_events(p.meter_id, p.fault, d, day)
    return events_frame(rows)
