"""The short summary ``ami demo`` prints: losses per branch, top suspicious meters, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from ami.reference import CUSTOMER_GROUP_NAMES
from ami.settings import Settings
from models.anomaly.reasons import split_reasons
from models.losses import read_losses
from models.savings.plan import METHOD_NAMES, VERDICT_NAMES
from warehouse import Warehouse


def print_summary(console: Console, *, month: str, settings: Settings, generation: Any,
                  seconds: float) -> None:
    """Print the demo's outcome for people (Vietnamese labels, figures from gold)."""
    branches = read_losses(month, "branch", settings=settings)
    province = read_losses(month, "province", settings=settings)
    goal, stretch = settings.loss_target_pct, settings.loss_stretch_pct
    table = Table(title=f"Tổn thất điện năng tháng {month} theo Điện lực "
                        f"(mục tiêu < {goal:g} %, phấn đấu {stretch:g} %)")
    for column in ("Điện lực", "Điện nhận kWh", "Tổn thất kWh", "Tỷ lệ %", f"≤ {goal:g} %",
                   f"≤ {stretch:g} %", "Đo đếm %"):
        table.add_column(column, justify="right")
    for row in pl.concat([branches.sort("node_id"), province]).iter_rows(named=True):
        pct = row["loss_pct"]
        table.add_row(
            "Toàn tỉnh" if row["level"] == "province" else row["node_id"],
            f"{row['energy_in_kwh']:,.0f}", f"{row['loss_kwh']:,.0f}",
            "—" if pct is None else f"{pct:.2f}",
            _mark(pct, settings.loss_target_pct), _mark(pct, settings.loss_stretch_pct),
            f"{100 * row['measured_share']:.1f}",
        )
    console.print(table)

    warehouse = Warehouse.at(settings.warehouse)
    scores = warehouse.scan("anomaly_scores").collect().sort("rank").head(settings.anomaly_top_n)
    truth = _truth_labels(settings.truth_dir)
    top = Table(title=f"{settings.anomaly_top_n} công tơ nghi vấn nhất (most suspicious meters)")
    for column in ("#", "Công tơ", "Nhóm", "Điểm", "kWh/tháng chưa ghi", "đồng/tháng",
                   "Mã lý do", "Dữ liệu mẫu (truth)"):
        top.add_column(column, no_wrap=column != "Mã lý do")
    for row in scores.iter_rows(named=True):
        top.add_row(str(row["rank"]), row["meter_id"],
                    CUSTOMER_GROUP_NAMES.get(row.get("customer_group") or "", ""),
                    f"{row['score']:.2f}", f"{row['est_unbilled_kwh_month']:,.0f}",
                    f"{row['est_unbilled_vnd_month'] or 0:,.0f}".replace(",", "."),
                    ", ".join(row["reason_codes"]), truth.get(row["meter_id"], "sạch (clean)"))
    console.print(top)
    console.print("Lý do chính (main reason):")
    for row in scores.iter_rows(named=True):
        code, text = split_reasons(row["reasons"])[0]
        console.print(f"  {row['rank']:>2}. {row['meter_id']}: {code}: {text}", highlight=False)
    if month in warehouse.partitions("savings_plan", "month"):
        console.print(plan_view(warehouse.scan("savings_plan", month=month).collect(),
                                month=month))
    report = settings.reports_dir / f"bao-cao-thang-{month}.xlsx"
    console.print(f"Báo cáo tháng gửi Sở Công Thương: [bold]{report.resolve()}[/]")
    docs = settings.data_dir / "data_docs" / "index.html"
    if docs.exists():
        console.print(f"Kiểm định chất lượng dữ liệu (Data Docs): {docs.resolve()}")
    console.print(f"Dữ liệu: {generation.customers:,} công tơ khách hàng, "
                  f"{generation.transformers:,} TBA; thời gian chạy {seconds:,.0f} s")
    _print_app(console, branches=sorted(branches["node_id"].to_list()), settings=settings)


#: A plan row's scope for people.
SCOPE_NAMES = {**CUSTOMER_GROUP_NAMES, "all": "Toàn tỉnh", "province": "Toàn tỉnh",
               "advertising": "Quảng cáo ngoài trời", "large_consumers": "Khách hàng lớn"}


def plan_view(plan: pl.DataFrame, *, month: str) -> Table:
    """The plan table for the terminal: every target, its figure, threshold and verdict."""
    table = Table(title=f"Kế hoạch tiết kiệm điện năm {month[:4]} — tháng {month}")
    for column in ("Chỉ tiêu", "Phạm vi", "Cách tính", "Kết quả", "Ngưỡng", "Đánh giá",
                   "Ghi chú"):
        table.add_column(column, justify="right" if column in ("Kết quả", "Ngưỡng")
                         else "left", overflow="fold")
    for row in plan.iter_rows(named=True):
        unit = row["unit"]
        figure = "—" if row["figure"] is None else f"{row['figure']:,.1f} {unit}"
        threshold = ("" if row["threshold"] is None
                     else f"{row['comparison']} {row['threshold']:,.0f} {unit}")
        table.add_row(row["target"], SCOPE_NAMES.get(row["scope"], row["scope"]),
                      METHOD_NAMES.get(row["method"], row["method"]), figure, threshold,
                      VERDICT_NAMES.get(row["verdict"], row["verdict"]), row["note"])
    return table


def _print_app(console: Console, *, branches: list[str], settings: Settings) -> None:
    """The review app's address and a demo user per role (fresh passwords each demo)."""
    from app.users import UserStore, create_demo_users

    made = create_demo_users(UserStore(settings.app_db_url), branch=branches[0],
                             folder=settings.data_dir / "app")
    url = f"http://{settings.app_host}:{settings.app_port}/"
    console.print(f"Trang rà soát tổn thất (review app): chạy [bold]make app[/] rồi mở {url}")
    for user, password in made:
        where = f", Điện lực {', '.join(user.branches)}" if user.branches else ""
        console.print(f"  {user.role.value:<9} {user.username:<8} mật khẩu {password}{where}",
                      markup=False, highlight=False)
    console.print(f"  (mật khẩu cũng lưu ở {(settings.data_dir / 'app' / 'demo-users.txt')})",
                  markup=False, highlight=False)


def _mark(pct: float | None, goal: float) -> str:
    """Met / not met for a loss percentage against a goal."""
    if pct is None:
        return "—"
    return "đạt" if pct <= goal else "không đạt"


def _truth_labels(truth_dir: Path) -> dict[str, str]:
    """Ground-truth label per meter of the synthetic province (for the demo only)."""
    path = truth_dir / "meters.parquet"
    if not path.exists():
        return {}
    frame = pl.read_parquet(path)
    label = "label" if "label" in frame.columns else frame.columns[-1]
    return dict(zip(frame["meter_id"].to_list(), frame[label].cast(pl.String).to_list(),
                    strict=True))
