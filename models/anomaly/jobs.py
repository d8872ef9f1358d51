"""Run the anomaly scorer on files (the CLI contract) or on the warehouse (the DAG)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from ami.errors import InputError, NoDataError
from ami.instants import HINT, instant, problem
from ami.settings import Settings
from ami.vocabulary import Finding
from models.anomaly.bins import day_bins
from models.anomaly.channels import read_events, read_registers
from models.anomaly.evidence import with_evidence
from models.anomaly.history import HISTORY_MAX_DAYS, METERS_PER_BLOCK, change_signals
from models.anomaly.inspections import read_inspections
from models.anomaly.notes import note_unlisted_meters
from models.anomaly.readings import (
    Window,
    local_midnight,
    normalise_readings,
    topology_digest,
    topology_on,
)
from models.anomaly.scorer import score_meters, score_signals
from models.anomaly.signals import history_days, signals_from_bins
from pipelines.filedrop.profiles import load_profiles
from pipelines.filedrop.reader import profile_of, write_canonical
from quality.meters import parse_meters
from quality.parse import number, read_table
from warehouse import (
    Warehouse,
    is_stale,
    partition_meta,
    source,
    write_partition,
    write_table,
)


def _readings_from_file(path: Path, settings: Settings, workdir: Path) -> pl.LazyFrame:
    """Canonical readings from a CSV or Parquet file, typed lazily; bad rows named.

    The file is read by the landing zone's reader, so any source profile works (the
    Vietnamese vendor export as well as the canonical columns); a canonical CSV or a
    Parquet file is scanned, not loaded, and a data set of a hundred million rows streams
    through the scoring (other files are first streamed to Parquet in ``workdir``).
    ``interval_end`` is any ISO 8601 instant (:mod:`ami.instants`); one written without a
    zone (as many public data sets are) is read as local time (``settings.timezone``).
    """
    if not path.exists():
        raise InputError("the readings file does not exist", file=str(path),
                         fix="check the path")
    profile = profile_of(path, "readings", load_profiles(settings.source_profiles_dir))
    if profile == "parquet":
        lf = pl.scan_parquet(path)
    elif profile == "canonical" and path.suffix.lower() == ".csv":
        lf = pl.scan_csv(path, infer_schema=False).with_row_index("_row", offset=1)
    else:
        write_canonical(path, "readings", workdir,
                        profiles=load_profiles(settings.source_profiles_dir),
                        default_minutes=settings.interval_minutes)
        lf = pl.scan_parquet(workdir / "*.parquet", missing_columns="insert")
    schema = lf.collect_schema()
    for column in ("meter_id", "interval_end", "kwh_import"):
        if column not in schema:
            raise InputError(
                f"missing column {column!r}",
                file=str(path),
                row=1,
                column=column,
                fix="give canonical readings: meter_id, interval_end, kwh_import "
                "(+ interval_minutes, kwh_export)",
            )
    if "_invalid" in schema:
        malformed = lf.filter(pl.col("_invalid").is_not_null()).select("_row", "_invalid") \
            .head(1).collect()
        if malformed.height:
            raise InputError(str(malformed["_invalid"][0]), file=str(path),
                             row=int(malformed["_row"][0]))
    parsed = instant("interval_end", zone=settings.timezone)
    numbered = lf if "_row" in schema else lf.with_row_index("_row", offset=1)
    bad = numbered.filter(parsed.is_null() & pl.col("interval_end").is_not_null()) \
        .select("_row", pl.col("interval_end").cast(pl.String)).head(1) \
        .collect(engine="streaming")
    if bad.height:
        raise InputError(
            f"interval_end {problem(bad['interval_end'][0])}",
            file=str(path),
            row=int(bad["_row"][0]),
            column="interval_end",
            fix=f"{HINT} (or a local time without zone, read in {settings.timezone})",
        )
    # Numbers that do not parse are missing values; a missing interval_minutes is inferred
    # per meter from its readings' steps (readings.py).
    numeric = [c for c in ("kwh_import", "kwh_export", "interval_minutes")
               if c in schema and schema[c] == pl.String]
    return lf.with_columns(number(c) for c in numeric).with_columns(parsed)


def score_files(
    readings: Path,
    meters: Path | None,
    labels: Path | None,
    *,
    settings: Settings,
    events: Path | None = None,
    registers: Path | None = None,
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """``ami anomalies score``: read the files, return one scored row per meter.

    Optional enrichments that do not cover the window (no tariff in force, events or
    register reads outside it, meters the meters table does not list, too few inspection
    outcomes) are left out with one line each in ``notes`` (``score_meters``); a file that
    cannot be read or lacks a required column still raises ``InputError``.
    """
    with tempfile.TemporaryDirectory(prefix="ami-readings-") as workdir:
        return _score_files(readings, meters, labels, settings=settings, events=events,
                            registers=registers, notes=notes, workdir=Path(workdir))


def _score_files(readings: Path, meters: Path | None, labels: Path | None, *,
                 settings: Settings, events: Path | None, registers: Path | None,
                 notes: list[str] | None, workdir: Path) -> pl.DataFrame:
    lazy = _readings_from_file(readings, settings, workdir)
    meter_frame = None
    if meters is not None:
        raw = read_table(meters)
        raw = raw.with_columns(pl.all().cast(pl.String)).with_columns(
            pl.lit(str(meters)).alias("_file"), pl.int_range(1, pl.len() + 1).alias("_row")
        )
        meter_frame = parse_meters(raw)
    label_frame = read_table(labels) if labels is not None else None
    return score_meters(
        lazy, meter_frame, label_frame, settings=settings,
        events=read_table(events) if events is not None else None,
        registers=read_table(registers) if registers is not None else None,
        notes=notes,
    )


def _window_days(warehouse: Warehouse, settings: Settings) -> list[str]:
    """The silver days the next scoring reads: history, recent window, last year's season."""
    days = warehouse.partitions("readings", "date")
    if not days:
        raise NoDataError("no silver readings to score", fix="run ingestion first")
    window = Window.ending(_day_end(days[-1], settings), settings)
    wanted = {day.isoformat() for day in window.days}
    return [day for day in days if day in wanted]


