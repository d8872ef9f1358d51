"""The dlt pipeline every source writes bronze with: Arrow/Parquet into the warehouse."""

from __future__ import annotations

import dlt

from warehouse import Warehouse


def bronze_pipeline(name: str, dataset: str, *, warehouse: Warehouse) -> dlt.Pipeline:
    """A dlt pipeline loading Parquet into ``bronze/<dataset>/`` of the warehouse.

    Each row gets ``_dlt_load_id`` (lineage and "current version" selection downstream);
    dlt's own copies of completed load packages are deleted, since bronze is the copy kept.
    """
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["load.delete_completed_jobs"] = True
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.filesystem(bucket_url=str(warehouse.bronze.resolve())),
        dataset_name=dataset,
        pipelines_dir=str((warehouse.state / "dlt").resolve()),
    )
