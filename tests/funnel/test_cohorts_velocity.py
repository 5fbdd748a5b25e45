"""Cohort matrix and stage velocity (revlens.funnel.cohorts / velocity) over small journeys.

Cohort matrix: contacts by the month they first reached `from_stage`; for each whole
average month (30.4375 days) since entry, the cumulative share that reached `to_stage` at or
after entry; a cell is `observed` only when that month lies inside the data for every entry
of the cohort. Velocity: days from the first `from_stage` in the range to the first
`to_stage` at or after it (or, without `to_stage`, to the first later stage), as a numpy
histogram (its counts add up to the converters) and a trend per period of entry with
median / mean / p90 (linearly interpolated, like the funnel).

Each test builds its journeys in a DuckDB warehouse and reads them on each engine through
`on_engine` (on Spark, the warehouse exported as a lake); an unknown stage is refused from
the settings before any query, so that test takes no engine."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import Any

import pytest

from journeys import journeys_for, stage
from revlens.errors import UnknownName
from revlens.funnel.cohorts import cohort_matrix
from revlens.funnel.velocity import stage_velocity
from revlens.model.warehouse import Warehouse
from two_engines import OnEngine

D = dt.date
MONTH = dt.timedelta(days=30.4375)


def p90(values: list[float]) -> float:
    v = sorted(values)
    pos = (len(v) - 1) * 0.9
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def at(day: str, plus: dt.timedelta) -> str:
    return (dt.datetime.fromisoformat(day) + plus).isoformat()


# -- cohort matrix ----------------------------------------------------------------------------
@pytest.fixture
def customers(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            # January cohort: converts in months 0, 1 and 2 after entry, and never
            "a": [stage("lead", "2024-01-05"), stage("customer", "2024-01-15")],  # 10 d
            "b": [stage("lead", "2024-01-10"), stage("customer", "2024-02-19")],  # 40 d
            "c": [stage("lead", "2024-01-20"), stage("customer", "2024-03-25")],  # 65 d
            "d": [stage("lead", "2024-01-25")],
            # February cohort
            "e": [stage("lead", "2024-02-03"), stage("customer", "2024-02-08")],  # 5 d
            # a customer before the lead does not count
            "f": [stage("customer", "2024-02-10"), stage("lead", "2024-02-20")],
            # exactly one average month after entry: month 1
            "g": [stage("lead", "2024-02-01"), stage("customer", at("2024-02-01", MONTH))],
            # outside the range, but the newest data: April 15
            "h": [stage("lead", "2024-04-15")],
        },
    )
    return warehouse


def test_cohort_matrix_cumulative_rates_by_month_since_entry(
    customers: Warehouse, on_engine: OnEngine
) -> None:
    m = cohort_matrix(
        on_engine(customers), "lead", "customer", start=D(2024, 1, 1), end=D(2024, 2, 29), months=3
    )
    assert (m.from_stage, m.to_stage) == ("lead", "customer")
    got = [(r["cohort"], r["size"], r["month"], r["converted"], r["rate"]) for r in m.rows]
    jan, feb = D(2024, 1, 1), D(2024, 2, 1)
    assert got == [
        (jan, 4, 0, 1, 0.25),
        (jan, 4, 1, 2, 0.5),
        (jan, 4, 2, 3, 0.75),
        (jan, 4, 3, 3, 0.75),
        (feb, 3, 0, 1, 1 / 3),
        (feb, 3, 1, 2, 2 / 3),
        (feb, 3, 2, 2, 2 / 3),
        (feb, 3, 3, 2, 2 / 3),
    ]
    # data to April 15: January's months 0-1 (to Apr 1 21:00 for a Jan 31 entry) are
    # observed, month 2 (to May 2) is not; February's month 0 (to Mar 31) only
    assert [r["observed"] for r in m.rows] == [True, True, False, False, True, False, False, False]


def test_cohort_matrix_empty_cohort_and_months_cap(
    customers: Warehouse, on_engine: OnEngine
) -> None:
    m = cohort_matrix(
        on_engine(customers), "lead", "customer", start=D(2023, 12, 1), end=D(2024, 1, 31), months=1
    )
    assert [(r["cohort"], r["size"], r["month"], r["converted"], r["rate"]) for r in m.rows] == [
        (D(2023, 12, 1), 0, 0, 0, None),
        (D(2023, 12, 1), 0, 1, 0, None),
        (D(2024, 1, 1), 4, 0, 1, 0.25),
        (D(2024, 1, 1), 4, 1, 2, 0.5),  # c's conversion in month 2 is past the cap
    ]


def test_cohort_matrix_unknown_stage(customers: Warehouse) -> None:
    with pytest.raises(UnknownName) as err:
        cohort_matrix(customers, "lead", "custmer")
    assert "did you mean 'customer'" in err.value.render()


def test_cohort_matrix_observed_needs_the_whole_month_in_the_data(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {"late": [stage("lead", "2024-06-30")], "newest": [stage("lead", "2024-07-30")]},
    )
    m = cohort_matrix(
        on_engine(warehouse), "lead", "customer", start=D(2024, 6, 1), end=D(2024, 6, 30), months=0
    )
    assert [r["observed"] for r in m.rows] == [False]


def test_cohort_matrix_observed_when_the_month_is_in_the_data(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {"late": [stage("lead", "2024-06-30")], "newest": [stage("lead", "2024-08-01")]},
    )
    m = cohort_matrix(
        on_engine(warehouse), "lead", "customer", start=D(2024, 6, 1), end=D(2024, 6, 30), months=1
    )
    assert [r["observed"] for r in m.rows] == [True, False]


@pytest.fixture
def zigzag(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            "amy": [
                stage("lead", "2024-01-01"),
                stage("sql", "2024-01-05"),
                stage("mql", "2024-01-10"),
                stage("sql", "2024-01-20"),
            ]
        },
    )
    return warehouse


def test_cohort_matrix_counts_a_to_stage_event_after_entry(
    zigzag: Warehouse, on_engine: OnEngine
) -> None:
    m = cohort_matrix(
        on_engine(zigzag), "mql", "sql", start=D(2024, 1, 1), end=D(2024, 1, 31), months=0
    )
    assert [(r["size"], r["converted"]) for r in m.rows] == [(1, 1)]


# -- velocity ---------------------------------------------------------------------------------
@pytest.fixture
def speeds(warehouse: Warehouse) -> Warehouse:
    people = {
        f"v{lag}": [stage("mql", f"2024-01-{day:02d}"), stage("sql", f"2024-01-{day + lag:02d}")]
        for lag, day in ((2, 2), (4, 3), (6, 5), (8, 10), (10, 12))
    }
    journeys_for(
        warehouse,
        {
            **people,
            "feb3": [stage("mql", "2024-02-01"), stage("sql", "2024-02-04")],
            "feb30": [stage("mql", "2024-02-02"), stage("sql", "2024-03-03")],
            "never": [stage("mql", "2024-01-15")],
            "before": [stage("mql", "2023-12-20"), stage("sql", "2024-01-05")],  # not in range
            # leaves mql for an opportunity (no sql): in the time in mql only
            "opp": [stage("mql", "2024-01-20"), stage("opportunity", "2024-01-25")],
        },
    )
    return warehouse


def trend(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["period_start"], r["period_end"], r["count"], r["median_days"], r["mean_days"])
        for r in rows
    ]


def test_velocity_histogram_and_trend(speeds: Warehouse, on_engine: OnEngine) -> None:
    v = stage_velocity(
        on_engine(speeds), "mql", "sql", start=D(2024, 1, 1), end=D(2024, 3, 31), bins=4
    )
    assert (v.from_stage, v.to_stage) == ("mql", "sql")
    # days 2, 4, 6, 8, 10 (January), 3, 30 (February): 4 bins of 7 days from 2 to 30
    assert v.histogram == [
        {"from_days": 2.0, "to_days": 9.0, "count": 5},
        {"from_days": 9.0, "to_days": 16.0, "count": 1},
        {"from_days": 16.0, "to_days": 23.0, "count": 0},
        {"from_days": 23.0, "to_days": 30.0, "count": 1},
    ]
    assert sum(h["count"] for h in v.histogram) == 7 == sum(r["count"] for r in v.trend)
    assert trend(v.trend) == [
        (D(2024, 1, 1), D(2024, 1, 31), 5, 6.0, 6.0),
        (D(2024, 2, 1), D(2024, 2, 29), 2, 16.5, 16.5),
        (D(2024, 3, 1), D(2024, 3, 31), 0, None, None),
    ]
    assert v.trend[0]["p90_days"] == pytest.approx(p90([2, 4, 6, 8, 10]))  # 9.2
    assert v.trend[1]["p90_days"] == pytest.approx(27.3)
    assert v.trend[2]["p90_days"] is None


def test_velocity_time_in_stage(speeds: Warehouse, on_engine: OnEngine) -> None:
    v = stage_velocity(
        on_engine(speeds), "mql", start=D(2024, 1, 1), end=D(2024, 2, 29), grain=None
    )
    days = [2, 4, 6, 8, 10, 5, 3, 30]  # to the first later stage: opp's opportunity, 5 d
    assert v.to_stage is None
    assert sum(h["count"] for h in v.histogram) == len(days)
    (row,) = v.trend
    assert (row["period_start"], row["period_end"], row["count"]) == (
        D(2024, 1, 1),
        D(2024, 2, 29),
        len(days),
    )
    assert row["median_days"] == pytest.approx(statistics.median(days))
    assert row["mean_days"] == pytest.approx(statistics.fmean(days))
    assert row["p90_days"] == pytest.approx(p90(days))


def test_velocity_without_converters(speeds: Warehouse, on_engine: OnEngine) -> None:
    v = stage_velocity(
        on_engine(speeds), "mql", "customer", start=D(2024, 1, 1), end=D(2024, 1, 31)
    )
    assert v.histogram == []
    assert trend(v.trend) == [(D(2024, 1, 1), D(2024, 1, 31), 0, None, None)]
    with pytest.raises(UnknownName):
        stage_velocity(on_engine(speeds), "mql", "sqll")


def test_velocity_uses_the_first_to_stage_after_entry(
    zigzag: Warehouse, on_engine: OnEngine
) -> None:
    v = stage_velocity(
        on_engine(zigzag), "mql", "sql", start=D(2024, 1, 1), end=D(2024, 1, 31), grain=None
    )
    assert [(r["count"], r["median_days"]) for r in v.trend] == [(1, 10.0)]
