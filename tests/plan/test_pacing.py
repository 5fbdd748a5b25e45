"""Pacing on hand-built pipelines: the projection and the probability of reaching the target
against a separate computation, and the statuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from journeys import deal, journeys_for, load_rows, stage
from revlens.model.warehouse import Warehouse
from revlens.plan.pacing import close_probability, pacing_rows

AS_OF = dt.date(2025, 3, 20)  # 11 days of March left


def history() -> dict[str, list[Any]]:
    """Ten deals closed in the past year: five won after exactly 10 days (100 each), five
    lost; two deals open since March 15 (1,000 each)."""
    people: dict[str, list[Any]] = {}
    for i in range(4):
        people[f"w{i}"] = [deal(100, f"2025-01-0{i + 1}", closed=f"2025-01-{i + 11}", won=True)]
    people["w4"] = [deal(100, "2025-02-23", closed="2025-03-05", won=True)]
    for i in range(5):
        people[f"l{i}"] = [deal(50, f"2025-01-0{i + 1}", closed=f"2025-01-2{i}", won=False)]
    people["o1"] = [deal(1000, "2025-03-15")]
    people["o2"] = [deal(1000, "2025-03-15")]
    return people


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.open(":memory:", create=True)
    journeys_for(warehouse, history())
    return warehouse


def target(wh: Warehouse, kpi: str, value: float) -> None:
    load_rows(
        wh,
        {
            "targets": [
                {
                    "kpi": kpi,
                    "period_start": dt.date(2025, 3, 1),
                    "period_end": dt.date(2025, 3, 31),
                    "target": value,
                }
            ]
        },
    )


def test_close_probability_is_the_conditional_cdf() -> None:
    cycles = np.array([5.0, 10.0, 20.0, 40.0])
    got = close_probability(cycles, np.array([0.0, 6.0, 25.0, 50.0]), 10.0)
    # age 0: F(10)=0.5; age 6: (F(16)-F(6))/(1-F(6)) = (0.5-0.25)/0.75; age 25: (F(35)-F(25))
    # /(1-F(25)) = 0/0.25; age 50: nothing left to close -> 0
    assert got.tolist() == pytest.approx([0.5, 1 / 3, 0.0, 0.0])


def test_revenue_projection_and_probability_match_the_pipeline_arithmetic(wh: Warehouse) -> None:
    target(wh, "revenue", 1050)
    row = pacing_rows(wh, "2025-03", as_of=AS_OF, seed=3)[0]
    assert (row["kpi"], row["method"]) == ("revenue", "pipeline")
    assert row["actual"] == 100.0  # w4 won on March 5
    assert row["expected_to_date"] == pytest.approx(1050 * 20 / 31)
    # open deals: age 6 days, all won cycles are 10 days -> each closes in time if won;
    # win rate 5/10 -> each open deal adds 0.5 x 1,000 on average.
    # new deals: 12 created in the last 90 days -> 12/90 a day over 11 days x 0.5 x the share
    # of the days left after which a 10-day deal still closes (5 of 50 grid points) x 100.
    new_flow = 12 / 90 * 11 * 0.5 * (5 / 50) * 100
    expected = 100 + 2 * 0.5 * 1000 + new_flow
    assert row["projected"] == pytest.approx(expected, abs=4 * 1000 * 0.5 / np.sqrt(10_000))
    # reaching 1,050 needs one of the two open deals: 1 - 0.5^2
    assert row["probability"] == pytest.approx(0.75, abs=0.02)
    assert row["status"] == "on_track"


def test_a_target_needing_both_deals_is_off_track(wh: Warehouse) -> None:
    target(wh, "revenue", 2050)
    row = pacing_rows(wh, "2025-03", as_of=AS_OF, seed=3)[0]
    assert row["probability"] == pytest.approx(0.25, abs=0.02)
    assert row["status"] == "off_track"


def test_counts_continue_at_the_recent_daily_pace() -> None:
    wh = Warehouse.open(":memory:", create=True)
    people = {
        f"c{d}-{k}": [stage("lead", (dt.date(2025, 2, 21) + dt.timedelta(days=d)).isoformat())]
        for d in range(28)
        for k in range(2)
    }  # two leads a day up to March 20
    journeys_for(wh, people)
    target(wh, "leads", 62)  # 40 so far + 2 x 11 = 62 exactly
    row = pacing_rows(wh, "2025-03", as_of=AS_OF)[0]
    assert (row["actual"], row["projected"], row["probability"]) == (40.0, 62.0, 1.0)
    assert (row["method"], row["status"]) == ("recent pace", "on_track")
    target(wh, "leads", 63)
    assert pacing_rows(wh, "2025-03", as_of=AS_OF)[0]["probability"] == 0.0


def test_no_target_no_rows(wh: Warehouse) -> None:
    assert pacing_rows(wh, "2025-03", as_of=AS_OF) == []
