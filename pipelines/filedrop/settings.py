"""Constants of the landing-zone (head-end file drop) source: file kinds and columns."""

from __future__ import annotations

from warehouse.layout import FILEDROP_DATASET

#: Required canonical columns per file kind (README: data contract). A file missing one of them
#: is quarantined whole; extra columns are kept in bronze.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "meters": ("meter_id", "meter_role", "transformer_id"),
    "transformers": ("transformer_id", "rated_kva"),
    "readings": ("meter_id", "interval_end", "kwh_import"),
    "registers": ("meter_id", "read_at", "register_kwh_import"),
    "events": ("meter_id", "event_at", "event_code"),
    "inspections": ("meter_id", "inspected_at", "outcome"),
    "temperature": ("date", "temp_c_mean"),
    "dr_events": ("event_id", "start_at", "end_at"),
}

#: File kinds in the order they are loaded (reference data first).
KINDS: tuple[str, ...] = tuple(REQUIRED_COLUMNS)

#: File endings the source reads.
SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")

#: Kinds whose rows carry an instant; the local dates they touch drive recomputation.
TIME_COLUMNS: dict[str, str] = {
    "readings": "interval_end",
    "registers": "read_at",
    "events": "event_at",
}

#: Name of the dlt dataset (folder under bronze/) this source writes.
DATASET = FILEDROP_DATASET
