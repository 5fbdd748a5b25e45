"""Journeys from the warehouse, as journeys_for builds them: touches inside the lookback
before each conversion (stitched anonymous ones included), in order, milestones marked,
non-converting journeys kept; and credit over them. The journeys are read on each engine
(`on_engine`: the warehouse on DuckDB, its lake on Spark); the credit models then run in
Python on what was read."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest

from journeys import deal, journeys_for, load_rows, stage, touch
from revlens.attribution import attribute
from revlens.attribution import warehouse as journeys_module
from revlens.attribution.journeys import JourneyTable
from revlens.attribution.warehouse import PackedOrder, StructOrder, warehouse_journeys
from revlens.compile.context import Context
from revlens.errors import UnknownName
from revlens.model.warehouse import Warehouse
from two_engines import OnEngine

START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 31)


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.open(":memory:", create=True)
    journeys_for(
        warehouse,
        {
            # paid search then email, lead on March 10
            "ann": [
                touch("paid_search", "2024-03-01"),
                touch("email", "2024-03-08"),
                stage("lead", "2024-03-10"),
            ],
            # display 100 days before is outside the 90-day lookback; direct the day before
            "bob": [
                touch("display", "2023-12-01"),
                touch("direct", "2024-03-04"),
                stage("lead", "2024-03-05"),
            ],
            # touched in March, never a lead in March: a non-converting journey
            "cat": [
                touch("social", "2024-03-02"),
                touch("email", "2024-03-03"),
                stage("lead", "2024-05-01"),
            ],
            # a lead with no touch at all
            "dan": [stage("lead", "2024-03-20")],
            # won deal of 1,000 closed March 25; lead Jan 10, opportunity Feb 1
            "eve": [
                touch("events", "2024-01-05"),
                stage("lead", "2024-01-10"),
                touch("paid_search", "2024-01-20"),
                touch("email", "2024-03-20"),
                deal(1000, "2024-02-01", closed="2024-03-25", won=True),
            ],
        },
    )
    # an anonymous visit stitched to ann, before her paid search click
    load_rows(
        warehouse,
        {
            "touchpoints": [
                {
                    "touchpoint_id": "anon-1",
                    "anonymous_id": "v1",
                    "channel": "referral",
                    "ts": dt.datetime(2024, 2, 25),
                }
            ],
            "identities": [{"anonymous_id": "v1", "contact_id": "ann"}],
        },
    )
    return warehouse


def paths(table: JourneyTable) -> dict[tuple[str, ...], tuple[int, float, int]]:
    got = {j.channels: (j.conversions, j.value, j.nulls) for j in table.journeys}
    if table.has_empty:
        got[()] = (table.none_conversions, table.none_value, table.none_nulls)
    return got


LEAD_PATHS = {
    ("referral", "paid_search", "email"): (1, 0.0, 0),  # ann, stitched visit first
    ("direct",): (1, 0.0, 0),  # bob: the display touch is outside the lookback
    (): (1, 0.0, 0),  # dan converted with no touch
    ("social", "email"): (0, 0.0, 1),  # cat did not convert in March
    ("email",): (0, 0.0, 1),  # eve was touched in March, but was a lead in January
}


def test_lead_journeys_counted_in_the_engine(wh: Warehouse, on_engine: OnEngine) -> None:
    got = paths(warehouse_journeys(on_engine(wh), "lead", start=START, end=END))
    assert got == LEAD_PATHS
    result = attribute(
        warehouse_journeys(on_engine(wh), "lead", start=START, end=END),
        ["first_touch", "last_touch", "linear"],
    )
    credit = {(r["model"], r["channel"]): r["conversions"] for r in result.rows}
    assert credit[("first_touch", "referral")] == 1 and credit[("last_touch", "email")] == 1
    assert credit[("linear", "paid_search")] == pytest.approx(1 / 3)
    assert result.total_conversions == 3


def test_journeys_gathered_in_parts_are_the_same(
    wh: Warehouse, on_engine: OnEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many touches are gathered a share of the contacts at a time (the engine cannot spill
    the lists): with a part per touch the paths and counts do not change."""
    whole = paths(warehouse_journeys(on_engine(wh), "lead", start=START, end=END))
    monkeypatch.setattr(journeys_module, "PART_TOUCHES", 1)
    in_parts = paths(warehouse_journeys(on_engine(wh), "lead", start=START, end=END))
    assert in_parts == whole
    assert whole[("social", "email")] == (0, 0.0, 1)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "structs"])
@pytest.mark.parametrize("stored", [True, False], ids=["stored", "stitched"])
def test_every_route_to_the_ordered_touches_gives_the_same_journeys(
    wh: Warehouse,
    on_engine: OnEngine,
    monkeypatch: pytest.MonkeyPatch,
    packed: bool,
    stored: bool,
) -> None:
    """Touches read from the stored stitched touches or stitched by the query (a lake
    always stitches), and ordered as packed integers or as (time, id) structs."""
    if not stored:
        monkeypatch.setattr(Context, "stored_touches_current", property(lambda self: False))
    if not packed:
        monkeypatch.setattr(journeys_module, "_touch_order", lambda *args: StructOrder())
    assert paths(warehouse_journeys(on_engine(wh), "lead", start=START, end=END)) == LEAD_PATHS


