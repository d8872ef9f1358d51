"""The one table of anomaly reason codes and their Vietnamese / English texts.

Loss-reduction teams read the Vietnamese text in the review list; the English text is for
logs and public data sets. Each template takes named evidence numbers already formatted for
its language (``fmt_number`` writes Vietnamese numbers with a decimal comma and a dot as
thousands separator).
"""

from __future__ import annotations

import re
from string import Formatter
from typing import NamedTuple

import polars as pl

from ami.reference import CUSTOMER_GROUP_NAMES
from ami.vocabulary import InspectionOutcome


class Reason(NamedTuple):
    """Texts of one reason code; ``suspicious`` codes raise the score, the others explain."""

    vi: str
    en: str
    suspicious: bool


REASONS: dict[str, Reason] = {
    "CHANGE": Reason(
        vi="Từ ngày {day} hành vi thay đổi hẳn và kéo dài đến nay: sản lượng {before} → "
        "{after} kWh/ngày{what} (mức ý nghĩa {stat})",
        en="Behaviour changed on {day} and has stayed so: {before} → {after} kWh/day"
        "{what} (strength {stat})",
        suspicious=True,
    ),
    "DROP": Reason(
        vi="Sản lượng giảm {pct} % so với lịch sử ({base} → {recent} kWh/ngày{peer})",
        en="Consumption fell {pct} % versus own history ({base} → {recent} kWh/day{peer})",
        suspicious=True,
    ),
    "SEASON_DROP": Reason(
        vi="Sản lượng thấp hơn {pct} % so với cùng kỳ năm trước sau khi trừ biến động chung "
        "({last_year} → {recent} kWh/ngày)",
        en="Consumption {pct} % below the same season last year beyond the peers' change "
        "({last_year} → {recent} kWh/day)",
        suspicious=True,
    ),
    "ZERO": Reason(
        vi="Gần như không ghi nhận điện năng ({share} % số giờ bằng 0, lịch sử {hist} %)",
        en="Almost no energy registered ({share} % of hours at zero, history {hist} %)",
        suspicious=True,
    ),
    "PARTIAL_ZERO": Reason(
        vi="Mất sản lượng theo giờ hằng ngày ({hours} giờ/ngày bằng 0 trong {days} % số ngày "
        "gần đây, lịch sử {hist} %; cao điểm tối bằng 0: {peak} %)",
        en="Energy missing for hours every day ({hours} h/day at zero on {days} % of recent "
        "days, history {hist} %; evening peak at zero: {peak} %)",
        suspicious=True,
    ),
    "FLAT": Reason(
        vi="Biểu đồ phụ tải bị san phẳng (hệ số biến thiên trong ngày {cv_recent}, "
        "lịch sử {cv_base})",
        en="Load profile flattened (intraday coefficient of variation {cv_recent}, "
        "history {cv_base})",
        suspicious=True,
    ),
    "SHAPE": Reason(
        vi="Hình dạng biểu đồ phụ tải ngày thay đổi (tương quan với lịch sử {corr}, lệch "
        "khoảng {lag} giờ; tỷ trọng cao điểm tối {peak_base} % → {peak_recent} %)",
        en="Daily load shape changed (correlation with history {corr}, shifted about "
        "{lag} h; evening-peak share {peak_base} % → {peak_recent} %)",
        suspicious=True,
    ),
    "PEER": Reason(
        vi="Sản lượng rất thấp so với nhóm cùng loại ({ratio} % trung vị nhóm {group})",
        en="Consumption far below peers ({ratio} % of the {group} median)",
        suspicious=True,
    ),
    "VARIANCE": Reason(
        vi="Sản lượng ngày dao động bất thường (hệ số biến thiên so với mức nền {cv_recent}, "
        "lịch sử {cv_hist})",
        en="Day energy swings unusually (coefficient of variation against the baseline "
        "{cv_recent}, history {cv_hist})",
        suspicious=True,
    ),
    "ROUGH": Reason(
        vi="Điện năng giữa các chu kỳ đo nhảy bất thường (độ dao động trong giờ {recent}, "
        "lịch sử {hist})",
        en="Interval energy jumps unusually (within-hour swing {recent}, history {hist})",
        suspicious=True,
    ),
    "LOSS_LINK": Reason(
        vi="Sản lượng giảm đúng lúc tổn thất của TBA {transformer} tăng (tương quan {corr})",
        en="Consumption fell as the loss of transformer {transformer} rose (correlation "
        "{corr})",
        suspicious=True,
    ),
    "TAMPER": Reason(
        vi="Công tơ báo can thiệp (mở nắp, từ trường) {count} lần trong {days} ngày gần đây",
        en="The meter raised {count} tamper alarms (cover open, magnetic field) in the last "
        "{days} days",
        suspicious=True,
    ),
    "REGISTER_GAP": Reason(
        vi="Chỉ số công tơ tăng nhiều hơn biểu đồ phụ tải ghi nhận ({gap} % trong {days} "
        "ngày gần đây, lịch sử {hist} %)",
        en="The register advanced more than the load profile shows ({gap} % over the last "
        "{days} days, history {hist} %)",
        suspicious=True,
    ),
    "REVERSE": Reason(
        vi="Có điện năng chiều ngược vào ban đêm ({night} kWh/ngày) hoặc cảnh báo dòng ngược "
        "({events} lần) mà không phải điện mặt trời: kiểm tra đấu ngược công tơ",
        en="Reverse energy at night ({night} kWh/day) or reverse-current alarms ({events}), "
        "which rooftop solar cannot explain: check for a reversed meter connection",
        suspicious=True,
    ),
    "OVER_CAPACITY": Reason(
        vi="Công suất đo được {kw} kW vượt công suất hợp đồng {contracted} kW",
        en="Measured demand {kw} kW above the contracted {contracted} kW",
        suspicious=True,
    ),
    "ISOLATION": Reason(
        vi="Hành vi khác thường so với nhóm {group} (điểm bất thường {value})",
        en="Unusual behaviour versus {group} peers (isolation score {value})",
        suspicious=True,
    ),
    "DATA_QUALITY": Reason(
        vi="Dữ liệu kém: {share} % chu kỳ gần đây không đo thực (ước tính/thiếu), độ tin cậy giảm",
        en="Poor data: {share} % of recent intervals not measured (estimated/missing), "
        "confidence lowered",
        suspicious=False,
    ),
    "STUCK": Reason(
        vi="Nghi công tơ kẹt/lỗi (giá trị gần như không đổi giữa các ngày): kiểm tra thiết bị",
        en="Suspected stuck/faulty meter (value almost constant across days): check the device",
        suspicious=False,
    ),
    "VACANT": Reason(
        vi="Điện năng chỉ còn mức chờ (khoảng {standby} kW), biểu đồ ngày không còn: có thể "
        "nhà vắng người, nên liên hệ khách hàng trước khi kiểm tra",
        en="Energy down to the stand-by level (about {standby} kW) with no daily shape: the "
        "house may be empty; contact the customer before an inspection",
        suspicious=False,
    ),
    "SOLAR": Reason(
        vi="Khách hàng có điện mặt trời mái nhà (phát lên lưới {export} kWh/ngày): phần điện "
        "tự dùng từ mặt trời không bị tính là giảm sản lượng",
        en="Rooftop-solar customer (export {export} kWh/day): import replaced by self-consumed "
        "solar energy is not counted as a drop",
        suspicious=False,
    ),
    "INSPECTED_OK": Reason(
        vi="Đã kiểm tra ngày {date}: {outcome}, điểm được hạ",
        en="Inspected on {date}: {outcome_en}, score lowered",
        suspicious=False,
    ),
}

