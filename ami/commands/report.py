"""What people read: ``ami report`` (to Sở Công Thương) and ``ami app`` (the review web app)."""

from __future__ import annotations

from typing import Annotated

import typer

from ami.commands.common import console
from ami.settings import get_settings

report_app = typer.Typer(no_args_is_help=True, help="Reports to Sở Công Thương.")


@report_app.command("monthly")
def report_monthly(
    *,
    month: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    deliver: Annotated[bool, typer.Option(help="Deliver through the configured channel.")] = False,
) -> None:
    """Build the monthly report to Sở Công Thương (xlsx, JSON, CSV)."""
    from reports.monthly.from_warehouse import build_from_warehouse

    paths = build_from_warehouse(month, settings=get_settings(), deliver=deliver)
    console.print(f"Báo cáo tháng {month}: {paths.workbook}")


def review_app(
    *,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
) -> None:
    """Start the review web app (read-only first version)."""
    from app.server import make_server

    server = make_server(get_settings(), host=host, port=port)
    console.print(f"Trang rà soát: http://{host}:{port}/  (Ctrl+C để dừng)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
