"""The dashboard over HTTP (no browser): the login form, sessions, CSRF on logout, the rate
limit, and every page showing exactly the numbers of its JSON twin, with its loading, empty
and error states."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from dashboard.support import (
    PASSWORD,
    USER,
    Demo,
    elements,
    log_in,
    login_csrf,
    number,
    page_data,
    same_rows,
)
from revlens.api.app import ServerConfig, create_app
from revlens.demo import truth as T

PAGES = ("/", "/funnel", "/attribution", "/trends", "/plan")
OVERVIEW_IDS = "leads,mqls,sqls,customers,revenue,spend,cpl,cac,win_rate,marketing_roi"
STAGES = "lead,mql,sql,opportunity,customer"
MODELS = "first_touch,last_touch,linear,markov"


def api(client: TestClient, demo: Demo, path: str, params: dict[str, str]) -> Any:
    """The JSON API's answer, asked with the bearer token (not the page's session)."""
    response = client.get(path, params=params, headers=demo.bearer())
    assert response.status_code == 200, response.text
    return response.json()


def twin_params(data: dict[str, Any], label: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(data["twins"][label])
    return parts.path, dict(parse_qsl(parts.query))


def check_twin(
    client: TestClient,
    demo: Demo,
    data: dict[str, Any],
    label: str,
    path: str,
    params: dict[str, str],
    rows: Any,
) -> Any:
    """The page links to the API URL we expect, and its rows are that URL's answer."""
    assert twin_params(data, label) == (path, params)
    expected = api(client, demo, path, params)
    same_rows(rows, expected, label)
    return expected


@pytest.fixture
def logged_in(client: TestClient, demo: Demo) -> TestClient:
    response = log_in(client, token=demo.token)
    assert response.status_code == 303
    return client