def _meters(warehouse: Warehouse) -> pl.DataFrame | None:
    """The silver meters table, or None before one was loaded."""
    return warehouse.read("meters") if partition_meta(warehouse, "meters") else None


def _hour_sources(warehouse: Warehouse, day: str, meters: pl.DataFrame | None,
                  settings: Settings) -> dict[str, str]:
    """What a day's hour bins and day features are built from.

    Its silver day, VEE's judgement of it (``quality_day``) and that day's topology.
    """
    return {"readings": source(warehouse, "readings", {"date": day}),
            "quality_day": source(warehouse, "quality_day", {"date": day}),
            "topology": topology_digest(meters, _day_end(day, settings))}


def _over_registered(warehouse: Warehouse, day: str) -> pl.Series:
    """Meters VEE judged to over-register on ``day`` (``Finding.MULTIPLIER_JUMP``).

    A wrong CT ratio or multiplier makes the readings a multiple of what the customer
    used; kept in the history, the day the fault is put right reads as a drop, as theft.
    Their readings of the day stay out of the bins and day features (a gap, not a level).
    A meter that under-registers is not judged so: a tampered CT is theft.
    """
    if partition_meta(warehouse, "quality_day", {"date": day}) is None:
        return pl.Series("meter_id", [], pl.String)
    return (warehouse.scan_files([warehouse.data_file("quality_day", {"date": day})])
            .filter((pl.col("level") == "meter")
                    & pl.col("rules").str.contains(Finding.MULTIPLIER_JUMP))
            .select(pl.col("node_id").alias("meter_id")).collect()["meter_id"])


def _day_end(day: str, settings: Settings) -> datetime:
    """The UTC instant that ends local ``day`` (YYYY-MM-DD)."""
    return local_midnight(date.fromisoformat(day) + timedelta(days=1), settings.timezone)


