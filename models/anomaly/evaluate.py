"""Evaluation of the theft scorer on the six attacks of Jokar et al. (2016) plus bypass.

A synthetic province's true load (``ami.province``) gets, for a seeded share of its
customers, one attack (``attacks.py``: ``h1``–``h6``, ``bypass``) from an onset date to the
end of the series.

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

Real readings with the same attacks injected are evaluated by ``evaluate_real.py``, with
the metrics of this module (``metrics_of``, also per onset bucket: ``ONSET_BUCKETS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

from ami.province.clock import TZ
from ami.province.generate import build_province
from ami.province.grid import GROUPS
from ami.province.load import simulate_day
from ami.province.spec import ProvinceSpec
from ami.settings import Settings
from ami.vocabulary import InspectionOutcome, MeterRole
from models.anomaly.attacks import ATTACKS, FAULTS, LOOKALIKES, inject
from models.anomaly.scorer import score_meters

#: Onset buckets: name, first and last day before the end of the data (None = no limit).
ONSET_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<=14", 0, 14), ("15-60", 15, 60), ("61-180", 61, 180), (">180", 181, None),
)


def onset_bucket(days: int) -> str:
    """The ``ONSET_BUCKETS`` name of an onset ``days`` before the end of the data."""
    return next(name for name, low, high in ONSET_BUCKETS
                if days >= low and (high is None or days <= high))


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
    half_labels: bool = True


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
        registered[i], present[i] = inject(str(kinds[i]), load[i], onset, per_day, rng)
    readings = _frame(p.meter_id, registered, export, present, spec)
    categories = {**dict.fromkeys(ATTACKS, "attack"), **dict.fromkeys(FAULTS, "fault"),
                  **dict.fromkeys(LOOKALIKES, "lookalike"), "clean": "clean"}
    truth = pl.DataFrame({"meter_id": p.meter_id.tolist(), "kind": kinds.tolist()}).with_columns(
        category=pl.col("kind").replace_strict(categories)
    )
    meters = pl.DataFrame({
        "meter_id": p.meter_id.tolist(),
        "meter_role": MeterRole.CUSTOMER.value,
        "customer_group": [GROUPS[g] for g in p.group],
        "transformer_id": p.tx_ids[p.tx].tolist(),
        "contracted_kw": p.contracted_kw,
        "solar_kwp": np.where(p.solar_kwp > 0, p.solar_kwp, np.nan),
    }).with_columns(pl.col("solar_kwp").fill_nan(None))
    return Synthetic(readings, meters, truth)


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


def seeded_labels(truth: pl.DataFrame, share: float, seed: int, at: datetime) -> pl.DataFrame:
    """Inspection outcomes for a seeded ``share`` of the meters, stratified by kind."""
    outcome = (
        pl.when(pl.col("category") == "attack").then(pl.lit(InspectionOutcome.THEFT))
        .when(pl.col("category") == "fault").then(pl.lit(InspectionOutcome.METER_FAULT))
        .otherwise(pl.lit(InspectionOutcome.NO_ISSUE))
    )
    return (
        truth.with_columns(u=pl.lit(np.random.default_rng([seed, 5]).random(truth.height)))
        .with_columns(r=pl.col("u").rank("ordinal").over("kind")
                      / pl.len().over("kind"))
        .filter(pl.col("r") <= share)
        .select("meter_id", inspected_at=pl.lit(at), outcome=outcome)
    )


def metrics_of(scored: pl.DataFrame, truth: pl.DataFrame, mode: str, *,
               onsets: bool = False) -> pl.DataFrame:
    """ROC AUC, average precision and precision at k, overall and per attack type.

    With ``onsets`` (``truth`` has ``onset_bucket``) the table gains an ``onset`` column
    and a row per onset bucket (that bucket's thieves against all negatives), and a group
    without thieves keeps its row, with its count and null metrics.
    """
    frame = truth.join(scored.select("meter_id", "score"), on="meter_id", how="inner")
    groups: list[tuple[str, str, pl.Expr]] = [
        (attack, "all", (pl.col("kind") == attack) if attack != "all" else pl.lit(True))
        for attack in ("all", *ATTACKS)
    ]
    if onsets:
        groups += [("all", name, pl.col("onset_bucket") == name) for name, _, _ in ONSET_BUCKETS]
    rows = []
    for attack, onset, chosen in groups:
        part = frame.filter((pl.col("category") != "attack") | chosen)
        y = (part["category"] == "attack").to_numpy()
        s = part["score"].fill_null(0.0).to_numpy()
        k = int(y.sum())
        defined = 0 < k < len(y)
        if not defined and not onsets:
            continue
        top = np.argsort(-s, kind="stable")[:k]
        rows.append({"mode": mode, "attack": attack, **({"onset": onset} if onsets else {}),
                     "thieves": k, "negatives": len(y) - k,
                     "roc_auc": float(roc_auc_score(y, s)) if defined else None,
                     "average_precision": float(average_precision_score(y, s))
                     if defined else None,
                     "precision_at_k": float(y[top].mean()) if defined else None})
    schema = {"mode": pl.String, "attack": pl.String, **({"onset": pl.String} if onsets else {}),
              "thieves": pl.Int64, "negatives": pl.Int64, "roc_auc": pl.Float64,
              "average_precision": pl.Float64, "precision_at_k": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def evaluate_anomalies(spec: EvaluationSpec, *, settings: Settings) -> Evaluation:
    """Score the injected province unsupervised and with half the labels; the metric table."""
    data = build_synthetic(spec)
    meters = data.meters if spec.with_topology else None
    lazy = data.readings.lazy()
    unsupervised = score_meters(lazy, meters, None, settings=settings)
    if not spec.half_labels:
        return Evaluation(metrics_of(unsupervised, data.truth, "unsupervised"),
                          {"unsupervised": unsupervised})
    as_of = data.readings["interval_end"].max()
    labels = seeded_labels(data.truth, spec.label_share, spec.seed, as_of)  # type: ignore[arg-type]
    supervised = score_meters(lazy, meters, labels, settings=settings)
    held_out = data.truth.join(labels, on="meter_id", how="anti")
    metrics = pl.concat([
        metrics_of(unsupervised, data.truth, "unsupervised"),
        metrics_of(supervised, held_out, "half_labels"),
    ])
    return Evaluation(metrics, {"unsupervised": unsupervised, "half_labels": supervised})
