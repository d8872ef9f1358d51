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


review_app = typer.Typer(
    invoke_without_command=True,
    help="The review web app (loss teams): `ami app` serves it, `ami app create-user` adds "
    "a login.")


@review_app.callback()
def review_app_serve(
    ctx: typer.Context,
    *,
    port: Annotated[int | None, typer.Option(help="Port to listen on (AMI_APP_PORT, 8000).")
                    ] = None,
    host: Annotated[str | None, typer.Option(
        help="Address to bind (AMI_APP_HOST; loopback by default).")] = None,
) -> None:
    """Start the review web app (login required; 127.0.0.1 by default)."""
    if ctx.invoked_subcommand is not None:
        return
    from app.main import serve

    settings = get_settings()
    host, port = host or settings.app_host, port or settings.app_port
    console.print(f"Trang rà soát tổn thất: http://{host}:{port}/  (Ctrl+C để dừng)")
    serve(settings, host=host, port=port)


@review_app.command("create-user")
def create_user(
    *,
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="viewer (aggregates only), inspector (meters of "
                                           "their branches, records outcomes) or admin.")],
    branch: Annotated[list[str] | None, typer.Option(
        help="Branch id (Điện lực) an inspector works for; repeat for several.")] = None,
    full_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    password: Annotated[str | None, typer.Option(
        envvar="AMI_APP_NEW_PASSWORD", help="Password (≥ 10 characters); asked for when "
        "not given (or set AMI_APP_NEW_PASSWORD).")] = None,
    replace: Annotated[bool, typer.Option(help="Reset an existing user.")] = False,
) -> None:
    """Add a user of the review app (stored in AMI_APP_DB, argon2-hashed)."""
    from app.users import UserStore

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    user = UserStore(settings.app_db_url).create_user(
        username, password, role=role, branches=tuple(branch or ()), full_name=full_name,
        replace=replace)
    where = f" ({', '.join(user.branches)})" if user.branches else ""
    console.print(f"user {user.username}: {user.role}{where}", markup=False, highlight=False)