# -- logging in and out -------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/funnel?mode=period&by=channel", "/report.xlsx"])
def test_pages_redirect_to_the_login_form_when_logged_out(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert unquote(location.removeprefix("/login?next=")) == path
    form = client.get(location)
    assert form.status_code == 200
    assert f'name="next" value="{path.replace("&", "&amp;")}"' in form.text


def test_login_with_a_token_sets_a_signed_httponly_samesite_cookie(
    client: TestClient, demo: Demo
) -> None:
    response = log_in(client, "/funnel?mode=period", token=demo.token)
    assert response.status_code == 303
    assert response.headers["location"] == "/funnel?mode=period"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("revlens_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    page = client.get("/funnel?mode=period")
    assert page.status_code == 200
    assert "viewer" in page.text  # who is logged in, beside the logout button


def test_login_with_user_and_password(client: TestClient) -> None:
    response = log_in(client, user=USER, password=PASSWORD)
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert client.get("/").status_code == 200


def test_a_wrong_password_shows_the_form_again_with_401(client: TestClient) -> None:
    response = log_in(client, user=USER, password="not the password")
    assert response.status_code == 401
    assert 'role="alert"' in response.text and "wrong token, or wrong user name" in response.text
    assert 'name="password"' in response.text
    assert f'value="{USER}"' in response.text  # the user name is kept, the password not
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logins_are_rate_limited_after_five_failures(client: TestClient, demo: Demo) -> None:
    for _ in range(5):
        assert log_in(client, user=USER, password="wrong password!").status_code == 401
    blocked = log_in(client, token=demo.token)  # even a right token waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "too many failed logins" in blocked.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_own_csrf_token(client: TestClient, demo: Demo) -> None:
    response = client.post("/login", data={"token": demo.token}, follow_redirects=False)
    assert response.status_code == 400
    assert "expired" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x", "/logout"],
)
def test_login_goes_only_to_local_pages(client: TestClient, demo: Demo, target: str) -> None:
    response = log_in(client, target, token=demo.token)
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_logout_needs_the_csrf_token(logged_in: TestClient) -> None:
    for guess in ("guess", "écrit"):
        refused = logged_in.post("/logout", data={"csrf_token": guess}, follow_redirects=False)
        assert refused.status_code == 403
    assert logged_in.post("/logout", follow_redirects=False).status_code == 403
    assert logged_in.get("/trends").status_code == 200  # still logged in
    page = logged_in.get("/trends").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    done = logged_in.post("/logout", data={"csrf_token": found.group(1)}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/login")
    assert logged_in.get("/trends", follow_redirects=False).status_code == 303


def test_a_logged_in_visit_to_the_login_form_goes_on(logged_in: TestClient) -> None:
    response = logged_in.get("/login?next=/plan", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/plan")


# -- every page shows its twin's numbers --------------------------------------------------

FILTERS = {"from": "2026-01-01", "to": "2026-06-30", "channel": "paid_search"}


@pytest.mark.parametrize(
    "params",
    [{}, FILTERS, {"segment": "smb", "grain": "quarter"}, {"campaign": "search-brand"}],
    ids=["default", "channel", "segment", "campaign"],
)
def test_overview_cards_are_the_api_rows(
    logged_in: TestClient, demo: Demo, params: dict[str, str]
) -> None:
    page = logged_in.get("/", params=params)
    assert page.status_code == 200
    data = page_data(page.text)
    range_and_dims = {k: v for k, v in params.items() if k != "grain"}
    cards = check_twin(
        logged_in,
        demo,
        data,
        "KPI cards",
        "/api/kpis",
        {"kpi": OVERVIEW_IDS, **range_and_dims, "compare": "previous"},
        data["cards"],
    )
    series = check_twin(
        logged_in,
        demo,
        data,
        "Sparklines",
        "/api/kpis",
        {"kpi": OVERVIEW_IDS, **range_and_dims, "grain": params.get("grain", "month")},
        data["series"],
    )
    assert cards and series
    shown = {a["data-kpi"]: a for tag, a in elements(page.text) if tag == "li" and "data-kpi" in a}
    assert list(shown) == OVERVIEW_IDS.split(",")
    for row in cards:
        card = shown[row["kpi"]]
        for attr, key in (
            ("data-value", "value"),
            ("data-target", "target"),
            ("data-attainment", "attainment"),
            ("data-previous", "previous_value"),
            ("data-change", "change"),
        ):
            assert number(card[attr]) == pytest.approx(row.get(key)), (row["kpi"], key)
        status = card["data-status"]
        attainment = row.get("attainment")
        if attainment is None:
            assert status == "none"
        else:
            assert status == (
                "on_track" if attainment >= 1 else "at_risk" if attainment >= 0.9 else "off_track"
            )
    # the download button carries the same filters
    assert 'href="/report.xlsx' in page.text


def test_a_filter_changes_the_numbers(logged_in: TestClient) -> None:
    everything = page_data(logged_in.get("/").text)["cards"]
    paid = page_data(logged_in.get("/", params={"channel": "paid_search"}).text)["cards"]
    leads = {r["kpi"]: r["value"] for r in everything}
    paid_leads = {r["kpi"]: r["value"] for r in paid}
    assert 0 < paid_leads["leads"] < leads["leads"]
    assert 0 < paid_leads["spend"] < leads["spend"]


@pytest.mark.parametrize(
    "params",
    [{}, {"mode": "period", "by": "channel"}, {"campaign": "search-brand", "from": "2025-06"}],
    ids=["cohort", "period-by-channel", "campaign"],
)
def test_funnel_rows_are_the_api_rows(
    logged_in: TestClient, demo: Demo, params: dict[str, str]
) -> None:
    page = logged_in.get("/funnel", params=params)
    assert page.status_code == 200
    data = page_data(page.text)
    expected = {"stages": STAGES, "mode": params.get("mode", "cohort")}
    expected.update({k: v for k, v in params.items() if k != "mode"})
    rows = check_twin(logged_in, demo, data, "Funnel rows", "/api/funnel", expected, data["rows"])
    by = params.get("by")
    cells = {
        (a["data-group"], a["data-stage"], a["data-field"]): number(a["data-value"])
        for _, a in elements(page.text)
        if "data-stage" in a and "data-field" in a
    }
    for r in rows:
        group = ("(none)" if r[by] is None else str(r[by])) if by else "All"
        assert cells[(group, r["stage"], "count")] == r["count"]
        assert cells[(group, r["stage"], "conversion_from_first")] == pytest.approx(
            r["conversion_from_first"]
        )
    first = data["series"][0]
    mine = [r for r in rows if not by or str(r[by] or "(none)") == first["name"]]
    assert first["data"] == [
        next(r["count"] for r in mine if r["stage"] == s) for s in STAGES.split(",")
    ]


@pytest.mark.parametrize(
    "params",
    [{}, {"conversion": "customer", "from": "2026-01"}, {"channel": "paid_search"}],
    ids=["revenue", "customers", "channel"],
)
def test_attribution_and_roi_are_the_api_rows(
    logged_in: TestClient, demo: Demo, params: dict[str, str]
) -> None:
    page = logged_in.get("/attribution", params=params)
    assert page.status_code == 200
    data = page_data(page.text)
    conversion = params.get("conversion", "revenue")
    range_ = {k: v for k, v in params.items() if k in ("from", "to")}
    credit = check_twin(
        logged_in,
        demo,
        data,
        f"Credit ({conversion})",
        "/api/attribution",
        {"model": MODELS, "conversion": conversion, **range_},
        data["rows"],
    )
    if conversion == "revenue":
        revenue = credit
    else:
        revenue = check_twin(
            logged_in,
            demo,
            data,
            "Revenue credit",
            "/api/attribution",
            {"model": MODELS, "conversion": "revenue", **range_},
            data["revenue_rows"],
        )
    spend = check_twin(
        logged_in,
        demo,
        data,
        "Spend by channel",
        "/api/kpis",
        {"kpi": "spend", "by": "channel", **range_},
        data["spend"],
    )
    cost = {r["channel"]: r["value"] for r in spend}
    measure = "value" if conversion == "revenue" else "conversions"
    cells = {
        (a["data-channel"], a.get("data-model"), a["data-field"]): number(a["data-value"])
        for _, a in elements(page.text)
        if "data-channel" in a and "data-field" in a
    }
    channels = {r["channel"] for r in credit}
    if "channel" in params:
        channels = {params["channel"]}
    assert {k[0] for k in cells} == channels
    for r in credit:
        if r["channel"] in channels:
            assert cells[(r["channel"], r["model"], measure)] == pytest.approx(r[measure])
    for r in revenue:
        if r["channel"] not in channels:
            continue
        spent = cost.get(r["channel"])
        roi = cells[(r["channel"], r["model"], "roi")]
        if spent:
            assert roi == pytest.approx((r["value"] - spent) / spent)
        else:
            assert roi is None
    assert "ROI</strong> = (revenue credited" in page.text  # the definition is on the page


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"kpi": "revenue", "by": "segment", "grain": "quarter"},
        {"kpi": "cpl", "channel": "display"},
    ],
    ids=["leads", "revenue-by-segment", "cpl-display"],
)
def test_trends_are_the_api_rows(logged_in: TestClient, demo: Demo, params: dict[str, str]) -> None:
    page = logged_in.get("/trends", params=params)
    assert page.status_code == 200
    data = page_data(page.text)
    kpi = params.get("kpi", "leads")
    expected = {"kpi": kpi, "grain": params.get("grain", "month")}
    expected.update({k: v for k, v in params.items() if k not in ("kpi", "grain")})
    label = next(iter(data["twins"]))
    rows = check_twin(logged_in, demo, data, label, "/api/kpis", expected, data["rows"])
    by = params.get("by")
    cells = {
        (a["data-period"], a["data-series"]): number(a["data-value"])
        for _, a in elements(page.text)
        if "data-series" in a
    }
    names = {s["name"] for s in data["series"]}
    for r in rows:
        name = str(r[by]) if by else next(iter(names))
        assert cells[(r["period_start"], name)] == pytest.approx(r["value"])


