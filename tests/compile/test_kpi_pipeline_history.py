"""Weighted pipeline in past periods weighs each open deal by the stage it was in at that
period's end (its opportunity stage events), not by the stage the export shows today; on
each engine (`on_engine`)."""

from __future__ import annotations

import datetime as dt

from journeys import deal, journeys_for, load_rows, stage
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES, STAGE_PROBABILITY
from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Warehouse
from two_engines import OnEngine


def test_each_month_end_uses_the_stage_of_that_day(on_engine: OnEngine) -> None:
    wh = Warehouse.open(":memory:", create=True)
    journeys_for(
        wh,
        {
            "ann": [
                stage("lead", "2024-01-02"),
                deal(1000, "2024-01-10", stage_name="negotiation"),  # open, current stage
            ],
            # a deal without stage events keeps its current stage in every period
            "bob": [stage("lead", "2024-01-03"), deal(200, "2024-01-05", stage_name="proposal")],
        },
    )
    load_rows(
        wh,
        {
            "opportunity_stage_events": [
                {"opportunity_id": "ann-o1", "stage": "discovery", "ts": dt.datetime(2024, 1, 10)},
                {"opportunity_id": "ann-o1", "stage": "proposal", "ts": dt.datetime(2024, 2, 15)},
                # on the last day of March: counts for March
                {
                    "opportunity_id": "ann-o1",
                    "stage": "negotiation",
                    "ts": dt.datetime(2024, 3, 31, 18),
                },
            ]
        },
    )
    query = KpiQuery(
        kpis=("weighted_pipeline",),
        start=dt.date(2024, 1, 1),
        end=dt.date(2024, 3, 31),
        grain="month",
    )
    rows = run_kpis(on_engine(wh), query, load_catalog(measures=set(MEASURES))).rows
    got = {r["period_start"].month: r["value"] for r in rows}
    p = STAGE_PROBABILITY
    bob = 200 * p["proposal"]
    assert got == {
        1: 1000 * p["discovery"] + bob,
        2: 1000 * p["proposal"] + bob,
        3: 1000 * p["negotiation"] + bob,
    }
