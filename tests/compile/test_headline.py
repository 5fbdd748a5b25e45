"""The headline KPIs (the summary `make run` prints) against a pure-Python reference on
hand-built journeys: stage skips and repeats, accounts, FX, open deals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from journeys import Event, deal, journeys_for, load_rows, stage, touch
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

START, END = dt.date(2024, 1, 1), dt.date(2024, 3, 31)

PEOPLE: dict[str, list[Event]] = {
    "alice": [
        stage("lead", "2024-01-05"),
        stage("mql", "2024-01-20"),
        stage("mql", "2024-02-01"),  # a repeat counts once
        stage("sql", "2024-02-10"),
        deal(1000, "2024-02-15", closed="2024-03-01", won=True),
    ],
    "bob": [
        stage("lead", "2024-01-10"),
        stage("sql", "2024-01-25"),  # skips mql
        deal(700, "2024-01-28", closed="2024-03-05", won=False),
    ],
    "carol": [
        stage("lead", "2023-12-20"),
        stage("mql", "2024-01-03"),
        deal(500, "2024-01-10", closed="2024-02-20", won=True, currency="EUR", account="acme"),
    ],
    "dave": [touch("paid_search", "2024-02-02")],  # no lead event: created_at is the lead date
    "erin": [deal(900, "2024-03-01", closed="2024-03-10", won=True, account="acme")],
    "frank": [stage("lead", "2024-03-20"), deal(300, "2024-03-25")],  # open deal
}
FX = [
    {"date": dt.date(2024, 1, 1), "currency": "EUR", "rate": 1.1},
    {"date": dt.date(2024, 2, 15), "currency": "EUR", "rate": 1.2},
]
SPEND = [
    {"date": dt.date(2024, 1, 1), "channel": "paid_search", "cost": 300.0, "currency": "USD"},
    {"date": dt.date(2024, 2, 1), "channel": "display", "cost": 100.0, "currency": "EUR"},
    {"date": dt.date(2024, 4, 1), "channel": "display", "cost": 999.0, "currency": "USD"},
]


def rate(currency: str, day: dt.date) -> float:
    if currency == "USD":
        return 1.0
    known = sorted((r["date"], r["rate"]) for r in FX if r["currency"] == currency)
    before = [r for d, r in known if d <= day]
    return before[-1] if before else known[0][1]


def reference() -> dict[str, float | None]:
    """The same KPIs computed directly from the journeys, in plain Python."""

    def inside(t: dt.datetime | dt.date) -> bool:
        d = t.date() if isinstance(t, dt.datetime) else t
        return START <= d <= END

    first: dict[tuple[str, str], dt.datetime] = {}
    deals: list[dict[str, Any]] = []
    for person, events in PEOPLE.items():
        created = min(e.row.get("ts") or e.row["created_at"] for e in events)
        for e in events:
            if e.table == "stage_events":
                key = (person, e.row["stage"])
                first[key] = min(first.get(key, e.row["ts"]), e.row["ts"])
            if e.table == "opportunities":
                deals.append({"person": person, **e.row})
        first.setdefault((person, "lead"), created)
    count = {
        s: sum(1 for (_, st), t in first.items() if st == s and inside(t))
        for s in ("lead", "mql", "sql")
    }
    closed = [d for d in deals if d["is_won"] is not None and inside(d["closed_at"])]
    won = [d for d in closed if d["is_won"]]
    revenue = sum(d["amount"] * rate(d["currency"], d["closed_at"].date()) for d in won)
    firsts: dict[str, dt.datetime] = {}
    for d in deals:
        if d["is_won"]:
            key = d["account_id"] or d["person"]
            firsts[key] = min(firsts.get(key, d["closed_at"]), d["closed_at"])
    customers = sum(1 for t in firsts.values() if inside(t))
    spend = sum(s["cost"] * rate(s["currency"], s["date"]) for s in SPEND if inside(s["date"]))
    return {
        "leads": count["lead"],
        "mqls": count["mql"],
        "sqls": count["sql"],
        "opportunities": sum(1 for d in deals if inside(d["created_at"])),
        "customers": customers,
        "revenue": revenue,
        "spend": spend,
        "cpl": spend / count["lead"],
        "cac": spend / customers,
        "win_rate": len(won) / len(closed),
    }


HEADLINE = (
    "leads",
    "mqls",
    "sqls",
    "opportunities",
    "customers",
    "revenue",
    "spend",
    "cpl",
    "cac",
    "win_rate",
)


def headline(wh: Reader) -> dict[str, dict[str, Any]]:
    query = KpiQuery(kpis=HEADLINE, start=START, end=END)
    rows = run_kpis(wh, query, load_catalog(measures=set(MEASURES))).rows
    assert len(rows) == len(HEADLINE)
    return {r["kpi"]: r for r in rows}


@pytest.fixture
def warehouse() -> Warehouse:
    wh = Warehouse.open(":memory:", create=True)
    load_rows(wh, {"fx_rates": FX})
    journeys_for(wh, PEOPLE)
    load_rows(wh, {"spend": SPEND})
    return wh


def test_headline_matches_the_reference(warehouse: Warehouse, on_engine: OnEngine) -> None:
    got = {k: r["value"] for k, r in headline(on_engine(warehouse)).items()}
    expected = reference()
    assert got.keys() == expected.keys()
    for kpi, value in expected.items():
        assert got[kpi] == pytest.approx(value, rel=1e-12), kpi


def test_headline_hand_counted(warehouse: Warehouse, on_engine: OnEngine) -> None:
    """The reference itself, checked by hand once: alice, bob, dave, erin, frank are leads in
    range (dave and erin by created_at; carol's lead is in December); carol's EUR 500 closes
    at the 1.2 rate; acme's second win (erin) is not a new customer; spend is 300 + 100 EUR
    at 1.1 on Feb 1."""
    got = headline(on_engine(warehouse))
    assert got["leads"]["value"] == 5
    assert got["mqls"]["value"] == 2  # alice once despite the repeat, carol; bob skipped MQL
    assert got["sqls"]["value"] == 2
    assert got["customers"]["value"] == 2  # alice, acme (carol's deal first)
    assert got["revenue"]["value"] == pytest.approx(1000 + 500 * 1.2 + 900)
    assert got["spend"]["value"] == pytest.approx(300 + 110)
    assert got["win_rate"]["numerator"] == 3 and got["win_rate"]["denominator"] == 4
    assert got["cac"]["value"] == pytest.approx(410 / 2)


def test_zero_denominators_give_none(on_engine: OnEngine) -> None:
    wh = Warehouse.open(":memory:", create=True)
    got = headline(on_engine(wh))
    assert got["cpl"]["value"] is None and got["cpl"]["denominator"] == 0
    assert got["cac"]["value"] is None
    assert got["win_rate"]["value"] is None
    assert got["spend"]["value"] == 0 and got["leads"]["value"] == 0
