"""Data quality (VEE): ``ami vee edit`` (manual corrections) and ``ami vee evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ami.commands.common import console, num
from ami.errors import ConfigError
from ami.settings import get_settings

vee_app = typer.Typer(no_args_is_help=True,
                      help="Data quality (VEE): manual edits and the rule evaluation.")


@vee_app.command("edit")
def vee_edit(
    *,
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
    from quality.edit_files import read_edits_csv
    from quality.edits import record_edit, record_edits

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
    *,
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

    from quality.evaluate import DEFAULT_SPEC, VeeEvaluation, evaluate_vee, evaluate_vee_readings
    from quality.evaluate_clean import (
        CLEAN_MONTH_CHANGE_MAX,
        CLEAN_REJECTED_SHARE_MAX,
        CleanEvaluation,
        clean_vee_readings,
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
                          f"{row['intervals']:,}", num(row["per_1000_meter_days"], 2))
        console.print(noise)
        return measured.rules

    def print_rules(result: VeeEvaluation, title: str) -> pl.DataFrame:
        table = new_table(title, ("rule", "unit", "truth", "flagged", "precision", "recall"),
                          left=2)
        for row in result.rules.iter_rows(named=True):
            table.add_row(row["rule"], row["unit"], str(row["truth"]), str(row["flagged"]),
                          num(row["precision"], 3), num(row["recall"], 3))
        console.print(table)
        estimates = new_table("Estimation error against the true readings [kWh per interval]",
                              ("method", "n", "MAE", "bias", "carry-forward MAE",
                               "carry-forward bias"))
        for row in result.estimation.iter_rows(named=True):
            estimates.add_row(row["method"], str(row["n"]), num(row["mae_kwh"], 3),
                              num(row["bias_kwh"], 3), num(row["baseline_mae_kwh"], 3),
                              num(row["baseline_bias_kwh"], 3))
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

