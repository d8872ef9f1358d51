"""Small bookkeeping documents under ``_state/``: the ingest manifest and run records.

They live in the warehouse (local folder or bucket) beside the data they describe.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ami.errors import ConfigError
from warehouse.catalog import get_text, put_text
from warehouse.layout import Warehouse

#: Where the map of current landing files lives, under ``_state/``.
MANIFEST = "ingest/current.json"


def state_path(warehouse: Warehouse, name: str) -> str:
    """Location of a state document, e.g. ``vee/2026-10-01.json``."""
    return warehouse.path("_state", name)


def write_json(warehouse: Warehouse, name: str, payload: Any) -> None:
    """Atomically write a state document (JSON, UTF-8, sorted keys)."""
    put_text(warehouse, state_path(warehouse, name),
             json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=True))


def read_json(warehouse: Warehouse, name: str) -> Any:
    """A state document, or None when it does not exist."""
    text = get_text(warehouse, state_path(warehouse, name))
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class ManifestEntry:
    """The current version of one delivery: a landing file, an API load or a network model.

    ``status`` is ``loaded`` (its bronze rows are current), ``quarantined`` (refused whole,
    ``reason`` says why) or ``retired`` (older than the retention, ``retired_at``).
    """

    kind: str
    sha256: str = ""
    status: str = "loaded"
    load_id: str | None = None
    #: Local days its rows touch, and how many rows each.
    dates: tuple[str, ...] = ()
    date_rows: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    unusable_rows: int = 0
    reason: str | None = None
    #: Size [bytes] and modification time of the landing file (unchanged: not hashed again).
    size: int | None = None
    mtime: float | None = None
    #: The bronze dataset of an API load.
    dataset: str | None = None
    #: The transformer a network model belongs to.
    transformer_id: str | None = None
    retired_at: str | None = None

    @property
    def loaded(self) -> bool:
        """Its rows are current."""
        return self.status == "loaded"

    def touches(self, day: str) -> bool:
        """Whether its rows touch the local ``day``."""
        return day in self.dates

    def retired(self, at: str) -> ManifestEntry:
        """The same entry, retired at the instant ``at``."""
        return replace(self, status="retired", retired_at=at)

    def to_json(self) -> dict[str, Any]:
        """The entry as stored (None fields left out)."""
        out = asdict(self)
        out["dates"] = list(self.dates)
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, name: str = "") -> ManifestEntry:
        """An entry as stored; a key this version does not know is an error, not lost."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown or "kind" not in data:
            raise ConfigError(
                f"ingest manifest entry {name!r} has "
                + (f"unknown field(s) {', '.join(unknown)}" if unknown else "no kind"),
                fix="the warehouse was written by another version of ami: run that version, "
                    "or upgrade this one")
        return cls(**{**data, "dates": tuple(str(d) for d in data.get("dates") or ()),
                      "date_rows": {str(k): int(v)
                                    for k, v in (data.get("date_rows") or {}).items()},
                      "rows": int(data.get("rows") or 0),
                      "unusable_rows": int(data.get("unusable_rows") or 0)})


#: Landing file name (or ``hes_api/<load_id>``, ``networks/<transformer>.json``) → entry.
Manifest = dict[str, ManifestEntry]


def read_manifest(warehouse: Warehouse) -> Manifest:
    """Every delivery's current version (see ``ManifestEntry``)."""
    data: dict[str, dict[str, Any]] | None = read_json(warehouse, MANIFEST)
    return {name: ManifestEntry.from_json(entry, name=name)
            for name, entry in (data or {}).items()}


def write_manifest(warehouse: Warehouse, manifest: Manifest) -> None:
    """Atomically replace the manifest."""
    write_json(warehouse, MANIFEST, {name: entry.to_json() for name, entry in manifest.items()})
