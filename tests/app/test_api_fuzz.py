"""Fuzzing the JSON API from its own OpenAPI document (schemathesis 4, hypothesis).

Every operation of ``/api/openapi.json`` gets generated inputs, valid and invalid, sent
over real HTTP with a logged-in session. The property: never a server error (5xx), invalid
input refused with a 4xx, and every 2xx body of an operation that declares a response
model conforms to it.

The reads run against the shared site as an admin and as an inspector. The one write
(``POST /api/meters/{meter_id}/inspections``) runs against a second app over a copy of
the warehouse and its own user database, so the inspections it records never reach the
shared site (whose meters other tests inspect and rank).

schemathesis' pytest integration (``schemathesis.pytest.from_fixture``) fails under the
installed pytest 9.2 (it reads and sets ``request.node._nodeid``, which pytest 9.2 no
longer has), so the operations' strategies (``APIOperation.as_strategy``) are driven by
hypothesis here directly, one parametrized test per operation, role and generation mode.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from app.main import create_app
from tests.app.conftest import PASSWORD, Site, csrf_of, login, running

pytestmark = pytest.mark.slow

#: Generated cases per operation, per generation mode (valid, invalid) and per role.
MAX_EXAMPLES = 25
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: the first failure is shown
    suppress_health_check=list(HealthCheck), print_blob=False)

READS = (("GET", "/api/me"), ("GET", "/api/months"), ("GET", "/api/dashboard"),
         ("GET", "/api/transformers"), ("GET", "/api/transformers/{transformer_id}"),
         ("GET", "/api/anomalies"), ("GET", "/api/meters/{meter_id}"), ("GET", "/api/users"))
WRITES = (("POST", "/api/meters/{meter_id}/inspections"),)
#: Operations without parameters or body: nothing to make invalid.
NO_INPUT = {"/api/me", "/api/months", "/api/users"}
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
#: Real values of parameters, by name: the values a generator would not find.
Hints = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Caller:
    """A logged-in user of one running app: its base URL, session cookie and CSRF token."""

    url: str
    role: str
    cookie: str
    csrf: str


def caller(url: str, role: str, username: str) -> Caller:
    with closing(login(url, username)) as client:
        return Caller(url, role, client.cookies["ami_session"], csrf_of(client))


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def schema(site: Site) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{site.url}/api/openapi.json")


@pytest.fixture(scope="module")
def callers(site: Site) -> dict[str, Caller]:
    return {role: caller(site.url, role, site.users[role]) for role in ("admin", "inspector")}


@pytest.fixture(scope="module")
def hints(site: Site, callers: dict[str, Caller], http: requests.Session) -> Hints:
    months = http.get(f"{site.url}/api/months", timeout=60,
                      cookies={"ami_session": callers["admin"].cookie}).json()
    assert months, "the province has months with balances"
    return {"meter_id": (site.own_meter, site.other_meter),
            "transformer_id": (site.transformer,), "transformer": (site.transformer,),
            "month": tuple(sorted({months[0], months[-1]})),
            "branch": (site.branch, site.other_branch)}


@pytest.fixture(scope="module")
def private_site(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A second app on 127.0.0.1 over a copy of the warehouse, with its own users."""
    root = tmp_path_factory.mktemp("fuzz-site")
    shutil.copytree(site.settings.warehouse, root / "warehouse")
    settings = site.settings.model_copy(update={
        "warehouse": str(root / "warehouse"), "app_db": f"sqlite:///{root / 'app.db'}"})
    app = create_app(settings)
    store = app.state.users
    store.create_user(site.users["admin"], PASSWORD, role="admin")
    store.create_user(site.users["inspector"], PASSWORD, role="inspector",
                      branches=(site.branch,))
    try:
        with running(app) as url:
            yield replace(site, url=url, settings=settings)
    finally:
        store.engine.dispose()


