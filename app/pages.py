"""The pages, server-rendered in Vietnamese.

Login, dashboard, transformers, the anomaly queue, a meter with the inspection form, the
Excel export, the users (admins) and the API's route list.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse

from app import views
from app.api import Auth, IdParam, MeterId, MonthParam, PageParam
from app.gold import Gold
from app.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Access,
    access,
    check_csrf,
    client_address,
    new_login_csrf,
    same_token,
)
from app.users import Role
from reports.formats import parse_vi_date, vi_date

router = APIRouter(include_in_schema=False)



def _render(request: Request, name: str, context: dict[str, Any], *,
            auth: Access | None, status_code: int = 200) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, name, {"access": auth, **context}, status_code=status_code)


def _gold(request: Request) -> Gold:
    return request.app.state.gold


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no //host) is followed after login."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/"


# --- login -------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: Annotated[str | None, Query(max_length=500)] = None
               ) -> Response:
    """The login form, with a fresh double-submit CSRF cookie."""
    token = new_login_csrf()
    response = _render(request, "login.html", {"next": _safe_next(next), "csrf": token,
                                                "error": None}, auth=None)
    settings = request.app.state.settings
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=settings.app_secure_cookies, max_age=3600)
    return response


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=200)],
          csrf_token: Annotated[str, Form(max_length=100)],
          next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    """Check the password (rate-limited per user name and address), open a session."""
    settings = request.app.state.settings
    store = request.app.state.users
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise HTTPException(status_code=403, detail="Phiên đăng nhập đã hết hạn; hãy tải lại "
                            "trang đăng nhập và thử lại.")
    keys = (f"user:{username.strip().lower()}", f"ip:{client_address(request)}")
    window = timedelta(minutes=settings.app_login_window_minutes)
    if store.too_many_failures(*keys, limit=settings.app_login_attempts, window=window):
        raise HTTPException(
            status_code=429, headers={"Retry-After": str(int(window.total_seconds()))},
            detail=f"Đăng nhập sai quá {settings.app_login_attempts} lần; hãy thử lại sau "
            f"{settings.app_login_window_minutes:g} phút.")
    user = store.authenticate(username, password)
    if user is None:
        store.record_failure(*keys)
        token = new_login_csrf()
        response = _render(request, "login.html", {
            "next": _safe_next(next), "csrf": token,
            "error": "Sai tên đăng nhập hoặc mật khẩu."}, auth=None, status_code=401)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=settings.app_secure_cookies, max_age=3600)
        return response
    store.clear_failures(keys[0])
    token, _ = store.open_session(user, hours=settings.app_session_hours)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=settings.app_secure_cookies,
                        max_age=int(settings.app_session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, auth: Auth,
           csrf_token: Annotated[str, Form(max_length=100)]) -> Response:
    """End the session."""
    check_csrf(csrf_token, auth.session)
    request.app.state.users.close_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- aggregates (every role) ---------------------------------------------------------------
@router.get("/")
def dashboard(request: Request, auth: Auth, month: MonthParam = None) -> Response:
    """Province and branch losses against the goals, with the 13-month trend."""
    view = views.dashboard(_gold(request), month, request.app.state.settings)
    return _render(request, "dashboard.html", view, auth=auth)


@router.get("/transformers")
def transformers(request: Request, auth: Auth, month: MonthParam = None,
                 branch: IdParam = None, feeder: IdParam = None,
                 page: PageParam = 1) -> Response:
    """Transformers ranked by recoverable kWh."""
    view = views.transformers(_gold(request), month=month, branch=branch, feeder=feeder,
                              page=page)
    query = {k: v for k, v in (("month", month), ("branch", branch), ("feeder", feeder)) if v}
    return _render(request, "transformers.html", {**view, "query": urlencode(query)},
                   auth=auth)


@router.get("/transformers/{transformer_id}")
def transformer(request: Request, auth: Auth, transformer_id: MeterId,
                month: MonthParam = None) -> Response:
    """One transformer."""
    view = views.transformer(_gold(request), auth, transformer_id, month=month,
                             settings=request.app.state.settings)
    return _render(request, "transformer.html", view, auth=auth)


# --- meters (inspectors of the branch, admins) ---------------------------------------------
Band = Annotated[Literal["high", "medium", "low", ""] | None, Query()]
Sort = Annotated[Literal["score", "vnd"], Query()]


def _filter(auth: Access, branch: str | None, transformer: str | None, group: str | None,
            reason: str | None, band: str | None, sort: str) -> views.QueueFilter:
    return views.queue_filter(auth, branch=branch, transformer=transformer, group=group,
                              reason=reason, band=band, sort=sort)


@router.get("/anomalies")
def anomalies(request: Request, auth: Auth, branch: IdParam = None,
              transformer: IdParam = None, group: IdParam = None, reason: IdParam = None,
              band: Band = None, sort: Sort = "score", page: PageParam = 1) -> Response:
    """The anomaly queue."""
    where = _filter(auth, branch, transformer, group, reason, band, sort)
    view = views.queue(_gold(request), auth, where, page)
    query = {k: v for k, v in (("branch", branch), ("transformer", transformer),
                               ("group", group), ("reason", reason), ("band", band),
                               ("sort", sort)) if v}
    return _render(request, "anomalies.html",
                   {**view, "query": urlencode(query),
                    "export_max": views.EXPORT_MAX_ROWS}, auth=auth)


@router.get("/anomalies.xlsx")
def export(request: Request, auth: Auth, branch: IdParam = None,
           transformer: IdParam = None, group: IdParam = None, reason: IdParam = None,
           band: Band = None, sort: Sort = "score") -> Response:
    """The filtered queue as an Excel workbook for crews without a connection."""
    where = _filter(auth, branch, transformer, group, reason, band, sort)
    body = views.export_xlsx(_gold(request), where)
    name = f"danh-sach-kiem-tra-{date.today().isoformat()}.xlsx"
    return Response(body, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/meters/{meter_id}")
def meter(request: Request, auth: Auth, meter_id: MeterId,
          saved: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    """One meter's evidence and the inspection form."""
    view = views.meter(_gold(request), auth, meter_id)
    today = datetime.now(request.app.state.settings.tz).date()
    return _render(request, "meter.html", {**view, "saved": bool(saved),
                                           "today": vi_date(today)}, auth=auth)


