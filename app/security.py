"""Who is asking, and may they: sessions, roles, branches, CSRF and the login rate limit.

A login sets one cookie, ``ami_session`` (HttpOnly, SameSite=Lax, Secure with
``AMI_APP_SECURE_COOKIES``), holding a random token the database knows only by its
hash (``app.users``). Every route asks for ``Access`` and then for a role
(``require``); meter routes also check the meter's branch (``meter_branch_or_404``: a
meter of another branch is "not found", so its id is not even confirmed). Every form
carries the session's CSRF token, and every state-changing JSON call sends it in the
``X-CSRF-Token`` header (``check_csrf``); the login form, before any session, uses a
double-submit cookie (``ami_login_csrf``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

from app.users import Role, Session, User

SESSION_COOKIE = "ami_session"
LOGIN_CSRF_COOKIE = "ami_login_csrf"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequiredError(Exception):
    """No valid session: pages redirect to the login form, the API answers 401."""


@dataclass(frozen=True)
class Access:
    """The session behind a request (``user`` and the CSRF token its forms carry)."""

    session: Session

    @property
    def user(self) -> User:
        """The logged-in user."""
        return self.session.user

    def require(self, *roles: Role) -> User:
        """The user when their role is one of ``roles``; else 403."""
        if self.user.role not in roles:
            raise HTTPException(status_code=403,
                                detail="Tài khoản của bạn không có quyền xem nội dung này.")
        return self.user

    def branches(self) -> tuple[str, ...] | None:
        """The branches whose meters the user sees (None: every branch)."""
        if self.user.role == Role.ADMIN:
            return None
        return self.user.branches if self.user.role == Role.INSPECTOR else ()


def access(request: Request) -> Access:
    """The request's session (a FastAPI dependency); LoginRequiredError without one."""
    store = request.app.state.users
    session = store.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequiredError
    return Access(session)


def check_csrf(request_token: str | None, session: Session) -> None:
    """403 unless ``request_token`` is the session's CSRF token."""
    if not request_token or not hmac.compare_digest(request_token, session.csrf_token):
        raise HTTPException(status_code=403,
                            detail="Phiên biểu mẫu không hợp lệ hoặc đã hết hạn; hãy tải lại "
                            "trang và gửi lại.")


def new_login_csrf() -> str:
    """A fresh token for the login form's double-submit cookie."""
    return secrets.token_urlsafe(24)


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two optional tokens (both present)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def client_address(request: Request) -> str:
    """The client's address for the rate limit (the proxy's view behind one)."""
    return request.client.host if request.client else "unknown"


def meter_branch_or_404(user: User, branch: str | None) -> None:
    """404 when the user may not see meters of ``branch`` (or the meter is unknown)."""
    if branch is None or not user.sees_branch(branch):
        raise HTTPException(status_code=404, detail="Không tìm thấy công tơ.")
