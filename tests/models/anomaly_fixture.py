"""A small synthetic province for the anomaly tests: known thefts, faults and look-alikes.

Forty customer meters on four transformers, 60 days of 30-minute readings with daily,
weekly and seasonal shape and noise. Each meter has a ``kind``: a theft pattern injected
from an onset date (under-registration, partial-day bypass, full bypass, flattened or
time-shifted profile), a data fault (stuck register, gaps, spikes, duplicated rows, clock
offset, VEE-estimated intervals), or a legitimate look-alike (new and old rooftop solar,
public lighting with and without night dimming). A supply outage hits every meter of one
transformer, and commercial customers close for a three-day holiday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAYS = 60
SLOTS = 48
START_LOCAL = datetime(2026, 3, 1, tzinfo=TZ)
ONSET_DAY = DAYS - 12
EARLY_ONSET_DAY = DAYS - 25
AS_OF = (START_LOCAL + timedelta(days=DAYS)).astimezone(UTC)

THEFT_KINDS = ("under", "under_early", "partial", "bypass", "flat", "shift")
# Thefts that lose energy (a time shift only moves it) and so show in daily totals.
ENERGY_THEFT_KINDS = ("under", "under_early", "partial", "bypass", "flat")
FAULT_KINDS = ("stuck", "gaps", "spikes", "dup", "clock", "estimated")
LOOKALIKE_KINDS = ("solar_new", "solar_old", "lighting", "lighting_dim")

# (kind, customer group) per meter; the rest are clean meters.
LAYOUT: list[tuple[str, str]] = [
    ("under", "residential"),
    ("under_early", "commercial"),
    ("partial", "residential"),
    ("bypass", "residential"),
    ("flat", "residential"),
    ("shift", "residential"),
    ("stuck", "residential"),
    ("gaps", "residential"),
    ("spikes", "commercial"),
    ("dup", "residential"),
    ("clock", "residential"),
    ("estimated", "residential"),
    ("solar_new", "residential"),
    ("solar_old", "residential"),
    ("lighting", "public_lighting"),
    ("lighting_dim", "public_lighting"),
    *[("clean", "residential")] * 16,
    *[("clean", "commercial")] * 4,
    *[("clean", "production")] * 2,
    *[("clean", "public_admin")] * 2,
]
DAILY_KWH = {"residential": 6.0, "commercial": 25.0, "production": 120.0, "public_admin": 30.0}


class Province(NamedTuple):
    """Readings (with transformer totals), meters, meter kinds and the truth."""

    readings: pl.DataFrame
    meters: pl.DataFrame
    kinds: dict[str, str]
    unbilled_kwh_day: dict[str, float]  # true unregistered energy, recent 14 days [kWh/d]


def _shape(group: str, hour: np.ndarray) -> np.ndarray:
    """Relative intraday shape of a customer group (mid-slot local hour)."""
    if group == "residential":
        return (
            0.15
            + 0.35 * np.exp(-(((hour - 7.0) / 1.2) ** 2))
            + 0.9 * np.exp(-(((hour - 20.0) / 1.8) ** 2))
            + 0.2 * ((hour > 9) & (hour < 17))
        )
    if group == "public_lighting":
        return ((hour >= 18) | (hour < 6)).astype(float)
    if group == "public_admin":
        return 0.1 + 1.0 * ((hour >= 7.5) & (hour < 17))
    if group == "production":
        return 0.3 + 0.7 * ((hour >= 6) & (hour < 22))
    return 0.1 + 1.0 * ((hour >= 8) & (hour < 21))


def _true_load(rng: np.random.Generator, group: str, weekday: np.ndarray) -> np.ndarray:
    """Consumption [kWh per slot] of one customer, days x slots."""
    hour = (np.arange(SLOTS) + 0.5) / 2.0
    if group == "public_lighting":
        daily, day_sigma, slot_sigma = 14.0, 0.02, 0.02
    else:
        daily = rng.lognormal(np.log(DAILY_KWH[group]), 0.4 if group == "residential" else 0.3)
        day_sigma, slot_sigma = 0.12, 0.25 if group == "residential" else 0.1
    shape = _shape(group, hour)
    weekly = np.where(weekday >= 5, 1.1 if group == "residential" else 0.6, 1.0)
    if group == "public_admin":
        weekly = np.where(weekday >= 5, 0.15, 1.0)
    trend = 1.0 + 0.15 * np.arange(DAYS) / DAYS  # warming season
    day = weekly * trend * rng.lognormal(0.0, day_sigma, DAYS)
    load = daily * day[:, None] * (shape / shape.sum())[None, :]
    load = load * rng.lognormal(0.0, slot_sigma, (DAYS, SLOTS))
    if group == "commercial":
        load[50:53] *= 0.3  # three-day public holiday
    return load


def _shifted(load: np.ndarray, slots: int, from_day: int) -> np.ndarray:
    """The series moved ``slots`` later from ``from_day`` on."""
    series = load.reshape(-1).copy()
    cut = from_day * SLOTS
    series[cut:] = np.roll(load.reshape(-1), slots)[cut:]
    return series.reshape(DAYS, SLOTS)


def _register(
    rng: np.random.Generator, kind: str, load: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the meter registers: import, export and quality per slot."""
    kwh = load.copy()
    export = np.zeros_like(kwh)
    quality = np.full(kwh.shape, "measured", dtype=object)
    hour = (np.arange(SLOTS) + 0.5) / 2.0
    if kind == "under":
        kwh[ONSET_DAY:] *= 0.5
    elif kind == "under_early":
        kwh[EARLY_ONSET_DAY:] *= 0.65
    elif kind == "partial":
        kwh[ONSET_DAY:, 34:46] = 0.0  # 17:00-23:00 every day
    elif kind == "bypass":
        kwh[ONSET_DAY:] *= 0.01
    elif kind == "flat":
        kwh[ONSET_DAY:] = kwh[ONSET_DAY:].mean(axis=1, keepdims=True) * 0.6
    elif kind == "shift":
        kwh = _shifted(load, 12, ONSET_DAY)  # 6 h later
    elif kind == "stuck":
        kwh[50:54] = kwh[50, 0]
    elif kind == "clock":
        kwh = _shifted(load, 2, 50)  # clock 1 h off
    elif kind == "spikes":
        kwh[[52, 55, 57], [10, 30, 5]] *= 40
    elif kind == "estimated":
        quality[50:][rng.random((DAYS - 50, SLOTS)) < 0.25] = "estimated"
    elif kind == "lighting_dim":
        kwh[ONSET_DAY:, 46:] *= 0.5  # 23:00-24:00 at half power
        kwh[ONSET_DAY:, :8] *= 0.5  # 00:00-04:00
    elif kind in ("solar_new", "solar_old"):
        kwp = 4.0 if kind == "solar_new" else 3.0
        bell = np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None)
        generation = kwp * 0.8 * 0.5 * bell[None, :] * rng.uniform(0.3, 1.0, DAYS)[:, None]
        generation[: 51 if kind == "solar_new" else 0] = 0.0
        kwh, export = np.clip(load - generation, 0.0, None), np.clip(generation - load, 0.0, None)
    return kwh, export, quality


