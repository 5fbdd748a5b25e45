"""Who may call what: a bearer token (scripts) or a signed session cookie (the dashboard);
viewers read, admins also write; cookie-authenticated writes need the CSRF token; failed
logins are rate-limited per client."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from revlens.api import credentials
from revlens.api.credentials import Principal, Role

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_principal(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer TOKEN` or the session cookie; 401 otherwise."""
    state = request.app.state
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("send Authorization: Bearer TOKEN (see `revlens token create`)")
        with state.access.read() as wh:
            found = credentials.check_token(wh, token.strip())
        if found is None:
            raise _unauthorized("unknown or revoked token")
        return found
    found = session_principal(request)
    if found is None:
        raise _unauthorized("log in, or send Authorization: Bearer TOKEN")
    return found


def session_principal(request: Request) -> Principal | None:
    """The principal of a live session cookie: not expired, and its token or user still
    valid (a revoked token or deleted user ends the session at once)."""
    session: dict[str, Any] = request.session
    kind, ident, issued = session.get("kind"), session.get("ident"), session.get("issued")
    if not kind or not ident or not isinstance(issued, int | float):
        return None
    state = request.app.state
    if state.clock() - issued > state.config.session_max_age:
        session.clear()
        return None
    with state.access.read() as wh:
        found = (
            credentials.token_by_id(wh, ident)
            if kind == "token"
            else credentials.user_by_name(wh, ident)
        )
    if found is None:
        session.clear()
    return found


def start_session(request: Request, principal: Principal) -> str:
    """Log the principal in on this browser; returns the session's CSRF token."""
    request.session.clear()
    csrf = secrets.token_urlsafe(24)
    request.session.update(
        kind=principal.kind,
        ident=principal.ident,
        name=principal.name,
        role=principal.role.value,
        issued=request.app.state.clock(),
        csrf=csrf,
    )
    return csrf


def csrf_token(request: Request) -> str | None:
    token = request.session.get("csrf")
    return token if isinstance(token, str) else None


def _check_csrf(request: Request) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (header or form)."""
    if request.method in SAFE_METHODS or request.headers.get("authorization"):
        return
    expected = csrf_token(request)
    given = request.headers.get(CSRF_HEADER)
    if (
        not expected
        or not given
        or not secrets.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"missing or wrong {CSRF_HEADER} header for a write with a session cookie",
        )


def require(role: Role) -> Callable[..., Principal]:
    """A dependency admitting `role` (admins pass everywhere); 403 for the wrong role."""

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not principal.may(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"{principal.role.value} may not do this: it needs the {role.value} role",
            )
        _check_csrf(request)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Admin = Annotated[Principal, Depends(require(Role.admin))]


class LoginLimiter:
    """At most `attempts` failed logins per client in `window` seconds; then 429."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float] = time.time):
        self.attempts, self.window, self.clock = attempts, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        q = self._failures.setdefault(client, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def check(self, client: str) -> None:
        """429 with Retry-After when the client used up its attempts."""
        with self._lock:
            q = self._recent(client)
            if len(q) >= self.attempts:
                wait = max(1, int(self.window - (self.clock() - q[0])) + 1)
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    detail=f"too many failed logins: try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self.clock())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def authenticate(
    request: Request, token: str | None, user: str | None, password: str | None
) -> Principal:
    """Check a login (a token, or a user and password) under the rate limit; 401 or 429."""
    limiter: LoginLimiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    limiter.check(client)
    found: Principal | None = None
    with request.app.state.access.read() as wh:
        if token:
            found = credentials.check_token(wh, token.strip())
        elif user and password:
            found = credentials.check_user(wh, user, password)
    if found is None:
        limiter.failed(client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="wrong token, or wrong user name or password"
        )
    limiter.succeeded(client)
    return found
