"""An opportunity without an amount (a CRM deal nobody priced) is an unknown amount, not 0:
it loads with a warning, counts in win rate, customers and deal counts, and adds nothing to
revenue or pipeline value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.ingest.load import import_files
from revlens.model.warehouse import Warehouse

Writer = Callable[[str, str | bytes], Path]

OPPS = (
    "opportunity_id,contact_id,created_at,closed_at,is_won,amount,stage\n"
    "o1,a,2024-01-02,2024-02-01,true,100,won\n"
    "o2,b,2024-01-03,2024-02-02,true,,won\n"  # won, amount unknown
    "o3,c,2024-01-04,2024-02-03,false,,lost\n"
    "o4,d,2024-01-05,,,,open\n"  # open, amount unknown
    "o5,e,2024-01-06,,,50,open\n"
)


def test_an_unknown_amount_counts_in_win_rate_not_in_revenue(
    warehouse: Warehouse, write: Writer
) -> None:
    result = import_files(warehouse, [write("opps.csv", OPPS)], table="opportunities")
    assert result.rows_rejected == 0
    assert (
        "3 opportunities have no amount (e.g. o2): an unknown amount counts in win rate and "
        "deal counts, not in revenue or pipeline value"
    ) in result.files[0].warnings
    query = KpiQuery(
        kpis=("win_rate", "customers", "revenue", "average_deal_size", "pipeline_value"),
        start=dt.date(2024, 2, 1),
        end=dt.date(2024, 2, 29),
    )
    rows = {
        r["kpi"]: r for r in run_kpis(warehouse, query, load_catalog(measures=set(MEASURES))).rows
    }
    assert (rows["win_rate"]["numerator"], rows["win_rate"]["denominator"]) == (2, 3)
    assert rows["customers"]["value"] == 2
    assert rows["revenue"]["value"] == pytest.approx(100.0)
    assert rows["pipeline_value"]["value"] == pytest.approx(50.0)
    # average deal size is revenue over every won deal: an unknown amount lowers it (the
    # warning says how many deals are unpriced)
    assert rows["average_deal_size"]["value"] == pytest.approx(100.0 / 2)
