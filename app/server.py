"""A read-only review page over the gold layer (first version, standard library only).

``GET /`` shows the ranked anomaly list and the latest month's losses per branch in
Vietnamese; ``GET /api/anomalies`` returns the list as JSON. Binds to 127.0.0.1 unless
told otherwise.
"""

from __future__ import annotations

import html
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl

from ami.settings import Settings
from warehouse import Warehouse

PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Rà soát tổn thất — AMI Lạng Sơn</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}th{{background:#eef}}</style></head><body>
<h1>Danh sách công tơ nghi vấn</h1>{anomalies}
<h2>Tổn thất theo Điện lực — tháng {month}</h2>{losses}</body></html>"""


def _table(frame: pl.DataFrame, headers: dict[str, str]) -> str:
    """An HTML table of the given columns with Vietnamese headers (escaped)."""
    if frame.is_empty():
        return "<p>Chưa có dữ liệu.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers.values())
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row[c]))}</td>" for c in headers) + "</tr>"
        for row in frame.select(list(headers)).iter_rows(named=True)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _fmt(value: Any) -> str:
    """A cell value for people."""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def anomalies(settings: Settings, limit: int = 100) -> pl.DataFrame:
    """The ranked anomaly list from gold (empty when not scored yet)."""
    warehouse = Warehouse.at(settings.warehouse)
    try:
        return warehouse.scan("anomaly_scores").sort("rank").head(limit).collect()
    except FileNotFoundError:
        return pl.DataFrame()


def branch_losses(settings: Settings) -> tuple[str, pl.DataFrame]:
    """The latest month's branch balances from gold."""
    warehouse = Warehouse.at(settings.warehouse)
    months = warehouse.partitions("balance_month", "month")
    if not months:
        return "—", pl.DataFrame()
    frame = warehouse.scan("balance_month", month=months[-1]).collect()
    return months[-1], frame.filter(pl.col("level") == "branch").sort("node_id")


def render_page(settings: Settings) -> str:
    """The review page's HTML."""
    month, losses = branch_losses(settings)
    return PAGE.format(
        anomalies=_table(anomalies(settings), {
            "rank": "Hạng", "meter_id": "Công tơ", "score": "Điểm",
            "est_unbilled_kwh_month": "kWh/tháng chưa ghi",
            "est_unbilled_vnd_month": "Đồng/tháng", "reasons": "Lý do"}),
        month=html.escape(month),
        losses=_table(losses, {
            "node_id": "Điện lực", "energy_in_kwh": "Điện nhận kWh", "loss_kwh": "Tổn thất kWh",
            "loss_pct": "Tỷ lệ %", "measured_share": "Tỷ lệ đo đếm"}),
    )


def make_server(settings: Settings, host: str = "127.0.0.1", port: int = 8000
                ) -> ThreadingHTTPServer:
    """An HTTP server for the review page (call ``serve_forever`` to run it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                body, kind = render_page(settings).encode(), "text/html; charset=utf-8"
            elif self.path == "/api/anomalies":
                rows = anomalies(settings).to_dicts()
                body = json.dumps(rows, ensure_ascii=False, default=str).encode()
                kind = "application/json; charset=utf-8"
            else:
                self.send_error(404, "Not Found", "Không tìm thấy trang")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep the terminal quiet; access logs come with the full app

    return ThreadingHTTPServer((host, port), Handler)
