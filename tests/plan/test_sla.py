"""The SLA on hand-built journeys: MQLs followed up in 23 h, 24 h, 25 h and never; inbound
answered in 1, 2, 3, 4 minutes and never; outcome shares; per owner; the breach list; the
numbers against the catalogue KPIs; the config file; `revlens sla` as a user runs it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import revlens.cli.commands_ops  # noqa: F401  (registers `revlens sla` on the app)
from journeys import activity, inbound, journeys_for, load_rows, stage, ts
from revlens.catalog.spec import Catalog, load_catalog
from revlens.cli.app import app
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError
from revlens.model.warehouse import Warehouse
from revlens.plan.sla import SlaConfig, human_minutes, load_sla_config, months_in, sla_report

MARCH, APRIL_END = dt.date(2024, 3, 1), dt.date(2024, 4, 30)
OWNERS = {"ann": "olga", "bob": "olga", "eve": "olga", "cid": "pete", "dan": "pete"}
OWNERS |= {"fay": "pete", "gus": "pete"}


def set_owners(wh: Warehouse, owners: dict[str, str]) -> None:
    """Give loaded contacts an owner (re-import by contact_id, keeping created_at)."""
    created = dict(wh.con.execute("SELECT contact_id, created_at FROM contacts").fetchall())
    load_rows(
        wh,
        {
            "contacts": [
                {"contact_id": c, "created_at": created[c], "owner": o} for c, o in owners.items()
            ]
        },
    )


def build(wh: Warehouse) -> None:
    """March: 5 MQLs (ann 23 h, bob 25 h, cid never, dan 1 h by an accepted status change
    after an earlier call, gus exactly 24 h after a rejected status change); 5 inbound
    requests (2, 4, never, 1 (no contact), 3 minutes; outcomes meeting, none, -, qualified,
    Opportunity). April: eve followed up in 3 h, fay not yet (due after the newest data)."""
    journeys_for(
        wh,
        {
            "ann": [
                stage("lead", "2024-03-01"),
                stage("mql", "2024-03-04T09:00"),
                activity("call", "2024-03-05T08:00"),
                inbound("2024-03-04T08:00", "2024-03-04T08:02", outcome="meeting"),
            ],
            "bob": [
                stage("mql", "2024-03-05T10:00"),
                activity("call", "2024-03-06T11:00"),
                inbound("2024-03-05T08:00", "2024-03-05T08:04", outcome="none"),
            ],
            "cid": [stage("mql", "2024-03-06T12:00"), inbound("2024-03-06T08:00")],
            "dan": [
                activity("call", "2024-03-09T09:00"),
                stage("mql", "2024-03-10T09:00"),
                activity("status_change", "2024-03-10T10:00", outcome="accepted"),
                inbound("2024-03-11T08:00", "2024-03-11T08:03", outcome="Opportunity"),
            ],
            "gus": [
                stage("mql", "2024-03-20T09:00"),
                activity("status_change", "2024-03-20T10:00", outcome="rejected"),
                activity("meeting", "2024-03-21T09:00"),
            ],
            "eve": [stage("mql", "2024-04-02T09:00"), activity("email", "2024-04-02T12:00")],
            "fay": [stage("mql", "2024-04-02T11:00")],
        },
    )
    load_rows(
        wh,
        {
            "inbound_requests": [
                {
                    "request_id": "web-1",
                    "received_at": ts("2024-03-07T08:00"),
                    "first_response_at": ts("2024-03-07T08:01"),
                    "outcome": "qualified",
                }
            ]
        },
    )
    set_owners(wh, OWNERS)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder: no ./revlens.yml but the one a test writes."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def wh() -> Any:
    w = Warehouse.open(":memory:", create=True)
    build(w)
    yield w
    w.close()


def items_of(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    """Rows by the values of `keys` (a tuple, or the value itself for one key)."""
    out = {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}
    assert len(out) == len(rows)
    return out


def summary(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["actual"], row["compliant"], row["numerator"], row["denominator"])


def test_compliance_per_month(wh: Warehouse) -> None:
    report = sla_report(wh, SlaConfig(mqls_per_month=4), start=MARCH, end=APRIL_END)
    assert report.as_of == dt.datetime(2024, 4, 2, 12, 0)  # eve's email: the newest SLA data
    got = items_of(report.items, "period_start", "item")
    march, april = MARCH, dt.date(2024, 4, 1)
    assert [r["item"] for r in report.items[:4]] == [
        "mql_volume",
        "mql_followup",
        "inbound_response",
        "inbound_outcome",
    ]
    # 5 MQLs against 4 committed; 2 in April against 4
    assert summary(got[(march, "mql_volume")]) == (5.0, True, 5, None)
    assert got[(march, "mql_volume")]["target"] == 4.0
    assert summary(got[(april, "mql_volume")]) == (2.0, False, 2, None)
    # ann 23 h, dan 1 h, gus 24 h kept; bob 25 h late; cid never
    followup = got[(march, "mql_followup")]
    assert summary(followup) == (0.6, False, 3, 5)
    assert (followup["target"], followup["breaches"], followup["pending"]) == (1.0, 2, 0)
    # inbound: 2, 1 and 3 minutes kept; 4 minutes late; one never answered
    response = got[(march, "inbound_response")]
    assert summary(response) == (0.6, False, 3, 5)
    assert (response["breaches"], response["pending"]) == (2, 0)
    # outcomes: meeting, qualified, Opportunity of 5 = 60 % < 70 %
    outcome = got[(march, "inbound_outcome")]
    assert summary(outcome) == (0.6, False, 3, 5)
    assert (outcome["target"], outcome["breaches"]) == (0.7, None)
    # April: eve kept, fay not yet due (pending: counted against the share, not a breach)
    assert summary(got[(april, "mql_followup")]) == (0.5, False, 1, 2)
    assert (got[(april, "mql_followup")]["breaches"], got[(april, "mql_followup")]["pending"]) == (
        0,
        1,
    )
    # no inbound in April: nothing to keep, nothing broken
    assert summary(got[(april, "inbound_response")]) == (None, True, 0, 0)
    assert summary(got[(april, "inbound_outcome")]) == (None, True, 0, 0)


def test_breach_list(wh: Warehouse) -> None:
    report = sla_report(wh, start=MARCH, end=APRIL_END)
    t = ts
    assert report.breaches == [
        {
            "kind": "inbound_response",
            "record_id": "bob-r2",
            "contact_id": "bob",
            "owner": "olga",
            "period_start": MARCH,
            "at": t("2024-03-05T08:00"),
            "due_at": t("2024-03-05T08:03"),
            "done_at": t("2024-03-05T08:04"),
            "status": "late",
            "response_minutes": 4.0,
            "late_minutes": 1.0,
        },
        {
            "kind": "mql_followup",
            "record_id": "bob",
            "contact_id": "bob",
            "owner": "olga",
            "period_start": MARCH,
            "at": t("2024-03-05T10:00"),
            "due_at": t("2024-03-06T10:00"),
            "done_at": t("2024-03-06T11:00"),
            "status": "late",
            "response_minutes": 1500.0,
            "late_minutes": 60.0,
        },
        {
            "kind": "inbound_response",
            "record_id": "cid-r1",
            "contact_id": "cid",
            "owner": "pete",
            "period_start": MARCH,
            "at": t("2024-03-06T08:00"),
            "due_at": t("2024-03-06T08:03"),
            "done_at": None,
            "status": "missing",
            "response_minutes": None,
            # overdue as of the newest data, 2024-04-02 12:00: 27 days 3 h 57 min
            "late_minutes": 27 * 1440 + 3 * 60 + 57.0,
        },
        {
            "kind": "mql_followup",
            "record_id": "cid",
            "contact_id": "cid",
            "owner": "pete",
            "period_start": MARCH,
            "at": t("2024-03-06T12:00"),
            "due_at": t("2024-03-07T12:00"),
            "done_at": None,
            "status": "missing",
            "response_minutes": None,
            "late_minutes": 26 * 1440.0,
        },
    ]


def test_as_of_tells_missing_from_pending(wh: Warehouse) -> None:
    """fay's MQL (04-02 11:00) is due 04-03 11:00: pending before, missing after."""
    before = sla_report(wh, start=dt.date(2024, 4, 1), end=APRIL_END)
    assert [b["record_id"] for b in before.breaches] == []
    after = sla_report(
        wh, start=dt.date(2024, 4, 1), end=APRIL_END, as_of=dt.datetime(2024, 4, 3, 12, 0)
    )
    assert [(b["record_id"], b["status"], b["late_minutes"]) for b in after.breaches] == [
        ("fay", "missing", 60.0)
    ]
    row = items_of(after.items, "item")["mql_followup"]
    assert (row["actual"], row["breaches"], row["pending"]) == (0.5, 1, 0)


