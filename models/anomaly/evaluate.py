"""Evaluation of the theft scorer on the six attacks of Jokar et al. (2016) plus bypass.

A synthetic province's true load (``ami.province``) gets, for a seeded share of its
customers, one attack from an onset date to the end of the series:

- ``h1`` x·α, α ∈ [0.1, 0.8] drawn per day;
- ``h2`` zero over a random window of 4–16 h every day;
- ``h3`` x·γₜ, γₜ ∈ [0.1, 0.8] drawn per interval;
- ``h4`` mean(x)·γₜ (the day's mean), γₜ ∈ [0.1, 0.8] per interval;
- ``h5`` mean(x) flat over the day;
- ``h6`` the day reversed in time;
- ``bypass`` zero from the onset on.

Negatives include what fools simple detectors in real data: meter faults (stuck register,
lost intervals, clock offset, spikes, days without communication), households away for a
week or two (standby load only), legitimate lasting changes of level (a tenant leaves),
single-meter supply outages, and rooftop-solar customers. Every customer also has a
daily rhythm of its own (a wave of random phase and depth on its group's shape), appliance
bursts, interval noise and a persistent day-to-day factor, on top of the generator's
weather and day types, so no two households look alike.

Metrics (scikit-learn): ROC AUC, average precision and precision at k (k = number of
thieves), overall and per attack type (that type's thieves against all negatives), once
unsupervised and once with half of the meters' inspection outcomes given as labels, the
metrics then measured on the other half only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

from ami.province.generate import TZ, ProvinceSpec, build_province, simulate_day
from ami.settings import Settings
from models.anomaly.scorer import score_meters

ATTACKS = ("h1", "h2", "h3", "h4", "h5", "h6", "bypass")
FAULTS = ("stuck", "gaps", "clock_offset", "spikes", "no_communication")
LOOKALIKES = ("vacation", "level_change")


@dataclass(frozen=True)
class EvaluationSpec:
    """What to generate and score; the same spec always gives the same table."""

    meters: int = 1500
    days: int = 120
    seed: int = 7
    start: date = date(2026, 3, 1)
    interval_minutes: int = 30
    theft_share: float = 0.10
    fault_share: float = 0.05
    lookalike_share: float = 0.06
    label_share: float = 0.5
    #: Attacks start this many days before the end, drawn uniformly [d].
    onset_days: tuple[int, int] = (14, 30)
    with_topology: bool = False


@dataclass(frozen=True)
class Synthetic:
    """Readings as a meter would deliver them, the meters table and the truth per meter."""

    readings: pl.DataFrame
    meters: pl.DataFrame
    truth: pl.DataFrame  # meter_id, kind, category (attack | fault | lookalike | clean)


@dataclass(frozen=True)
class Evaluation:
    """Metric table (mode × attack) and the scored rows behind it."""

    metrics: pl.DataFrame
    scored: dict[str, pl.DataFrame]


def build_synthetic(spec: EvaluationSpec) -> Synthetic:
    """True load of a synthetic province with attacks, faults and look-alikes injected."""
    province_spec = ProvinceSpec(
        meters=spec.meters, start=spec.start, days=spec.days, seed=spec.seed,
        interval_minutes=spec.interval_minutes, theft_share=0.0, fault_share=0.0,
        move_share=0.0, write_true_readings=False,
    )
    p = build_province(province_spec)
    n, per_day = len(p.meter_id), 1440 // spec.interval_minutes
    rng = np.random.default_rng([spec.seed, 77])
    load = np.empty((n, spec.days, per_day))
    export = np.empty((n, spec.days, per_day))
    # No two households share a daily rhythm: each gets a shape of its own (a daily wave of
    # random phase and depth) on top of its group's, appliance bursts and extra noise.
    hour = (np.arange(per_day) + 0.5) * 24 / per_day
    phase, depth = rng.uniform(0.0, 24.0, n), rng.uniform(0.0, 0.8, n)
    own = 1.0 + depth[:, None] * np.sin(2 * np.pi * (hour[None, :] - phase[:, None]) / 24)
    own = np.where((p.group == 4)[:, None], 1.0, own)  # street lights follow the dusk
    for d in range(spec.days):
        res = simulate_day(p, province_spec, d, {})
        day_rng = np.random.default_rng([spec.seed, 78, d])
        bursts = 1.0 + (day_rng.random((n, per_day)) < 0.05) * day_rng.uniform(1, 6, (n, per_day))
        noise = day_rng.lognormal(0.0, 0.35, (n, per_day))
        human = np.where((p.group == 4)[:, None], 1.0, own * bursts * noise)
        load[:, d], export[:, d] = res.true_import * human, res.true_export
    # Households differ from day to day in ways of their own: a persistent AR(1) factor.
    factor = np.ones((n, spec.days))
    shock = rng.normal(0.0, 0.12, (n, spec.days))
    for d in range(1, spec.days):
        factor[:, d] = np.exp(0.7 * np.log(factor[:, d - 1]) + shock[:, d])
    load *= factor[:, :, None]

    kinds = np.full(n, "clean", dtype=object)
    order = rng.permutation(n)
    # Thieves among customers without solar and not public lighting (as in the field).
    pool = [i for i in order if p.solar_kwp[i] == 0 and p.group[i] != 4]
    n_theft = round(spec.theft_share * n)
    n_fault = round(spec.fault_share * n)
    n_look = round(spec.lookalike_share * n)
    chosen = pool[: n_theft + n_fault + n_look]
    for j, i in enumerate(chosen[:n_theft]):
        kinds[i] = ATTACKS[j % len(ATTACKS)]
    for j, i in enumerate(chosen[n_theft : n_theft + n_fault]):
        kinds[i] = FAULTS[j % len(FAULTS)]
    for j, i in enumerate(chosen[n_theft + n_fault :]):
        kinds[i] = LOOKALIKES[j % len(LOOKALIKES)]

    registered = load.copy()
    present = np.ones(load.shape, dtype=bool)
    for i in np.flatnonzero(kinds != "clean"):
        onset = spec.days - int(rng.integers(spec.onset_days[0], spec.onset_days[1] + 1))
        registered[i], present[i] = _inject(str(kinds[i]), load[i], onset, per_day, rng)
    readings = _frame(p.meter_id, registered, export, present, spec)
    categories = {**dict.fromkeys(ATTACKS, "attack"), **dict.fromkeys(FAULTS, "fault"),
                  **dict.fromkeys(LOOKALIKES, "lookalike"), "clean": "clean"}
    truth = pl.DataFrame({"meter_id": p.meter_id.tolist(), "kind": kinds.tolist()}).with_columns(
        category=pl.col("kind").replace_strict(categories)
    )
    meters = pl.DataFrame({
        "meter_id": p.meter_id.tolist(),
        "meter_role": "customer",
        "customer_group": [("residential", "commercial", "production", "public_admin",
                            "public_lighting")[g] for g in p.group],
        "transformer_id": p.tx_ids[p.tx].tolist(),
        "contracted_kw": p.contracted_kw,
        "solar_kwp": np.where(p.solar_kwp > 0, p.solar_kwp, np.nan),
    }).with_columns(pl.col("solar_kwp").fill_nan(None))
    return Synthetic(readings, meters, truth)


def _inject(kind: str, x: np.ndarray, onset: int, per_day: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """Registered energy and presence of one meter (days × intervals) after ``kind``."""
    y, present = x.copy(), np.ones(x.shape, dtype=bool)
    if kind in _INJECTIONS:
        _INJECTIONS[kind](Injection(x, y, present, onset, per_day, rng))
    return np.round(np.clip(y, 0.0, None), 3), present


@dataclass(frozen=True)
class Injection:
    """One meter's true load ``x`` and the arrays an injection writes (days × intervals)."""

    x: np.ndarray
    y: np.ndarray  # registered energy, a copy of x to modify
    present: np.ndarray  # False = the interval never reaches the head-end
    onset: int
    per_day: int
    rng: np.random.Generator

    @property
    def span(self) -> int:
        """Days from the onset to the end."""
        return self.x.shape[0] - self.onset


