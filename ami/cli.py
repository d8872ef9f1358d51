"""The ``ami`` command line (a stable contract: README "Command line").

Every failure ends in one line on stderr that says what is wrong and what to do, and a
non-zero exit code: 1 for bad data or a failed run, 2 for a wrong command line.

This module holds the one typer app, its entry point ``main`` and ``ami ingest``; the
other commands live in ``ami.commands``, one module per command group, and are
registered here in the order ``ami --help`` lists them.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from ami.commands import anomalies, losses, report, synthetic, vee, warehouse
from ami.commands.common import console, err, log_path, new_progress
from ami.errors import AmiError, ConfigError

try:  # typer ≥ 0.24 vendors click; older releases use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]
from ami.settings import Settings, get_settings

app = typer.Typer(
    name="ami", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="AMI meter data pipeline and loss analytics (Lạng Sơn, EVNNPC).",
)


def ingest(
    *,
    landing: Annotated[str, typer.Option(help="Landing zone folder or URL.")],
    airflow: Annotated[bool, typer.Option(help="Run through the Airflow DAGs.")] = False,
    cmis: Annotated[str | None, typer.Option(
        help="Customer system database URL (sqlite:///… or postgresql+psycopg2://…).")] = None,
    api: Annotated[str | None, typer.Option(
        help="Head-end REST API base URL (token: SOURCES__HES_API__TOKEN).")] = None,
) -> None:
    """Load new landing-zone files (and the customer system) into bronze → silver → gold."""
    from ami.orchestrate import DIRECT, run_chain_direct, run_dags
    from pipelines.filedrop.helpers import list_landing
    from quality.data_docs import data_docs_index
    from quality.schedule import vee_totals
    from warehouse import Warehouse
    from warehouse.state import read_manifest

    settings = get_settings()
    # Fails early, before anything is written; files already fingerprinted are not read.
    files = list_landing(landing, known=read_manifest(Warehouse.at(settings.warehouse)))
    if not files:
        raise ConfigError(f"landing folder {landing} holds no meters*/readings* files",
                          fix="drop head-end exports (CSV, CSV.gz or Parquet) into it")
    if airflow:
        run_dags(list(DIRECT),
                 {"ami_ingest": {"landing": landing, "cmis_url": cmis, "api_url": api}},
                 settings=settings, log=log_path(settings, "ingest"))
        console.print(f"[green]Xong[/]: chạy qua các DAG {' → '.join(DIRECT)}")
        return
    with new_progress() as progress:
        result = run_chain_direct(landing, settings=settings, progress=progress, cmis_url=cmis,
                                  api_url=api)
    table = Table(title="Đối soát lần nạp (load reconciliation)")
    for column in ("file", "status", "rows seen", "rows loaded", "no usable instant",
                   "reason"):
        table.add_column(column)
    for f in result.files:
        table.add_row(f.name, f.status, str(f.rows_seen), str(f.rows_loaded),
                      str(f.unusable_rows), f.reason or "")
    console.print(table)
    console.print(f"load {result.load_id}: {result.rows_seen:,} rows seen = "
                  f"{result.rows_loaded:,} loaded into bronze; "
                  f"{len(result.quarantined)} file(s) quarantined whole")
    totals = vee_totals(result.dates, settings=settings)
    if totals.get("days"):
        console.print(
            f"VEE of {totals['days']} day(s): {totals['rows_in']:,} rows = "
            f"{totals['accepted']:,} accepted + {totals['duplicates_dropped']:,} exact "
            f"duplicates dropped + {totals['quarantined']:,} quarantined; "
            f"{totals['rejected_estimated']:,} rejected and estimated, "
            f"{totals['estimated']:,} intervals estimated, {totals['missing']:,} missing; "
            f"{totals.get('findings', 0):,} findings (silver/findings)")
    if totals.get("waiting_days"):
        console.print(
            f"{totals['waiting_rows']:,} rows wait in bronze for {totals['waiting_days']} "
            "day(s) whose own delivery has not arrived (rows spilling over midnight)")
    _print_reconciliation([f.name for f in result.files if f.status == "loaded"],
                          settings=settings)
    docs = data_docs_index(settings=settings)
    if docs is not None:
        console.print(f"Data Docs (Great Expectations): {docs}")
    if result.quarantined:
        first = result.quarantined[0]
        more = f" (and {len(result.quarantined) - 1} more file(s))" \
            if len(result.quarantined) > 1 else ""
        raise AmiError(f"not loaded{more}: {first.reason}")


def _print_reconciliation(names: list[str], *, settings: Settings) -> None:
    """Where each readings file of this run went: silver, quarantine, or waiting."""
    from quality.reconcile import reconcile_readings

    files = reconcile_readings(names, settings=settings)
    if not files:
        return
    table = Table(title="Đối soát từng tệp (rows → silver + duplicates + quarantine + waiting)")
    for column in ("file", "rows", "in silver", "duplicates dropped", "quarantined (rule)",
                   "waiting (days)", "check"):
        table.add_column(column, justify="left" if column in ("file", "quarantined (rule)",
                                                              "waiting (days)") else "right")
    for f in files:
        rules = ", ".join(f"{rule} {n:,}" for rule, n in f.rules.items())
        waits = [f"{f.waiting:,} ({', '.join(f.waiting_days)})"] if f.waiting else []
        if f.not_built:
            waits.append(f"{f.not_built:,} not built yet ({', '.join(f.not_built_days)})")
        table.add_row(f.name, f"{f.rows:,}", f"{f.in_silver:,}", f"{f.duplicates_dropped:,}",
                      f"{f.quarantined:,}" + (f" ({rules})" if rules else ""),
                      "; ".join(waits) or "0",
                      "ok" if f.unaccounted == 0 else f"{f.unaccounted:+,} unaccounted")
    console.print(table)


# The commands, in the order `ami --help` lists them (README "Command line").
app.command()(synthetic.demo)
app.command()(ingest)
app.command()(losses.losses)
app.command()(losses.savings)
app.command("synth")(synthetic.synth)
app.add_typer(anomalies.anomalies_app, name="anomalies")
app.add_typer(vee.vee_app, name="vee")
app.add_typer(report.review_app, name="app")
app.add_typer(report.report_app, name="report")
app.add_typer(warehouse.warehouse_app, name="warehouse")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turning every error into one clear line."""
    command = typer.main.get_command(app)
    try:
        # (without standalone mode click returns the code of typer.Exit instead of raising)
        code = command.main(args=argv, prog_name="ami", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err.print("ami: aborted")
        return 130
    except click_exc.UsageError as exc:
        err.print(f"ami: error: {exc.format_message()} (run `ami --help` for the options)",
                  markup=False, highlight=False)
        return 2
    except click_exc.ClickException as exc:
        err.print(f"ami: error: {exc.format_message()}", markup=False, highlight=False)
        return 2
    except AmiError as exc:
        err.print(f"ami: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
