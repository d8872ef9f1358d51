"""Gold → anomaly scores: rank meters for theft and waste after each day's data."""

from __future__ import annotations

from airflow.sdk import dag, task

from dags.common import DEFAULT_ARGS, GOLD, START, TAGS, call


@dag(
    dag_id="ami_anomalies",
    schedule=[GOLD],
    start_date=START,
    catchup=False,  # asset-triggered: scoring always uses the latest data
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "anomalies"],
    doc_md=__doc__,
)
def ami_anomalies() -> None:
    @task
    def score() -> int:
        from ami.settings import Settings
        from models.anomaly.jobs import score_warehouse

        return call(score_warehouse, settings=Settings())

    score()


ami_anomalies()
