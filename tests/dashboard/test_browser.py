"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright against
the app served by uvicorn on 127.0.0.1. Log in through the form, read each page's numbers
from its data-* attributes and from the ECharts instances, compare them with the JSON API,
change a filter, check the phone width, and keep every request on 127.0.0.1. Screenshots
of each page at 1280 and 375 px go to tests/artifacts/."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from dashboard.support import ARTIFACTS, PASSWORD, USER, Demo
from revlens.api.app import ServerConfig, create_app

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():  # before importing Playwright, which only these tests need
    pytest.skip(
        f"{CHROMIUM} is missing: `make browser` (apt-get install chromium) runs these tests",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    sync_playwright,
)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 800}
PAGES = {"overview": "/", "funnel": "/funnel", "attribution": "/attribution", "trends": "/trends",
         "plan": "/plan"}  # fmt: skip
OVERVIEW_IDS = "leads,mqls,sqls,customers,revenue,spend,cpl,cac,win_rate,marketing_roi"
TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """The real app under uvicorn in a background thread, on 127.0.0.1 and a free port."""

    def __init__(self, warehouse: Path) -> None:
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(ServerConfig(warehouse=warehouse)),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    copy = demo.copy(tmp_path_factory.mktemp("browser"))
    with Server(copy.path) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: Server, demo: Demo) -> Iterator[httpx.Client]:
    """The JSON API, asked with the bearer token (independently of the browser)."""
    with httpx.Client(base_url=server.url, headers=demo.bearer(), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS, timeout=TIMEOUT_MS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    """Every URL the browser asked for during the module."""
    return []


@pytest.fixture(scope="module")
def script_errors() -> list[str]:
    """Uncaught exceptions and console errors (a CSP violation is one) during the module."""
    return []


def _console(errors: list[str], message: ConsoleMessage) -> None:
    # Chromium also logs each 4xx answer (the 401 login, the 400 error state): not script errors
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


@pytest.fixture(scope="module")
def page(browser: Browser, requests_seen: list[str], script_errors: list[str]) -> Iterator[Page]:
    """One tab for the module (logged in by the first test), recording requests and errors."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("request", lambda request: requests_seen.append(request.url))
    context.on("console", lambda message: _console(script_errors, message))
    context.on("weberror", lambda error: script_errors.append(str(error.error)))
    tab = context.new_page()
    yield tab
    context.close()


def charts_drawn(page: Page) -> None:
    """Wait until the page is loaded and every chart on it is drawn."""
    page.wait_for_load_state("load")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')]"
        ".every(el => el.dataset.rendered === 'true')"
    )


def visit(page: Page, url: str) -> None:
    page.goto(url)
    charts_drawn(page)


def chart_series(page: Page, selector: str) -> list[dict[str, Any]]:
    """name and data of every series of the ECharts instance in `selector`."""
    result: list[dict[str, Any]] = page.evaluate(
        """(sel) => echarts.getInstanceByDom(document.querySelector(sel))
             .getOption().series.map(s => ({name: s.name, data: s.data}))""",
        selector,
    )
    return result


def data_values(page: Page, selector: str) -> list[dict[str, str]]:
    """The data-* attributes of the elements matching `selector`."""
    found: list[dict[str, str]] = page.eval_on_selector_all(
        selector, "els => els.map(el => Object.assign({}, el.dataset))"
    )
    return found


def num(text: str | None) -> float | None:
    return None if not text else float(text)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def all_close(a: list[Any], b: list[Any]) -> bool:
    """Same length and values to 1e-9 (DuckDB may sum floats in another order each time)."""
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))


def shoot(page: Page, name: str) -> None:
    """A full-page screenshot at 1280 and at 375 px (phone), which must not scroll sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("1280", DESKTOP), ("375", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # charts follow the new width (ResizeObserver)
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{name} scrolls sideways at {label} px: {widths}"
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


# -- the tests run in file order on one tab: log in first ---------------------------------


def test_log_in_through_the_form(page: Page, server: Server) -> None:
    page.goto(server.url + "/trends?kpi=revenue")
    assert urlsplit(page.url).path == "/login"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-login-1280.png"))
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("wrong token")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/trends?kpi=revenue")
    assert page.get_by_role("heading", level=1).inner_text() == "Trends"
    cookie = next(c for c in page.context.cookies() if c["name"] == "revlens_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_overview_shows_the_api_numbers(page: Page, server: Server, api: httpx.Client) -> None:
    visit(page, server.url + "/")
    cards = api.get("/api/kpis", params={"kpi": OVERVIEW_IDS, "compare": "previous"}).json()
    series = api.get("/api/kpis", params={"kpi": OVERVIEW_IDS, "grain": "month"}).json()
    shown = {c["kpi"]: c for c in data_values(page, "li.card")}
    assert list(shown) == OVERVIEW_IDS.split(",")
    for row in cards:
        card = shown[row["kpi"]]
        assert close(num(card["value"]), row["value"]), row["kpi"]
        assert close(num(card["target"]), row.get("target")), row["kpi"]
        assert close(num(card["change"]), row.get("change")), row["kpi"]
        spark = chart_series(page, f'[data-chart="spark"][data-kpi="{row["kpi"]}"]')
        assert all_close(spark[0]["data"], [r["value"] for r in series if r["kpi"] == row["kpi"]])
    # attainment colour: the card's status follows the API's attainment
    leads = next(r for r in cards if r["kpi"] == "leads")
    badge = page.locator('li.card[data-kpi="leads"] .badge')
    expected = (
        "on_track"
        if leads["attainment"] >= 1
        else ("at_risk" if leads["attainment"] >= 0.9 else "off_track")
    )
    assert f"badge-{expected}" in (badge.get_attribute("class") or "")
    shoot(page, "overview")


def test_a_filter_from_the_form_changes_the_numbers(
    page: Page, server: Server, api: httpx.Client
) -> None:
    visit(page, server.url + "/")
    before = {c["kpi"]: num(c["value"]) for c in data_values(page, "li.card")}
    page.get_by_label("Channel", exact=True).select_option("paid_search")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/?*channel=paid_search*")
    charts_drawn(page)
    assert "from=" not in page.url  # empty fields stay out of the URL to share
    after = {c["kpi"]: num(c["value"]) for c in data_values(page, "li.card")}
    rows = api.get(
        "/api/kpis", params={"kpi": OVERVIEW_IDS, "compare": "previous", "channel": "paid_search"}
    ).json()
    for row in rows:
        assert close(after[row["kpi"]], row["value"]), row["kpi"]
    assert after["leads"] != before["leads"] and after["spend"] != before["spend"]
    series = chart_series(page, '[data-chart="spark"][data-kpi="leads"]')
    paid = api.get(
        "/api/kpis", params={"kpi": "leads", "grain": "month", "channel": "paid_search"}
    ).json()
    assert all_close(series[0]["data"], [r["value"] for r in paid])
    # the view is in the URL: the same URL in a new tab shows the same numbers
    shared = page.context.new_page()
    visit(shared, page.url)
    again = {c["kpi"]: num(c["value"]) for c in data_values(shared, "li.card")}
    assert again.keys() == after.keys()
    assert all(close(again[k], after[k]) for k in after)
    shared.close()


def test_funnel_shows_the_api_numbers(page: Page, server: Server, api: httpx.Client) -> None:
    visit(page, server.url + "/funnel")
    rows = api.get("/api/funnel").json()
    series = chart_series(page, "#funnel-chart")
    assert all_close(series[0]["data"], [r["count"] for r in rows])
    cells = {
        (c["stage"], c["field"]): num(c["value"])
        for c in data_values(page, "td[data-stage][data-field]")
    }
    for r in rows:
        assert close(cells[(r["stage"], "count")], r["count"])
        assert close(cells[(r["stage"], "conversion_from_first")], r["conversion_from_first"])
        if r["conversion_from_previous"] is not None:
            assert close(
                cells[(r["stage"], "conversion_from_previous")], r["conversion_from_previous"]
            )
    page.get_by_role("link", name="Period", exact=True).click()
    page.wait_for_url("**/funnel?*mode=period*")
    charts_drawn(page)
    period = api.get("/api/funnel", params={"mode": "period"}).json()
    assert all_close(chart_series(page, "#funnel-chart")[0]["data"], [r["count"] for r in period])
    visit(page, server.url + "/funnel?by=channel")
    shoot(page, "funnel")


def test_attribution_shows_the_api_numbers(page: Page, server: Server, api: httpx.Client) -> None:
    visit(page, server.url + "/attribution")
    rows = api.get("/api/attribution", params={"conversion": "revenue"}).json()
    spend = api.get("/api/kpis", params={"kpi": "spend", "by": "channel"}).json()
    series = {s["name"]: s["data"] for s in chart_series(page, "#attribution-chart")}
    channels: list[str] = page.evaluate(
        "() => echarts.getInstanceByDom(document.querySelector('#attribution-chart'))"
        ".getOption().xAxis[0].data"
    )
    for r in rows:
        assert close(series[r["model"]][channels.index(r["channel"])], r["value"])
    cost = {r["channel"]: r["value"] for r in spend}
    roi = {s["name"]: s["data"] for s in chart_series(page, "#roi-chart")}
    for r in rows:
        spent = cost.get(r["channel"])
        got = roi[r["model"]][channels.index(r["channel"])]
        assert close(got, (r["value"] - spent) / spent if spent else None), r
    shoot(page, "attribution")


def test_trends_show_the_api_numbers(page: Page, server: Server, api: httpx.Client) -> None:
    visit(page, server.url + "/trends")
    page.get_by_label("KPI", exact=True).select_option("revenue")
    page.get_by_label("By", exact=True).select_option("segment")
    page.get_by_label("Grain", exact=True).select_option("quarter")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/trends?*kpi=revenue*")
    charts_drawn(page)
    rows = api.get(
        "/api/kpis", params={"kpi": "revenue", "by": "segment", "grain": "quarter"}
    ).json()
    series = {s["name"]: s["data"] for s in chart_series(page, "#trend-chart")}
    names = [str(r["segment"]) if r["segment"] is not None else "(none)" for r in rows]
    assert set(series) == set(names)
    for name, data in series.items():
        assert all_close(data, [r["value"] for r, n in zip(rows, names, strict=True) if n == name])
    cells = data_values(page, "td[data-period][data-series]")
    assert len(cells) == len(rows)
    shoot(page, "trends")


def test_plan_shows_the_api_numbers(page: Page, server: Server, api: httpx.Client) -> None:
    visit(page, server.url + "/plan?goal=3000000")
    plan = api.get("/api/plan", params={"revenue_goal": 3_000_000, "from_history": True}).json()
    pacing = api.get("/api/pacing").json()
    series = chart_series(page, "#plan-chart")
    assert all_close(series[0]["data"], [s["count"] for s in plan["stages"]])
    badges = {c["kpi"]: c["status"] for c in data_values(page, "tr[data-status]")}
    assert badges == {r["kpi"]: r["status"] for r in pacing}
    actual = {c["kpi"]: num(c["value"]) for c in data_values(page, 'td[data-field="actual"]')}
    for r in pacing:
        assert close(actual[r["kpi"]], r["actual"])
    shoot(page, "plan")


def test_error_and_empty_states(page: Page, server: Server) -> None:
    response = page.goto(server.url + "/?from=2025-13-01")
    assert response is not None and response.status == 400
    alert = page.get_by_role("alert")
    assert "--from takes a date" in alert.inner_text() and "Fix:" in alert.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-error-1280.png"))
    page.goto(server.url + "/funnel?from=2030-01&to=2030-03")
    assert "No data for these filters" in page.get_by_role("status").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-empty-1280.png"))


def test_no_script_errors_and_no_request_leaves_127_0_0_1(
    requests_seen: list[str], script_errors: list[str]
) -> None:
    assert requests_seen
    hosts = {urlsplit(url).hostname for url in requests_seen if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}
    assert any(url.endswith("/static/vendor/echarts.min.js") for url in requests_seen)
    assert script_errors == []  # no CSP violation, no JavaScript error
