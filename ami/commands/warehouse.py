"""Warehouse catalog, audit and housekeeping: ``ami warehouse status|verify|migrate|…``.

``status`` lists the catalog, ``verify`` checks every file against it, ``migrate``
rewrites partitions of an older schema, ``compact`` merges small bronze files and
``retain`` retires old deliveries.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from ami.commands.common import console, err, parse_day
from ami.settings import get_settings

warehouse_app = typer.Typer(no_args_is_help=True,
                            help="Warehouse catalog, audit and housekeeping.")


@warehouse_app.command("status")
def warehouse_status(
    *,
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
    *,
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
    *,
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
    *,
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
    cutoff = parse_day(before) if before else date.today() - timedelta(days=keep_days or 0)
    done = retain_bronze(Warehouse.at(get_settings().warehouse), before=cutoff,
                         dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{len(done.retired_entries)} deliveries before {cutoff} retired; {verb} "
                  f"{len(done.deleted_files)} bronze file(s), {done.deleted_rows:,} rows, "
                  f"{done.freed_bytes / 1e6:,.1f} MB")