def test_per_owner(wh: Warehouse) -> None:
    report = sla_report(wh, SlaConfig(mqls_per_month=4), start=MARCH, end=APRIL_END, by_owner=True)
    got = items_of(report.items, "period_start", "owner", "item")
    march, april = MARCH, dt.date(2024, 4, 1)
    # the volume commitment is marketing's, not an owner's: not in per-owner rows
    assert {r["item"] for r in report.items} == {
        "mql_followup",
        "inbound_response",
        "inbound_outcome",
    }
    assert summary(got[(march, "olga", "mql_followup")]) == (0.5, False, 1, 2)
    assert summary(got[(march, "pete", "mql_followup")]) == (2 / 3, False, 2, 3)
    assert summary(got[(march, None, "mql_followup")]) == (None, True, 0, 0)
    assert summary(got[(march, "olga", "inbound_response")]) == (0.5, False, 1, 2)
    assert summary(got[(march, "pete", "inbound_response")]) == (0.5, False, 1, 2)
    # the request without a contact has no owner
    assert summary(got[(march, None, "inbound_response")]) == (1.0, True, 1, 1)
    assert summary(got[(march, None, "inbound_outcome")]) == (1.0, True, 1, 1)
    assert summary(got[(march, "olga", "inbound_outcome")]) == (0.5, False, 1, 2)
    assert summary(got[(april, "olga", "mql_followup")]) == (1.0, True, 1, 1)
    assert summary(got[(april, "pete", "mql_followup")]) == (0.0, False, 0, 1)
    assert got[(april, "pete", "mql_followup")]["pending"] == 1
    # every period x every owner seen: a complete grid
    assert len(report.items) == 2 * 3 * 3


