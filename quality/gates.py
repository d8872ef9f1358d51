"""Great Expectations gates at the silver and gold layer boundaries, with Data Docs.

Two gates, each a pair of GX suites defined in code (``suites``):

* ``silver_readings`` — one local day of silver readings: exactly the contract's columns
  (``quality.vee.SILVER_READINGS_SCHEMA``) and their types, (meter_id, interval_end)
  unique, keys and quality present, interval_minutes in {5, 10, 15, 30, 60},
  kwh_import / kwh_export ≥ 0 and below ``MAX_KWH_PER_INTERVAL``, quality in
  {measured, estimated, edited, missing}, a rule named on every value that is not plain
  measured, and a value on every interval that is not missing.
* ``gold_meter_day`` — one day of gold meter-day energy: exactly the columns that
  ``models.balances.meter_day`` writes and their types, one row per meter,
  non-negative energies below ``MAX_KWH_PER_DAY``, non-negative counts, n_intervals in
  1…288 and measured_share in [0, 1].

Each gate validates two batches, because GX has no Polars engine and a province day is
too big to hand over whole (14.6 million silver rows took 13.6 s and 3.9 GB in GX on
pandas):

1. **Rows** (suite ``<gate>``): the partition as pandas, whole when it has at most
   ``FULL_ROWS_LIMIT`` rows (every gold day, small silver days), otherwise all rows of
   a seeded 2 % of meters (``meter_id`` hashed with ``SAMPLE_SEED``: the same meters
   every day for a given Polars version) plus up to ``FLAGGED_ROWS_CAP`` rows that the
   whole-table scan flagged, so that the Data Docs show real offending values even when
   they lie outside the sample.
2. **Totals** (suite ``<gate>_totals``): whole-table facts computed by Polars — one
   streaming pass counting the rows that break each row-level rule (``_Layer.checks``),
   one over sorted key hashes for duplicate keys — plus row count and schema
   mismatches, handed to GX as a one-row table, each fact validated by its own
   expectation (``== 0``). Nothing is left unchecked by the sample. The gold count
   identity n_measured + n_estimated + n_edited + n_missing == n_intervals lives here,
   as GX has no column-arithmetic expectation for pandas.
   Silver completeness (share of ``missing`` intervals at most 1 −
   ``completeness_threshold``) is a warning-level expectation on the exact share of the
   whole day, and never blocks.

Measured on 2026-10-01 of a 300,000-meter synthetic province (14.64 million silver
rows; a 2-CPU machine shared with other work): ``check_silver_day`` takes 1.7–3.1 s
(Polars scan ~1.0 s, sample 0.2 s, GX and Data Docs ~1.3 s) and the process peaks at
0.96 GB, 0.35 GB of which is the imports; a day with duplicates, a negative value and
an unknown quality takes 3.4 s and 0.87 GB; ``check_gold_day`` (305,000 rows, whole)
1.0–1.4 s and 0.55 GB. Importing this module costs ~8 s once per process (GX ~6 s).

The Checkpoints run in ``quality.gx_run``; the Data Docs (a site that reads offline, one
page per validation, the failing one in ``GateResult.docs_path``) are ``quality.data_docs``.

Decision (``GateResult.decision``): ``pass`` when every expectation holds; ``warn`` when
only warning-level ones fail, or error-level ones fail under policy ``warn``
(``settings.gx_silver_gate`` / ``gx_gold_gate``); ``block`` when error-level ones fail
under policy ``block`` — then ``QualityGateError`` is raised. Every result is also
written to ``<warehouse>/_state/gx/<suite>/<day>.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import reduce
from operator import add, or_
from pathlib import Path
from typing import Any, Literal

import great_expectations as gx
import great_expectations.expectations as gxe
import polars as pl
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.row_conditions import Column

from ami.errors import NoDataError, QualityGateError
from ami.settings import Settings
from ami.vocabulary import Quality, texts
from quality.gx_run import FailedExpectation, run_checkpoints
from quality.intake import VALID_INTERVALS
from quality.vee import SILVER_READINGS_SCHEMA
from warehouse import Warehouse
from warehouse.schemas import schema_of
from warehouse.state import write_json

__all__ = [
    "GOLD_SUITE",
    "SILVER_SUITE",
    "GateResult",
    "check_gold_day",
    "check_gold_days",
    "check_silver_day",
    "check_silver_days",
    "suites",
]

logger = logging.getLogger(__name__)

SILVER_SUITE = "silver_readings"
GOLD_SUITE = "gold_meter_day"
TOTALS = "_totals"

QUALITY_VALUES = texts(Quality)

#: Sanity ceiling of any single meter in a provincial distribution network: 100 MW,
#: the order of a whole 110 kV substation. Above it a value is corrupt (unit or scale).
MAX_KW = 100_000.0
#: Interval energy ceiling [kWh]: MAX_KW over the longest interval (60 min).
MAX_KWH_PER_INTERVAL = MAX_KW * 1.0
#: Meter-day energy ceiling [kWh]: MAX_KW over 24 h.
MAX_KWH_PER_DAY = MAX_KW * 24.0
#: Most intervals a meter can have in a day (5-minute profile).
MAX_INTERVALS_PER_DAY = 1440 // min(VALID_INTERVALS)

#: Partitions up to this many rows go to GX whole; bigger ones are sampled by meter.
FULL_ROWS_LIMIT = 1_000_000
#: 1 in SAMPLE_MODULUS meters (2 %) is validated row by row on a sampled day.
SAMPLE_MODULUS = 50
SAMPLE_SEED = 20_261_001
#: Rows flagged by the whole-table scan that are added to the sample for Data Docs.
FLAGGED_ROWS_CAP = 1_000

Decision = Literal["pass", "warn", "block"]


@dataclass(frozen=True)
class GateResult:
    """Outcome of one gate on one day.

    ``success`` is GX's verdict (every expectation held); ``decision`` is the gate's
    (``pass`` / ``warn`` / ``block``). ``docs_path`` is the Data Docs page to open first
    (the failing validation, else the row-level one); ``docs_pages`` are all pages of
    this run. ``rows_validated`` < ``rows`` when the row-level suite saw a sample.
    """

    suite: str
    day: str
    success: bool
    decision: Decision
    failed: tuple[FailedExpectation, ...]
    docs_path: Path
    docs_pages: tuple[Path, ...]
    rows: int
    rows_validated: int
    run_time: str


@dataclass(frozen=True)
class _Layer:
    """What one gate reads and the row-level rules its whole-table scan counts."""

    suite: str
    table: str
    schema: Mapping[str, pl.DataType]
    keys: tuple[str, ...]
    checks: Callable[[set[str]], dict[str, pl.Expr]]
    policy: Callable[[Settings], str]
    setting: str
    producer: str


def _silver_checks(_columns: set[str]) -> dict[str, pl.Expr]:
    """Rows breaking each silver rule (true = broken); null counts as broken if unknown."""
    imp, exp, quality = pl.col("kwh_import"), pl.col("kwh_export"), pl.col("quality")
    return {
        "null_keys": pl.col("meter_id").is_null() | pl.col("interval_end").is_null(),
        "bad_interval_minutes": ~pl.col("interval_minutes").is_in(VALID_INTERVALS)
        .fill_null(value=False),
        "negative_kwh": (imp < 0).fill_null(value=False) | (exp < 0).fill_null(value=False),
        "kwh_above_bound": (imp > MAX_KWH_PER_INTERVAL).fill_null(value=False)
        | (exp > MAX_KWH_PER_INTERVAL).fill_null(value=False),
        "unknown_quality": ~quality.is_in(QUALITY_VALUES).fill_null(value=False),
        "rule_missing": ((quality != Quality.MEASURED) & pl.col("rule").is_null())
        .fill_null(value=False),
        "kwh_import_missing": ((quality != Quality.MISSING) & imp.is_null())
        .fill_null(value=False),
    }


GOLD_COUNTS = ("n_intervals", "n_measured", "n_estimated", "n_edited", "n_missing")


def _gold_checks(columns: set[str]) -> dict[str, pl.Expr]:
    """Rows breaking each gold rule; absent count columns are left out of the identity."""
    parts = [c for c in ("n_measured", "n_estimated", "n_edited", "n_missing") if c in columns]
    accounted = reduce(add, [pl.col(c) for c in parts], pl.lit(0))
    share = pl.col("measured_share")
    return {
        "null_keys": pl.col("meter_id").is_null(),
        "negative_kwh": (pl.col("kwh_import") < 0).fill_null(value=False)
        | (pl.col("kwh_export") < 0).fill_null(value=False),
        "kwh_above_bound": (pl.col("kwh_import") > MAX_KWH_PER_DAY).fill_null(value=False)
        | (pl.col("kwh_export") > MAX_KWH_PER_DAY).fill_null(value=False),
        "bad_counts": reduce(or_, [
            (pl.col(c) < 0).fill_null(value=True) for c in GOLD_COUNTS if c in columns
        ], ~pl.col("n_intervals").is_between(1, MAX_INTERVALS_PER_DAY).fill_null(value=False)),
        "counts_mismatch": (accounted != pl.col("n_intervals")).fill_null(value=True),
        "measured_share_out_of_range": ~share.is_between(0.0, 1.0).fill_null(value=False),
    }


GOLD_METER_DAY_SCHEMA = schema_of("meter_day").polars

SILVER = _Layer(
    suite=SILVER_SUITE, table="readings",
    schema=dict(pl.Schema(SILVER_READINGS_SCHEMA)),
    keys=("meter_id", "interval_end"), checks=_silver_checks,
    policy=lambda settings: settings.gx_silver_gate, setting="AMI_GX_SILVER_GATE",
    producer="VEE (silver readings)",
)
GOLD = _Layer(
    suite=GOLD_SUITE, table="meter_day", schema=GOLD_METER_DAY_SCHEMA,
    keys=("meter_id",), checks=_gold_checks,
    policy=lambda settings: settings.gx_gold_gate, setting="AMI_GX_GOLD_GATE",
    producer="the gold build (models.balances.build_day)",
)


# --- suites --------------------------------------------------------------------------

def _pandas_dtypes(schema: Mapping[str, pl.DataType]) -> dict[str, str]:
    """Pandas dtype names that ``DataFrame.to_pandas`` gives these Polars types."""
    empty = pl.DataFrame(schema=dict(schema)).to_pandas()
    return {name: str(dtype) for name, dtype in empty.dtypes.items()}


def _schema_expectations(layer: _Layer) -> list[gxe.Expectation]:
    columns = list(layer.schema)
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=columns, exact_match=True,
            description="Columns are exactly " + ", ".join(columns)),
        *[gxe.ExpectColumnTypeToBe(column=column, type_=dtype)
          for column, dtype in _pandas_dtypes(layer.schema).items()],
    ]


#: What each whole-table count means, for the Data Docs.
FACTS = {
    "schema_mismatches": "columns missing, of another type or unexpected",
    "duplicate_keys": "rows repeating another row's key",
    "null_keys": "rows with an empty key",
    "bad_interval_minutes": "rows whose interval_minutes is not 5, 10, 15, 30 or 60",
    "negative_kwh": "rows with a negative kwh_import or kwh_export",
    "kwh_above_bound": "rows with kwh_import or kwh_export above the sanity ceiling",
    "unknown_quality": "rows whose quality is not measured, estimated, edited or missing",
    "rule_missing": "rows not plain measured whose rule is empty",
    "kwh_import_missing": "rows not missing whose kwh_import is empty",
    "bad_counts": "rows with a negative count or n_intervals outside 1 … 288",
    "counts_mismatch": "rows where n_measured + n_estimated (+ n_edited) + n_missing "
                       "≠ n_intervals",
    "measured_share_out_of_range": "rows whose measured_share is outside [0, 1]",
}


def _totals_suite(layer: _Layer, warnings_: list[gxe.Expectation]) -> gx.ExpectationSuite:
    """Whole-table facts: at least one row, and zero rows breaking each rule."""
    counts = ["schema_mismatches", "duplicate_keys", *layer.checks(set(layer.schema))]
    return gx.ExpectationSuite(name=layer.suite + TOTALS, expectations=[
        gxe.ExpectColumnMinToBeBetween(
            column="rows", min_value=1, description="The partition has rows (whole table)"),
        *[gxe.ExpectColumnMaxToBeBetween(
            column=name, max_value=0,
            description=f"No {FACTS.get(name, name)} (whole table, count must be 0)")
          for name in counts],
        *warnings_,
    ])


def suites(*, settings: Settings) -> dict[str, gx.ExpectationSuite]:
    """The gates' four GX suites by name: rows and whole-table totals per layer."""
    # plain text: GX stores the condition in the suite it saves
    measured = Column("quality") != Quality.MEASURED.value
    not_missing = Column("quality") != Quality.MISSING.value
    max_missing_share = round(1.0 - settings.completeness_threshold, 9)
    silver = gx.ExpectationSuite(name=SILVER_SUITE, expectations=[
        *_schema_expectations(SILVER),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["meter_id", "interval_end"],
            description="One value per meter and interval (meter_id, interval_end unique)"),
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, description=f"{c} is never empty")
          for c in ("meter_id", "interval_end", "interval_minutes", "quality")],
        gxe.ExpectColumnValuesToBeInSet(
            column="interval_minutes", value_set=list(VALID_INTERVALS),
            description="interval_minutes is one of 5, 10, 15, 30, 60"),
        *[gxe.ExpectColumnValuesToBeBetween(
            column=c, min_value=0.0, max_value=MAX_KWH_PER_INTERVAL,
            description=f"{c} is ≥ 0 and ≤ {MAX_KWH_PER_INTERVAL:,.0f} kWh per interval "
            "(empty allowed)") for c in ("kwh_import", "kwh_export")],
        gxe.ExpectColumnValuesToBeInSet(
            column="quality", value_set=list(QUALITY_VALUES),
            description="quality is one of " + ", ".join(QUALITY_VALUES)),
        gxe.ExpectColumnValuesToNotBeNull(
            column="rule", row_condition=measured,
            description="Every value that is not plain measured names its rule"),
        gxe.ExpectColumnValuesToNotBeNull(
            column="kwh_import", row_condition=not_missing,
            description="Every interval that is not missing has a kwh_import value"),
    ])
    gold = gx.ExpectationSuite(name=GOLD_SUITE, expectations=[
        *_schema_expectations(GOLD),
        gxe.ExpectColumnValuesToBeUnique(
            column="meter_id", description="One row per meter and day (meter_id unique)"),
        gxe.ExpectColumnValuesToNotBeNull(column="meter_id", description="meter_id is never "
                                          "empty"),
        *[gxe.ExpectColumnValuesToBeBetween(
            column=c, min_value=0.0, max_value=MAX_KWH_PER_DAY,
            description=f"{c} is ≥ 0 and ≤ {MAX_KWH_PER_DAY:,.0f} kWh per day")
          for c in ("kwh_import", "kwh_export")],
        *[gxe.ExpectColumnValuesToBeBetween(
            column=c, min_value=0, description=f"{c} is ≥ 0") for c in GOLD_COUNTS[1:]],
        gxe.ExpectColumnValuesToBeBetween(
            column="n_intervals", min_value=1, max_value=MAX_INTERVALS_PER_DAY,
            description=f"n_intervals is 1 … {MAX_INTERVALS_PER_DAY}"),
        gxe.ExpectColumnValuesToBeBetween(
            column="measured_share", min_value=0.0, max_value=1.0,
            description="measured_share is within [0, 1]"),
    ])
    completeness = gxe.ExpectColumnMaxToBeBetween(
        column="missing_share", max_value=max_missing_share, severity=FailureSeverity.WARNING,
        description=f"At most {max_missing_share:.1%} of the intervals are missing "
        f"(completeness ≥ {settings.completeness_threshold:.0%}; warning, never blocks)")
    return {
        SILVER_SUITE: silver,
        SILVER_SUITE + TOTALS: _totals_suite(SILVER, [completeness]),
        GOLD_SUITE: gold,
        GOLD_SUITE + TOTALS: _totals_suite(GOLD, []),
    }


