"""Start the project's chain: through the Airflow DAGs (subprocess) or directly.

The embedded default runs the DAGs with ``python -m dags.runner`` on a SQLite metadata
database under ``settings.airflow_home``; this module prepares that environment and
reports the runner's ``AMI-STEP`` lines. It never imports Airflow itself. The direct
runner (``run_chain_direct``, ``rebuild``) runs the same steps (``ami.chain.STAGES``) in
this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ami.chain import STAGES, Step, function, run_once
from ami.chain import step as chain_step
from ami.errors import AmiError, TerminalError
from ami.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from pipelines.ingest import IngestResult

#: The stages the direct runner (``ami ingest``) runs: landing zone to gold balances.
DIRECT = ("ami_ingest", "ami_vee", "ami_losses")


def airflow_env(*, settings: Settings) -> dict[str, str]:
    """Environment of the embedded Airflow: SQLite metadata, our DAG folder, no examples."""
    import dags

    home = settings.airflow_home.resolve()
    env = dict(os.environ)
    env.pop("PROVIDERS__ENABLE_AIRFLOW_SECRETS", None)  # tasks may read Airflow's secrets
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags.__file__).parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AMI_RUNNER_ERROR_FILE": str(home / "last_error.json"),
        # The DAG tasks read the same settings as this process.
        **{f"AMI_{k.upper()}": _text(v) for k, v in settings.model_dump().items()
           if v is not None},
    })
    return env


def _text(value: object) -> str:
    """A setting as the environment text pydantic-settings reads back."""
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return, union-attr]
    return str(value)


def _airflow_bin() -> str:
    """The ``airflow`` executable of this interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def ensure_metadata_db(*, settings: Settings, log: Path) -> None:
    """Create or upgrade the SQLite metadata database (idempotent)."""
    home = settings.airflow_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".migrated"
    if marker.exists() and (home / "airflow.db").exists():
        return
    with open(log, "a", encoding="utf-8") as out:
        done = subprocess.run([_airflow_bin(), "db", "migrate"], env=airflow_env(settings=settings),
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise TerminalError(f"Airflow could not create its database in {home}",
                            fix=f"read {log}; delete {home} and run again")
    marker.write_text("ok\n", encoding="utf-8")


def run_dags(
    dag_ids: list[str], conf: dict[str, dict[str, object]], *, settings: Settings, log: Path,
    on_step: Callable[[str, str], None] | None = None,
) -> None:
    """Run DAGs one after the other through ``dags.runner``; raise on the first failure."""
    ensure_metadata_db(settings=settings, log=log)
    cmd = [sys.executable, "-m", "dags.runner", *dag_ids, "--conf", json.dumps(conf)]
    failure = None
    with open(log, "a", encoding="utf-8") as out, subprocess.Popen(
        cmd, env=airflow_env(settings=settings), stdout=subprocess.PIPE, stderr=out, text=True,
        encoding="utf-8",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if line.startswith("AMI-STEP "):
                parts = line.rstrip("\n").split(" ", 3)
                state, dag_id = parts[1], parts[2]
                if state == "failed":
                    failure = f"{dag_id}: {parts[3] if len(parts) > 3 else 'failed'}"
                if on_step:
                    on_step(state, dag_id)
        code = proc.wait()
    if code != 0 or failure:
        raise AmiError(f"DAG run failed — {failure or f'runner exit code {code}'}",
                       fix=f"full log: {log}")


def run_chain_direct(landing: str, *, settings: Settings, progress: Progress | None = None,
                     cmis_url: str | None = None, api_url: str | None = None) -> IngestResult:
    """Ingest → VEE → gold in this process: the steps of the DAGs, in their order.

    The stages of ``DIRECT`` run whole (``ami.chain.STAGES``), then the anomaly stage's
    first step records the landing zone's inspection files: a bad one stops the run with
    its file, row and column, but not the readings' way to silver and gold. (Scoring is
    ``ami anomalies`` or the DAG's.)
    """
    results = run_stages(DIRECT, settings=settings, progress=progress, params={
        "landing": landing, "cmis_url": cmis_url, "api_url": api_url})
    run_step(chain_step("ami_anomalies", "record_inspections"), settings=settings)
    ingested: IngestResult = results["load_landing"]
    return ingested


def rebuild(*, settings: Settings, progress: Progress | None = None) -> list[str]:
    """Rebuild the silver days and gold balances that are stale; returns the silver days.

    What ``ami_vee`` and ``ami_losses`` do after a load, for when silver's inputs change
    without one (a manual edit, a corrected meter table).
    """
    results = run_stages(("ami_vee", "ami_losses"), settings=settings, progress=progress)
    days: list[str] = results["vee_days"]
    return days


def run_stages(dag_ids: tuple[str, ...], *, settings: Settings,
               progress: Progress | None = None,
               params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the steps of these stages in the chain's order; each step's result by name."""
    return {step.name: run_step(step, settings=settings, progress=progress, params=params)
            for stage in STAGES if stage.dag_id in dag_ids for step in stage.steps}


def run_step(step: Step, *, settings: Settings, progress: Progress | None = None,
             params: dict[str, Any] | None = None) -> Any:
    """One step in this process: as its DAG task(s) would, then its gate.

    A step with units returns the units it built (the gate checks them); a progress bar
    counts them when ``progress`` is given.
    """
    if step.pending is None:
        return run_once(step, settings=settings, params=params)
    pending = function(step.pending)(settings=settings)
    bar = progress.add_task(step.label, total=len(pending)) if progress else None

    def advance(_unit: str) -> None:
        if progress is not None and bar is not None:
            progress.advance(bar)

    if step.in_order:
        units = function(step.run)(settings=settings, on_unit=advance)
    else:
        build = function(step.run)
        for unit in pending:
            build(unit, settings=settings)
            advance(unit)
        units = pending
    if step.gate:
        function(step.gate)(list(units), settings=settings)
    return units
