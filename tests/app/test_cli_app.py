"""`ami app` serves the review app on 127.0.0.1; `ami app create-user` adds a login."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ami.cli import main
from ami.settings import Settings
from app.users import Role, UserStore
from tests.app.conftest import free_port


def test_create_user_then_log_in(settings: Settings, capsys: pytest.CaptureFixture[str]
                                 ) -> None:
    code = main(["app", "create-user", "kiemtra", "--role", "inspector", "--branch", "LS02",
                 "--branch", "LS01", "--password", "mật-khẩu-dài-1", "--full-name", "Tổ 1"])
    assert code == 0
    assert "kiemtra: inspector (LS01, LS02)" in capsys.readouterr().out
    user = UserStore(settings.app_db_url).authenticate("kiemtra", "mật-khẩu-dài-1")
    assert user is not None and user.role == Role.INSPECTOR and user.branches == ("LS01", "LS02")
    assert Path(settings.app_db_url.removeprefix("sqlite:///")).is_relative_to(settings.data_dir)


@pytest.mark.parametrize(("argv", "says"), [
    (["--role", "boss"], "unknown role 'boss'"),
    (["--role", "inspector"], "needs at least one branch"),
    (["--role", "viewer", "--password", "short"], "shorter than 10"),
])
def test_bad_user_is_one_clear_line(argv: list[str], says: str, settings: Settings,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    args = ["app", "create-user", "x", *argv]
    if "--password" not in argv:
        args += ["--password", "mật-khẩu-dài-1"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ami: error:") and says in err and len(err.splitlines()) == 1


def test_ami_app_binds_loopback_and_asks_for_login(settings: Settings) -> None:
    port = free_port()
    ami = Path(sys.executable).with_name("ami")
    server = subprocess.Popen([str(ami), "app", "--port", str(port)], env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=False)
                break
            except httpx.ConnectError:
                time.sleep(0.2)
        assert answer is not None, "ami app did not answer on 127.0.0.1"
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        login = httpx.get(f"http://127.0.0.1:{port}/login")
        assert login.status_code == 200 and "Đăng nhập" in login.text
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in out  # uvicorn's own line: bound to loopback
