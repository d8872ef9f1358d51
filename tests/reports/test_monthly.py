"""Tests of the monthly report to Sở Công Thương: workbook, JSON and CSV."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from ami.errors import ConfigError, InputError, NoDataError
from ami.settings import Settings
from reports.monthly import MonthlyReportPaths, build_monthly_report
from reports.monthly.tables import rounded
from reports.monthly.workbook import (
    SHEET_CONSUMPTION,
    SHEET_COVER,
    SHEET_LOSSES,
    _write_atomic,
)

SETTINGS = Settings()
MONTH = "2026-10"
GENERATED = date(2026, 11, 2)
HEADER_ROW = 4

# Gold month balances. Branch losses 5 %, 10 % and 2 %: the mean of the rates is 5.67 %
# (would meet the 6 % plan) but the province's rate is 101 000 / 1 530 000 = 6.60 % (does
# not). The province balance holds 10 000 kWh of a transformer without a branch, so it is
# not the sum of the branch rows; its measured share (0.98) is gold's, not the
# energy-weighted mean of the branches' (0.9809).
BALANCES = pl.DataFrame(
    {
        "level": ["branch", "branch", "branch", "province", "transformer"],
        "node_id": ["LS01", "LS02", "LS03", "LS", "LS01-T001"],
        "period": [MONTH] * 5,
        "energy_in_kwh": [1_000_000.0, 500_000.0, 20_000.0, 1_530_000.0, 1_000.0],
        "energy_out_kwh": [950_000.0, 450_000.0, 19_600.0, 1_429_000.0, 900.0],
        "loss_kwh": [50_000.0, 50_000.0, 400.0, 101_000.0, 100.0],
        "loss_pct": [5.0, 10.0, 2.0, 100 * 101_000 / 1_530_000, 10.0],
        "technical_loss_kwh": [20_000.0, 15_000.0, 200.0, 35_500.0, 40.0],
        "measured_share": [0.99, 0.97, 0.80, 0.98, 1.0],
        "reliable": [True, True, False, True, True],
    }
)


def gold_month(loss_pct: float, *, period: str = MONTH) -> pl.DataFrame:
    """Gold month balances of a province with one branch at ``loss_pct``."""
    loss = 1_000.0 * loss_pct
    return pl.DataFrame(
        {
            "level": ["branch", "province"],
            "node_id": ["LS05", "LS"],
            "period": [period] * 2,
            "energy_in_kwh": [100_000.0] * 2,
            "energy_out_kwh": [100_000.0 - loss] * 2,
            "loss_kwh": [loss] * 2,
            "loss_pct": [loss_pct] * 2,
            "technical_loss_kwh": [2_000.0] * 2,
            "measured_share": [1.0] * 2,
            "reliable": [True] * 2,
        }
    )
GROUP_ROWS = [
    "Sinh hoạt",
    "Kinh doanh dịch vụ",
    "Sản xuất",
    "Hành chính sự nghiệp",
    "Chiếu sáng công cộng",
]


def _consumption(period: str, factor: float = 1.0) -> pl.DataFrame:
    groups = [
        "residential",
        "residential",
        "commercial",
        "production",
        "public_admin",
        "public_lighting",
    ]
    return pl.DataFrame(
        {
            "meter_id": [f"PE0{i:05d}" for i in range(len(groups))],
            "customer_group": groups,
            "branch_id": ["LS01"] * len(groups),
            "period": [period] * len(groups),
            "kwh_import": [factor * v for v in (150.0, 250.0, 1_200.0, 80_000.0, 3_000.0, 900.0)],
            "kwh_export": [0.0, 45.0, 0.0, 0.0, 0.0, 0.0],
        }
    )


CONSUMPTION = _consumption(MONTH)
LAST_YEAR = _consumption("2025-10", factor=1.04)


def _build(out_dir: Path, **overrides: Any) -> MonthlyReportPaths:
    arguments: dict[str, Any] = {
        "month": MONTH,
        "balances": BALANCES,
        "consumption": CONSUMPTION,
        "consumption_last_year": LAST_YEAR,
        "out_dir": out_dir,
        "settings": SETTINGS,
        "generated_on": GENERATED,
    }
    arguments.update(overrides)
    return build_monthly_report(**arguments)


def sheet_table(sheet: Worksheet) -> list[dict[str, Any]]:
    """Body rows of a report sheet keyed by header, down to the first empty row."""
    headers = [c.value for c in sheet[HEADER_ROW]]
    rows = []
    for row in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True):
        if row[1] is None:
            break
        rows.append(dict(zip(headers, row, strict=True)))
    return rows


@pytest.fixture
def built(tmp_path: Path) -> MonthlyReportPaths:
    return _build(tmp_path / "out")


# --- files and sheets ---------------------------------------------------------------------


def test_files_are_named_by_month(built: MonthlyReportPaths) -> None:
    assert built.workbook.name == "bao-cao-thang-2026-10.xlsx"
    assert built.json.name == "bao-cao-thang-2026-10.json"
    assert sorted(p.name for p in built.workbook.parent.iterdir()) == sorted(
        p.name for p in built.all
    )


def test_sheet_names(built: MonthlyReportPaths) -> None:
    book = load_workbook(built.workbook)
    assert book.sheetnames == [SHEET_COVER, SHEET_LOSSES, SHEET_CONSUMPTION]
    assert book.sheetnames == ["Trang bìa", "Tổn thất điện năng", "Tiêu thụ theo nhóm khách hàng"]


def test_cover_sheet(built: MonthlyReportPaths) -> None:
    cover = load_workbook(built.workbook)[SHEET_COVER]
    texts = [c.value for row in cover.iter_rows() for c in row if c.value is not None]
    assert "Báo cáo tiết kiệm điện và tổn thất điện năng tháng 10/2026" in texts
    assert "Công ty Điện lực Lạng Sơn" in texts
    assert "Sở Công Thương tỉnh Lạng Sơn" in texts
    assert "02/11/2026" in texts
    labels = {row[0].value: row[1].value for row in cover.iter_rows(min_row=5, max_row=13)}
    # gold's province measured share, not a mean of the branches' rebuilt by the report
    assert labels["Mức độ đầy đủ của số liệu (tỷ lệ điện năng đo đếm):"] == 0.98
    assert labels["Điện lực có số liệu đủ tin cậy:"] == "2/3"
    assert labels["Tỷ lệ tổn thất điện năng toàn tỉnh (%):"] == 6.60


def test_loss_headers_are_vietnamese(built: MonthlyReportPaths) -> None:
    sheet = load_workbook(built.workbook)[SHEET_LOSSES]
    headers = [c.value for c in sheet[HEADER_ROW]]
    for header in (
        "Đơn vị",
        "Điện nhận (kWh)",
        "Điện thương phẩm (kWh)",
        "Tổn thất (kWh)",
        "Tỷ lệ tổn thất (%)",
        "Kế hoạch (%)",
        "Mục tiêu phấn đấu (%)",
        "So với kế hoạch",
        "Tỷ lệ đo đếm (%)",
        "Ghi chú",
    ):
        assert header in headers
    assert all(c.font.bold for c in sheet[HEADER_ROW])


def test_consumption_rows_use_plan_group_names(built: MonthlyReportPaths) -> None:
    rows = sheet_table(load_workbook(built.workbook)[SHEET_CONSUMPTION])
    assert [r["Nhóm khách hàng"] for r in rows] == [*GROUP_ROWS, "Tổng cộng"]


def test_formatting_and_print_setup(built: MonthlyReportPaths) -> None:
    book = load_workbook(built.workbook)
    for name in (SHEET_LOSSES, SHEET_CONSUMPTION):
        sheet = book[name]
        assert sheet.freeze_panes == "C5"
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.column_dimensions["B"].width >= 20
    losses = book[SHEET_LOSSES]
    assert losses.cell(row=HEADER_ROW + 1, column=3).number_format == "#,##0"
    assert losses.cell(row=HEADER_ROW + 1, column=6).number_format == "#,##0.00"


# --- figures ------------------------------------------------------------------------------


def test_province_row_is_golds_province_balance(built: MonthlyReportPaths) -> None:
    rows = sheet_table(load_workbook(built.workbook)[SHEET_LOSSES])
    province = rows[-1]
    branches = BALANCES.filter(pl.col("level") == "branch")
    assert province["Đơn vị"] == "Toàn tỉnh"
    # gold's province balance, not rebuilt from the branch rows above it
    assert province["Điện nhận (kWh)"] == 1_530_000.0 != branches["energy_in_kwh"].sum()
    assert province["Tổn thất (kWh)"] == 101_000.0
    assert province["Tổn thất kỹ thuật ước tính (kWh)"] == 35_500.0
    assert province["Tỷ lệ tổn thất (%)"] == 6.60  # a sum over a sum …
    assert abs(province["Tỷ lệ tổn thất (%)"] - branches["loss_pct"].mean()) > 0.5  # … not a mean
    assert province["Tỷ lệ đo đếm (%)"] == 0.98
    assert province["So với kế hoạch"] == "Không đạt"
    assert [r["Đơn vị"] for r in rows[:-1]] == [
        "Điện lực Thành phố Lạng Sơn",
        "Điện lực Cao Lộc",
        "Điện lực Lộc Bình",
    ]


def test_unreliable_branch_is_marked(built: MonthlyReportPaths) -> None:
    sheet = load_workbook(built.workbook)[SHEET_LOSSES]
    rows = sheet_table(sheet)
    notes = {r["Đơn vị"]: r["Ghi chú"] for r in rows}
    assert "chưa đủ tin cậy" in notes["Điện lực Lộc Bình"]
    assert notes["Điện lực Thành phố Lạng Sơn"] is None
    unreliable_row = HEADER_ROW + 3
    assert sheet.cell(row=unreliable_row, column=2).fill.fgColor.rgb.endswith("FCE4D6")
    document = json.loads(built.json.read_text(encoding="utf-8"))
    assert [r["reliable"] for r in document["losses"]] == [True, True, False, True]


@pytest.mark.parametrize(
    ("loss_pct", "plan", "stretch"),
    [
        pytest.param(2.5, "Đạt", "Đạt", id="below-stretch"),
        pytest.param(3.0, "Đạt", "Đạt", id="at-stretch"),
        pytest.param(5.99, "Đạt", "Không đạt", id="below-plan"),
        pytest.param(6.0, "Đạt", "Không đạt", id="at-plan"),
        pytest.param(6.01, "Không đạt", "Không đạt", id="above-plan"),
    ],
)
def test_loss_met_logic(tmp_path: Path, loss_pct: float, plan: str, stretch: str) -> None:
    balances = gold_month(loss_pct)
    rows = sheet_table(load_workbook(_build(tmp_path, balances=balances).workbook)[SHEET_LOSSES])
    assert len(rows) == 2
    for row in rows:
        assert row["So với kế hoạch"] == plan
        assert row["So với mục tiêu phấn đấu"] == stretch


@pytest.mark.parametrize(
    ("group", "month", "change_pct", "target", "status"),
    [
        pytest.param("residential", "2026-10", -3.5, 3.0, "Đạt", id="household-met"),
        pytest.param("residential", "2026-10", -2.5, 3.0, "Không đạt", id="household-missed"),
        pytest.param("residential", "2026-06", -5.0, 10.0, "Không đạt", id="household-peak-month"),
        pytest.param("public_admin", "2026-10", -5.0, 5.0, "Đạt", id="office-met"),
        pytest.param("public_admin", "2026-05", -8.0, 10.0, "Không đạt", id="office-peak-month"),
        pytest.param("public_lighting", "2026-07", -31.0, 30.0, "Đạt", id="lighting-met"),
        pytest.param("public_lighting", "2026-10", -12.0, 30.0, "Không đạt", id="lighting-missed"),
        pytest.param("commercial", "2026-10", 4.0, 3.0, "Không đạt", id="increase"),
    ],
)
def test_savings_met_logic(
    tmp_path: Path, group: str, month: str, change_pct: float, target: float, status: str
) -> None:
    year, mm = month.split("-")
    this = pl.DataFrame(
        {
            "meter_id": ["PE1"],
            "customer_group": [group],
            "period": [month],
            "kwh_import": [1_000.0 * (100 + change_pct)],
        }
    )
    last = this.with_columns(period=pl.lit(f"{int(year) - 1}-{mm}"), kwh_import=pl.lit(100_000.0))
    balances = BALANCES.with_columns(period=pl.lit(month))
    paths = _build(
        tmp_path, month=month, balances=balances, consumption=this, consumption_last_year=last
    )
    document = json.loads(paths.json.read_text(encoding="utf-8"))
    row = next(r for r in document["consumption"] if r["customer_group"] == group)
    assert row["target_pct"] == target
    assert row["change_pct"] == pytest.approx(change_pct)
    assert row["status"] == status
    assert row["met"] is (status == "Đạt")


def test_missing_last_year_is_said_not_invented(tmp_path: Path) -> None:
    paths = _build(tmp_path, consumption_last_year=None)
    rows = sheet_table(load_workbook(paths.workbook)[SHEET_CONSUMPTION])
    last_year_column = "Cùng kỳ tháng 10/2025 (kWh)"
    assert {r[last_year_column] for r in rows} == {"Chưa có số liệu cùng kỳ"}
    assert {r["Tăng (+) / giảm (-) (%)"] for r in rows} == {None}
    document = json.loads(paths.json.read_text(encoding="utf-8"))
    for row in document["consumption"]:
        assert row["consumption_last_year_kwh"] is None
        assert row["met"] is None
        assert row["status"] == "Chưa có số liệu cùng kỳ"
    assert document["data_completeness"]["has_last_year"] is False


def test_group_missing_last_year_only_that_row(tmp_path: Path) -> None:
    last = LAST_YEAR.filter(pl.col("customer_group") != "public_lighting")
    document = json.loads(
        _build(tmp_path, consumption_last_year=last).json.read_text(encoding="utf-8")
    )
    status = {r["customer_group"]: r["status"] for r in document["consumption"]}
    assert status["public_lighting"] == "Chưa có số liệu cùng kỳ"
    assert status["residential"] in ("Đạt", "Không đạt")


def test_json_equals_workbook_numbers(built: MonthlyReportPaths) -> None:
    book = load_workbook(built.workbook)
    document = json.loads(built.json.read_text(encoding="utf-8"))
    loss_rows = sheet_table(book[SHEET_LOSSES])
    assert len(loss_rows) == len(document["losses"])
    for cell_row, item in zip(loss_rows, document["losses"], strict=True):
        assert cell_row["Đơn vị"] == item["name"]
        assert cell_row["Điện nhận (kWh)"] == item["energy_in_kwh"]
        assert cell_row["Điện thương phẩm (kWh)"] == item["energy_out_kwh"]
        assert cell_row["Tổn thất (kWh)"] == item["loss_kwh"]
        assert cell_row["Tỷ lệ tổn thất (%)"] == item["loss_pct"]
        assert cell_row["Tổn thất kỹ thuật ước tính (kWh)"] == item["technical_loss_kwh"]
        assert cell_row["Tỷ lệ đo đếm (%)"] == item["measured_share"]
    group_rows = sheet_table(book[SHEET_CONSUMPTION])
    for cell_row, item in zip(group_rows, document["consumption"], strict=True):
        assert cell_row["Nhóm khách hàng"] == item["group_name"]
        assert cell_row["Sản lượng tháng 10/2026 (kWh)"] == item["consumption_kwh"]
        assert cell_row["Cùng kỳ tháng 10/2025 (kWh)"] == item["consumption_last_year_kwh"]
        assert cell_row["Tăng (+) / giảm (-) (kWh)"] == item["change_kwh"]
        assert cell_row["Tăng (+) / giảm (-) (%)"] == item["change_pct"]
        assert cell_row["Mục tiêu tiết kiệm (%)"] == item["target_pct"]
        assert cell_row["Đánh giá"] == item["status"]
    total = document["consumption"][-1]
    assert total["consumption_kwh"] == pytest.approx(CONSUMPTION["kwh_import"].sum())
    assert total["solar_export_kwh"] == pytest.approx(45.0)


def test_csv_carries_the_json_rows(built: MonthlyReportPaths) -> None:
    document = json.loads(built.json.read_text(encoding="utf-8"))
    losses = pl.read_csv(built.csv_losses)
    assert losses["loss_pct"].to_list() == [r["loss_pct"] for r in document["losses"]]
    consumption = pl.read_csv(built.csv_consumption)
    assert consumption["group_name"].to_list() == [r["group_name"] for r in document["consumption"]]


def test_json_is_utf8_with_diacritics(built: MonthlyReportPaths) -> None:
    raw = built.json.read_bytes()
    assert "Tổng cộng".encode() in raw
    assert b"\\u" not in raw


def test_no_personal_data(built: MonthlyReportPaths) -> None:
    book = load_workbook(built.workbook)
    cells = [
        str(c.value)
        for sheet in book
        for row in sheet.iter_rows()
        for c in row
        if c.value is not None
    ]
    files = [
        *cells,
        built.json.read_text(encoding="utf-8"),
        built.csv_consumption.read_text(encoding="utf-8"),
    ]
    assert not any("PE0" in text for text in files)


# --- determinism and atomic writes -------------------------------------------------------------


def test_rerun_gives_identical_bytes(tmp_path: Path) -> None:
    first = _build(tmp_path / "a")
    second = _build(tmp_path / "b")
    for one, two in zip(first.all, second.all, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    # Same folder again: files replaced in place with the same bytes, nothing left behind.
    before = {p.name: p.read_bytes() for p in first.all}
    again = _build(tmp_path / "a")
    assert {p.name: p.read_bytes() for p in again.all} == before
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(before)


@pytest.mark.parametrize(
    ("value", "decimals", "published"),
    [
        pytest.param(310_937.05, 1, 310_937.1, id="kwh-half-up"),  # the float is just below
        pytest.param(378_148.85, 1, 378_148.9, id="kwh-half-up-2"),
        pytest.param(420_106.75, 1, 420_106.8, id="binary-half"),
        pytest.param(0.125, 2, 0.13, id="pct-half-up"),  # half to even would give 0.12
        pytest.param(-2.345, 2, -2.35, id="negative-away-from-zero"),
        pytest.param(0.99995, 4, 1.0, id="share"),
        pytest.param(4.614, 2, 4.61, id="below-half"),
        pytest.param(None, 1, None, id="null"),
    ],
)
def test_published_rounding_is_decimal(value: float | None, decimals: int,
                                       published: float | None) -> None:
    frame = pl.DataFrame({"x": [value]}, schema={"x": pl.Float64})
    assert frame.select(rounded("x", decimals))["x"][0] == published


# Four meters whose float sum depends on the order it is added in: 378 148.85 in one order,
# 378 148.850 000 000 03 in another — 378 148.8 or 378 148.9 once rounded to 0.1 kWh.
HALF_SUM_KWH = (149_630.96, 19_172.15, 29_865.48, 179_480.26)


def test_consumption_sums_do_not_depend_on_row_order(tmp_path: Path) -> None:
    orders = list(itertools.permutations(range(len(HALF_SUM_KWH))))
    floats = {
        pl.DataFrame({"g": ["a"] * 4, "x": [HALF_SUM_KWH[i] for i in order]})
        .group_by("g").agg(pl.col("x").sum())["x"][0]
        for order in orders
    }
    assert len(floats) > 1  # the case is real: a float sum differs by order
    documents = set()
    for n, order in enumerate(orders):
        rows = pl.DataFrame(
            {
                "meter_id": [f"PE{i}" for i in order],
                "customer_group": ["production"] * 4,
                "period": [MONTH] * 4,
                "kwh_import": [HALF_SUM_KWH[i] for i in order],
                "kwh_export": [0.0] * 4,
            }
        )
        paths = _build(tmp_path / str(n), consumption=rows, consumption_last_year=None)
        document = json.loads(paths.json.read_text(encoding="utf-8"))
        groups = {r["customer_group"]: r for r in document["consumption"]}
        assert groups["production"]["consumption_kwh"] == 378_148.9
        assert groups["total"]["consumption_kwh"] == 378_148.9
        documents.add(paths.json.read_bytes())
    assert len(documents) == 1  # every order gives the same report, byte for byte


def test_failed_write_keeps_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    paths = _build(out)
    before = {p: p.read_bytes() for p in paths.all}

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("reports.monthly.workbook.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _build(out, consumption_last_year=None)
    assert {p: p.read_bytes() for p in paths.all} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.all)


def test_atomic_writer_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    _write_atomic({target: b"one"})
    _write_atomic({target: b"two"})
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# --- inputs -------------------------------------------------------------------------------


def test_day_balances_are_not_summed_into_a_month(tmp_path: Path) -> None:
    # The month's figures are gold's month balance; the report never builds its own.
    daily = pl.concat([BALANCES.with_columns(period=pl.lit(f"{MONTH}-0{d}")) for d in (1, 2)])
    with pytest.raises(NoDataError, match="only day balances") as info:
        _build(tmp_path, balances=daily)
    assert "balance_month" in str(info.value)


def test_empty_consumption_is_no_data_not_zero(tmp_path: Path) -> None:
    document = json.loads(
        _build(tmp_path, consumption=pl.DataFrame()).json.read_text(encoding="utf-8")
    )
    assert {r["status"] for r in document["consumption"]} == {"Chưa có số liệu tháng này"}
    assert {r["consumption_kwh"] for r in document["consumption"]} == {None}


def test_two_province_rows_are_refused(tmp_path: Path) -> None:
    twice = pl.concat([BALANCES, BALANCES.filter(pl.col("level") == "province")])
    with pytest.raises(InputError, match="2 province rows"):
        _build(tmp_path, balances=twice)


@pytest.mark.parametrize(
    "column", ["loss_kwh", "loss_pct", "technical_loss_kwh", "measured_share", "reliable"]
)
def test_missing_balance_column_is_named(tmp_path: Path, column: str) -> None:
    # A figure gold lacks is an error naming it, never recomputed by the report.
    with pytest.raises(InputError) as info:
        _build(tmp_path, balances=BALANCES.drop(column))
    assert info.value.column == column


def test_month_without_balances_is_no_data(tmp_path: Path) -> None:
    with pytest.raises(NoDataError, match="2026-09"):
        _build(tmp_path, month="2026-09")


def test_bad_month_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="YYYY-MM"):
        _build(tmp_path, month="10/2026")
