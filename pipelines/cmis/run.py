"""Run the CMIS load into bronze and record its reconciliation; fill a demo CMIS database.

``ingest_cmis`` loads the rows of the CMIS meters table written since the last run into
``bronze/cmis/meters`` and writes ``_state/ingest/cmis/<load_id>.json`` (rows seen and
loaded). ``load_cmis_from_meters_csv`` builds a CMIS database from a landing zone's
canonical ``meters.csv`` for the demo and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ami.settings import Settings
from pipelines.bronze import bronze_pipeline, run_into_bronze
from pipelines.cmis import cmis_source
from pipelines.cmis.helpers import fill_meters, redact_url
from pipelines.cmis.settings import DATASET, METERS_TABLE, PIPELINE_NAME
from warehouse import Warehouse
from warehouse.state import write_json


@dataclass(frozen=True)
class CmisIngestResult:
    """Reconciliation of one CMIS ingest run."""

    load_id: str | None
    rows_seen: int
    rows_loaded: int


def ingest_cmis(url: str, *, settings: Settings, table: str = METERS_TABLE) -> CmisIngestResult:
    """Load CMIS meter rows changed since the last run into bronze (dataset ``cmis``).

    Raises:
        TerminalError: the URL cannot be used or the table is missing (message names both).
        TransientError: the database server cannot be reached.

    """
    warehouse = Warehouse.at(settings.warehouse)
    pipeline = bronze_pipeline(PIPELINE_NAME, DATASET, warehouse=warehouse)
    counts: dict[str, int] = {}
    load_ids = run_into_bronze(pipeline, cmis_source(url=url, table=table, counts=counts,
                                                     timezone=settings.cmis_timezone))
    load_id = load_ids[-1] if load_ids else None
    rows_seen = counts.get("rows_seen", 0)
    rows_loaded = rows_seen if load_id is not None else 0
    result = CmisIngestResult(load_id=load_id, rows_seen=rows_seen, rows_loaded=rows_loaded)
    if load_id is not None:
        write_json(
            warehouse, f"ingest/cmis/{load_id}.json",
            {"load_id": load_id, "source": redact_url(url), "table": table,
             "rows_seen": rows_seen, "rows_loaded": rows_loaded},
        )
    return result


def load_cmis_from_meters_csv(meters_csv: Path, url: str, *,
                              updated_at: datetime | None = None) -> int:
    """Create and fill the CMIS meters table from a canonical ``meters.csv``; rows written."""
    return fill_meters(Path(meters_csv), url, table=METERS_TABLE,
                       updated_at=updated_at or datetime.now(UTC))
