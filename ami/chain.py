"""The chain, declared once: every step, what it writes, how it finds its work, in order.

``STAGES`` is the only description of the chain. Each stage is one Airflow DAG
(``dags.factory`` builds it) and each step one or two of its tasks; the direct runner
(``ami.orchestrate.run_chain_direct``, behind ``ami ingest``) iterates the same stages and
steps in the same order in one process. A step names its functions as
``"module:function"`` text, imported when the step runs, so parsing a DAG file imports
neither Polars nor the models.

A step is one of three kinds:

- **once** (no ``pending``): ``run(*, settings, **params)`` — a load, a table rebuilt
  whole, the scoring.
- **units, in order** (``in_order``): ``run(*, settings, on_unit)`` builds every stale unit
  in order and returns those it built (a VEE day reads the days before it, so a rebuilt
  day can make the next ones stale); ``pending(*, settings)`` only counts them ahead.
- **units, independent**: ``pending(*, settings)`` lists the stale units, ``run(unit, *,
  settings)`` builds one (a mapped task per unit in the DAG, ``parallel`` at a time).

What is stale is decided by one rule, ``warehouse.catalog.is_stale``: a partition is
rebuilt when it is missing or when the sources recorded in its catalog entry differ from
what the step would build it from today (each ``pending`` function gives its sources).
A ``gate`` checks the units a step built (Great Expectations) before the next step runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ami.settings import Settings

if TYPE_CHECKING:
    from pipelines.ingest import IngestResult


@dataclass(frozen=True)
class Step:
    """One step of the chain: a task (or a pending task and a mapped task) of its DAG."""

    name: str                       # the task id
    writes: str                     # what it builds, for people (README, DAG docs)
    run: str                        # "module:function" that builds
    pending: str | None = None      # "module:function" listing the stale units
    in_order: bool = False          # units built one after another by ``run`` itself
    parallel: int = 1               # independent units built at once (mapped tasks)
    gate: str | None = None         # "module:function" checking the units built
    params: tuple[str, ...] = ()    # run parameters (DAG params, runner arguments)
    label: str = ""                 # its progress bar's text, in Vietnamese (units steps)


@dataclass(frozen=True)
class Stage:
    """One DAG: its steps in order, when it runs and which layer it hands on."""

    dag_id: str
    doc: str
    steps: tuple[Step, ...]
    schedule: str | None            # cron text; None: when the stage before hands on
    catchup: bool                   # replay missed intervals (a written choice, no default)
    emits: str | None = None        # the asset (a layer) its last task emits
    tag: str = ""


STAGES: tuple[Stage, ...] = (
    Stage(
        "ami_ingest",
        "Customer system (CMIS) and head-end API when configured, and the landing zone → "
        "bronze. Loading is driven by which files and rows are new (dlt state), not by the "
        "run's interval: missed runs are not replayed, the next run takes all that waits.",
        (
            Step("load_customer_system", "bronze cmis/meters (when a CMIS URL is set)",
                 "ami.chain:load_customer_system", params=("cmis_url",)),
            Step("load_landing", "bronze readings, events, registers, meters, networks, "
                 "transformers from the landing zone", "ami.chain:load_landing",
                 params=("landing",)),
            Step("load_head_end_api", "bronze readings (when a head-end API URL is set)",
                 "ami.chain:load_head_end_api", params=("api_url",)),
        ),
        schedule="*/30 * * * *", catchup=False, emits="ami_bronze", tag="ingest",
    ),
    Stage(
        "ami_vee",
        "Bronze → silver: meters, VEE of every stale day in date order, then the Great "
        "Expectations gate.",
        (
            Step("build_meters", "silver meters", "quality.meters:build_meters"),
            Step("build_plan_inputs", "silver temperature, dr_events",
                 "quality.plan_inputs:build_plan_inputs"),
            Step("vee_days", "silver readings, quarantine, findings, quality_day, events, "
                 "registers",
                 "quality.schedule:vee_pending", pending="quality.schedule:pending_days",
                 in_order=True, gate="quality.gates:check_silver_days",
                 label="Kiểm tra, ước tính dữ liệu (VEE: bronze → silver)"),
        ),
        schedule=None, catchup=False, emits="ami_silver", tag="quality",
    ),
    Stage(
        "ami_losses",
        "Silver → gold: meter-day energy and balances per day (GX-gated), then per month, "
        "then every target of the province's saving plan per month.",
        (
            Step("build_day", "gold meter_day, balance_interval, balance_day",
                 "models.balances:build_day", pending="models.balances:pending_gold_days",
                 parallel=2, gate="quality.gates:check_gold_days",
                 label="Cân bằng ngày (silver → gold)"),
            Step("build_month", "gold balance_month", "models.balances:build_month",
                 pending="models.balances:pending_months", parallel=2,
                 label="Cân bằng tháng"),
            Step("build_savings", "gold savings_* (every target of the saving plan)",
                 "models.savings.jobs:build_savings_month",
                 pending="models.savings.jobs:pending_savings_months",
                 label="Tiết kiệm điện theo kế hoạch của tỉnh"),
        ),
        schedule=None, catchup=False, emits="ami_gold", tag="losses",
    ),
    Stage(
        "ami_anomalies",
        "Gold → anomaly scores after each day's data. Inspection outcomes delivered to the "
        "landing zone are recorded first (the scoring learns from them), then the hour "
        "bins and day features of every day that lacks current ones (a mapped task per "
        "day), then the window is scored; the score task returns the meter count and the "
        "notes on optional enrichments left out.",
        (
            Step("record_inspections", "gold inspections (landing-zone files)",
                 "ami.chain:record_inspections"),
            Step("build_hours", "gold anomaly_hours, anomaly_days",
                 "models.anomaly.jobs:build_hour_day",
                 pending="models.anomaly.jobs:pending_hour_days", parallel=2,
                 label="Dữ liệu theo giờ và theo ngày cho phát hiện bất thường"),
            Step("score", "gold anomaly_scores", "ami.chain:score"),
        ),
        schedule=None, catchup=False, tag="anomalies",
    ),
    Stage(
        "ami_monthly_report",
        "The monthly feed to Sở Công Thương, built on the 2nd for the month before: the "
        "plan asks for it before the 5th, which leaves two days of retries and late data. "
        "One report per month: a missed month is sent on purpose (`ami report monthly`), "
        "never replayed automatically.",
        (
            Step("build", "the month's savings tables (when stale), workbook, JSON and CSV "
                 "(delivered when asked)",
                 "ami.chain:monthly_report", params=("month", "deliver", "logical_date")),
        ),
        schedule="0 7 2 * *", catchup=False, tag="report",
    ),
)

#: The DAGs of the whole chain, in the order their assets trigger them.
CHAIN = tuple(stage.dag_id for stage in STAGES)


def stage(dag_id: str) -> Stage:
    """The stage of a DAG id."""
    return next(s for s in STAGES if s.dag_id == dag_id)


def function(reference: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` reference names (imported now)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def step(dag_id: str, name: str) -> Step:
    """A step by its stage and name."""
    return next(s for s in stage(dag_id).steps if s.name == name)


def markdown_table() -> str:
    """The chain as the README shows it: one row per step, in order."""
    rows = ["| DAG (stage) | step (task) | writes | units | gate |", "|---|---|---|---|---|"]
    for each in STAGES:
        for one in each.steps:
            units = ("—" if one.pending is None else "stale days, in order" if one.in_order
                     else f"stale units, {one.parallel} at a time")
            gate = f"`{one.gate.partition(':')[2]}`" if one.gate else "—"
            rows.append(f"| `{each.dag_id}` | `{one.name}` | {one.writes} | {units} | {gate} |")
    return "\n".join(rows)


def run_once(once: Step, *, settings: Settings, params: dict[str, Any] | None = None) -> Any:
    """Run a step without units with its parameters (missing ones are None)."""
    given = params or {}
    return function(once.run)(settings=settings, **{p: given.get(p) for p in once.params})


def summary(result: Any) -> Any:
    """What a step hands on (XCom): a result's ``summary()`` when it has one."""
    return result.summary() if hasattr(result, "summary") else result


