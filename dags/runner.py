"""Run DAGs in-process, one after the other (the embedded default of ``ami demo``).

Production schedules the same DAGs with the scheduler, where assets chain them; here
``dag.test()`` runs each in this process on the SQLite metadata database. Progress is
printed as ``AMI-STEP <state> <dag_id> [message]`` lines for the CLI to draw.

    python -m dags.runner ami_ingest ami_vee --conf '{"ami_ingest": {"landing": "..."}}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dags.common import ERROR_FILE_ENV

DAGS_FOLDER = Path(__file__).parent


def run_dags(dag_ids: list[str], conf: dict[str, dict[str, object]]) -> int:
    """Run each DAG once; stop at the first failure. Returns a process exit code."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"AMI-STEP failed import {path}: {error.splitlines()[-1]}", flush=True)
        return 2
    for dag_id in dag_ids:
        dag = bag.get_dag(dag_id)
        if dag is None:
            print(f"AMI-STEP failed {dag_id} unknown DAG", flush=True)
            return 2
        print(f"AMI-STEP start {dag_id}", flush=True)
        error_file = Path(os.environ[ERROR_FILE_ENV]) if ERROR_FILE_ENV in os.environ else None
        if error_file:
            error_file.unlink(missing_ok=True)
        run = dag.test(run_conf=conf.get(dag_id, {}))
        state = str(getattr(run, "state", "failed"))
        if not state.endswith("success"):
            message = "see the log for the failed task"
            if error_file and error_file.exists():
                message = json.loads(error_file.read_text(encoding="utf-8"))["message"]
            print(f"AMI-STEP failed {dag_id} {message}", flush=True)
            return 1
        print(f"AMI-STEP done {dag_id}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_ids", nargs="+")
    parser.add_argument("--conf", default="{}", help="JSON: dag_id → run conf")
    args = parser.parse_args(argv)
    return run_dags(args.dag_ids, json.loads(args.conf))


if __name__ == "__main__":
    sys.exit(main())
