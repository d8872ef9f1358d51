"""Small bookkeeping documents under ``_state/``: the ingest manifest and run records."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from warehouse.layout import Warehouse


def write_json(path: Path, payload: Any) -> None:
    """Atomically write a JSON document (UTF-8, sorted keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=True),
                   encoding="utf-8")
    os.replace(tmp, path)


def manifest_path(warehouse: Warehouse) -> Path:
    """Where the map of current landing files lives."""
    return warehouse.state / "ingest" / "current.json"


def read_manifest(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """Landing file name → {kind, sha256, load_id, dates, rows} of its current version."""
    path = manifest_path(warehouse)
    if not path.exists():
        return {}
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data
