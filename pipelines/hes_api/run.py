"""Run the HES API load into bronze (dataset ``hes_api``) and record its reconciliation.

``ingest_api`` runs the dlt pipeline ``ami_hes_api`` into the same bronze location as the
file-drop source and writes ``_state/ingest/api/<load_id>.json`` (rows seen, loaded,
pages, duplicates skipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import dlt
import polars as pl

from ami.errors import ConfigError
from ami.settings import Settings
from pipelines.bronze import bronze_pipeline, run_into_bronze
from pipelines.filedrop.helpers import local_dates
from pipelines.hes_api import hes_api_source
from pipelines.hes_api.settings import (
    DATASET,
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    PIPELINE_NAME,
)
from warehouse import Warehouse
from warehouse.state import ManifestEntry, read_manifest, write_json, write_manifest


@dataclass(frozen=True)
class ApiIngestResult:
    """Reconciliation of one HES API ingest run."""

    load_id: str | None
    rows_seen: int
    rows_loaded: int
    pages: int
    duplicates_skipped: int


def ingest_api(base_url: str, token: str, *, settings: Settings, page_size: int = 50_000,
               retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF,
               timeout: float = DEFAULT_TIMEOUT,
               pages_per_load: int | None = None) -> ApiIngestResult:
    """Load readings published since the last committed cursor into bronze.

    With ``pages_per_load`` the run commits a load package (and the cursor) every that many
    pages, so a crash loses at most that many pages of work; None: one package per run.

    Raises:
        TerminalError: the token is refused or the URL is not a HES API (message names it).
        TransientError: the server keeps failing after the retries; run again to resume.

    """
    warehouse = Warehouse.at(settings.warehouse)
    pipeline = bronze_pipeline(PIPELINE_NAME, DATASET, warehouse=warehouse)
    totals: dict[str, int] = {}
    load_ids: list[str] = []
    while True:
        counts: dict[str, int] = {}
        source = hes_api_source(base_url=base_url, token=token, page_size=page_size,
                                retries=retries, backoff=backoff, timeout=timeout,
                                max_pages=pages_per_load,
                                counts=counts)
        new_loads = run_into_bronze(pipeline, source)
        register_loads(warehouse, new_loads, settings=settings)  # at once: a crash keeps them
        load_ids += new_loads
        for key in ("rows_seen", "rows_loaded", "pages", "duplicates_skipped"):
            totals[key] = totals.get(key, 0) + counts.get(key, 0)
        if pages_per_load is None or counts.get("exhausted", 0) or not counts.get("pages"):
            break
    load_id = load_ids[-1] if load_ids else None
    result = ApiIngestResult(
        load_id=load_id, rows_seen=totals["rows_seen"],
        rows_loaded=totals["rows_loaded"] if load_ids else 0,
        pages=totals["pages"], duplicates_skipped=totals["duplicates_skipped"])
    if load_id is not None:
        write_json(warehouse, f"ingest/api/{load_id}.json",
                   {"load_id": load_id, "load_ids": load_ids, "source": base_url,
                    "rows_seen": result.rows_seen, "rows_loaded": result.rows_loaded,
                    "pages": result.pages, "duplicates_skipped": result.duplicates_skipped})
    return result


def api_token() -> str:
    """The HES bearer token from dlt secrets (env ``SOURCES__HES_API__TOKEN``)."""
    token: str | None = dlt.secrets.get("sources.hes_api.token")
    if not token:
        raise ConfigError("no HES API token is configured",
                          fix="set SOURCES__HES_API__TOKEN in the environment (or "
                              ".dlt/secrets.toml [sources.hes_api] token)")
    return str(token)


def manifest_name(load_id: str) -> str:
    """The ingest-manifest entry of one API load (the API has no files)."""
    return f"{DATASET}/{load_id}"


def register_loads(warehouse: Warehouse, load_ids: list[str], *, settings: Settings) -> None:
    """Record API loads in the ingest manifest with the local days they touch, for VEE."""
    if not load_ids:
        return
    parts = warehouse.bronze_parts(DATASET, "readings")
    if not parts:
        return
    manifest = read_manifest(warehouse)
    for load_id in load_ids:
        rows = warehouse.scan_files(parts).filter(
            pl.col("_dlt_load_id").cast(pl.String) == load_id).select("interval_end").collect()
        if rows.height:
            date_rows = local_dates(rows, "readings", settings.tz)
            manifest[manifest_name(load_id)] = ManifestEntry(
                kind="readings", load_id=load_id, dataset=DATASET,
                dates=tuple(sorted(date_rows)), date_rows=date_rows, rows=rows.height)
    write_manifest(warehouse, manifest)
