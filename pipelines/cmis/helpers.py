"""SQL access to CMIS: engine, table reflection, incremental reads as bronze string rows.

The resource reads with SQLAlchemy and builds Arrow tables itself instead of using
``dlt.sources.sql_database``: bronze must hold every value as text exactly like the
file-drop source, with the ``_row`` lineage column, and the cursor must be compared in
the database's own type (SQLite keeps naive text, PostgreSQL ``timestamptz``); a hand
query with one ``WHERE updated_at >= :cursor ORDER BY updated_at`` does both in a few
lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from ami.errors import ConfigError, InputError, TerminalError, TransientError
from ami.instants import HINT, parse_instant, problem
from pipelines.cmis.settings import (
    CHUNK_ROWS,
    CURSOR_COLUMN,
    METER_COLUMNS,
    METERS_TABLE,
    REQUIRED_COLUMNS,
    SOURCE,
)

_TYPES: dict[str, Any] = {
    "text": sa.Text, "float": sa.Float, "bool": sa.Boolean,
    "timestamp": lambda: sa.DateTime(timezone=True),
}


def redact_url(url: str) -> str:
    """The URL without its password, for messages and records."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; a malformed URL or unknown driver is terminal."""
    try:
        return sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"CMIS database URL {redact_url(url)!r} is not usable: {exc}",
            fix="give a SQLAlchemy URL such as sqlite:///cmis.db or "
                "postgresql+psycopg2://user@host:5432/cmis",
        ) from None


def meters_table_def(metadata: sa.MetaData, table: str = METERS_TABLE) -> sa.Table:
    """The expected CMIS meters table (canonical columns plus ``updated_at``)."""
    columns = [sa.Column(name, _TYPES[kind]()) for name, kind in METER_COLUMNS.items()]
    columns.append(sa.Column(CURSOR_COLUMN, sa.DateTime(timezone=True), nullable=False))
    return sa.Table(table, metadata, *columns)


def reflect_table(engine: sa.Engine, url: str, table: str) -> sa.Table:
    """The CMIS table as it is in the database, checked for the required columns."""
    try:
        found = sa.Table(table, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ConfigError(
            f"CMIS table {table!r} not found in {redact_url(url)}",
            fix=f"point the URL at the CMIS database or create table {table!r} "
                "(pipelines.cmis.run.load_cmis_from_meters_csv fills one from meters.csv)",
        ) from None
    except OperationalError as exc:
        raise _connection_error(url, exc) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in found.columns]
    if missing:
        raise ConfigError(
            f"CMIS table {table!r} in {redact_url(url)} lacks column(s) {', '.join(missing)}",
            fix="map the CMIS export onto the canonical columns of the README (data contract)",
        )
    return found


def _connection_error(url: str, exc: SQLAlchemyError) -> TerminalError | TransientError:
    """Classify a connection failure: refused/timeouts are transient, the rest terminal."""
    text = str(exc).lower()
    where = redact_url(url)
    if any(s in text for s in ("could not connect", "connection refused", "timeout")):
        return TransientError(f"CMIS database {where} unreachable: {exc.__class__.__name__}",
                              fix="check that the server is up and retry")
    return ConfigError(f"CMIS database {where} cannot be opened: {str(exc).splitlines()[0]}",
                       fix="check the CMIS URL (host, database name, path, credentials)")


