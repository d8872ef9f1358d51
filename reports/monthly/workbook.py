"""Render the monthly report to Sở Công Thương: Excel workbook, JSON and CSV, atomically.

This module owns the files: a formatted Vietnamese workbook (cover, losses by branch,
consumption by customer group), the same rows as JSON and CSV for machines, written through
temporary files and ``os.replace`` so that a crash never leaves half a report. Output is
deterministic: the same inputs and generation date give byte-identical files (the xlsx zip
timestamps and document dates are pinned to the generation date). The numbers come from
``tables.py``; nothing here computes a figure. The report holds aggregates only: no names,
addresses, phone numbers or meter ids.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ami.reference import COMPANY_NAME, RECIPIENT
from ami.settings import Settings
from reports.formats import vi_number
from reports.monthly.tables import MonthlyReport, build_tables

SHEET_COVER = "Trang bìa"
SHEET_LOSSES = "Tổn thất điện năng"
SHEET_CONSUMPTION = "Tiêu thụ theo nhóm khách hàng"
TITLE = "Báo cáo tiết kiệm điện và tổn thất điện năng tháng {mm}/{yyyy}"
NO_BASELINE_TEXT = "Chưa có số liệu cùng kỳ"
NO_DATA_TEXT = "Chưa có số liệu"
UNRELIABLE_NOTE = "Số liệu chưa đủ tin cậy: tỷ lệ đo đếm dưới {pct} %"
MET_TEXT = {True: "Đạt", False: "Không đạt"}

KWH_FORMAT = "#,##0"
PCT_FORMAT = "#,##0.00"
SHARE_FORMAT = "0.0%"
COUNT_FORMAT = "#,##0"
HEADER_ROW = 4

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_UNRELIABLE_FILL = PatternFill("solid", fgColor="FCE4D6")
_TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
_MET_FONT = {True: Font(color="006100"), False: Font(color="9C0006")}


@dataclass(frozen=True)
class MonthlyReportPaths:
    """Where the month's report files were written."""

    workbook: Path
    json: Path
    csv_losses: Path
    csv_consumption: Path

    @property
    def all(self) -> tuple[Path, ...]:
        """Every file of the report."""
        return (self.workbook, self.json, self.csv_losses, self.csv_consumption)


def report_paths(month: str, out_dir: Path) -> MonthlyReportPaths:
    """The file names of a month's report: ``bao-cao-thang-YYYY-MM.*``."""
    stem = f"bao-cao-thang-{month}"
    return MonthlyReportPaths(
        workbook=out_dir / f"{stem}.xlsx",
        json=out_dir / f"{stem}.json",
        csv_losses=out_dir / f"{stem}-ton-that.csv",
        csv_consumption=out_dir / f"{stem}-tieu-thu.csv",
    )


def build_monthly_report(
    *,
    month: str,
    balances: pl.DataFrame,
    consumption: pl.DataFrame,
    consumption_last_year: pl.DataFrame | None,
    out_dir: Path,
    settings: Settings,
    branch_names: dict[str, str] | None = None,
    generated_on: date | None = None,
) -> MonthlyReportPaths:
    """Write the month's workbook, JSON and CSVs to ``out_dir``; returns their paths.

    Args:
        month: the reported month, ``YYYY-MM``.
        balances: gold balance rows (branch and province levels are used).
        consumption: gold meter-month consumption of the month.
        consumption_last_year: the same for the same month last year, or None.
        out_dir: folder to write to (created if needed).
        settings: targets (loss plan and stretch rates, completeness threshold), time zone.
        branch_names: branch id → display name (default: the Lạng Sơn reference names).
        generated_on: date printed as the generation date (default: today, local time).

    """
    generated_on = generated_on or datetime.now(settings.tz).date()
    report = build_tables(
        month=month,
        balances=balances,
        consumption=consumption,
        consumption_last_year=consumption_last_year,
        settings=settings,
        branch_names=branch_names,
        generated_on=generated_on,
    )
    paths = report_paths(month, Path(out_dir))
    _write_atomic(
        {
            paths.workbook: workbook_bytes(report, settings=settings),
            paths.json: json_bytes(report, settings=settings),
            paths.csv_losses: report.losses.write_csv().encode("utf-8"),
            paths.csv_consumption: report.consumption.write_csv().encode("utf-8"),
        }
    )
    return paths


