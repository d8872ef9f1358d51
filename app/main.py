"""The review app for loss-reduction teams: FastAPI, server-rendered pages, a JSON API.

``create_app(settings)`` builds the application: the pages (``pages.py``, Jinja2 in
Vietnamese), the JSON API under ``/api`` (``api.py``, described by the OpenAPI document
at ``/api/openapi.json`` and the page ``/api``), the static files (our CSS and script,
and the installed ``plotly`` package's ``plotly.min.js`` — nothing from a CDN), the user
store (``users.py``) and the cached warehouse reads (``gold.py``). Every response carries
security headers and a ``Server-Timing`` header with the time the app spent on it (the
benchmark reads it). ``serve`` runs it under uvicorn, on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import plotly
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ami.errors import AmiError, NoDataError
from ami.settings import Settings, get_settings
from app import api, pages
from app.gold import Gold
from app.security import SESSION_COOKIE, Access, LoginRequiredError
from app.templating import templates as make_templates
from app.users import UserStore

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
#: How uvicorn runs the app: a proxy on 127.0.0.1 may name the client (X-Forwarded-For),
#: which the login rate limit counts.
UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The review app over the warehouse of ``settings``."""
    settings = settings or get_settings()
    app = FastAPI(
        title="AMI Lạng Sơn — rà soát tổn thất (review app API)",
        version=version("ami-loss"),
        description="JSON API of the loss-reduction teams' review app. Log in at /login "
        "(the session cookie authenticates the API); state-changing calls send the "
        "session's CSRF token in the X-CSRF-Token header (GET /api/me returns it).",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.users = UserStore(settings.app_db_url)
    app.state.gold = Gold(settings)
    app.state.templates = make_templates(settings)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/static-vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.middleware("http")
    async def headers(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        elapsed = (time.perf_counter() - start) * 1000
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
        return response

    _handlers(app, make_templates(settings))
    return app


def _wants_json(request: Request) -> bool:
    # "/api" itself is a page (the API's route list), not JSON.
    return request.url.path.startswith("/api/")


def _handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    """Errors as JSON under /api and as Vietnamese pages elsewhere."""

    def page(request: Request, status: int, title: str, message: str,
             headers: Mapping[str, str] | None = None) -> Response:
        session = request.app.state.users.session(request.cookies.get(SESSION_COOKIE))
        return templates.TemplateResponse(
            request, "error.html", {"title": title, "message": message,
                                    "access": Access(session) if session else None},
            status_code=status, headers=headers)

    @app.exception_handler(LoginRequiredError)
    def login_required(request: Request, _: LoginRequiredError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "Chưa đăng nhập (login required)."},
                                status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        title = {403: "Không có quyền", 404: "Không tìm thấy", 429: "Quá nhiều lần thử"}.get(
            exc.status_code, "Có lỗi")
        return page(request, exc.status_code, title, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
            for e in exc.errors())
        if _wants_json(request):
            return JSONResponse({"detail": f"Tham số không hợp lệ (invalid input): "
                                 f"{problems}"}, status_code=422)
        return page(request, 422, "Tham số không hợp lệ", problems)

    @app.exception_handler(NoDataError)
    def no_data(request: Request, exc: NoDataError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return page(request, 404, "Chưa có dữ liệu",
                    f"Kho dữ liệu chưa có số liệu này ({exc}).")

    @app.exception_handler(AmiError)
    def ami_error(request: Request, exc: AmiError) -> Response:
        status = 503 if exc.transient else 400
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return page(request, status, "Không thực hiện được", str(exc))


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run the app under uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                **UVICORN_OPTIONS)
