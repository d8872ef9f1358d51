"""A month's figures from gold: ``ami losses`` (loss per node) and ``ami savings`` (per group)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ami.commands.common import console, num
from ami.settings import get_settings

#: Balance flags in Vietnamese for the terminal table.
FLAG_TEXT = {
    "no_total_meter": "TBA không có công tơ tổng",
    "negative_loss": "tổn thất âm: kiểm tra công tơ tổng hoặc sơ đồ đấu nối",
    "negative_non_technical": "tổn thất kỹ thuật ước tính lớn hơn tổn thất đo được",
    "partial_period": "chưa đủ tháng",
}


def losses(
    *,
    month: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    level: Annotated[str, typer.Option(help="transformer|feeder|branch|province")] = "transformer",
    out: Annotated[Path | None, typer.Option(help="Output .csv, .parquet or .xlsx.")] = None,
    top: Annotated[int, typer.Option(help="Rows shown in the terminal.")] = 15,
) -> None:
    """Energy balance and loss per node for a month, with the gap to 6 % and 3 %."""
    from models.losses import read_losses
    from reports.files import write_frame

    settings = get_settings()
    frame = read_losses(month, level, settings=settings)
    if out is not None:
        write_frame(frame, out)
    table = Table(title=f"Tổn thất điện năng {month} — cấp {level} (xếp theo điện năng "
                        "thương mại có thể thu hồi)")
    for column in ("hạng", "node", "nhận kWh", "TT kWh", "TT %", "lũy kế %", "cùng kỳ %",
                   "KT kWh", "TM kWh", "→6 % kWh", "→3 % kWh", "đo %", "ghi chú"):
        table.add_column(column, justify="left" if column in ("node", "ghi chú") else "right",
                         no_wrap=column != "ghi chú")
    for row in frame.head(top).iter_rows(named=True):
        notes = [FLAG_TEXT.get(f, f) for f in (row["flags"] or "").split(",") if f]
        if not row["reliable"]:
            notes.insert(0, "không tin cậy")
        if row.get("loss_jump_date"):
            notes.append(f"tăng {row['loss_jump_pp']:.1f} điểm % từ {row['loss_jump_date']}")
        table.add_row(
            num(row["rank"]) if row["rank"] is not None else "—", row["node_id"],
            f"{row['energy_in_kwh']:,.0f}", num(row["loss_kwh"]), num(row["loss_pct"], 2),
            num(row["loss_pct_ytd"], 2), num(row["loss_pct_last_year"], 2),
            num(row["technical_loss_kwh"]), num(row["non_technical_kwh"]),
            num(row["gap_to_target_kwh"]), num(row["gap_to_stretch_kwh"]),
            f"{100 * row['measured_share']:.1f}", "; ".join(notes))
    console.print(table)
    console.print("TT: tổn thất; KT: tổn thất kỹ thuật; TM: tổn thất thương mại (có thể thu "
                  "hồi qua kiểm tra); →6 %, →3 %: điện năng phải giảm để đạt 6 % và 3 %; "
                  "đo %: tỷ lệ điện năng đo đếm được")
    if out is not None:
        console.print(f"{frame.height} rows written to {out}")


def savings(
    *,
    month: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    out: Annotated[Path, typer.Option(help="Per customer group: .csv or .parquet.")],
    lighting_out: Annotated[Path | None, typer.Option(help="Per lighting meter.")] = None,
    plan_out: Annotated[Path | None, typer.Option(
        help="The whole plan table: every target with its figure and verdict.")] = None,
) -> None:
    """Every target of the province's saving plan for a month, with its verdict.

    Builds the month's savings in gold when stale, prints the plan table and writes the
    files of the command-line contract.
    """
    from ami.summary import plan_view
    from models.savings.consumption import groups_of
    from models.savings.jobs import savings_month
    from reports.files import write_frame

    settings = get_settings()
    tables = savings_month(month, settings=settings)
    console.print(plan_view(tables["savings_plan"], month=month))
    groups = groups_of(tables["savings_groups"])
    write_frame(groups, out)
    console.print(f"{groups.height} customer groups → {out}")
    if lighting_out is not None:
        lights = tables["savings_lighting"]
        write_frame(lights, lighting_out)
        console.print(f"{lights.height} lighting meters → {lighting_out}")
    if plan_out is not None:
        write_frame(tables["savings_plan"], plan_out)
        console.print(f"{tables['savings_plan'].height} plan rows → {plan_out}")
