"""What each page and API call shows, built once for both.

``pages.py`` renders it, ``api.py`` returns it as JSON. Every function takes the
caller's ``Access`` and leaves out what the role may not see: meter ids and customer
data for viewers, other branches' meters for inspectors.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from fastapi import HTTPException

from ami.reference import CUSTOMER_GROUP_NAMES
from ami.settings import Settings
from ami.vocabulary import InspectionOutcome
from app import charts
from app.gold import BANDS, Gold, QueueFilter
from app.security import Access, meter_branch_or_404
from app.users import Role
from models.anomaly.inspections import WEB_SOURCE, record_inspections
from models.anomaly.reasons import OUTCOME_VI, REASONS, split_reasons
from reports.xlsx_table import xlsx_table

PAGE_SIZE = 50
#: Rows an Excel export holds at most: a crew's work list, not the province.
EXPORT_MAX_ROWS = 2000


def clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf → None, dates → ISO text, lists and dicts recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    return value


def rows(frame: pl.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """A frame's rows as JSON-safe dictionaries."""
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return [clean(r) for r in frame.to_dicts()]


def partial_days(gold: Gold, month: str) -> int | None:
    """Days with data when ``month`` is not complete yet (the province balance's flag)."""
    province = gold.losses(month, "province")
    if province.is_empty() or "partial_period" not in (province["flags"][0] or ""):
        return None
    return int(province["days"][0])


# --- dashboard ---------------------------------------------------------------------------
LOSS_COLUMNS = ["node_id", "energy_in_kwh", "loss_kwh", "loss_pct", "loss_pct_ytd",
                "loss_pct_last_year", "loss_pct_ytd_last_year", "measured_share",
                "reliable", "gap_to_target_kwh", "gap_to_stretch_kwh", "flags"]


def dashboard(gold: Gold, month: str | None, settings: Settings) -> dict[str, Any]:
    """Province and branch losses of a month (and YTD, last year) with the 13-month trend."""
    month = gold.month_or_latest(month)
    province = gold.losses(month, "province")
    branches = gold.losses(month, "branch").sort("node_id")
    trend = pl.concat([gold.trend("province"), gold.trend("branch")])
    names = {**{b: f"Điện lực {b}" for b in gold.branches()},
             **dict.fromkeys(province["node_id"].to_list(), "Toàn tỉnh")}
    return {
        "month": month, "months": gold.months(), "partial_days": partial_days(gold, month),
        "target_pct": settings.loss_target_pct, "stretch_pct": settings.loss_stretch_pct,
        "province": rows(province, LOSS_COLUMNS),
        "branches": rows(branches, LOSS_COLUMNS),
        "trend": rows(trend, ["node_id", "month", "loss_pct"]),
        "figure": charts.loss_trend(trend, names=names, target=settings.loss_target_pct,
                                   stretch=settings.loss_stretch_pct),
    }


# --- transformers ------------------------------------------------------------------------
TRANSFORMER_COLUMNS = ["rank", "node_id", "branch_id", "feeder_id", "n_meters",
                       "energy_in_kwh", "loss_kwh", "loss_pct", "technical_loss_kwh",
                       "non_technical_kwh", "recoverable_kwh", "measured_share", "reliable",
                       "loss_jump_date", "loss_jump_pp", "flags"]


def transformers(gold: Gold, *, month: str | None, branch: str | None, feeder: str | None,
                 page: int) -> dict[str, Any]:
    """Transformers ranked by recoverable kWh, filtered by branch and feeder, one page."""
    month = gold.month_or_latest(month)
    frame = gold.losses(month, "transformer")
    if branch:
        frame = frame.filter(pl.col("branch_id") == branch)
    if feeder:
        frame = frame.filter(pl.col("feeder_id") == feeder)
    return {"month": month, "months": gold.months(), "branch": branch, "feeder": feeder,
            "partial_days": partial_days(gold, month),
            "branches": gold.branches(),
            "feeders": gold.feeders((branch,) if branch else None),
            **_page(frame, page, TRANSFORMER_COLUMNS)}


