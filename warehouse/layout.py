"""Where the warehouse lives: a local folder or an S3-compatible bucket, the same layout.

The location is a URL — a local path (or ``file://``) or ``s3://bucket/prefix`` — and no
code changes between them: every read and write goes through ``Warehouse`` and its
fsspec filesystem; Polars and dlt get the matching storage options. For S3 the endpoint
and keys come from the standard ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_DEFAULT_REGION`` variables (or the instance role).
Working files that must be local (dlt's pipeline folder, lock files) live under
``work``: inside the warehouse when it is local, else under ``AMI_WORK_DIR``
(default ``~/.cache/ami``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import polars as pl
from fsspec.spec import AbstractFileSystem

from ami.errors import ConfigError

#: Layer of every table the project writes; the folder under the warehouse root.
TABLE_LAYERS: dict[str, str] = {
    "readings": "silver",
    "meters": "silver",
    "transformers": "silver",
    "quarantine": "silver",
    "findings": "silver",
    "quality_day": "silver",
    "events": "silver",
    "registers": "silver",
    "edits": "silver",
    "edit_log": "silver",
    "temperature": "silver",
    "dr_events": "silver",
    "meter_day": "gold",
    "balance_interval": "gold",
    "balance_day": "gold",
    "balance_month": "gold",
    "anomaly_hours": "gold",
    "anomaly_days": "gold",
    "anomaly_scores": "gold",
    "inspections": "gold",
    **dict.fromkeys((
        "savings_groups", "savings_normalised", "savings_plan", "savings_large",
        "savings_lighting", "savings_advertising", "savings_peak_day", "savings_peak_month",
        "savings_dr", "savings_dr_events", "savings_solar", "savings_baselines"), "gold"),
}

#: Hive partition keys of each partitioned table, outermost first (kept as strings).
PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    "readings": ("date",),
    "quarantine": ("date",),
    "findings": ("date",),
    "quality_day": ("date",),
    "events": ("date",),
    "registers": ("date",),
    "edit_log": ("date",),
    "meter_day": ("date",),
    "anomaly_hours": ("date",),
    "anomaly_days": ("date",),
    "balance_interval": ("date",),
    "balance_day": ("date",),
    "balance_month": ("month",),
    **dict.fromkeys((t for t in TABLE_LAYERS if t.startswith("savings_")), ("month",)),
    "savings_baselines": ("year",),
}


#: Bronze datasets (folders under ``bronze/``), one per source, and the CMIS meters
#: table. The sources write them through dlt; readers find their files with
#: ``Warehouse.bronze_parts``.
FILEDROP_DATASET = "filedrop"
HES_API_DATASET = "hes_api"
CMIS_DATASET = "cmis"
CMIS_METERS_TABLE = "meters"

#: Name of the one data file of a partition.
DATA_FILE = "part-0.parquet"


@dataclass(frozen=True)
class Warehouse:
    """The warehouse rooted at ``root`` (a local absolute path or ``s3://bucket/prefix``)."""

    root: str
    fs: AbstractFileSystem = field(compare=False, repr=False)

    @classmethod
    def at(cls, location: str | Path) -> Warehouse:
        """Open the warehouse at a location: a local path, ``file://…`` or ``s3://…``."""
        text = str(location).removeprefix("file://")
        if "://" not in text:
            return cls(str(Path(text).absolute()), fsspec.filesystem("file"))
        protocol = text.split("://", 1)[0]
        if protocol not in ("s3", "s3a"):
            raise ConfigError(
                f"warehouse location {text!r} uses {protocol}://, which is not supported",
                fix="set AMI_WAREHOUSE to a local folder or an s3://bucket/prefix URL",
            )
        url = "s3://" + text.split("://", 1)[1].strip("/")
        return cls(url, fsspec.filesystem("s3", **_s3_client_options()))

    @property
    def local(self) -> bool:
        """Whether the warehouse is a local folder."""
        return "://" not in self.root

    def path(self, *parts: str) -> str:
        """Location of a file or folder under the root (a path, or a URL for S3)."""
        return "/".join([self.root, *parts])

    @property
    def bronze(self) -> str:
        """Root of the bronze layer (written by dlt, as received)."""
        return self.path("bronze")

    @property
    def work(self) -> Path:
        """Local working folder: dlt's pipeline folders, lock files."""
        if self.local:
            return Path(self.root) / "_state"
        base = Path(os.environ.get("AMI_WORK_DIR", Path.home() / ".cache" / "ami"))
        return base / hashlib.sha256(self.root.encode()).hexdigest()[:16]

    @property
    def storage_options(self) -> dict[str, str] | None:
        """Options for Polars' readers (None for local files)."""
        return None if self.local else _polars_s3_options()

    def table_dir(self, table: str) -> str:
        """Folder of a silver or gold table."""
        try:
            layer = TABLE_LAYERS[table]
        except KeyError:
            known = ", ".join(sorted(TABLE_LAYERS))
            raise ConfigError(f"unknown table {table!r}", fix=f"use one of: {known}") from None
        return self.path(layer, table)

    def partition_dir(self, table: str, partition: dict[str, str] | None = None) -> str:
        """Folder of one Hive-style partition, e.g. ``silver/readings/date=2026-10-01``."""
        return "/".join([self.table_dir(table),
                         *[f"{key}={value}" for key, value in (partition or {}).items()]])

    def data_file(self, table: str, partition: dict[str, str] | None = None) -> str:
        """The data file of one partition."""
        return f"{self.partition_dir(table, partition)}/{DATA_FILE}"

    def exists(self, path: str) -> bool:
        """Whether a file exists."""
        return bool(self.fs.exists(path))

    def glob(self, pattern: str) -> list[str]:
        """Files matching a glob pattern, sorted, as locations (URLs for S3)."""
        found = sorted(self.fs.glob(pattern))
        return [f if self.local else f"s3://{f}" for f in found]

    def partitions(self, table: str, key: str) -> list[str]:
        """Values of the first partition key that hold a data file, sorted."""
        files = self.glob(f"{self.table_dir(table)}/{key}=*/{DATA_FILE}")
        return sorted(f.rsplit("/", 2)[-2].split("=", 1)[1] for f in files)

    def read(self, table: str, partition: dict[str, str] | None = None) -> pl.DataFrame:
        """One partition's rows (without the partition columns)."""
        return pl.read_parquet(self.data_file(table, partition),
                               storage_options=self.storage_options)

    def scan(self, table: str, **where: str) -> pl.LazyFrame:
        """Lazy scan of a table, Hive partition columns included, filtered to ``where``."""
        keys = PARTITION_KEYS.get(table, ())
        if not self.glob(f"{self.table_dir(table)}/{'*/' * len(keys)}{DATA_FILE}"):
            raise FileNotFoundError(self.table_dir(table))
        frame = pl.scan_parquet(
            f"{self.table_dir(table)}/**/{DATA_FILE}",
            hive_partitioning=True,
            hive_schema=dict.fromkeys(keys, pl.String),
            storage_options=self.storage_options,
        )
        for key, value in where.items():
            frame = frame.filter(pl.col(key) == value)
        return frame

    def bronze_parts(self, dataset: str, table: str) -> list[str]:
        """The Parquet files of one bronze table, as readers should see them.

        Files that a finished compaction has merged (see ``warehouse.maintenance``) are
        left out even if a crash kept them from being deleted, so no row is read twice.
        """
        folder = f"{self.bronze}/{dataset}/{table}"
        parts = self.glob(f"{folder}/*.parquet")
        present = {p.rsplit("/", 1)[-1] for p in parts}
        merged: set[str] = set()
        for journal in self.glob(f"{folder}/_compacted/*.json"):
            with self.fs.open(journal, "rb") as handle:
                record = json.loads(handle.read())
            if record["output"] in present:
                merged.update(record["inputs"])
        return [p for p in parts if p.rsplit("/", 1)[-1] not in merged]

    def network_file(self, transformer_id: str) -> str:
        """A transformer's low-voltage network model (pandapower JSON), as received."""
        return f"{self.bronze}/networks/{transformer_id}.json"

    def scan_files(self, files: list[str], **options: Any) -> pl.LazyFrame:
        """Lazy scan of Parquet files of this warehouse (bronze parts, for example)."""
        return pl.scan_parquet(files, storage_options=self.storage_options, **options)


def _s3_client_options() -> dict[str, Any]:
    """s3fs options from the standard AWS variables (a custom endpoint, for example)."""
    # Other writers (dlt, another worker) add files: never answer from a stale listing.
    options: dict[str, Any] = {"use_listings_cache": False}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def _polars_s3_options() -> dict[str, str]:
    """Polars (object_store) options from the standard AWS variables."""
    options = {}
    for variable, key in (("AWS_ENDPOINT_URL", "aws_endpoint_url"),
                          ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
                          ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
                          ("AWS_DEFAULT_REGION", "aws_region")):
        if os.environ.get(variable):
            options[key] = os.environ[variable]
    if options.get("aws_endpoint_url", "").startswith("http://"):
        options["aws_allow_http"] = "true"
    return options
