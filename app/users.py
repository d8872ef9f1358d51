"""The app's users, login sessions and failed logins, in a small SQL database.

**Where and why.** Not in the warehouse: users and sessions change one row at a time,
many times a minute, and need transactions (a session is created, checked and ended
while other requests read) — Parquet partitions replaced whole are the wrong tool, and a
bucket warehouse has no lock a web request should wait on. A SQL database through
SQLAlchemy is: SQLite in the data folder by default (``AMI_APP_DB`` unset; one app
process, nothing to install), PostgreSQL when the app runs as several processes or
beside Airflow's database (``AMI_APP_DB=postgresql+psycopg2://…``). The warehouse keeps
what the crews found (gold ``inspections``, with who recorded it); this database keeps
only who may log in.

**Passwords** are stored as argon2id hashes (OWASP's minimum parameters, rehashed on
login when they change). **Sessions** are random 256-bit tokens; only their SHA-256 is
stored, with a per-session CSRF token and an expiry. **Failed logins** are kept per user
name and per client address for the rate limit (``too_many_failures``), so the limit
holds across restarts and app processes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ami.errors import ConfigError


class Role(StrEnum):
    """What a user may see and do (README: the review app)."""

    #: Aggregates only: the dashboard and the transformers' balances, no meter ids.
    VIEWER = "viewer"
    #: The queue and the meters of their own branches; records inspection outcomes.
    INSPECTOR = "inspector"
    #: Everything, every branch, and the users.
    ADMIN = "admin"


ROLE_VI = {Role.VIEWER: "xem tổng hợp", Role.INSPECTOR: "kiểm tra viên",
           Role.ADMIN: "quản trị"}

MIN_PASSWORD_LENGTH = 10

_metadata = sa.MetaData()
USERS = sa.Table(
    "app_users", _metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("branches", sa.String(1024), nullable=False, default=""),
    sa.Column("full_name", sa.String(256), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)
SESSIONS = sa.Table(
    "app_sessions", _metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
FAILURES = sa.Table(
    "app_login_failures", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(160), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a login costs tens
# of milliseconds, not the library default's ~250 ms per check on a 2-core server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the user name is unknown, so that the answer takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    """A user as the app sees it; ``branches`` empty means every branch (admins, viewers)."""

    username: str
    role: Role
    branches: tuple[str, ...]
    full_name: str = ""

    def sees_branch(self, branch: str | None) -> bool:
        """Whether the user may read the meters of ``branch``."""
        if self.role == Role.ADMIN:
            return True
        return self.role == Role.INSPECTOR and branch is not None and branch in self.branches

    @property
    def sees_meters(self) -> bool:
        """Whether the user may see meter ids and customer data at all."""
        return self.role in (Role.INSPECTOR, Role.ADMIN)


@dataclass(frozen=True)
class Session:
    """A logged-in session: its user and the CSRF token its forms must send back."""

    user: User
    csrf_token: str


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes: they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users, sessions and failed logins in the database at ``url`` (tables created)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
            _metadata.create_all(self.engine)
        except (sa.exc.ArgumentError, sa.exc.OperationalError, ModuleNotFoundError) as exc:
            raise ConfigError(f"the app database {url!r} cannot be opened "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
                              fix="set AMI_APP_DB to a SQLAlchemy URL the app can reach, "
                              "or unset it for SQLite in the data folder") from None

    # --- users -------------------------------------------------------------------------
    def create_user(self, username: str, password: str, *, role: Role | str,
                    branches: tuple[str, ...] = (), full_name: str = "",
                    replace: bool = False) -> User:
        """Add a user (or, with ``replace``, reset an existing one's password and role)."""
        username = username.strip()
        if not username or len(username) > 64 or not username.replace(".", "").replace(
                "_", "").replace("-", "").isalnum():
            raise ConfigError(f"user name {username!r} is not allowed",
                              fix="use 1-64 letters, digits, '.', '_' or '-'")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ConfigError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters",
                              fix=f"choose a password of at least {MIN_PASSWORD_LENGTH} "
                              "characters")
        try:
            role = Role(role)
        except ValueError:
            raise ConfigError(f"unknown role {role!r}",
                              fix="use viewer, inspector or admin") from None
        clean = tuple(sorted({b.strip() for b in branches if b.strip()}))
        if role == Role.INSPECTOR and not clean:
            raise ConfigError("an inspector needs at least one branch",
                              fix="pass --branch with the branch id(s) the user works for")
        row = {"username": username, "password_hash": _hasher.hash(password),
               "role": str(role), "branches": ",".join(clean), "full_name": full_name,
               "created_at": datetime.now(UTC), "disabled": False}
        with self.engine.begin() as db:
            exists = db.execute(sa.select(USERS.c.username).where(
                USERS.c.username == username)).first()
            if exists and not replace:
                raise ConfigError(f"user {username!r} exists already",
                                  fix="pick another name, or pass --replace to reset it")
            if exists:
                db.execute(USERS.update().where(USERS.c.username == username).values(
                    {k: v for k, v in row.items() if k != "created_at"}))
                db.execute(SESSIONS.delete().where(SESSIONS.c.username == username))
            else:
                db.execute(USERS.insert().values(row))
        return User(username, role, clean, full_name)

    def users(self) -> list[User]:
        """Every enabled user, by name."""
        with self.engine.connect() as db:
            rows = db.execute(sa.select(USERS).where(~USERS.c.disabled)
                              .order_by(USERS.c.username)).mappings().all()
        return [_user(row) for row in rows]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches (rehashing an outdated hash), else None."""
        with self.engine.connect() as db:
            row = db.execute(sa.select(USERS).where(
                (USERS.c.username == username.strip()) & ~USERS.c.disabled)).mappings().first()
        stored = row["password_hash"] if row else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _hasher.check_needs_rehash(stored):
            with self.engine.begin() as db:
                db.execute(USERS.update().where(USERS.c.username == row["username"])
                           .values(password_hash=_hasher.hash(password)))
        return _user(row)

    # --- sessions ----------------------------------------------------------------------
    def open_session(self, user: User, *, hours: float) -> tuple[str, Session]:
        """A new session of ``user``: the cookie's token (never stored) and the session."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.engine.begin() as db:
            db.execute(SESSIONS.delete().where(SESSIONS.c.expires_at < now))
            db.execute(SESSIONS.insert().values(
                token_sha256=_digest(token), username=user.username, csrf_token=csrf,
                expires_at=now + timedelta(hours=hours)))
        return token, Session(user, csrf)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie's token, or None (unknown, expired, user gone)."""
        if not token:
            return None
        query = sa.select(SESSIONS.c.csrf_token, SESSIONS.c.expires_at, USERS).join(
            USERS, USERS.c.username == SESSIONS.c.username).where(
            (SESSIONS.c.token_sha256 == _digest(token)) & ~USERS.c.disabled)
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        if row is None or _utc(row["expires_at"]) <= datetime.now(UTC):
            return None
        return Session(_user(row), row["csrf_token"])

    def close_session(self, token: str | None) -> None:
        """Log out: the token no longer opens anything."""
        if token:
            with self.engine.begin() as db:
                db.execute(SESSIONS.delete().where(SESSIONS.c.token_sha256 == _digest(token)))

    # --- failed logins (the rate limit) ------------------------------------------------
    def record_failure(self, *keys: str) -> None:
        """Count one failed login against each key (``user:…``, ``ip:…``)."""
        now = datetime.now(UTC)
        with self.engine.begin() as db:
            db.execute(FAILURES.insert(), [{"key": k[:160], "at": now} for k in keys])

    def too_many_failures(self, *keys: str, limit: int, window: timedelta) -> bool:
        """Whether any key failed ``limit`` times or more within ``window`` until now."""
        since = datetime.now(UTC) - window
        with self.engine.begin() as db:
            db.execute(FAILURES.delete().where(FAILURES.c.at < since))
            counts = db.execute(
                sa.select(FAILURES.c.key, sa.func.count()).where(
                    FAILURES.c.key.in_([k[:160] for k in keys]) & (FAILURES.c.at >= since))
                .group_by(FAILURES.c.key)).all()
        return any(n >= limit for _, n in counts)

    def clear_failures(self, *keys: str) -> None:
        """Forget the failures of keys after a successful login."""
        with self.engine.begin() as db:
            db.execute(FAILURES.delete().where(FAILURES.c.key.in_([k[:160] for k in keys])))


