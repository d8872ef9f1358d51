"""Landing zone → bronze (dlt), then the customer-system dimension → silver meters."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from dags.common import BRONZE, DEFAULT_ARGS, START, TAGS, call


@dag(
    dag_id="ami_ingest",
    schedule="*/30 * * * *",
    start_date=START,
    # Loading is driven by which files are new (dlt state), not by the run's interval,
    # so missed runs must not be replayed: the next run picks up everything pending.
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "ingest"],
    params={"landing": None},
    doc_md=__doc__,
)
def ami_ingest() -> None:
    @task(outlets=[BRONZE])
    def load_landing(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from ami.settings import Settings
        from pipelines.ingest import ingest_landing

        settings = Settings()
        landing = (params or {}).get("landing") or settings.landing
        result = call(ingest_landing, landing, settings=settings)
        return {"load_id": result.load_id, "rows_seen": result.rows_seen,
                "rows_loaded": result.rows_loaded, "dates": len(result.dates),
                "quarantined_files": [f.name for f in result.quarantined]}

    load_landing()


ami_ingest()
