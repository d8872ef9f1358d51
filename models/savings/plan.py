"""Every target of the province's 2026 saving plan as the month's figure with a verdict.

One row per target (and scope): the figure the system computed, the plan's threshold, the
comparison, and a verdict — ``met``, ``not_met``, ``insufficient_data`` (never a number
from nothing: the note says what is missing), ``not_applicable`` (e.g. the advertising
rule outside May–July) or ``info`` (a figure the plan watches without a threshold of its
own, such as the evening peak). The parts come from the other modules of the package;
this one only judges them, so the gold plan table and ``ami savings`` say the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from ami.vocabulary import CustomerGroup
from models.savings.caltrack import NO_FITTED_METER, NO_READINGS
from models.savings.consumption import PEAK_MONTHS, target_pct
from models.savings.demand_response import DR_TARGET_MW
from models.savings.solar import NEW_SOLAR_TARGET_KWP, SOLAR_SHARE_TARGET

#: Verdict codes (data) and their Vietnamese labels (people).
VERDICT_NAMES = {
    "met": "Đạt",
    "not_met": "Không đạt",
    "insufficient_data": "Không đủ dữ liệu",
    "not_applicable": "Không áp dụng",
    "info": "Theo dõi",
}
#: How a figure is made, in Vietnamese.
METHOD_NAMES = {
    "same_period": "so cùng kỳ",
    "caltrack_daily": "chuẩn hóa thời tiết (CalTRACK)",
    "night_ratio": "23:00–04:00 / buổi tối",
    "same_month_last_year": "so cùng tháng năm trước",
    "coincident_demand": "công suất đồng thời",
    "caltrack_10_day_baseline": "đường cơ sở 10 ngày",
    "customer_system": "theo CMIS",
    "energy_balance": "cân bằng điện năng",
}
#: Rooftop solar: the share of offices and of households the plan aims at [%].
SOLAR_SHARE_TARGET_PCT = 100 * SOLAR_SHARE_TARGET

PLAN_SCHEMA = {
    "target_id": pl.String,
    "target": pl.String,
    "scope": pl.String,
    "period": pl.String,
    "figure": pl.Float64,
    "unit": pl.String,
    "threshold": pl.Float64,
    "comparison": pl.String,
    "verdict": pl.String,
    "method": pl.String,
    "note": pl.String,
}


@dataclass(frozen=True)
class PlanParts:
    """The month's computed tables a plan table is judged from (None: not available)."""

    month: str
    consumption: pl.DataFrame  # models.savings.consumption
    normalised: pl.DataFrame | None = None  # models.savings.caltrack
    lighting: pl.DataFrame | None = None  # models.savings.lighting
    advertising: pl.DataFrame | None = None
    large: pl.DataFrame | None = None
    peak: pl.DataFrame | None = None  # models.savings.peak (month rows)
    dr: pl.DataFrame | None = None  # models.savings.demand_response (events)
    solar: pl.DataFrame | None = None  # models.savings.solar
    losses: pl.DataFrame | None = None  # gold balance_month
    loss_target_pct: float = 6.0  # settings.loss_target_pct
    loss_stretch_pct: float = 3.0  # settings.loss_stretch_pct


#: Why a weather-normalised baseline is missing, for people (opendsm's names otherwise).
REASON_TEXTS = {
    "savings.no_temperature_file": "chưa có tệp nhiệt độ (temperature*)",
    "savings.a_group_without_usable_baseline": "có nhóm khách hàng chưa có đường cơ sở",
    NO_FITTED_METER: "không công tơ mẫu nào đủ dữ liệu năm cơ sở",
    NO_READINGS: "công tơ mẫu không có số liệu trong tháng",
}


def reasons_text(reasons: str | None) -> str:
    """The reasons of an unusable baseline (``; ``-separated codes) in Vietnamese."""
    texts = []
    for code in filter(None, (reasons or "").split("; ")):
        days = re.fullmatch(r"savings\.baseline_year_has_(\d+)_of_365_days", code)
        if days:
            texts.append(f"năm cơ sở có {days.group(1)}/365 ngày số liệu (CalTRACK cần ≥ 90 %)")
        else:
            texts.append(REASON_TEXTS.get(code, f"CalTRACK: {code.rsplit('.', 1)[-1]}"))
    return "; ".join(texts) or "không rõ"


