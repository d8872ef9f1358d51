"""Constants of the CMIS (billing / customer system) source: the expected table schema."""

from __future__ import annotations

from warehouse.layout import CMIS_DATASET, CMIS_METERS_TABLE

#: dlt pipeline name and bronze dataset of the CMIS load.
PIPELINE_NAME = "ami_cmis"
DATASET = CMIS_DATASET
SOURCE = "cmis"

#: The CMIS table holding meters and customers with validity periods (SCD 2).
METERS_TABLE = CMIS_METERS_TABLE

#: Incremental cursor column: the time a row was last written in CMIS.
CURSOR_COLUMN = "updated_at"

#: Canonical columns (README: data contract) and their SQL type family in CMIS.
METER_COLUMNS: dict[str, str] = {
    "meter_id": "text", "customer_id": "text", "meter_role": "text",
    "customer_group": "text", "transformer_id": "text", "feeder_id": "text",
    "branch_id": "text", "commune": "text", "contracted_kw": "float",
    "solar_kwp": "float", "dr_participant": "bool", "valid_from": "timestamp",
    "valid_to": "timestamp", "network_node": "text", "tags": "text",
}

#: Columns that must exist in the CMIS table for the load to run.
REQUIRED_COLUMNS = ("meter_id", "meter_role", "transformer_id", "valid_from", "valid_to",
                    CURSOR_COLUMN)

#: Rows per Arrow batch yielded to dlt.
CHUNK_ROWS = 50_000