def test_configured_limits(wh: Warehouse) -> None:
    """25.5 h lets bob's 25 h follow-up pass; 4 min lets bob's 4 min answer pass; 60 %
    outcome share is met."""
    config = SlaConfig(
        mql_followup_hours=25.5,
        inbound_response_minutes=4,
        inbound_outcome_share=0.6,
        mql_followup_share=0.75,
    )
    report = sla_report(wh, config, start=MARCH, end=dt.date(2024, 3, 31), grain=None)
    got = items_of(report.items, "item")
    assert summary(got["mql_followup"]) == (0.8, True, 4, 5)
    assert summary(got["inbound_response"]) == (0.8, False, 4, 5)
    assert summary(got["inbound_outcome"]) == (0.6, True, 3, 5)
    assert [(b["kind"], b["record_id"]) for b in report.breaches] == [
        ("inbound_response", "cid-r1"),
        ("mql_followup", "cid"),
    ]


def with_params(catalog: Catalog, kpi: str, **params: float) -> Catalog:
    kpis = dict(catalog.kpis)
    spec = kpis[kpi]
    kpis[kpi] = spec.model_copy(update={"params": {**spec.params, **params}})
    return Catalog(kpis)


KPIS = ("mqls", "sla_mql_followup", "inbound_within_sla", "inbound_outcome_rate")


