"""Evaluation of VEE on a synthetic province whose truth lists every injected fault.

For each validation rule: precision and recall against the injected faults it should
find, on the unit the rule judges (an interval, a meter-day or a meter). For estimation:
the error of estimated intervals against what the meter would have reported (MAE and
bias), next to a naive baseline (carry the last real value forward). And a check that
theft is not "repaired": no measured zero of a bypassed meter is replaced.

    ami vee evaluate [--meters 500 --days 21 --seed 7 --fault-share 0.2]
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import polars as pl

from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from pipelines.ingest import ingest_landing
from quality.days import local_day
from quality.meters import build_meters
from quality.vee import vee_pending
from warehouse import Warehouse

#: rule → (unit, truth kinds, finding rules that count). Units: cell (meter × interval),
#: day (meter × local day), meter. Truth kinds are those of ``truth/fault_cells`` (cells),
#: ``fault_days`` plus theft days (days) and the meter labels (meters).
RULE_TRUTH: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # a whole day lost is reported once per meter-day, not interval by interval
    "missing_interval": ("cell", ("gaps",), ("missing_interval", "no_readings_day")),
    # a spike beyond what the contracted capacity allows is caught as absurd first
    "spike": ("cell", ("spikes",), ("spike", "absurd_value")),
    "negative_value": ("cell", ("negative",), ("negative_value",)),
    "off_grid_timestamp": ("cell", ("off_grid",), ("off_grid_timestamp",)),
    "duplicate_equal": ("cell", ("duplicate_equal",), ("duplicate_equal",)),
    "duplicate_conflicting": ("cell", ("duplicate_conflicting",), ("duplicate_conflicting",)),
    # a flat line is a flat line: a stuck register or a flattened (h5) theft profile
    "flat_line": ("day", ("stuck", "flattened"), ("flat_line",)),
    "multiplier_jump": ("day", ("multiplier",), ("multiplier_jump",)),
    "reverse_energy": ("day", ("reverse_energy",), ("reverse_energy",)),
    "register_mismatch": ("day", ("register_jump",), ("register_mismatch",)),
    "clock_adjusted": ("day", ("clock_offset_end",), ("clock_adjusted",)),
    "never_reporting": ("meter", ("never_reporting",), ("never_reporting",)),
    "zero_run": ("meter", ("full_bypass", "partial_bypass", "outage"), ("zero_run",)),
}

#: Meters whose clock runs ahead shift intervals across the grid and across midnight;
#: their gaps are judged by ``clock_adjusted``, not by ``missing_interval``.
CELL_EXCLUDED_KINDS = ("clock_offset", "never_reporting")

DEFAULT_SPEC = ProvinceSpec(meters=500, days=21, seed=7, fault_share=0.2,
                            start=date(2026, 9, 1), file_format="csv")


@dataclass(frozen=True)
class VeeEvaluation:
    """Per-rule precision/recall, estimation error, and the theft check."""

    rules: pl.DataFrame        # rule, unit, truth, flagged, hits, precision, recall
    estimation: pl.DataFrame   # method, n, mae_kwh, bias_kwh, baseline_mae_kwh, …
    theft_zeros_estimated: int
    theft_zeros: int


def evaluate_vee(spec: ProvinceSpec = DEFAULT_SPEC, *, root: Path | None = None,
                 settings: Settings | None = None) -> VeeEvaluation:
    """Generate ``spec``, run ingest + VEE on it, and score the findings and estimates."""
    own = root is None
    folder = Path(tempfile.mkdtemp(prefix="ami-vee-eval-")) if root is None else Path(root)
    try:
        base = settings or Settings()
        run = base.model_copy(update={
            "data_dir": folder, "landing": str(folder / "landing"),
            "warehouse": str(folder / "warehouse"), "truth_dir": folder / "truth"})
        generate_province(replace(spec, write_true_readings=True), folder / "landing",
                          folder / "truth")
        ingest_landing(run.landing, settings=run)
        build_meters(settings=run)
        vee_pending(settings=run)
        return score(folder / "truth", Warehouse.at(run.warehouse), settings=run)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def score(truth: Path, warehouse: Warehouse, *, settings: Settings) -> VeeEvaluation:
    """Score the warehouse's findings and estimates against the generator's truth."""
    findings = warehouse.scan("findings").collect()
    labels = pl.read_parquet(truth / "meters.parquet")
    injections = pl.read_csv(truth / "injections.csv", infer_schema=False)
    cells = pl.read_parquet(truth / "fault_cells.parquet")
    days = pl.read_parquet(truth / "fault_days.parquet").with_columns(
        pl.col("date").cast(pl.String))
    excluded = labels.filter(pl.col("label").is_in(CELL_EXCLUDED_KINDS))["meter_id"]
    truth_sets = _truth_units(cells, days, labels, injections, settings=settings)
    rows = []
    for rule, (unit, kinds, counted) in RULE_TRUTH.items():
        flagged = _flagged_units(findings.filter(pl.col("rule").is_in(counted)), unit,
                                 settings=settings)
        expected = truth_sets.filter((pl.col("unit") == unit) & pl.col("kind").is_in(kinds)) \
            .select("key").unique()
        if unit == "cell":
            flagged = flagged.filter(~pl.col("meter_id").is_in(excluded.implode()))
        flagged_keys = flagged.select("key").unique()
        hits = flagged_keys.join(expected, on="key").height
        rows.append({
            "rule": rule, "unit": unit, "truth": expected.height, "flagged": flagged_keys.height,
            "hits": hits,
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
    return pl.concat([
        cells.select(pl.lit("cell").alias("unit"), "kind", _key("cell").alias("key")),
        pl.concat([days.select("meter_id", "date", "kind"),
                   clock_end.select("meter_id", "date", "kind"),
                   theft_days.select("meter_id", "date", "kind")]).select(
            pl.lit("day").alias("unit"), "kind", _key("day").alias("key")),
        pl.concat([zero_theft, long_outages, never]).select(
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
        pl.when(pl.col("quality") == "measured").then(pl.col("kwh_import"))
        .forward_fill().over("meter_id").alias("_carried"),
        pl.when(pl.col("quality") == "measured").then(pl.col("kwh_import"))
        .backward_fill().over("meter_id").alias("_next"),
    )
    estimated = ordered.filter(pl.col("quality") == "estimated").join(
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
            theft_cells.filter(pl.col("quality") == "estimated").height, theft_cells.height)