def _history_days(warehouse: Warehouse, table: str = "readings",
                  end: str | None = None) -> list[str]:
    """The days of ``table`` the change point reads: the ~400 up to ``end`` (the last)."""
    days = warehouse.partitions(table, "date")
    if not days:
        return []
    last = end or days[-1]
    first = (date.fromisoformat(last) - timedelta(days=HISTORY_MAX_DAYS - 1)).isoformat()
    return [day for day in days if first <= day <= last]


def _stale_tables(warehouse: Warehouse, day: str, meters: pl.DataFrame | None, *,
                  settings: Settings, window: set[str], history: set[str]) -> list[str]:
    """Which of a day's gold anomaly tables (hour bins, day features) must be rebuilt."""
    sources = _hour_sources(warehouse, day, meters, settings)
    wanted = [t for t, days in (("anomaly_hours", window), ("anomaly_days", history))
              if day in days]
    return [t for t in wanted if is_stale(warehouse, t, {"date": day}, sources)]


def pending_hour_days(*, settings: Settings) -> list[str]:
    """Days whose hour bins (the window) or day features (the history) are missing or stale."""
    warehouse = Warehouse.at(settings.warehouse)
    meters = _meters(warehouse)
    window, history = set(_window_days(warehouse, settings)), set(_history_days(warehouse))
    return [day for day in sorted(window | history)
            if _stale_tables(warehouse, day, meters, settings=settings, window=window,
                             history=history)]


def build_hour_day(day: str, *, settings: Settings) -> int:
    """The gold anomaly tables of one silver day that are stale; returns the rows written.

    Hour bins (``anomaly_hours``) for a day of the scoring window, day features
    (``anomaly_days``) for a day of the history the change point reads; the meters VEE
    judged to over-register that day are left out (``_over_registered``).
    """
    warehouse = Warehouse.at(settings.warehouse)
    meters = _meters(warehouse)
    window, history = set(_window_days(warehouse, settings)), set(_history_days(warehouse))
    stale = _stale_tables(warehouse, day, meters, settings=settings, window=window,
                          history=history)
    over = _over_registered(warehouse, day)
    readings = warehouse.scan("readings", date=day).drop("date") \
        .filter(~pl.col("meter_id").is_in(over.implode()))
    sources = _hour_sources(warehouse, day, meters, settings)
    rows = 0
    if "anomaly_hours" in stale:
        bins = day_bins(readings, meters, settings=settings, day=date.fromisoformat(day))
        # day_bins sorts by meter already
        write_partition(bins.drop("day"), "anomaly_hours", {"date": day},
                        warehouse=warehouse, sources=sources)
        rows += bins.height
    if "anomaly_days" in stale:
        local = date.fromisoformat(day)
        topo = topology_on(meters, _day_end(day, settings))
        features = history_days(normalise_readings(readings), topo, settings=settings,
                                first_day=local, end_day=local, unique=True)
        write_partition(features.drop("day"), "anomaly_days", {"date": day},
                        warehouse=warehouse, sort_by=("meter_id",), sources=sources)
        rows += features.height
    return rows


def score_warehouse(*, settings: Settings, notes: list[str] | None = None) -> int:
    """Score every customer meter on the latest silver days; returns the meter count.

    Hour bins are built for the days that lack current ones (after each day's data that is
    the new day only), then the window is scored from the bins, learning from the recorded
    inspection outcomes. What was left out of the scoring is appended to ``notes``
    (``score_days``).
    """
    for day in pending_hour_days(settings=settings):
        build_hour_day(day, settings=settings)
    warehouse = Warehouse.at(settings.warehouse)
    return score_days(_window_days(warehouse, settings), settings=settings, notes=notes).height


def _gold_days(warehouse: Warehouse, table: str, days: list[str]) -> pl.LazyFrame | None:
    """A gold day table over ``days`` with a ``day`` date column; None when not built."""
    present = [day for day in days if partition_meta(warehouse, table, {"date": day})]
    if not present:
        return None
    return (
        warehouse.scan(table)
        .filter(pl.col("date").is_in(present))
        .with_columns(day=pl.col("date").replace_strict(
            {day: date.fromisoformat(day) for day in present}, return_dtype=pl.Date))
    )


