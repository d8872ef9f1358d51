"""Start the project's chain: through the Airflow DAGs (subprocess) or directly.

The embedded default runs the DAGs with ``python -m dags.runner`` on a SQLite metadata
database under ``settings.airflow_home``; this module prepares that environment and
reports the runner's ``AMI-STEP`` lines. It never imports Airflow itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ami.errors import AmiError, TerminalError
from ami.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from pipelines.ingest import IngestResult

#: The DAGs of the whole chain, in the order assets would trigger them.
CHAIN = ("ami_ingest", "ami_vee", "ami_losses", "ami_anomalies", "ami_monthly_report")


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
    """The ingest → VEE → gold chain in this process, the same calls the DAGs make."""
    from models.anomaly.inspections import ingest_landing_inspections
    from pipelines.ingest import ingest_landing
    from quality.meters import build_meters
    from warehouse import Warehouse

    result = ingest_landing(landing, settings=settings)
    if cmis_url or settings.cmis_url:
        from pipelines.cmis.run import ingest_cmis

        ingest_cmis(cmis_url or str(settings.cmis_url), settings=settings)
    if api_url or settings.hes_api_url:
        from pipelines.hes_api.run import api_token, ingest_api

        ingest_api(api_url or str(settings.hes_api_url), api_token(), settings=settings,
                   pages_per_load=20)
    build_meters(settings=settings)
    rebuild(settings=settings, progress=progress)
    # Outcomes delivered as inspections* files go to gold last: a bad one stops the run
    # with its file, row and column, but not the readings' way to silver and gold.
    ingest_landing_inspections(Warehouse.at(settings.warehouse))
    return result


def rebuild(*, settings: Settings, progress: Progress | None = None) -> list[str]:
    """Rebuild the silver days and gold balances that are stale; returns the silver days.

    What ``ami_vee`` and ``ami_losses`` do after a load, for when silver's inputs change
    without one (a manual edit, a corrected meter table).
    """
    from models.balances import build_day, build_month, months_of, pending_gold_days
    from quality.gates import check_gold_days, check_silver_days
    from quality.vee import pending_days, vee_pending

    vee = progress.add_task("VEE (bronze → silver)", total=len(pending_days(settings=settings))) \
        if progress else None
    built = vee_pending(settings=settings,
                        on_day=(lambda _day: progress.advance(vee))
                        if progress and vee is not None else None)
    check_silver_days([c.date for c in built], settings=settings)  # as ami_vee does
    days = pending_gold_days(settings=settings)
    gold = progress.add_task("Cân bằng ngày (silver → gold)", total=len(days)) \
        if progress else None
    for day in days:
        build_day(day, settings=settings)
        if progress and gold is not None:
            progress.advance(gold)
    check_gold_days(days, settings=settings)  # as ami_losses does
    for month in months_of(days):
        build_month(month, settings=settings)
    return [c.date for c in built]
