"""Airflow DAGs built from the chain's declaration (``ami.chain.STAGES``), one per stage.

Each step becomes its task(s), in the declared order:

- a step without units: one task running it with the DAG's params;
- units built in order: one task (the VEE days: each reads the days before it);
- independent units: a task listing the stale units and a task mapped over them,
  ``parallel`` at a time.

A gate runs after its step on the units the step listed. A step after a mapped one runs
when nothing failed (``none_failed``): a mapped task with no units is skipped, and the
next step must still run. A stage that hands a layer on emits its asset once, from its
last task, after everything is written: the gate, a ``…_written`` task after a mapped
step (never the mapped instances: each would announce the layer before the others had
written their unit), or the step's single task. The stage after it is scheduled on it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, dag, task

from ami.chain import STAGES, Stage, Step, function, run_once, summary
from ami.chain import stage as chain_stage
from dags.common import DEFAULT_ARGS, START, TAGS, call

#: Layers as assets: a DAG that writes a layer emits it; the next layer's DAG runs on it.
ASSETS = {asset.name: asset for asset in (
    Asset(name="ami_bronze", uri="file:///ami/warehouse/bronze"),
    Asset(name="ami_silver", uri="file:///ami/warehouse/silver"),
    Asset(name="ami_gold", uri="file:///ami/warehouse/gold"),
)}


def _schedule(stage: Stage) -> Any:
    """The stage's cron, or the asset of the stage before it."""
    if stage.schedule is not None:
        return stage.schedule
    before = STAGES[[s.dag_id for s in STAGES].index(stage.dag_id) - 1]
    assert before.emits, f"{stage.dag_id} follows {before.dag_id}, which hands nothing on"
    return [ASSETS[before.emits]]


def _settings() -> Any:
    from ami.settings import Settings

    return Settings()


def _step_tasks(step: Step, *, outlets: list[Asset], after_mapped: bool) -> tuple[Any, Any]:
    """The first and last task of a step, wired to each other."""
    trigger = "none_failed" if after_mapped else "all_success"
    if step.pending is None:
        @task(task_id=step.name, outlets=outlets, trigger_rule=trigger)
        def once(params: dict[str, Any] | None = None, logical_date: Any = None) -> Any:
            given = {**(params or {}), "logical_date": logical_date}
            return summary(call(run_once, step, settings=_settings(), params=given))

        only = once()
        return only, only

    if step.in_order:
        @task(task_id=step.name, outlets=[] if step.gate else outlets, trigger_rule=trigger)
        def in_order() -> list[str]:
            units: list[str] = call(function(step.run), settings=_settings())
            return units

        first = last = in_order()
        units_arg = first
    else:
        @task(task_id=f"{step.name}_pending", trigger_rule=trigger)
        def pending() -> list[str]:
            units: list[str] = call(function(step.pending or ""), settings=_settings())
            return units

        # a mapped task never emits: each instance would announce the layer before the
        # other units are written (see ``written`` below)
        @task(task_id=step.name, max_active_tis_per_dagrun=step.parallel)
        def build(unit: str) -> str:
            call(function(step.run), unit, settings=_settings())
            return unit

        first = units_arg = pending()
        last = build.expand(unit=first)
        if outlets and not step.gate:
            @task(task_id=f"{step.name}_written", outlets=outlets)
            def written(units: list[str]) -> list[str]:
                return list(units)  # the layer is announced once, after every unit

            done = written(units_arg)
            last >> done
            last = done
    if step.gate:
        @task(task_id=f"{step.name}_gate", outlets=outlets, trigger_rule="none_failed")
        def gate(units: list[str]) -> list[str]:
            # the results are in Data Docs; a blocking failure raises
            call(function(step.gate or ""), list(units), settings=_settings())
            return list(units)

        checked = gate(units_arg)
        last >> checked
        last = checked
    return first, last


def stage_dag(dag_id: str) -> DAG:
    """The DAG of one stage of the chain."""
    stage = chain_stage(dag_id)
    params = {p: None for s in stage.steps for p in s.params if p != "logical_date"}

    @dag(
        dag_id=stage.dag_id,
        schedule=_schedule(stage),
        start_date=START,
        catchup=stage.catchup,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=[*TAGS, stage.tag],
        params=params,
        doc_md=stage.doc + "\n\n" + "\n".join(f"- `{s.name}`: {s.writes}" for s in stage.steps),
    )
    def build() -> None:
        previous, mapped = None, False
        for number, step in enumerate(stage.steps):
            last_step = number == len(stage.steps) - 1
            outlets = [ASSETS[stage.emits]] if stage.emits and last_step else []
            first, last = _step_tasks(step, outlets=outlets, after_mapped=mapped)
            if previous is not None:
                previous >> first
            previous, mapped = last, step.pending is not None and not step.in_order

    made: DAG = build()
    return made