def _h1(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :] * m.rng.uniform(0.1, 0.8, (m.span, 1))


def _h2(m: Injection) -> None:
    t = np.arange(m.per_day)[None, :]
    start = m.rng.integers(0, m.per_day, (m.span, 1))
    length = m.rng.integers(4 * m.per_day // 24, 16 * m.per_day // 24 + 1, (m.span, 1))
    m.y[m.onset :] = np.where((t - start) % m.per_day < length, 0.0, m.x[m.onset :])


def _h3(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :] * m.rng.uniform(0.1, 0.8, (m.span, m.per_day))


def _h4(m: Injection) -> None:
    mean = m.x[m.onset :].mean(axis=1, keepdims=True)
    m.y[m.onset :] = mean * m.rng.uniform(0.1, 0.8, (m.span, m.per_day))


def _h5(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :].mean(axis=1, keepdims=True)


def _h6(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :, ::-1]


def _bypass(m: Injection) -> None:
    m.y[m.onset :] = 0.0


def _stuck(m: Injection) -> None:
    # The register repeats one interval value for several days (a frozen meter).
    m.y[m.onset : m.onset + int(m.rng.integers(3, 8))] = m.x[m.onset, 0]


def _gaps(m: Injection) -> None:
    m.present[m.onset :] = m.rng.random((m.span, m.per_day)) > 0.3


def _clock_offset(m: Injection) -> None:
    cut = m.onset * m.per_day
    m.y.reshape(-1)[cut:] = np.roll(m.x.reshape(-1), m.per_day // 24)[cut:]


def _spikes(m: Injection) -> None:
    cells = m.rng.integers(0, m.span * m.per_day, 6)
    m.y[m.onset :].reshape(-1)[cells] *= 40.0  # a view: the days after the onset


def _no_communication(m: Injection) -> None:
    m.present[m.onset : m.onset + int(m.rng.integers(3, 10))] = False


def _vacation(m: Injection) -> None:
    stop = min(m.x.shape[0], m.onset + int(m.rng.integers(5, 15)))
    standby = m.x[: m.onset].mean() * m.rng.uniform(0.1, 0.3)
    m.y[m.onset : stop] = standby * m.rng.lognormal(0.0, 0.2, (stop - m.onset, m.per_day))


def _level_change(m: Injection) -> None:
    m.y[m.onset :] = m.x[m.onset :] * m.rng.uniform(0.6, 0.8)


_INJECTIONS = {
    "h1": _h1, "h2": _h2, "h3": _h3, "h4": _h4, "h5": _h5, "h6": _h6, "bypass": _bypass,
    "stuck": _stuck, "gaps": _gaps, "clock_offset": _clock_offset, "spikes": _spikes,
    "no_communication": _no_communication, "vacation": _vacation, "level_change": _level_change,
}


def _frame(meter_id: np.ndarray, kwh: np.ndarray, export: np.ndarray, present: np.ndarray,
           spec: EvaluationSpec) -> pl.DataFrame:
    """Long readings frame in the canonical contract (UTC interval ends)."""
    n, days, per_day = kwh.shape
    step = spec.interval_minutes
    first = datetime.combine(spec.start, datetime.min.time(), TZ).astimezone(UTC)
    ends = np.array([first.replace(tzinfo=None) + timedelta(minutes=step * (k + 1))
                     for k in range(days * per_day)], dtype="datetime64[us]")
    mask = present.reshape(-1)
    has_export = export.reshape(n, -1).sum(axis=1) > 0
    exp = np.where(has_export[:, None], export.reshape(n, -1), np.nan).reshape(-1)
    return pl.DataFrame({
        "meter_id": np.repeat(meter_id, days * per_day)[mask],
        "interval_end": np.tile(ends, n)[mask],
        "interval_minutes": np.full(mask.sum(), step, dtype=np.int32),
        "kwh_import": kwh.reshape(-1)[mask],
        "kwh_export": exp[mask],
    }).with_columns(
        pl.col("interval_end").dt.replace_time_zone("UTC"), pl.col("kwh_export").fill_nan(None)
    )


def _labels(truth: pl.DataFrame, share: float, seed: int, at: datetime) -> pl.DataFrame:
    """Inspection outcomes for a seeded ``share`` of the meters, stratified by kind."""
    outcome = (
        pl.when(pl.col("category") == "attack").then(pl.lit("theft"))
        .when(pl.col("category") == "fault").then(pl.lit("meter_fault"))
        .otherwise(pl.lit("no_issue"))
    )
    return (
        truth.with_columns(u=pl.lit(np.random.default_rng([seed, 5]).random(truth.height)))
        .with_columns(r=pl.col("u").rank("ordinal").over("kind")
                      / pl.len().over("kind"))
        .filter(pl.col("r") <= share)
        .select("meter_id", inspected_at=pl.lit(at), outcome=outcome)
    )


def metrics_of(scored: pl.DataFrame, truth: pl.DataFrame, mode: str) -> pl.DataFrame:
    """ROC AUC, average precision and precision at k, overall and per attack type."""
    frame = truth.join(scored.select("meter_id", "score"), on="meter_id", how="inner")
    rows = []
    for attack in ("all", *ATTACKS):
        part = frame.filter(
            (pl.col("category") != "attack")
            | ((pl.col("kind") == attack) if attack != "all" else pl.lit(True))
        )
        y = (part["category"] == "attack").to_numpy()
        s = part["score"].fill_null(0.0).to_numpy()
        k = int(y.sum())
        if k == 0 or k == len(y):
            continue
        top = np.argsort(-s, kind="stable")[:k]
        rows.append({"mode": mode, "attack": attack, "thieves": k, "negatives": len(y) - k,
                     "roc_auc": float(roc_auc_score(y, s)),
                     "average_precision": float(average_precision_score(y, s)),
                     "precision_at_k": float(y[top].mean())})
    return pl.DataFrame(rows)


def evaluate_anomalies(spec: EvaluationSpec, *, settings: Settings) -> Evaluation:
    """Score the injected province unsupervised and with half the labels; the metric table."""
    data = build_synthetic(spec)
    meters = data.meters if spec.with_topology else None
    lazy = data.readings.lazy()
    unsupervised = score_meters(lazy, meters, None, settings=settings)
    as_of = data.readings["interval_end"].max()
    labels = _labels(data.truth, spec.label_share, spec.seed, as_of)  # type: ignore[arg-type]
    supervised = score_meters(lazy, meters, labels, settings=settings)
    held_out = data.truth.join(labels, on="meter_id", how="anti")
    metrics = pl.concat([
        metrics_of(unsupervised, data.truth, "unsupervised"),
        metrics_of(supervised, held_out, "half_labels"),
    ])
    return Evaluation(metrics, {"unsupervised": unsupervised, "half_labels": supervised})
