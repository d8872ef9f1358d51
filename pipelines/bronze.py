"""The dlt pipeline every source writes bronze with: Arrow/Parquet into the warehouse."""

from __future__ import annotations

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources import DltSource

from ami.errors import AmiError
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


def run_into_bronze(pipeline: dlt.Pipeline, source: DltSource) -> list[str]:
    """Run one load; return its load ids.

    A project error raised inside a source (a refused token, a missing table) is re-raised
    as itself rather than wrapped in dlt's step error, so its message reaches people and
    Airflow can tell terminal from transient; the failed package is dropped so the next
    run starts clean.
    """
    try:
        info = pipeline.run(source)
    except PipelineStepFailed as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, AmiError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, AmiError):
            pipeline.drop_pending_packages()
            raise cause from None
        raise
    return list(info.loads_ids)