def _frame(
    meter_id: str,
    ends: np.ndarray,
    kwh: np.ndarray,
    export: np.ndarray | None,
    quality: np.ndarray | str,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": meter_id,
            "interval_end": ends,
            "interval_minutes": np.full(DAYS * SLOTS, 30, dtype=np.int32),
            "kwh_import": kwh.reshape(-1),
            "kwh_export": None if export is None else export.reshape(-1),
            "quality": quality if isinstance(quality, str) else quality.reshape(-1).tolist(),
        },
        schema_overrides={"kwh_export": pl.Float64, "interval_minutes": pl.Int32},
    )


def _corrupt(
    rng: np.random.Generator, kind: str, frame: pl.DataFrame, ends: np.ndarray
) -> pl.DataFrame:
    """Row-level faults: gaps (rows lost, some values null) and duplicated rows."""
    if kind == "gaps":
        keep = np.ones(DAYS * SLOTS, dtype=bool)
        recent = np.arange(50 * SLOTS, DAYS * SLOTS)
        keep[rng.choice(recent, size=len(recent) * 3 // 10, replace=False)] = False
        keep[30 * SLOTS : 31 * SLOTS] = False
        nulled = pl.when(pl.int_range(pl.len()) % 97 == 0).then(None)
        return (
            frame.filter(pl.Series(keep))
            .with_columns(kwh_import=nulled.otherwise(pl.col("kwh_import")))
            .with_columns(
                quality=pl.when(pl.col("kwh_import").is_null())
                .then(pl.lit("missing"))
                .otherwise("quality")
            )
        )
    if kind == "dup":
        return pl.concat([frame, frame.filter(pl.col("interval_end") >= ends[50 * SLOTS])])
    return frame


def build_province(seed: int = 7) -> Province:
    """The synthetic province; the same seed gives the same data."""
    rng = np.random.default_rng(seed)
    weekday = np.array([(START_LOCAL + timedelta(days=d)).weekday() for d in range(DAYS)])
    ends = np.array(
        [
            (START_LOCAL + timedelta(days=d, minutes=30 * (s + 1)))
            .astimezone(UTC)
            .replace(tzinfo=None)
            for d in range(DAYS)
            for s in range(SLOTS)
        ],
        dtype="datetime64[us]",
    )
    frames: list[pl.DataFrame] = []
    rows: list[dict[str, object]] = []
    kinds: dict[str, str] = {}
    unbilled: dict[str, float] = {}
    loads: dict[str, np.ndarray] = {}
    for i, (kind, group) in enumerate(LAYOUT):
        meter_id, transformer = f"M{i + 1:03d}", f"T{i % 4 + 1}"
        kinds[meter_id] = kind
        load = _true_load(rng, group, weekday)
        kwh, export, quality = _register(rng, kind, load)
        if transformer == "T2" and group != "public_lighting":
            load[[20, 55], 20:32] = kwh[[20, 55], 20:32] = export[[20, 55], 20:32] = 0.0  # outage
        loads[meter_id] = load
        unbilled[meter_id] = float((load[DAYS - 14 :] - kwh[DAYS - 14 :]).sum() / 14.0)
        frame = _frame(meter_id, ends, kwh, export if kind.startswith("solar") else None, quality)
        frames.append(_corrupt(rng, kind, frame, ends))
        rows.append(
            {
                "meter_id": meter_id,
                "customer_id": f"C{i + 1:03d}",
                "meter_role": "customer",
                "customer_group": group,
                "transformer_id": transformer,
                "contracted_kw": 5.0 if group == "residential" else 30.0,
                "solar_kwp": {"solar_new": 4.0, "solar_old": 3.0}.get(kind),
            }
        )
    # Transformer total meters see the true load of their customers plus losses.
    for t in range(1, 5):
        total = sum(loads[m] for j, m in enumerate(kinds) if j % 4 == t - 1) * 1.05
        frames.append(_frame(f"TT{t}", ends, total, None, "measured"))
        rows.append(
            {"meter_id": f"TT{t}", "meter_role": "transformer_total", "transformer_id": f"T{t}"}
        )
    readings = pl.concat(frames).with_columns(
        pl.col("interval_end").dt.replace_time_zone("UTC"),
        rule=pl.when(pl.col("quality") == "estimated").then(pl.lit("interpolation")),
    )
    meters = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        feeder_id=pl.lit("F1"),
        branch_id=pl.lit("B1"),
        commune=pl.lit("Xã Mẫu Sơn"),
        dr_participant=pl.lit(False),
        valid_from=pl.lit(datetime(2025, 1, 1, tzinfo=UTC)),
        valid_to=pl.lit(None, pl.Datetime("us", "UTC")),
    )
    return Province(readings, meters, kinds, unbilled)


def to_daily(readings: pl.DataFrame) -> pl.DataFrame:
    """Local-day totals, one reading per meter and day (interval_minutes 1440).

    A day with any interval missing has no daily value: missing stays missing.
    """
    start_local = (pl.col("interval_end") - pl.duration(minutes=30)).dt.convert_time_zone(
        "Asia/Ho_Chi_Minh"
    )
    complete = pl.col("kwh_import").count() == SLOTS
    return (
        readings.unique(subset=["meter_id", "interval_end"], keep="first", maintain_order=True)
        .with_columns(day=start_local.dt.date())
        .group_by("meter_id", "day")
        .agg(
            kwh_import=pl.when(complete).then(pl.col("kwh_import").sum()),
            kwh_export=pl.col("kwh_export").sum(),
        )
        .with_columns(
            interval_end=(pl.col("day").cast(pl.Datetime("us")) + pl.duration(days=1))
            .dt.replace_time_zone("Asia/Ho_Chi_Minh")
            .dt.convert_time_zone("UTC"),
            interval_minutes=pl.lit(1440, pl.Int32),
        )
        .drop("day")
        .sort("meter_id", "interval_end")
    )