@pytest.mark.parametrize(("hours", "minutes", "by_owner"), [(24, 3, False), (25.5, 4, True)])
def test_numbers_agree_with_the_catalogue(
    wh: Warehouse, by_owner: bool, hours: float, minutes: float
) -> None:
    catalog = load_catalog(measures=set(MEASURES))
    catalog = with_params(catalog, "sla_mql_followup", sla_hours=hours)
    catalog = with_params(catalog, "inbound_within_sla", sla_minutes=minutes)
    by = ("owner",) if by_owner else ()
    for grain in (Grain.month, Grain.week, None):
        query = KpiQuery(kpis=KPIS, start=MARCH, end=APRIL_END, grain=grain, by=by)
        kpi_rows = {
            (r["kpi"], r["period_start"], r.get("owner")): r
            for r in run_kpis(wh, query, catalog).rows
        }
        config = SlaConfig(
            mqls_per_month=1, mql_followup_hours=hours, inbound_response_minutes=minutes
        )
        report = sla_report(wh, config, start=MARCH, end=APRIL_END, grain=grain, by_owner=by_owner)
        compared = 0
        for item in report.items:
            key = (item["period_start"], item.get("owner"))
            if item["item"] == "mql_volume":
                assert kpi_rows[("mqls", *key)]["value"] == item["actual"]
            else:
                kpi = kpi_rows.get((item["kpi"], *key))
                if kpi is None:  # the KPI grid holds only owners its own measures saw
                    assert item["denominator"] == 0
                    continue
                assert kpi["value"] == item["actual"], (item, kpi)
                assert (kpi["numerator"], kpi["denominator"]) == (
                    item["numerator"],
                    item["denominator"],
                )
            compared += 1
        assert compared > 0


def test_months_in() -> None:
    assert months_in(dt.date(2024, 3, 1), dt.date(2024, 3, 31)) == 1
    assert months_in(dt.date(2024, 1, 1), dt.date(2024, 12, 31)) == 12
    assert months_in(dt.date(2024, 4, 16), dt.date(2024, 4, 30)) == 0.5
    assert months_in(dt.date(2024, 2, 15), dt.date(2024, 3, 31)) == pytest.approx(1 + 15 / 29)


def test_human_minutes() -> None:
    assert [human_minutes(m) for m in (None, 1.0, 60.0, 61.0, 1500.0, 37440.0)] == [
        "",
        "1 min",
        "1 h",
        "1 h 1 min",
        "1 d 1 h",
        "26 d",
    ]


# -- configuration ---------------------------------------------------------------------
def test_config_defaults_and_file(tmp_path: Path) -> None:
    assert load_sla_config(None) == SlaConfig(
        mqls_per_month=None,
        mql_followup_hours=24,
        inbound_response_minutes=3,
        inbound_outcome_share=0.7,
    )
    path = tmp_path / "revlens.yml"
    path.write_text("kpis: []\n", encoding="utf-8")
    assert load_sla_config(path) == SlaConfig()
    path.write_text(
        "sla:\n  mqls_per_month: 120\n  mql_followup_hours: 4\n  inbound_outcome_share: 65%\n",
        encoding="utf-8",
    )
    assert load_sla_config(path) == SlaConfig(
        mqls_per_month=120, mql_followup_hours=4, inbound_outcome_share=0.65
    )


