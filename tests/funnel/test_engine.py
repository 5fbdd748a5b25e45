"""Stage funnels (revlens.funnel.engine) over small journeys, against hand-counted numbers and
a small pure-Python reference of the ordered cohort funnel.

Semantics checked (engine docstring, docs/kpis.md, and what a PostHog / Amplitude / HubSpot
funnel user expects where the docstring is silent):

- cohort mode follows each entity from its FIRST entry into the first stage (in the range);
  every later stage must come within `window_days` of that entry (inclusive), even after
  `--to`; period mode counts first stage entries inside each period;
- ordered: each stage at or after the previous one, the first such event (repeats count
  once); a tie in time is in order; strict: additionally no other stage in between;
- skips=pass (lifecycle default): a skipped stage is passed at the time of the later stage;
  skips=drop (default for opportunity stages): it is not;
- time to convert = days between a stage and the previous one, over the entities that reached
  it: median and p90 are linearly interpolated (DuckDB quantile_cont, numpy's default
  "linear"), e.g. p90 of 1..10 days = 9.1;
- `dropped` = previous count - count; a ratio with a zero denominator is None;
- breakdowns by marketing dimension take the first (or last) touch within the lookback before
  the entry; contact attributes come from the contact, deal attributes from the deal.

Each test builds its journeys in a DuckDB warehouse and runs the funnel on each engine
through `on_engine` (on Spark, the warehouse exported as a lake). Unknown lifecycle stages
are refused from the settings before any query, so those tests take no engine.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import Any

import pytest

from journeys import (
    Event,
    contact_attributes,
    deal,
    journeys_for,
    opportunity_stages,
    stage,
    touch,
)
from revlens.catalog.dimensions import Grouping
from revlens.compile.periods import Grain
from revlens.errors import RevlensError, UnknownName
from revlens.funnel.engine import FunnelQuery, FunnelResult, run_funnel
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

D = dt.date
JAN = {"start": D(2024, 1, 1), "end": D(2024, 1, 31)}


def funnel(wh: Reader, *stages: str, **query: Any) -> FunnelResult:
    return run_funnel(wh, FunnelQuery(stages=stages, **query))


def by_stage(result: FunnelResult) -> dict[str, dict[str, Any]]:
    """The rows of a result with one bucket and no breakdown, keyed by stage."""
    out = {r["stage"]: r for r in result.rows}
    assert len(out) == len(result.rows)
    return out


def counts(result: FunnelResult) -> list[int]:
    return [r["count"] for r in result.rows]


def p90(values: list[float]) -> float:
    """The 0.9 quantile, linearly interpolated between order statistics."""
    v = sorted(values)
    pos = (len(v) - 1) * 0.9
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def assert_days(row: dict[str, Any], days: list[float] | None) -> None:
    """median/mean/p90 of `row` are those of `days` (all None when nobody converted)."""
    if not days:
        assert (row["median_days"], row["mean_days"], row["p90_days"]) == (None, None, None)
        return
    assert row["median_days"] == pytest.approx(statistics.median(days), abs=1e-9)
    assert row["mean_days"] == pytest.approx(statistics.fmean(days), abs=1e-9)
    assert row["p90_days"] == pytest.approx(p90(days), abs=1e-9)


# -- ordered vs strict ----------------------------------------------------------------------
@pytest.fixture
def zigzag(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            # SQL before MQL, then SQL again
            "amy": [
                stage("lead", "2024-01-01"),
                stage("sql", "2024-01-05"),
                stage("mql", "2024-01-10"),
                stage("sql", "2024-01-20"),
            ],
            # an opportunity (not a funnel stage) between MQL and SQL
            "bob": [
                stage("lead", "2024-01-02"),
                stage("mql", "2024-01-03"),
                stage("opportunity", "2024-01-04"),
                stage("sql", "2024-01-08"),
            ],
        },
    )
    return warehouse


def test_ordered_takes_the_first_stage_event_after_the_previous_one(
    zigzag: Warehouse, on_engine: OnEngine
) -> None:
    rows = by_stage(funnel(on_engine(zigzag), "lead", "mql", "sql", skips="drop", **JAN))
    # amy: mql Jan 10 (9 d after lead), then the sql of Jan 20 (10 d); bob: 1 d, 5 d
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 2, 2]
    assert_days(rows["mql"], [9, 1])
    assert_days(rows["sql"], [10, 5])


def test_strict_forbids_any_other_stage_in_between(zigzag: Warehouse, on_engine: OnEngine) -> None:
    rows = by_stage(
        funnel(on_engine(zigzag), "lead", "mql", "sql", order="strict", skips="drop", **JAN)
    )
    # amy: the stage after her lead is sql, not mql -> out at mql;
    # bob: mql, then an opportunity before the sql -> out at sql
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 1, 0]
    assert [rows[s]["dropped"] for s in ("lead", "mql", "sql")] == [None, 1, 1]
    assert rows["sql"]["conversion_from_previous"] == 0.0
    assert_days(rows["mql"], [1])
    assert_days(rows["sql"], None)


def test_strict_with_skips_pass_lets_the_skip_through(
    zigzag: Warehouse, on_engine: OnEngine
) -> None:
    rows = by_stage(
        funnel(on_engine(zigzag), "lead", "mql", "sql", order="strict", skips="pass", **JAN)
    )
    # amy jumps lead -> sql on Jan 5: she passed mql then (4 d) and is an SQL at once (0 d);
    # bob's next stage after mql is the opportunity (Jan 4), a later lifecycle stage than sql:
    # with skips pass that passes sql (1 d)
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 2, 2]
    assert_days(rows["mql"], [4, 1])
    assert_days(rows["sql"], [0, 1])


def test_strict_with_skips_drop_stops_at_a_stage_in_between(
    zigzag: Warehouse, on_engine: OnEngine
) -> None:
    rows = by_stage(
        funnel(on_engine(zigzag), "lead", "mql", "sql", order="strict", skips="drop", **JAN)
    )
    # bob's opportunity sits between his mql and sql; amy's sql came before her mql
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 1, 0]


def test_strict_ignores_repeats_of_the_previous_stage(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "cat": [
                stage("lead", "2024-01-01"),
                stage("mql", "2024-01-02"),
                stage("mql", "2024-01-04"),
                stage("sql", "2024-01-06"),
            ]
        },
    )
    result = funnel(on_engine(warehouse), "lead", "mql", "sql", order="strict", **JAN)
    assert counts(result) == [1, 1, 1]
    assert_days(by_stage(result)["sql"], [4])  # from the first mql


def test_strict_funnel_of_two_stages_with_a_stage_between(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "dan": [
                stage("lead", "2024-01-01"),
                stage("mql", "2024-01-02"),
                stage("sql", "2024-01-03"),
            ]
        },
    )
    assert counts(funnel(on_engine(warehouse), "lead", "sql", **JAN)) == [1, 1]
    assert counts(funnel(on_engine(warehouse), "lead", "sql", order="strict", **JAN)) == [1, 0]


# -- ties -----------------------------------------------------------------------------------
def test_the_same_timestamp_counts_as_in_order(warehouse: Warehouse, on_engine: OnEngine) -> None:
    at = "2024-01-03T10:00:00"
    journeys_for(warehouse, {"eve": [stage("lead", at), stage("mql", at), stage("sql", at)]})
    for order in ("ordered", "strict"):
        rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", "sql", order=order, **JAN))
        assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [1, 1, 1], order
        assert_days(rows["sql"], [0])


def test_ordered_tie_of_the_first_two_stages(warehouse: Warehouse, on_engine: OnEngine) -> None:
    journeys_for(
        warehouse,
        {
            "fay": [
                stage("lead", "2024-01-04"),
                stage("mql", "2024-01-04"),
                stage("sql", "2024-01-06"),
            ]
        },
    )
    result = funnel(on_engine(warehouse), "lead", "mql", "sql", **JAN)
    assert counts(result) == [1, 1, 1]
    rows = by_stage(result)
    assert_days(rows["mql"], [0])
    assert_days(rows["sql"], [2])


def test_strict_tie_of_the_first_two_stages(warehouse: Warehouse, on_engine: OnEngine) -> None:
    journeys_for(
        warehouse,
        {
            "fay": [
                stage("lead", "2024-01-04"),
                stage("mql", "2024-01-04"),
                stage("sql", "2024-01-06"),
            ]
        },
    )
    # lead and mql at the same instant are in order; nothing happens between mql and sql
    assert counts(funnel(on_engine(warehouse), "lead", "mql", "sql", order="strict", **JAN)) == [
        1,
        1,
        1,
    ]


# -- skips ----------------------------------------------------------------------------------
@pytest.fixture
def skipper(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            "gus": [stage("lead", "2024-01-01"), stage("sql", "2024-01-11")],  # no mql
            "hal": [
                stage("lead", "2024-01-01"),
                stage("mql", "2024-01-03"),
                stage("sql", "2024-01-09"),
            ],
        },
    )
    return warehouse


def test_skips_pass_counts_the_skipped_stage_at_the_later_stage(
    skipper: Warehouse, on_engine: OnEngine
) -> None:
    for skips in ("pass", None):  # pass is the default for lifecycle stages
        result = funnel(on_engine(skipper), "lead", "mql", "sql", skips=skips, **JAN)
        assert result.entity == "contact"
        rows = by_stage(result)
        assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 2, 2]
        # gus passed mql on Jan 11 (10 d after his lead) and was an SQL at once (0 d)
        assert_days(rows["mql"], [10, 2])
        assert_days(rows["sql"], [0, 6])


def test_skips_pass_uses_the_first_later_stage_even_when_the_stage_comes_after(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "zed": [
                stage("lead", "2024-01-01"),
                stage("sql", "2024-01-05"),
                stage("mql", "2024-01-10"),
            ]
        },
    )
    rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", "sql", skips="pass", **JAN))
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [1, 1, 1]
    assert_days(rows["mql"], [4])
    assert_days(rows["sql"], [0])


def test_skips_drop_loses_the_skipper(skipper: Warehouse, on_engine: OnEngine) -> None:
    rows = by_stage(funnel(on_engine(skipper), "lead", "mql", "sql", skips="drop", **JAN))
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 1, 1]
    assert [rows[s]["dropped"] for s in ("lead", "mql", "sql")] == [None, 1, 0]
    assert rows["sql"]["conversion_from_first"] == 0.5
    assert rows["sql"]["conversion_from_previous"] == 1.0
    assert_days(rows["mql"], [2])
    assert_days(rows["sql"], [6])


@pytest.mark.parametrize("mode", ["cohort", "period"])
def test_skips_pass_counts_later_lifecycle_stages_outside_the_funnel(
    skipper: Warehouse, mode: str, on_engine: OnEngine
) -> None:
    rows = by_stage(funnel(on_engine(skipper), "lead", "mql", mode=mode, **JAN))
    assert rows["mql"]["count"] == 2
    assert_days(rows["mql"], [10, 2])


def test_period_mode_passes_skips_too(warehouse: Warehouse, on_engine: OnEngine) -> None:
    journeys_for(
        warehouse,
        {
            "ida": [stage("lead", "2024-01-20"), stage("sql", "2024-02-05")],  # no mql
            "jon": [stage("lead", "2024-02-10")],
        },
    )
    result = funnel(
        on_engine(warehouse),
        "lead",
        "mql",
        "sql",
        mode="period",
        grain=Grain.month,
        start=D(2024, 1, 1),
        end=D(2024, 2, 29),
    )
    got = {(r["period_start"], r["stage"]): r for r in result.rows}
    assert [got[(D(2024, 1, 1), s)]["count"] for s in ("lead", "mql", "sql")] == [1, 0, 0]
    assert [got[(D(2024, 2, 1), s)]["count"] for s in ("lead", "mql", "sql")] == [1, 1, 1]
    feb_mql = got[(D(2024, 2, 1), "mql")]
    assert feb_mql["conversion_from_previous"] == 1.0
    assert_days(feb_mql, [16])  # ida: lead Jan 20 -> passed mql Feb 5
    assert_days(got[(D(2024, 2, 1), "sql")], [0])


# -- exclusions -----------------------------------------------------------------------------
def test_exclusions_remove_the_entity_from_every_step(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "kim": [deal(100, "2024-01-05")],  # created, discovery, lost: excluded
            "lou": [deal(100, "2024-01-06")],  # created .. won
            "max": [deal(100, "2024-01-07")],  # lost 91 days after creation: outside
            "ned": [deal(100, "2024-01-08")],  # lost exactly at the window's end: excluded
        },
    )
    opportunity_stages(
        warehouse,
        {
            "kim-o0": [("discovery", "2024-01-06"), ("lost", "2024-01-20")],
            "lou-o0": [
                ("discovery", "2024-01-07"),
                ("proposal", "2024-01-09"),
                ("won", "2024-02-01"),
            ],
            "max-o0": [("discovery", "2024-01-08"), ("lost", "2024-04-07T00:00:01")],
            "ned-o0": [("discovery", "2024-01-09"), ("lost", "2024-04-07")],
        },
    )
    stages = ("created", "discovery", "proposal", "won")
    assert counts(funnel(on_engine(warehouse), *stages, **JAN)) == [4, 4, 1, 1]
    result = funnel(on_engine(warehouse), *stages, exclude=("lost",), **JAN)
    assert result.entity == "opportunity"
    rows = by_stage(result)
    assert [rows[s]["count"] for s in stages] == [2, 2, 1, 1]  # lou and max
    assert rows["won"]["conversion_from_first"] == 0.5
    assert_days(rows["discovery"], [1, 1])
    assert_days(rows["won"], [23])


@pytest.fixture
def lost_deals(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            "ava": [deal(1, "2024-01-10")],
            "ben": [deal(1, "2024-01-12")],  # lost in February
            "cyd": [deal(1, "2024-02-03")],  # lost the next day
        },
    )
    opportunity_stages(
        warehouse,
        {
            "ava-o0": [("discovery", "2024-01-11"), ("won", "2024-03-31")],
            "ben-o0": [("discovery", "2024-01-13"), ("lost", "2024-02-15")],
            "cyd-o0": [("lost", "2024-02-04")],
        },
    )
    return warehouse


def test_period_mode_exclusions(lost_deals: Warehouse, on_engine: OnEngine) -> None:
    feb = funnel(
        on_engine(lost_deals),
        "created",
        "discovery",
        mode="period",
        exclude=("lost",),
        start=D(2024, 2, 1),
        end=D(2024, 2, 29),
    )
    assert counts(feb) == [0, 0]  # cyd, created and lost in February, is left out


def test_period_mode_exclusions_do_not_depend_on_the_range(
    lost_deals: Warehouse, on_engine: OnEngine
) -> None:
    alone = funnel(
        on_engine(lost_deals), "created", "discovery", mode="period", exclude=("lost",), **JAN
    )
    both = funnel(
        on_engine(lost_deals),
        "created",
        "discovery",
        mode="period",
        exclude=("lost",),
        grain=Grain.month,
        start=D(2024, 1, 1),
        end=D(2024, 2, 29),
    )
    january = [r["count"] for r in both.rows if r["period_start"] == D(2024, 1, 1)]
    assert january == counts(alone)


def test_deal_funnel_maturity_sees_the_stage_events(
    lost_deals: Warehouse, on_engine: OnEngine
) -> None:
    result = funnel(on_engine(lost_deals), "created", "discovery", "won", window_days=30, **JAN)
    assert counts(result) == [2, 2, 0]
    assert {r["immature"] for r in result.rows} == {False}


# -- cohort vs period; windows ----------------------------------------------------------------
@pytest.fixture
def late(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            "oli": [stage("lead", "2024-01-20"), stage("mql", "2024-02-10")],
            "pam": [stage("lead", "2024-01-25")],
        },
    )
    return warehouse


def test_a_conversion_after_to_counts_in_cohort_mode(late: Warehouse, on_engine: OnEngine) -> None:
    rows = by_stage(funnel(on_engine(late), "lead", "mql", mode="cohort", **JAN))
    assert (rows["lead"]["count"], rows["mql"]["count"]) == (2, 1)
    assert rows["mql"]["conversion_from_first"] == 0.5
    assert rows["mql"]["dropped"] == 1
    assert_days(rows["mql"], [21])
    assert {r["cohort"] for r in late_rows(on_engine(late))} == {D(2024, 1, 1)}
    assert {r["cohort_end"] for r in late_rows(on_engine(late))} == {D(2024, 1, 31)}


def late_rows(wh: Reader) -> list[dict[str, Any]]:
    return funnel(wh, "lead", "mql", **JAN).rows


def test_a_conversion_after_to_does_not_count_in_period_mode(
    late: Warehouse, on_engine: OnEngine
) -> None:
    result = funnel(on_engine(late), "lead", "mql", mode="period", **JAN)
    rows = by_stage(result)
    assert (rows["lead"]["count"], rows["mql"]["count"]) == (2, 0)
    assert rows["mql"]["conversion_from_previous"] == 0.0
    assert {(r["period_start"], r["period_end"]) for r in result.rows} == {
        (D(2024, 1, 1), D(2024, 1, 31))
    }
    assert all("immature" not in r and "cohort" not in r for r in result.rows)
    # in February the mql counts, with no lead in the period: the ratios have no denominator
    feb = by_stage(
        funnel(
            on_engine(late), "lead", "mql", mode="period", start=D(2024, 2, 1), end=D(2024, 2, 29)
        )
    )
    assert (feb["lead"]["count"], feb["mql"]["count"]) == (0, 1)
    assert feb["mql"]["conversion_from_first"] is None
    assert feb["mql"]["conversion_from_previous"] is None
    assert_days(feb["mql"], [21])


def test_window_is_inclusive_and_measured_from_the_entry(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "inside": [stage("lead", "2024-01-01"), stage("mql", "2024-01-11")],  # exactly 10 d
            "outside": [stage("lead", "2024-01-01"), stage("mql", "2024-01-11T00:00:01")],
            # sql 7 days after the mql but 11 days after the entry: outside a 10-day window
            "slow": [
                stage("lead", "2024-01-01"),
                stage("mql", "2024-01-05"),
                stage("sql", "2024-01-12"),
            ],
        },
    )
    rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", "sql", window_days=10, **JAN))
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [3, 2, 0]
    assert_days(rows["mql"], [10, 4])
    rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", "sql", window_days=11, **JAN))
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [3, 3, 1]


# -- repeated stage events --------------------------------------------------------------------
def test_repeated_stage_events_count_once(warehouse: Warehouse, on_engine: OnEngine) -> None:
    journeys_for(
        warehouse,
        {
            "quin": [
                stage("lead", "2024-01-01"),
                stage("lead", "2024-01-03"),
                stage("mql", "2024-01-05"),
                stage("mql", "2024-01-08"),
                stage("sql", "2024-01-09"),
                stage("sql", "2024-01-10"),
            ],
            # an mql before the lead does not count: the first mql after the lead does
            "rae": [
                stage("mql", "2023-12-20"),
                stage("lead", "2024-01-02"),
                stage("mql", "2024-01-12"),
                stage("sql", "2024-01-15"),
            ],
            # first lead in December: not in January's cohort although it leads again
            "sid": [
                stage("lead", "2023-12-15"),
                stage("lead", "2024-01-10"),
                stage("mql", "2024-01-11"),
            ],
        },
    )
    rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", "sql", **JAN))
    assert [rows[s]["count"] for s in ("lead", "mql", "sql")] == [2, 2, 2]
    assert_days(rows["mql"], [4, 10])
    assert_days(rows["sql"], [4, 3])
    dec = by_stage(
        funnel(on_engine(warehouse), "lead", "mql", start=D(2023, 12, 1), end=D(2023, 12, 31))
    )
    assert (dec["lead"]["count"], dec["mql"]["count"]) == (1, 1)
    assert_days(dec["mql"], [27])


# -- time to convert --------------------------------------------------------------------------
def test_median_mean_and_interpolated_p90(warehouse: Warehouse, on_engine: OnEngine) -> None:
    lags = [0.5, 1, 2, 3, 7, 30, 1.25]
    start = dt.datetime(2024, 1, 2)
    people: dict[str, list[Event]] = {
        f"p{i}": [
            stage("lead", start.isoformat()),
            stage("mql", (start + dt.timedelta(days=lag)).isoformat()),
        ]
        for i, lag in enumerate(lags)
    }
    people["never"] = [stage("lead", "2024-01-03")]
    journeys_for(warehouse, people)
    rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", **JAN))
    assert (rows["lead"]["count"], rows["mql"]["count"], rows["mql"]["dropped"]) == (8, 7, 1)
    assert rows["mql"]["conversion_from_first"] == pytest.approx(7 / 8)
    assert_days(rows["mql"], lags)
    assert rows["mql"]["p90_days"] == pytest.approx(7 + 0.4 * 23)  # sorted, position 5.4
    assert rows["lead"]["median_days"] is None  # the first stage has no time to convert


def test_p90_of_one_to_ten_days_is_nine_point_one(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            f"q{d}": [stage("lead", "2024-01-01"), stage("mql", f"2024-01-{1 + d:02d}")]
            for d in range(1, 11)
        },
    )
    rows = by_stage(funnel(on_engine(warehouse), "lead", "mql", **JAN))
    assert rows["mql"]["median_days"] == pytest.approx(5.5)
    assert rows["mql"]["mean_days"] == pytest.approx(5.5)
    assert rows["mql"]["p90_days"] == pytest.approx(9.1)


# -- a pure-Python reference of the ordered cohort funnel, over months ------------------------
def reference(
    people: dict[str, list[Event]],
    stages: tuple[str, ...],
    months: list[tuple[dt.date, dt.date]],
    window: int,
    skips: str,
) -> dict[tuple[dt.date, str], tuple[int, list[float]]]:
    """(cohort start, stage) -> (count, days since the previous stage of each converter)."""
    out: dict[tuple[dt.date, str], tuple[int, list[float]]] = {
        (a, s): (0, []) for a, _ in months for s in stages
    }
    for events in people.values():
        staged = [(e.row["stage"], e.row["ts"]) for e in events if e.table == "stage_events"]
        entries = [t for s, t in staged if s == stages[0]]
        if not entries:
            continue
        t1 = min(entries)
        cohort = next((a for a, b in months if a <= t1.date() <= b), None)
        if cohort is None:
            continue
        deadline = t1 + dt.timedelta(days=window)
        times = [t1]
        for k in range(1, len(stages)):
            reach = stages[k:] if skips == "pass" else stages[k : k + 1]  # a skip passes
            ok = [t for s, t in staged if s in reach and times[-1] <= t <= deadline]
            if not ok:
                break
            times.append(min(ok))
        for k, t in enumerate(times):
            n, days = out[(cohort, stages[k])]
            if k:
                days = [*days, (t - times[k - 1]).total_seconds() / 86400]
            out[(cohort, stages[k])] = (n + 1, days)
    return out


JOURNEYS: dict[str, list[Event]] = {
    "a": [
        stage("lead", "2024-01-03T08:00"),
        stage("mql", "2024-01-04T20:00"),
        stage("sql", "2024-02-10"),
    ],
    "b": [stage("lead", "2024-01-15"), stage("sql", "2024-01-30T06:00")],
    "c": [
        stage("lead", "2024-01-31T23:00"),
        stage("mql", "2024-03-01"),
        stage("sql", "2024-05-20"),
    ],
    "d": [
        stage("lead", "2024-02-01"),
        stage("mql", "2024-02-01T12:00"),
        stage("mql", "2024-02-09"),
    ],
    "e": [stage("lead", "2024-02-14"), stage("sql", "2024-02-15"), stage("sql", "2024-02-17")],
    "f": [stage("lead", "2024-02-29T23:59:59")],
    "g": [
        stage("mql", "2024-01-01"),
        stage("lead", "2024-03-05"),
        stage("mql", "2024-03-05"),
        stage("sql", "2024-03-06"),
    ],
    "h": [stage("lead", "2024-03-10"), stage("mql", "2024-06-08T00:00:01")],
    "i": [stage("lead", "2024-03-11"), stage("mql", "2024-03-12"), stage("sql", "2024-03-12")],
}


@pytest.mark.parametrize("skips", ["pass", "drop"])
def test_monthly_cohorts_match_the_reference(
    warehouse: Warehouse, skips: str, on_engine: OnEngine
) -> None:
    journeys_for(warehouse, JOURNEYS)
    stages = ("lead", "mql", "sql")
    months = [
        (D(2024, 1, 1), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
    ]
    result = funnel(
        on_engine(warehouse),
        *stages,
        start=D(2024, 1, 1),
        end=D(2024, 3, 31),
        grain=Grain.month,
        window_days=90,
        skips=skips,
    )
    want = reference(JOURNEYS, stages, months, 90, skips)
    assert [(r["cohort"], r["cohort_end"], r["stage"]) for r in result.rows] == [
        (a, b, s) for a, b in months for s in stages
    ]
    for r in result.rows:
        n, days = want[(r["cohort"], r["stage"])]
        first = want[(r["cohort"], stages[0])][0]
        k = stages.index(r["stage"])
        prev = want[(r["cohort"], stages[k - 1])][0] if k else None
        assert r["count"] == n, r
        assert r["conversion_from_first"] == (n / first if first else None), r
        assert r["conversion_from_previous"] == (n / prev if k and prev else None), r
        assert r["dropped"] == (prev - n if k else None), r
        assert_days(r, days if k else None)
    # hand check of the reference itself (pass): Jan a, b, c -> mql a, b (passed), c; sql a, b
    if skips == "pass":
        assert [want[(D(2024, 1, 1), s)][0] for s in stages] == [3, 3, 2]
        assert [want[(D(2024, 2, 1), s)][0] for s in stages] == [3, 2, 1]
        assert [want[(D(2024, 3, 1), s)][0] for s in stages] == [3, 2, 2]


def test_immature_cohorts(warehouse: Warehouse, on_engine: OnEngine) -> None:
    journeys_for(
        warehouse,
        {
            "jan": [stage("lead", "2024-01-10")],
            "feb": [stage("lead", "2024-02-10"), stage("mql", "2024-02-12")],
            "mar": [stage("lead", "2024-03-30")],  # the newest data: March 30
        },
    )
    result = funnel(
        on_engine(warehouse),
        "lead",
        "mql",
        start=D(2024, 1, 15),
        end=D(2024, 3, 31),
        grain=Grain.month,
        window_days=30,
    )
    firsts = [r for r in result.rows if r["stage"] == "lead"]
    # cohorts are clipped to the range; January's lead (Jan 10) is before it
    assert [(r["cohort"], r["cohort_end"], r["count"]) for r in firsts] == [
        (D(2024, 1, 15), D(2024, 1, 31), 0),
        (D(2024, 2, 1), D(2024, 2, 29), 1),
        (D(2024, 3, 1), D(2024, 3, 31), 1),
    ]
    # mature when the window after the cohort's last day lies in the data:
    # Jan 31 + 30 = Mar 1, Feb 29 + 30 = Mar 30 <= Mar 30, Mar 31 + 30 > Mar 30
    assert [r["immature"] for r in firsts] == [False, False, True]
    immature = {r["cohort"]: r["immature"] for r in firsts}
    assert all(r["immature"] == immature[r["cohort"]] for r in result.rows)
    jan = [r for r in result.rows if r["cohort"] == D(2024, 1, 15)]
    assert [r["conversion_from_first"] for r in jan] == [None, None]
    assert [r["dropped"] for r in jan] == [None, 0]
    assert (
        funnel(
            on_engine(warehouse),
            "lead",
            "mql",
            start=D(2024, 2, 1),
            end=D(2024, 2, 29),
            window_days=31,
        ).rows[0]["immature"]
        is True
    )


# -- breakdowns -------------------------------------------------------------------------------
@pytest.fixture
def touched(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            "uma": [
                touch("paid_search", "2023-12-01"),
                touch("email", "2024-01-03"),
                stage("lead", "2024-01-05"),
                touch("display", "2024-01-06"),  # after the entry: never counts
                stage("mql", "2024-01-10"),
            ],
            # the only touch is 126 days before the entry
            "vic": [touch("social", "2023-09-01"), stage("lead", "2024-01-05")],
            "wes": [stage("lead", "2024-01-06"), stage("mql", "2024-01-07")],  # no touch
            # a touch at the very instant of the entry counts
            "xia": [stage("lead", "2024-01-07T09:00"), touch("referral", "2024-01-07T09:00")],
        },
    )
    return warehouse


def cells(result: FunnelResult, *dims: str) -> dict[tuple[Any, ...], int]:
    return {(*(r[d] for d in dims), r["stage"]): r["count"] for r in result.rows}


def test_breakdown_by_first_and_last_touch(touched: Warehouse, on_engine: OnEngine) -> None:
    first = funnel(on_engine(touched), "lead", "mql", by=("channel",), touch="first", **JAN)
    assert cells(first, "channel") == {
        (None, "lead"): 2,
        (None, "mql"): 1,  # vic (touch too old), wes (none)
        ("paid_search", "lead"): 1,
        ("paid_search", "mql"): 1,  # uma
        ("referral", "lead"): 1,
        ("referral", "mql"): 0,  # xia
    }
    assert [r["channel"] for r in first.rows] == [
        None,
        None,
        "paid_search",
        "paid_search",
        "referral",
        "referral",
    ]
    last = funnel(on_engine(touched), "lead", "mql", by=("channel",), touch="last", **JAN)
    assert cells(last, "channel") == {
        (None, "lead"): 2,
        (None, "mql"): 1,
        ("email", "lead"): 1,
        ("email", "mql"): 1,  # not display: that came after the lead
        ("referral", "lead"): 1,
        ("referral", "mql"): 0,
    }
    longer = funnel(on_engine(touched), "lead", "mql", by=("channel",), lookback_days=130, **JAN)
    assert cells(longer, "channel")[("social", "lead")] == 1
    assert cells(longer, "channel")[(None, "lead")] == 1
    # 35 days before uma's lead: paid_search is outside a 30-day lookback, email inside
    short = funnel(on_engine(touched), "lead", "mql", by=("channel",), lookback_days=30, **JAN)
    assert cells(short, "channel")[("email", "mql")] == 1


def test_touch_is_taken_before_the_entry_not_before_an_earlier_later_stage(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "yan": [
                touch("paid_search", "2023-12-31"),
                stage("lead", "2024-01-01"),
                stage("sql", "2024-01-05"),
                touch("email", "2024-01-07"),
                stage("mql", "2024-01-10"),  # the entry into the funnel mql -> sql
                stage("sql", "2024-01-20"),
            ]
        },
    )
    result = funnel(on_engine(warehouse), "mql", "sql", by=("channel",), touch="last", **JAN)
    assert cells(result, "channel") == {("email", "mql"): 1, ("email", "sql"): 1}


def test_breakdown_by_segment(warehouse: Warehouse, on_engine: OnEngine) -> None:
    journeys_for(
        warehouse,
        {
            "s1": [stage("lead", "2024-01-02"), stage("mql", "2024-01-04")],
            "s2": [stage("lead", "2024-01-03")],
            "m1": [stage("lead", "2024-01-04"), stage("mql", "2024-01-05")],
            "m2": [stage("lead", "2024-01-05"), stage("mql", "2024-01-15")],
            "n1": [stage("lead", "2024-01-06")],
        },
    )
    contact_attributes(
        warehouse,
        {
            "s1": {"segment": "smb"},
            "s2": {"segment": "smb"},
            "m1": {"segment": "mid"},
            "m2": {"segment": "mid"},
        },
    )
    result = funnel(on_engine(warehouse), "lead", "mql", by=("segment",), **JAN)
    assert [(r["segment"], r["stage"], r["count"]) for r in result.rows] == [
        (None, "lead", 1),
        (None, "mql", 0),
        ("mid", "lead", 2),
        ("mid", "mql", 2),
        ("smb", "lead", 2),
        ("smb", "mql", 1),
    ]
    mid = {r["stage"]: r for r in result.rows if r["segment"] == "mid"}
    assert_days(mid["mql"], [1, 10])


def test_breakdown_by_a_grouping_and_two_dimensions(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    journeys_for(
        warehouse,
        {
            "s1": [
                touch("email", "2024-01-01"),
                stage("lead", "2024-01-02"),
                stage("mql", "2024-01-04"),
            ],
            "m1": [touch("email", "2024-01-01"), stage("lead", "2024-01-04")],
            "e1": [stage("lead", "2024-01-05"), stage("mql", "2024-01-06")],
        },
    )
    contact_attributes(
        warehouse,
        {"s1": {"segment": "smb"}, "m1": {"segment": "mid"}, "e1": {"segment": "enterprise"}},
    )
    size = Grouping(base="segment", mapping={"smb": "small", "mid": "large", "enterprise": "large"})
    result = funnel(
        on_engine(warehouse), "lead", "mql", by=("size",), groupings={"size": size}, **JAN
    )
    assert cells(result, "size") == {
        ("large", "lead"): 2,
        ("large", "mql"): 1,
        ("small", "lead"): 1,
        ("small", "mql"): 1,
    }
    two = funnel(on_engine(warehouse), "lead", "mql", by=("segment", "channel"), **JAN)
    assert cells(two, "segment", "channel") == {
        ("enterprise", None, "lead"): 1,
        ("enterprise", None, "mql"): 1,
        ("mid", "email", "lead"): 1,
        ("mid", "email", "mql"): 0,
        ("smb", "email", "lead"): 1,
        ("smb", "email", "mql"): 1,
    }


# -- opportunity-stage funnels ----------------------------------------------------------------
def owned(event: Event, owner: str) -> Event:
    return Event(event.table, {**event.row, "owner": owner})


@pytest.fixture
def deals(warehouse: Warehouse) -> Warehouse:
    journeys_for(
        warehouse,
        {
            "pia": [
                stage("lead", "2024-01-01"),
                owned(deal(100, "2024-01-05", closed="2024-02-01", won=True), "zoe"),
            ],
            "ray": [
                stage("lead", "2024-01-02"),
                owned(deal(50, "2024-01-08", closed="2024-02-10", won=False), "zoe"),
            ],
            "sue": [stage("lead", "2024-01-03"), owned(deal(70, "2024-01-20"), "abe")],
        },
    )
    opportunity_stages(
        warehouse,
        {
            "pia-o1": [
                ("discovery", "2024-01-06"),
                ("proposal", "2024-01-10"),
                ("won", "2024-02-01"),
            ],
            "ray-o1": [("proposal", "2024-01-15"), ("lost", "2024-02-10")],  # skipped discovery
            "sue-o1": [("discovery", "2024-01-21")],
        },
    )
    return warehouse


def test_opportunity_funnel_is_detected_and_drops_skips_by_default(
    deals: Warehouse, on_engine: OnEngine
) -> None:
    result = funnel(on_engine(deals), "created", "discovery", "proposal", **JAN)
    assert result.entity == "opportunity"
    rows = by_stage(result)
    assert [rows[s]["count"] for s in ("created", "discovery", "proposal")] == [3, 2, 1]
    assert_days(rows["discovery"], [1, 1])
    assert_days(rows["proposal"], [4])
    passed = by_stage(
        funnel(on_engine(deals), "created", "discovery", "proposal", skips="pass", **JAN)
    )
    assert [passed[s]["count"] for s in ("created", "discovery", "proposal")] == [3, 3, 2]
    assert_days(passed["discovery"], [1, 7, 1])  # ray passed discovery at his proposal
    assert_days(passed["proposal"], [4, 0])


def test_opportunity_funnel_by_deal_owner_and_entity_override(
    deals: Warehouse, on_engine: OnEngine
) -> None:
    contact_attributes(deals, {"pia": {"owner": "contact-owner"}})
    by_owner = funnel(on_engine(deals), "created", "discovery", by=("owner",), **JAN)
    assert cells(by_owner, "owner") == {
        ("abe", "created"): 1,
        ("abe", "discovery"): 1,  # sue
        ("zoe", "created"): 2,
        ("zoe", "discovery"): 1,  # pia (the deal's owner), ray
    }
    contact = funnel(on_engine(deals), "lead", "opportunity", "customer", **JAN)
    assert contact.entity == "contact"
    assert counts(contact) == [3, 3, 1]
    forced = funnel(on_engine(deals), "lead", "customer", entity="contact", **JAN)
    assert forced.entity == "contact" and counts(forced) == [3, 1]
    with pytest.raises(UnknownName):
        funnel(on_engine(deals), "lead", "customer", entity="opportunity", **JAN)


# -- errors -----------------------------------------------------------------------------------
def test_unknown_opportunity_stage_says_did_you_mean(deals: Warehouse, on_engine: OnEngine) -> None:
    with pytest.raises(UnknownName) as err:
        funnel(on_engine(deals), "created", "discovry", **JAN)
    assert err.value.value == "discovry"
    assert "did you mean 'discovery'" in err.value.render()


def test_unknown_lifecycle_stage_is_an_unknown_name(warehouse: Warehouse) -> None:
    journeys_for(warehouse, {"tom": [stage("lead", "2024-01-02")]})
    with pytest.raises(UnknownName):
        funnel(warehouse, "lead", "mqll", **JAN)


def test_unknown_lifecycle_stage_says_did_you_mean(warehouse: Warehouse) -> None:
    journeys_for(warehouse, {"tom": [stage("lead", "2024-01-02")]})
    with pytest.raises(UnknownName) as err:
        funnel(warehouse, "lead", "mqll", **JAN)
    assert err.value.value == "mqll"
    assert "did you mean 'mql'" in err.value.render()


def test_query_validation() -> None:
    with pytest.raises(RevlensError) as err:
        FunnelQuery(stages=("lead",))
    assert err.value.code == "RL600"
    with pytest.raises(RevlensError) as err:
        FunnelQuery(stages=("lead", "mql", "lead"))
    assert err.value.code == "RL600"
    with pytest.raises(UnknownName) as unknown:
        FunnelQuery(stages=("lead", "mql"), by=("chanel",))
    assert "did you mean 'channel'" in unknown.value.render()
