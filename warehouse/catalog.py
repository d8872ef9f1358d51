"""The catalog: one small JSON record beside each partition file.

It holds the row count, time range, content checksum, sources (load ids or upstream
checksums) and write time of the partition: the basis for "nothing lost" audits, for
``ami warehouse status`` / ``verify``, and for knowing what to recompute when data
changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from warehouse.layout import PARTITION_KEYS, Warehouse

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
    schema_version: int = 1
    written_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def stream_checksum(handle: BinaryIO) -> str:
    """SHA-256 (hex) of what a binary stream holds, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def file_checksum(warehouse: Warehouse, path: str) -> str:
    """SHA-256 of a warehouse file's bytes (hex)."""
    with warehouse.fs.open(path, "rb") as handle:
        return stream_checksum(handle)


def write_meta(warehouse: Warehouse, folder: str, meta: PartitionMeta) -> None:
    """Write the catalog record of the partition in ``folder`` (one atomic put)."""
    text = json.dumps(asdict(meta), sort_keys=True, indent=1)
    put_text(warehouse, f"{folder}/{META_NAME}", text)


def read_meta(warehouse: Warehouse, folder: str) -> PartitionMeta | None:
    """The catalog record of the partition in ``folder``, or None when it has none."""
    text = get_text(warehouse, f"{folder}/{META_NAME}")
    return None if text is None else PartitionMeta(**json.loads(text))


def partition_meta(warehouse: Warehouse, table: str,
                   partition: dict[str, str] | None = None) -> PartitionMeta | None:
    """The catalog record of one partition of ``table`` (None when not written)."""
    return read_meta(warehouse, warehouse.partition_dir(table, partition))


def source_key(table: str, partition: dict[str, str] | None = None) -> str:
    """How a build names a partition it read in its sources: ``table`` or ``table:value``.

    (``readings:2026-10-01`` is the silver day 2026-10-01; a bare ``readings`` in a day
    partition's sources is the same day's.)
    """
    return f"{table}:{next(iter(partition.values()))}" if partition else table


def source(warehouse: Warehouse, table: str, partition: dict[str, str] | None = None) -> str:
    """The checksum a build records for a partition it reads ("" when it is not written)."""
    meta = partition_meta(warehouse, table, partition)
    return meta.checksum if meta else ""


def is_stale(warehouse: Warehouse, table: str, partition: dict[str, str] | None,
             now: dict[str, str]) -> bool:
    """Whether a partition must be (re)built: the one rule of every step of the chain.

    ``now`` is what the step would build the partition from today (its
    ``…_sources`` function). Stale when the partition was never written, when a source of
    ``now`` differs from the one recorded, or when a source the build found for itself
    (recorded as ``table:value`` but not in ``now``, such as VEE's like-day readings) is
    no longer what it was — or no longer there.
    """
    meta = partition_meta(warehouse, table, partition)
    if meta is None:
        return True
    if any(meta.sources.get(key) != value for key, value in now.items()):
        return True
    return any(_current(warehouse, key) != value
               for key, value in meta.sources.items() if key not in now)


def _current(warehouse: Warehouse, key: str) -> str | None:
    """The checksum a ``table:value`` source key names today (None: not a partition)."""
    table, _, value = key.partition(":")
    keys = PARTITION_KEYS.get(table, ())
    if len(keys) != 1 or not value:
        return None
    return source(warehouse, table, {keys[0]: value})


def put_text(warehouse: Warehouse, path: str, text: str) -> None:
    """Replace a small text file atomically (temporary file + rename; one PUT on S3)."""
    if warehouse.local:
        replace_local(path, text.encode("utf-8"))
    else:
        warehouse.fs.pipe_file(path, text.encode("utf-8"))


def get_text(warehouse: Warehouse, path: str) -> str | None:
    """A small text file's content, or None when it does not exist."""
    try:
        with warehouse.fs.open(path, "rb") as handle:
            return str(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None


def aside(target: Path) -> Path:
    """A temporary name beside ``target`` (hidden, ``.tmp``: no reader picks it up)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def switch(tmp: Path, target: Path) -> None:
    """Make a fully written temporary file the target: flushed to disk, then renamed."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def replace_local(path: str, data: bytes) -> None:
    """Replace a local file with ``data`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = aside(target)
    try:
        tmp.write_bytes(data)
        switch(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
