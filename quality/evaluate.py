"""Evaluation of VEE: on a synthetic province, and on real readings with injected faults.

For each validation rule: precision and recall against the injected faults it should
find, on the unit the rule judges (an interval, a meter-day or a meter). For estimation:
the error of estimated intervals against what the meter would have reported (MAE and
bias), next to a naive baseline (carry the last real value forward). And a check that
theft is not "repaired": no measured zero of a bypassed meter is replaced.

Real readings (:func:`evaluate_vee_readings`) get the generator's meter-fault mix,
rendered by the generator's own code (``ami.province``) into the files a head-end would
deliver; a real gap stays a gap and is truth for ``missing_interval``. The clean
measurement (:func:`clean_vee_readings`) runs VEE on a real file as delivered and measures
what VEE changes, rejects, estimates and flags.

    ami vee evaluate [--meters 500 --days 21 --seed 7 --fault-share 0.2]
    ami vee evaluate --readings FILE [--days N --seed 7 --fault-share 0.2] [--clean]
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ami.errors import ConfigError, InputError
from ami.instants import HINT, instant, problem
from ami.province import (
    ProvinceSpec,
    advance_registers,
    apply_faults,
    day_ends,
    delivered_readings,
    events_frame,
    fault_events,
    fault_injections,
    fault_marks,
    fault_truth,
    generate_province,
    labels_frame,
    never_reporting,
    plan_faults,
    registers_frame,
    write_fault_truth,
    write_frame,
    write_injections,
    write_true_readings,
)
from ami.settings import Settings
from ami.vocabulary import CustomerGroup, MeterRole, Quality, Rule
from pipelines.ingest import ingest_landing
from quality.days import day_bounds, local_day
from quality.grid import runs
from quality.meters import build_meters
from quality.vee import vee_pending
from warehouse import Warehouse
from warehouse.schemas import schema_of

#: rule → (unit, truth kinds, finding rules that count). Units: cell (meter × interval),
#: day (meter × local day), meter. Truth kinds are those of ``truth/fault_cells`` (cells),
#: ``fault_days`` plus theft days (days) and the meter labels (meters).
RULE_TRUTH: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # a whole day lost is reported once per meter-day, not interval by interval
    # (real readings: the file's own gaps too — VEE must report every missing interval)
    "missing_interval": ("cell", ("gaps", "real_gap"),
                         ("missing_interval", "no_readings_day")),
    # a spike beyond what the contracted capacity allows is caught as absurd first
    Rule.SPIKE: ("cell", ("spikes",), (Rule.SPIKE, Rule.ABSURD_VALUE)),
    Rule.NEGATIVE_VALUE: ("cell", ("negative",), (Rule.NEGATIVE_VALUE,)),
    Rule.OFF_GRID_TIMESTAMP: ("cell", ("off_grid",), (Rule.OFF_GRID_TIMESTAMP,)),
    "duplicate_equal": ("cell", ("duplicate_equal",), ("duplicate_equal",)),
    "duplicate_conflicting": ("cell", ("duplicate_conflicting",), ("duplicate_conflicting",)),
    # a flat line is a flat line: a stuck register or a flattened (h5) theft profile
    Rule.FLAT_LINE: ("day", ("stuck", "flattened"), (Rule.FLAT_LINE,)),
    "multiplier_jump": ("day", ("multiplier",), ("multiplier_jump",)),
    "reverse_energy": ("day", ("reverse_energy",), ("reverse_energy",)),
    "register_mismatch": ("day", ("register_jump",), ("register_mismatch",)),
    "clock_adjusted": ("day", ("clock_offset_end",), ("clock_adjusted",)),
    "never_reporting": ("meter", ("never_reporting",), ("never_reporting",)),
    # on real data, the real zero runs of ≥ zero_run_minutes (cause unknown) are its truth
    Rule.ZERO_RUN: ("meter", ("full_bypass", "partial_bypass", "outage", "real_zero_run"),
                    (Rule.ZERO_RUN,)),
}

#: Meters whose clock runs ahead shift intervals across the grid and across midnight;
#: their gaps are judged by ``clock_adjusted``, not by ``missing_interval``.
CELL_EXCLUDED_KINDS = ("clock_offset", "never_reporting")
#: Their days' sums are shifted too: a day whose intervals disagree with the register
#: because the clock ran ahead is the clock fault (``clock_adjusted``), not a register one.
DAY_EXCLUDED = {"register_mismatch": "clock_offset"}

DEFAULT_SPEC = ProvinceSpec(meters=500, days=21, seed=7, fault_share=0.2,
                            start=date(2026, 9, 1), file_format="csv")

#: The cadence real readings must have for the fault injection (the generator's) [min].
INJECTION_MINUTES = 30
#: Real readings have no topology: one made-up transformer per this many meters [-].
METERS_PER_TRANSFORMER = 25
#: Clean-mode targets. Rejected intervals over delivered ones [-] (0.01 %).
CLEAN_REJECTED_SHARE_MAX = 0.0001
#: … and the change VEE may make to a meter-month's delivered energy [-] (0.1 %).
CLEAN_MONTH_CHANGE_MAX = 0.001
#: The canonical readings columns a real file must have (``interval_minutes`` optional).
READING_COLUMNS = ("meter_id", "interval_end", "interval_minutes", "kwh_import")


@dataclass(frozen=True)
class DataWindow:
    """The complete local days of a real readings file that an evaluation used."""

    source: str            # file name
    meters: int            # meters with a row in the window
    first_day: date
    last_day: date
    rows: int              # rows of the file inside the window
    interval_minutes: int

    @property
    def days(self) -> int:
        """Local days of the window."""
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class VeeEvaluation:
    """Per-rule precision/recall, estimation error, and the theft check."""

    rules: pl.DataFrame        # rule, unit, truth, flagged, hits, precision, recall
    estimation: pl.DataFrame   # method, n, mae_kwh, bias_kwh, baseline_mae_kwh, …
    theft_zeros_estimated: int
    theft_zeros: int
    window: DataWindow | None = None   # real readings: the days used (None: synthetic)


@dataclass(frozen=True)
class CleanEvaluation:
    """What VEE does to real readings as delivered (nothing injected)."""

    window: DataWindow
    delivered: int                 # rows delivered (the file's rows in the window)
    rejected: int                  # silver quarantine rows, every rule
    rejected_by_rule: pl.DataFrame  # rule, rows
    meter_months: pl.DataFrame     # meter_id, month, delivered_kwh, silver_kwh, change
    missing_in_file: int           # grid intervals of the file's meters the file lacks
    estimated: int                 # silver intervals with quality "estimated"
    estimated_missing: int         # … of them missing in the file
    estimated_delivered: int       # … of them delivered (rejected, then estimated)
    left_missing: int              # silver intervals with quality "missing"
    rules: pl.DataFrame            # rule, findings, meter_days, intervals, per_1000_meter_days

    @property
    def meter_days(self) -> int:
        """Meter-days of the window (the denominator of the noise rates)."""
        return self.window.meters * self.window.days

    @property
    def rejected_share(self) -> float:
        """Rejected over delivered intervals [-]."""
        return self.rejected / self.delivered if self.delivered else 0.0

    @property
    def max_month_change(self) -> float:
        """Largest relative change of a meter-month's delivered energy [-]."""
        value = self.meter_months["change"].max() if self.meter_months.height else 0.0
        return float(value) if isinstance(value, (int, float)) else 0.0

    @property
    def months_over(self) -> int:
        """Meter-months changed by more than ``CLEAN_MONTH_CHANGE_MAX``."""
        return self.meter_months.filter(pl.col("change") > CLEAN_MONTH_CHANGE_MAX).height


