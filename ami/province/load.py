"""One day of the province: true load, solar, demand response, outages, theft, flows.

``simulate_day`` gives every customer's 30-minute (or other) true import and export and what
its meter registers (a thief's less), from a daily shape per group, the day type, the
temperature, noise and rooftop solar; ``transformer_intervals`` sums them per transformer
with an I²R-like technical loss into what its total meter reads. Every energy is rounded to
the meter resolution (0.001 kWh) before any sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ami.province.calendar import day_type, dusk_dawn, mean_temperature
from ami.province.grid import GROUPS, Province
from ami.province.spec import ProvinceSpec

#: Per-interval noise (lognormal sigma) per group [-].
NOISE = (0.30, 0.18, 0.10, 0.12, 0.02)
#: Extra load per °C above 24 °C (air conditioning) per group [share of base / °C].
COOLING = (0.06, 0.05, 0.01, 0.06, 0.0)


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


#: Local months of the plan's May–July rules (advertising cut, street lights dimmed all day).
PEAK_MONTHS = (5, 6, 7)
#: Evening peak window of the advertising cut: intervals starting in it [local minutes].
ADVERTISING_WINDOW = (17 * 60 + 30, 22 * 60 + 30)
#: Share of the load that compliant advertising customers keep in that window [-].
ADVERTISING_KEEP = 0.5
#: Share of the load that demand-response participants keep in an event window [-].
DR_KEEP = 0.75


@dataclass
class DayResult:
    """Arrays of one day for every customer (n × intervals) and transformer.

    ``load`` is the true consumption before solar netting [kWh] (after every saving and
    the demand-response cut); ``dr_reduction`` the energy per customer that the day's
    demand-response cut removed [kWh] (zero off an event day and for non-participants).
    """

    true_import: np.ndarray
    true_export: np.ndarray
    registered: np.ndarray
    tx_of: np.ndarray  # transformer index per customer and interval
    load: np.ndarray
    dr_reduction: np.ndarray


def dr_windows(spec: ProvinceSpec) -> dict[int, tuple[int, int]]:
    """Demand-response windows per day index: the 3 hottest working days, 17:30–20:30.

    (first, last) interval indices of the local day; ``generate_province`` writes them as
    ``dr_events_<first day>.csv`` and ``ami.province.daily`` simulates the same ones.
    """
    per_day = 1440 // spec.interval_minutes
    days = [spec.start + timedelta(days=d) for d in range(spec.days)]
    temps = [mean_temperature(day, spec.seed) for day in days]
    hot = sorted((t, d) for d, t in enumerate(temps) if day_type(days[d]) == "workday")[-3:]
    return {d: (35 * per_day // 48, 41 * per_day // 48) for _, d in hot}


def peak_month_rules_apply(spec: ProvinceSpec, day: date) -> bool:
    """Whether the plan's May–July rules hold on local ``day`` (from ``saving_from``).

    Compliant advertising lighting is then cut in the evening peak, and compliant street
    lights run at half power at every hour.
    """
    return day >= spec.saving_from and day.month in PEAK_MONTHS


def advertising_window(spec: ProvinceSpec) -> np.ndarray:
    """Intervals of a day whose start lies in the evening peak window 17:30–22:30 [bool]."""
    starts = np.arange(1440 // spec.interval_minutes) * spec.interval_minutes
    return (starts >= ADVERTISING_WINDOW[0]) & (starts < ADVERTISING_WINDOW[1])


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
    """True load, solar, outages, savings and theft of day ``d`` for every customer.

    The known savings (``ProvinceSpec``): from ``saving_from`` offices use
    ``office_saving_pct`` less; compliant advertising customers keep half their load in the
    evening peak of May–July; compliant street lights run at half power 23:00–04:00, and
    at every hour in May–July. They, demand response and outages scale the load after the
    contracted-capacity cap, so each is an exact share of the load without it.
    """
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
    ads = np.fromiter(p.advertising, dtype=int, count=len(p.advertising))
    if len(ads):
        # Outdoor advertising lights on a timer from dusk to 23:00: +1× the level.
        shapes[ads] += ((h > dusk_dawn(day)[0]) & (h < 23)).astype(float)[None, :]
    dimmed = ((h >= 0) if peak_month_rules_apply(spec, day) else (h >= 23) | (h < 4))
    dim = dimmed[None, :] & (lighting & p.lit_compliant)[:, None]
    shapes = np.where(dim, shapes * 0.5, shapes)
    factor = _day_factor(day, temp)[p.group]
    noise = rng.lognormal(0.0, np.array(NOISE)[p.group][:, None], (len(p.group), per_day))
    kw = p.level_kw[:, None] * factor[:, None] * shapes * noise
    kw = np.minimum(kw, p.contracted_kw[:, None] * 0.95)
    for i, (oday, first, last) in p.outage.items():
        if oday == d:
            kw[i, first:last] = 0.0
    if day >= spec.saving_from and spec.office_saving_pct > 0:
        kw[p.group == 3] *= 1 - spec.office_saving_pct / 100
    if len(ads) and peak_month_rules_apply(spec, day):
        compliant = np.array([i for i in ads if p.advertising[int(i)]], dtype=int)
        window = np.flatnonzero(advertising_window(spec))
        kw[np.ix_(compliant, window)] *= ADVERTISING_KEEP
    dr_reduction = np.zeros(len(p.group))
    if d in dr_windows:
        first, last = dr_windows[d]
        before = np.round(kw[p.dr, first:last] * hours, 3)
        kw[p.dr, first:last] *= DR_KEEP
        dr_reduction[p.dr] = np.round(
            (before - np.round(kw[p.dr, first:last] * hours, 3)).sum(axis=1), 3)
    load = kw * hours
    gen = p.solar_on(d)[:, None] * _solar_kw_per_kwp(day, per_day, rng)[None, :] * hours
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
    return DayResult(true_import, true_export, registered, tx_of, np.round(load, 3),
                     dr_reduction)


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