def test_trends_offer_every_kpi_and_dimension(logged_in: TestClient, demo: Demo) -> None:
    page = logged_in.get("/trends").text
    catalog = api(logged_in, demo, "/api/catalog", {})
    kpis = page.split('id="f-kpi"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]*)"', kpis) == [k["id"] for k in catalog]
    by = page.split('id="f-by"')[1].split("</select>")[0]
    for dim in ("channel", "campaign", "segment", "country", "owner", "product"):
        assert f'value="{dim}"' in by


def test_the_filters_offer_marketing_channels_and_campaigns_not_the_sales_cost(
    logged_in: TestClient,
) -> None:
    """The demo's sales-cost spend rows (channel "sales") are no marketing channel: the
    `spend` measure leaves them out, and so do the channel and campaign choices."""
    page = logged_in.get("/").text

    def choices(name: str) -> list[str]:
        form = page.split(f'id="f-{name}"')[1].split("</select>")[0]
        return re.findall(r'<option value="([^"]+)"', form)

    assert choices("channel") == sorted(c.name for c in T.CHANNELS)
    campaigns = choices("campaign")
    assert {"search-brand", "partner-program"} <= set(campaigns)
    assert not set(campaigns) & set(T.SALES_COST.monthly(0.0))


@pytest.mark.parametrize("params", [{}, {"goal": "2,400,000", "per": "quarter"}])
def test_plan_and_pacing_are_the_api_rows(
    logged_in: TestClient, demo: Demo, params: dict[str, str]
) -> None:
    page = logged_in.get("/plan", params=params)
    assert page.status_code == 200
    data = page_data(page.text)
    if "goal" in params:
        goal = 2_400_000.0
    else:  # the default: the last 12 months' revenue x 1.2, to a thousand
        revenue = api(logged_in, demo, "/api/kpis", {"kpi": "revenue"})[0]["value"]
        goal = round(revenue * 1.2, -3)
    assert data["goal"] == goal
    plan = check_twin(
        logged_in,
        demo,
        data,
        "Plan",
        "/api/plan",
        {"revenue_goal": str(int(goal)), "from_history": "true", "per": params.get("per", "month")},
        data["plan"],
    )
    pacing = check_twin(logged_in, demo, data, "Pacing", "/api/pacing", {}, data["pacing"])
    assert plan["stages"] and pacing
    cells = {
        (a.get("data-stage") or a.get("data-kpi"), a["data-field"]): number(a["data-value"])
        for _, a in elements(page.text)
        if "data-field" in a
    }
    for s in plan["stages"]:
        assert cells[(s["stage"], "count")] == pytest.approx(s["count"])
    for r in pacing:
        assert cells[(r["kpi"], "actual")] == pytest.approx(r["actual"])
        assert cells[(r["kpi"], "target")] == pytest.approx(r["target"])
        assert f'data-kpi="{r["kpi"]}" data-status="{r["status"]}"' in page.text


