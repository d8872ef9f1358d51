"""The user store: argon2 hashes, sessions, the login rate limit — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ami.errors import ConfigError
from app.users import FAILURES, SESSIONS, USERS, Role, UserStore
from tests.pipelines.pg import postgres_server

PASSWORD = "đúng-mật-khẩu-1"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for this module."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UserStore]:
    if request.param == "sqlite":
        yield UserStore(f"sqlite:///{tmp_path / 'sub' / 'app.db'}")
        return
    store = UserStore(request.getfixturevalue("postgres_url"))
    yield store
    with store.engine.begin() as db:  # the next test starts empty
        for table in (SESSIONS, FAILURES, USERS):
            db.execute(table.delete())
    store.engine.dispose()


def test_password_is_stored_as_argon2id_and_checked(store: UserStore) -> None:
    store.create_user("kiemtra", PASSWORD, role="inspector", branches=("LS02", "LS01", " "))
    with store.engine.connect() as db:
        stored = db.execute(sa.select(USERS.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    user = store.authenticate("kiemtra", PASSWORD)
    assert user is not None and user.role == Role.INSPECTOR
    assert user.branches == ("LS01", "LS02")  # cleaned and sorted
    assert store.authenticate("kiemtra", PASSWORD + "x") is None
    assert store.authenticate("nobody", PASSWORD) is None


def test_branch_rules_per_role(store: UserStore) -> None:
    inspector = store.create_user("a", PASSWORD, role="inspector", branches=("LS01",))
    admin = store.create_user("b", PASSWORD, role="admin")
    viewer = store.create_user("c", PASSWORD, role="viewer")
    assert inspector.sees_branch("LS01") and not inspector.sees_branch("LS02")
    assert admin.sees_branch("LS02") and admin.sees_meters
    assert not viewer.sees_branch("LS01") and not viewer.sees_meters


@pytest.mark.parametrize(("name", "password", "role", "branches", "fix"), [
    ("bad name!", PASSWORD, "viewer", (), "letters, digits"),
    ("ok", "short", "viewer", (), "at least 10"),
    ("ok", PASSWORD, "boss", (), "viewer, inspector or admin"),
    ("ok", PASSWORD, "inspector", (), "--branch"),
])
def test_bad_users_are_refused_with_the_fix(store: UserStore, name: str, password: str,
                                             role: str, branches: tuple[str, ...],
                                             fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        store.create_user(name, password, role=role, branches=branches)
    assert fix in str(info.value)
    assert store.users() == []


def test_existing_user_needs_replace_which_ends_sessions(store: UserStore) -> None:
    user = store.create_user("quantri", PASSWORD, role="admin")
    token, session = store.open_session(user, hours=1)
    assert store.session(token) == session
    with pytest.raises(ConfigError, match="exists already"):
        store.create_user("quantri", "khác-mật-khẩu-2", role="admin")
    store.create_user("quantri", "khác-mật-khẩu-2", role="viewer", replace=True)
    assert store.session(token) is None  # the old login no longer works
    assert store.authenticate("quantri", PASSWORD) is None
    renewed = store.authenticate("quantri", "khác-mật-khẩu-2")
    assert renewed is not None and renewed.role == Role.VIEWER


def test_sessions_store_only_a_hash_and_expire(store: UserStore) -> None:
    user = store.create_user("xem", PASSWORD, role="viewer")
    token, _ = store.open_session(user, hours=1)
    with store.engine.connect() as db:
        stored = db.execute(sa.select(SESSIONS.c.token_sha256)).scalar_one()
    assert token not in stored and len(stored) == 64
    assert store.session(token) is not None and store.session("forged") is None
    assert store.session(None) is None
    with store.engine.begin() as db:  # an hour later
        db.execute(SESSIONS.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert store.session(token) is None
    token, _ = store.open_session(user, hours=1)
    store.close_session(token)
    assert store.session(token) is None


def test_failed_logins_count_per_key_within_the_window(store: UserStore) -> None:
    keys = ("user:xem", "ip:127.0.0.1")
    window = timedelta(minutes=15)
    for _ in range(4):
        store.record_failure(*keys)
    assert not store.too_many_failures(*keys, limit=5, window=window)
    store.record_failure("user:other", "ip:127.0.0.1")  # the address reaches 5
    assert store.too_many_failures("user:xem", "ip:127.0.0.1", limit=5, window=window)
    assert not store.too_many_failures("user:xem", "ip:10.0.0.9", limit=5, window=window)
    assert not store.too_many_failures(*keys, limit=5, window=timedelta(0))  # all older
    store.clear_failures("user:xem")
    assert not store.too_many_failures("user:xem", limit=5, window=window)


def test_unreachable_database_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AMI_APP_DB"):
        UserStore("nosuchdialect://x")
