"""Inspection outcomes: what the crews found, kept in the gold table ``inspections``.

Loss-reduction teams inspect the meters the anomaly list ranks and record what they found
(README, inspections: ``outcome`` theft / meter_fault / billing_error / no_issue, the energy
recovered and a note), from a file (``ami anomalies inspections --file``) or through the
landing zone (``inspections*`` files). The table holds one row per meter × inspection
instant; the scorer learns from it (``read_inspections``).

**Idempotent.** A row whose (meter_id, inspected_at) is already recorded changes nothing
when its outcome, recovered_kwh and note are the same (the row keeps its source and
recorded_at), so recording the same file again leaves the table as it was, byte for
byte: it is not even rewritten. When they differ, the later record wins and the row takes
the new source and recorded_at.

**Atomic.** The table is read, merged and replaced whole (``warehouse.write_table``) under
an exclusive lock: concurrent recorders never lose each other's rows, and a crash leaves
the previous version readable.

**Landing zone.** Each delivered version of an ``inspections*`` file is recorded once:
the table's catalog record keeps the load id of every landing file recorded, so a later
ingest run does not apply an old file again over a correction made since; a corrected
re-delivery (a new load) is a later record and wins.

This table is not rebuilt from bronze (rows recorded from the command line exist nowhere
else): back it up with the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ami.errors import ConfigError, InputError
from models.anomaly.labels import validate_labels
from quality.parse import read_table
from quality.sources import current_files
from warehouse import Warehouse, partition_meta, write_table
from warehouse.layout import FILEDROP_DATASET
from warehouse.locks import exclusive
from warehouse.schemas import schema_of
from warehouse.state import read_manifest
from warehouse.writer import LOCK_TIMEOUT_SECONDS

TABLE = "inspections"
SCHEMA = schema_of(TABLE).polars
#: One row per key; the later record of a key wins for the value columns.
KEY = ("meter_id", "inspected_at")
VALUES = ("outcome", "recovered_kwh", "note", "photo_ref")
#: ``source`` of the rows recorded from the command line, and from the review app.
CLI_SOURCE = "cli"
WEB_SOURCE = "web"
#: Landing-zone file kind (``inspections*`` files) whose rows land in bronze.
LANDING_KIND = "inspections"
#: Prefix of the catalog sources naming a recorded landing file (→ its load id).
LANDING_SOURCE_PREFIX = "landing:"

_EMPTY = {
    "meter_id": "give every row the id of the meter inspected",
    "inspected_at": "give the date (YYYY-MM-DD) or instant of the inspection",
    "outcome": "give the outcome: theft, meter_fault, billing_error or no_issue",
}


@dataclass(frozen=True)
class RecordResult:
    """What recording a batch of inspection outcomes did.

    ``added + duplicates`` is the number of rows given; ``updated`` counts the duplicates
    that changed an outcome, recovered_kwh or note (the later record wins); ``total`` is
    the table's row count afterwards.
    """

    added: int
    duplicates: int
    total: int
    updated: int = 0


def read_inspection_file(path: str | Path) -> pl.DataFrame:
    """Typed inspection outcomes from a CSV or Parquet file (by its extension).

    Columns ``meter_id``, ``inspected_at`` (ISO date or instant with zone), ``outcome``,
    and optionally ``recovered_kwh`` [kWh ≥ 0] and ``note``.

    Raises:
        InputError: a missing column or a bad value, naming the file, row (1 = first data
            row), column and the fix.
        ConfigError: the file does not exist or is neither .csv nor .parquet.

    """
    path = Path(path)
    try:
        raw = read_table(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
            file=str(path),
            fix="give a CSV with a header row (meter_id, inspected_at, outcome, "
            "recovered_kwh, note) or a Parquet file with those columns",
        ) from None
    return parse_inspections(raw, file=str(path))


def parse_inspections(rows: pl.DataFrame, *, file: str | None = None) -> pl.DataFrame:
    """Inspection outcomes as received (text or typed) → the table's typed value columns.

    Text is trimmed, outcomes are lower-cased and empty text counts as absent; then
    ``validate_labels`` types and checks the columns. Returns ``meter_id``,
    ``inspected_at`` [UTC], ``outcome``, ``recovered_kwh`` [kWh] and ``note`` in input
    order. Raises ``InputError`` naming ``file``, the row and the column.
    """
    text = [c for c in ("meter_id", "outcome", "note", "photo_ref") if c in rows.columns]
    cleaned = rows.with_columns(
        pl.col(c).cast(pl.String).str.strip_chars() for c in text
    ).with_columns(
        *[pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text],
    )
    if "outcome" in cleaned.columns:
        cleaned = cleaned.with_columns(pl.col("outcome").str.to_lowercase())
    typed = validate_labels(cleaned, details=True, file=file)
    for column, fix in _EMPTY.items():
        empty = typed.with_row_index("_i").filter(pl.col(column).is_null())
        if empty.height:
            more = f" ({empty.height} rows like this)" if empty.height > 1 else ""
            raise InputError(f"{column} is empty{more}", file=file,
                             row=int(empty["_i"][0]) + 1, column=column, fix=fix)
    photo = cleaned["photo_ref"] if "photo_ref" in cleaned.columns else None
    return typed.with_columns(photo_ref=pl.Series(photo, dtype=pl.String) if photo is not None
                              else pl.lit(None, pl.String))


def record_inspections(
    frame: pl.DataFrame,
    *,
    warehouse: Warehouse,
    source: str,
    recorded_at: datetime | None = None,
    recorded_by: str | None = None,
) -> RecordResult:
    """Merge inspection outcomes into the gold table ``inspections``, idempotently.

    Args:
        frame: outcomes as ``read_inspection_file`` returns them, or as received (they
            are validated again).
        warehouse: where the table lives.
        source: where the rows come from: ``"cli"`` or the landing file's name.
        recorded_at: when they are recorded [UTC]; now by default (never earlier than the
            latest row already recorded, so "later wins" follows the order of recording).
        recorded_by: the app user recording them (None: a file or the command line).

    Within ``frame`` the last row of a (meter_id, inspected_at) wins.

    Raises:
        InputError: a bad value (row and column named).
        TransientError: another process held the table for too long, or the storage
            refused the write (the previous version is intact).

    """
    if not source.strip():
        raise ConfigError("the source of the inspection outcomes is not given",
                          fix=f'pass source="{CLI_SOURCE}" or the landing file name')
    rows = parse_inspections(frame).with_columns(source=pl.lit(source.strip(), pl.String),
                                                 recorded_by=pl.lit(recorded_by, pl.String))
    with _exclusive(warehouse):
        return _merge(rows, warehouse=warehouse, recorded_at=recorded_at)


def read_inspections(warehouse: Warehouse) -> pl.DataFrame | None:
    """The gold ``inspections`` table (the scorer's labels), or None before any is recorded."""
    if not warehouse.exists(warehouse.data_file(TABLE)):
        return None
    return warehouse.read(TABLE)


def ingest_landing_inspections(
    warehouse: Warehouse, *, recorded_at: datetime | None = None
) -> RecordResult:
    """Record the landing zone's current ``inspections*`` files not yet recorded.

    Reads their rows from bronze (the version the ingest manifest names current), with
    ``source`` = the landing file's name. Files are applied in load order (a later
    delivery wins). A file version already recorded is not applied again.

    Raises:
        InputError: a bad value, naming the landing file, its row and the column; nothing
            of that run is recorded.

    """
    files = current_files(read_manifest(warehouse), LANDING_KIND)
    if not files:
        meta = partition_meta(warehouse, TABLE)
        return RecordResult(added=0, duplicates=0, total=meta.rows if meta else 0)
    with _exclusive(warehouse):
        meta = partition_meta(warehouse, TABLE)
        recorded = {name.removeprefix(LANDING_SOURCE_PREFIX): load
                    for name, load in (meta.sources if meta else {}).items()
                    if name.startswith(LANDING_SOURCE_PREFIX)}
        todo = {name: load for name, load in files.items() if recorded.get(name) != load}
        if not todo:
            return RecordResult(added=0, duplicates=0, total=meta.rows if meta else 0)
        bronze = _bronze_rows(warehouse, todo)
        parts = [
            _landing_rows(rows, name)
            for name, _load in sorted(todo.items(), key=lambda item: (item[1], item[0]))
            if (rows := bronze.filter(pl.col("_file") == name)).height
        ]
        empty = pl.DataFrame(schema={**{c: SCHEMA[c] for c in (*KEY, *VALUES)},
                                     "source": pl.String()})
        return _merge(pl.concat(parts) if parts else empty, warehouse=warehouse,
                      recorded_at=recorded_at,
                      landing={f"{LANDING_SOURCE_PREFIX}{n}": load for n, load in todo.items()})


def _bronze_rows(warehouse: Warehouse, files: dict[str, str]) -> pl.DataFrame:
    """Bronze rows of the given landing files (name → load id of the current version).

    Each bronze file is read on its own: files of different loads may differ in optional
    columns (``recovered_kwh``, ``note``), which one multi-file scan would refuse.
    """
    wanted = pl.DataFrame({"_file": list(files), "_dlt_load_id": list(files.values())},
                          schema={"_file": pl.String, "_dlt_load_id": pl.String})
    frames = [
        warehouse.scan_files([part])
        .with_columns(pl.col("_file", "_dlt_load_id").cast(pl.String))
        .join(wanted.lazy(), on=["_file", "_dlt_load_id"], how="semi")
        .collect()
        for part in warehouse.bronze_parts(FILEDROP_DATASET, LANDING_KIND)
    ]
    frames = [f for f in frames if f.height]
    if not frames:
        return wanted.clear()
    return pl.concat(frames, how="diagonal_relaxed")


def _landing_rows(bronze: pl.DataFrame, name: str) -> pl.DataFrame:
    """The typed rows of one landing file from bronze, with ``source`` = its name."""
    bronze = bronze.sort("_row")
    if "_invalid" in bronze.columns:
        malformed = bronze.filter(pl.col("_invalid").is_not_null())
        if malformed.height:
            raise InputError(f"{malformed['_invalid'][0]} ({malformed.height} row(s))",
                             file=name, row=int(malformed["_row"][0]))
    data = bronze.select(c for c in bronze.columns if not c.startswith("_"))
    # A current file was loaded whole and its bronze rows are numbered 1, 2, … in order,
    # so a row's position is its row in the file.
    return parse_inspections(data, file=name).with_columns(source=pl.lit(name, pl.String))


def _read_table(warehouse: Warehouse) -> pl.DataFrame:
    """The table as stored, or an empty frame of its schema."""
    table = read_inspections(warehouse)
    if table is None:
        return pl.DataFrame(schema=SCHEMA)
    return table.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]