def _user(row: sa.RowMapping) -> User:
    branches = tuple(b for b in (row["branches"] or "").split(",") if b)
    return User(row["username"], Role(row["role"]), branches, row["full_name"] or "")


#: The demo's users: (user name, role, full name); the inspector works for the first branch.
DEMO_USERS = (("xem", Role.VIEWER, "Sở Công Thương (xem tổng hợp)"),
              ("kiemtra", Role.INSPECTOR, "Tổ giảm tổn thất"),
              ("quantri", Role.ADMIN, "Quản trị hệ thống"))


def create_demo_users(store: UserStore, *, branch: str, folder: Path) -> list[tuple[User, str]]:
    """One user per role for the demo, with fresh random passwords (reset on each demo).

    The passwords are also written to ``folder/demo-users.txt`` (readable by the owner
    only), since the demo prints them once.
    """
    made = []
    for username, role, name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        branches = (branch,) if role == Role.INSPECTOR else ()
        made.append((store.create_user(username, password, role=role, branches=branches,
                                       full_name=name, replace=True), password))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo-users.txt"
    path.touch(mode=0o600)
    path.write_text("".join(f"{u.username}\t{password}\t{u.role}\t{','.join(u.branches)}\n"
                            for u, password in made), encoding="utf-8")
    return made
