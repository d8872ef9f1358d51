"""Silver → gold: meter-day energy and balances per day (GX-gated), then per month."""

from __future__ import annotations

from airflow.sdk import dag, task

from dags.common import DEFAULT_ARGS, GOLD, SILVER, START, TAGS, call


@dag(
    dag_id="ami_losses",
    schedule=[SILVER],
    start_date=START,
    catchup=False,  # asset-triggered: pending days come from the catalog, not intervals
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "losses"],
    doc_md=__doc__,
)
def ami_losses() -> None:
    @task
    def pending_days() -> list[str]:
        from ami.settings import Settings
        from models.balances import pending_gold_days

        return call(pending_gold_days, settings=Settings())

    @task(max_active_tis_per_dagrun=2)
    def build_day(day: str) -> str:
        from ami.settings import Settings
        from models.balances import build_day as build

        call(build, day, settings=Settings())
        return day

    @task
    def gold_gate(days: list[str]) -> list[str]:
        """Great Expectations at silver → gold; a blocking failure stops the months."""
        from ami.settings import Settings
        from quality.gates import check_gold_days

        call(check_gold_days, list(days), settings=Settings())
        return list(days)

    @task
    def months(days: list[str]) -> list[str]:
        from models.balances import months_of

        return months_of(list(days))

    @task(outlets=[GOLD])
    def build_month(month: str) -> str:
        from ami.settings import Settings
        from models.balances import build_month as build

        call(build, month, settings=Settings())
        return month

    build_month.expand(month=months(gold_gate(build_day.expand(day=pending_days()))))


ami_losses()