@contextmanager
def _workspace(root: Path | None, settings: Settings | None) -> Iterator[tuple[Path, Settings]]:
    """A folder (temporary unless ``root``) and settings whose every location is inside."""
    own = root is None
    folder = Path(tempfile.mkdtemp(prefix="ami-vee-eval-")) if root is None else Path(root)
    try:
        base = settings or Settings()
        yield folder, base.model_copy(update={
            "data_dir": folder, "landing": str(folder / "landing"),
            "warehouse": str(folder / "warehouse"), "truth_dir": folder / "truth"})
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def _run_vee(run: Settings) -> None:
    """Ingest the landing zone, type the meters and build every pending VEE day."""
    ingest_landing(run.landing, settings=run)
    build_meters(settings=run)
    vee_pending(settings=run)


def evaluate_vee(spec: ProvinceSpec = DEFAULT_SPEC, *, root: Path | None = None,
                 settings: Settings | None = None) -> VeeEvaluation:
    """Generate ``spec``, run ingest + VEE on it, and score the findings and estimates."""
    with _workspace(root, settings) as (folder, run):
        generate_province(replace(spec, write_true_readings=True), folder / "landing",
                          folder / "truth")
        _run_vee(run)
        return score(folder / "truth", Warehouse.at(run.warehouse), settings=run)


