"""Run the landing-zone load into bronze and keep the manifest of current files.

The manifest (``_state/ingest/current.json`` in the warehouse) maps every landing file
to the load that holds its current version and the local dates it touches; VEE reads it
to know which bronze rows are current and which days to (re)compute. Each run also
stores its reconciliation (rows seen = loaded + quarantined) under ``_state/ingest``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ami.settings import Settings
from pipelines.bronze import bronze_pipeline, run_into_bronze
from pipelines.filedrop import FileOutcome, landing_source
from pipelines.filedrop.helpers import list_landing, redact, release
from pipelines.filedrop.profiles import load_profiles
from pipelines.filedrop.settings import DATASET
from pipelines.networks import NetworkOutcome, ingest_networks
from warehouse import Warehouse
from warehouse.state import ManifestEntry, read_manifest, write_json, write_manifest

PIPELINE_NAME = "ami_filedrop"


@dataclass(frozen=True)
class IngestResult:
    """Reconciliation of one ingest run."""

    load_id: str | None
    files: list[FileOutcome]
    networks: list[NetworkOutcome] = field(default_factory=list)

    @property
    def rows_seen(self) -> int:
        """Rows read from new or changed files."""
        return sum(f.rows_seen for f in self.files)

    @property
    def rows_loaded(self) -> int:
        """Rows written to bronze."""
        return sum(f.rows_loaded for f in self.files)

    @property
    def quarantined(self) -> list[FileOutcome]:
        """Files that could not be loaded, with reasons."""
        return [f for f in self.files if f.status == "quarantined"]

    @property
    def dates(self) -> list[str]:
        """Local dates touched by the files loaded in this run."""
        return sorted({d for f in self.files if f.status == "loaded" for d in f.dates})

    def summary(self) -> dict[str, object]:
        """The run in a few numbers (what the DAG task hands on)."""
        return {"load_id": self.load_id, "rows_seen": self.rows_seen,
                "rows_loaded": self.rows_loaded, "dates": len(self.dates),
                "quarantined_files": [f.name for f in self.quarantined]}


def ingest_landing(landing: str, *, settings: Settings) -> IngestResult:
    """Load new and changed landing files into bronze (dlt, Arrow fast path)."""
    warehouse = Warehouse.at(settings.warehouse)
    manifest = read_manifest(warehouse)
    files = list_landing(landing, known=manifest)
    outcomes: list[FileOutcome] = []
    pipeline = bronze_pipeline(PIPELINE_NAME, DATASET, warehouse=warehouse)
    current = {name: entry.sha256 for name, entry in manifest.items()}
    profiles = load_profiles(settings.source_profiles_dir)
    try:
        load_ids = run_into_bronze(pipeline, landing_source(
            files, settings.tz, outcomes, current=current, profiles=profiles,
            default_minutes=settings.interval_minutes))
    finally:
        release(files)
    load_id = load_ids[-1] if load_ids else None
    stat = {f.name: (f.size, f.mtime) for f in files}
    for outcome in outcomes:
        if outcome.status in ("loaded", "quarantined"):
            size, mtime = stat[outcome.name]
            manifest[outcome.name] = ManifestEntry(
                kind=outcome.kind, sha256=outcome.sha256, status=outcome.status,
                size=size, mtime=mtime,
                load_id=load_id if outcome.status == "loaded" else None,
                dates=tuple(outcome.dates), date_rows=dict(outcome.date_rows),
                rows=outcome.rows_loaded, reason=outcome.reason,
                unusable_rows=outcome.unusable_rows,
            )
    networks = ingest_networks(landing, warehouse, manifest)
    result = IngestResult(load_id=load_id, files=outcomes, networks=networks)
    write_manifest(warehouse, manifest)
    if load_id is not None:
        write_json(
            warehouse, f"ingest/loads/{load_id}.json",
            {"load_id": load_id, "landing": redact(str(landing)),
             "files": [asdict(f) for f in outcomes],
             "rows_seen": result.rows_seen, "rows_loaded": result.rows_loaded,
             "files_quarantined": len(result.quarantined)},
        )
    return result
