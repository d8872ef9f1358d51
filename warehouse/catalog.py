"""The catalog: one small JSON record beside each partition file.

It holds the row count, time range, content checksum and sources of the partition, the
basis for "nothing lost" audits and for knowing what to recompute when data changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

META_NAME = "_partition.json"


@dataclass(frozen=True)
class PartitionMeta:
    """What the catalog knows about one partition."""

    table: str
    partition: dict[str, str]
    rows: int
    checksum: str
    time_min: str | None = None
    time_max: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    written_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_meta(folder: Path, meta: PartitionMeta) -> None:
    """Atomically write the catalog record of the partition in ``folder``."""
    target = folder / META_NAME
    tmp = folder / f".{META_NAME}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(asdict(meta), sort_keys=True, indent=1), encoding="utf-8")
    os.replace(tmp, target)


def read_meta(folder: Path) -> PartitionMeta | None:
    """The catalog record of the partition in ``folder``, or None when it has none."""
    target = folder / META_NAME
    if not target.exists():
        return None
    return PartitionMeta(**json.loads(target.read_text(encoding="utf-8")))