def _write_atomic(files: dict[Path, bytes]) -> None:
    """Write every file to a temporary sibling, then move each into place."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            temps[path] = tmp
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


# --- JSON -----------------------------------------------------------------------------------


def _title(month: str) -> str:
    return TITLE.format(mm=month[5:7], yyyy=month[:4])


def report_document(report: MonthlyReport, *, settings: Settings) -> dict[str, Any]:
    """The machine-readable report: the same rows and figures as the workbook."""
    return {
        "report": "bao-cao-thang",
        "month": report.month,
        "title": _title(report.month),
        "company": COMPANY_NAME,
        "recipient": RECIPIENT,
        "generated_on": report.generated_on.isoformat(),
        "targets": {
            "loss_plan_pct": settings.loss_target_pct,
            "loss_stretch_pct": settings.loss_stretch_pct,
            "completeness_threshold": settings.completeness_threshold,
        },
        "data_completeness": {
            "measured_share": report.measured_share,
            "branches_reliable": report.branches_reliable,
            "branches": report.branches,
            "has_last_year": report.has_last_year,
        },
        "losses": report.losses.to_dicts(),
        "consumption": report.consumption.to_dicts(),
    }


def json_bytes(report: MonthlyReport, *, settings: Settings) -> bytes:
    """UTF-8 JSON with Vietnamese text as is (``ensure_ascii=False``)."""
    document = report_document(report, settings=settings)
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- workbook -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    header: str
    width: float
    number_format: str | None = None


def workbook_bytes(report: MonthlyReport, *, settings: Settings) -> bytes:
    """The formatted workbook, byte-identical for the same report."""
    book = Workbook()
    cover = book.active
    assert cover is not None  # a new workbook always has one sheet
    cover.title = SHEET_COVER
    _cover_sheet(cover, report, settings)
    _losses_sheet(book.create_sheet(SHEET_LOSSES), report, settings)
    _consumption_sheet(book.create_sheet(SHEET_CONSUMPTION), report)
    stamp = datetime(report.generated_on.year, report.generated_on.month, report.generated_on.day)
    book.properties.creator = COMPANY_NAME
    book.properties.title = _title(report.month)
    book.properties.created = stamp
    buffer = io.BytesIO()
    book.save(buffer)
    return _pinned_zip(buffer.getvalue(), stamp)


def _pinned_zip(data: bytes, stamp: datetime) -> bytes:
    """Rewrite the xlsx zip with fixed entry times and the document's modified date."""
    modified = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + modified + rb"\g<2>",
                    body,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, body)
    return out.getvalue()