# -- empty and error states ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/?from=2025-13-01", "RL512"),
        ("/funnel?to=2026-02-30", "RL512"),
        ("/funnel?mode=sideways", "RL513"),
        ("/attribution?conversion=clicks", "RL050"),
        ("/trends?kpi=leeds", "RL001"),
        ("/trends?grain=fortnight", "RL520"),
        ("/plan?goal=lots", "RL051"),
        ("/plan?period=2026-13", "RL765"),
        ("/?from=2026-06-01&to=2026-01-01", "RL510"),
    ],
)
def test_a_bad_filter_shows_the_error_state_with_400(
    logged_in: TestClient, path: str, code: str
) -> None:
    response = logged_in.get(path)
    assert response.status_code == 400
    assert 'data-state="error"' in response.text and f'data-code="{code}"' in response.text
    assert 'role="alert"' in response.text and "Fix:" in response.text
    assert 'id="f-from"' in response.text or 'id="f-goal"' in response.text  # form stays
    assert page_data(response.text)["error"]["code"] == code


def test_the_error_names_the_bad_value_and_suggests_the_fix(logged_in: TestClient) -> None:
    text = logged_in.get("/trends?kpi=leeds").text
    assert "unknown KPI &#39;leeds&#39;" in text and "did you mean" in text


@pytest.mark.parametrize(
    "path",
    [
        "/?from=2030-01-01&to=2030-03-31",
        "/funnel?from=2030-01&to=2030-03",
        "/trends?from=2030-01&to=2030-12",
        "/attribution?from=2030-01&to=2030-03",
        "/?channel=no_such_channel",
        "/funnel?segment=no_such_segment",
    ],
)
def test_an_empty_range_shows_the_empty_state(logged_in: TestClient, path: str) -> None:
    response = logged_in.get(path)
    assert response.status_code == 200
    assert 'data-state="empty"' in response.text
    assert "No data for these filters" in response.text
    assert "The newest data is from <strong>2026-10-31</strong>" in response.text
    assert "data-chart=" not in response.text


