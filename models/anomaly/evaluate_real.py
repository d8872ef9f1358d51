"""Evaluation of the theft scorer on real readings with the attacks injected.

**Real readings** (``evaluate_real``): the same attack code (``attacks.inject``) as on
the synthetic province (``evaluate.py``) is applied to a seeded share of the meters of a
real readings file, from an onset drawn uniformly ``onset_days`` before the end of the
data to the end, over several seeds. Attacks work on days × intervals of the zone's
*standard-time* days (a clock change would give a day of 46 or 50 intervals; in summer a
London "day" thus runs 01:00–01:00 local time), a gap stays a gap and an attacked value
the attack cannot define (the mirror of a gap in a reversed day) becomes one; every other
row, and every row of an untouched meter, is delivered as read. The scorer sees readings
only, in the zone's local days, beside two baselines (``models.anomaly.baselines``);
metrics are also given per onset bucket, since an old attack has already entered the
scorer's history (``evaluate.ONSET_BUCKETS``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ami.errors import ConfigError, InputError
from ami.settings import Settings
from models.anomaly.attacks import ATTACKS, inject
from models.anomaly.baselines import drop_ratio, reference_iforest
from models.anomaly.evaluate import metrics_of, onset_bucket, seeded_labels
from models.anomaly.jobs import _readings_from_file
from models.anomaly.scorer import score_meters

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


def inject_attacks(readings: pl.DataFrame, *, seed: int, theft_share: float,
                   onset_days: tuple[int, int], timezone: str,
                   source: str = "readings") -> Injected:
    """Attack a seeded ``theft_share`` of the meters of real readings (``attacks.inject``).

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
        y, _ = inject(str(kinds[i]), x, int(onsets[i]), grid.per_day, rng)
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
            labels = seeded_labels(data.truth, spec.label_share, seed, as_of)  # type: ignore[arg-type]
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