def strategy(operation: Any, mode: GenerationMode, hints: Hints,
             headers: dict[str, str]) -> st.SearchStrategy[Any]:
    """Cases of ``operation``: generated, and (valid ones) with real ids and months too.

    A generated id almost never names a meter or a transformer, nor a generated month
    one with data: the valid cases also take real values (``hints``) for a path or
    query parameter, the rest generated, to reach the handlers' reads.
    """

    def cases(path: dict[str, str] | None = None,
              query: dict[str, str] | None = None) -> st.SearchStrategy[Any]:
        return operation.as_strategy(generation_mode=mode, headers=headers or None,
                                     path_parameters=path, query=query)

    options = [cases()]
    if mode.is_positive:
        paths = [None, *({p.name: v} for p in operation.path_parameters
                         for v in hints.get(p.name, ()))]
        queries = [None, *({p.name: v} for p in operation.query
                           for v in hints.get(p.name, ()))]
        options += [cases(path, query) for path in paths for query in queries
                    if path or query]
    return st.one_of(options)


def fuzz(operation: Any, mode: GenerationMode, hints: Hints, who: Caller,
         http: requests.Session) -> list[tuple[str | None, int]]:
    """Send ``MAX_EXAMPLES`` generated cases; fail on a 5xx or a failed check.

    Returns the meter id (None: no meter in the path) and status of every answer.
    """
    csrf = {"X-CSRF-Token": who.csrf} if operation.method.upper() == "POST" else {}
    answers: list[tuple[str | None, int]] = []

    @FUZZ_SETTINGS
    @hypothesis.given(case=strategy(operation, mode, hints, csrf))
    def run(case: Any) -> None:
        response = case.call(base_url=who.url, session=http, headers=csrf,
                             cookies={"ami_session": who.cookie}, timeout=60)
        answers.append(((case.path_parameters or {}).get("meter_id"), response.status_code))
        assert response.status_code < 500, (
            f"{who.role}: {case.method} {case.formatted_path} → {response.status_code}\n"
            f"{case.as_curl_command()}\n{response.text[:2000]}")
        checks: list[Callable[..., Any]] = [negative_data_rejection]
        if response.status_code < 300:
            # The error bodies (401/403/404/422) are the app's own {"detail": text}, not
            # FastAPI's documented validation error: only the successes are compared.
            checks += [response_schema_conformance, content_type_conformance]
        case.validate_response(response, checks=checks,
                               transport_kwargs={"base_url": who.url})

    run()
    assert answers, "hypothesis sent no request"
    return answers


def test_fuzz_covers_every_operation(schema: schemathesis.BaseSchema) -> None:
    """A new API route is fuzzed too (or this list, and the split read/write, is updated)."""
    found = {(result.ok().method.upper(), result.ok().path)
             for result in schema.get_all_operations()}
    assert found == set(READS) | set(WRITES)
    without_input = {result.ok().path for result in schema.get_all_operations()
                     if not [*result.ok().iter_parameters(), *result.ok().body]}
    assert without_input == NO_INPUT


@pytest.mark.parametrize("role", ["admin", "inspector"])
@pytest.mark.parametrize(("method", "path", "mode"), [
    pytest.param(method, path, mode, id=f"{path}-{mode}")
    for method, path in READS for mode in MODES
    if not (mode.is_negative and path in NO_INPUT)])
def test_reads_never_fail_on_generated_input(
        schema: schemathesis.BaseSchema, site: Site, callers: dict[str, Caller],
        hints: Hints, http: requests.Session, method: str, path: str, role: str,
        mode: GenerationMode) -> None:
    answers = fuzz(schema[path][method], mode, hints, callers[role], http)
    statuses = {status for _, status in answers}
    if role == "inspector" and path == "/api/users":
        assert statuses == {403}
    elif mode.is_positive:  # the valid cases reach the data (real ids and months)
        assert 200 in statuses, f"no valid case of {path} was answered 200: {answers}"
    if role == "inspector":  # another branch's meter is never shown
        assert all(status == 404 for meter, status in answers if meter == site.other_meter)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("role", ["admin", "inspector"])
def test_recording_never_fails_on_generated_input(
        schema: schemathesis.BaseSchema, private_site: Site, hints: Hints,
        http: requests.Session, role: str, mode: GenerationMode) -> None:
    who = caller(private_site.url, role, private_site.users[role])
    method, path = WRITES[0]
    answers = fuzz(schema[path][method], mode, hints, who, http)
    if mode.is_positive:  # some generated inspections of a real meter were recorded
        assert 201 in {status for _, status in answers}, answers
    if role == "inspector":  # never on another branch's meter
        assert all(status in (404, 422) for meter, status in answers
                   if meter == private_site.other_meter)

