"""Bronze → silver: meters, VEE of every stale day in date order, then the GX gate."""

from __future__ import annotations

from airflow.sdk import dag, task

from dags.common import BRONZE, DEFAULT_ARGS, SILVER, START, TAGS, call


@dag(
    dag_id="ami_vee",
    schedule=[BRONZE],
    start_date=START,
    catchup=False,  # asset-triggered: there are no intervals to catch up
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "quality"],
    doc_md=__doc__,
)
def ami_vee() -> None:
    @task
    def build_meters() -> int:
        from ami.settings import Settings
        from quality.meters import build_meters as build

        return call(build, settings=Settings())

    @task
    def vee_days(meter_rows: int) -> list[str]:
        """Every stale day in date order: a day's rules use the days before it."""
        from ami.settings import Settings
        from quality.vee import vee_pending

        return [c.date for c in call(vee_pending, settings=Settings())]

    @task(outlets=[SILVER])
    def silver_gate(days: list[str]) -> list[str]:
        """Great Expectations at bronze → silver; a blocking failure stops gold."""
        from ami.settings import Settings
        from quality.gates import check_silver_days

        return [r.decision for r in call(check_silver_days, list(days), settings=Settings())]

    silver_gate(vee_days(build_meters()))


ami_vee()