# -- accessibility, CSP, sharing ------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_labelled_local_and_start_loading(logged_in: TestClient, path: str) -> None:
    """Accessible structure, the CSP with no inline script or handler, local assets only,
    and every chart starting as a "Loading chart…" placeholder."""
    response = logged_in.get(path)
    text = response.text
    tags = elements(text)
    assert ("html", {"lang": "en"}) in tags
    assert '<a class="skip-link" href="#main">' in text and 'id="main"' in text
    current = [a for t, a in tags if t == "a" and a.get("aria-current") == "page"]
    assert len(current) == 1 and current[0]["href"].split("?")[0] == path
    labels = {a["for"] for t, a in tags if t == "label"}
    for t, a in tags:
        if t in ("select", "textarea") or (t == "input" and a.get("type") != "hidden"):
            assert a.get("id") in labels, f"{t} {a.get('name')} has no label"
    assert text.count("<table") == text.count("<caption") > 0

    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    for tag, a in tags:
        if tag == "script":
            assert a.get("src", "").startswith("/static/") or a.get("type") == "application/json"
        target = a.get("src") or a.get("href") or ""
        if tag in ("script", "link", "img") and target:
            assert target.startswith(("/", "data:")), target
        assert not [k for k in a if k.startswith("on")], (tag, a)  # no inline handlers

    charts = [a for _, a in tags if "data-chart" in a]
    assert charts and all(a["aria-busy"] == "true" for a in charts)
    assert text.count("Loading chart…") == len(charts)


def test_the_login_page_is_labelled_and_local(client: TestClient) -> None:
    form = client.get("/login")
    assert form.status_code == 200 and login_csrf(form.text)
    tags = elements(form.text)
    labels = {a["for"] for t, a in tags if t == "label"}
    inputs = [a for t, a in tags if t == "input" and a.get("type") != "hidden"]
    assert [a["name"] for a in inputs] == ["user", "password", "token"]
    assert all(a["id"] in labels for a in inputs)
    assert 'autocomplete="current-password"' in form.text
    assert not [a for t, a in tags if t == "script"]  # no script needed to log in


def test_filters_are_kept_in_the_urls_to_share(logged_in: TestClient) -> None:
    params = {"from": "2026-01-01", "to": "2026-06-30", "grain": "week", "channel": "email"}
    text = logged_in.get("/trends", params={**params, "kpi": "mqls"}).text
    nav = [a["href"] for t, a in elements(text) if t == "a" and a.get("href", "").startswith("/")]
    for path in ("/", "/funnel", "/attribution", "/plan"):
        link = next(h for h in nav if h.split("?")[0] == path)
        assert dict(parse_qsl(urlsplit(link).query)) == params
    for key, value in params.items():
        assert f'value="{value}"' in text, key
    assert '<option value="mqls" selected>' in text


def test_the_funnel_mode_toggle_keeps_the_other_parameters(logged_in: TestClient) -> None:
    text = logged_in.get("/funnel", params={"by": "segment", "channel": "email"}).text
    toggle = {a["data-mode"]: a for t, a in elements(text) if t == "a" and "data-mode" in a}
    assert toggle["cohort"].get("aria-current") == "true"
    assert dict(parse_qsl(urlsplit(toggle["period"]["href"]).query)) == {
        "by": "segment",
        "channel": "email",
        "mode": "period",
    }


def test_filter_choices_come_from_the_data(logged_in: TestClient) -> None:
    text = logged_in.get("/").text
    channel = text.split('id="f-channel"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]+)"', channel) == [
        "direct", "display", "email", "events", "organic_search",
        "paid_search", "paid_social", "partners", "referral", "social",
    ]  # fmt: skip
    segment = text.split('id="f-segment"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]+)"', segment) == ["enterprise", "mid", "smb"]


def test_hostile_filter_values_are_escaped_and_never_sql(logged_in: TestClient) -> None:
    evil = "x'); DROP TABLE contacts; --<script>alert(1)</script>"
    response = logged_in.get("/", params={"channel": evil})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert 'data-state="empty"' in response.text
    assert logged_in.get("/").status_code == 200  # the tables are all still there


# -- the Excel report -----------------------------------------------------------------------


def test_the_excel_report_downloads_with_the_page_filters(logged_in: TestClient) -> None:
    response = logged_in.get("/report.xlsx", params={"channel": "paid_search", "from": "2026-01"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".xlsx" in disposition
    assert response.content[:2] == b"PK"


def test_a_bad_excel_filter_shows_the_error_page(logged_in: TestClient) -> None:
    response = logged_in.get("/report.xlsx", params={"from": "2025-13-01"})
    assert response.status_code == 400
    assert 'data-code="RL512"' in response.text


def test_a_missing_warehouse_is_a_clear_error(demo: Demo, tmp_path: Any) -> None:
    copy = demo.copy(tmp_path)
    client = TestClient(create_app(ServerConfig(warehouse=copy.path)))
    log_in(client, token=demo.token)
    copy.path.unlink()
    response = client.get("/")
    assert response.status_code in (400, 503)
    assert 'data-state="error"' in response.text