def test_config_problems_are_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "revlens.yml"
    path.write_text(
        "sla:\n  mql_followup_hours: -1\n  inbound_outcome_share: 1.5\n  mql_folowup: 3\n",
        encoding="utf-8",
    )
    with pytest.raises(RevlensError) as info:
        load_sla_config(path)
    err = info.value
    assert err.code == "RL802"
    assert err.where == f"{path}: sla"
    assert "mql_followup_hours: Input should be greater than 0" in err.message
    assert "inbound_outcome_share: Input should be less than or equal to 1" in err.message
    assert "mql_folowup: Extra inputs are not permitted" in err.message
    assert err.fix and "mql_followup_hours" in err.fix
    with pytest.raises(RevlensError) as missing:
        load_sla_config(tmp_path / "nope.yml")
    assert missing.value.code == "RL800"
    path.write_text("sla: [1, 2\n", encoding="utf-8")
    with pytest.raises(RevlensError) as bad:
        load_sla_config(path)
    assert bad.value.code == "RL801"


# -- the command -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def wh_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sla") / "w.duckdb"
    with Warehouse.open(path, create=True) as w:
        build(w)
    return path


def invoke(path: Path, *args: str) -> Any:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--warehouse", str(path), *args])


def test_cli_json(wh_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "sla.yml"
    config.write_text("sla:\n  mqls_per_month: 4\n", encoding="utf-8")
    done = invoke(
        wh_file,
        "sla",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--config",
        str(config),
        "--format",
        "json",
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["from"], data["to"], data["grain"], data["by"]) == (
        "2024-03-01",
        "2024-03-31",
        "month",
        [],
    )
    assert data["config"]["mqls_per_month"] == 4
    followup = next(r for r in data["items"] if r["item"] == "mql_followup")
    assert followup == {
        "period_start": "2024-03-01",
        "period_end": "2024-03-31",
        "item": "mql_followup",
        "kpi": "sla_mql_followup",
        "rule": "sales follows up each MQL within 24 h",
        "unit": "percent",
        "target": 1.0,
        "actual": 0.6,
        "compliant": False,
        "numerator": 3,
        "denominator": 5,
        "breaches": 2,
        "pending": 0,
    }
    assert [(b["kind"], b["record_id"], b["late_minutes"]) for b in data["breaches"][:2]] == [
        ("inbound_response", "bob-r2", 1.0),
        ("mql_followup", "bob", 60.0),
    ]
    assert data["breaches"][1]["at"] == "2024-03-05T10:00:00"


def test_cli_reads_the_project_file(wh_file: Path, tmp_path: Path) -> None:
    (tmp_path / "revlens.yml").write_text("sla: {mql_followup_hours: 25.5}\n", encoding="utf-8")
    done = invoke(wh_file, "sla", "--from", "2024-03-01", "--to", "2024-03-31", "-f", "json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["config"]["mql_followup_hours"] == 25.5
    followup = next(r for r in data["items"] if r["item"] == "mql_followup")
    assert (followup["actual"], followup["breaches"]) == (0.8, 1)


def test_cli_table_by_owner_and_breaches(wh_file: Path) -> None:
    done = invoke(
        wh_file, "sla", "--from", "2024-03-01", "--to", "2024-03-31", "--by", "owner", "--breaches"
    )
    assert done.exit_code == 0, done.output
    assert "olga" in done.stdout and "pete" in done.stdout and "(none)" in done.stdout
    assert "4 breaching records" in done.stdout
    assert "1 h" in done.stdout  # bob's follow-up: 1 h late


def test_cli_csv_breaches(wh_file: Path) -> None:
    done = invoke(
        wh_file, "sla", "--from", "2024-03-01", "--to", "2024-03-31", "--breaches", "-f", "csv"
    )
    assert done.exit_code == 0, done.output
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("kind,record_id,contact_id,owner,")
    assert len(lines) == 1 + 4


def test_cli_bad_by_is_one_error(wh_file: Path) -> None:
    done = invoke(wh_file, "sla", "--by", "channel")
    assert done.exit_code != 0
    assert isinstance(done.exception, RevlensError)
    assert done.exception.code == "RL803"
