"""Fully loaded CAC: marketing spend plus sales cost (spend rows of channel "sales") per new
customer, against a hand count; the sales cost never leaks into marketing spend. On each
engine (`reader`: the warehouse on DuckDB, its lake on Spark)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from journeys import deal, journeys_for, load_rows, stage, touch
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

MARCH = (dt.date(2024, 3, 1), dt.date(2024, 3, 31))
EUR_RATE = 1.1


@pytest.fixture(scope="module")
def wh() -> Iterator[Warehouse]:
    warehouse = Warehouse.open(":memory:", create=True)
    load_rows(
        warehouse,
        {"fx_rates": [{"date": dt.date(2024, 3, 1), "currency": "EUR", "rate": EUR_RATE}]},
    )
    journeys_for(
        warehouse,
        {
            "ann": [
                touch("paid_search", "2024-03-01"),
                stage("lead", "2024-03-02"),
                stage("customer", "2024-03-20"),
                deal(900, "2024-03-05", closed="2024-03-20", won=True),
            ],
            "bob": [
                stage("lead", "2024-03-03"),
                stage("customer", "2024-03-25"),
                deal(400, "2024-03-10", closed="2024-03-25", won=True),
            ],
        },
    )
    load_rows(
        warehouse,
        {
            "spend": [
                {"date": dt.date(2024, 3, 1), "channel": "paid_search", "cost": 300.0},
                {"date": dt.date(2024, 3, 1), "channel": "sales", "cost": 1000.0},
                {
                    "date": dt.date(2024, 3, 15),
                    "channel": "sales",
                    "campaign": "sdr-tools",
                    "cost": 100.0,
                    "currency": "EUR",
                },
                {"date": dt.date(2024, 4, 1), "channel": "sales", "cost": 5000.0},
            ]
        },
    )
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="module")
def reader(on_engine: OnEngine, wh: Warehouse) -> Reader:
    return on_engine(wh)


def values(wh: Reader, kpis: tuple[str, ...], by: tuple[str, ...] = ()) -> dict[Any, Any]:
    query = KpiQuery(kpis=kpis, start=MARCH[0], end=MARCH[1], by=by)
    rows = run_kpis(wh, query, load_catalog(measures=set(MEASURES))).rows
    return {(r["kpi"], *(r[d] for d in by)): r["value"] for r in rows}


def test_fully_loaded_cac_adds_the_sales_cost(reader: Reader) -> None:
    got = values(reader, ("spend", "sales_cost", "cac", "cac_fully_loaded"))
    sales = 1000.0 + 100.0 * EUR_RATE  # April's 5,000 is outside the range
    assert got[("spend",)] == pytest.approx(300.0)  # marketing only
    assert got[("sales_cost",)] == pytest.approx(sales)
    assert got[("cac",)] == pytest.approx(300.0 / 2)
    assert got[("cac_fully_loaded",)] == pytest.approx((300.0 + sales) / 2)


def test_by_channel_the_sales_cost_stays_on_its_row(reader: Reader) -> None:
    got = values(reader, ("cac", "cac_fully_loaded", "sales_cost"), by=("channel",))
    assert got[("cac_fully_loaded", "paid_search")] == pytest.approx(300.0)  # ann
    assert got[("cac", "paid_search")] == pytest.approx(300.0)
    assert got[("sales_cost", "sales")] == pytest.approx(1000.0 + 100.0 * EUR_RATE)
    assert got[("cac_fully_loaded", "sales")] is None  # no customer is first-touched to it