OUTCOME_VI: dict[str, str] = {
    InspectionOutcome.NO_ISSUE: "không phát hiện vi phạm",
    InspectionOutcome.METER_FAULT: "công tơ hỏng",
    InspectionOutcome.BILLING_ERROR: "sai sót hóa đơn",
    InspectionOutcome.THEFT: "trộm cắp điện",
}

#: Peer groups in Vietnamese, keyed by text: Polars cannot read enum members mixed with
#: other text ("all") as the keys of a replace.
GROUP_VI: dict[str, str] = {
    **{str(group): name for group, name in CUSTOMER_GROUP_NAMES.items()},
    "all": "tất cả khách hàng",
}


# "CODE: text; CODE: text" — a reason starts where a code and a colon follow "; ".
_REASON_START = re.compile(r"; (?=[A-Z_]+: )")


def split_reasons(reasons: str | None) -> list[tuple[str, str]]:
    """A meter's ``reasons`` text → (code, text) of each reason, in order."""
    if not reasons:
        return []
    return [(code, text) for code, _, text in
            (part.partition(": ") for part in _REASON_START.split(reasons))]


def fmt_number(expr: pl.Expr, decimals: int, lang: str) -> pl.Expr:
    """Vectorised number text: Vietnamese ``1.234,5`` or English ``1,234.5``; null → ``-``."""
    thousands, point = (".", ",") if lang == "vi" else (",", ".")
    scale = 10**decimals
    scaled = (expr.cast(pl.Float64) * scale).round().cast(pl.Int64)
    magnitude = scaled.abs()
    whole = magnitude // scale
    frac = (magnitude % scale).cast(pl.String).str.zfill(decimals)
    low = (whole % 1000).cast(pl.String)
    mid = ((whole // 1000) % 1000).cast(pl.String)
    high = (whole // 1_000_000).cast(pl.String)
    grouped = (
        pl.when(whole >= 1_000_000)
        .then(
            pl.concat_str(
                [high, pl.lit(thousands), mid.str.zfill(3), pl.lit(thousands), low.str.zfill(3)]
            )
        )
        .when(whole >= 1000)
        .then(pl.concat_str([mid, pl.lit(thousands), low.str.zfill(3)]))
        .otherwise(low)
    )
    text = pl.concat_str([grouped, pl.lit(point), frac]) if decimals > 0 else grouped
    signed = pl.when(scaled < 0).then(pl.concat_str([pl.lit("-"), text])).otherwise(text)
    return signed.fill_null(pl.lit("-"))


def reason_expr(code: str, lang: str, evidence: dict[str, pl.Expr]) -> pl.Expr:
    """``CODE: text`` for one reason in ``lang`` ("vi"/"en"), filled from evidence columns."""
    reason = REASONS[code]
    template = reason.vi if lang == "vi" else reason.en
    parts: list[pl.Expr] = [pl.lit(f"{code}: ")]
    for literal, field, _spec, _conv in Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if field:
            parts.append(evidence[field].cast(pl.String).fill_null(pl.lit("-")))
    return pl.concat_str(parts)
