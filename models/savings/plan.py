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


@dataclass(frozen=True)
class Target:
    """What the plan asks: its id, Vietnamese label, scope, unit, threshold and method."""

    target_id: str
    label: str
    scope: str
    unit: str
    threshold: float | None
    comparison: str
    method: str

    def row(self, month: str, figure: float | None, *, note: str = "",
            verdict: str | None = None) -> dict[str, object]:
        """The plan-table row of this target for a month."""
        return {"target_id": self.target_id, "target": self.label, "scope": self.scope,
                "period": month, "figure": None if figure is None else float(figure),
                "unit": self.unit, "threshold": self.threshold, "comparison": self.comparison,
                "verdict": verdict or _verdict(figure, self.threshold, self.comparison),
                "method": self.method, "note": note}


@dataclass(frozen=True)
class PlanParts:
    """The month's computed tables a plan table is judged from (None: not available)."""

    month: str
    consumption: pl.DataFrame                   # models.savings.consumption
    normalised: pl.DataFrame | None = None      # models.savings.caltrack
    lighting: pl.DataFrame | None = None        # models.savings.lighting
    advertising: pl.DataFrame | None = None
    large: pl.DataFrame | None = None
    peak: pl.DataFrame | None = None            # models.savings.peak (month rows)
    dr: pl.DataFrame | None = None              # models.savings.demand_response (events)
    solar: pl.DataFrame | None = None           # models.savings.solar
    losses: pl.DataFrame | None = None          # gold balance_month
    loss_target_pct: float = 6.0                # settings.loss_target_pct
    loss_stretch_pct: float = 3.0               # settings.loss_stretch_pct


def _first(frame: pl.DataFrame | None, **equal: str) -> dict[str, Any] | None:
    """The first row of ``frame`` whose columns equal the values given, or None."""
    if frame is None:
        return None
    rows = frame.filter(*(pl.col(column) == value for column, value in equal.items()))
    return rows.row(0, named=True) if rows.height else None


def _savings_rows(parts: PlanParts, target_id: str, label: str, group: str,
                  threshold: float) -> list[dict[str, object]]:
    """A group's savings against both baselines."""
    month = parts.month
    same_period = Target(target_id, label, group, "%", threshold, ">=", "same_period")
    same = _first(parts.consumption, level="province", customer_group=group)
    if same is None:
        rows = [same_period.row(month, None, note="không có điện năng tiêu thụ trong tháng")]
    else:
        note = {"no_history": "không có số liệu cùng kỳ năm trước (khách hàng mới, hoặc chưa "
                              "có dữ liệu): không tính % tiết kiệm",
                "new_meters": f"gồm {same['new_meters']} công tơ chưa có số liệu năm trước",
                }.get(same["note"], "")
        rows = [same_period.row(month, same["savings_pct"], note=note)]
    norm = _first(parts.normalised, customer_group=group)
    if norm is not None:
        normalised = Target(target_id, label, group, "%", threshold, ">=", "caltrack_daily")
        if norm["verdict"] == "ok":
            rows.append(normalised.row(month, norm["savings_pct"], note=(
                f"mô hình hóa {norm['meters_fitted']}/{norm['meters']} công tơ")))
        else:
            rows.append(normalised.row(month, None, note=(
                f"chưa có đường cơ sở: {reasons_text(norm['reasons'])}")))
    return rows


def plan_table(parts: PlanParts) -> pl.DataFrame:
    """The plan table of a month: one row per target × scope × method."""
    month = parts.month
    peak_month = int(month[5:7]) in PEAK_MONTHS
    rows: list[dict[str, object]] = []
    rows += _savings_rows(parts, "savings_total", "Tiết kiệm điện toàn tỉnh", "all",
                          target_pct("all", month))
    rows += _savings_rows(parts, "savings_offices", "Cơ quan, công sở (hành chính sự nghiệp)",
                          CustomerGroup.PUBLIC_ADMIN.value,
                          target_pct(CustomerGroup.PUBLIC_ADMIN, month))
    rows += _savings_rows(parts, "savings_lighting", "Chiếu sáng công cộng",
                          CustomerGroup.PUBLIC_LIGHTING.value,
                          target_pct(CustomerGroup.PUBLIC_LIGHTING, month))
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


LIGHTING_NIGHT = Target("lighting_night", "Chiếu sáng công cộng: giảm 50 % công suất "
                        "23:00–04:00", CustomerGroup.PUBLIC_LIGHTING.value, "% meters", 100.0,
                        ">=", "night_ratio")
LIGHTING_ALL_HOURS = Target("lighting_all_hours", "Chiếu sáng công cộng: giảm 50 % công suất "
                            "mọi giờ (tháng 5–7)", CustomerGroup.PUBLIC_LIGHTING.value,
                            "% meters", 100.0, ">=", "same_month_last_year")
ADVERTISING = Target("advertising_peak_cut", "Chiếu sáng quảng cáo: cắt 50 % công suất giờ cao "
                     "điểm tối (tháng 5–7)", "advertising", "% meters", 100.0, ">=",
                     "same_month_last_year")
LARGE_CONSUMERS = Target("large_consumers", "Khách hàng ≥ 500.000 kWh/năm tiết kiệm ≥ 3 %",
                         "large_consumers", "% consumers", 100.0, ">=", "same_period")
