"""The monthly workbook carries gold's figures, and gold defines each figure once.

A small synthetic province goes through the whole chain; the workbook built from the
warehouse must show, in every cell of its loss sheet and cover, the number gold holds
(after the report's rounding), and gold's measured share must be the one definition of
``models.figures`` at every level and period.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openpyxl import load_workbook

from ami.orchestrate import run_chain_direct
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from ami.vocabulary import MeterRole, Quality
from models.balances import attach_topology
from reports.monthly.from_warehouse import build_from_warehouse
from reports.monthly.workbook import (
    SHEET_COVER,
    SHEET_LOSSES,
    MonthlyReportPaths,
)
from tests.reports.test_monthly import sheet_table
from warehouse import Warehouse

MONTH = "2026-10"
#: 500 meters: two branches (Điện lực), so the province is more than one branch.
SPEC = ProvinceSpec(meters=500, days=4, start=date(2026, 10, 1), seed=5, file_format="csv")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, MonthlyReportPaths]:
    root = tmp_path_factory.mktemp("province")
    generate_province(SPEC, root / "landing", root / "truth")
    settings = Settings(data_dir=root, landing=str(root / "landing"),
                        warehouse=str(root / "warehouse"), reports_dir=root / "reports")
    run_chain_direct(str(root / "landing"), settings=settings)
    return settings, build_from_warehouse(MONTH, settings=settings)


def published(value: float | None, decimals: int) -> float | None:
    """Gold's value as the report must print it: decimal rounding, half away from zero."""
    if value is None:
        return None
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def sheet_rows(path: Path, sheet: str) -> list[dict[str, Any]]:
    """Body rows of a report sheet keyed by header (``test_monthly.sheet_table``)."""
    return sheet_table(load_workbook(path)[sheet])


def gold_month(settings: Settings) -> pl.DataFrame:
    """Gold's branch rows (by id) then its province row, for the reported month."""
    month = Warehouse.at(settings.warehouse).read("balance_month", {"month": MONTH})
    return pl.concat([month.filter(pl.col("level") == "branch").sort("node_id"),
                      month.filter(pl.col("level") == "province")])


def test_every_loss_figure_of_the_workbook_is_golds(
        province: tuple[Settings, MonthlyReportPaths]) -> None:
    settings, paths = province
    gold = gold_month(settings)
    rows = sheet_rows(paths.workbook, SHEET_LOSSES)
    assert gold.filter(pl.col("level") == "branch").height == 2
    assert len(rows) == gold.height  # the branches, then the province
    met = {True: "Đạt", False: "Không đạt"}
    for row, item in zip(rows, gold.iter_rows(named=True), strict=True):
        where = item["node_id"]
        assert row["Điện nhận (kWh)"] == published(item["energy_in_kwh"], 1), where
        assert row["Điện thương phẩm (kWh)"] == published(item["energy_out_kwh"], 1), where
        assert row["Tổn thất (kWh)"] == published(item["loss_kwh"], 1), where
        assert row["Tỷ lệ tổn thất (%)"] == published(item["loss_pct"], 2), where
        assert row["Tổn thất kỹ thuật ước tính (kWh)"] == published(
            item["technical_loss_kwh"], 1), where
        assert row["Kế hoạch (%)"] == settings.loss_target_pct
        assert row["Mục tiêu phấn đấu (%)"] == settings.loss_stretch_pct
        assert row["So với kế hoạch"] == met[item["loss_pct"] <= settings.loss_target_pct]
        assert row["So với mục tiêu phấn đấu"] == met[
            item["loss_pct"] <= settings.loss_stretch_pct]
        assert row["Tỷ lệ đo đếm (%)"] == published(item["measured_share"], 4), where
        assert (row["Ghi chú"] is None) == item["reliable"], where
    assert rows[-1]["Đơn vị"] == "Toàn tỉnh"


