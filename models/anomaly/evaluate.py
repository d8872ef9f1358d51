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

**Real readings** (``evaluate_real``): the same attack code (``_inject``) is applied to a
seeded share of the meters of a real readings file, from an onset drawn uniformly
``onset_days`` before the end of the data to the end, over several seeds. Attacks work
on days × intervals of the zone's *standard-time* days (a clock change would give a day
of 46 or 50 intervals; in summer a London "day" thus runs 01:00–01:00 local time), a gap
stays a gap and an attacked value the attack cannot define (the mirror of a gap in a
reversed day) becomes one; every other row, and every row of an untouched meter, is
delivered as read. The scorer sees readings only, in the zone's local days, beside two
baselines (``models.anomaly.baselines``); metrics are also given per onset bucket, since
an old attack has already entered the scorer's history.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

from ami.errors import ConfigError, InputError
from ami.province.generate import GROUPS, TZ, ProvinceSpec, build_province, simulate_day
from ami.settings import Settings
from ami.vocabulary import InspectionOutcome, MeterRole
from models.anomaly.baselines import drop_ratio, reference_iforest
from models.anomaly.jobs import _readings_from_file
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
        registered[i], present[i] = _inject(str(kinds[i]), load[i], onset, per_day, rng)
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


def _day_mean(x: np.ndarray) -> np.ndarray:
    """Each day's mean interval energy (days × 1) over the intervals read: a gap is no zero."""
    seen = ~np.isnan(x)
    total = np.where(seen, x, 0.0).sum(axis=1, keepdims=True)
    return total / np.maximum(seen.sum(axis=1, keepdims=True), 1)


def _h4(m: Injection) -> None:
    mean = _day_mean(m.x[m.onset :])
    m.y[m.onset :] = mean * m.rng.uniform(0.1, 0.8, (m.span, m.per_day))


def _h5(m: Injection) -> None:
    m.y[m.onset :] = _day_mean(m.x[m.onset :])


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
    labels = _labels(data.truth, spec.label_share, spec.seed, as_of)  # type: ignore[arg-type]
    supervised = score_meters(lazy, meters, labels, settings=settings)
    held_out = data.truth.join(labels, on="meter_id", how="anti")
    metrics = pl.concat([
        metrics_of(unsupervised, data.truth, "unsupervised"),
        metrics_of(supervised, held_out, "half_labels"),
    ])
    return Evaluation(metrics, {"unsupervised": unsupervised, "half_labels": supervised})


# --- real readings ---------------------------------------------------------------------

#: Onset buckets: name, first and last day before the end of the data (None = no limit).
ONSET_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<=14", 0, 14), ("15-60", 15, 60), ("61-180", 61, 180), (">180", 181, None),
)
#: The readings columns an evaluation reads and delivers (README: data contract).
READING_COLUMNS = ("meter_id", "interval_end", "interval_minutes", "kwh_import", "kwh_export")
#: The scorers of the real-readings table: the project's and the baselines.
SCORERS = ("ami", "drop_ratio", "reference_iforest")


@dataclass(frozen=True)
class RealSpec:
    """How attacks are injected into real readings; the same spec gives the same table."""

    seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
    theft_share: float = 0.20
    #: Attacks start this many days before the end of the data, drawn uniformly [d].
    onset_days: tuple[int, int] = (7, 300)
    label_share: float = 0.5
    half_labels: bool = True


@dataclass(frozen=True)
class Injected:
    """Readings with attacks injected and the truth per meter."""

    readings: pl.DataFrame
    #: meter_id, kind, category (attack | clean), onset [UTC], onset_days, onset_bucket
    truth: pl.DataFrame


@dataclass(frozen=True)
class RealEvaluation:
    """Metrics per seed plus their mean and min over the seeds, and what the data were."""

    #: seed ("mean" | "min" | "1"…, in this order), scorer, mode, attack, onset, thieves,
    #: negatives, roc_auc, average_precision, precision_at_k, seeds (seeds with a defined
    #: metric); in the mean and min rows thieves and negatives are totals over the seeds.
    metrics: pl.DataFrame
    meters: int
    days: int
    interval_minutes: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Grid:
    """Where each reading sits in a meter's days × intervals array (standard-time days)."""

    origin: datetime  # 00:00 standard time of the first day [UTC]
    step: int  # [min]
    days: int
    cell: np.ndarray  # per reading: day × per_day + interval of the day

    @property
    def per_day(self) -> int:
        """Intervals per day."""
        return 1440 // self.step


