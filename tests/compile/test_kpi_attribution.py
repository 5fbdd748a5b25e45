"""KPIs by marketing dimension under each rule-based attribution model: first touch, last
touch and linear credit, so cost KPIs and ROAS follow the model chosen."""

from __future__ import annotations

import datetime as dt

import pytest

from journeys import deal, journeys_for, load_rows, stage, touch
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Warehouse

START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 31)


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.open(":memory:", create=True)
    journeys_for(
        warehouse,
        {
            # three touches before the lead: linear gives each 1/3
            "ann": [
                touch("paid_search", "2024-03-01"),
                touch("email", "2024-03-02"),
                touch("social", "2024-03-03"),
                stage("lead", "2024-03-04"),
                deal(900, "2024-03-05", closed="2024-03-20", won=True),
            ],
            # one touch: all credit to it under every model
            "bob": [touch("email", "2024-03-10"), stage("lead", "2024-03-11")],
            # no touch: the (none) row keeps the whole conversion
            "cat": [stage("lead", "2024-03-12")],
        },
    )
    load_rows(
        warehouse,
        {
            "spend": [
                {"date": dt.date(2024, 3, 1), "channel": "paid_search", "cost": 300.0},
                {"date": dt.date(2024, 3, 1), "channel": "email", "cost": 100.0},
            ]
        },
    )
    return warehouse


def by_channel(wh: Warehouse, kpi: str, model: str) -> dict[str | None, float | None]:
    query = KpiQuery(kpis=(kpi,), start=START, end=END, by=("channel",), attribution=model)
    rows = run_kpis(wh, query, load_catalog(measures=set(MEASURES))).rows
    return {r["channel"]: r["value"] for r in rows}


def test_leads_under_each_model(wh: Warehouse) -> None:
    # rows exist for the channels that got credit under the model
    assert by_channel(wh, "leads", "first_touch") == {None: 1.0, "email": 1.0, "paid_search": 1.0}
    assert by_channel(wh, "leads", "last_touch") == {None: 1.0, "email": 1.0, "social": 1.0}
    linear = by_channel(wh, "leads", "linear")
    assert linear == pytest.approx(
        {None: 1.0, "email": 1 + 1 / 3, "paid_search": 1 / 3, "social": 1 / 3}
    )
    assert sum(v or 0 for v in linear.values()) == pytest.approx(3.0)  # credit sums to total


def test_cost_per_lead_and_roas_follow_the_model(wh: Warehouse) -> None:
    cpl = by_channel(wh, "cpl", "linear")
    assert cpl["paid_search"] == pytest.approx(300 / (1 / 3))
    assert cpl["email"] == pytest.approx(100 / (4 / 3))
    # ann's 900 won on March 20: her touches are within 90 days before the close
    roas_first = by_channel(wh, "roas", "first_touch")
    roas_linear = by_channel(wh, "roas", "linear")
    assert roas_first["paid_search"] == pytest.approx(900 / 300)
    assert roas_linear["paid_search"] == pytest.approx(300 / 300)
    assert roas_linear["email"] == pytest.approx(300 / 100)