def _verdict(figure: float | None, threshold: float | None, comparison: str) -> str:
    if figure is None or threshold is None:
        return "insufficient_data"
    ok = figure >= threshold if comparison == ">=" else figure <= threshold
    return "met" if ok else "not_met"


def _row(
    target_id: str,
    target: str,
    scope: str,
    month: str,
    *,
    figure: float | None,
    unit: str,
    threshold: float | None,
    comparison: str,
    method: str,
    note: str = "",
    verdict: str | None = None,
) -> dict[str, object]:
    return {
        "target_id": target_id,
        "target": target,
        "scope": scope,
        "period": month,
        "figure": None if figure is None else float(figure),
        "unit": unit,
        "threshold": threshold,
        "comparison": comparison,
        "verdict": verdict or _verdict(figure, threshold, comparison),
        "method": method,
        "note": note,
    }


def _province(consumption: pl.DataFrame, group: str) -> dict[str, Any] | None:
    rows = consumption.filter((pl.col("level") == "province") & (pl.col("customer_group") == group))
    return rows.row(0, named=True) if rows.height else None


def _normalised(parts: PlanParts, group: str) -> dict[str, Any] | None:
    if parts.normalised is None:
        return None
    rows = parts.normalised.filter(pl.col("customer_group") == group)
    return rows.row(0, named=True) if rows.height else None


def _savings_rows(
    parts: PlanParts, target_id: str, label: str, group: str, threshold: float
) -> list[dict[str, object]]:
    """A group's savings against both baselines."""
    month = parts.month
    rows = []
    same = _province(parts.consumption, group)
    if same is None:
        rows.append(
            _row(
                target_id,
                label,
                group,
                month,
                figure=None,
                unit="%",
                threshold=threshold,
                comparison=">=",
                method="same_period",
                note="không có điện năng tiêu thụ trong tháng",
            )
        )
    else:
        note = (
            "không có số liệu cùng kỳ năm trước (khách hàng mới, hoặc chưa có dữ liệu): "
            "không tính % tiết kiệm"
            if same["note"] == "no_history"
            else f"gồm {same['new_meters']} công tơ chưa có số liệu năm trước"
            if same["note"] == "new_meters"
            else ""
        )
        rows.append(
            _row(
                target_id,
                label,
                group,
                month,
                figure=same["savings_pct"],
                unit="%",
                threshold=threshold,
                comparison=">=",
                method="same_period",
                note=note,
            )
        )
    norm = _normalised(parts, group)
    if norm is not None:
        usable = norm["verdict"] == "ok"
        note = (
            f"mô hình hóa {norm['meters_fitted']}/{norm['meters']} công tơ"
            if usable
            else f"chưa có đường cơ sở: {reasons_text(norm['reasons'])}"
        )
        rows.append(
            _row(
                target_id,
                label,
                group,
                month,
                figure=norm["savings_pct"] if usable else None,
                unit="%",
                threshold=threshold,
                comparison=">=",
                method="caltrack_daily",
                note=note,
            )
        )
    return rows


def plan_table(parts: PlanParts) -> pl.DataFrame:
    """The plan table of a month: one row per target × scope × method."""
    month = parts.month
    peak_month = int(month[5:7]) in PEAK_MONTHS
    rows: list[dict[str, object]] = []
    rows += _savings_rows(
        parts, "savings_total", "Tiết kiệm điện toàn tỉnh", "all", target_pct("all", month)
    )
    rows += _savings_rows(
        parts,
        "savings_offices",
        "Cơ quan, công sở (hành chính sự nghiệp)",
        CustomerGroup.PUBLIC_ADMIN.value,
        target_pct(CustomerGroup.PUBLIC_ADMIN, month),
    )
    rows += _savings_rows(
        parts,
        "savings_lighting",
        "Chiếu sáng công cộng",
        CustomerGroup.PUBLIC_LIGHTING.value,
        target_pct(CustomerGroup.PUBLIC_LIGHTING, month),
    )
    rows += _lighting_rows(parts, peak_month)
    rows += _advertising_rows(parts, peak_month)
    rows += _large_rows(parts)
    rows += _peak_rows(parts)
    rows += _dr_rows(parts)
    rows += _solar_rows(parts)
    rows += _loss_rows(parts)
    return pl.DataFrame(rows, schema=PLAN_SCHEMA, orient="row")