def read_readings(path: Path, *, settings: Settings) -> pl.DataFrame:
    """Canonical readings of a file, read as ``ami anomalies score`` reads it.

    CSV, CSV.gz, Parquet or any source profile; an instant without a zone is local time
    of ``settings.timezone``.
    """
    with tempfile.TemporaryDirectory(prefix="ami-evaluate-") as workdir:
        lazy = _readings_from_file(path, settings, Path(workdir))
        schema = lazy.collect_schema()
        frame = lazy.select(c for c in READING_COLUMNS if c in schema).collect(
            engine="streaming")
    for column in ("meter_id", "interval_end"):
        if frame[column].null_count():
            raise InputError(f"{frame[column].null_count()} reading(s) without {column}",
                             file=str(path), column=column,
                             fix=f"give every reading its {column} or drop those rows")
    if frame.height == 0:
        raise InputError("the readings file holds no readings", file=str(path),
                         fix="point --readings at a file with readings")
    return frame


def _cadence(readings: pl.DataFrame, source: str) -> int:
    """The one interval length of the readings [min]; intraday attacks need ≤ 60 min."""
    values: list[float] = []
    if "interval_minutes" in readings.columns:
        values = readings["interval_minutes"].drop_nulls().unique().sort().to_list()
    if not values:
        steps = readings.select(pl.col("interval_end").sort().diff().dt.total_minutes()
                                .over("meter_id")).to_series().drop_nulls()
        values = [] if steps.is_empty() else [float(steps.mode().min())]  # type: ignore[arg-type]
    if len(values) != 1:
        raise InputError(
            f"readings of several interval lengths ({', '.join(f'{v:g}' for v in values)} min)"
            if values else "cannot tell the interval length of the readings",
            file=source, column="interval_minutes",
            fix="evaluate one cadence at a time: split the file by interval_minutes")
    step = float(values[0])
    if step != int(step) or step <= 0 or 1440 % int(step) or step > 60:
        raise InputError(
            f"{step:g}-minute readings cannot carry the attacks, which reshape each day's "
            "intervals (e.g. h2 zeroes 4–16 h a day)", file=source, column="interval_minutes",
            fix="give interval readings of a length that divides the day, at most 60 "
                "minutes (15, 30 or 60)")
    return int(step)