def transformer(gold: Gold, access: Access, transformer_id: str, *, month: str | None,
                settings: Settings) -> dict[str, Any]:
    """One transformer: its month, daily balances, loss jump, and (if allowed) its meters."""
    month = gold.month_or_latest(month)
    found = gold.losses(month, "transformer").filter(pl.col("node_id") == transformer_id)
    days = gold.transformer_days(transformer_id)
    if found.is_empty() and days.is_empty():
        raise HTTPException(status_code=404, detail="Không tìm thấy trạm biến áp.")
    summary = rows(found, TRANSFORMER_COLUMNS)
    info = summary[0] if summary else {"node_id": transformer_id}
    branch = info.get("branch_id")
    meters: list[dict[str, Any]] | None = None
    if access.user.sees_meters and access.user.sees_branch(branch):
        meters = rows(gold.transformer_meters(transformer_id),
                      ["meter_id", "customer_id", "customer_group", "rank", "score",
                       "est_unbilled_vnd_month", "reason_codes"])
    return {"month": month, "transformer": info, "partial_days": partial_days(gold, month),
            "days": rows(days, ["date", "energy_in_kwh", "energy_out_kwh", "loss_kwh",
                                "loss_pct", "technical_loss_kwh", "non_technical_kwh",
                                "measured_share", "reliable"]),
            "meters": meters,
            "figure": charts.transformer_days(days, jump_date=info.get("loss_jump_date"),
                                             target=settings.loss_target_pct)}


# --- the anomaly queue -------------------------------------------------------------------
QUEUE_COLUMNS = ["rank", "meter_id", "customer_id", "branch_id", "transformer_id",
                 "customer_group", "score", "est_unbilled_kwh_month", "est_unbilled_vnd_month",
                 "reason_codes", "reasons", "change_day", "model"]


def queue_filter(access: Access, *, branch: str | None, transformer: str | None,
                 group: str | None, reason: str | None, band: str | None,
                 sort: str) -> QueueFilter:
    """The queue filter of a request, limited to the user's branches."""
    access.require(Role.INSPECTOR, Role.ADMIN)
    return QueueFilter(branches=access.branches(), branch=branch or None,
                       transformer=transformer or None, group=group or None,
                       reason=reason or None, band=band if band in BANDS else None,
                       sort=sort if sort in ("score", "vnd") else "score")


def queue(gold: Gold, access: Access, where: QueueFilter, page: int) -> dict[str, Any]:
    """One page of the anomaly queue, with the choices of its filters."""
    frame = gold.queue(where)
    visible = access.branches()
    return {"filter": where.__dict__,
            "branches": [b for b in gold.branches() if visible is None or b in visible],
            "groups": gold.groups(), "reasons": gold.reason_codes(),
            "bands": {k: v[0] for k, v in BANDS.items()},
            **_page(frame, page, QUEUE_COLUMNS)}


def _page(frame: pl.DataFrame, page: int, columns: list[str]) -> dict[str, Any]:
    total = frame.height
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    chunk = frame.slice((page - 1) * PAGE_SIZE, PAGE_SIZE)
    return {"total": total, "page": page, "pages": pages, "page_size": PAGE_SIZE,
            "rows": rows(chunk, columns)}


EXPORT_HEADERS = {
    "rank": "Hạng", "meter_id": "Công tơ", "customer_id": "Khách hàng",
    "branch_id": "Điện lực", "transformer_id": "TBA", "customer_group": "Nhóm khách hàng",
    "score": "Điểm nghi vấn", "est_unbilled_kwh_month": "kWh/tháng nghi thất thoát",
    "est_unbilled_vnd_month": "Đồng/tháng (chưa VAT)", "change_day": "Ngày thay đổi",
    "reasons": "Lý do", "outcome": "Kết quả kiểm tra (điền)",
    "recovered_kwh": "kWh truy thu (điền)", "note": "Ghi chú (điền)",
}


#: Number formats of the export's columns (the others: text).
EXPORT_FORMATS = {"rank": "#,##0", "score": "0.000", "est_unbilled_kwh_month": "#,##0.0",
                  "est_unbilled_vnd_month": "#,##0", "change_day": "dd/mm/yyyy"}
EXPORT_SHEET = "Danh sách kiểm tra"


def export_xlsx(gold: Gold, where: QueueFilter) -> bytes:
    """The filtered queue's first ``EXPORT_MAX_ROWS`` rows as an Excel workbook.

    One sheet holding an Excel table (header row with filters, frozen), with the number
    formats of ``EXPORT_FORMATS`` and each column as wide as its longest text.
    """
    frame = gold.queue(where).head(EXPORT_MAX_ROWS).with_columns(
        pl.col("customer_group").replace_strict(CUSTOMER_GROUP_NAMES, default=pl.col(
            "customer_group")),
        outcome=pl.lit(None, pl.String), recovered_kwh=pl.lit(None, pl.String),
        note=pl.lit(None, pl.String),
    ).select(list(EXPORT_HEADERS))
    return xlsx_table(frame, EXPORT_HEADERS, EXPORT_FORMATS, sheet=EXPORT_SHEET)


