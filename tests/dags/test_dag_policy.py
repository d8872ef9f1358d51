"""DAG import and policy: no import errors, tags, retries, catchup chosen on purpose."""

import ast
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from ami.chain import CHAIN, STAGES, Stage

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"ami_ingest", "ami_vee", "ami_losses", "ami_anomalies", "ami_monthly_report"}


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}


def test_every_dag_is_there(bag: DagBag) -> None:
    assert set(bag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_policy(bag: DagBag, dag_id: str) -> None:
    dag = bag.dags[dag_id]
    assert "ami" in dag.tags and len(dag.tags) >= 2
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
    assert dag.doc_md, f"{dag_id} has no documentation"


def dag_keywords(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dag":
            return {kw.arg for kw in node.keywords if kw.arg}
    return set()


def test_catchup_is_a_written_choice() -> None:
    # Airflow's default is configuration-dependent: the factory passes every stage's
    # choice, and a stage cannot be declared without one (the field has no default).
    assert {"catchup", "schedule", "tags", "default_args"} <= dag_keywords(
        DAGS / "factory.py")
    catchup = next(f for f in fields(Stage) if f.name == "catchup")
    assert catchup.default is MISSING


def test_every_stage_is_a_dag_and_every_step_a_task(bag: DagBag) -> None:
    # The DAGs are the chain's declaration, not a second copy of it.
    assert [s.dag_id for s in STAGES] == list(CHAIN)
    for stage in STAGES:
        tasks = {t.task_id for t in bag.dags[stage.dag_id].tasks}
        assert {s.name for s in stage.steps} <= tasks, stage.dag_id


def test_layers_are_chained_by_assets(bag: DagBag) -> None:
    def produced(dag_id: str) -> set[str]:
        return {o.name for t in bag.dags[dag_id].tasks for o in t.outlets}

    def consumed(dag_id: str) -> set[str]:
        condition = getattr(bag.dags[dag_id].timetable, "asset_condition", None)
        return {getattr(a, "name", "") for a in getattr(condition, "objects", [])}

    assert produced("ami_ingest") & consumed("ami_vee")
    assert produced("ami_vee") & consumed("ami_losses")
    assert produced("ami_losses") & consumed("ami_anomalies")


def test_report_runs_before_the_fifth(bag: DagBag) -> None:
    cron = bag.dags["ami_monthly_report"].timetable.expression
    _minute, _hour, day, *_ = cron.split()
    assert day.isdigit() and 1 <= int(day) < 5


def test_dag_bodies_are_wiring_only() -> None:
    # A task body is a handful of calls: no loops over data, no frames in DAG files.
    for path in DAGS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "polars" not in text and "pandas" not in text, path.name


def test_a_layer_is_announced_once_after_it_is_written(bag: DagBag) -> None:
    # One emitting task per DAG, no mapped task among them, and every other task upstream
    # of it: the next layer's DAG never starts on half of the data.
    for stage in STAGES:
        dag = bag.dags[stage.dag_id]
        emitting = [t for t in dag.tasks if t.outlets]
        assert len(emitting) == (1 if stage.emits else 0), stage.dag_id
        for task in emitting:
            assert not task.is_mapped, f"{stage.dag_id}.{task.task_id}"
            upstream = task.get_flat_relative_ids(upstream=True)
            assert upstream == {t.task_id for t in dag.tasks} - {task.task_id}, task.task_id
