"""Theft and waste detection: ``ami anomalies score``, ``evaluate`` and ``inspections``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ami.commands.common import console, num
from ami.errors import ConfigError
from ami.settings import get_settings

anomalies_app = typer.Typer(no_args_is_help=True, help="Theft and waste detection.")


@anomalies_app.command("score")
def anomalies_score(
    *,
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
    *,
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
    from models.anomaly.evaluate import EvaluationSpec, evaluate_anomalies
    from models.anomaly.evaluate_real import (
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
                          num(row["roc_auc"], 3), num(row["average_precision"], 3),
                          num(row["precision_at_k"], 3))
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
        auc = num(row["roc_auc"], 3)
        if row["roc_auc_min"] is not None and n > 1:
            auc = f"{auc} ({row['roc_auc_min']:.3f})"
        table.add_row(row["scorer"], row["mode"], row["attack"], row["onset"],
                      str(row["thieves"]), str(row["negatives"]), auc,
                      num(row["average_precision"], 3), num(row["precision_at_k"], 3))
    console.print(table)
    for note in evaluation.notes:
        console.print(f"Lưu ý / note: {note}", markup=False, highlight=False, soft_wrap=True)


@anomalies_app.command("inspections")
def anomalies_inspections(
    *,
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

