"""Who may reach what: every route of the app × every role × own and other branch.

The matrix lists one or more calls per route of ``create_app(...).routes`` (a route added
without a line here fails ``test_matrix_covers_every_route``) with the status every role
gets: ``anonymous`` (no session), ``viewer``, ``inspector`` (the branch of
``site.own_meter``), ``inspector_other`` (the branch of ``site.other_meter``) and
``admin``. Meter routes are called for a meter of each branch and for one that does not
exist. The reads run on the shared site; the writes (inspections, users, logout) on a
second app over a copy of the warehouse with its own user database, so nothing is
recorded on the shared site's meters.

Then what the statuses do not show: a viewer's answers carry no meter or customer id,
an inspector's queue and transformer pages hold their own branch's meters only, another
branch's meter looks exactly like a missing one; and the login: CSRF cookie, rate limit
(on apps of their own: the limit counts per client address, and every test logs in
from 127.0.0.1), session cookie flags, no open redirect, and the security headers.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import polars as pl
import pytest
from fastapi.routing import APIRoute

from ami.settings import Settings
from app.main import create_app
from app.users import UserStore
from tests.app.conftest import PASSWORD, Site, csrf_of, login, running
from warehouse import Warehouse

ROLES = ("anonymous", "viewer", "inspector", "inspector_other", "admin")
METER_ID = re.compile(r"PC\d{9}")
CUSTOMER_ID = re.compile(r"KH\d{9}")
#: Ids of the right form that name nothing.
MISSING_METER = "PC999999999"
MISSING_TRANSFORMER = "TBA-KHONG-CO"
#: Routes that serve files, not the app's views.
NOT_IN_MATRIX = {("GET", "/static-vendor/plotly.min.js")}
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()


def expect(anonymous: int, viewer: int, inspector: int, inspector_other: int,
           admin: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, viewer, inspector, inspector_other, admin),
                    strict=True))


def everyone(status: int, *, anonymous: int) -> dict[str, int]:
    return expect(anonymous, status, status, status, status)


@dataclass(frozen=True)
class Call:
    """One request of the matrix and the status each role gets.

    ``url`` may name ``{A}`` (the inspector's meter), ``{B}`` (the other inspector's),
    ``{X}`` (no meter), ``{TA}``/``{TB}`` (their transformers), ``{TX}`` (none).
    ``csrf``: ``none`` (not sent), ``wrong`` (a made-up token), ``own`` (the session's),
    ``foreign`` (another session's). ``done``: where a 303 of a logged-in user leads.
    """

    id: str
    method: str
    route: str
    url: str
    expect: dict[str, int]
    csrf: str = "none"
    form: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    done: str | None = None


AGGREGATE = everyone(200, anonymous=303)
AGGREGATE_API = everyone(200, anonymous=401)
METER_A = expect(303, 403, 200, 404, 200)
METER_B = expect(303, 403, 404, 200, 200)
METER_X = expect(303, 403, 404, 404, 404)
INSPECTORS = expect(303, 403, 200, 200, 200)
ADMINS = expect(303, 403, 403, 403, 200)


def api(expected: dict[str, int]) -> dict[str, int]:
    """The same for the API: 401 instead of the login redirect."""
    return {**expected, "anonymous": 401}


READS = [
    Call("login-form", "GET", "/login", "/login", everyone(200, anonymous=200)),
    Call("dashboard", "GET", "/", "/", AGGREGATE),
    Call("transformers", "GET", "/transformers", "/transformers", AGGREGATE),
    Call("transformer-A", "GET", "/transformers/{transformer_id}", "/transformers/{TA}",
         AGGREGATE),
    Call("transformer-B", "GET", "/transformers/{transformer_id}", "/transformers/{TB}",
         AGGREGATE),
    Call("transformer-X", "GET", "/transformers/{transformer_id}", "/transformers/{TX}",
         everyone(404, anonymous=303)),
    Call("queue", "GET", "/anomalies", "/anomalies", INSPECTORS),
    Call("export", "GET", "/anomalies.xlsx", "/anomalies.xlsx", INSPECTORS),
    Call("meter-A", "GET", "/meters/{meter_id}", "/meters/{A}", METER_A),
    Call("meter-B", "GET", "/meters/{meter_id}", "/meters/{B}", METER_B),
    Call("meter-X", "GET", "/meters/{meter_id}", "/meters/{X}", METER_X),
    Call("users", "GET", "/users", "/users", ADMINS),
    Call("api-doc", "GET", "/api", "/api", AGGREGATE),
    Call("api-me", "GET", "/api/me", "/api/me", AGGREGATE_API),
    Call("api-months", "GET", "/api/months", "/api/months", AGGREGATE_API),
    Call("api-dashboard", "GET", "/api/dashboard", "/api/dashboard", AGGREGATE_API),
    Call("api-transformers", "GET", "/api/transformers", "/api/transformers",
         AGGREGATE_API),
    Call("api-transformer-A", "GET", "/api/transformers/{transformer_id}",
         "/api/transformers/{TA}", AGGREGATE_API),
    Call("api-transformer-B", "GET", "/api/transformers/{transformer_id}",
         "/api/transformers/{TB}", AGGREGATE_API),
    Call("api-transformer-X", "GET", "/api/transformers/{transformer_id}",
         "/api/transformers/{TX}", everyone(404, anonymous=401)),
    Call("api-queue", "GET", "/api/anomalies", "/api/anomalies", api(INSPECTORS)),
    Call("api-meter-A", "GET", "/api/meters/{meter_id}", "/api/meters/{A}", api(METER_A)),
    Call("api-meter-B", "GET", "/api/meters/{meter_id}", "/api/meters/{B}", api(METER_B)),
    Call("api-meter-X", "GET", "/api/meters/{meter_id}", "/api/meters/{X}", api(METER_X)),
    Call("api-users", "GET", "/api/users", "/api/users", api(ADMINS)),
]

INSPECTION = {"outcome": "no_issue", "inspected_on": YESTERDAY,
              "note": "kiểm tra phân quyền"}
#: With the session's own token: as the meter routes; refused before any write otherwise.
RECORDED_A = expect(303, 403, 303, 404, 303)
RECORDED_B = expect(303, 403, 404, 303, 303)
REFUSED = everyone(403, anonymous=303)
WRITES = [
    Call("login-without-cookie-token", "POST", "/login", "/login",
         everyone(403, anonymous=403), csrf="wrong",
         form={"username": "xem", "password": PASSWORD, "next": "/"}),
    Call("logout-wrong-token", "POST", "/logout", "/logout", REFUSED, csrf="wrong"),
    Call("logout-foreign-token", "POST", "/logout", "/logout", REFUSED, csrf="foreign"),
    Call("add-user", "POST", "/users", "/users", expect(303, 403, 403, 403, 303),
         csrf="own", form={"password": "mật-khẩu-mới-dài", "role": "viewer"},
         done="/users"),
    Call("add-user-wrong-token", "POST", "/users", "/users", REFUSED, csrf="wrong",
         form={"password": "mật-khẩu-mới-dài", "role": "viewer"}),
    Call("record-A", "POST", "/meters/{meter_id}/inspections", "/meters/{A}/inspections",
         RECORDED_A, csrf="own", form=INSPECTION, done="/meters/{A}?saved=1"),
    Call("record-B", "POST", "/meters/{meter_id}/inspections", "/meters/{B}/inspections",
         RECORDED_B, csrf="own", form=INSPECTION, done="/meters/{B}?saved=1"),
    Call("record-X", "POST", "/meters/{meter_id}/inspections", "/meters/{X}/inspections",
         METER_X, csrf="own", form=INSPECTION),
    Call("record-A-wrong-token", "POST", "/meters/{meter_id}/inspections",
         "/meters/{A}/inspections", REFUSED, csrf="wrong", form=INSPECTION),
    Call("record-B-foreign-token", "POST", "/meters/{meter_id}/inspections",
         "/meters/{B}/inspections", REFUSED, csrf="foreign", form=INSPECTION),
    Call("api-record-A", "POST", "/api/meters/{meter_id}/inspections",
         "/api/meters/{A}/inspections", expect(401, 403, 201, 404, 201), csrf="own",
         json=INSPECTION),
    Call("api-record-B", "POST", "/api/meters/{meter_id}/inspections",
         "/api/meters/{B}/inspections", expect(401, 403, 404, 201, 201), csrf="own",
         json=INSPECTION),
    Call("api-record-X", "POST", "/api/meters/{meter_id}/inspections",
         "/api/meters/{X}/inspections", api(METER_X), csrf="own", json=INSPECTION),
    Call("api-record-A-no-token", "POST", "/api/meters/{meter_id}/inspections",
         "/api/meters/{A}/inspections", everyone(403, anonymous=401), json=INSPECTION),
    Call("api-record-B-wrong-token", "POST", "/api/meters/{meter_id}/inspections",
         "/api/meters/{B}/inspections", everyone(403, anonymous=401), csrf="wrong",
         json=INSPECTION),
    Call("api-record-A-foreign-token", "POST", "/api/meters/{meter_id}/inspections",
         "/api/meters/{A}/inspections", everyone(403, anonymous=401), csrf="foreign",
         json=INSPECTION),
]


# --- the apps and their clients ----------------------------------------------------------
@contextmanager
def serving(settings: Settings, users: dict[str, tuple[str, tuple[str, ...]]]
            ) -> Iterator[str]:
    """The app over ``settings`` on 127.0.0.1 with ``users`` (name → role, branches)."""
    app = create_app(settings)
    store: UserStore = app.state.users
    for name, (role, branches) in users.items():
        store.create_user(name, PASSWORD, role=role, branches=branches, replace=True)
    try:
        with running(app) as url:  # as ``ami app``: a proxy may name the client
            yield url
    finally:
        store.engine.dispose()


def site_users(site: Site) -> dict[str, tuple[str, tuple[str, ...]]]:
    branches = {"inspector": (site.branch,), "inspector_other": (site.other_branch,)}
    return {name: ("inspector" if role.startswith("inspector") else role,
                   branches.get(role, ())) for role, name in site.users.items()}


@pytest.fixture(scope="module")
def copy(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A second app over a copy of the warehouse, with the same users in its own database."""
    root = tmp_path_factory.mktemp("authz-site")
    shutil.copytree(site.settings.warehouse, root / "warehouse")
    settings = site.settings.model_copy(update={
        "warehouse": str(root / "warehouse"), "app_db": f"sqlite:///{root / 'app.db'}"})
    with serving(settings, site_users(site)) as url:
        yield replace(site, url=url, settings=settings)


@dataclass
class Clients:
    """A client per role (anonymous: none logged in) and a foreign session's CSRF token."""

    by_role: dict[str, httpx.Client]
    foreign_csrf: str


@contextmanager
def clients_of(site: Site) -> Iterator[Clients]:
    with ExitStack() as stack:
        by_role = {"anonymous": stack.enter_context(httpx.Client(base_url=site.url,
                                                                 timeout=60))}
        for role, name in site.users.items():
            by_role[role] = stack.enter_context(closing(login(site.url, name)))
        with closing(login(site.url, site.users["admin"])) as other:
            foreign = csrf_of(other)
        yield Clients(by_role, foreign)


@pytest.fixture(scope="module")
def shared(site: Site) -> Iterator[Clients]:
    with clients_of(site) as clients:
        yield clients


@pytest.fixture(scope="module")
def copied(copy: Site) -> Iterator[Clients]:
    with clients_of(copy) as clients:
        yield clients


@pytest.fixture(scope="module")
def places(site: Site) -> dict[str, str]:
    """The placeholders of the matrix's URLs."""
    meters = Warehouse.at(site.settings.warehouse).scan("meters").select(
        "meter_id", "transformer_id").unique("meter_id").collect()
    other = meters.filter(pl.col("meter_id") == site.other_meter)["transformer_id"][0]
    return {"A": site.own_meter, "B": site.other_meter, "X": MISSING_METER,
            "TA": site.transformer, "TB": other, "TX": MISSING_TRANSFORMER}


@pytest.fixture(scope="module")
def branch_of(site: Site, shared: Clients) -> dict[str, str]:
    """Every scored meter's branch (the admin's queue, all pages)."""
    return {row["meter_id"]: row["branch_id"]
            for row in queue_rows(shared.by_role["admin"])}


def queue_rows(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    """Every row of every page of the anomaly queue (``params``: its filter)."""
    first = client.get("/api/anomalies", params=params)
    assert first.status_code == 200, first.text[:300]
    body = first.json()
    rows = list(body["rows"])
    for page in range(2, body["pages"] + 1):
        more = client.get("/api/anomalies", params={**params, "page": page})
        assert more.status_code == 200
        rows += more.json()["rows"]
    assert len(rows) == body["total"]
    return rows


def send(call: Call, role: str, clients: Clients, places: dict[str, str]
         ) -> httpx.Response:
    client = clients.by_role[role]
    url = call.url.format(**places)
    own = csrf_of(client) if call.csrf == "own" and role != "anonymous" else "no-session"
    token = {"none": None, "wrong": "made-up-token", "own": own,
             "foreign": clients.foreign_csrf}[call.csrf]
    if call.json is not None:
        headers = {"X-CSRF-Token": token} if token else {}
        return client.request(call.method, url, json=call.json, headers=headers)
    if call.method == "GET":
        return client.get(url)
    form = dict(call.form)
    if call.route == "/users":  # a name of its own per cell: a refused one stays free
        form["username"] = f"moi-{role}-{call.id}"
    if token:
        form["csrf_token"] = token
    return client.post(url, data=form)


def check(call: Call, role: str, answer: httpx.Response, places: dict[str, str]) -> None:
    """The expected status, the login redirect or the place a 303 leads to."""
    assert answer.status_code == call.expect[role], (
        f"{role} {call.method} {call.url.format(**places)}: {answer.status_code}, "
        f"expected {call.expect[role]}\n{answer.text[:500]}")
    location = answer.headers.get("location", "")
    if answer.status_code == 303 and role == "anonymous":
        assert location.startswith("/login?next=%2F"), location
    elif answer.status_code == 303:
        assert call.done is not None and location == call.done.format(**places), location
    if answer.status_code == 401:
        assert answer.json() == {"detail": "Chưa đăng nhập (login required)."}
    if role in ("anonymous", "viewer"):  # no meter or customer id, whatever the answer
        assert not METER_ID.search(answer.text), METER_ID.search(answer.text)
        assert not CUSTOMER_ID.search(answer.text), CUSTOMER_ID.search(answer.text)


# --- the matrix --------------------------------------------------------------------------
def test_matrix_covers_every_route(site: Site) -> None:
    """Every route and method of the app has its line, each with every role's status."""
    app = create_app(site.settings)
    try:
        routes = {(method, route.path) for route in app.routes
                  if isinstance(route, APIRoute) for method in route.methods}
    finally:
        app.state.users.engine.dispose()
    assert routes >= NOT_IN_MATRIX
    assert {(c.method, c.route) for c in READS + WRITES} == routes - NOT_IN_MATRIX
    assert all(set(c.expect) == set(ROLES) for c in READS + WRITES)
    assert len({c.id for c in READS + WRITES}) == len(READS + WRITES)
    for method, path in routes:  # a meter route: own branch, other branch, no meter
        if "{meter_id}" in path:
            urls = {c.url for c in READS + WRITES if (c.method, c.route) == (method, path)}
            assert {path.replace("{meter_id}", f"{{{p}}}") for p in "ABX"} <= urls


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", READS, ids=[c.id for c in READS])
def test_read(call: Call, role: str, shared: Clients, places: dict[str, str]) -> None:
    check(call, role, send(call, role, shared, places), places)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", WRITES, ids=[c.id for c in WRITES])
def test_write(call: Call, role: str, copied: Clients, places: dict[str, str]) -> None:
    """On the copy: the inspections and users written stay there."""
    check(call, role, send(call, role, copied, places), places)


@pytest.mark.parametrize("role", ["viewer", "inspector", "inspector_other"])
@pytest.mark.parametrize("kind", ["api", "page"])
def test_a_meter_not_shown_looks_like_a_missing_one(
        role: str, kind: str, site: Site, shared: Clients) -> None:
    """The answer for a meter the user may not see is that of a meter that does not exist."""
    client = shared.by_role[role]
    hidden = site.other_meter if role != "inspector_other" else site.own_meter
    prefix = "/api/meters/" if kind == "api" else "/meters/"
    seen, missing = client.get(prefix + hidden), client.get(prefix + MISSING_METER)
    assert seen.status_code == missing.status_code
    assert seen.text.replace(hidden, "ID") == missing.text.replace(MISSING_METER, "ID")


def test_records_on_the_copy_do_not_reach_the_shared_site(
        site: Site, copy: Site, copied: Clients, shared: Clients) -> None:
    """The matrix's inspections are in the copy's warehouse only."""
    admin = copied.by_role["admin"]
    answer = admin.post(f"/api/meters/{site.own_meter}/inspections", json=INSPECTION,
                        headers={"X-CSRF-Token": csrf_of(admin)})
    assert answer.status_code == 201, answer.text
    assert answer.json()["recorded_by"] == site.users["admin"]
    assert Path(copy.settings.warehouse) != Path(site.settings.warehouse)
    notes = [v["note"] for v in shared.by_role["admin"].get(
        f"/api/meters/{site.own_meter}").json()["inspections"]]
    assert INSPECTION["note"] not in notes


# --- what each role sees -----------------------------------------------------------------
VIEWER_AGGREGATES = ["/", "/transformers", "/transformers?branch={B}", "/transformers?page=2",
                     "/transformers/{TA}", "/transformers/{TB}", "/api",
                     "/api/me", "/api/months", "/api/dashboard", "/api/transformers",
                     "/api/transformers?branch={B}", "/api/transformers/{TA}",
                     "/api/transformers/{TB}"]


def test_viewer_sees_aggregates_without_meter_or_customer_ids(
        site: Site, shared: Clients, places: dict[str, str]) -> None:
    viewer = shared.by_role["viewer"]
    values = {**places, "B": site.other_branch}
    for url in VIEWER_AGGREGATES:
        answer = viewer.get(url.format(**values))
        assert answer.status_code == 200, url
        assert not METER_ID.search(answer.text), (url, METER_ID.search(answer.text))
        assert not CUSTOMER_ID.search(answer.text), (url, CUSTOMER_ID.search(answer.text))
    for url in ("/api/transformers/{TA}", "/api/transformers/{TB}"):
        assert viewer.get(url.format(**places)).json()["meters"] is None


@pytest.mark.parametrize("role", ["inspector", "inspector_other"])
def test_inspector_queue_holds_own_branch_only(
        role: str, site: Site, shared: Clients, branch_of: dict[str, str]) -> None:
    own, other = ((site.branch, site.other_branch) if role == "inspector"
                  else (site.other_branch, site.branch))
    client = shared.by_role[role]
    rows = queue_rows(client)
    assert rows and {r["branch_id"] for r in rows} == {own}
    assert queue_rows(client, branch=own) == rows
    assert queue_rows(client, branch=other) == []
    asked_other = client.get("/api/anomalies", params={"branch": other}).json()
    assert asked_other["total"] == 0 and asked_other["rows"] == []
    # The pages and the export: every meter id they hold is of the own branch.
    for url in ("/anomalies", f"/anomalies?branch={other}", "/anomalies.xlsx",
                f"/anomalies.xlsx?branch={other}"):
        answer = client.get(url)
        assert answer.status_code == 200, url
        text = answer.text if not url.startswith("/anomalies.xlsx") else workbook_text(
            answer.content)
        ids = set(METER_ID.findall(text))
        assert {branch_of[m] for m in ids} <= {own}, url
        assert bool(ids) == ("branch=" not in url), url


def workbook_text(content: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    try:
        return "\n".join(str(value) for sheet in book.worksheets
                         for row in sheet.iter_rows(values_only=True) for value in row)
    finally:
        book.close()


def test_admin_queue_holds_every_branch(site: Site, shared: Clients,
                                        branch_of: dict[str, str]) -> None:
    assert {site.branch, site.other_branch} <= set(branch_of.values())
    admin = shared.by_role["admin"]
    rows = queue_rows(admin, branch=site.other_branch)
    assert rows and {r["branch_id"] for r in rows} == {site.other_branch}


@pytest.mark.parametrize(("role", "lists"), [
    ("viewer", set()), ("inspector", {"TA"}), ("inspector_other", {"TB"}),
    ("admin", {"TA", "TB"})])
def test_transformer_meters_only_for_own_branch(
        role: str, lists: set[str], shared: Clients, places: dict[str, str],
        branch_of: dict[str, str]) -> None:
    client = shared.by_role[role]
    for key in ("TA", "TB"):
        meters = client.get(f"/api/transformers/{places[key]}").json()["meters"]
        page = client.get(f"/transformers/{places[key]}").text
        if key in lists:
            assert meters, (role, key)
            assert len({branch_of.get(m["meter_id"]) for m in meters} - {None}) == 1
            assert 'id="meters"' in page
        else:
            assert meters is None, (role, key)
            assert 'id="meters"' not in page and not METER_ID.search(page)


# --- login, logout, cookies, headers -----------------------------------------------------
def login_token(client: httpx.Client, url: str = "/login") -> str:
    form = client.get(url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text[:300]
    return token.group(1)


def test_login_needs_the_form_cookie(site: Site) -> None:
    """No login without the double-submit cookie of the login form (login CSRF)."""
    with httpx.Client(base_url=site.url, timeout=60) as client:
        token = login_token(client)
        form = {"username": site.users["viewer"], "password": PASSWORD, "next": "/"}
        with httpx.Client(base_url=site.url, timeout=60) as stranger:  # no cookie
            assert stranger.post("/login", data={**form, "csrf_token": token}
                                 ).status_code == 403
        forged = client.post("/login", data={**form, "csrf_token": token + "x"})
        assert forged.status_code == 403 and "ami_session" not in client.cookies
        answer = client.post("/login", data={**form, "csrf_token": token})
        assert answer.status_code == 303 and "ami_session" in client.cookies


def set_cookie(answer: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the cookie ``name`` set by ``answer`` (lower-case keys)."""
    for header in answer.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            parts = [p.strip() for p in header.split(";")]
            return {k.lower(): v for k, _, v in (p.partition("=") for p in parts[1:])}
    raise AssertionError(f"no {name} cookie in {answer.headers.get_list('set-cookie')}")


def test_session_cookie_flags(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        form_cookie = set_cookie(client.get("/login"), "ami_login_csrf")
        assert "httponly" in form_cookie and form_cookie["samesite"].lower() == "strict"
        assert "secure" not in form_cookie
        answer = client.post("/login", data={
            "username": site.users["viewer"], "password": PASSWORD, "next": "/",
            "csrf_token": client.cookies["ami_login_csrf"]})
        assert answer.status_code == 303
        session = set_cookie(answer, "ami_session")
        assert "httponly" in session and session["samesite"].lower() == "lax"
        assert "secure" not in session  # AMI_APP_SECURE_COOKIES is off by default
        assert session["path"] == "/" and int(session["max-age"]) == int(
            site.settings.app_session_hours * 3600)


@pytest.fixture
def spare_settings(site: Site, tmp_path: Path) -> Settings:
    """The shared warehouse (read only) with a user database of the test's own."""
    return site.settings.model_copy(update={"app_db": f"sqlite:///{tmp_path / 'app.db'}"})


def test_secure_cookies_when_configured(site: Site, spare_settings: Settings) -> None:
    settings = spare_settings.model_copy(update={"app_secure_cookies": True})
    with serving(settings, site_users(site)) as url, httpx.Client(
            base_url=url, timeout=60) as client:
        form = client.get("/login")
        form_cookie = set_cookie(form, "ami_login_csrf")
        assert "secure" in form_cookie and "httponly" in form_cookie
        # httpx keeps a Secure cookie off plain HTTP: a TLS proxy's browser would send it.
        token = form.cookies["ami_login_csrf"]
        answer = client.post("/login", headers={"Cookie": f"ami_login_csrf={token}"},
                             data={"username": site.users["admin"], "password": PASSWORD,
                                   "next": "/", "csrf_token": token})
        assert answer.status_code == 303, answer.text[:300]
        session = set_cookie(answer, "ami_session")
        assert {"secure", "httponly"} <= set(session) and session["samesite"] == "lax"


def attempt(client: httpx.Client, username: str, password: str, *,
            address: str) -> httpx.Response:
    """One login from ``address`` (named by the proxy header, as behind the TLS proxy)."""
    token = login_token(client)
    return client.post("/login", headers={"X-Forwarded-For": address}, data={
        "username": username, "password": password, "next": "/", "csrf_token": token})


def test_login_rate_limit(site: Site, spare_settings: Settings) -> None:
    """After 5 failures for a name (from anywhere) or from an address (for any name),
    even the right password gets 429 — on an app of its own (its own failure counts)."""
    limit = spare_settings.app_login_attempts
    assert limit == 5
    users = {"chan.thu": ("viewer", ()), "nguoi.khac": ("viewer", ())}
    with serving(spare_settings, users) as url, httpx.Client(base_url=url,
                                                             timeout=60) as client:
        for n in range(limit):
            wrong = attempt(client, "chan.thu", f"sai-{n}", address=f"10.0.0.{n + 1}")
            assert wrong.status_code == 401, (n, wrong.text[:300])
        blocked = attempt(client, "CHAN.THU ", PASSWORD, address="10.0.1.1")
        assert blocked.status_code == 429, blocked.text[:300]
        assert int(blocked.headers["retry-after"]) == int(
            spare_settings.app_login_window_minutes * 60)
        assert attempt(client, "nguoi.khac", PASSWORD, address="10.0.1.1"
                       ).status_code == 303  # other names are not held up
        client.cookies.clear()
        for n in range(limit):  # one address trying names
            assert attempt(client, f"ai-{n}", PASSWORD, address="10.0.2.1"
                           ).status_code == 401
        assert attempt(client, "nguoi.khac", PASSWORD, address="10.0.2.1"
                       ).status_code == 429
        assert attempt(client, "nguoi.khac", PASSWORD, address="10.0.2.2"
                       ).status_code == 303


def test_logout_needs_the_session_token(site: Site) -> None:
    with closing(login(site.url, site.users["viewer"])) as client:
        token = csrf_of(client)
        assert client.post("/logout", data={"csrf_token": "made-up"}).status_code == 403
        assert client.post("/logout").status_code == 422  # the form's token is missing
        assert client.get("/api/me").status_code == 200  # still logged in
        answer = client.post("/logout", data={"csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example", "//evil.example/anomalies",
                                    "https://evil.example/", "/\\evil.example",
                                    "http:evil.example", "javascript:alert(1)", ""])
def test_login_does_not_redirect_off_site(site: Site, target: str) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        form = client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in form.text
        answer = client.post("/login", data={
            "username": site.users["viewer"], "password": PASSWORD, "next": target,
            "csrf_token": client.cookies["ami_login_csrf"]})
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_login_returns_to_a_page_of_the_site(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        asked = client.get("/transformers?branch=" + site.branch)
        assert asked.status_code == 303
        form_url = asked.headers["location"]
        token = login_token(client, form_url)
        target = re.search(r'name="next" value="([^"]+)"', client.get(form_url).text)
        assert target and target.group(1) == "/transformers?branch=" + site.branch
        answer = client.post("/login", data={
            "username": site.users["viewer"], "password": PASSWORD,
            "next": target.group(1), "csrf_token": client.cookies["ami_login_csrf"]})
        assert token and answer.headers["location"] == target.group(1)


CSP_KEYWORDS = {"'self'", "'none'", "'unsafe-inline'", "data:"}


@pytest.mark.parametrize(("role", "url"), [
    ("anonymous", "/login"), ("anonymous", "/"), ("anonymous", "/api/me"),
    ("viewer", "/"), ("viewer", "/meters/{A}"), ("admin", "/meters/{A}"),
    ("admin", "/api/anomalies"), ("admin", "/meters/{X}"), ("admin", "/anomalies.xlsx"),
    ("admin", "/static/app.css")])
def test_security_headers(role: str, url: str, shared: Clients,
                          places: dict[str, str]) -> None:
    answer = shared.by_role[role].get(url.format(**places))
    headers = answer.headers
    csp = {d.split()[0]: d.split()[1:] for d in
           (p.strip() for p in headers["content-security-policy"].split(";")) if d}
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert {s for sources in csp.values() for s in sources} <= CSP_KEYWORDS  # no CDN
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    if "text/html" in headers.get("content-type", ""):  # nothing from another host
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//',
                             answer.text)
