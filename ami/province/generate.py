"""Generate a synthetic province: grid, customers, 30-minute load, theft, faults, truth.

Day by day and vectorised over meters (numpy), so a 300,000-meter province streams to
disk one day at a time. Every energy is rounded to the meter resolution (0.001 kWh)
before any sum, so that balances are exact in decimal: per transformer and interval,
``total_import − total_export + Σ export − Σ true import == technical`` by construction.

The landing zone gets what a head-end would deliver (README: data contract); the truth folder,
which the pipeline never reads, says what was injected where.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ami.province.calendar import day_type, dusk_dawn, mean_temperature
from ami.reference import BRANCH_NAMES
from ami.vocabulary import CustomerGroup, MeterRole, texts

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Customer groups of the synthetic province (its group indices; none is "other").
GROUPS = texts(group for group in CustomerGroup if group != CustomerGroup.OTHER)
GROUP_SHARES = (0.85, 0.08, 0.03, 0.02, 0.02)
#: Contracted capacity range per group [kW].
CONTRACTED_KW = ((3, 15), (5, 50), (30, 500), (10, 100), (2, 20))
#: Average load as a share of contracted capacity, range per group [-]; for public lighting
#: the power when the lights are on.
LOAD_FACTOR = ((0.03, 0.07), (0.10, 0.25), (0.20, 0.45), (0.08, 0.18), (0.70, 0.90))
#: Per-interval noise (lognormal sigma) per group [-].
NOISE = (0.30, 0.18, 0.10, 0.12, 0.02)
#: Extra load per °C above 24 °C (air conditioning) per group [share of base / °C].
COOLING = (0.06, 0.05, 0.01, 0.06, 0.0)
TX_SIZES_KVA = np.array([50, 75, 100, 160, 180, 250, 320, 400, 560, 630, 750, 1000])
THEFT_KINDS = ("under_registration", "partial_bypass", "full_bypass", "flattened",
               "time_shifted")
FAULT_KINDS = ("stuck", "gaps", "spikes", "duplicates", "clock_offset", "never_reporting",
               "negative", "off_grid", "multiplier", "reverse_energy", "register_jump")
#: Faults judged per interval; the others per meter-day (or, never_reporting, per meter).
CELL_FAULTS = ("gaps", "spikes", "duplicates", "negative", "off_grid")
FORMATS = ("csv", "csv.gz", "parquet")
COMMUNES = ("Hoàng Văn Thụ", "Tam Thanh", "Đông Kinh", "Chi Lăng", "Vĩnh Trại", "Đồng Đăng",
            "Na Sầm", "Thất Khê", "Bình Gia", "Bắc Sơn", "Văn Quan", "Lộc Bình", "Đình Lập",
            "Hữu Lũng", "Cao Lộc", "Mai Pha", "Hoàng Đồng", "Quảng Lạc")


@dataclass(frozen=True)
class ProvinceSpec:
    """What to generate; the same spec and seed always give the same bytes."""

    meters: int = 3000
    start: date = date(2026, 9, 1)
    days: int = 61
    seed: int = 42
    interval_minutes: int = 30
    file_format: str = "csv.gz"
    theft_share: float = 0.03
    fault_share: float = 0.03
    solar_share: float = 0.04
    move_share: float = 0.005
    write_true_readings: bool = True

    def check(self) -> None:
        """Raise ``ValueError`` with the fix when the spec cannot be generated."""
        if self.meters < 1:
            raise ValueError(f"meters must be at least 1, got {self.meters}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if self.interval_minutes not in (15, 30, 60):
            raise ValueError(f"interval_minutes must be 15, 30 or 60, got {self.interval_minutes}")
        if self.file_format not in FORMATS:
            raise ValueError(f"unknown file_format {self.file_format!r}; use one of {FORMATS}")
        for name in ("theft_share", "fault_share", "solar_share", "move_share"):
            if not 0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name} must be between 0 and 0.5")


@dataclass(frozen=True)
class GenerationSummary:
    """Counts of what was generated and where."""

    customers: int
    transformers: int
    feeders: int
    branches: int
    reading_rows: int
    thefts: int
    faults: int
    files: int
    landing: Path
    truth: Path


@dataclass
class Province:
    """The static part: customers (arrays indexed by customer) and transformers."""

    meter_id: np.ndarray
    customer_id: np.ndarray
    group: np.ndarray
    tx: np.ndarray            # transformer index before any move
    contracted_kw: np.ndarray
    solar_kwp: np.ndarray     # 0 when none
    dr: np.ndarray
    level_kw: np.ndarray      # mean load [kW]
    jitter: np.ndarray        # timing shift of the daily shape [intervals]
    lit_compliant: np.ndarray
    tx_ids: np.ndarray
    tx_feeder: np.ndarray
    tx_branch: np.ndarray
    tx_kva: np.ndarray
    tx_p0_kw: np.ndarray
    tx_k: np.ndarray
    feeder_ids: np.ndarray
    branch_ids: np.ndarray
    commune: np.ndarray
    injections: list[dict[str, object]] = field(default_factory=list)
    theft: dict[int, dict[str, float | str | int]] = field(default_factory=dict)
    fault: dict[int, dict[str, float | str | int]] = field(default_factory=dict)
    outage: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    move: dict[int, tuple[int, int, int]] = field(default_factory=dict)   # i → (new tx, day, k)


def _utc(day: date, minutes: float = 0.0, tz: ZoneInfo = TZ) -> datetime:
    """UTC instant of local ``day`` 00:00 plus ``minutes`` (of wall-clock time in ``tz``)."""
    return (datetime.combine(day, time(0), tz) + timedelta(minutes=minutes)).astimezone(UTC)


def day_ends(day: date, interval_minutes: int, tz: ZoneInfo = TZ) -> list[datetime]:
    """UTC end instants of the intervals of local ``day`` (46 or 50 on a clock-change day)."""
    start = _utc(day, tz=tz)
    count = (_utc(day + timedelta(days=1), tz=tz) - start) // timedelta(minutes=interval_minutes)
    return [start + timedelta(minutes=(k + 1) * interval_minutes) for k in range(count)]


def _naive(moments: list[datetime]) -> np.ndarray:
    """UTC instants as numpy datetime64[us] (numpy has no time zones)."""
    return np.array([m.replace(tzinfo=None) for m in moments], dtype="datetime64[us]")


def _iso(moment: datetime) -> str:
    """ISO 8601 UTC text with ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_province(spec: ProvinceSpec) -> Province:
    """Grid, customers and the injections of a spec (deterministic for its seed)."""
    rng = np.random.default_rng([spec.seed, 0])
    n = spec.meters
    n_branch = max(1, min(11, n // 250))
    n_tx = max(1, round(n / 60))
    n_feeder = max(n_branch, -(-n_tx // 20))
    branch_ids = np.array(sorted(BRANCH_NAMES)[:n_branch])
    feeder_branch = np.arange(n_feeder) % n_branch
    feeder_ids = np.array([f"{branch_ids[b]}-{471 + i // n_branch}"
                           for i, b in enumerate(feeder_branch)])
    tx_feeder = np.arange(n_tx) % n_feeder
    tx_branch = feeder_branch[tx_feeder]
    tx_ids = np.array([f"{branch_ids[b]}-T{t + 1:04d}" for t, b in enumerate(tx_branch)])
    # Customers per transformer vary (10–150 typical): gamma weights, every TBA gets one.
    weights = rng.gamma(2.5, size=n_tx)
    tx = rng.choice(n_tx, size=n, p=weights / weights.sum())
    tx[: min(n, n_tx)] = np.arange(min(n, n_tx))
    tx = np.sort(tx)
    group = rng.choice(len(GROUPS), size=n, p=GROUP_SHARES)
    lo = np.array([c[0] for c in CONTRACTED_KW])[group]
    hi = np.array([c[1] for c in CONTRACTED_KW])[group]
    contracted = np.round(rng.uniform(lo, hi), 1)
    lf_lo = np.array([c[0] for c in LOAD_FACTOR])[group]
    lf_hi = np.array([c[1] for c in LOAD_FACTOR])[group]
    level = contracted * rng.uniform(lf_lo, lf_hi)
    solar = np.zeros(n)
    eligible = np.isin(group, (0, 3))
    has_solar = eligible & (rng.random(n) < spec.solar_share * 1.1)
    solar[has_solar] = np.where(group == 3, rng.uniform(10, 50, n),
                                rng.uniform(3, 10, n))[has_solar].round(1)
    dr = np.isin(group, (1, 2)) & (rng.random(n) < 0.2)
    # Transformer sizing from diversified demand, then I²R-like loss coefficients.
    demand = np.bincount(tx, weights=level * 2.2, minlength=n_tx)
    kva = TX_SIZES_KVA[np.minimum(np.searchsorted(TX_SIZES_KVA, demand / 0.8),
                                  len(TX_SIZES_KVA) - 1)]
    p0 = 0.002 * kva
    k = rng.uniform(0.04, 0.09, n_tx) / kva
    commune_of_branch = {b: [COMMUNES[(i * 3 + j) % len(COMMUNES)] for j in range(3)]
                         for i, b in enumerate(branch_ids)}
    commune = np.array([commune_of_branch[branch_ids[tx_branch[t]]][t % 3] for t in tx])
    province = Province(
        meter_id=np.array([f"PC{i + 1:09d}" for i in range(n)]),
        customer_id=np.array([f"KH{i + 1:09d}" for i in range(n)]),
        group=group, tx=tx, contracted_kw=contracted, solar_kwp=solar, dr=dr,
        level_kw=level,
        # Lights switch on timers and photocells: no timing jitter, unlike people.
        jitter=np.where(group == 4, 0, rng.integers(-1, 2, n)), lit_compliant=rng.random(n) >= 0.2,
        tx_ids=tx_ids, tx_feeder=tx_feeder, tx_branch=tx_branch, tx_kva=kva, tx_p0_kw=p0,
        tx_k=k, feeder_ids=feeder_ids, branch_ids=branch_ids, commune=commune,
    )
    _inject(province, spec, rng)
    return province


def _inject(p: Province, spec: ProvinceSpec, rng: np.random.Generator) -> None:
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
            "onset": _iso(_utc(start + timedelta(days=int(f["onset"])), tz=tz)),
            "end": _iso(_utc(start + timedelta(days=int(f["end"]) + 1), tz=tz)),
            "params": json.dumps({"seed": f["seed"]})})
    return rows


def _record_injections(p: Province, spec: ProvinceSpec) -> None:
    """One truth row per injection with its period and parameters."""
    step = spec.interval_minutes
    end_all = _iso(_utc(spec.start + timedelta(days=spec.days)))
    for i, t in sorted(p.theft.items()):
        params = {k: v for k, v in t.items() if k not in ("kind", "onset")}
        p.injections.append({"meter_id": p.meter_id[i], "category": "theft", "kind": t["kind"],
                             "onset": _iso(_utc(spec.start + timedelta(days=int(t["onset"])))),
                             "end": end_all, "params": json.dumps(params, sort_keys=True)})
    p.injections += fault_injections(p.meter_id, p.fault, spec.start)
    for i, (day, first, last) in sorted(p.outage.items()):
        d = spec.start + timedelta(days=day)
        p.injections.append({"meter_id": p.meter_id[i], "category": "outage", "kind": "outage",
                             "onset": _iso(_utc(d, first * step)),
                             "end": _iso(_utc(d, last * step)), "params": "{}"})
    for i in map(int, np.flatnonzero((p.group == 4) & ~p.lit_compliant)):
        p.injections.append({"meter_id": p.meter_id[i], "category": "lighting_not_dimmed",
                             "kind": "not_dimmed", "onset": _iso(_utc(spec.start)),
                             "end": end_all, "params": "{}"})
    for i, (new, day, k) in sorted(p.move.items()):
        moment = _iso(_utc(spec.start + timedelta(days=day), k * step))
        p.injections.append({"meter_id": p.meter_id[i], "category": "move", "kind": "move",
                             "onset": moment, "end": end_all,
                             "params": json.dumps({"from": str(p.tx_ids[p.tx[i]]),
                                                   "to": str(p.tx_ids[new])})})


def _shapes(day: date, per_day: int) -> np.ndarray:
    """Daily shape per group (groups × intervals): mean 1, except lighting (1 = on)."""
    h = (np.arange(per_day) + 0.5) * 24 / per_day
    kind = day_type(day)
    off = kind in ("sunday", "holiday")

    def bump(center: float, width: float) -> np.ndarray:
        return np.exp(-(((h - center) / width) ** 2))

    def box(a: float, b: float) -> np.ndarray:
        return ((h >= a) & (h < b)).astype(float)

    res = 0.35 + 0.45 * bump(6.5, 1.2) + 0.25 * bump(12, 1.5) + 1.3 * bump(19.8, 1.8)
    com = 0.25 + 0.9 * box(8, 22) + 0.4 * bump(19.5, 1.5)
    prod = 0.15 + box(7, 17) * (0.2 if off else 0.6 if kind == "saturday" else 1.0)
    admin = 0.1 + box(7.5, 17) * (1 - 0.4 * box(11.5, 13.5)) * (kind == "workday")
    dusk, dawn = dusk_dawn(day)
    light = ((h > dusk) | (h < dawn)).astype(float)
    shapes = np.vstack([res, com, prod, admin])
    # Lights are on or off: their level is the power when on, not a daily mean.
    return np.vstack([shapes / shapes.mean(axis=1, keepdims=True), light])


def _day_factor(day: date, temp_c: float) -> np.ndarray:
    """Level multiplier per group for the day: day type and cooling load [-]."""
    kind = day_type(day)
    factor = np.ones(len(GROUPS))
    cooling = max(temp_c - 24.0, 0.0) * np.array(COOLING)
    heating = max(15.0 - temp_c, 0.0) * np.array([0.015, 0.01, 0.0, 0.01, 0.0])
    factor += cooling + heating
    if kind == "holiday":
        factor *= np.array([1.15, 0.8, 0.3, 0.15, 1.0])
    elif kind == "sunday":
        factor *= np.array([1.08, 0.9, 0.4, 0.2, 1.0])
    elif kind == "saturday":
        factor *= np.array([1.04, 1.0, 0.7, 0.3, 1.0])
    return factor


def _solar_kw_per_kwp(day: date, per_day: int, rng: np.random.Generator) -> np.ndarray:
    """PV output per kWp over the day [kW/kWp], with the day's cloudiness."""
    h = (np.arange(per_day) + 0.5) * 24 / per_day
    clear = np.clip(np.sin(np.pi * (h - 6.0) / 12.0), 0, None) ** 1.2
    return clear * 0.8 * float(rng.uniform(0.25, 1.0))


@dataclass
class DayResult:
    """Arrays of one day for every customer (n × intervals) and transformer."""

    true_import: np.ndarray
    true_export: np.ndarray
    registered: np.ndarray
    tx_of: np.ndarray  # transformer index per customer and interval


def _registered(theft: dict[str, float | str | int], x: np.ndarray, h: np.ndarray
                ) -> np.ndarray:
    """What a tampered meter registers of the true import ``x`` over one day [kWh]."""
    per_day = len(x)
    kind = theft["kind"]
    if kind == "under_registration":
        return np.round(x * float(theft["alpha"]), 3)
    if kind == "partial_bypass":
        start, length = int(theft["start_h"]), int(theft["hours"])
        return np.where(((h - start) % 24) < length, 0.0, x)
    if kind == "full_bypass":
        return np.zeros(per_day)
    if kind == "flattened":
        return np.round(np.full(per_day, x.mean() * float(theft["beta"])), 3)
    return np.roll(x, int(theft["shift_h"]) * per_day // 24)  # time_shifted


def simulate_day(p: Province, spec: ProvinceSpec, d: int, dr_windows: dict[int, tuple[int, int]]
                 ) -> DayResult:
    """True load, solar, outages and theft of day ``d`` for every customer."""
    day = spec.start + timedelta(days=d)
    per_day = 1440 // spec.interval_minutes
    hours = spec.interval_minutes / 60
    rng = np.random.default_rng([spec.seed, 1, d])
    temp = mean_temperature(day, spec.seed)
    shapes = _shapes(day, per_day)[p.group]
    shift = p.jitter * max(1, per_day // 48)
    cols = (np.arange(per_day)[None, :] - shift[:, None]) % per_day
    shapes = np.take_along_axis(shapes, cols, axis=1)
    lighting = p.group == 4
    h = (np.arange(per_day) + 0.5) * 24 / per_day
    dim = ((h >= 23) | (h < 4))[None, :] & (lighting & p.lit_compliant)[:, None]
    shapes = np.where(dim, shapes * 0.5, shapes)
    factor = _day_factor(day, temp)[p.group]
    noise = rng.lognormal(0.0, np.array(NOISE)[p.group][:, None], (len(p.group), per_day))
    kw = p.level_kw[:, None] * factor[:, None] * shapes * noise
    kw = np.minimum(kw, p.contracted_kw[:, None] * 0.95)
    if d in dr_windows:
        first, last = dr_windows[d]
        kw[p.dr, first:last] *= 0.75
    for i, (oday, first, last) in p.outage.items():
        if oday == d:
            kw[i, first:last] = 0.0
    load = kw * hours
    gen = p.solar_kwp[:, None] * _solar_kw_per_kwp(day, per_day, rng)[None, :] * hours
    true_import = np.round(np.maximum(load - gen, 0.0), 3)
    true_export = np.round(np.maximum(gen - load, 0.0), 3)
    registered = true_import.copy()
    for i, t in p.theft.items():
        if d >= int(t["onset"]):
            registered[i] = _registered(t, true_import[i], h)
    tx_of = np.repeat(p.tx[:, None], per_day, axis=1)
    for i, (new, mday, k) in p.move.items():
        if d > mday:
            tx_of[i, :] = new
        elif d == mday:
            tx_of[i, k:] = new  # intervals ending after the move instant
    return DayResult(true_import, true_export, registered, tx_of)


def transformer_intervals(p: Province, res: DayResult) -> dict[str, np.ndarray]:
    """Per transformer and interval: flows, technical loss and the total meter's reading."""
    n_tx, per_day = len(p.tx_ids), res.true_import.shape[1]
    hours = 24 / per_day
    idx = (res.tx_of * per_day + np.arange(per_day)[None, :]).ravel()

    def per_tx(values: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=values.ravel(), minlength=n_tx * per_day).reshape(
            n_tx, per_day)

    imp, exp, reg = per_tx(res.true_import), per_tx(res.true_export), per_tx(res.registered)
    net = imp - exp
    power = net / hours
    tech_model = (p.tx_p0_kw[:, None] + p.tx_k[:, None] * power**2) * hours
    total_import = np.round(np.maximum(net + tech_model, 0.0), 3)
    total_export = np.round(np.maximum(-(net + tech_model), 0.0), 3)
    technical = total_import - total_export - net
    return {"true_customer_import_kwh": imp, "customer_export_kwh": exp,
            "registered_import_kwh": reg, "total_import_kwh": total_import,
            "total_export_kwh": total_export, "technical_kwh": technical,
            "nontechnical_kwh": imp - reg}


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
    at = _utc(day, 23.9 * 60, tz)
    return [(meter_ids[i], at, "clock_adjusted") for i, f in plan.items()
            if f["kind"] == "clock_offset" and int(f["end"]) == d]


def events_frame(rows: list[tuple[str, datetime, str]]) -> pl.DataFrame:
    """Meter events in the canonical columns, sorted."""
    return pl.DataFrame(sorted(rows), schema={"meter_id": pl.String,
                                              "event_at": pl.Datetime("us", "UTC"),
                                              "event_code": pl.String}, orient="row")


def _customer_rows(meter_ids: np.ndarray, faults: DayFaults, *, ends: list[datetime],
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
        "interval_end": np.tile(_naive(ends), n),
        "kwh_import": reported.ravel(),
        "kwh_export": export.ravel(),
        "_present": present.ravel(),
        "_offset": np.repeat([offsets.get(i, 0) for i in range(n)], per_day),
    }).filter(pl.col("_present"))
    if extras:
        extra = pl.DataFrame({
            "meter_id": [meter_ids[i] for i, _, _, _ in extras],
            "interval_end": _naive([ends[k] for _, k, _, _ in extras]),
            "kwh_import": [v for _, _, v, _ in extras],
            "kwh_export": [float(export[i, k]) for i, k, _, _ in extras],
            "_present": [True] * len(extras), "_offset": [m for _, _, _, m in extras]})
        customer = pl.concat([customer, extra])
    return customer


def _as_delivered(frame: pl.DataFrame, per_day: int) -> pl.DataFrame:
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
    return _as_delivered(_customer_rows(meter_ids, faults, ends=ends, export=export),
                         len(ends))


def registers_frame(meter_ids: np.ndarray, day: date, *, imports: np.ndarray,
                    exports: np.ndarray, silent: Sequence[str] = (),
                    tz: ZoneInfo = TZ) -> pl.DataFrame:
    """Daily register reads [kWh] at the local midnight that ends ``day``.

    A NaN export means the meter has no export register; ``silent`` meters send none.
    """
    return pl.DataFrame({
        "meter_id": meter_ids, "read_at": [_utc(day + timedelta(days=1), tz=tz)] * len(meter_ids),
        "register_kwh_import": imports, "register_kwh_export": exports,
    }).with_columns(
        pl.col("register_kwh_export").fill_nan(None), pl.col("read_at").dt.replace_time_zone("UTC")
    ).filter(~pl.col("meter_id").is_in(list(silent)))


def write_frame(frame: pl.DataFrame, target: Path, file_format: str) -> None:
    """Write a landing or truth file atomically and deterministically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        if file_format == "parquet":
            frame.write_parquet(tmp, compression="zstd", statistics=True)
        else:
            buffer = io.BytesIO()
            frame.write_csv(buffer, float_precision=3, datetime_format="%Y-%m-%dT%H:%M:%SZ")
            if file_format == "csv.gz":
                with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                           filename="") as gz:
                    gz.write(buffer.getvalue())
            else:
                tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def meters_table(p: Province, spec: ProvinceSpec) -> pl.DataFrame:
    """The customer-system export: customer and total meters, moves as two periods."""
    since = _iso(datetime(2020, 1, 1, tzinfo=UTC))
    rows = []
    for i in range(len(p.meter_id)):
        base = {
            "meter_id": p.meter_id[i], "customer_id": p.customer_id[i],
            "meter_role": MeterRole.CUSTOMER.value,
            "customer_group": GROUPS[p.group[i]], "commune": p.commune[i],
            "contracted_kw": float(p.contracted_kw[i]),
            "solar_kwp": float(p.solar_kwp[i]) if p.solar_kwp[i] > 0 else None,
            "dr_participant": bool(p.dr[i]), "network_node": None,
        }
        periods: list[tuple[int, str, str | None]] = [(int(p.tx[i]), since, None)]
        if i in p.move:
            new, day, k = p.move[i]
            moment = _iso(_utc(spec.start + timedelta(days=day), k * spec.interval_minutes))
            periods = [(int(p.tx[i]), since, moment), (new, moment, None)]
        for t, valid_from, valid_to in periods:
            rows.append({**base, "transformer_id": p.tx_ids[t],
                         "feeder_id": p.feeder_ids[p.tx_feeder[t]],
                         "branch_id": p.branch_ids[p.tx_branch[t]],
                         "valid_from": valid_from, "valid_to": valid_to})
    for t, tx_id in enumerate(p.tx_ids):
        rows.append({"meter_id": f"TT-{tx_id}", "customer_id": None,
                     "meter_role": MeterRole.TRANSFORMER_TOTAL.value, "customer_group": None,
                     "commune": None, "contracted_kw": None, "solar_kwp": None,
                     "dr_participant": False, "network_node": None, "transformer_id": tx_id,
                     "feeder_id": p.feeder_ids[p.tx_feeder[t]],
                     "branch_id": p.branch_ids[p.tx_branch[t]], "valid_from": since,
                     "valid_to": None})
    columns = ["meter_id", "customer_id", "meter_role", "customer_group", "transformer_id",
               "feeder_id", "branch_id", "commune", "contracted_kw", "solar_kwp",
               "dr_participant", "valid_from", "valid_to", "network_node"]
    schema = dict.fromkeys(columns, pl.String) | {"contracted_kw": pl.Float64,
                                                "solar_kwp": pl.Float64,
                                                "dr_participant": pl.Boolean}
    return pl.DataFrame(rows, schema=schema).select(columns)


def _write_reference_files(p: Province, spec: ProvinceSpec, landing: Path
                           ) -> dict[int, tuple[int, int]]:
    """Write meters, temperature and DR events; return the DR windows per day index."""
    per_day = 1440 // spec.interval_minutes
    write_frame(meters_table(p, spec), landing / "meters.csv", "csv")
    # What the utility knows of each TBA: its rating and the technical loss of its LV
    # network at no load and at rated load (the generator's own loss model).
    write_frame(pl.DataFrame({
        "transformer_id": p.tx_ids, "rated_kva": p.tx_kva.astype(float),
        "fixed_loss_kw": p.tx_p0_kw, "load_loss_kw": np.round(p.tx_k * p.tx_kva**2, 4),
    }), landing / "transformers.csv", "csv")
    days = [spec.start + timedelta(days=d) for d in range(spec.days)]
    temps = [mean_temperature(day, spec.seed) for day in days]
    write_frame(pl.DataFrame({"date": [d.isoformat() for d in days], "temp_c_mean": temps}),
                 landing / "temperature.csv", "csv")
    # Demand response on the hottest working days, 17:30–20:30 local.
    hot = sorted((t, d) for d, t in enumerate(temps) if day_type(days[d]) == "workday")[-3:]
    dr_windows = {d: (35 * per_day // 48, 41 * per_day // 48) for _, d in hot}
    write_frame(pl.DataFrame({
        "event_id": [f"DR-{days[d]:%Y%m%d}" for d in sorted(dr_windows)],
        "start_at": [_iso(_utc(days[d], 17.5 * 60)) for d in sorted(dr_windows)],
        "end_at": [_iso(_utc(days[d], 20.5 * 60)) for d in sorted(dr_windows)],
        "target_kw": [round(float(p.level_kw[p.dr].sum() * 0.25), 1)] * len(dr_windows),
    }, schema={"event_id": pl.String, "start_at": pl.String, "end_at": pl.String,
               "target_kw": pl.Float64}), landing / "dr_events.csv", "csv")
    return dr_windows


def generate_province(spec: ProvinceSpec, landing: Path, truth: Path,
                      progress: Callable[[int, int], None] | None = None) -> GenerationSummary:
    """Write the landing zone and the ground truth of a synthetic province."""
    spec.check()
    landing, truth = Path(landing), Path(truth)
    p = build_province(spec)
    ext = spec.file_format
    step = spec.interval_minutes
    files = 0
    dr_windows = _write_reference_files(p, spec, landing)
    files += 3
    days = [spec.start + timedelta(days=d) for d in range(spec.days)]
    rng0 = np.random.default_rng([spec.seed, 2])
    n = len(p.meter_id)
    n_tx = len(p.tx_ids)
    register_import = np.round(rng0.uniform(1000, 50000, n), 3)
    register_export = np.round(rng0.uniform(100, 5000, n), 3)
    total_reg_import = np.round(rng0.uniform(1e5, 1e6, n_tx), 3)
    total_reg_export = np.zeros(n_tx)
    total_ids = np.array([f"TT-{t}" for t in p.tx_ids])
    tx_days, rows_written = [], 0
    fault_cells: list[tuple[str, datetime, str]] = []
    fault_days: list[tuple[str, date, str]] = []
    silent = never_reporting(p.meter_id, p.fault)
    for d, day in enumerate(days):
        res = simulate_day(p, spec, d, dr_windows)
        flows = transformer_intervals(p, res)
        faults = apply_faults(p.fault, d, res.registered.copy())
        ends = day_ends(day, step)
        readings = _readings_frame(p, res, faults, ends=ends, flows=flows, total_ids=total_ids)
        cells, meter_days = fault_truth(p.meter_id, faults, day, ends)
        fault_cells += cells
        fault_days += meter_days
        rows_written += readings.height
        name = f"{day.isoformat()}.{ext}"
        write_frame(readings, landing / f"readings_{name}", ext)
        register_import = advance_registers(register_import, faults)
        register_export = np.round(register_export + res.true_export.sum(axis=1), 3)
        total_reg_import = np.round(total_reg_import + flows["total_import_kwh"].sum(axis=1), 3)
        total_reg_export = np.round(total_reg_export + flows["total_export_kwh"].sum(axis=1), 3)
        registers = registers_frame(
            np.concatenate([p.meter_id, total_ids]), day,
            imports=np.concatenate([register_import, total_reg_import]),
            exports=np.concatenate([np.where(p.solar_kwp > 0, register_export, np.nan),
                                    total_reg_export]), silent=silent)
        write_frame(registers, landing / f"registers_{name}", ext)
        write_frame(_events_frame(p, spec, d, day), landing / f"events_{name}", ext)
        files += 3
        tx_days.append(_truth_day(p, flows, day, ends=ends,
                                  unclean_tx=_unclean_transformers(p, res, d), truth=truth))
        if spec.write_true_readings:
            write_true_readings(p.meter_id, ends, true_import=res.true_import,
                                true_export=res.true_export, registered=res.registered,
                                target=truth / f"true_readings_{day.isoformat()}.parquet")
        if progress:
            progress(d + 1, spec.days)
    write_frame(pl.concat(tx_days), truth / "transformer_days.parquet", "parquet")
    write_injections(truth, p.injections)
    write_frame(meter_labels(p), truth / "meters.parquet", "parquet")
    write_fault_truth(truth, fault_cells, fault_days)
    return GenerationSummary(
        customers=n, transformers=n_tx, feeders=len(p.feeder_ids), branches=len(p.branch_ids),
        reading_rows=rows_written, thefts=len(p.theft), faults=len(p.fault), files=files,
        landing=landing, truth=truth)


def _unclean_transformers(p: Province, res: DayResult, d: int) -> np.ndarray:
    """Transformers whose day a meter fault touches (or the day after, clock spill)."""
    unclean = np.zeros(len(p.tx_ids), dtype=bool)
    for i, f in p.fault.items():
        if f["kind"] == "never_reporting" or int(f["onset"]) <= d <= int(f["end"]) + 1:
            unclean[np.unique(res.tx_of[i])] = True
    return unclean


def write_true_readings(meter_ids: np.ndarray, ends: list[datetime], *,
                        true_import: np.ndarray, true_export: np.ndarray,
                        registered: np.ndarray, target: Path,
                        keep: np.ndarray | None = None) -> None:
    """What every customer meter truly used and what it registered, per interval [kWh].

    ``keep`` (meters × intervals) leaves out intervals whose truth is unknown.
    """
    per_day = len(ends)
    frame = pl.DataFrame({
        "meter_id": np.repeat(meter_ids, per_day),
        "interval_end": ends * len(meter_ids),
        "true_kwh_import": true_import.ravel(),
        "true_kwh_export": true_export.ravel(),
        "registered_kwh_import": registered.ravel(),
    })
    write_frame(frame if keep is None else frame.filter(pl.Series(keep.ravel())), target,
                "parquet")


def write_fault_truth(truth: Path, cells: list[tuple[str, datetime, str]],
                      days: list[tuple[str, date, str]]) -> None:
    """Which intervals and meter-days the meter faults touched (for the VEE evaluation)."""
    write_frame(pl.DataFrame(cells, schema={
        "meter_id": pl.String, "interval_end": pl.Datetime("us", "UTC"), "kind": pl.String},
        orient="row"), truth / "fault_cells.parquet", "parquet")
    write_frame(pl.DataFrame(days, schema={
        "meter_id": pl.String, "date": pl.Date, "kind": pl.String}, orient="row"),
        truth / "fault_days.parquet", "parquet")


def write_injections(truth: Path, rows: list[dict[str, object]]) -> None:
    """The truth list of injections: meter, category, kind, period (UTC), parameters."""
    write_frame(pl.DataFrame(rows, schema={
        "meter_id": pl.String, "category": pl.String, "kind": pl.String, "onset": pl.String,
        "end": pl.String, "params": pl.String}), truth / "injections.csv", "csv")


def labels_frame(meter_ids: np.ndarray, *, customer_group: Sequence[str] | np.ndarray,
                 transformer_id: np.ndarray, solar: np.ndarray,
                 marks: Mapping[int, tuple[str, str]]) -> pl.DataFrame:
    """Truth label per customer meter: ``clean`` or its (category, kind) from ``marks``."""
    n = len(meter_ids)
    labels = np.array(["clean"] * n, dtype=object)
    category = np.array(["clean"] * n, dtype=object)
    for i, (what, kind) in marks.items():
        labels[i], category[i] = kind, what
    return pl.DataFrame({
        "meter_id": meter_ids, "customer_group": customer_group,
        "transformer_id": transformer_id, "solar": solar,
        "category": category.astype(str), "label": labels.astype(str),
    })


def fault_marks(plan: Mapping[int, Mapping[str, float | str | int]]
                ) -> dict[int, tuple[str, str]]:
    """Truth labels of faulty meters for :func:`labels_frame`."""
    return {i: ("fault", str(f["kind"])) for i, f in plan.items()}


def meter_labels(p: Province) -> pl.DataFrame:
    """Truth label per customer meter: ``clean`` or the theft / fault kind."""
    marks = {i: ("theft", str(t["kind"])) for i, t in p.theft.items()} | fault_marks(p.fault)
    return labels_frame(p.meter_id, customer_group=[GROUPS[g] for g in p.group],
                        transformer_id=p.tx_ids[p.tx], solar=p.solar_kwp > 0, marks=marks)


def _readings_frame(p: Province, res: DayResult, faults: DayFaults, *, ends: list[datetime],
                    flows: dict[str, np.ndarray], total_ids: np.ndarray) -> pl.DataFrame:
    """Interval rows of one day as delivered: customers (after faults) and total meters."""
    per_day = len(ends)
    export = np.where((p.solar_kwp > 0)[:, None], res.true_export, np.nan)
    customer = _customer_rows(p.meter_id, faults, ends=ends, export=export)
    totals = pl.DataFrame({
        "meter_id": np.repeat(total_ids, per_day),
        "interval_end": np.tile(_naive(ends), len(total_ids)),
        "kwh_import": flows["total_import_kwh"].ravel(),
        "kwh_export": flows["total_export_kwh"].ravel(),
        "_present": True, "_offset": 0,
    })
    return _as_delivered(
        pl.concat([customer, totals.with_columns(pl.col("_offset").cast(pl.Int64))]), per_day)


def _events_frame(p: Province, spec: ProvinceSpec, d: int, day: date) -> pl.DataFrame:
    """Meter events of one day: tamper at theft onset, outages, clock adjustments."""
    rows: list[tuple[str, datetime, str]] = []
    step = spec.interval_minutes
    for i, t in p.theft.items():
        if int(t["onset"]) == d and t.get("tamper_event"):
            code = "cover_open" if t["kind"] == "partial_bypass" else "magnetic_tamper"
            rows.append((p.meter_id[i], _utc(day, 10 * 60), code))
    for i, (oday, first, last) in p.outage.items():
        if oday == d:
            rows.append((p.meter_id[i], _utc(day, first * step), "power_off"))
            rows.append((p.meter_id[i], _utc(day, last * step), "power_on"))
    rows += fault_events(p.meter_id, p.fault, d, day)
    return events_frame(rows)


def _truth_day(p: Province, flows: dict[str, np.ndarray], day: date, *, ends: list[datetime],
               unclean_tx: np.ndarray, truth: Path) -> pl.DataFrame:
    """Write the interval truth of a day; return its transformer-day rows."""
    n_tx, per_day = flows["technical_kwh"].shape
    interval = pl.DataFrame({
        "transformer_id": np.repeat(p.tx_ids, per_day),
        "interval_end": np.tile(_naive(ends), n_tx),
        **{k: v.ravel() for k, v in flows.items()},
    }).with_columns(pl.col("interval_end").dt.replace_time_zone("UTC"))
    write_frame(interval, truth / f"transformer_intervals_{day.isoformat()}.parquet",
                 "parquet")
    sums = {k: v.sum(axis=1) for k, v in flows.items()}
    measured_loss = (sums["total_import_kwh"] - sums["total_export_kwh"]
                     + sums["customer_export_kwh"] - sums["registered_import_kwh"])
    return pl.DataFrame({
        "transformer_id": p.tx_ids, "date": [day] * n_tx,
        **{k: v for k, v in sums.items() if k != "registered_import_kwh"},
        "measured_loss_kwh": measured_loss, "clean": ~unclean_tx,
    })
