"""The ``ami`` command line (a stable contract: README "Command line").

Every failure ends in one line on stderr that says what is wrong and what to do, and a
non-zero exit code: 1 for bad data or a failed run, 2 for a wrong command line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ami.errors import AmiError, ConfigError

try:  # typer ≥ 0.24 vendors click; older releases use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]
from ami.settings import Settings, get_settings

if TYPE_CHECKING:
    from pipelines.hes_api.simulator import Simulator

app = typer.Typer(
    name="ami", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="AMI meter data pipeline and loss analytics (Lạng Sơn, EVNNPC).",
)
anomalies_app = typer.Typer(no_args_is_help=True, help="Theft and waste detection.")
report_app = typer.Typer(no_args_is_help=True, help="Reports to Sở Công Thương.")
vee_app = typer.Typer(no_args_is_help=True,
                      help="Data quality (VEE): manual edits and the rule evaluation.")
app.add_typer(anomalies_app, name="anomalies")
app.add_typer(vee_app, name="vee")
app.add_typer(report_app, name="report")
warehouse_app = typer.Typer(no_args_is_help=True,
                            help="Warehouse catalog, audit and housekeeping.")
app.add_typer(warehouse_app, name="warehouse")

# Logs and CI are not terminals: give tables room rather than folding every cell.
console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)


def _progress() -> Progress:
    """A rich progress display for long steps."""
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=False)


def _log_path(settings: Settings, name: str) -> Path:
    """A fresh log file under ``data/logs``."""
    folder = settings.data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.log"
    path.write_text("", encoding="utf-8")
    return path


@app.command()
def demo(
    meters: Annotated[int, typer.Option(min=1, help="Customer meters in the province.")] = 3000,
    days: Annotated[int, typer.Option(min=1, max=800, help="Days of data.")] = 61,
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD.")] = "2026-09-01",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic province.")] = 42,
    api: Annotated[bool, typer.Option(
        help="Deliver the readings through the head-end API simulator on 127.0.0.1 "
             "instead of as files.")] = False,
) -> None:
    """Generate a synthetic province and run the whole chain through the Airflow DAGs."""
    from contextlib import ExitStack

    from ami.orchestrate import CHAIN, run_dags
    from ami.province import ProvinceSpec, generate_province
    from ami.summary import print_summary

    settings = get_settings()
    first = _parse_day(start)
    spec = ProvinceSpec(meters=meters, start=first, days=days, seed=seed)
    _reset_if_other_province(spec, settings, api=api)
    began = time.monotonic()
    with _progress() as progress, ExitStack() as stack:
        gen = progress.add_task("Sinh dữ liệu tỉnh mẫu (synthetic province)", total=days)
        summary = generate_province(
            spec, Path(settings.landing), settings.truth_dir,
            progress=lambda done, total: progress.update(gen, completed=done, total=total),
        )
        ingest_params: dict[str, object] = {"landing": str(settings.landing)}
        if api:
            ingest_params["api_url"] = stack.enter_context(_head_end_simulator(settings)).url
        month = _last_full_month(first, days)
        steps = progress.add_task("Chạy các DAG Airflow", total=len(CHAIN))
        log = _log_path(settings, "demo")

        def on_step(state: str, dag_id: str) -> None:
            if state == "start":
                progress.update(steps, description=f"DAG {dag_id}")
            elif state == "done":
                progress.advance(steps)

        run_dags(list(CHAIN), {"ami_ingest": ingest_params,
                               "ami_monthly_report": {"month": month}},
                 settings=settings, log=log, on_step=on_step)
    print_summary(console, month=month, settings=settings, generation=summary,
                  seconds=time.monotonic() - began)


@app.command()
def ingest(
    landing: Annotated[str, typer.Option(help="Landing zone folder or URL.")],
    airflow: Annotated[bool, typer.Option(help="Run through the Airflow DAGs.")] = False,
    cmis: Annotated[str | None, typer.Option(
        help="Customer system database URL (sqlite:///… or postgresql+psycopg2://…).")] = None,
    api: Annotated[str | None, typer.Option(
        help="Head-end REST API base URL (token: SOURCES__HES_API__TOKEN).")] = None,
) -> None:
    """Load new landing-zone files (and the customer system) into bronze → silver → gold."""
    from ami.orchestrate import run_chain_direct, run_dags
    from pipelines.filedrop.helpers import list_landing
    from quality.gates import data_docs_index
    from quality.vee import vee_totals
    from warehouse import Warehouse
    from warehouse.state import read_manifest

    settings = get_settings()
    # Fails early, before anything is written; files already fingerprinted are not read.
    files = list_landing(landing, known=read_manifest(Warehouse.at(settings.warehouse)))
    if not files:
        raise ConfigError(f"landing folder {landing} holds no meters*/readings* files",
                          fix="drop head-end exports (CSV, CSV.gz or Parquet) into it")
    if airflow:
        run_dags(["ami_ingest", "ami_vee", "ami_losses"],
                 {"ami_ingest": {"landing": landing, "cmis_url": cmis, "api_url": api}},
                 settings=settings, log=_log_path(settings, "ingest"))
        console.print("[green]Xong[/]: chạy qua các DAG ami_ingest → ami_vee → ami_losses")
        return
    with _progress() as progress:
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


@app.command()
def losses(
    month: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    level: Annotated[str, typer.Option(help="transformer|feeder|branch|province")] = "transformer",
    out: Annotated[Path | None, typer.Option(help="Output .csv, .parquet or .xlsx.")] = None,
    top: Annotated[int, typer.Option(help="Rows shown in the terminal.")] = 15,
) -> None:
    """Energy balance and loss per node for a month, with the gap to 6 % and 3 %."""
    from models.losses import read_losses
    from reports.files import write_frame

    settings = get_settings()
    frame = read_losses(month, level, settings=settings)
    if out is not None:
        write_frame(frame, out)
    table = Table(title=f"Tổn thất điện năng {month} — cấp {level} (xếp theo điện năng "
                        "thương mại có thể thu hồi)")
    for column in ("hạng", "node", "nhận kWh", "TT kWh", "TT %", "lũy kế %", "cùng kỳ %",
                   "KT kWh", "TM kWh", "→6 % kWh", "→3 % kWh", "đo %", "ghi chú"):
        table.add_column(column, justify="left" if column in ("node", "ghi chú") else "right",
                         no_wrap=column != "ghi chú")
    for row in frame.head(top).iter_rows(named=True):
        notes = [FLAG_TEXT.get(f, f) for f in (row["flags"] or "").split(",") if f]
        if not row["reliable"]:
            notes.insert(0, "không tin cậy")
        if row.get("loss_jump_date"):
            notes.append(f"tăng {row['loss_jump_pp']:.1f} điểm % từ {row['loss_jump_date']}")
        table.add_row(
            _num(row["rank"]) if row["rank"] is not None else "—", row["node_id"],
            f"{row['energy_in_kwh']:,.0f}", _num(row["loss_kwh"]), _num(row["loss_pct"], 2),
            _num(row["loss_pct_ytd"], 2), _num(row["loss_pct_last_year"], 2),
            _num(row["technical_loss_kwh"]), _num(row["non_technical_kwh"]),
            _num(row["gap_to_target_kwh"]), _num(row["gap_to_stretch_kwh"]),
            f"{100 * row['measured_share']:.1f}", "; ".join(notes))
    console.print(table)
    console.print("TT: tổn thất; KT: tổn thất kỹ thuật; TM: tổn thất thương mại (có thể thu "
                  "hồi qua kiểm tra); →6 %, →3 %: điện năng phải giảm để đạt 6 % và 3 %; "
                  "đo %: tỷ lệ điện năng đo đếm được")
    if out is not None:
        console.print(f"{frame.height} rows written to {out}")


#: Balance flags in Vietnamese for the terminal table.
FLAG_TEXT = {
    "no_total_meter": "TBA không có công tơ tổng",
    "negative_loss": "tổn thất âm: kiểm tra công tơ tổng hoặc sơ đồ đấu nối",
    "negative_non_technical": "tổn thất kỹ thuật ước tính lớn hơn tổn thất đo được",
    "partial_period": "chưa đủ tháng",
}


@anomalies_app.command("score")
def anomalies_score(
    readings: Annotated[Path, typer.Option(help="Interval readings, .csv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Output .csv or .parquet.")],
    meters: Annotated[Path | None, typer.Option(help="Meters and customers (optional).")] = None,
    labels: Annotated[Path | None, typer.Option(help="Inspection outcomes (optional).")] = None,
    events: Annotated[Path | None, typer.Option(
        help="Meter events: meter_id, event_at, event_code (optional).")] = None,
    registers: Annotated[Path | None, typer.Option(
        help="Register reads: meter_id, read_at, register_kwh_import (optional).")] = None,
    timezone: Annotated[str | None, typer.Option(
        help="The zone whose local days the readings belong to, e.g. Europe/London for "
             "British data (default AMI_TIMEZONE); also reads instants written without "
             "a zone.")] = None,
) -> None:
    """Rank meters by how suspicious their readings are (theft or waste)."""
    from models.anomaly.jobs import score_files
    from reports.files import write_frame

    notes: list[str] = []  # optional enrichments left out (e.g. no tariff: VND empty)
    settings = get_settings().in_zone(timezone)
    frame = score_files(readings, meters, labels, settings=settings, events=events,
                        registers=registers, notes=notes)
    write_frame(frame, out)
    console.print(f"{frame.height} meters scored → {out}")
    for note in notes:
        console.print(f"Lưu ý / note: {note}", markup=False, highlight=False, soft_wrap=True)


@anomalies_app.command("evaluate")
def anomalies_evaluate(
    ctx: typer.Context,
    meters: Annotated[int, typer.Option(min=100, help="Customer meters (synthetic).")] = 1500,
    days: Annotated[int, typer.Option(min=45, help="Days of 30-minute data (synthetic).")] = 120,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the synthetic province (default 7); with --readings, run this one "
             "seed instead of --seeds.")] = None,
    theft_share: Annotated[float | None, typer.Option(
        min=0.01, max=0.5,
        help="Share of meters attacked (default 0.10; 0.20 with --readings).")] = None,
    topology: Annotated[bool, typer.Option(help="Give the scorer the meters table too.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Also write the table (.csv/.parquet); with --readings, every seed's rows and "
             "the mean and min over seeds.")] = None,
    readings: Annotated[Path | None, typer.Option(
        help="Inject the attacks into these real readings (CSV, CSV.gz, Parquet, any source "
             "profile; regular 15–60-minute intervals) instead of a synthetic province.")
    ] = None,
    seeds: Annotated[int | None, typer.Option(
        min=1, help="With --readings: run seeds 1..N (default 5).")] = None,
    onset_min: Annotated[int | None, typer.Option(
        min=1, help="Attacks start at least this many days before the end of the data "
                    "(default 14; 7 with --readings).")] = None,
    onset_max: Annotated[int | None, typer.Option(
        min=1, help="… and at most this many (default 30; 300 with --readings).")] = None,
    timezone: Annotated[str | None, typer.Option(
        help="With --readings: the zone whose local days the readings belong to, e.g. "
             "Europe/London (default AMI_TIMEZONE).")] = None,
    half_labels: Annotated[bool, typer.Option(
        help="Also score with half the meters' outcomes given as labels.")] = True,
) -> None:
    """ROC AUC, average precision and precision@k on the Jokar et al. attacks plus bypass."""
    from models.anomaly.evaluate import (
        EvaluationSpec,
        evaluate_anomalies,
        evaluate_real,
        read_readings,
        real_spec,
        summary_rows,
    )
    from reports.files import write_frame

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is not None and source.name == "COMMANDLINE"

    settings = get_settings()
    if readings is None:
        wrong = [f"--{name}" for name in ("seeds", "timezone") if given(name)]
        if wrong:
            raise ConfigError(f"{', '.join(wrong)} applies to real readings only",
                              fix="add --readings FILE, or leave the option out")
        spec = EvaluationSpec(meters=meters, days=days, seed=7 if seed is None else seed,
                              theft_share=0.10 if theft_share is None else theft_share,
                              onset_days=(14 if onset_min is None else onset_min,
                                          30 if onset_max is None else onset_max),
                              with_topology=topology, half_labels=half_labels)
        if not 1 <= spec.onset_days[0] <= spec.onset_days[1] < spec.days:
            raise ConfigError(f"onset range {spec.onset_days[0]}–{spec.onset_days[1]} days "
                              f"does not fit {spec.days} days",
                              fix="give --onset-min ≤ --onset-max < --days")
        result = evaluate_anomalies(spec, settings=settings)
        table = Table(title=f"Theft detection on a synthetic province ({meters} meters, "
                            f"{days} days, seed {spec.seed}, "
                            f"{'with' if topology else 'readings only, no'} topology)")
        for column in ("mode", "attack", "thieves", "negatives", "ROC AUC", "AP", "precision@k"):
            table.add_column(column, justify="left" if column in ("mode", "attack") else "right")
        for row in result.metrics.iter_rows(named=True):
            table.add_row(row["mode"], row["attack"], str(row["thieves"]), str(row["negatives"]),
                          _num(row["roc_auc"], 3), _num(row["average_precision"], 3),
                          _num(row["precision_at_k"], 3))
        console.print(table)
        if out is not None:
            write_frame(result.metrics, out)
        return

    wrong = [f"--{name}" for name in ("meters", "days", "topology") if given(name)]
    if wrong:
        raise ConfigError(f"{', '.join(wrong)} applies to the synthetic province only",
                          fix="leave it out with --readings (real readings have no meters "
                              "table)")
    settings = settings.in_zone(timezone)
    zone = settings.timezone
    real = real_spec(seed=seed, seeds=seeds, theft_share=theft_share, onset_min=onset_min,
                     onset_max=onset_max, half_labels=half_labels)
    frame = read_readings(readings, settings=settings)
    evaluation = evaluate_real(frame, real, settings=settings, source=str(readings))
    if out is not None:  # first: minutes of work are kept even if the terminal goes away
        write_frame(evaluation.metrics, out)
    n = len(real.seeds)
    table = Table(
        title=f"Theft detection on real readings: {readings.name}, {evaluation.meters} meters, "
              f"{evaluation.days} days, {n} seed{'s' if n > 1 else ''}, zone {zone}",
        caption=f"{real.theft_share:.0%} of the meters attacked from {real.onset_days[0]}–"
                f"{real.onset_days[1]} days before the end; means over the seeds (min ROC AUC "
                "in brackets), thieves and negatives summed over them; onset = days before "
                "the end.")
    for column in ("scorer", "mode", "attack", "onset", "thieves", "negatives", "ROC AUC (min)",
                   "AP", "precision@k"):
        table.add_column(column, justify="left" if column in ("scorer", "mode", "attack",
                                                              "onset") else "right")
    for row in summary_rows(evaluation.metrics).iter_rows(named=True):
        auc = _num(row["roc_auc"], 3)
        if row["roc_auc_min"] is not None and n > 1:
            auc = f"{auc} ({row['roc_auc_min']:.3f})"
        table.add_row(row["scorer"], row["mode"], row["attack"], row["onset"],
                      str(row["thieves"]), str(row["negatives"]), auc,
                      _num(row["average_precision"], 3), _num(row["precision_at_k"], 3))
    console.print(table)
    for note in evaluation.notes:
        console.print(f"Lưu ý / note: {note}", markup=False, highlight=False, soft_wrap=True)


@anomalies_app.command("inspections")
def anomalies_inspections(
    file: Annotated[Path, typer.Option(
        help="Inspection outcomes, .csv or .parquet: meter_id, inspected_at, outcome "
             "(theft|meter_fault|billing_error|no_issue), optional recovered_kwh, note.")],
) -> None:
    """Record what inspection crews found; the anomaly scoring learns from it."""
    from models.anomaly.inspections import CLI_SOURCE, read_inspection_file, record_inspections
    from warehouse import Warehouse

    frame = read_inspection_file(file)
    done = record_inspections(frame, warehouse=Warehouse.at(get_settings().warehouse),
                              source=CLI_SOURCE)
    updated = f", {done.updated} of them updated (the later record wins)" if done.updated else ""
    console.print(f"{file.name}: {done.added} added, {done.duplicates} duplicate(s){updated}; "
                  f"{done.total} inspection(s) in the warehouse", markup=False, highlight=False,
                  soft_wrap=True)


@warehouse_app.command("status")
def warehouse_status(
    table: Annotated[str | None, typer.Option(help="Only this silver or gold table.")] = None,
) -> None:
    """The catalog: partitions with rows, time range, checksum; bronze tables."""
    from warehouse import Warehouse
    from warehouse.maintenance import status

    wh = Warehouse.at(get_settings().warehouse)
    partitions, bronze = status(wh)
    if table is not None:
        partitions = partitions.filter(partitions["table"] == table)
    view = Table(title=f"Catalog of {wh.root}")
    for column in partitions.columns:
        view.add_column(column, justify="right" if column in ("rows", "sources") else "left")
    for row in partitions.iter_rows():
        view.add_row(*[f"{v:,}" if isinstance(v, int) else str(v or "") for v in row])
    console.print(view)
    files = Table(title="Bronze (as received)")
    for column in bronze.columns:
        files.add_column(column)
    for row in bronze.iter_rows():
        files.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
    console.print(files)
    console.print(f"{partitions.height} partition(s), {partitions['rows'].sum():,} rows in "
                  f"silver and gold; {bronze['files'].sum() or 0} bronze file(s)")


@warehouse_app.command("verify")
def warehouse_verify() -> None:
    """Check every file against the catalog; exit 1 and name each bad file."""
    from warehouse import Warehouse
    from warehouse.maintenance import verify

    wh = Warehouse.at(get_settings().warehouse)
    problems = verify(wh)
    for p in problems:
        err.print(f"[red]{p.path}[/]: {p.problem} — {p.fix}")
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]OK[/]: every partition of {wh.root} matches the catalog")


@warehouse_app.command("migrate")
def warehouse_migrate(
    dry_run: Annotated[bool, typer.Option(help="Only list the partitions behind.")] = False,
) -> None:
    """Rewrite partitions written under an older table schema (warehouse/migrations.py)."""
    from warehouse import Warehouse
    from warehouse.migrations import migrate

    done = migrate(Warehouse.at(get_settings().warehouse), dry_run=dry_run)
    for item in done:
        where = "/".join(f"{k}={v}" for k, v in item.partition.items())
        console.print(f"{item.table} {where}: schema version {item.version} → {item.current}")
    verb = "would migrate" if dry_run else "migrated"
    console.print(f"{verb} {len(done)} partition(s)")


@warehouse_app.command("compact")
def warehouse_compact(
    dry_run: Annotated[bool, typer.Option(help="Only say what would be merged.")] = False,
) -> None:
    """Merge the small files of bronze tables (one per load) into larger ones."""
    from warehouse import Warehouse
    from warehouse.maintenance import compact_bronze

    done = compact_bronze(Warehouse.at(get_settings().warehouse), dry_run=dry_run)
    for c in done:
        console.print(f"{c.dataset}/{c.table}: {c.inputs} files, {c.rows:,} rows → {c.output}")
    verb = "would merge" if dry_run else "merged"
    console.print(f"{verb} {sum(c.inputs for c in done)} file(s) into {len(done)}")


@warehouse_app.command("retain")
def warehouse_retain(
    before: Annotated[str | None, typer.Option(
        help="Retire deliveries whose days are all before this date (YYYY-MM-DD).")] = None,
    keep_days: Annotated[int | None, typer.Option(
        help="Or: keep this many days back from today.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be deleted.")] = False,
) -> None:
    """Bronze retention: retire old deliveries, delete bronze files nobody reads."""
    from datetime import timedelta

    from warehouse import Warehouse
    from warehouse.maintenance import retain_bronze

    if (before is None) == (keep_days is None):
        raise typer.BadParameter("give either --before YYYY-MM-DD or --keep-days N "
                                 "(e.g. ami warehouse retain --keep-days 400 --dry-run)")
    cutoff = _parse_day(before) if before else date.today() - timedelta(days=keep_days or 0)
    done = retain_bronze(Warehouse.at(get_settings().warehouse), before=cutoff,
                         dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{len(done.retired_entries)} deliveries before {cutoff} retired; {verb} "
                  f"{len(done.deleted_files)} bronze file(s), {done.deleted_rows:,} rows, "
                  f"{done.freed_bytes / 1e6:,.1f} MB")


@vee_app.command("edit")
def vee_edit(
    by: Annotated[str, typer.Option(help="Who makes the correction (name or staff id).")],
    reason: Annotated[str | None, typer.Option(help="Why (required unless in --file).")] = None,
    meter: Annotated[str | None, typer.Option(help="Meter id.")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", help="First interval end, ISO 8601 with zone.")] = None,
    last: Annotated[str | None, typer.Option(
        "--to", help="Last interval end, ISO 8601 with zone.")] = None,
    kwh: Annotated[float | None, typer.Option(help="Import per interval [kWh].")] = None,
    export_kwh: Annotated[float | None, typer.Option(help="Export per interval [kWh].")] = None,
    file: Annotated[Path | None, typer.Option(help="Many edits: a CSV (see README).")] = None,
) -> None:
    """Correct interval readings by hand; the audit keeps who, when, why and the original."""
    from ami.instants import require_instant
    from ami.orchestrate import rebuild
    from quality.edits import read_edits_csv, record_edit, record_edits

    settings = get_settings()
    if file is not None:
        ids = record_edits(read_edits_csv(file), by=by, reason=reason, settings=settings)
    else:
        if meter is None or first is None or last is None or reason is None:
            raise ConfigError("an edit needs --meter, --from, --to and --reason (or --file)",
                              fix="e.g. ami vee edit --meter PC1 --from 2026-10-01T01:00:00Z "
                                  "--to 2026-10-01T02:00:00Z --kwh 0.4 --by an.nv "
                                  "--reason 'meter replaced, reading from the old register'")
        ids = [record_edit(meter, require_instant(first, "--from"), require_instant(last, "--to"),
                           kwh_import=kwh, kwh_export=export_kwh, by=by, reason=reason,
                           settings=settings)]
    days = rebuild(settings=settings)
    console.print(f"{len(ids)} edit(s) recorded ({', '.join(ids)}); "
                  f"{len(days)} day(s) rebuilt: {', '.join(days) or '—'}")


@vee_app.command("evaluate")
def vee_evaluate(
    meters: Annotated[int | None, typer.Option(
        help="Customer meters of the synthetic province [default: 500].")] = None,
    days: Annotated[int | None, typer.Option(
        min=1, help="Synthetic: days of data (≥ 8) [default: 21]. --readings: the last N "
                    "complete local days of the file [default: all].")] = None,
    seed: Annotated[int, typer.Option(
        help="Seed of the synthetic province, or of the faults injected into --readings.")] = 7,
    fault_share: Annotated[float, typer.Option(help="Share of meters with a fault.")] = 0.2,
    out: Annotated[Path | None, typer.Option(
        help="Also write the rule table (.csv); with --clean, the per-rule noise.")] = None,
    readings: Annotated[Path | None, typer.Option(
        help="Real readings (.csv, .csv.gz, .parquet; canonical columns): inject the fault "
             "mix into them instead of generating a province.")] = None,
    clean: Annotated[bool, typer.Option(
        help="With --readings: inject nothing; measure what VEE does to the file as "
             "delivered.")] = False,
) -> None:
    """Precision and recall of each VEE rule, and the estimation error, on a seeded province.

    With --readings, on real readings with the generator's fault mix injected; with
    --clean, what VEE does to the real readings as delivered.
    """
    from dataclasses import replace

    import polars as pl

    from quality.evaluate import (
        CLEAN_MONTH_CHANGE_MAX,
        CLEAN_REJECTED_SHARE_MAX,
        DEFAULT_SPEC,
        CleanEvaluation,
        VeeEvaluation,
        clean_vee_readings,
        evaluate_vee,
        evaluate_vee_readings,
    )
    from reports.files import write_frame

    def new_table(title: str, columns: tuple[str, ...], left: int = 1) -> Table:
        table = Table(title=title)
        for k, column in enumerate(columns):
            table.add_column(column, justify="left" if k < left else "right")
        return table

    def check_options() -> None:
        if readings is not None:
            if meters is not None:
                raise ConfigError("--meters sizes the synthetic province; a real file has "
                                  "its own", fix="leave --meters out with --readings")
            return
        if clean:
            raise ConfigError("--clean measures a real file", fix="add --readings FILE")
        # the synthetic province's ranges, as the options had them
        if meters is not None and meters < 50:
            raise typer.BadParameter(f"{meters} is not in the range x>=50.",
                                     param_hint="'--meters'")
        if days is not None and days < 8:
            raise typer.BadParameter(f"{days} is not in the range x>=8.", param_hint="'--days'")

    def print_clean(measured: CleanEvaluation) -> pl.DataFrame:
        w = measured.window
        metrics = new_table(f"VEE on real readings as delivered: {w.source}, {w.meters} "
                            f"meters, {w.days} days ({w.first_day} – {w.last_day}, "
                            f"{settings.timezone}); nothing injected, readings only",
                            ("measure", "value", "target", "met"))
        by_rule = ", ".join(f"{r} {n:,}" for r, n in measured.rejected_by_rule.iter_rows())
        for name, value, target, met in (
            ("delivered intervals", f"{measured.delivered:,}", "", None),
            ("rejected (quarantine, every rule)" + (f": {by_rule}" if by_rule else ""),
             f"{measured.rejected:,} ({measured.rejected_share:.4%})",
             f"≤ {CLEAN_REJECTED_SHARE_MAX:.2%}",
             measured.rejected_share <= CLEAN_REJECTED_SHARE_MAX),
            ("largest change of a meter-month's delivered energy",
             f"{measured.max_month_change:.4%}", f"≤ {CLEAN_MONTH_CHANGE_MAX:.1%}",
             measured.max_month_change <= CLEAN_MONTH_CHANGE_MAX),
            (f"meter-months changed by more than {CLEAN_MONTH_CHANGE_MAX:.1%}",
             f"{measured.months_over:,} of {measured.meter_months.height:,}", "0",
             measured.months_over == 0),
            ("intervals missing in the file", f"{measured.missing_in_file:,}", "", None),
            ("intervals estimated (missing in the file / delivered)",
             f"{measured.estimated:,} ({measured.estimated_missing:,} / "
             f"{measured.estimated_delivered:,})", "none delivered",
             measured.estimated_delivered == 0),
            ("intervals left missing", f"{measured.left_missing:,}", "", None),
        ):
            metrics.add_row(name, value, target, "" if met is None else "yes" if met else "NO")
        console.print(metrics)
        noise = new_table(f"Findings on the real readings as delivered "
                          f"({measured.meter_days:,} meter-days)",
                          ("rule", "findings", "meter-days", "intervals", "per 1,000 meter-days"))
        for row in measured.rules.iter_rows(named=True):
            noise.add_row(row["rule"], f"{row['findings']:,}", f"{row['meter_days']:,}",
                          f"{row['intervals']:,}", _num(row["per_1000_meter_days"], 2))
        console.print(noise)
        return measured.rules

    def print_rules(result: VeeEvaluation, title: str) -> pl.DataFrame:
        table = new_table(title, ("rule", "unit", "truth", "flagged", "precision", "recall"),
                          left=2)
        for row in result.rules.iter_rows(named=True):
            table.add_row(row["rule"], row["unit"], str(row["truth"]), str(row["flagged"]),
                          _num(row["precision"], 3), _num(row["recall"], 3))
        console.print(table)
        estimates = new_table("Estimation error against the true readings [kWh per interval]",
                              ("method", "n", "MAE", "bias", "carry-forward MAE",
                               "carry-forward bias"))
        for row in result.estimation.iter_rows(named=True):
            estimates.add_row(row["method"], str(row["n"]), _num(row["mae_kwh"], 3),
                              _num(row["bias_kwh"], 3), _num(row["baseline_mae_kwh"], 3),
                              _num(row["baseline_bias_kwh"], 3))
        console.print(estimates)
        return result.rules

    check_options()
    settings = get_settings()
    if readings is not None and clean:
        written = print_clean(clean_vee_readings(readings, days=days, settings=settings))
    elif readings is not None:
        result = evaluate_vee_readings(readings, days=days, seed=seed, fault_share=fault_share,
                                       settings=settings)
        w = result.window
        written = print_rules(result, f"VEE rules on real readings: {readings.name}, "
                            + (f"{w.meters} meters, {w.days} days ({w.first_day} – "
                               f"{w.last_day}, {settings.timezone}), " if w else "")
                            + f"seed {seed}, {fault_share:.0%} of meters with a fault of the "
                              "generator's mix")
    else:
        spec = replace(DEFAULT_SPEC, meters=meters or 500, days=days or 21, seed=seed,
                       fault_share=fault_share)
        result = evaluate_vee(spec, settings=settings)
        written = print_rules(result, f"VEE rules on a synthetic province ({spec.meters} meters, "
                            f"{spec.days} days, seed {seed})")
        console.print(f"Theft not repaired: {result.theft_zeros_estimated} of "
                      f"{result.theft_zeros} bypassed zero intervals estimated.")
    if out is not None:
        write_frame(written, out)


@app.command()
def savings(
    month: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    out: Annotated[Path, typer.Option(help="Output .csv or .parquet.")],
    lighting_out: Annotated[Path | None, typer.Option(help="Per lighting meter.")] = None,
) -> None:
    """Consumption per customer group against the same month last year and the target."""
    from models.savings import group_savings, lighting_compliance
    from reports.files import write_frame

    settings = get_settings()
    frame = group_savings(month, settings=settings)
    write_frame(frame, out)
    console.print(f"{frame.height} customer groups → {out}")
    if lighting_out is not None:
        lights = lighting_compliance(month, settings=settings)
        write_frame(lights, lighting_out)
        console.print(f"{lights.height} lighting meters → {lighting_out}")


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    deliver: Annotated[bool, typer.Option(help="Deliver through the configured channel.")] = False,
) -> None:
    """Build the monthly report to Sở Công Thương (xlsx, JSON, CSV)."""
    from reports.monthly.from_warehouse import build_from_warehouse

    paths = build_from_warehouse(month, settings=get_settings(), deliver=deliver)
    console.print(f"Báo cáo tháng {month}: {paths.workbook}")


@app.command("app")
def review_app(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
) -> None:
    """Start the review web app (read-only first version)."""
    from app.server import make_server

    server = make_server(get_settings(), host=host, port=port)
    console.print(f"Trang rà soát: http://{host}:{port}/  (Ctrl+C để dừng)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


@app.command("synth")
def synth(
    landing: Annotated[Path, typer.Option(help="Landing folder to write.")],
    truth: Annotated[Path, typer.Option(help="Ground-truth folder to write.")],
    meters: Annotated[int, typer.Option(min=1)] = 3000,
    days: Annotated[int, typer.Option(min=1)] = 61,
    start: Annotated[str, typer.Option()] = "2026-09-01",
    seed: Annotated[int, typer.Option()] = 42,
    file_format: Annotated[str, typer.Option("--format", help="csv, csv.gz or parquet")] = "csv.gz",
) -> None:
    """Write a synthetic province (landing zone + ground truth) without running the chain."""
    from ami.province import ProvinceSpec, generate_province

    spec = ProvinceSpec(meters=meters, start=_parse_day(start), days=days, seed=seed,
                        file_format=file_format)
    with _progress() as progress:
        task = progress.add_task("Sinh dữ liệu", total=days)
        result = generate_province(spec, landing, truth, progress=lambda d, t: progress.update(
            task, completed=d, total=t))
    console.print(result)


@contextmanager
def _head_end_simulator(settings: Settings) -> Iterator[Simulator]:
    """Move the demo's readings files behind the HES API simulator and run it.

    The simulator serves ``data/hes/`` on a free port of 127.0.0.1 with a throw-away
    bearer token, which the DAG tasks read from ``SOURCES__HES_API__TOKEN`` (set for the
    run only, unless the environment already has one).
    """
    import os
    import secrets

    from pipelines.hes_api.simulator import TOKEN_ENV, start_simulator

    feed = settings.data_dir / "hes"
    feed.mkdir(parents=True, exist_ok=True)
    for path in Path(settings.landing).glob("readings*"):
        path.replace(feed / path.name)
    given = os.environ.get(TOKEN_ENV)
    token = given or secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token
    try:
        with start_simulator(feed, token=token) as simulator:
            yield simulator
    finally:
        if given is None:
            os.environ.pop(TOKEN_ENV, None)


def _reset_if_other_province(spec: object, settings: Settings, *, api: bool = False) -> None:
    """Start the demo's folders afresh when they hold another province (or delivery).

    The same spec regenerates identical files, so a rerun loads nothing new and shows the
    chain is idempotent; another spec would leave the old province's files mixed in.
    """
    import json
    import shutil
    from dataclasses import asdict

    marker = settings.truth_dir / "spec.json"
    wanted = json.dumps({**asdict(spec), "api": api},  # type: ignore[call-overload]
                        default=str, sort_keys=True)
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return
    for folder in (Path(settings.landing), settings.truth_dir, Path(settings.warehouse),
                   settings.reports_dir, settings.data_dir / "hes"):
        shutil.rmtree(folder, ignore_errors=True)
    settings.truth_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(wanted, encoding="utf-8")


def _num(value: float | None, digits: int = 0) -> str:
    """A number for the terminal, or a dash when absent."""
    return "—" if value is None else f"{value:,.{digits}f}"


def _parse_day(text: str) -> date:
    """A YYYY-MM-DD option value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date", fix="write YYYY-MM-DD, e.g. 2026-09-01") \
            from None


def _last_full_month(first: date, days: int) -> str:
    """The last calendar month fully covered by ``days`` days from ``first`` (or the last)."""
    from datetime import timedelta

    last = first + timedelta(days=days - 1)
    following = last + timedelta(days=1)
    if following.month != last.month:
        return f"{last:%Y-%m}"
    previous = last.replace(day=1) - timedelta(days=1)
    return f"{previous:%Y-%m}" if previous >= first else f"{last:%Y-%m}"


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
