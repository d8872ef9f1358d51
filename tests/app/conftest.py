"""A scored synthetic province and the review app serving it on 127.0.0.1 (real HTTP).

Built once per test session: 500 customer meters (two branches) over 36 days through the chain's own
steps (ingest → VEE → balances → scoring), then the app under uvicorn in a thread, with
one user per role and an inspector of another branch.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import polars as pl
import pytest
import uvicorn
from fastapi import FastAPI

from ami.orchestrate import run_chain_direct, run_stages
from ami.province import ProvinceSpec, generate_province
from ami.settings import Settings
from app.main import UVICORN_OPTIONS, create_app
from warehouse import Warehouse

PASSWORD = "mật-khẩu-thử-nghiệm"


@dataclass(frozen=True)
class Site:
    """The running app: its URL, settings, and the branch data the tests need."""

    url: str
    settings: Settings
    branch: str          # the inspector's branch (that of the top-ranked meter)
    other_branch: str    # a branch the inspector does not work for
    own_meter: str       # top-ranked meter of ``branch``
    other_meter: str     # top-ranked meter of ``other_branch``
    transformer: str     # the own meter's transformer
    users: dict[str, str]  # role name → user name ("inspector_other": other branch)


def rescore(settings: Settings) -> None:
    """The next scoring, as the chain runs it (ami_anomalies)."""
    run_stages(("ami_anomalies",), settings=settings)


@pytest.fixture(scope="session")
def province(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a scored 500-meter province (two branches) (built once)."""
    root = tmp_path_factory.mktemp("app-province")
    settings = Settings(data_dir=root, landing=str(root / "landing"),
                        warehouse=str(root / "warehouse"), truth_dir=root / "truth",
                        reports_dir=root / "reports", airflow_home=root / "airflow",
                        app_db=f"sqlite:///{root / 'app.db'}")
    generate_province(ProvinceSpec(meters=500, start=date(2026, 9, 1), days=36, seed=7),
                      Path(settings.landing), settings.truth_dir)
    run_chain_direct(settings.landing, settings=settings)
    rescore(settings)
    return settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 in a thread, as ``ami app`` runs it; its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the review app did not start on 127.0.0.1")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def site(province: Settings) -> Iterator[Site]:
    """The app on 127.0.0.1 over the province, with its users."""
    app = create_app(province)
    scores = Warehouse.at(province.warehouse).scan("anomaly_scores").collect().join(
        Warehouse.at(province.warehouse).scan("meters").select(
            "meter_id", "branch_id", "transformer_id").unique("meter_id").collect(),
        on="meter_id").sort("rank")
    top = scores.row(0, named=True)
    other = scores.filter(pl.col("branch_id") != top["branch_id"]).row(0, named=True)
    users = {"viewer": "xem", "inspector": "kiemtra", "inspector_other": "kiemtra2",
             "admin": "quantri"}
    store = app.state.users
    store.create_user(users["viewer"], PASSWORD, role="viewer", replace=True)
    store.create_user(users["inspector"], PASSWORD, role="inspector",
                      branches=(top["branch_id"],), replace=True)
    store.create_user(users["inspector_other"], PASSWORD, role="inspector",
                      branches=(other["branch_id"],), replace=True)
    store.create_user(users["admin"], PASSWORD, role="admin", replace=True)
    with running(app) as url:
        yield Site(url=url, settings=province,
                   branch=top["branch_id"], other_branch=other["branch_id"],
                   own_meter=top["meter_id"], other_meter=other["meter_id"],
                   transformer=top["transformer_id"], users=users)


def login(url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client logged in as ``username`` (the login form, as a browser posts it)."""
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, "the login form carries a CSRF token"
    answer = client.post("/login", data={"username": username, "password": password,
                                         "csrf_token": token.group(1), "next": "/"})
    assert answer.status_code == 303, answer.text[:300]
    return client


def csrf_of(client: httpx.Client) -> str:
    """The session's CSRF token (GET /api/me)."""
    token: str = client.get("/api/me").json()["csrf_token"]
    return token