def to_text(value: Any, *, timezone: str = "UTC") -> str | None:
    """A database value as bronze text (instants as ISO 8601 UTC with ``Z``).

    A timestamp stored without a zone is local time of ``timezone`` (the customer
    system's setting, ``AMI_CMIS_TIMEZONE``).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def cursor_text(value: Any) -> str:
    """The cursor value kept in dlt state (ISO text, zone kept when the database has one)."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def cursor_value(text: str) -> Any:
    """The cursor value from dlt state, back in the type the database compares."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def row_digest(values: list[str | None]) -> str:
    """A short fingerprint of one row's text values (for rows at the cursor boundary)."""
    joined = "\x1f".join("\x00" if v is None else v for v in values)
    return hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def read_changed(url: str, table: str, cursor: str | None, *, first_row: int,
                 at_cursor: frozenset[str] = frozenset(), chunk_rows: int = CHUNK_ROWS,
                 timezone: str = "UTC") -> Iterator[tuple[pa.Table, str, list[str]]]:
    """Rows with ``updated_at`` at or after ``cursor`` as Arrow string tables, oldest first.

    The cursor is inclusive, so a row committed later with the same ``updated_at`` as the
    last one loaded is not missed; rows already loaded at that instant (``at_cursor``:
    their digests) are skipped. Yields (table, cursor text of its last row, digests of
    the rows loaded at that instant). ``_row`` numbers rows from ``first_row``.
    """
    engine = make_engine(url)
    try:
        found = reflect_table(engine, url, table)
        names = list(found.columns.keys())
        at = names.index(CURSOR_COLUMN)
        query = sa.select(found).order_by(found.c[CURSOR_COLUMN])
        if cursor is not None:
            query = query.where(found.c[CURSOR_COLUMN] >= cursor_value(cursor))
        row_no = first_row
        last, boundary = cursor, set(at_cursor)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(query)
                while batch := result.fetchmany(chunk_rows):
                    texts = []
                    for record in batch:
                        values = [to_text(v, timezone=timezone) for v in record]
                        stamp, digest = cursor_text(record[at]), row_digest(values)
                        if stamp == last and digest in boundary:
                            continue  # loaded by an earlier run
                        if stamp != last:
                            last, boundary = stamp, set()
                        boundary.add(digest)
                        texts.append(values)
                    if not texts:
                        continue
                    rows = len(texts)
                    arrow = pa.table({n: pa.array([t[i] for t in texts], pa.string())
                                      for i, n in enumerate(names)})
                    arrow = arrow.append_column("_source", pa.array([SOURCE] * rows))
                    arrow = arrow.append_column("_file", pa.array([f"table:{table}"] * rows))
                    arrow = arrow.append_column(
                        "_row", pa.array(range(row_no, row_no + rows), pa.int64()))
                    row_no += rows
                    yield arrow, str(last), sorted(boundary)
        except OperationalError as exc:
            raise _connection_error(url, exc) from None
    finally:
        engine.dispose()


def fill_meters(meters_csv: Path, url: str, *, table: str = METERS_TABLE,
                updated_at: datetime | None = None) -> int:
    """Create the CMIS meters table (dropping an old one) and fill it from ``meters.csv``."""
    try:
        frame = pl.read_csv(meters_csv, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"cannot read meters CSV: {exc}", file=str(meters_csv),
                         fix="give the canonical meters.csv of a landing zone") from None
    stamp = updated_at or datetime.now(UTC)
    rows = [_typed_row(r, stamp, where=(str(meters_csv), number))
            for number, r in enumerate(frame.iter_rows(named=True), start=1)]
    engine = make_engine(url)
    try:
        metadata = sa.MetaData()
        target = meters_table_def(metadata, table)
        with engine.begin() as conn:
            target.drop(conn, checkfirst=True)
            target.create(conn)
            if rows:
                conn.execute(target.insert(), rows)
    except OperationalError as exc:
        raise _connection_error(url, exc) from None
    finally:
        engine.dispose()
    return len(rows)


def _typed_row(raw: dict[str, Any], stamp: datetime, *,
               where: tuple[str, int]) -> dict[str, Any]:
    """One meters.csv row in the CMIS column types."""
    row: dict[str, Any] = {CURSOR_COLUMN: stamp}
    for name, kind in METER_COLUMNS.items():
        value = raw.get(name)
        value = None if value is None or str(value).strip() == "" else str(value).strip()
        if value is None:
            row[name] = None
        elif kind == "float":
            row[name] = float(value)
        elif kind == "bool":
            row[name] = value.lower() in ("true", "1", "yes", "y", "t", "x", "có")
        elif kind == "timestamp":
            row[name] = parse_instant(value)
            if row[name] is None:
                raise InputError(f"{name} {problem(value)}", file=where[0], row=where[1],
                                 column=name, fix=HINT)
        else:
            row[name] = value
    return row
