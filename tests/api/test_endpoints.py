"""Every endpoint answers what the library (and an independent count) says, with the
documented error shape for bad input; targets and imports write through the API."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Warehouse
from revlens.service import catalog_for
from serving import Served

TOOL_FIXTURES = Path(__file__).resolve().parents[1] / "ingest" / "fixtures" / "tools"

RANGE = {"from": "2026-01-01", "to": "2026-06-30"}


def get(served: Served, url: str, **params: Any) -> Any:
    r = served.client.get(url, params=params, headers=served.as_viewer())
    assert r.status_code == 200, r.text
    return r.json()


def test_leads_equal_an_independent_count_of_lead_entries(served: Served) -> None:
    rows = get(served, "/api/kpis", kpi="leads", **RANGE)
    with Warehouse.open(served.path, read_only=True) as wh:
        (count,) = wh.con.execute(
            "SELECT count(DISTINCT contact_id) FROM ("
            "  SELECT contact_id, min(ts) AS first_lead FROM stage_events"
            "  WHERE stage = 'lead' GROUP BY contact_id)"
            " WHERE first_lead >= '2026-01-01' AND first_lead < '2026-07-01'"
        ).fetchone()
    assert len(rows) == 1
    assert rows[0]["value"] == count > 0
    assert rows[0]["period_start"] == "2026-01-01" and rows[0]["period_end"] == "2026-06-30"


def test_kpi_rows_equal_the_library_result(served: Served) -> None:
    rows = get(
        served,
        "/api/kpis",
        kpi="leads,cpl,win_rate",
        grain="month",
        by="channel",
        compare="previous",
        **RANGE,
    )
    with Warehouse.open(served.path, read_only=True) as wh:
        expected = run_kpis(
            wh,
            KpiQuery(
                kpis=("leads", "cpl", "win_rate"),
                start=dt.date(2026, 1, 1),
                end=dt.date(2026, 6, 30),
                grain="month",
                by=("channel",),
                compare="previous",
            ),
            catalog_for(None),
        ).rows
    assert len(rows) == len(expected) > 18
    for got, want in zip(rows, expected, strict=True):
        assert got["kpi"] == want["kpi"] and got["channel"] == want["channel"]
        assert got["period_start"] == want["period_start"].isoformat()
        assert got["value"] == want["value"]
        assert got.get("previous_value") == want.get("previous_value")


def test_a_filter_gives_the_row_of_that_value(served: Served) -> None:
    by = get(served, "/api/kpis", kpi="leads,cpl", by="channel", **RANGE)
    only = get(served, "/api/kpis", kpi="leads,cpl", channel="paid_search", **RANGE)
    want = [
        {k: v for k, v in r.items() if k != "channel"} for r in by if r["channel"] == "paid_search"
    ]
    assert only == want
    assert [r["kpi"] for r in only] == ["leads", "cpl"]


def test_catalog_lists_every_kpi_with_its_definition(served: Served) -> None:
    rows = get(served, "/api/catalog")
    assert len(rows) == len(list(catalog_for(None)))
    cpl = next(r for r in rows if r["id"] == "cpl")
    assert cpl["unit"] == "money" and cpl["direction"] == "down" and cpl["formula"]


def test_funnel_counts_fall_stage_by_stage(served: Served) -> None:
    rows = get(served, "/api/funnel", stages="lead,mql,sql", **RANGE)
    assert [r["stage"] for r in rows] == ["lead", "mql", "sql"]
    counts = [r["count"] for r in rows]
    assert counts[0] >= counts[1] >= counts[2] > 0
    assert rows[1]["conversion_from_first"] == pytest.approx(counts[1] / counts[0], rel=1e-12)
    assert rows[2]["conversion_from_previous"] == pytest.approx(counts[2] / counts[1], rel=1e-12)


def test_attribution_shares_of_each_model_sum_to_one(served: Served) -> None:
    rows = get(served, "/api/attribution", model="first_touch,linear,markov", **RANGE)
    models = {r["model"] for r in rows}
    assert models == {"first_touch", "linear", "markov"}
    for m in models:
        shares = [r["share"] for r in rows if r["model"] == m]
        assert sum(shares) == pytest.approx(1.0, abs=1e-9)


def test_plan_reverse_from_a_goal(served: Served) -> None:
    body = get(
        served,
        "/api/plan",
        revenue_goal=1_200_000,
        average_deal_size=10_000,
        rates="visit_to_lead=0.02,lead_to_mql=0.25,mql_to_sql=0.4,sql_to_opportunity=0.5,"
        "win_rate=0.25",
    )
    counts = {s["stage"]: s["count"] for s in body["stages"]}
    # 1.2M a year = 100k a month = 10 customers; / 0.25 / 0.5 / 0.4 / 0.25 / 0.02
    assert counts["customers"] == pytest.approx(10)
    assert counts["opportunities"] == pytest.approx(40)
    assert counts["visits"] == pytest.approx(40 / 0.5 / 0.4 / 0.25 / 0.02)
    assert body["direction"] == "reverse" and body["targets_saved"] is None


def test_pacing_rows_for_the_months_targets(served: Served) -> None:
    rows = get(served, "/api/pacing")
    assert rows, "the demo sets targets for the newest month"
    assert {r["status"] for r in rows} <= {"on_track", "at_risk", "off_track"}
    assert all(r["target"] > 0 for r in rows)


def test_targets_round_trip(served: Served) -> None:
    c, admin = served.client, served.as_admin()
    body = {
        "kpi": "CPL",
        "target": 80.5,
        "period": "2027-Q1",
        "dimension": "channel",
        "value": "paid_search",
    }
    r = c.post("/api/targets", json=body, headers=admin)
    assert r.status_code == 201
    row = {
        "kpi": "cpl",
        "period_start": "2027-01-01",
        "period_end": "2027-03-31",
        "dimension": "channel",
        "dimension_value": "paid_search",
        "target": 80.5,
    }
    assert r.json() == row
    assert row in get(served, "/api/targets", kpi="cpl")
    r = c.put("/api/targets", json={**body, "target": 75}, headers=admin)
    assert r.json()["target"] == 75
    assert [
        t["target"]
        for t in get(served, "/api/targets", kpi="cpl")
        if t["period_start"] == "2027-01-01"
    ] == [75]
    key = {k: row[k] for k in ("kpi", "period_start", "period_end", "dimension", "dimension_value")}
    r = c.request("DELETE", "/api/targets", json=key, headers=admin)
    assert r.json() == {"deleted": 1}
    r = c.request("DELETE", "/api/targets", json=key, headers=admin)
    assert r.status_code == 404


def test_a_bad_target_names_the_problem_and_the_fix(served: Served) -> None:
    r = served.client.post(
        "/api/targets",
        json={"kpi": "lead", "target": 1, "period": "2027-01"},
        headers=served.as_admin(),
    )
    assert r.status_code == 400
    assert r.json()["error"]["fix"] == "did you mean 'leads'?"
    r = served.client.post(
        "/api/targets",
        json={"kpi": "leads", "target": 1, "period": "27-1"},
        headers=served.as_admin(),
    )
    assert r.json()["error"]["code"] == "RL516"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"kpi": "leads", "from": "2026-13-01"}, "RL512"),
        ({"kpi": "leads", "grain": "fortnight"}, "RL520"),
        ({"kpi": "leads", "by": "colour"}, "RL001"),
        ({"kpi": "leads", "mode": "rolling"}, "RL513"),
        ({"kpi": "leads", "window": "soon"}, "RL511"),
        ({"kpi": "leads", "compare": "week"}, "RL514"),
        ({"kpi": "leads", "attribution": "custom"}, "RL519"),
        ({"kpi": "leads", "from": "2026-06-01", "to": "2026-01-01"}, "RL510"),
        ({"kpi": "leads", "channel": "x", "by": "nope"}, "RL001"),
    ],
)
def test_bad_parameters_are_400_with_code_and_fix(
    served: Served, params: dict[str, str], code: str
) -> None:
    r = served.client.get("/api/kpis", params=params, headers=served.as_viewer())
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and error["fix"]


def test_a_missing_parameter_is_422_in_the_same_shape(served: Served) -> None:
    r = served.client.get("/api/kpis", headers=served.as_viewer())
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "RL020"
    assert "kpi" in r.json()["error"]["message"]


CONTACTS_CSV = (
    "contact_id,created_at,segment,country\n"
    "api-1,2026-01-05,smb,DE\n"
    "api-2,2026-01-06,smb,TR\n"
    "api-3,not a date,smb,DE\n"
)


def upload(served: Served, content: str, **form: str) -> Any:
    files = {"file": ("new contacts.csv", io.BytesIO(content.encode()), "text/csv")}
    return served.client.post("/api/imports", data=form, files=files, headers=served.as_admin())


def count_contacts(served: Served) -> int:
    with Warehouse.open(served.path, read_only=True) as wh:
        return int(wh.con.execute("SELECT count(*) FROM contacts").fetchone()[0])  # type: ignore[index]


def test_an_upload_answers_counts_and_rejects_and_reimports_without_duplicates(
    served: Served,
) -> None:
    before = count_contacts(served)
    r = upload(served, CONTACTS_CSV, table="contacts")
    assert r.status_code == 200, r.text
    (file,) = r.json()["files"]
    assert file["rows_read"] == 3 and file["rows_rejected"] == 1
    (counts,) = file["tables"]
    assert (counts["read"], counts["loaded"], counts["updated"], counts["rejected"]) == (3, 2, 0, 1)
    (reject,) = file["rejects"]
    assert reject["line"] == 4 and reject["column"] == "created_at"
    assert reject["value"] == "not a date" and reject["file"].endswith("new_contacts.csv")
    assert count_contacts(served) == before + 2
    r = upload(served, CONTACTS_CSV, table="contacts")
    (counts,) = r.json()["files"][0]["tables"]
    assert (counts["loaded"], counts["updated"]) == (0, 2)
    assert count_contacts(served) == before + 2
    log = get(served, "/api/imports")
    assert [e["rows_read"] for e in log[:2]] == [3, 3]


def test_an_aborted_upload_changes_nothing(served: Served) -> None:
    before = count_contacts(served)
    r = upload(served, CONTACTS_CSV, table="contacts", on_error="abort")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "RL300"
    assert r.json()["result"]["files"][0]["rows_rejected"] == 1
    assert count_contacts(served) == before


def test_uploads_take_built_in_mappings_only(served: Served) -> None:
    r = upload(served, CONTACTS_CSV, mapping="/etc/passwd")
    assert r.status_code == 400 and r.json()["error"]["code"] == "RL013"
    r = upload(served, CONTACTS_CSV, table="contacts", mapping="hubspot-contacts")
    assert r.status_code == 400 and r.json()["error"]["code"] == "RL010"


def test_an_upload_without_table_or_mapping_is_recognised(served: Served) -> None:
    ga4 = (TOOL_FIXTURES / "ga4-traffic.csv").read_text(encoding="utf-8")
    r = upload(served, ga4)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["files"][0]["mapping"] == "ga4-traffic"
    lines = [line for line in ga4.splitlines() if line.strip() and not line.startswith("#")]
    assert body["files"][0]["tables"][0]["loaded"] == len(lines) - 1  # all but the header
    # a canonical file is no known export: the error names the table and the form fields
    r = upload(served, CONTACTS_CSV)
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "RL114"
    assert "table contacts" in error["message"]
    assert "form field mapping=NAME" in error["fix"] and "revlens import" not in error["fix"]


def test_openapi_documents_every_endpoint_and_docs_load_locally(served: Served) -> None:
    spec = served.client.get("/openapi.json").json()
    for path in (
        "/api/health",
        "/api/kpis",
        "/api/catalog",
        "/api/funnel",
        "/api/attribution",
        "/api/plan",
        "/api/pacing",
        "/api/targets",
        "/api/imports",
        "/api/session",
    ):
        assert path in spec["paths"], path
    assert set(spec["paths"]["/api/targets"]) == {"get", "post", "put", "delete"}
    html = served.client.get("/docs").text
    srcs = [part.split("'")[1] for part in html.split("src=")[1:]]
    hrefs = [part.split("'")[1] for part in html.split("href=")[1:]]
    assert srcs and all(s.startswith("/static/") for s in srcs + hrefs)
    for url in srcs + hrefs:
        assert served.client.get(url).status_code == 200, url
    assert "http" not in html
