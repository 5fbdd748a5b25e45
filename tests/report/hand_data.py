"""A hand-made warehouse for the report tests: four contacts in Q1 2024 whose KPIs, funnel
and attribution are counted by hand in the tests."""

from __future__ import annotations

import datetime as dt

from journeys import deal, journeys_for, load_rows, stage, touch
from revlens.model.warehouse import Warehouse

GENERATED = dt.datetime(2024, 4, 2, 9, 30, tzinfo=dt.UTC)
HAND_FROM, HAND_TO = dt.date(2024, 1, 1), dt.date(2024, 3, 31)


def fill_hand(wh: Warehouse) -> None:
    """Four contacts in Q1 2024, counted by hand in the tests:
    ann  paid_search -> lead, mql, sql, opportunity, won 1000 on 2024-02-10
    bob  email, paid_search -> lead, mql, opportunity, won 500 on 2024-03-01
    cid  email -> lead
    dan  organic_search -> lead, mql, opportunity, lost
    spend: paid_search 600, email 150, display 100; targets for the quarter: leads 5,
    cpl 200 (lower is better), revenue 2000."""
    journeys_for(
        wh,
        {
            "ann": [
                touch("paid_search", "2024-01-02"),
                stage("lead", "2024-01-03"),
                stage("mql", "2024-01-10"),
                stage("sql", "2024-01-20"),
                deal(1000, "2024-01-25", closed="2024-02-10", won=True),
            ],
            "bob": [
                touch("email", "2024-01-05"),
                touch("paid_search", "2024-02-01"),
                stage("lead", "2024-02-02"),
                stage("mql", "2024-02-05"),
                deal(500, "2024-02-10", closed="2024-03-01", won=True),
            ],
            "cid": [touch("email", "2024-02-11"), stage("lead", "2024-02-12")],
            "dan": [
                touch("organic_search", "2024-03-01"),
                stage("lead", "2024-03-02"),
                stage("mql", "2024-03-05"),
                deal(300, "2024-03-06", closed="2024-03-20", won=False),
            ],
        },
    )
    load_rows(
        wh,
        {
            "spend": [
                {"date": dt.date(2024, 1, 15), "channel": "paid_search", "cost": 600.0},
                {"date": dt.date(2024, 2, 15), "channel": "email", "cost": 150.0},
                {"date": dt.date(2024, 3, 1), "channel": "display", "cost": 100.0},
            ],
            "targets": [
                {
                    "kpi": kpi,
                    "period_start": HAND_FROM,
                    "period_end": HAND_TO,
                    "target": target,
                }
                for kpi, target in (("leads", 5.0), ("cpl", 200.0), ("revenue", 2000.0))
            ],
        },
    )
