"""Gold → anomaly scores: rank meters for theft and waste after each day's data.

Inspection outcomes delivered to the landing zone are recorded first (the scoring learns
from them), then the hour bins of every day that lacks current ones are built (one mapped
task per day, after each day's data the new day only), then the window is scored. The
score task returns the meter count and the notes on optional enrichments left out (a window
no tariff covers is ranked with its VND value empty, and says so once).
"""

from __future__ import annotations

from typing import Any

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
    def record_inspections() -> int:
        from ami.settings import Settings
        from models.anomaly.inspections import ingest_landing_inspections
        from warehouse import Warehouse

        return call(ingest_landing_inspections, Warehouse.at(Settings().warehouse)).added

    @task
    def pending_days() -> list[str]:
        from ami.settings import Settings
        from models.anomaly.jobs import pending_hour_days

        return call(pending_hour_days, settings=Settings())

    @task(max_active_tis_per_dagrun=2)
    def build_hours(day: str) -> str:
        from ami.settings import Settings
        from models.anomaly.jobs import build_hour_day

        call(build_hour_day, day, settings=Settings())
        return day

    @task(trigger_rule="none_failed")
    def score() -> dict[str, Any]:
        from ami.settings import Settings
        from models.anomaly.jobs import score_warehouse

        notes: list[str] = []  # what was left out (e.g. no tariff for the window): in XCom
        meters = call(score_warehouse, settings=Settings(), notes=notes)
        return {"meters": meters, "notes": notes}

    days = pending_days()
    record_inspections() >> days
    build_hours.expand(day=days) >> score()


ami_anomalies()
