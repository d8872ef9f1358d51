"""Bronze → silver: meters dimension, then VEE per pending day (dynamic task mapping)."""

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
    def pending_days(meter_rows: int) -> list[str]:
        from ami.settings import Settings
        from quality.vee import pending_days as pending

        return call(pending, settings=Settings())

    @task(max_active_tis_per_dagrun=2)
    def vee_day(day: str) -> dict[str, int | str]:
        from dataclasses import asdict

        from ami.settings import Settings
        from quality.vee import vee_day as run

        return asdict(call(run, day, settings=Settings()))

    @task(outlets=[SILVER])
    def done(counts: list[dict[str, int | str]]) -> int:
        return len(list(counts))

    done(vee_day.expand(day=pending_days(build_meters())))


ami_vee()