@router.post("/meters/{meter_id}/inspections")
def record(request: Request, auth: Annotated[Access, Depends(access)], meter_id: MeterId,
           outcome: Annotated[str, Form(max_length=20)],
           inspected_on: Annotated[str, Form(max_length=20)],
           csrf_token: Annotated[str, Form(max_length=100)],
           recovered_kwh: Annotated[str, Form(max_length=30)] = "",
           note: Annotated[str, Form(max_length=2000)] = "",
           photo_ref: Annotated[str, Form(max_length=300)] = "") -> Response:
    """Save the inspection form, then show the meter again."""
    check_csrf(csrf_token, auth.session)
    try:
        day = parse_vi_date(inspected_on)
    except ValueError:
        raise HTTPException(status_code=422, detail="Ngày kiểm tra phải có dạng ngày/tháng/"
                            "năm, ví dụ 07/12/2026.") from None
    try:
        kwh = float(recovered_kwh.replace(",", ".")) if recovered_kwh.strip() else None
    except ValueError:
        raise HTTPException(status_code=422, detail="Sản lượng truy thu phải là một số "
                            "(ví dụ 120,5).") from None
    views.record_visit(_gold(request), auth, meter_id, outcome=outcome,
                       inspected_on=day, recovered_kwh=kwh,
                       note=note.strip() or None, photo_ref=photo_ref.strip() or None,
                       settings=request.app.state.settings)
    return RedirectResponse(f"/meters/{meter_id}?saved=1", status_code=303)


# --- users (admins) ----------------------------------------------------------------------
@router.get("/users")
def users(request: Request, auth: Auth) -> Response:
    """The users and the form to add one."""
    auth.require(Role.ADMIN)
    return _render(request, "users.html", {
        "users": request.app.state.users.users(), "roles": list(Role),
        "branches": _gold(request).branches(), "error": None}, auth=auth)


@router.post("/users")
def add_user(request: Request, auth: Auth,
             username: Annotated[str, Form(max_length=64)],
             password: Annotated[str, Form(max_length=200)],
             role: Annotated[str, Form(max_length=20)],
             csrf_token: Annotated[str, Form(max_length=100)],
             full_name: Annotated[str, Form(max_length=200)] = "",
             branches: Annotated[list[str] | None, Form()] = None) -> Response:
    """Add a user (admins)."""
    auth.require(Role.ADMIN)
    check_csrf(csrf_token, auth.session)
    request.app.state.users.create_user(username, password, role=role,
                                        branches=tuple(branches or ()), full_name=full_name)
    return RedirectResponse("/users", status_code=303)


@router.get("/api")
def api_doc(request: Request, auth: Auth) -> Response:
    """The JSON API's routes, from its OpenAPI document."""
    schema = request.app.openapi()
    routes = [{"method": method.upper(), "path": path, "summary": op.get("summary", ""),
               "doc": op.get("description", ""),
               "params": [p["name"] for p in op.get("parameters", [])]}
              for path, ops in schema["paths"].items() for method, op in ops.items()]
    return _render(request, "api.html", {"routes": routes, "info": schema["info"]},
                   auth=auth)
