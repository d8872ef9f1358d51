"""Build the monthly report from gold and deliver it (folder channel, audited, once a month)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ami.errors import NoDataError
from ami.reference import BRANCH_NAMES
from ami.settings import Settings
from models.savings.consumption import check_month, month_consumption
from reports.monthly.workbook import MonthlyReportPaths, build_monthly_report
from warehouse import Warehouse
from warehouse.catalog import stream_checksum


def previous_month(moment: Any) -> str:
    """The month before ``moment`` (a date or datetime; today when None), as YYYY-MM."""
    day = moment.date() if isinstance(moment, datetime) else (moment or date.today())
    return f"{day.replace(day=1) - timedelta(days=1):%Y-%m}"


def build_from_warehouse(month: str, *, settings: Settings, deliver: bool = False
                         ) -> MonthlyReportPaths:
    """Build the month's workbook, JSON and CSV from gold; deliver them when asked."""
    first = check_month(month)
    warehouse = Warehouse.at(settings.warehouse)
    if month not in warehouse.partitions("balance_month", "month"):
        raise NoDataError(f"no balances for {month}",
                          fix="ingest that month's data before building its report")
    balances = warehouse.scan("balance_month", month=month).drop("month").collect()
    consumption = month_consumption(month, settings=settings)
    last_year = month_consumption(f"{first.year - 1}-{first.month:02d}", settings=settings)
    paths = build_monthly_report(
        month=month, balances=balances,
        consumption=consumption if consumption is not None else pl.DataFrame(),
        consumption_last_year=last_year, out_dir=settings.reports_dir, settings=settings,
        branch_names=BRANCH_NAMES,
    )
    if deliver:
        deliver_folder(month, paths, settings=settings)
    return paths


def deliver_folder(month: str, paths: MonthlyReportPaths, *, settings: Settings) -> bool:
    """Copy the report to the outbox once per content; append an audit record.

    Returns False when the same content was already delivered for that month.
    """
    outbox = settings.data_dir / "outbox" / month
    audit = settings.data_dir / "outbox" / "deliveries.jsonl"
    with open(paths.json, "rb") as handle:
        checksum = stream_checksum(handle)
    if audit.exists():
        for line in audit.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["month"] == month and record["checksum"] == checksum:
                return False
    outbox.mkdir(parents=True, exist_ok=True)
    for path in (paths.workbook, paths.json):
        shutil.copy2(path, outbox / Path(path).name)
    with open(audit, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"month": month, "checksum": checksum, "channel": "folder",
                                 "to": str(outbox),
                                 "at": datetime.now(UTC).isoformat()}) + "\n")
    return True