# --- the steps that need a word of wiring ------------------------------------------------

def load_customer_system(*, settings: Settings, cmis_url: str | None = None
                         ) -> dict[str, Any] | None:
    """Changed CMIS meter rows into bronze.

    None when no CMIS is configured: in the embedded default meters come as files in the
    landing zone.
    """
    url = cmis_url or settings.cmis_url
    if not url:
        return None
    from pipelines.cmis.run import ingest_cmis

    result = ingest_cmis(str(url), settings=settings)
    return {"load_id": result.load_id, "rows_loaded": result.rows_loaded}


def load_landing(*, settings: Settings, landing: str | None = None) -> IngestResult:
    """New and changed landing-zone files into bronze."""
    from pipelines.ingest import ingest_landing

    return ingest_landing(landing or settings.landing, settings=settings)


def load_head_end_api(*, settings: Settings, api_url: str | None = None
                      ) -> dict[str, Any] | None:
    """New readings from the head-end API into bronze; None when none is configured."""
    url = api_url or settings.hes_api_url
    if not url:
        return None
    from pipelines.hes_api.run import api_token, ingest_api

    result = ingest_api(str(url), api_token(), settings=settings, pages_per_load=20)
    return {"load_id": result.load_id, "rows_loaded": result.rows_loaded}


def record_inspections(*, settings: Settings) -> int:
    """Landing-zone ``inspections*`` files into gold; returns the outcomes added.

    A bad file stops the step with its file, row and column (after the readings went to
    silver and gold: the anomaly stage comes last).
    """
    from models.anomaly.inspections import ingest_landing_inspections
    from warehouse import Warehouse

    return ingest_landing_inspections(Warehouse.at(settings.warehouse)).added


def score(*, settings: Settings) -> dict[str, Any]:
    """Score the window; the meter count and what was left out (e.g. no tariff)."""
    from models.anomaly.jobs import score_warehouse

    notes: list[str] = []
    return {"meters": score_warehouse(settings=settings, notes=notes), "notes": notes}


def monthly_report(*, settings: Settings, month: str | None = None,
                   deliver: bool | None = None, logical_date: Any = None) -> str:
    """The month's report (the month before ``logical_date`` unless given); its workbook."""
    from models.savings.jobs import savings_month
    from reports.monthly.from_warehouse import build_from_warehouse, previous_month

    month = month or previous_month(logical_date)
    savings_month(month, settings=settings)  # the plan's tables in gold, current
    paths = build_from_warehouse(month, settings=settings, deliver=bool(deliver))
    return str(paths.workbook)