def _merge(
    rows: pl.DataFrame,
    *,
    warehouse: Warehouse,
    recorded_at: datetime | None,
    landing: dict[str, str] | None = None,
) -> RecordResult:
    """Merge typed rows (with ``source``) into the table; write only when something changed.

    The caller holds the table's lock. ``landing``: catalog sources to add (landing file →
    load id) — written even when no row changed, so the file is not read again.
    """
    table = _read_table(warehouse)
    meta = partition_meta(warehouse, TABLE)
    sources = dict(meta.sources) if meta else {}
    now = (recorded_at or datetime.now(UTC)).astimezone(UTC)
    latest = table["recorded_at"].max()
    if isinstance(latest, datetime) and latest > now:
        now = latest  # the clock stepped back: keep the order of recording
    incoming = rows.unique(subset=list(KEY), keep="last", maintain_order=True)
    joined = incoming.join(table.with_columns(_known=pl.lit(value=True)), on=list(KEY),
                           how="left", suffix="_old")
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}_old")) for c in VALUES])
    fresh = joined.filter(pl.col("_known").is_null() | ~same)
    added = joined.filter(pl.col("_known").is_null()).height
    by = pl.col("recorded_by") if "recorded_by" in fresh.columns else pl.lit(None, pl.String)
    fresh = fresh.select(*KEY, *VALUES, "source", by.alias("recorded_by"),
                         recorded_at=pl.lit(now, pl.Datetime("us", "UTC")))
    merged = pl.concat([table.join(fresh, on=list(KEY), how="anti"),
                        fresh.select(list(SCHEMA)).cast(SCHEMA)])  # type: ignore[arg-type]
    wanted = {**sources, **(landing or {})}
    if fresh.height or wanted != sources:
        write_table(merged, TABLE, warehouse=warehouse, sort_by=KEY, sources=wanted)
    return RecordResult(added=added, duplicates=rows.height - added, total=merged.height,
                        updated=fresh.height - added)


@contextmanager
def _exclusive(warehouse: Warehouse) -> Iterator[None]:
    """Hold the inspections table's lock (released by the kernel if the process dies)."""
    with exclusive(warehouse.work / "inspections.lock", "recording inspection outcomes",
                   timeout=LOCK_TIMEOUT_SECONDS):
        yield