def score(truth: Path, warehouse: Warehouse, *, settings: Settings) -> VeeEvaluation:
    """Score the warehouse's findings and estimates against the generator's truth."""
    findings = warehouse.scan("findings").collect()
    labels = pl.read_parquet(truth / "meters.parquet")
    injections = pl.read_csv(truth / "injections.csv", infer_schema=False)
    cells = pl.read_parquet(truth / "fault_cells.parquet")
    days = pl.read_parquet(truth / "fault_days.parquet").with_columns(
        pl.col("date").cast(pl.String))
    excluded = labels.filter(pl.col("label").is_in(CELL_EXCLUDED_KINDS))["meter_id"]
    # the interval truth of those meters is not judged either (a real gap of theirs)
    cells = cells.filter(~pl.col("meter_id").is_in(excluded.implode()))
    truth_sets = _truth_units(cells, days, labels, injections, settings=settings)
    rows = []
    for rule, (unit, kinds, counted) in RULE_TRUTH.items():
        # plain text: Polars reads a tuple of enum members as its Enum dtype
        counted_rules = [str(r) for r in counted]
        flagged = _flagged_units(findings.filter(pl.col("rule").is_in(counted_rules)), unit,
                                 settings=settings)
        expected = truth_sets.filter((pl.col("unit") == unit) & pl.col("kind").is_in(kinds)) \
            .select("key").unique()
        if unit == "cell":
            flagged = flagged.filter(~pl.col("meter_id").is_in(excluded.implode()))
        if rule in DAY_EXCLUDED:
            shifted = days.filter(pl.col("kind") == DAY_EXCLUDED[rule]).select(
                _key("day").alias("key"))
            flagged = flagged.join(shifted, on="key", how="anti")
        flagged_keys = flagged.select("key").unique()
        hits = flagged_keys.join(expected, on="key").height
        rows.append({
            "rule": str(rule), "unit": unit, "truth": expected.height,
            "flagged": flagged_keys.height, "hits": hits,
            "precision": hits / flagged_keys.height if flagged_keys.height else None,
            "recall": hits / expected.height if expected.height else None,
        })
    estimation, theft_est, theft_zeros = _estimation(truth, warehouse, labels)
    return VeeEvaluation(pl.DataFrame(rows), estimation, theft_est, theft_zeros)


def _key(unit: str) -> pl.Expr:
    if unit == "cell":
        return pl.format("{}|{}", "meter_id",
                         pl.col("interval_end").dt.strftime("%Y-%m-%dT%H:%M"))
    if unit == "day":
        return pl.format("{}|{}", "meter_id", "date")
    return pl.col("meter_id")


def _truth_units(cells: pl.DataFrame, days: pl.DataFrame, labels: pl.DataFrame,
                 injections: pl.DataFrame, *, settings: Settings) -> pl.DataFrame:
    """Every truth unit as (unit, kind, key)."""
    clock_end = days.filter(pl.col("kind") == "clock_offset").group_by("meter_id").agg(
        pl.col("date").max()).with_columns(pl.lit("clock_offset_end").alias("kind"))
    theft_days = injections.filter(pl.col("category") == "theft").with_columns(
        pl.date_ranges(pl.col("onset").str.to_datetime(time_zone="UTC")
                       .dt.convert_time_zone(settings.timezone).dt.date(),
                       pl.col("end").str.to_datetime(time_zone="UTC")
                       .dt.convert_time_zone(settings.timezone).dt.date()
                       - pl.duration(days=1)).alias("date")).explode("date").with_columns(
        pl.col("date").cast(pl.String))
    zero_theft = labels.filter(pl.col("label").is_in(["full_bypass", "partial_bypass"])).select(
        "meter_id", pl.col("label").alias("kind"))
    # outages long enough to be a zero run
    outages = injections.filter(pl.col("category") == "outage").with_columns(
        (pl.col("end").str.to_datetime(time_zone="UTC")
         - pl.col("onset").str.to_datetime(time_zone="UTC")).dt.total_minutes().alias("_min"))
    long_outages = outages.filter(pl.col("_min") >= settings.zero_run_minutes).select(
        "meter_id", pl.lit("outage").alias("kind"))
    never = labels.filter(pl.col("label") == "never_reporting").select(
        "meter_id", pl.lit("never_reporting").alias("kind"))
    real_zero = injections.filter(pl.col("category") == "real_zero_run").select(
        "meter_id", "kind").unique()
    return pl.concat([
        cells.select(pl.lit("cell").alias("unit"), "kind", _key("cell").alias("key")),
        pl.concat([days.select("meter_id", "date", "kind"),
                   clock_end.select("meter_id", "date", "kind"),
                   theft_days.select("meter_id", "date", "kind")]).select(
            pl.lit("day").alias("unit"), "kind", _key("day").alias("key")),
        pl.concat([zero_theft, long_outages, never, real_zero]).select(
            pl.lit("meter").alias("unit"), "kind", _key("meter").alias("key")),
    ])


