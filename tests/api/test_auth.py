"""Who may call what: tokens (none, wrong, revoked, viewer vs admin), dashboard sessions
(cookie flags, expiry, revocation), CSRF on cookie writes, and the login rate limit."""

from __future__ import annotations

import pytest

from revlens.api import credentials
from revlens.model.warehouse import Warehouse
from serving import PASSWORD, Served

RATES = "visit_to_lead=0.02,lead_to_mql=0.3,mql_to_sql=0.4,sql_to_opportunity=0.5,win_rate=0.25"
READS = [
    "/api/catalog",
    "/api/kpis?kpi=leads",
    "/api/funnel",
    "/api/attribution?model=first_touch",
    "/api/plan?visits=1000&rates=" + RATES,
    "/api/pacing",
    "/api/targets",
    "/api/imports",
]
TARGET = {"kpi": "leads", "target": 120, "period": "2026-01"}


def test_health_needs_no_token(served: Served) -> None:
    r = served.client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": "0.1.0"}


@pytest.mark.parametrize("url", READS)
def test_every_read_without_a_token_is_401(served: Served, url: str) -> None:
    r = served.client.get(url)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "HTTP401"


@pytest.mark.parametrize("header", ["Bearer nope", "Basic abc", "Bearer ", "token"])
def test_a_wrong_or_malformed_token_is_401(served: Served, header: str) -> None:
    r = served.client.get("/api/catalog", headers={"Authorization": header})
    assert r.status_code == 401


@pytest.mark.parametrize("url", READS)
def test_viewers_read_everything(served: Served, url: str) -> None:
    assert served.client.get(url, headers=served.as_viewer()).status_code == 200


def test_writes_need_the_admin_role(served: Served) -> None:
    c, viewer = served.client, served.as_viewer()
    assert c.post("/api/targets", json=TARGET, headers=viewer).status_code == 403
    assert c.put("/api/targets", json=TARGET, headers=viewer).status_code == 403
    key = {"kpi": "leads", "period_start": "2026-01-01", "period_end": "2026-01-31"}
    assert c.request("DELETE", "/api/targets", json=key, headers=viewer).status_code == 403
    files = {"file": ("c.csv", b"contact_id,created_at\nx,2025-01-01\n", "text/csv")}
    r = c.post("/api/imports", data={"table": "contacts"}, files=files, headers=viewer)
    assert r.status_code == 403
    assert "admin" in r.json()["error"]["message"]
    plan = "/api/plan?visits=1000&start=2027-01&rates=" + RATES
    assert c.post(plan, headers=viewer).status_code == 403
    assert c.post("/api/targets", json=TARGET, headers=served.as_admin()).status_code == 201


def test_a_revoked_token_stops_at_once(served: Served) -> None:
    assert served.client.get("/api/catalog", headers=served.as_viewer()).status_code == 200
    with Warehouse.open(served.path) as wh:
        assert credentials.revoke_token(wh, served.viewer_id) == 1
    assert served.client.get("/api/catalog", headers=served.as_viewer()).status_code == 401


def test_tokens_are_stored_only_as_hashes(served: Served) -> None:
    with Warehouse.open(served.path, read_only=True) as wh:
        stored = wh.con.execute("SELECT * FROM api_tokens").fetchall()
        users = wh.con.execute("SELECT password_hash FROM api_users").fetchall()
    flat = repr(stored) + repr(users)
    assert served.admin not in flat and served.viewer not in flat and PASSWORD not in flat
    assert all(u[0].startswith("scrypt$16384$8$1$") for u in users)


def login(served: Served, **body: str) -> str:
    r = served.client.post("/api/session", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_a_login_sets_a_signed_httponly_samesite_cookie(served: Served) -> None:
    r = served.client.post("/api/session", json={"user": "vic", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["name"] == "vic" and r.json()["role"] == "viewer"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("revlens_session=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert served.client.get("/api/kpis?kpi=leads").status_code == 200
    served.client.cookies.set("revlens_session", "forged.value.here")
    assert served.client.get("/api/kpis?kpi=leads").status_code == 401


def test_a_session_expires(served: Served) -> None:
    login(served, token=served.viewer)
    assert served.client.get("/api/catalog").status_code == 200
    served.clock.now += 8 * 3600 + 1
    r = served.client.get("/api/catalog")
    assert r.status_code == 401
    assert served.client.get("/api/session").status_code == 401


def test_a_session_made_with_a_token_ends_when_it_is_revoked(served: Served) -> None:
    login(served, token=served.viewer)
    assert served.client.get("/api/catalog").status_code == 200
    with Warehouse.open(served.path) as wh:
        credentials.revoke_token(wh, "viewer")
    assert served.client.get("/api/catalog").status_code == 401


def test_a_deleted_users_session_ends(served: Served) -> None:
    login(served, user="vic", password=PASSWORD)
    with Warehouse.open(served.path) as wh:
        credentials.delete_user(wh, "vic")
    assert served.client.get("/api/catalog").status_code == 401


def test_cookie_writes_need_the_csrf_token(served: Served) -> None:
    csrf = login(served, user="ana", password=PASSWORD)
    c = served.client
    r = c.post("/api/targets", json=TARGET)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]["message"]
    assert c.post("/api/targets", json=TARGET, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    r = c.post("/api/targets", json=TARGET, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert c.get("/api/session").json()["csrf_token"] == csrf


def test_bearer_writes_need_no_csrf_token(served: Served) -> None:
    r = served.client.post("/api/targets", json=TARGET, headers=served.as_admin())
    assert r.status_code == 201


def test_logout_ends_the_session(served: Served) -> None:
    login(served, token=served.viewer)
    assert served.client.delete("/api/session").status_code == 204
    assert served.client.get("/api/catalog").status_code == 401


def test_failed_logins_are_rate_limited_per_client(served: Served) -> None:
    c = served.client
    for _ in range(5):
        r = c.post("/api/session", json={"user": "vic", "password": "wrong password"})
        assert r.status_code == 401
    r = c.post("/api/session", json={"user": "vic", "password": PASSWORD})
    assert r.status_code == 429  # even the right password waits
    assert 1 <= int(r.headers["retry-after"]) <= 61
    served.clock.now += 61
    assert c.post("/api/session", json={"user": "vic", "password": PASSWORD}).status_code == 200


def test_unknown_users_and_wrong_passwords_look_the_same(served: Served) -> None:
    a = served.client.post("/api/session", json={"user": "nobody", "password": "x" * 12})
    b = served.client.post("/api/session", json={"user": "vic", "password": "x" * 12})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_pages_carry_security_headers(served: Served) -> None:
    r = served.client.get("/api/health")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


def test_a_non_ascii_csrf_header_is_refused_not_a_crash(served: Served) -> None:
    login(served, user="ana", password=PASSWORD)
    weird = {"X-CSRF-Token": "çöğ".encode()}
    r = served.client.post("/api/targets", json=TARGET, headers=weird)  # type: ignore[arg-type]
    assert r.status_code == 403
