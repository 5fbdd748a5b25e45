"""The FastAPI application: JSON API, local Swagger UI, the dashboard pages and their
static files, one error shape, and headers that keep every page on this server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from revlens import __version__, service
from revlens.api.access import WarehouseAccess
from revlens.api.credentials import session_secret
from revlens.api.routes import router
from revlens.api.security import LoginLimiter
from revlens.cli.output import plain
from revlens.dashboard.pages import router as pages_router
from revlens.errors import ImportAborted, RevlensError, WarehouseError
from revlens.model.warehouse import Warehouse, resolve_path

log = logging.getLogger("revlens.server")

SESSION_COOKIE = "revlens_session"
# Everything from this server; ECharts and Swagger UI style elements inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


class ServerConfig(BaseModel):
    """How the server runs; `revlens serve` fills it from its options."""

    warehouse: Path | None = None
    catalog: Path | None = None
    session_max_age: int = 8 * 3600  # seconds a dashboard login lasts
    secure_cookies: bool = False  # set when served over HTTPS (behind a proxy)
    login_attempts: int = 5  # failed logins per client ...
    login_window: float = 60.0  # ... in this many seconds, then 429


def create_app(
    config: ServerConfig | None = None, clock: Callable[[], float] = time.time
) -> FastAPI:
    """The app for one warehouse; `clock` is injectable so tests can expire sessions."""
    config = config or ServerConfig()
    path = resolve_path(config.warehouse)
    with Warehouse.open(path) as wh:  # fails early, with the fix, when there is none
        secret = session_secret(wh)
    app = FastAPI(
        title="revlens",
        version=__version__,
        description="Sales & marketing KPIs, funnels, attribution and plans over one "
        "warehouse. Send `Authorization: Bearer TOKEN` (`revlens token create`).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = config
    app.state.clock = clock
    app.state.access = WarehouseAccess(path)
    app.state.catalog = service.catalog_for(config.catalog)
    app.state.limiter = LoginLimiter(config.login_attempts, config.login_window, clock)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=config.session_max_age,
        same_site="lax",
        https_only=config.secure_cookies,
    )
    app.middleware("http")(_security_headers)
    app.include_router(router)
    app.include_router(pages_router)
    static = resources.files("revlens.dashboard") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _add_docs(app)
    _add_error_handlers(app)
    return app


async def _security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
    response: Response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.url.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _add_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from this server's own files."""
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>revlens API</title>"
            "<link rel='stylesheet' href='/static/vendor/swagger-ui.css'></head>"
            "<body data-openapi-url='/openapi.json'><div id='swagger-ui'></div>"
            "<script src='/static/vendor/swagger-ui-bundle.js'></script>"
            "<script src='/static/swagger-init.js'></script></body></html>"
        )


_HTTP_FIXES = {
    401: "send Authorization: Bearer TOKEN (revlens token create) or log in",
    403: "ask an admin, or use a token with the admin role",
    429: "wait for Retry-After seconds",
}


def _error(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"error": body}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RevlensError)
    def revlens_error(request: Request, exc: RevlensError) -> JSONResponse:
        body = exc.to_dict()
        if isinstance(exc, ImportAborted) and exc.result is not None:
            result: dict[str, Any] = getattr(exc.result, "to_dict", dict)()
            return JSONResponse(plain({"error": body, "result": result}), status_code=422)
        return _error(503 if isinstance(exc, WarehouseError) else 400, body)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(
            exc.status_code,
            {
                "code": f"HTTP{exc.status_code}",
                "message": str(exc.detail),
                "where": request.url.path,
                "value": None,
                "fix": _HTTP_FIXES.get(exc.status_code),
            },
        )
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return _error(
            422,
            {
                "code": "RL020",
                "message": "invalid request: " + "; ".join(problems),
                "where": request.url.path,
                "value": None,
                "fix": "see the parameters in /docs",
            },
        )

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return _error(
            500,
            {
                "code": "RL999",
                "message": f"unexpected {type(exc).__name__}",
                "where": request.url.path,
                "value": None,
                "fix": "see the server log and report it",
            },
        )