# --- one meter ---------------------------------------------------------------------------
def meter(gold: Gold, access: Access, meter_id: str) -> dict[str, Any]:
    """A meter's page: profile against history and peers, events, VEE, reasons, visits."""
    access.require(Role.INSPECTOR, Role.ADMIN)
    info = gold.meter(meter_id)
    meter_branch_or_404(access.user, info["branch_id"] if info else None)
    assert info is not None  # meter_branch_or_404 raised otherwise
    score = gold.meter_score(meter_id)
    days = gold.meter_days(meter_id)
    change = score.get("change_day") if score else None
    change_text = change.isoformat() if isinstance(change, date) else None
    before = days.filter(pl.col("date") < change_text) if change_text else pl.DataFrame()
    baseline = float(before["kwh"].median()) if before.height else None  # type: ignore[arg-type]
    reasons = [{"code": code, "text": text,
                "suspicious": bool(code in REASONS and REASONS[code].suspicious)}
               for code, text in split_reasons(score["reasons"] if score else None)]
    events = gold.meter_events(meter_id)
    findings = gold.meter_findings(meter_id)
    visits = gold.meter_inspections(meter_id)
    return {
        "meter": clean(info), "score": clean(score) if score else None,
        "reasons": reasons, "baseline_kwh": baseline,
        "days": rows(days),
        "events": rows(events, ["event_at", "event_code", "category"]),
        "findings": rows(findings, ["first_interval_end", "last_interval_end", "rule",
                                    "action", "n_intervals", "evidence"]),
        "inspections": rows(visits, ["inspected_at", "outcome", "recovered_kwh", "note",
                                     "photo_ref", "source", "recorded_by", "recorded_at"]),
        "figure": charts.meter_days(days, change_day=change_text, baseline_kwh=baseline),
    }


def record_visit(gold: Gold, access: Access, meter_id: str, *, outcome: str,
                 inspected_on: date, recovered_kwh: float | None, note: str | None,
                 photo_ref: str | None, settings: Settings) -> dict[str, Any]:
    """Append what the crew found at a meter to gold ``inspections`` (who and when)."""
    user = access.require(Role.INSPECTOR, Role.ADMIN)
    info = gold.meter(meter_id)
    meter_branch_or_404(user, info["branch_id"] if info else None)
    try:
        outcome = InspectionOutcome(outcome)
    except ValueError:
        raise HTTPException(status_code=422, detail="Kết quả kiểm tra không hợp lệ.") from None
    today = datetime.now(settings.tz).date()
    if inspected_on > today:
        raise HTTPException(status_code=422, detail="Ngày kiểm tra không thể ở tương lai.")
    if recovered_kwh is not None and not (math.isfinite(recovered_kwh) and recovered_kwh >= 0):
        raise HTTPException(status_code=422, detail="Sản lượng truy thu phải là số ≥ 0.")
    # The day the crew gives, at the time of recording: two records never share an instant,
    # so the table only grows (append-only) and the latest outcome is the one scored.
    now = datetime.now(settings.tz)
    try:
        at = datetime.combine(inspected_on, now.timetz()).astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC falls before datetime.min
        raise HTTPException(status_code=422, detail="Ngày kiểm tra không hợp lệ.") from None
    frame = pl.DataFrame({"meter_id": [meter_id], "inspected_at": [at],
                          "outcome": [str(outcome)], "recovered_kwh": [recovered_kwh],
                          "note": [note or None], "photo_ref": [photo_ref or None]},
                         schema_overrides={"inspected_at": pl.Datetime("us", "UTC"),
                                           "recovered_kwh": pl.Float64})
    done = record_inspections(frame, warehouse=gold.warehouse, source=WEB_SOURCE,
                              recorded_by=user.username)
    return {"meter_id": meter_id, "inspected_at": at.isoformat(), "outcome": str(outcome),
            "outcome_vi": OUTCOME_VI[outcome], "recorded_by": user.username,
            "added": done.added, "total": done.total}