# --- whole-table facts (Polars) ------------------------------------------------------

def _duplicated_keys(frame: pl.LazyFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """Keys held by more than one row, with their row count ``len``; exact.

    A sorted column of 64-bit key hashes finds the candidates in a fraction of the time
    and memory of grouping the keys themselves (0.4 s and 0.35 GB for 14.6 million
    readings); only rows whose hash repeats (duplicates, and the rare collision) are
    then grouped by their real key.
    """
    hashed = pl.struct(keys).hash(seed=SAMPLE_SEED).alias("_key_hash")
    hashes = frame.select(hashed).collect(engine="streaming").to_series().sort()
    repeated = hashes.filter(hashes == hashes.shift(1)).unique()
    return (frame.select(*keys, hashed).filter(pl.col("_key_hash").is_in(repeated))
            .group_by(keys).len().filter(pl.col("len") > 1).collect())


@dataclass(frozen=True)
class _Scan:
    """Whole-table facts, the rules that could be evaluated, keys held by several rows."""

    facts: dict[str, Any]
    usable: dict[str, pl.Expr]
    duplicated: pl.DataFrame | None
    columns: frozenset[str]


def _scan(frame: pl.LazyFrame, layer: _Layer, columns: Mapping[str, pl.DataType]) -> _Scan:
    """Whole-table facts: one streaming pass for the rule counts, one for duplicate keys.

    A rule whose columns are absent counts every row as breaking it, and so do duplicate
    keys when a key column is absent: nothing is passed unchecked.
    """
    present = set(columns)
    mismatches = sum(columns.get(name) != dtype for name, dtype in layer.schema.items())
    mismatches += len(present - set(layer.schema))
    checks = layer.checks(present)
    usable = {name: expr for name, expr in checks.items()
              if set(expr.meta.root_names()) <= present}
    exprs = [pl.len().alias("rows"), *[expr.sum().alias(n) for n, expr in usable.items()]]
    if "quality" in present:
        exprs.append((pl.col("quality") == Quality.MISSING).mean().alias("missing_share"))
    row = frame.select(exprs).collect(engine="streaming").row(0, named=True)
    rows = int(row["rows"])
    duplicated = _duplicated_keys(frame, layer.keys) if set(layer.keys) <= present else None
    facts: dict[str, Any] = {
        "rows": rows, "schema_mismatches": int(mismatches),
        "duplicate_keys": rows if duplicated is None else int((duplicated["len"] - 1).sum()),
    }
    facts |= {name: int(row[name]) if name in usable else rows for name in checks}
    if layer is SILVER:
        facts["missing_share"] = row.get("missing_share")
    return _Scan(facts, usable, duplicated, frozenset(present))


def _rows_for_gx(frame: pl.LazyFrame, layer: _Layer, scan: _Scan) -> tuple[pl.DataFrame, bool]:
    """The rows GX validates row by row, and whether they are a sample."""
    if scan.facts["rows"] <= FULL_ROWS_LIMIT:
        return frame.collect(), False
    # whole meters, so that a meter's day reads whole in the docs; 2 % of rows if the
    # meter_id column itself is missing
    key = pl.col("meter_id") if "meter_id" in scan.columns else pl.int_range(pl.len())
    sampled = (key.hash(seed=SAMPLE_SEED) % SAMPLE_MODULUS == 0).fill_null(value=False)
    parts = [frame.filter(sampled)]
    flags = [expr for name, expr in scan.usable.items() if scan.facts[name]]
    if scan.duplicated is not None and scan.duplicated.height:
        frame = frame.join(scan.duplicated.lazy().select(*layer.keys, _dup=pl.lit(value=True)),
                           on=list(layer.keys), how="left")
        flags.append(pl.col("_dup").fill_null(value=False))
    if flags:
        parts.append(frame.filter(~sampled & reduce(or_, flags)).head(FLAGGED_ROWS_CAP)
                     .select(parts[0].collect_schema().names()))
    return pl.concat(pl.collect_all(parts)), True


# --- deciding ------------------------------------------------------------------------

def _message(result: GateResult, layer: _Layer) -> tuple[str, str]:
    errors = [f for f in result.failed if f.severity == "error"]
    listed = "; ".join(f"{f.expectation}: {f.observed}" for f in errors[:6])
    more = f"; and {len(errors) - 6} more" if len(errors) > 6 else ""
    message = (f"quality gate {result.suite} blocked {result.day}: {len(errors)} "
               f"expectation(s) failed — {listed}{more}. Data Docs: {result.docs_path}")
    fix = (f"open the Data Docs page, correct the delivered data or {layer.producer} and "
           f"rebuild {result.day}; to let such days through with a warning set "
           f"{layer.setting}=warn")
    return message, fix


def _check(layer: _Layer, days: list[str], *, settings: Settings) -> list[GateResult]:
    warehouse = Warehouse.at(settings.warehouse)
    present = set(warehouse.partitions(layer.table, "date"))
    prepared = []
    for day in days:
        if day not in present:
            step = "VEE" if layer is SILVER else "the gold build"
            raise NoDataError(f"no {layer.table} partition for {day} to validate "
                              f"({warehouse.partition_dir(layer.table, {'date': day})})",
                              fix=f"run {step} for {day} first, or check the date")
        frame = warehouse.scan(layer.table, date=day).drop("date")
        scan = _scan(frame, layer, dict(frame.collect_schema()))
        rows, sampled = _rows_for_gx(frame, layer, scan)
        prepared.append((day, scan.facts, rows, sampled))
    outcomes = run_checkpoints(layer.table, suites(settings=settings).values(), [
        (day, [(layer.suite, f"{layer.table}_sample" if sampled else layer.table,
                rows.to_pandas()),
               (layer.suite + TOTALS, f"{layer.table}_totals",
                pl.DataFrame([facts]).to_pandas())])
        for day, facts, rows, sampled in prepared], settings=settings)
    results, blocked = [], []
    for day, facts, rows, sampled in prepared:
        failed, pages, run_time = outcomes[day]
        errors = [f for f in failed if f.severity == "error"]
        decision: Decision = "pass"
        if errors and layer.policy(settings) == "block":
            decision = "block"
        elif failed:
            decision = "warn"
        first_failed = next((page for page, ok in pages if not ok), pages[0][0])
        result = GateResult(
            suite=layer.suite, day=day, success=not failed, decision=decision,
            failed=tuple(failed), docs_path=first_failed,
            docs_pages=tuple(page for page, _ in pages), rows=facts["rows"],
            rows_validated=rows.height, run_time=run_time,
        )
        record = asdict(result) | {"docs_path": str(result.docs_path),
                                   "docs_pages": [str(p) for p in result.docs_pages],
                                   "facts": facts, "sampled": sampled}
        write_json(warehouse, f"gx/{layer.suite}/{day}.json", record)
        results.append(result)
        if decision == "block":
            blocked.append(result)
        elif failed:
            logger.warning("quality gate %s %s: %s (%d failed); Data Docs: %s", layer.suite,
                           day, decision, len(failed), result.docs_path)
    if blocked:  # every day was validated and recorded; the first blocked one is told
        message, fix = _message(blocked[0], layer)
        if len(blocked) > 1:
            message += f" (and {len(blocked) - 1} more day(s) blocked)"
        raise QualityGateError(message, suite=layer.suite, day=blocked[0].day,
                               docs_path=str(blocked[0].docs_path), fix=fix)
    return results


def check_silver_day(day: str, *, settings: Settings) -> GateResult:
    """Validate the silver readings of one local day (YYYY-MM-DD); block or warn.

    Raises:
        QualityGateError: an error-level expectation failed and ``gx_silver_gate`` is
            ``block``.
        NoDataError: the day has no silver readings partition.

    """
    return _check(SILVER, [day], settings=settings)[0]


def check_gold_day(day: str, *, settings: Settings) -> GateResult:
    """Validate the gold meter-day energy of one local day (YYYY-MM-DD); block or warn.

    Raises:
        QualityGateError: an error-level expectation failed and ``gx_gold_gate`` is
            ``block``.
        NoDataError: the day has no gold meter_day partition.

    """
    return _check(GOLD, [day], settings=settings)[0]


def check_silver_days(days: list[str], *, settings: Settings) -> list[GateResult]:
    """``check_silver_day`` for many days with one Data Docs rebuild (a backfill)."""
    return _check(SILVER, list(days), settings=settings) if days else []


def check_gold_days(days: list[str], *, settings: Settings) -> list[GateResult]:
    """``check_gold_day`` for many days with one Data Docs rebuild (a backfill)."""
    return _check(GOLD, list(days), settings=settings) if days else []

