"""The dashboard's routes: the login form, logout, the five pages and the Excel download.
Every page is a view of the JSON API: it asks the service layer what its /api twin asks
(revlens.dashboard.views), links to that twin and embeds the same rows as JSON."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from revlens.api import security
from revlens.api.credentials import Principal
from revlens.dashboard import views
from revlens.dashboard.filters import GRAINS, PageFilters, filter_options, url
from revlens.dashboard.templating import templates
from revlens.errors import RevlensError, WarehouseError
from revlens.report import XLSX_MEDIA_TYPE, build_report, report_filters
from revlens.service import catalog_rows

log = logging.getLogger("revlens.dashboard")

router = APIRouter(include_in_schema=False)

# (page, label, path) in the order of the navigation
NAV = (
    ("overview", "Overview", "/"),
    ("funnel", "Funnel", "/funnel"),
    ("attribution", "Attribution", "/attribution"),
    ("trends", "Trends", "/trends"),
    ("plan", "Plan & pacing", "/plan"),
)
LOGIN_CSRF = "login_csrf"  # session key of the login form's own CSRF token
NO_STORE = {"Cache-Control": "no-store"}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server only (never //host or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return target


def _same_token(expected: object, given: str | None) -> bool:
    """A constant-time comparison of a form's CSRF token with the session's (as bytes, so
    a non-ASCII value is a mismatch, not an error)."""
    if not isinstance(expected, str) or not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(_here(request), safe='')}", status_code=303)


def _login_form(
    request: Request,
    next_url: str,
    *,
    message: str | None = None,
    status: int = 200,
    user: str = "",
    headers: Mapping[str, str] | None = None,
) -> Response:
    token = request.session.get(LOGIN_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[LOGIN_CSRF] = token
    context = {
        "title": "Log in",
        "next_url": next_url,
        "message": message,
        "login_csrf": token,
        "user": user,
    }
    return _render(request, "login.html", None, context, status, headers)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The login form (a token, or a user name and password)."""
    target = safe_next(next)
    if security.session_principal(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_form(request, target)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str | None, Form()] = None,
    user: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
    login_csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the login under the rate limit; on success start the session (a signed,
    HttpOnly, SameSite cookie) and go to `next`, else show the form again with why."""
    target = safe_next(next)
    if not _same_token(request.session.get(LOGIN_CSRF), login_csrf):
        request.session.pop(LOGIN_CSRF, None)
        return _login_form(
            request,
            target,
            message="The login form had expired (or cookies are off): please log in again.",
            status=400,
            user=user or "",
        )
    try:
        principal = security.authenticate(request, token or None, user or None, password or None)
    except HTTPException as exc:
        return _login_form(
            request,
            target,
            message=str(exc.detail),
            status=exc.status_code,
            user=user or "",
            headers=exc.headers,
        )
    security.start_session(request, principal)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """End the session; the form must carry the session's CSRF token."""
    if not _same_token(security.csrf_token(request), csrf_token):
        error = RevlensError(
            "missing or wrong CSRF token: the session was not ended",
            code="HTTP403",
            fix="use the Log out button of a dashboard page",
        )
        return _render(request, "error.html", None, {"error": error, "title": "Forbidden"}, 403)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _nav(f: PageFilters) -> list[dict[str, str]]:
    return [{"page": p, "label": label, "href": url(path, f.params())} for p, label, path in NAV]