def test_the_cover_and_the_json_carry_golds_figures(
        province: tuple[Settings, MonthlyReportPaths]) -> None:
    settings, paths = province
    gold = gold_month(settings)
    whole = gold.row(-1, named=True)
    cover = load_workbook(paths.workbook)[SHEET_COVER]
    labels = {row[0].value: row[1].value for row in cover.iter_rows(min_row=5, max_row=13)}
    assert labels["Mức độ đầy đủ của số liệu (tỷ lệ điện năng đo đếm):"] == published(
        whole["measured_share"], 4)
    assert labels["Tỷ lệ tổn thất điện năng toàn tỉnh (%):"] == published(whole["loss_pct"], 2)
    branches = gold.filter(pl.col("level") == "branch")
    assert labels["Điện lực có số liệu đủ tin cậy:"] == \
        f"{branches['reliable'].sum()}/{branches.height}"
    document = json.loads(paths.json.read_text(encoding="utf-8"))
    for row, item in zip(document["losses"], gold.iter_rows(named=True), strict=True):
        assert row["energy_in_kwh"] == published(item["energy_in_kwh"], 1)
        assert row["loss_pct"] == published(item["loss_pct"], 2)
        assert row["measured_share"] == published(item["measured_share"], 4)
        assert row["reliable"] == item["reliable"]
    assert document["data_completeness"]["measured_share"] == published(
        whole["measured_share"], 4)


def silver_shares(settings: Settings) -> pl.DataFrame:
    """The measured share of every transformer-day and province-day, from silver directly.

    Share of the energy in + out recorded by measured readings, times the share of
    readings with a value (a missing one counts as unmeasured energy of the mean reading).
    """
    wh = Warehouse.at(settings.warehouse)
    readings = wh.scan("readings").collect()
    meters = wh.read("meters").select("meter_id", "valid_from", "valid_to", "meter_role",
                                      "transformer_id")
    joined = attach_topology(readings, meters).filter(pl.col("transformer_id").is_not_null())
    roles = pl.col("meter_role").is_in([MeterRole.TRANSFORMER_TOTAL, MeterRole.CUSTOMER])
    energy = (pl.col("kwh_import").fill_null(0) + pl.col("kwh_export").fill_null(0)) * roles
    parts = joined.with_columns(
        energy=energy, measured=pl.col("quality") == Quality.MEASURED,
        missing=pl.col("quality") == Quality.MISSING,
        metered=(pl.col("meter_role") == MeterRole.TRANSFORMER_TOTAL).any()
        .over("transformer_id", "date"))

    def share(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        return frame.group_by(keys).agg(
            (pl.col("energy").filter("measured").sum() / pl.col("energy").sum()
             * (1 - pl.col("missing").mean())).alias("silver_share"))

    return pl.concat([
        share(parts, ["transformer_id", "date"]).rename({"transformer_id": "node_id"})
        .with_columns(level=pl.lit("transformer")),
        share(parts.filter("metered"), ["date"]).with_columns(
            node_id=pl.lit("LS"), level=pl.lit("province")),
    ], how="diagonal")


def test_golds_measured_share_is_the_energy_weighted_one(
        province: tuple[Settings, MonthlyReportPaths]) -> None:
    settings, _ = province
    wh = Warehouse.at(settings.warehouse)
    days = wh.scan("balance_day").collect()
    both = days.join(silver_shares(settings), on=["level", "node_id", "date"])
    assert both.height == days.filter(pl.col("level").is_in(["transformer", "province"])).height
    assert (both["measured_share"] - both["silver_share"]).abs().max() < 1e-12
    # and not the share of intervals it was before
    interval_share = days["n_measured"] / days["n_intervals"]
    assert (days["measured_share"] - interval_share).abs().max() > 1e-4
    assert (days["reliable"] == (days["has_total_meter"] & (
        days["measured_share"] >= settings.completeness_threshold))).all()


def test_every_level_and_period_sums_the_same_parts(
        province: tuple[Settings, MonthlyReportPaths]) -> None:
    settings, _ = province
    wh = Warehouse.at(settings.warehouse)
    micro = [(pl.col(c) * 1e6).round().cast(pl.Int64).sum().alias(c)
             for c in ("energy_in_kwh", "energy_out_kwh", "measured_kwh")]
    counts = pl.col("n_intervals", "n_measured", "n_missing").sum()
    days = wh.scan("balance_day").collect().group_by("level", "node_id").agg(*micro, counts)
    month = wh.read("balance_month", {"month": MONTH}).group_by("level", "node_id").agg(
        *micro, counts)
    # the month is exactly (to the micro-kWh) the sum of its days, at every level
    assert days.sort("level", "node_id").equals(month.sort("level", "node_id"))
    branches = month.filter(pl.col("level") == "branch").drop("level", "node_id").sum()
    whole = month.filter(pl.col("level") == "province").drop("level", "node_id")
    assert branches.equals(whole)  # every transformer of this province has a branch
