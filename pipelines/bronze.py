"""The dlt pipeline every source writes bronze with: Arrow/Parquet into the warehouse."""

from __future__ import annotations

import os

import dlt
from dlt.common.configuration.specs import AwsCredentials
from dlt.common.typing import TSecretStrValue
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
        destination=dlt.destinations.filesystem(bucket_url=warehouse.bronze,
                                                credentials=_credentials(warehouse)),
        dataset_name=dataset,
        pipelines_dir=str(warehouse.work / "dlt"),
    )


def _credentials(warehouse: Warehouse) -> AwsCredentials | None:
    """S3 credentials from the standard AWS variables (None: local, or dlt's own lookup)."""
    if warehouse.local or not os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    credentials = AwsCredentials()
    credentials.aws_access_key_id = os.environ["AWS_ACCESS_KEY_ID"]
    credentials.aws_secret_access_key = TSecretStrValue(os.environ.get("AWS_SECRET_ACCESS_KEY"))
    credentials.region_name = os.environ.get("AWS_DEFAULT_REGION")
    credentials.endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    return credentials


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
