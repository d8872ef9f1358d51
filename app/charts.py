"""Plotly figures (plain JSON) for the app's pages; ``static/app.js`` draws them offline.

The figures are built here as dictionaries of traces and layout, never with
``plotly.graph_objects`` (its validation costs more than the page), and drawn by the
``plotly.min.js`` of the installed ``plotly`` package, which the app serves itself.
Numbers use Vietnamese separators (``separators: ",."``) and dates dd/mm/yyyy.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from reports.formats import vi_month

TARGET_COLOUR, STRETCH_COLOUR = "#c0392b", "#e67e22"
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#ff7f0e", "#d62728", "#393b79", "#637939")


def _layout(title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 15}}, "separators": ",.",
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 340,
            "legend": {"orientation": "h", "y": -0.2},
            "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"}, **extra}


def _hline(y: float, colour: str, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y, "y1": y,
             "line": {"color": colour, "dash": "dash", "width": 1.5}}
    note = {"xref": "paper", "x": 1, "y": y, "xanchor": "right", "yanchor": "bottom",
            "text": label, "showarrow": False, "font": {"color": colour, "size": 11}}
    return shape, note


def _vline(x: str, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": x, "x1": x,
             "line": {"color": "#555", "dash": "dot", "width": 1.5}}
    note = {"yref": "paper", "y": 1, "x": x, "xanchor": "left", "text": label,
            "showarrow": False, "font": {"size": 11}}
    return shape, note


def loss_trend(trend: pl.DataFrame, *, names: dict[str, str], target: float,
               stretch: float) -> dict[str, Any]:
    """Monthly loss rate of each node against the goal and the stretch goal.

    ``trend`` lists the province first (its line drawn thicker), then the branches.
    """
    data = []
    for i, (node, rows) in enumerate(trend.group_by("node_id", maintain_order=True)):
        months = rows["month"].to_list()
        data.append({"type": "scatter", "mode": "lines+markers", "name": names.get(
            str(node[0]), str(node[0])), "x": [vi_month(m) for m in months],
            "y": rows["loss_pct"].round(2).to_list(),
            "line": {"color": PALETTE[i % len(PALETTE)],
                     "width": 3 if i == 0 else 1.5},
            "hovertemplate": "%{x}: %{y:.2f} %<extra>%{fullData.name}</extra>"})
    shapes, notes = zip(_hline(target, TARGET_COLOUR, f"Kế hoạch {target:g} %".replace(".", ",")),
                        _hline(stretch, STRETCH_COLOUR,
                               f"Phấn đấu {stretch:g} %".replace(".", ",")), strict=True)
    return {"data": data, "layout": _layout(
        "Tỷ lệ tổn thất theo tháng (13 tháng gần nhất)", "Tổn thất (%)",
        shapes=list(shapes), annotations=list(notes), xaxis={"type": "category"})}


def transformer_days(days: pl.DataFrame, *, jump_date: str | None, target: float
                     ) -> dict[str, Any]:
    """A transformer's daily loss split technical / non-technical, and its rate."""
    x = days["date"].to_list()
    data = [
        {"type": "bar", "name": "Tổn thất kỹ thuật (kWh)", "x": x,
         "y": days["technical_loss_kwh"].round(1).to_list(), "marker": {"color": "#7f9cc7"}},
        {"type": "bar", "name": "Tổn thất phi kỹ thuật (kWh)", "x": x,
         "y": days["non_technical_kwh"].round(1).to_list(), "marker": {"color": "#d98880"}},
        {"type": "scatter", "mode": "lines", "name": "Tỷ lệ tổn thất (%)", "x": x,
         "y": days["loss_pct"].round(2).to_list(), "yaxis": "y2",
         "line": {"color": "#222"}},
    ]
    shapes, notes = [], []
    shape, note = _hline(target, TARGET_COLOUR, "")
    shapes.append({**shape, "yref": "y2"})
    if jump_date:
        shape, note = _vline(jump_date, "Tổn thất tăng từ ngày này")
        shapes.append(shape)
        notes.append(note)
    return {"data": data, "layout": _layout(
        "Cân bằng điện năng theo ngày", "kWh", barmode="relative", shapes=shapes,
        margin={"l": 60, "r": 60, "t": 40, "b": 50},
        annotations=notes, xaxis={"type": "date", "tickformat": "%d/%m/%Y"},
        yaxis2={"title": {"text": "%"}, "overlaying": "y", "side": "right",
                "rangemode": "tozero", "showgrid": False})}


def meter_days(days: pl.DataFrame, *, change_day: str | None,
               baseline_kwh: float | None) -> dict[str, Any]:
    """A meter's daily energy against its peers' median and its own history."""
    x = days["date"].to_list()
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": "Công tơ (kWh/ngày)", "x": x,
         "y": days["kwh"].round(2).to_list(), "line": {"color": "#1f77b4", "width": 2.5},
         "marker": {"size": 4}},
        {"type": "scatter", "mode": "lines", "name": "Trung vị các hộ cùng nhóm", "x": x,
         "y": days["peer_kwh"].round(2).to_list(),
         "line": {"color": "#7f7f7f", "dash": "dash"}},
    ]
    shapes, notes = [], []
    if baseline_kwh is not None:
        shape, note = _hline(baseline_kwh, "#2ca02c",
                             "Mức lịch sử trước thay đổi")
        shapes.append({**shape, "xref": "paper"})
        notes.append(note)
    if change_day:
        shape, note = _vline(change_day, "Điểm thay đổi")
        shapes.append(shape)
        notes.append(note)
    return {"data": data, "layout": _layout(
        "Sản lượng ngày so với lịch sử và các hộ cùng nhóm", "kWh/ngày", shapes=shapes,
        annotations=notes, xaxis={"type": "date", "tickformat": "%d/%m/%Y"})}