def _share(frame: pl.DataFrame | None, column: str) -> tuple[float | None, int, int]:
    """Share of rows where ``column`` is true [%], judged rows, all rows."""
    if frame is None or frame.is_empty():
        return None, 0, 0
    judged = frame.filter(pl.col(column).is_not_null())
    if judged.is_empty():
        return None, 0, frame.height
    return 100.0 * float(judged[column].sum()) / judged.height, judged.height, frame.height


def _lighting_rows(parts: PlanParts, peak_month: bool) -> list[dict[str, object]]:
    month = parts.month
    share, judged, total = _share(parts.lighting, "compliant")
    rows = [
        _row(
            "lighting_night",
            "Chiếu sáng công cộng: giảm 50 % công suất 23:00–04:00",
            CustomerGroup.PUBLIC_LIGHTING.value,
            month,
            figure=share,
            unit="% meters",
            threshold=100.0,
            comparison=">=",
            method="night_ratio",
            note=f"đánh giá {judged}/{total} công tơ chiếu sáng"
            if total
            else "không có công tơ chiếu sáng công cộng báo số liệu",
        )
    ]
    if peak_month:
        share, judged, total = _share(parts.lighting, "all_hours_compliant")
        rows.append(
            _row(
                "lighting_all_hours",
                "Chiếu sáng công cộng: giảm 50 % công suất mọi giờ (tháng 5–7)",
                CustomerGroup.PUBLIC_LIGHTING.value,
                month,
                figure=share,
                unit="% meters",
                threshold=100.0,
                comparison=">=",
                method="same_month_last_year",
                note=f"{judged}/{total} công tơ có số liệu cùng tháng năm trước",
            )
        )
    return rows


def _advertising_rows(parts: PlanParts, peak_month: bool) -> list[dict[str, object]]:
    month = parts.month
    label = "Chiếu sáng quảng cáo: cắt 50 % công suất giờ cao điểm tối (tháng 5–7)"
    if not peak_month:
        return [
            _row(
                "advertising_peak_cut",
                label,
                "advertising",
                month,
                figure=None,
                unit="% meters",
                threshold=100.0,
                comparison=">=",
                method="same_month_last_year",
                verdict="not_applicable",
                note="chỉ áp dụng tháng 5, 6 và 7",
            )
        ]
    share, judged, total = _share(parts.advertising, "compliant")
    return [
        _row(
            "advertising_peak_cut",
            label,
            "advertising",
            month,
            figure=share,
            unit="% meters",
            threshold=100.0,
            comparison=">=",
            method="same_month_last_year",
            note=f"{judged}/{total} công tơ quảng cáo có số liệu năm trước"
            if total
            else "CMIS chưa gắn nhãn quảng cáo (advertising) cho công tơ nào",
        )
    ]


def _large_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    large = parts.large
    if large is None or large.is_empty():
        return [
            _row(
                "large_consumers",
                "Khách hàng ≥ 500.000 kWh/năm tiết kiệm ≥ 3 %",
                "large_consumers",
                month,
                figure=None,
                unit="% consumers",
                threshold=100.0,
                comparison=">=",
                method="same_period",
                verdict="not_applicable",
                note="không có khách hàng từ 500.000 kWh/năm",
            )
        ]
    share, judged, total = _share(large, "met")
    return [
        _row(
            "large_consumers",
            "Khách hàng ≥ 500.000 kWh/năm tiết kiệm ≥ 3 %",
            "large_consumers",
            month,
            figure=share,
            unit="% consumers",
            threshold=100.0,
            comparison=">=",
            method="same_period",
            note=f"{total} khách hàng lớn, {judged} có số liệu cùng kỳ",
        )
    ]


def _peak_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    peak = parts.peak
    label = "Công suất cực đại giờ cao điểm tối 17:30–22:30"
    if peak is None or peak.is_empty():
        return [
            _row(
                "evening_peak",
                label,
                "province",
                month,
                figure=None,
                unit="MW",
                threshold=None,
                comparison="",
                method="coincident_demand",
                note="không có số liệu theo chu kỳ trong tháng",
            )
        ]
    row = peak.filter(pl.col("level") == "province").row(0, named=True)
    change = row.get("change_pct")
    note = (
        "cùng tháng năm trước: không có số liệu"
        if change is None
        else f"{change:+.1f} % so với cùng tháng năm trước"
    )
    return [
        _row(
            "evening_peak",
            label,
            "province",
            month,
            figure=row["peak_mw"],
            unit="MW",
            threshold=None,
            comparison="",
            method="coincident_demand",
            verdict="info",
            note=note,
        )
    ]