def _print_setup(sheet: Worksheet, header_row: int | None) -> None:
    """A4 landscape, fitted to one page wide, header repeated on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    if header_row is not None:
        sheet.print_title_rows = f"{header_row}:{header_row}"


def _title_rows(sheet: Worksheet, title: str, subtitle: str, width: int) -> None:
    sheet.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet.cell(row=2, column=1, value=subtitle).font = Font(italic=True)
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    sheet.row_dimensions[1].height = 24


def _header(sheet: Worksheet, columns: list[_Column]) -> None:
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=index, value=column.header)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.row_dimensions[HEADER_ROW].height = 48
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=3)
    _print_setup(sheet, HEADER_ROW)


def _body_cell(sheet: Worksheet, row: int, column: int, value: Any, spec: _Column) -> Any:
    cell = sheet.cell(row=row, column=column, value=value)
    cell.border = _BORDER
    if spec.number_format and isinstance(value, int | float) and not isinstance(value, bool):
        cell.number_format = spec.number_format
        cell.alignment = Alignment(horizontal="right")
    elif isinstance(value, str) and spec.number_format:
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    else:
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    return cell


def _notes(sheet: Worksheet, first_row: int, lines: list[str]) -> None:
    sheet.cell(row=first_row, column=1, value="Ghi chú:").font = Font(bold=True, italic=True)
    for offset, line in enumerate(lines, start=1):
        sheet.cell(row=first_row + offset, column=1, value=line).font = Font(italic=True)


def _cover_sheet(sheet: Worksheet, report: MonthlyReport, settings: Settings) -> None:
    mm, yyyy = report.month[5:7], report.month[:4]
    province = report.losses.filter(pl.col("level") == "province").row(0, named=True)
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 70
    sheet.cell(row=1, column=1, value=COMPANY_NAME).font = Font(bold=True, size=12)
    title = sheet.cell(row=3, column=1, value=_title(report.month))
    title.font = Font(bold=True, size=16)
    sheet.merge_cells("A3:B3")
    facts: list[tuple[str, Any, str | None]] = [
        ("Kính gửi:", RECIPIENT, None),
        ("Đơn vị báo cáo:", COMPANY_NAME, None),
        ("Kỳ báo cáo:", f"Tháng {mm}/{yyyy}", None),
        ("Ngày lập:", report.generated_on.strftime("%d/%m/%Y"), None),
        (
            "Mức độ đầy đủ của số liệu (tỷ lệ điện năng đo đếm):",
            report.measured_share,
            SHARE_FORMAT,
        ),
        (
            "Điện lực có số liệu đủ tin cậy:",
            f"{report.branches_reliable}/{report.branches}",
            None,
        ),
        ("Tỷ lệ tổn thất điện năng toàn tỉnh (%):", province["loss_pct"], PCT_FORMAT),
        (
            "Kế hoạch / mục tiêu phấn đấu (%):",
            f"{vi_number(settings.loss_target_pct, 1)} / {vi_number(settings.loss_stretch_pct, 1)}",
            None,
        ),
        (
            "Số liệu cùng kỳ năm trước:",
            "Có" if report.has_last_year else NO_BASELINE_TEXT,
            None,
        ),
    ]
    for offset, (label, value, number_format) in enumerate(facts):
        row = 5 + offset
        sheet.cell(row=row, column=1, value=label).font = Font(bold=True)
        cell = sheet.cell(row=row, column=2, value=NO_DATA_TEXT if value is None else value)
        cell.alignment = Alignment(horizontal="left", wrap_text=True)
        if number_format and value is not None:
            cell.number_format = number_format
    row = 5 + len(facts) + 1
    sheet.cell(row=row, column=1, value="Nội dung:").font = Font(bold=True)
    sheet.cell(row=row, column=2, value=f"1. {SHEET_LOSSES} theo Điện lực và toàn tỉnh")
    sheet.cell(row=row + 1, column=2, value=f"2. {SHEET_CONSUMPTION} so với cùng kỳ")
    note = sheet.cell(
        row=row + 3,
        column=1,
        value="Báo cáo được lập tự động từ hệ thống đo xa (AMI); chỉ gồm số liệu tổng hợp, "
        "không chứa thông tin cá nhân của khách hàng.",
    )
    note.font = Font(italic=True)
    sheet.merge_cells(start_row=row + 3, start_column=1, end_row=row + 3, end_column=2)
    _print_setup(sheet, None)


def _losses_sheet(sheet: Worksheet, report: MonthlyReport, settings: Settings) -> None:
    columns = [
        _Column("STT", 6),
        _Column("Đơn vị", 30),
        _Column("Điện nhận (kWh)", 17, KWH_FORMAT),
        _Column("Điện thương phẩm (kWh)", 17, KWH_FORMAT),
        _Column("Tổn thất (kWh)", 15, KWH_FORMAT),
        _Column("Tỷ lệ tổn thất (%)", 11, PCT_FORMAT),
        _Column("Tổn thất kỹ thuật ước tính (kWh)", 15, KWH_FORMAT),
        _Column("Kế hoạch (%)", 10, PCT_FORMAT),
        _Column("Mục tiêu phấn đấu (%)", 11, PCT_FORMAT),
        _Column("So với kế hoạch", 12, ""),
        _Column("So với mục tiêu phấn đấu", 12, ""),
        _Column("Tỷ lệ đo đếm (%)", 11, SHARE_FORMAT),
        _Column("Ghi chú", 34),
    ]
    mm, yyyy = report.month[5:7], report.month[:4]
    _title_rows(
        sheet,
        f"TỔN THẤT ĐIỆN NĂNG THÁNG {mm}/{yyyy}",
        "Đơn vị tính: kWh; tỷ lệ: %",
        len(columns),
    )
    _header(sheet, columns)
    threshold = vi_number(100 * settings.completeness_threshold, 0)
    for index, item in enumerate(report.losses.iter_rows(named=True)):
        row = HEADER_ROW + 1 + index
        is_province = item["level"] == "province"
        values = [
            None if is_province else index + 1,
            item["name"],
            item["energy_in_kwh"],
            item["energy_out_kwh"],
            item["loss_kwh"],
            item["loss_pct"],
            item["technical_loss_kwh"],
            item["plan_pct"],
            item["stretch_pct"],
            MET_TEXT.get(item["met_plan"], NO_DATA_TEXT),
            MET_TEXT.get(item["met_stretch"], NO_DATA_TEXT),
            item["measured_share"],
            None if item["reliable"] else UNRELIABLE_NOTE.format(pct=threshold),
        ]
        for column, (value, spec) in enumerate(zip(values, columns, strict=True), start=1):
            cell = _body_cell(sheet, row, column, value, spec)
            if column in (10, 11) and value in MET_TEXT.values():
                cell.font = _MET_FONT[value == MET_TEXT[True]]
            if not item["reliable"]:
                cell.fill = _UNRELIABLE_FILL
            if is_province:
                cell.font = Font(bold=True, color=cell.font.color)
                if item["reliable"]:
                    cell.fill = _TOTAL_FILL
    _notes(
        sheet,
        HEADER_ROW + report.losses.height + 2,
        [
            "Tỷ lệ tổn thất = Tổn thất / Điện nhận × 100. Dòng toàn tỉnh là cân bằng điện năng "
            "của toàn tỉnh (tổng của mọi TBA có công tơ tổng, không phải trung bình các tỷ lệ).",
            f"Kế hoạch {vi_number(settings.loss_target_pct, 0)} %, mục tiêu phấn đấu năm 2026 "
            f"{vi_number(settings.loss_stretch_pct, 0)} % theo Kế hoạch tiết kiệm điện năm 2026 "
            "của tỉnh; đạt khi tỷ lệ tổn thất không vượt mức.",
            "Tỷ lệ đo đếm: phần điện năng nhận và giao được đo thực (không phải ước tính hay "
            f"thiếu số liệu); dưới {threshold} % số liệu được tô màu và ghi chú là chưa đủ tin "
            "cậy.",
        ],
    )


def _consumption_sheet(sheet: Worksheet, report: MonthlyReport) -> None:
    mm, yyyy = report.month[5:7], report.month[:4]
    last = f"{mm}/{int(yyyy) - 1}"
    columns = [
        _Column("STT", 6),
        _Column("Nhóm khách hàng", 26),
        _Column("Số công tơ", 11, COUNT_FORMAT),
        _Column(f"Sản lượng tháng {mm}/{yyyy} (kWh)", 18, KWH_FORMAT),
        _Column(f"Cùng kỳ tháng {last} (kWh)", 18, KWH_FORMAT),
        _Column("Tăng (+) / giảm (-) (kWh)", 16, KWH_FORMAT),
        _Column("Tăng (+) / giảm (-) (%)", 12, PCT_FORMAT),
        _Column("Mục tiêu tiết kiệm (%)", 12, PCT_FORMAT),
        _Column("Đánh giá", 16, ""),
        _Column("Điện mặt trời mái nhà phát lên lưới (kWh)", 18, KWH_FORMAT),
    ]
    _title_rows(
        sheet,
        f"TIÊU THỤ ĐIỆN THEO NHÓM KHÁCH HÀNG THÁNG {mm}/{yyyy}",
        "Đơn vị tính: kWh; tỷ lệ: %",
        len(columns),
    )
    _header(sheet, columns)
    for index, item in enumerate(report.consumption.iter_rows(named=True)):
        row = HEADER_ROW + 1 + index
        is_total = item["customer_group"] == "total"
        no_data = item["consumption_kwh"] is None
        no_base = item["consumption_last_year_kwh"] is None
        values = [
            None if is_total else index + 1,
            item["group_name"],
            item["meters"],
            NO_DATA_TEXT if no_data else item["consumption_kwh"],
            NO_BASELINE_TEXT if no_base else item["consumption_last_year_kwh"],
            item["change_kwh"],
            item["change_pct"],
            item["target_pct"],
            item["status"],
            item["solar_export_kwh"],
        ]
        for column, (value, spec) in enumerate(zip(values, columns, strict=True), start=1):
            cell = _body_cell(sheet, row, column, value, spec)
            if column == 9 and item["met"] is not None:
                cell.font = _MET_FONT[bool(item["met"])]
            if is_total:
                cell.font = Font(bold=True, color=cell.font.color)
                cell.fill = _TOTAL_FILL
    _notes(
        sheet,
        HEADER_ROW + report.consumption.height + 2,
        [
            "Sản lượng là điện nhận từ lưới; điện mặt trời mái nhà tự dùng không được tính là "
            "tiết kiệm, phần phát lên lưới được báo cáo riêng ở cột cuối.",
            "Mục tiêu tiết kiệm theo Kế hoạch tiết kiệm điện năm 2026 của tỉnh: toàn bộ và sinh "
            "hoạt 3 %; hành chính sự nghiệp 5 %; chiếu sáng công cộng 30 %; các tháng cao điểm "
            "5, 6, 7: 10 % (chiếu sáng công cộng 30 %). Đạt khi sản lượng giảm ít nhất bằng mục "
            "tiêu so với cùng kỳ.",
            f"Khi chưa có số liệu cùng kỳ, báo cáo ghi “{NO_BASELINE_TEXT}” và chưa đánh giá.",
        ],
    )