def _render(
    request: Request,
    template: str,
    principal: Principal | None,
    context: dict[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    f = context.get("filters") or PageFilters.from_query(request.query_params)
    base = {
        "page": None,
        "principal": principal,
        "csrf": security.csrf_token(request) or "",
        "nav": _nav(f),
        "filters": f,
        "view": None,
        "error": None,
    }
    return templates.TemplateResponse(
        request,
        template,
        {**base, **context},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def _page(request: Request, name: str) -> Response:
    """A page: its view over one read of the warehouse. A RevlensError (a bad parameter)
    becomes the page's error state with 400 (503 when the warehouse cannot be read); only a
    bug gives 500, still as the page with the error shown."""
    try:
        principal = security.session_principal(request)
    except RevlensError as exc:  # the warehouse (with the logins) cannot be read
        return _render(request, "error.html", None, {"error": exc, "title": "revlens"}, 503)
    if principal is None:
        return _to_login(request)
    state = request.app.state
    query = request.query_params
    f = PageFilters.from_query(query)
    view: views.View | None = None
    error: RevlensError | None = None
    options: dict[str, list[str]] = {"channel": [], "campaign": [], "segment": []}
    dimensions: list[str] = []
    currency = ""
    newest = ""
    status = 200
    try:
        dimensions = views.dimension_choices(state.config.catalog)
        with state.access.read() as wh:
            options = filter_options(wh, f)
            currency = wh.settings().reporting_currency
            view = views.PAGES[name](wh, state.catalog, state.config.catalog, f, query)
            view.data["twins"] = {t.label: t.url for t in view.twins}
            if view.empty:
                newest = views.newest_data(wh)
    except RevlensError as exc:
        error, status = exc, 503 if isinstance(exc, WarehouseError) else 400
    except Exception as exc:  # a bug: say so on the page and in the log
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        error = RevlensError(
            f"unexpected {type(exc).__name__}",
            code="RL999",
            fix="see the server log and report it",
        )
        status = 500
    title = view.title if view else {p: label for p, label, _ in NAV}[name]
    page_path = {p: href for p, _, href in NAV}[name]

    def url_with(**changes: str | None) -> str:
        """This page's URL with some parameters changed (the funnel's mode toggle)."""
        return url(page_path, {**dict(query), **changes})

    context = {
        "page": name,
        "title": title,
        "filters": f,
        "query": dict(query),
        "options": options,
        "grains": GRAINS,
        "dimensions": dimensions,
        "kpi_choices": [(k["id"], f"{k['name']} ({k['id']})") for k in catalog_rows(state.catalog)],
        "currency": currency,
        "newest": newest,
        "view": view,
        "error": error,
        "clear_url": page_path,
        "url_with": url_with,
        "report_url": url("/report.xlsx", f.params()),
    }
    return _render(request, f"{name}.html", principal, context, status)


@router.get("/")
def overview_page(request: Request) -> Response:
    """KPI cards with target, attainment, change and a sparkline."""
    return _page(request, "overview")


@router.get("/funnel")
def funnel_page(request: Request) -> Response:
    """Stage bars with conversion from the first and the previous stage."""
    return _page(request, "funnel")


@router.get("/attribution")
def attribution_page(request: Request) -> Response:
    """Attribution models side by side per channel, and ROI per channel."""
    return _page(request, "attribution")


@router.get("/trends")
def trends_page(request: Request) -> Response:
    """Any KPI over time by any dimension."""
    return _page(request, "trends")


@router.get("/plan")
def plan_page(request: Request) -> Response:
    """The reverse-funnel plan and pacing to this month's targets."""
    return _page(request, "plan")


@router.get("/report.xlsx")
def excel_report(request: Request) -> Response:
    """The Excel report (revlens report excel) for the page's filters, as a download."""
    principal = security.session_principal(request)
    if principal is None:
        return _to_login(request)
    f = PageFilters.from_query(request.query_params)
    state = request.app.state
    try:
        filters = report_filters(
            start=f.start,
            end=f.end,
            grain=f.grain,
            channel=f.channel,
            campaign=f.campaign,
            segment=f.segment,
        )
        with state.access.read() as wh:
            report = build_report(wh, filters, state.catalog)
    except RevlensError as exc:
        status = 503 if isinstance(exc, WarehouseError) else 400
        return _render(
            request, "error.html", principal, {"error": exc, "title": "Excel report"}, status
        )
    return Response(
        report.content,
        media_type=XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{report.filename}"',
            **NO_STORE,
        },
    )