def _grid(readings: pl.DataFrame, step: int, timezone: str, source: str) -> _Grid:
    """Days of the zone's standard time (fixed length) and each reading's cell in them."""
    step_us = step * 60_000_000
    ends = readings["interval_end"].dt.convert_time_zone("UTC").dt.epoch("us").to_numpy()
    first = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(ends.min()) - step_us)
    local = first.astimezone(ZoneInfo(timezone))
    standard = (local.utcoffset() or timedelta(0)) - (local.dst() or timedelta(0))
    origin = datetime.combine((first + standard).date(), time(), UTC) - standard
    offset = ends - step_us - int((origin - datetime(1970, 1, 1, tzinfo=UTC))
                                  / timedelta(microseconds=1))
    off_grid = np.flatnonzero(offset % step_us)
    if off_grid.size:
        row = int(off_grid[0])
        raise InputError(
            f"interval_end {readings['interval_end'][row]} of meter "
            f"{readings['meter_id'][row]} is not on the {step}-minute grid of the other "
            "readings", file=source, column="interval_end",
            fix=f"give regular {step}-minute readings, each ending on the grid")
    cell = offset // step_us
    per_day = 1440 // step
    return _Grid(origin, step, int(cell.max()) // per_day + 1, cell)


def onset_bucket(days: int) -> str:
    """The ``ONSET_BUCKETS`` name of an onset ``days`` before the end of the data."""
    return next(name for name, low, high in ONSET_BUCKETS
                if days >= low and (high is None or days <= high))


def inject_attacks(readings: pl.DataFrame, *, seed: int, theft_share: float,
                   onset_days: tuple[int, int], timezone: str,
                   source: str = "readings") -> Injected:
    """Attack a seeded ``theft_share`` of the meters of real readings (``_inject``).

    The thieves cycle through ``ATTACKS``; each attack runs from an onset drawn uniformly
    ``onset_days`` [d] before the end of the data (never before its second day) to the
    end, on days × intervals of ``timezone``'s standard time. Rows keep their instants:
    a gap stays a gap, a missing value stays missing, an attacked value the attack leaves
    undefined (the mirror of a gap, h6) becomes a gap; untouched rows are delivered as read.
    """
    low, high = onset_days
    if not 1 <= low <= high:
        raise ConfigError(f"onset range {low}–{high} days is empty or starts before 1",
                          fix="give 1 ≤ --onset-min ≤ --onset-max")
    ordered = readings.sort("meter_id", "interval_end", maintain_order=True)
    duplicated = ordered.select(pl.struct("meter_id", "interval_end").is_duplicated()) \
        .to_series()
    if duplicated.any():
        row = ordered.filter(duplicated).row(0, named=True)
        raise InputError(f"meter {row['meter_id']} has two readings ending at "
                         f"{row['interval_end']}", file=source, column="interval_end",
                         fix="deduplicate the readings (one row per meter and interval)")
    step = _cadence(readings, source)
    grid = _grid(readings, step, timezone, source)
    meters = np.array(sorted(readings["meter_id"].unique().to_list()), dtype=object)
    n_theft = round(theft_share * len(meters))
    if not 1 <= n_theft < len(meters):
        raise ConfigError(f"a theft share of {theft_share:g} gives {n_theft} of "
                          f"{len(meters)} meters as thieves",
                          fix="give a --theft-share that leaves thieves and honest meters")
    rng = np.random.default_rng([seed, 77])
    order = rng.permutation(len(meters))
    kinds = np.full(len(meters), "clean", dtype=object)
    onsets = np.full(len(meters), -1)
    kwh = readings["kwh_import"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    new, changed, keep = kwh.copy(), np.zeros(kwh.size, bool), np.ones(kwh.size, bool)
    row_meter = readings["meter_id"].to_numpy()
    for j, i in enumerate(order[:n_theft]):
        kinds[i] = ATTACKS[j % len(ATTACKS)]
        onsets[i] = max(grid.days - int(rng.integers(low, high + 1)), 1)
        rows = np.flatnonzero((row_meter == meters[i]) & ~np.isnan(kwh))
        x = np.full((grid.days, grid.per_day), np.nan)
        x.reshape(-1)[grid.cell[rows]] = kwh[rows]
        y, _ = _inject(str(kinds[i]), x, int(onsets[i]), grid.per_day, rng)
        after = rows[grid.cell[rows] >= onsets[i] * grid.per_day]
        new[after] = y.reshape(-1)[grid.cell[after]]
        changed[after] = True
        keep[after] = ~np.isnan(new[after])
    attacked = readings.select(c for c in READING_COLUMNS if c in readings.columns) \
        .with_columns(kwh_import=pl.when(pl.Series(changed)).then(pl.Series(new))
                      .otherwise(pl.col("kwh_import"))).filter(pl.Series(keep))
    attacked_days = [grid.days - int(o) if o >= 0 else None for o in onsets]
    truth = pl.DataFrame({
        "meter_id": meters.tolist(),
        "kind": kinds.tolist(),
        "category": ["attack" if o >= 0 else "clean" for o in onsets],
        "onset": [grid.origin + timedelta(days=int(o)) if o >= 0 else None for o in onsets],
        "onset_days": attacked_days,
        "onset_bucket": [None if d is None else onset_bucket(d) for d in attacked_days],
    }, schema={"meter_id": pl.String, "kind": pl.String, "category": pl.String,
               "onset": pl.Datetime("us", "UTC"), "onset_days": pl.Int64,
               "onset_bucket": pl.String})
    return Injected(attacked, truth)


def evaluate_real(readings: pl.DataFrame, spec: RealSpec, *, settings: Settings,
                  source: str = "readings") -> RealEvaluation:
    """Inject per seed, score with the project's scorer and the baselines; the metric table.

    ``settings.timezone`` is the zone whose local days the readings belong to: it sets
    the attacks' days, the scorer's local days and the baselines' evening peak.
    """
    if not spec.seeds:
        raise ConfigError("no seeds to evaluate", fix="give --seeds N ≥ 1 or --seed S")
    notes: list[str] = []
    tables = []
    for seed in spec.seeds:
        data = inject_attacks(readings, seed=seed, theft_share=spec.theft_share,
                              onset_days=spec.onset_days, timezone=settings.timezone,
                              source=source)
        lazy = data.readings.lazy()
        scored = {"ami": score_meters(lazy, None, None, settings=settings, notes=notes),
                  "drop_ratio": drop_ratio(lazy),
                  "reference_iforest": reference_iforest(lazy, settings=settings, seed=seed)}
        parts = [metrics_of(frame, data.truth, "unsupervised", onsets=True)
                 .with_columns(scorer=pl.lit(name)) for name, frame in scored.items()]
        if spec.half_labels:
            as_of = data.readings["interval_end"].max()
            labels = _labels(data.truth, spec.label_share, seed, as_of)  # type: ignore[arg-type]
            supervised = score_meters(lazy, None, labels, settings=settings, notes=notes)
            held_out = data.truth.join(labels, on="meter_id", how="anti")
            parts.append(metrics_of(supervised, held_out, "half_labels", onsets=True)
                         .with_columns(scorer=pl.lit("ami")))
        tables.append(pl.concat(parts).with_columns(seed=pl.lit(str(seed))))
    per_seed = pl.concat(tables).with_columns(
        seeds=pl.col("roc_auc").is_not_null().cast(pl.Int64))
    keys = ["scorer", "mode", "attack", "onset"]
    metric_names = ("roc_auc", "average_precision", "precision_at_k")

    def summary(name: str, how: str) -> pl.DataFrame:
        return per_seed.group_by(keys, maintain_order=True).agg(
            pl.col("thieves").sum(), pl.col("negatives").sum(),
            *(getattr(pl.col(m), how)() for m in metric_names),
            pl.col("seeds").sum(),
        ).with_columns(seed=pl.lit(name))

    columns = ["seed", *keys, "thieves", "negatives", *metric_names, "seeds"]
    # The summaries first: the headline, and a text seed before numbers for readers that
    # guess a column's type from its first rows.
    metrics = pl.concat([summary("mean", "mean").select(columns),
                         summary("min", "min").select(columns), per_seed.select(columns)])
    first, last = readings["interval_end"].min(), readings["interval_end"].max()
    step = _cadence(readings, source)
    span = round((last - first + timedelta(minutes=step)) / timedelta(days=1))  # type: ignore[operator]
    return RealEvaluation(metrics, readings["meter_id"].n_unique(), span, step,
                          list(dict.fromkeys(notes)))


def summary_rows(metrics: pl.DataFrame) -> pl.DataFrame:
    """The compact view of ``RealEvaluation.metrics``: means over seeds (and the min AUC).

    Every scorer and mode over all attacks and onsets first, then the project scorer's
    rows per attack and per onset bucket.
    """
    keys = ["scorer", "mode", "attack", "onset"]
    worst = metrics.filter(pl.col("seed") == "min").select(*keys, roc_auc_min="roc_auc")
    mean = metrics.filter(pl.col("seed") == "mean").join(worst, on=keys, how="left",
                                                         maintain_order="left")
    overall = (pl.col("attack") == "all") & (pl.col("onset") == "all")
    return pl.concat([
        mean.filter(overall),
        mean.filter((pl.col("scorer") == "ami") & ~overall),
    ]).select(*keys, "thieves", "negatives", "seeds", "roc_auc", "roc_auc_min",
              "average_precision", "precision_at_k")


def real_spec(*, seed: int | None = None, seeds: int | None = None,
              theft_share: float | None = None, onset_min: int | None = None,
              onset_max: int | None = None, half_labels: bool = True) -> RealSpec:
    """The ``RealSpec`` of the command-line options (None = the default)."""
    if seed is not None and seeds is not None:
        raise ConfigError("--seed and --seeds both given",
                          fix="give --seed S for one seed or --seeds N for seeds 1..N")
    default = RealSpec()
    return RealSpec(
        seeds=(seed,) if seed is not None else
        default.seeds if seeds is None else tuple(range(1, seeds + 1)),
        theft_share=default.theft_share if theft_share is None else theft_share,
        onset_days=(default.onset_days[0] if onset_min is None else onset_min,
                    default.onset_days[1] if onset_max is None else onset_max),
        label_share=default.label_share,
        half_labels=half_labels,
    )