def _dr_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    label = "Điều chỉnh phụ tải (DR): giảm ≥ 30 MW công suất đỉnh"
    dr = parts.dr
    if dr is None or dr.is_empty():
        return [
            _row(
                "demand_response",
                label,
                "province",
                month,
                figure=None,
                unit="MW",
                threshold=DR_TARGET_MW,
                comparison=">=",
                method="caltrack_10_day_baseline",
                verdict="not_applicable",
                note="không có sự kiện điều chỉnh phụ tải trong tháng",
            )
        ]
    best = dr.sort("reduction_mw", descending=True, nulls_last=True).row(0, named=True)
    return [
        _row(
            "demand_response",
            label,
            "province",
            month,
            figure=best["reduction_mw"],
            unit="MW",
            threshold=DR_TARGET_MW,
            comparison=">=",
            method="caltrack_10_day_baseline",
            note=f"{dr.height} sự kiện; giảm nhiều nhất: {best['event_id']} "
            f"({best['participants']} khách hàng tham gia)",
        )
    ]


def _solar_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    solar = parts.solar
    if solar is None or solar.is_empty():
        return [
            _row(
                "solar_new",
                "Điện mặt trời mái nhà lắp mới ≥ 20 MW trong năm",
                "province",
                month,
                figure=None,
                unit="kWp",
                threshold=NEW_SOLAR_TARGET_KWP,
                comparison=">=",
                method="customer_system",
            )
        ]
    row = solar.filter(pl.col("level") == "province").row(0, named=True)
    return [
        _row(
            "solar_new",
            "Điện mặt trời mái nhà lắp mới ≥ 20 MW trong năm",
            "province",
            month,
            figure=row["new_kwp_this_year"],
            unit="kWp",
            threshold=NEW_SOLAR_TARGET_KWP,
            comparison=">=",
            method="customer_system",
            note=f"{row['solar_meters']} hệ thống, tổng {row['solar_kwp']:,.0f} kWp; điện "
            "phát lên lưới không tính là tiết kiệm",
        ),
        _row(
            "solar_offices",
            "Tỷ lệ công sở có điện mặt trời mái nhà ≈ 10 %",
            CustomerGroup.PUBLIC_ADMIN.value,
            month,
            figure=row["office_share_pct"],
            unit="%",
            threshold=SOLAR_SHARE_TARGET_PCT,
            comparison=">=",
            method="customer_system",
        ),
        _row(
            "solar_households",
            "Tỷ lệ hộ gia đình có điện mặt trời mái nhà ≈ 10 %",
            CustomerGroup.RESIDENTIAL.value,
            month,
            figure=row["household_share_pct"],
            unit="%",
            threshold=SOLAR_SHARE_TARGET_PCT,
            comparison=">=",
            method="customer_system",
        ),
    ]


def _loss_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    losses = parts.losses
    label = (
        f"Tổn thất điện năng toàn tỉnh < {parts.loss_target_pct:g} % "
        f"(phấn đấu {parts.loss_stretch_pct:g} %)"
    )
    if losses is None or losses.filter(pl.col("level") == "province").is_empty():
        return [
            _row(
                "distribution_loss",
                label,
                "province",
                month,
                figure=None,
                unit="%",
                threshold=parts.loss_target_pct,
                comparison="<=",
                method="energy_balance",
            )
        ]
    row = losses.filter(pl.col("level") == "province").row(0, named=True)
    figure = row["loss_pct"] if row["reliable"] else None
    note = "" if row["reliable"] else "cân bằng không tin cậy (tỷ lệ đo đếm dưới ngưỡng)"
    if figure is not None:
        note = f"mục tiêu phấn đấu {parts.loss_stretch_pct:g} %: " + (
            "đạt" if figure <= parts.loss_stretch_pct else "chưa đạt"
        )
    return [
        _row(
            "distribution_loss",
            label,
            "province",
            month,
            figure=figure,
            unit="%",
            threshold=parts.loss_target_pct,
            comparison="<=",
            method="energy_balance",
            note=note,
        )
    ]