def _history_changes(warehouse: Warehouse, days: list[str]) -> pl.DataFrame | None:
    """``change_signals`` of the stored day features, a block of meters at a time.

    The partitions are sorted by meter: each block's range reads its own row groups of
    every day, so a province's year is never in memory at once.
    """
    features = _gold_days(warehouse, "anomaly_days", days)
    if features is None:
        return None
    ids = features.select(pl.col("meter_id").unique()).collect(engine="streaming") \
        .sort("meter_id")["meter_id"]
    parts = []
    for first in range(0, ids.len(), METERS_PER_BLOCK):
        block = ids.slice(first, METERS_PER_BLOCK)
        rows = features.filter(pl.col("meter_id").is_between(pl.lit(block[0]),
                                                             pl.lit(block[-1]))) \
            .drop("date").collect(engine="streaming")
        parts.append(change_signals(rows))
    return pl.concat(parts) if parts else None


def _transformer_losses(warehouse: Warehouse, days: list[str]) -> pl.DataFrame | None:
    """Loss per transformer and day from the gold day balances (None before they exist)."""
    balances = _gold_days(warehouse, "balance_day", days)
    if balances is None:
        return None
    return (
        balances.filter((pl.col("level") == "transformer") & pl.col("loss_kwh").is_not_null())
        .select(transformer_id=pl.col("node_id"), day=pl.col("day"), loss_kwh=pl.col("loss_kwh"))
        .collect()
    )


def _complete_days(warehouse: Warehouse, days: list[str]) -> pl.DataFrame | None:
    """Import per meter and day, days without a missing interval (register comparison)."""
    energy = _gold_days(warehouse, "meter_day", days)
    if energy is None:
        return None
    return (
        energy.filter(pl.col("n_missing") == 0)
        .select("meter_id", "day", kwh=pl.col("kwh_import"))
        .collect(engine="streaming")
    )


def score_days(
    days: list[str], *, settings: Settings, notes: list[str] | None = None
) -> pl.DataFrame:
    """Score the window of ``days`` from their stored hour bins into gold ``anomaly_scores``.

    Optional enrichments missing for the window — a tariff, gold day balances (the
    transformer losses) or meter_day (the register comparison), silver events and register
    reads, meters in the silver meters table, recorded inspections — are left out, with
    one line each appended to ``notes``; the scores are written regardless.
    """
    warehouse = Warehouse.at(settings.warehouse)
    bins = (
        warehouse.scan("anomaly_hours")
        .filter(pl.col("date").is_in(days))
        # one lookup per row (parsing millions of date strings costs seconds)
        .with_columns(day=pl.col("date").replace_strict(
            {day: date.fromisoformat(day) for day in days}, return_dtype=pl.Date))
        .drop("date")
    )
    meters = _meters(warehouse)
    # The history's change points (NumPy, one core) are worked out beside the window's
    # signals (Polars): neither needs the other until they are joined, and together they
    # keep both cores busy.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ami-history") as pool:
        history = pool.submit(_history_changes, warehouse,
                              _history_days(warehouse, "anomaly_days", days[-1]))
        signals = signals_from_bins(bins, meters, settings=settings,
                                    as_of=_day_end(days[-1], settings),
                                    transformer_losses=_transformer_losses(warehouse, days),
                                    history=history)
    note_unlisted_meters(signals, meters, notes)
    window = Window.ending(_day_end(days[-1], settings), settings)
    signals = with_evidence(
        signals, settings=settings,
        events=read_events(warehouse, window.first_day, window.end_day),
        registers=read_registers(warehouse, window.first_day, window.end_day),
        day_energy=_complete_days(warehouse, days),
        notes=notes,
    )
    scored = score_signals(signals, read_inspections(warehouse), settings=settings, notes=notes)
    write_table(scored, "anomaly_scores", warehouse=warehouse, sort_by=("rank",),
                sources={"days": f"{days[0]}..{days[-1]}"})
    return scored