def _flagged_units(found: pl.DataFrame, unit: str, *, settings: Settings) -> pl.DataFrame:
    """The units a rule's findings cover: cells of runs, local days, or meters."""
    found = found.filter(pl.col("level") == "meter").rename({"node_id": "meter_id"})
    if unit == "meter":
        return found.select("meter_id", _key("meter").alias("key"))
    if unit == "day":
        return found.with_columns(local_day("first_interval_end", settings).alias("date")) \
            .select("meter_id", _key("day").alias("key"))
    step = f"{settings.interval_minutes}m"
    expanded = found.with_columns(
        pl.datetime_ranges(pl.col("first_interval_end").dt.truncate(step),
                           pl.col("last_interval_end").dt.truncate(step), interval=step)
        .alias("interval_end")).explode("interval_end")
    return expanded.select("meter_id", _key("cell").alias("key"))


def _estimation(truth: Path, warehouse: Warehouse,
                labels: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Error of estimated intervals (and of carry-forward on the same intervals)."""
    silver = warehouse.scan("readings").select(
        "meter_id", "interval_end", "kwh_import", "quality", "rule").collect()
    true = pl.scan_parquet(str(truth / "true_readings_*.parquet")).select(
        "meter_id", "interval_end", "registered_kwh_import").collect()
    ordered = silver.sort("meter_id", "interval_end").with_columns(
        pl.when(pl.col("quality") == Quality.MEASURED).then(pl.col("kwh_import"))
        .forward_fill().over("meter_id").alias("_carried"),
        pl.when(pl.col("quality") == Quality.MEASURED).then(pl.col("kwh_import"))
        .backward_fill().over("meter_id").alias("_next"),
    )
    estimated = ordered.filter(pl.col("quality") == Quality.ESTIMATED).join(
        true, on=["meter_id", "interval_end"]).with_columns(
        (pl.col("kwh_import") - pl.col("registered_kwh_import")).alias("_err"),
        (pl.coalesce("_carried", "_next") - pl.col("registered_kwh_import")).alias("_base"))
    by_method = estimated.group_by("rule").agg(
        pl.len().alias("n"), pl.col("_err").abs().mean().alias("mae_kwh"),
        pl.col("_err").mean().alias("bias_kwh"),
        pl.col("_base").abs().mean().alias("baseline_mae_kwh"),
        pl.col("_base").mean().alias("baseline_bias_kwh"),
    ).rename({"rule": "method"})
    overall = estimated.select(
        pl.lit("all").alias("method"), pl.len().alias("n"),
        pl.col("_err").abs().mean().alias("mae_kwh"), pl.col("_err").mean().alias("bias_kwh"),
        pl.col("_base").abs().mean().alias("baseline_mae_kwh"),
        pl.col("_base").mean().alias("baseline_bias_kwh"))
    thieves = labels.filter(pl.col("category") == "theft")["meter_id"]
    theft_cells = silver.filter(pl.col("meter_id").is_in(thieves.implode())).join(
        true.filter(pl.col("registered_kwh_import") == 0), on=["meter_id", "interval_end"])
    return (pl.concat([by_method.sort("method"), overall]),
            theft_cells.filter(pl.col("quality") == Quality.ESTIMATED).height, theft_cells.height)


# --- real readings ------------------------------------------------------------------------

def _read_raw(path: Path) -> pl.DataFrame:
    """A readings file as stored: CSV (optionally gzip) as text, Parquet as typed."""
    name = path.name.lower()
    fix = "give a readings file (.csv, .csv.gz or .parquet) in the canonical columns " \
          f"{', '.join(READING_COLUMNS)}"
    if not path.is_file():
        raise InputError("no such file", file=str(path), fix=fix)
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read ({exc})", file=str(path), fix=fix) from None
    raise InputError("is neither CSV nor Parquet", file=str(path), fix=fix)


def _first_bad(frame: pl.DataFrame, bad: pl.Expr, column: str, message: str, *, path: Path,
               fix: str) -> None:
    """Raise an ``InputError`` naming the first row where ``bad`` holds, if any."""
    rows = frame.filter(bad)
    if rows.height:
        first = rows.row(0, named=True)
        raise InputError(f"{message} ({rows.height:,} row(s))", file=str(path),
                         row=int(first["_row"]), column=column, fix=fix)


def _typed_readings(raw: pl.DataFrame, path: Path) -> pl.DataFrame:
    """``meter_id``, ``interval_end`` (UTC), ``interval_minutes``, ``kwh_import`` and ``_row``.

    An empty ``kwh_import`` is a gap; a text that is not a number or an instant is refused
    (the evaluation measures VEE's rules, not the parser). ``interval_minutes`` is taken
    from the column, or else from the most common step between a meter's readings.
    """
    missing = [c for c in READING_COLUMNS if c != "interval_minutes" and c not in raw.columns]
    if missing:
        raise InputError(f"has no column {', '.join(map(repr, missing))}", file=str(path),
                         column=missing[0], fix="give the canonical columns "
                         f"{', '.join(READING_COLUMNS)} (interval_minutes may be left out)")

    def text(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.String).str.strip_chars()

    kwh = pl.col("kwh_import")
    if raw.schema["kwh_import"] == pl.String:
        kwh = pl.when(text("kwh_import") != "").then(text("kwh_import"))
    minutes = (text("interval_minutes").cast(pl.Int64, strict=False)
               if "interval_minutes" in raw.columns else pl.lit(None, pl.Int64))
    typed = raw.with_row_index("_row", offset=1).select(
        "_row", text("meter_id").alias("meter_id"),
        instant("interval_end").alias("interval_end"),
        text("interval_end").alias("_ts_text"),
        kwh.cast(pl.Float64, strict=False).alias("kwh_import"),
        kwh.is_not_null().alias("_has_kwh"),
        minutes.alias("interval_minutes"),
        (text("interval_minutes").fill_null("") != "").alias("_has_minutes")
        if "interval_minutes" in raw.columns else pl.lit(False).alias("_has_minutes"),
    )
    _first_bad(typed, pl.col("meter_id").fill_null("") == "", "meter_id", "meter_id is empty",
               path=path, fix="give every row a meter id")
    bad = typed.filter(pl.col("interval_end").is_null())
    if bad.height:
        first = bad.row(0, named=True)
        raise InputError(f"{problem(first['_ts_text'])} ({bad.height:,} row(s))",
                         file=str(path), row=int(first["_row"]), column="interval_end", fix=HINT)
    _first_bad(typed, pl.col("_has_kwh") & pl.col("kwh_import").is_null(), "kwh_import",
               "kwh_import is not a number", path=path,
               fix="write the energy as a decimal number [kWh] with a point, or leave it empty "
                   "for a gap")
    _first_bad(typed, pl.col("_has_minutes") & ~(pl.col("interval_minutes") > 0),
               "interval_minutes", "interval_minutes is not a positive whole number",
               path=path, fix="give the interval length in minutes, e.g. 30")
    if not typed["_has_minutes"].all():
        steps = typed.sort("meter_id", "interval_end").select(
            pl.col("interval_end").diff().over("meter_id").dt.total_minutes()
            .alias("step")).filter(pl.col("step") > 0)["step"]
        step = int(steps.mode().min()) if steps.len() else None  # type: ignore[arg-type]
        typed = typed.with_columns(pl.col("interval_minutes").fill_null(step))
    return typed.drop("_ts_text", "_has_kwh", "_has_minutes")


def _cadence(typed: pl.DataFrame, path: Path, *, required: int | None) -> int:
    """The file's one interval length [min]; ``required`` refuses any other."""
    found = typed["interval_minutes"].drop_nulls().unique().sort().to_list()
    if len(found) != 1:
        raise InputError(
            f"holds {'no' if not found else 'mixed'} interval lengths {found} [min]",
            file=str(path), column="interval_minutes",
            fix="give one meter cadence per file (split the file by interval_minutes)")
    minutes = int(found[0])
    if required is not None and minutes != required:
        raise InputError(
            f"holds {minutes}-minute readings: the fault injection supports only "
            f"{required}-minute data for now", file=str(path), column="interval_minutes",
            fix=f"resample the file to {required} minutes (sum the energy of each "
                f"{required}-minute interval), or measure it as delivered with --clean")
    return minutes


def _window(typed: pl.DataFrame, minutes: int, days: int | None, path: Path, *,
            settings: Settings) -> tuple[date, date]:
    """First and last complete local day of the file, the last ``days`` of them.

    A day is complete when the file spans it from local midnight to midnight (intervals
    are labelled by their end: the interval ending at midnight belongs to the day before).
    """
    if days is not None and days < 1:
        raise ConfigError(f"days must be at least 1, got {days}",
                          fix="give --days N with N ≥ 1, or leave it out for every day")
    earliest, covered_to = typed.select(pl.col("interval_end").min().alias("a"),
                                        pl.col("interval_end").max().alias("b")).row(0)
    covered_from = earliest - timedelta(minutes=minutes)
    first = covered_from.astimezone(settings.tz).date()
    if day_bounds(first.isoformat(), settings)[0] < covered_from:
        first += timedelta(days=1)
    last = (covered_to - timedelta(microseconds=1)).astimezone(settings.tz).date()
    if day_bounds(last.isoformat(), settings)[1] > covered_to:
        last -= timedelta(days=1)
    if days is not None:
        first = max(first, last - timedelta(days=days - 1))
    if last < first:
        raise InputError(f"spans no complete local day in {settings.timezone} "
                         f"({covered_from:%Y-%m-%d %H:%M} – {covered_to:%Y-%m-%d %H:%M} UTC)",
                         file=str(path), fix="give a file that covers at least one local day "
                         "from midnight to midnight, or set AMI_TIMEZONE to the data's zone")
    return first, last


def _in_window(first: date, last: date, *, settings: Settings) -> pl.Expr:
    """Rows whose interval ends inside the local days ``first`` … ``last``."""
    start, end = day_bounds(first.isoformat(), settings)[0], day_bounds(last.isoformat(),
                                                                        settings)[1]
    return (pl.col("interval_end") > start) & (pl.col("interval_end") <= end)


def read_real_window(path: Path, *, days: int | None, settings: Settings,
                     required_minutes: int | None) -> tuple[pl.DataFrame, pl.DataFrame, DataWindow]:
    """A real readings file: its raw rows and its typed rows inside the window, and the window."""
    path = Path(path)
    raw = _read_raw(path)
    typed = _typed_readings(raw, path)
    if typed.height == 0:
        raise InputError("holds no readings", file=str(path),
                         fix="give a file with at least one day of readings")
    minutes = _cadence(typed, path, required=required_minutes)
    first, last = _window(typed, minutes, days, path, settings=settings)
    mask = typed.select(_in_window(first, last, settings=settings)).to_series()
    inside = typed.filter(mask)
    window = DataWindow(source=path.name, meters=inside["meter_id"].n_unique(),
                        first_day=first, last_day=last, rows=inside.height,
                        interval_minutes=minutes)
    return raw.filter(mask), inside, window


def _check_injectable(rows: pl.DataFrame, path: Path) -> None:
    """Refuse what a meters × intervals matrix cannot hold: off-grid, duplicate, negative."""
    fix = "clean the file first, or measure it as delivered with --clean"
    epoch_minutes = pl.col("interval_end").dt.epoch("s") // 60
    _first_bad(rows, epoch_minutes % INJECTION_MINUTES != 0, "interval_end",
               f"interval_end is off the {INJECTION_MINUTES}-minute grid", path=path, fix=fix)
    _first_bad(rows, pl.struct("meter_id", "interval_end").is_duplicated(), "interval_end",
               "the same meter and interval appear twice", path=path, fix=fix)
    _first_bad(rows, pl.col("kwh_import") < 0, "kwh_import", "kwh_import is negative",
               path=path, fix=fix)


def _true_matrix(rows: pl.DataFrame, meters: list[str], start: datetime, slots: int
                 ) -> np.ndarray:
    """Meters × intervals of real energy [kWh] from ``start`` on; NaN where the file has none."""
    index = pl.DataFrame({"meter_id": meters, "_i": np.arange(len(meters))})
    cells = rows.filter(pl.col("kwh_import").is_not_null()).join(index, on="meter_id").select(
        "_i", ((pl.col("interval_end") - start).dt.total_minutes() // INJECTION_MINUTES - 1)
        .alias("_k"), "kwh_import")
    true = np.full((len(meters), slots), np.nan)
    true[cells["_i"].to_numpy(), cells["_k"].to_numpy()] = cells["kwh_import"].to_numpy()
    return true


def _register_stand_in(true: np.ndarray) -> np.ndarray:
    """What the register counted [kWh]: the real value, or a stand-in for a real gap.

    The energy of a real gap is unknown; the register is assumed to have counted the
    straight line between the meter's neighbouring real values (flat at the window's ends).
    """
    n, slots = true.shape
    long = pl.DataFrame({"m": np.repeat(np.arange(n), slots), "v": true.ravel()}).select(
        pl.col("v").fill_nan(None).interpolate().forward_fill().backward_fill().over("m")
        .fill_null(0.0).round(3))
    return long["v"].to_numpy().reshape(n, slots)


def _real_meters_table(meters: list[str], since: datetime) -> pl.DataFrame:
    """Every meter a residential customer, ~25 a transformer; no capacity, solar or totals."""
    n = len(meters)
    n_tx = max(1, round(n / METERS_PER_TRANSFORMER))
    tx = np.arange(n) * n_tx // n
    return pl.DataFrame({
        "meter_id": meters, "customer_id": meters, "meter_role": MeterRole.CUSTOMER.value,
        "customer_group": CustomerGroup.RESIDENTIAL.value,
        "transformer_id": [f"RD-T{t + 1}" for t in tx], "feeder_id": "RD-F1",
        "branch_id": "RD", "dr_participant": False,
        "valid_from": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


def inject_real_readings(path: Path, landing: Path, truth: Path, *, days: int | None = None,
                         seed: int = 7, fault_share: float = 0.2,
                         settings: Settings) -> DataWindow:
    """Write a landing zone and truth from real readings with the generator's fault mix.

    Every local day of the window becomes a meters × 30-minute matrix of real energy (NaN
    = a real gap, which stays a gap); ``fault_share`` of the meters get the generator's
    faults (:func:`ami.province.plan_faults`), applied and rendered per day by the
    generator's code: readings as delivered, register reads at local midnight (what the
    register counted, with the generator's register semantics; a real gap counts its
    stand-in, see :func:`_register_stand_in`), clock-adjust events. The truth folder holds
    what :func:`score` reads; real gaps are ``fault_cells`` of kind ``real_gap``.
    """
    if not 0 <= fault_share <= 1:
        raise ConfigError(f"fault share must be between 0 and 1, got {fault_share}",
                          fix="give --fault-share as a share, e.g. 0.2")
    _, rows, window = read_real_window(Path(path), days=days, settings=settings,
                                       required_minutes=INJECTION_MINUTES)
    _check_injectable(rows, Path(path))
    tz = settings.tz
    meters = sorted(rows["meter_id"].unique().to_list())
    meter_ids = np.array(meters)
    n = len(meters)
    local_days = [window.first_day + timedelta(days=d) for d in range(window.days)]
    ends = [day_ends(day, INJECTION_MINUTES, tz) for day in local_days]
    start = day_bounds(window.first_day.isoformat(), settings)[0]
    true = _true_matrix(rows, meters, start, sum(map(len, ends)))
    counted = _register_stand_in(true)
    rng = np.random.default_rng([seed, 0])
    plan = plan_faults(rng.permutation(n)[: round(fault_share * n)].tolist(), window.days, rng)
    silent = never_reporting(meter_ids, plan)
    registers = np.round(np.random.default_rng([seed, 2]).uniform(1000, 50000, n), 3)
    no_export = np.full(n, np.nan)
    cells: list[tuple[str, datetime, str]] = []
    meter_days: list[tuple[str, date, str]] = []
    zero_runs: list[dict[str, object]] = []
    need = max(1, settings.zero_run_minutes // INJECTION_MINUTES)
    first_slot = 0
    for d, (day, day_end_list) in enumerate(zip(local_days, ends, strict=True)):
        columns = slice(first_slot, first_slot + len(day_end_list))
        first_slot += len(day_end_list)
        real, gap = true[:, columns], np.isnan(true[:, columns])
        faults = apply_faults(plan, d, counted[:, columns].copy(), present=~gap)
        name = f"{day.isoformat()}.csv"
        write_frame(delivered_readings(meter_ids, faults, ends=day_end_list,
                                       export=np.full(real.shape, np.nan)),
                    landing / f"readings_{name}", "csv")
        registers = advance_registers(registers, faults)
        write_frame(registers_frame(meter_ids, day, imports=registers, exports=no_export,
                                    silent=silent, tz=tz), landing / f"registers_{name}", "csv")
        write_frame(events_frame(fault_events(meter_ids, plan, d, day, tz)),
                    landing / f"events_{name}", "csv")
        day_cells, day_meter_days = fault_truth(meter_ids, faults, day, day_end_list)
        cells += day_cells + [(meter_ids[i], day_end_list[k], "real_gap")
                              for i, k in zip(*np.nonzero(gap), strict=True)]
        meter_days += day_meter_days
        # real zeros for hours (an empty home, supply off) are what zero_run reports
        rows_z, first_z, length_z = runs(np.nan_to_num(real, nan=1.0) == 0)
        zero_runs += [{"meter_id": meter_ids[i], "category": "real_zero_run",
                       "kind": "real_zero_run", "onset": day_end_list[f].isoformat(),
                       "end": day_end_list[f + n_z - 1].isoformat(), "params": "{}"}
                      for i, f, n_z in zip(rows_z, first_z, length_z, strict=True)
                      if n_z >= need]
        write_true_readings(meter_ids, day_end_list, true_import=real,
                            true_export=np.zeros(real.shape), registered=real,
                            target=truth / f"true_readings_{day.isoformat()}.parquet",
                            keep=~gap)
    write_frame(_real_meters_table(meters, start), landing / "meters.csv", "csv")
    write_injections(truth, fault_injections(meter_ids, plan, window.first_day, tz)
                     + zero_runs)
    write_frame(labels_frame(meter_ids, customer_group=[CustomerGroup.RESIDENTIAL.value] * n,
                             transformer_id=_real_meters_table(meters, start)["transformer_id"]
                             .to_numpy(), solar=np.zeros(n, dtype=bool),
                             marks=fault_marks(plan)), truth / "meters.parquet", "parquet")
    write_fault_truth(truth, cells, meter_days)
    return window


def evaluate_vee_readings(path: Path, *, days: int | None = None, seed: int = 7,
                          fault_share: float = 0.2, settings: Settings | None = None,
                          root: Path | None = None) -> VeeEvaluation:
    """Inject the generator's fault mix into real readings, run ingest + VEE, and score it.

    ``days``: the last N complete local days of the file (None: all of them).
    """
    with _workspace(root, settings) as (folder, run):
        window = inject_real_readings(Path(path), folder / "landing", folder / "truth",
                                      days=days, seed=seed, fault_share=fault_share,
                                      settings=run)
        _run_vee(run)
        result = score(folder / "truth", Warehouse.at(run.warehouse), settings=run)
        return replace(result, window=window)


def _table(warehouse: Warehouse, name: str) -> pl.DataFrame:
    """A silver table, or an empty one with its schema when nothing was written."""
    try:
        return warehouse.scan(name).collect()
    except FileNotFoundError:
        return pl.DataFrame(schema=schema_of(name).polars)


def clean_vee_readings(path: Path, *, days: int | None = None,
                       settings: Settings | None = None,
                       root: Path | None = None) -> CleanEvaluation:
    """Run ingest + VEE on a real readings file as delivered, and measure what VEE did.

    The file's rows of the last ``days`` complete local days (None: all) go unchanged into
    one landing readings file, with no meters file and no registers. Measured: rejected
    intervals (silver quarantine), the change of each meter-month's delivered energy,
    estimates against the intervals the file lacks, and every rule's findings per 1,000
    meter-days.
    """
    path = Path(path)
    with _workspace(root, settings) as (folder, run):
        raw, rows, window = read_real_window(path, days=days, settings=run,
                                             required_minutes=None)
        stem = f"readings_{window.first_day.isoformat()}_{window.last_day.isoformat()}"
        landing = folder / "landing"
        landing.mkdir(parents=True, exist_ok=True)
        if path.name.lower().endswith(".parquet"):
            raw.write_parquet(landing / f"{stem}.parquet")
        else:
            raw.write_csv(landing / f"{stem}.csv")
        _run_vee(run)
        return _measure_clean(Warehouse.at(run.warehouse), rows, window, settings=run)


def _measure_clean(warehouse: Warehouse, rows: pl.DataFrame, window: DataWindow, *,
                   settings: Settings) -> CleanEvaluation:
    """Compare silver with the delivered rows (see :func:`clean_vee_readings`)."""
    silver = _table(warehouse, "readings").select("meter_id", "interval_end", "kwh_import",
                                                  "quality")
    quarantine = _table(warehouse, "quarantine")
    findings = _table(warehouse, "findings")
    keys = ["meter_id", "interval_end"]
    delivered = rows.unique(keys, keep="first", maintain_order=True).select(
        *keys, pl.col("kwh_import").alias("delivered_kwh"))
    month = local_day("interval_end", settings).str.slice(0, 7).alias("month")
    sums = delivered.join(silver.select(*keys, pl.col("kwh_import").alias("silver_kwh")),
                          on=keys, how="left").group_by("meter_id", month).agg(
        pl.col("delivered_kwh").sum(), pl.col("silver_kwh").sum())
    difference = (pl.col("silver_kwh") - pl.col("delivered_kwh")).abs()
    meter_months = sums.with_columns(
        pl.when(pl.col("delivered_kwh") > 0).then(difference / pl.col("delivered_kwh"))
        .when(difference < 1e-6).then(0.0).otherwise(math.inf).alias("change"),
    ).sort("meter_id", "month")
    step = window.interval_minutes
    on_grid = delivered.filter(pl.col("interval_end").dt.epoch("s") // 60 % step == 0).height
    grid = window.meters * sum(len(day_ends(window.first_day + timedelta(days=d), step,
                                            settings.tz)) for d in range(window.days))
    estimated = silver.filter(pl.col("quality") == Quality.ESTIMATED)
    estimated_delivered = estimated.join(delivered, on=keys, how="semi").height
    meter_days = window.meters * window.days
    per_rule = findings.with_columns(local_day("first_interval_end", settings).alias("_day")) \
        .group_by("rule").agg(
            pl.len().alias("findings"),
            pl.struct("node_id", "_day").n_unique().alias("meter_days"),
            pl.col("n_intervals").cast(pl.Int64).sum().alias("intervals")) \
        .with_columns((pl.col("findings") * 1000 / meter_days).alias("per_1000_meter_days")) \
        .sort(["findings", "rule"], descending=[True, False])
    return CleanEvaluation(
        window=window, delivered=rows.height, rejected=quarantine.height,
        rejected_by_rule=quarantine.group_by("rule").agg(pl.len().alias("rows")).sort("rule"),
        meter_months=meter_months, missing_in_file=grid - on_grid,
        estimated=estimated.height, estimated_missing=estimated.height - estimated_delivered,
        estimated_delivered=estimated_delivered,
        left_missing=silver.filter(pl.col("quality") == Quality.MISSING).height, rules=per_rule)
