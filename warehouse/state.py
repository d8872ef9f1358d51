"""Small bookkeeping documents under ``_state/``: the ingest manifest and run records.

They live in the warehouse (local folder or bucket) beside the data they describe.
"""

from __future__ import annotations

import json
from typing import Any

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


def read_manifest(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """Landing file name → {kind, sha256, load_id, dates, rows} of its current version."""
    data: dict[str, dict[str, Any]] | None = read_json(warehouse, MANIFEST)
    return data or {}