EVENING_PEAK = Target("evening_peak", "Công suất cực đại giờ cao điểm tối 17:30–22:30",
                      "province", "MW", None, "", "coincident_demand")
DEMAND_RESPONSE = Target("demand_response", "Điều chỉnh phụ tải (DR): giảm ≥ 30 MW công suất "
                         "đỉnh", "province", "MW", DR_TARGET_MW, ">=",
                         "caltrack_10_day_baseline")
SOLAR_NEW = Target("solar_new", "Điện mặt trời mái nhà lắp mới ≥ 20 MW trong năm", "province",
                   "kWp", NEW_SOLAR_TARGET_KWP, ">=", "customer_system")
SOLAR_OFFICES = Target("solar_offices", "Tỷ lệ công sở có điện mặt trời mái nhà ≈ 10 %",
                       CustomerGroup.PUBLIC_ADMIN.value, "%", SOLAR_SHARE_TARGET_PCT, ">=",
                       "customer_system")
SOLAR_HOUSEHOLDS = Target("solar_households", "Tỷ lệ hộ gia đình có điện mặt trời mái nhà "
                          "≈ 10 %", CustomerGroup.RESIDENTIAL.value, "%",
                          SOLAR_SHARE_TARGET_PCT, ">=", "customer_system")


def _lighting_rows(parts: PlanParts, peak_month: bool) -> list[dict[str, object]]:
    month = parts.month
    share, judged, total = _share(parts.lighting, "compliant")
    rows = [LIGHTING_NIGHT.row(month, share, note=(
        f"đánh giá {judged}/{total} công tơ chiếu sáng" if total
        else "không có công tơ chiếu sáng công cộng báo số liệu"))]
    if peak_month:
        share, judged, total = _share(parts.lighting, "all_hours_compliant")
        rows.append(LIGHTING_ALL_HOURS.row(month, share, note=(
            f"{judged}/{total} công tơ có số liệu cùng tháng năm trước")))
    return rows


def _advertising_rows(parts: PlanParts, peak_month: bool) -> list[dict[str, object]]:
    month = parts.month
    if not peak_month:
        return [ADVERTISING.row(month, None, verdict="not_applicable",
                                note="chỉ áp dụng tháng 5, 6 và 7")]
    share, judged, total = _share(parts.advertising, "compliant")
    return [ADVERTISING.row(month, share, note=(
        f"{judged}/{total} công tơ quảng cáo có số liệu năm trước" if total
        else "CMIS chưa gắn nhãn quảng cáo (advertising) cho công tơ nào"))]


def _large_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    if parts.large is None or parts.large.is_empty():
        return [LARGE_CONSUMERS.row(month, None, verdict="not_applicable",
                                    note="không có khách hàng từ 500.000 kWh/năm")]
    share, judged, total = _share(parts.large, "met")
    return [LARGE_CONSUMERS.row(month, share, note=(
        f"{total} khách hàng lớn, {judged} có số liệu cùng kỳ"))]


def _peak_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    row = _first(parts.peak, level="province")
    if row is None:
        return [EVENING_PEAK.row(month, None,
                                 note="không có số liệu theo chu kỳ trong tháng")]
    change = row.get("change_pct")
    note = ("cùng tháng năm trước: không có số liệu" if change is None else
            f"{change:+.1f} % so với cùng tháng năm trước")
    return [EVENING_PEAK.row(month, row["peak_mw"], verdict="info", note=note)]


def _dr_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    dr = parts.dr
    if dr is None or dr.is_empty():
        return [DEMAND_RESPONSE.row(month, None, verdict="not_applicable",
                                    note="không có sự kiện điều chỉnh phụ tải trong tháng")]
    best = dr.sort("reduction_mw", descending=True, nulls_last=True).row(0, named=True)
    return [DEMAND_RESPONSE.row(month, best["reduction_mw"], note=(
        f"{dr.height} sự kiện; giảm nhiều nhất: {best['event_id']} "
        f"({best['participants']} khách hàng tham gia)"))]


def _solar_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    row = _first(parts.solar, level="province")
    if row is None:
        return [SOLAR_NEW.row(month, None)]
    return [
        SOLAR_NEW.row(month, row["new_kwp_this_year"], note=(
            f"{row['solar_meters']} hệ thống, tổng {row['solar_kwp']:,.0f} kWp; điện phát lên "
            "lưới không tính là tiết kiệm")),
        SOLAR_OFFICES.row(month, row["office_share_pct"]),
        SOLAR_HOUSEHOLDS.row(month, row["household_share_pct"]),
    ]


def _loss_rows(parts: PlanParts) -> list[dict[str, object]]:
    month = parts.month
    target = Target("distribution_loss", f"Tổn thất điện năng toàn tỉnh < "
                    f"{parts.loss_target_pct:g} % (phấn đấu {parts.loss_stretch_pct:g} %)",
                    "province", "%", parts.loss_target_pct, "<=", "energy_balance")
    row = _first(parts.losses, level="province")
    if row is None:
        return [target.row(month, None)]
    if not row["reliable"]:
        return [target.row(month, None, note="cân bằng không tin cậy (tỷ lệ đo đếm dưới ngưỡng)")]
    stretch = "đạt" if row["loss_pct"] <= parts.loss_stretch_pct else "chưa đạt"
    return [target.row(month, row["loss_pct"], note=(
        f"mục tiêu phấn đấu {parts.loss_stretch_pct:g} %: {stretch}"))]
