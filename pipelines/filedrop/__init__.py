"""dlt source for head-end file drops in the landing zone (any source profile).

Incremental by file name + content hash, kept in dlt resource state: a re-delivered
identical file loads nothing; a changed file loads again and supersedes the old rows
downstream (silver takes the current version of each file). Unreadable files are not
loaded: they are reported in ``outcomes`` with the reason, and remembered so that the
same bad bytes are reported once. Files are streamed in blocks (``reader.py``): a
file of any size loads in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from ami.errors import InputError
from ami.instants import HINT
from pipelines.filedrop.helpers import InstantCensus, LandingFile, with_lineage
from pipelines.filedrop.profiles import Profile, load_profiles
from pipelines.filedrop.reader import open_raw
from pipelines.filedrop.settings import KINDS, TIME_COLUMNS


@dataclass
class FileOutcome:
    """What happened to one landing file in one run."""

    name: str
    kind: str
    sha256: str
    status: str  # loaded | unchanged | quarantined
    rows_seen: int = 0
    rows_loaded: int = 0
    dates: list[str] = field(default_factory=list)
    date_rows: dict[str, int] = field(default_factory=dict)  # rows per local date
    reason: str | None = None
    unusable_rows: int = 0  # rows whose instant does not parse (they have no date)


def _file_resource(
    kind: str, files: list[LandingFile], tz: ZoneInfo, outcomes: list[FileOutcome], *,
    current: dict[str, str], profiles: list[Profile], default_minutes: int,
) -> DltResource:
    """A resource that yields the new or changed files of one kind as Arrow tables."""

    @dlt.resource(name=kind, write_disposition="append", file_format="parquet")
    def load_kind() -> Iterator[pa.Table]:
        seen: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
        for file in files:
            # Skip only what both dlt state and the manifest hold: a run that crashed after
            # the load but before the manifest loads the file again (downstream reads the
            # manifest's load only, so nothing is doubled).
            if seen.get(file.name) == file.sha256 == current.get(file.name):
                outcomes.append(FileOutcome(file.name, kind, file.sha256, "unchanged"))
                continue
            seen[file.name] = file.sha256
            outcome = FileOutcome(file.name, kind, file.sha256, "loaded")
            outcomes.append(outcome)
            census = InstantCensus()
            try:
                raw = open_raw(file, profiles, default_minutes=default_minutes)
                for batch in raw.batches:
                    outcome.rows_seen += batch.num_rows
                    census.add(batch, kind, tz)
                    yield with_lineage(batch, file, raw.profile)
                if outcome.rows_seen and kind in TIME_COLUMNS and not census.date_rows:
                    raise InputError(
                        f"no row has a usable {TIME_COLUMNS[kind]} ({census.unusable} rows; "
                        f"first: {census.first_unusable})", file=file.name,
                        fix=f"{HINT}, or add a source profile naming the format and zone")
            except InputError as exc:
                # Rows streamed before the fault stay in bronze, as received, but the
                # manifest does not make them current: silver never reads them.
                outcome.status, outcome.reason = "quarantined", str(exc)
                continue
            outcome.rows_loaded = outcome.rows_seen
            outcome.dates = census.dates
            outcome.date_rows = dict(sorted(census.date_rows.items()))
            outcome.unusable_rows = census.unusable

    return load_kind


@dlt.source(name="filedrop", max_table_nesting=0)
def landing_source(
    files: list[LandingFile], tz: ZoneInfo, outcomes: list[FileOutcome], *,
    current: dict[str, str] | None = None, profiles: list[Profile] | None = None,
    default_minutes: int = 30,
) -> list[DltResource]:
    """One resource per file kind present in ``files``; ``current``: name → sha256 loaded."""
    return [
        _file_resource(kind, [f for f in files if f.kind == kind], tz, outcomes,
                       current=current or {},
                       profiles=profiles if profiles is not None else load_profiles(),
                       default_minutes=default_minutes)
        for kind in KINDS
        if any(f.kind == kind for f in files)
    ]