def test_touches_are_packed_when_time_alone_orders_them(wh: Warehouse, on_engine: OnEngine) -> None:
    ctx = Context(on_engine(wh))
    lo, hi = ibis.timestamp(dt.datetime(2024, 3, 1)), ibis.timestamp(dt.datetime(2024, 4, 1))
    assert isinstance(journeys_module._touch_order(ctx, lo, hi, 7), PackedOrder)
    # 31 days in microseconds times 2**40 codes would not fit 63 bits
    assert type(journeys_module._touch_order(ctx, lo, hi, 1 << 40)) is StructOrder
    # a range that is not a literal: its span is unknown
    assert type(journeys_module._touch_order(ctx, lo, hi + ibis.interval(days=1), 7)) is (
        StructOrder
    )


def test_a_tie_orders_touches_by_id_and_the_journeys_stay_right(wh: Warehouse) -> None:
    """Two of ann's touches at one instant: the touchpoint id breaks the tie (this one's
    sorts before her email's, ann-t1, though social's code follows email's), so touches
    are gathered as structs, not packed."""
    tied = {
        "touchpoint_id": "ann-a0",
        "contact_id": "ann",
        "channel": "social",
        "ts": dt.datetime(2024, 3, 8),  # with her email touch
    }
    load_rows(wh, {"touchpoints": [tied]})
    ctx = Context(wh)
    lo, hi = ibis.timestamp(dt.datetime(2024, 3, 1)), ibis.timestamp(dt.datetime(2024, 4, 1))
    assert type(journeys_module._touch_order(ctx, lo, hi, 7)) is StructOrder
    got = paths(warehouse_journeys(wh, "lead", start=START, end=END))
    assert got[("referral", "paid_search", "social", "email")] == (1, 0.0, 0)


def test_revenue_journeys_carry_value_timing_and_milestones(
    wh: Warehouse, on_engine: OnEngine
) -> None:
    journeys = warehouse_journeys(
        on_engine(wh), "revenue", start=START, end=END, lookback_days=365, timed=True
    )
    won = [j for j in journeys.journeys if j.conversions]
    assert len(won) == 1
    eve = won[0]
    assert eve.channels == ("events", "paid_search", "email")
    assert eve.value == 1000.0
    assert eve.days_before == pytest.approx((80.0, 65.0, 5.0))
    # the lead (Jan 10) came after the events touch; the opportunity (Feb 1) after the
    # paid search touch; the close is the last touch
    assert (eve.lead_touch, eve.opportunity_touch, eve.close_touch) == (0, 1, 2)
    w = attribute(journeys, ["w_shaped"])
    value = {r["channel"]: r["value"] for r in w.rows if r["model"] == "w_shaped" and r["value"]}
    # 30 % first (events) + 30 % lead (events) + 30 % opportunity (paid search) + 10 % rest
    assert value == pytest.approx({"events": 600.0, "paid_search": 300.0, "email": 100.0}, abs=1e-9)


def test_pipeline_and_unknown_names(wh: Warehouse, on_engine: OnEngine) -> None:
    got = paths(
        warehouse_journeys(
            on_engine(wh),
            "pipeline",
            start=dt.date(2024, 2, 1),
            end=dt.date(2024, 2, 29),
            lookback_days=365,
        )
    )
    assert got[("events", "paid_search")] == (1, 1000.0, 0)
    with pytest.raises(UnknownName, match="conversion"):
        warehouse_journeys(on_engine(wh), "leads", start=START, end=END)
    with pytest.raises(UnknownName) as err:
        warehouse_journeys(on_engine(wh), "lead", start=START, end=END, level="campain")
    assert err.value.suggestions == ["campaign"]


def test_model_comparison_sorts_by_disagreement() -> None:
    from revlens.cli.commands_attribution import compare_models

    rows = [
        {"model": "first_touch", "channel": "a", "share": 0.7},
        {"model": "first_touch", "channel": "b", "share": 0.3},
        {"model": "last_touch", "channel": "a", "share": 0.2},
        {"model": "last_touch", "channel": "b", "share": 0.7},
        {"model": "linear", "channel": "a", "share": 0.5},
        {"model": "linear", "channel": "b", "share": 0.5},
        {"model": "linear", "channel": "c", "share": 0.05},
    ]
    table = compare_models(rows, "channel")
    assert [r["channel"] for r in table] == ["a", "b", "c"]
    assert table[0] == {
        "channel": "a",
        "first_touch": "70.0%",
        "last_touch": "20.0%",
        "linear": "50.0%",
        "spread": "50.0 pp",
    }
    assert table[2]["spread"] == "5.0 pp"  # c has no credit under two models
    assert compare_models(rows[:2], "channel") == []
