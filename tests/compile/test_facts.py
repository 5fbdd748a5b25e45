"""The touch facts (`compile.facts`): the stored stitched touches and the touch-times fact,
both recorded by every import of touchpoints or identities and trusted only while the
tables hold the rows they were taken on; and the two exact routes to a contact's first
(last) touch the fact chooses between (an arg-min over the time when no contact has two
touches at one instant, else a ranking by time and touchpoint id) give the same answers,
null dimensions and events without touches included."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest

from journeys import journeys_for, load_rows, stage, touch
from revlens.catalog.spec import load_catalog
from revlens.cli.app import main
from revlens.compile import facts
from revlens.compile.context import STORED_TOUCHES, Context
from revlens.compile.facts import (
    STITCHED,
    TOUCH_TIMES,
    current_touch_times,
    ensure_touch_facts,
    stitched_touches_current,
    touch_times_unique,
)
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.funnel.engine import FunnelQuery, run_funnel
from revlens.model.warehouse import Warehouse
from two_engines import OnEngine


def test_an_import_records_that_touch_times_are_unique(warehouse: Warehouse) -> None:
    journeys_for(
        warehouse,
        {"ann": [touch("email", "2024-03-01"), touch("social", "2024-03-02")]},
    )
    assert current_touch_times(warehouse) == {
        "unique": True,
        "rows": {"touchpoints": 2, "identities": 0},
        "zone": "UTC",
    }
    assert touch_times_unique(warehouse)


def test_two_touches_of_one_contact_at_one_instant_are_a_tie(warehouse: Warehouse) -> None:
    journeys_for(
        warehouse,
        {
            "ann": [touch("email", "2024-03-01 10:00"), touch("social", "2024-03-01 10:00")],
            "bob": [touch("email", "2024-03-01 10:00")],  # another contact: no tie
        },
    )
    assert warehouse.fact(TOUCH_TIMES)["unique"] is False
    assert not touch_times_unique(warehouse)


def test_a_stitched_anonymous_touch_can_make_the_tie(warehouse: Warehouse) -> None:
    journeys_for(warehouse, {"ann": [touch("email", "2024-03-01 10:00")]})
    load_rows(
        warehouse,
        {
            "touchpoints": [
                {
                    "touchpoint_id": "anon-1",
                    "anonymous_id": "v1",
                    "ts": dt.datetime(2024, 3, 1, 10),
                    "channel": "social",
                }
            ]
        },
    )
    assert touch_times_unique(warehouse)  # not stitched yet: no tie
    load_rows(warehouse, {"identities": [{"anonymous_id": "v1", "contact_id": "ann"}]})
    assert not touch_times_unique(warehouse)


def test_an_import_that_only_updates_a_touch_takes_the_fact_again(warehouse: Warehouse) -> None:
    """Same row counts, a new time: the upsert counts as a change and records the tie."""
    journeys_for(
        warehouse,
        {"ann": [touch("email", "2024-03-01 10:00"), touch("social", "2024-03-02 10:00")]},
    )
    assert touch_times_unique(warehouse)
    moved = {
        "touchpoint_id": "ann-t1",
        "contact_id": "ann",
        "ts": dt.datetime(2024, 3, 1, 10),
        "channel": "social",
    }
    load_rows(warehouse, {"touchpoints": [moved]})
    assert warehouse.row_counts()["touchpoints"] == 2
    assert not touch_times_unique(warehouse)


def test_a_fact_is_not_trusted_once_the_rows_changed_without_an_import(
    warehouse: Warehouse,
) -> None:
    journeys_for(warehouse, {"ann": [touch("email", "2024-03-01 10:00")]})
    assert touch_times_unique(warehouse)
    warehouse.con.execute(
        "INSERT INTO touchpoints (touchpoint_id, ts, contact_id, channel) "
        "VALUES ('x', TIMESTAMP '2024-03-01 10:00', 'ann', 'social')"
    )
    assert current_touch_times(warehouse) is None
    assert not touch_times_unique(warehouse)
    assert ensure_touch_facts(warehouse)["unique"] is False  # taken again, as init does


def _stored(wh: Warehouse) -> list[tuple[Any, ...]]:
    return wh.con.execute(
        f"SELECT contact_id, touchpoint_id, channel FROM {STORED_TOUCHES}"
    ).fetchall()


def test_an_import_stores_the_stitched_touches_by_contact_and_time(
    warehouse: Warehouse,
) -> None:
    journeys_for(
        warehouse,
        {
            "bob": [touch("email", "2024-03-05"), touch("social", "2024-03-01")],
            "ann": [touch("display", "2024-03-02")],
        },
    )
    visit = {"touchpoint_id": "v-1", "anonymous_id": "v1", "ts": dt.datetime(2024, 3, 3)}
    load_rows(
        warehouse,
        {
            "touchpoints": [{**visit, "channel": "referral"}],
            "identities": [{"anonymous_id": "v1", "contact_id": "bob"}],
        },
    )
    assert _stored(warehouse) == [
        ("ann", "ann-t0", "display"),
        ("bob", "bob-t1", "social"),
        ("bob", "v-1", "referral"),  # the anonymous visit, stitched to bob
        ("bob", "bob-t0", "email"),
    ]
    assert stitched_touches_current(warehouse)
    assert warehouse.fact(STITCHED)["rows"] == {"touchpoints": 4, "identities": 1}


def test_queries_stitch_touches_themselves_once_rows_change_without_an_import(
    warehouse: Warehouse,
) -> None:
    journeys_for(warehouse, {"ann": [touch("email", "2024-03-01 10:00")]})
    warehouse.con.execute(
        "INSERT INTO touchpoints (touchpoint_id, ts, contact_id, channel) "
        "VALUES ('x', TIMESTAMP '2024-03-02 10:00', 'ann', 'social')"
    )
    assert not stitched_touches_current(warehouse)
    touches = Context(warehouse).touches(["channel"]).to_pyarrow().to_pylist()
    assert sorted(t["channel"] for t in touches) == ["email", "social"]  # read live
    ensure_touch_facts(warehouse)  # as `revlens init` does: stored again
    assert [row[2] for row in _stored(warehouse)] == ["email", "social"]


def test_stored_touches_without_landing_page_are_stale_and_stored_again(
    warehouse: Warehouse,
) -> None:
    """A warehouse whose stored touches were written before `landing_page` became a
    marketing dimension: the table lacks the column and its fact names the old columns.
    Queries do not trust it (they stitch the touches themselves) and `revlens init`
    (ensure_touch_facts) stores it again with the column."""
    journeys_for(
        warehouse,
        {
            "ann": [
                touch("email", "2024-03-01 10:00", landing_page="/a"),
                stage("lead", "2024-03-02"),
            ]
        },
    )
    old = ["channel", "source", "medium", "campaign", "ad"]
    cols = ", ".join(["touchpoint_id", "contact_id", "ts", *old])
    warehouse.con.execute(
        f"CREATE OR REPLACE TABLE {STORED_TOUCHES} AS SELECT {cols} FROM touchpoints"
    )
    warehouse.record_fact(STITCHED, {**warehouse.fact(STITCHED), "columns": old})
    assert not stitched_touches_current(warehouse)
    query = KpiQuery(
        kpis=("leads",), start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 31), by=("landing_page",)
    )
    rows = run_kpis(warehouse, query, load_catalog(measures=set(MEASURES))).rows
    assert [(r["landing_page"], r["value"]) for r in rows] == [("/a", 1.0)]
    ensure_touch_facts(warehouse)
    assert stitched_touches_current(warehouse)
    stored = warehouse.con.execute(f"SELECT landing_page FROM {STORED_TOUCHES}").fetchall()
    assert stored == [("/a",)]


def _all_stored(wh: Warehouse) -> list[tuple[Any, ...]]:
    return sorted(wh.con.execute(f"SELECT * FROM {STORED_TOUCHES}").fetchall())


def _stitched_now(wh: Warehouse) -> list[tuple[Any, ...]]:
    touches = Context(wh).stitch_touches().to_pyarrow().to_pylist()
    return sorted(tuple(t.values()) for t in touches)


def test_later_imports_update_only_the_touches_they_change(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each import the stored touches equal the touches stitched anew, and the
    touch-times fact equals a check of every contact; only the first import (no stored
    touches yet) and the one changing most of them store them all."""
    whole = []
    store = facts._store_stitched
    monkeypatch.setattr(facts, "_store_stitched", lambda wh: whole.append(1) or store(wh))
    people = {p: [touch("email", f"2024-03-0{d} 10:00") for d in (1, 2, 3)] for p in "abcdefgh"}
    journeys_for(warehouse, people)
    visit = {"touchpoint_id": "v-1", "anonymous_id": "v1", "ts": dt.datetime(2024, 3, 1, 9)}
    moved = {"touchpoint_id": "a-t0", "contact_id": "b", "ts": dt.datetime(2024, 3, 4, 10)}
    tie = {"touchpoint_id": "c-t0", "contact_id": "c", "ts": dt.datetime(2024, 3, 2, 10)}
    steps: list[dict[str, list[dict[str, Any]]]] = [
        {"touchpoints": [{**visit, "channel": "referral"}]},  # anonymous: no contact yet
        {"identities": [{"anonymous_id": "v1", "contact_id": "d"}]},  # the visit is d's
        {"touchpoints": [{**moved, "channel": "social"}]},  # a's first touch becomes b's
        {"touchpoints": [{**tie, "channel": "display"}]},  # two of c's touches tie
    ]
    uniques = []
    for rows in steps:
        load_rows(warehouse, rows)
        assert _all_stored(warehouse) == _stitched_now(warehouse)
        assert stitched_touches_current(warehouse)
        uniques.append(warehouse.fact(TOUCH_TIMES)["unique"])
        assert uniques[-1] == (not facts._has_ties(warehouse))
    assert uniques == [True, True, True, False]
    assert ("v-1", "d") in [(r[0], r[1]) for r in _all_stored(warehouse)]
    assert len(whole) == 1  # the first import only
    everyone = [{**moved, "touchpoint_id": f"{p}-t1", "contact_id": p} for p in "abcdefgh"]
    load_rows(warehouse, {"touchpoints": [{**t, "channel": "events"} for t in everyone]})
    assert len(whole) == 2  # 8 of 25 touches changed: all stored again, in order
    assert _all_stored(warehouse) == _stitched_now(warehouse)


def test_a_warehouse_without_touches_has_unique_times(warehouse: Warehouse) -> None:
    assert ensure_touch_facts(warehouse) == {
        "unique": True,
        "rows": {"touchpoints": 0, "identities": 0},
        "zone": "UTC",
    }


# -- both routes to the first (last) touch -------------------------------------------------
PEOPLE = {
    # the first touch has no source: the source stays null, not the next touch's
    "ann": [
        touch("email", "2024-03-01"),
        touch("paid_search", "2024-03-02", source="google"),
        stage("lead", "2024-03-04"),
    ],
    # the last touch has no source; the first has one
    "bob": [
        touch("social", "2024-03-05", source="linkedin"),
        touch("email", "2024-03-06"),
        stage("lead", "2024-03-07"),
    ],
    # no touch inside the lookback: every dimension null
    "cat": [touch("social", "2023-01-01"), stage("lead", "2024-03-08")],
    # a touch after the event does not count
    "dan": [
        touch("display", "2024-03-02"),
        stage("lead", "2024-03-03"),
        touch("email", "2024-03-04"),
    ],
}
EXPECTED: dict[str, dict[str, tuple[str | None, str | None]]] = {  # which: (channel, source)
    "ann": {"first": ("email", None), "last": ("paid_search", "google")},
    "bob": {"first": ("social", "linkedin"), "last": ("email", None)},
    "cat": {"first": (None, None), "last": (None, None)},
    "dan": {"first": ("display", None), "last": ("display", None)},
}


def _leads_with_touch(reader: Any, which: str, unique_rows: bool, unique_times: bool) -> Any:
    ctx = Context(reader, lookback_days=90)
    # the route under test
    ctx._cache["touch_facts"] = replace(ctx.touch_facts, times={"unique": unique_times})
    leads = ctx.stage_dates().filter(lambda t: t.stage == "lead")
    events = leads.select("contact_id", "ts", value=ibis.literal(1.0))
    found = ctx.touch_dims(events, which, dims=["channel", "source"], unique_rows=unique_rows)
    rows = found.to_pyarrow().to_pylist()
    return {r["contact_id"]: (r["channel"], r["source"]) for r in rows}


@pytest.mark.parametrize("which", ["first", "last"])
@pytest.mark.parametrize("unique_rows", [True, False], ids=["per-row", "per-moment"])
@pytest.mark.parametrize("unique_times", [True, False], ids=["arg-min", "ranking"])
def test_both_routes_find_the_same_touch(
    warehouse: Warehouse,
    on_engine: OnEngine,
    which: str,
    unique_rows: bool,
    unique_times: bool,
) -> None:
    journeys_for(warehouse, PEOPLE)
    got = _leads_with_touch(on_engine(warehouse), which, unique_rows, unique_times)
    assert got == {person: routes[which] for person, routes in EXPECTED.items()}


def test_a_tie_goes_to_the_smaller_touchpoint_id(warehouse: Warehouse) -> None:
    """With a tie the warehouse says so and the ranking decides by touchpoint id."""
    journeys_for(
        warehouse,
        {
            "ann": [
                touch("social", "2024-03-01 10:00", touchpoint_id="t2"),
                touch("email", "2024-03-01 10:00", touchpoint_id="t1"),
                stage("lead", "2024-03-02"),
            ]
        },
    )
    ctx = Context(warehouse)
    assert not ctx.touch_times_unique
    leads = ctx.stage_dates()
    events = leads.select("contact_id", "ts", value=ibis.literal(1.0))
    for which, channel in (("first", "email"), ("last", "social")):
        for unique_rows in (True, False):
            found = ctx.touch_dims(events, which, dims=["channel"], unique_rows=unique_rows)
            assert found.to_pyarrow()["channel"].to_pylist() == [channel]


def test_the_batch_ranks_when_the_arg_min_runs_out_of_memory(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB cannot spill the arg-min's aggregate (the whole catalogue's batch at 10M
    contacts ran out of its 6GB): the batch runs again with the ranking, which spills."""
    journeys_for(warehouse, PEOPLE)
    query = KpiQuery(
        kpis=("leads",), start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 31), by=("channel",)
    )
    catalog = load_catalog(measures=set(MEASURES))
    real = Context.touch_dims
    routes: list[bool] = []

    def out_of_memory_once(self: Context, events: Any, which: str = "first", **kw: Any) -> Any:
        routes.append(self.rank_touches)
        if not self.rank_touches:
            raise duckdb.OutOfMemoryException("Out of Memory Error: (test)")
        return real(self, events, which, **kw)

    monkeypatch.setattr(Context, "touch_dims", out_of_memory_once)
    rows = run_kpis(warehouse, query, catalog).rows
    assert routes == [False, True]
    assert {r["channel"]: r["value"] for r in rows} == {
        "email": 1,
        "social": 1,
        "display": 1,
        None: 1,
    }
    # the funnel's per-entity touch takes the same way out
    routes.clear()
    funnel = run_funnel(
        warehouse,
        FunnelQuery(
            stages=("lead", "mql"),
            start=dt.date(2024, 3, 1),
            end=dt.date(2024, 3, 31),
            by=("channel",),
            touch="first",
        ),
    )
    assert routes == [False, True]
    leads = [r for r in funnel.rows if r["stage"] == "lead"]
    assert {r["channel"]: r["count"] for r in leads} == {
        "email": 1,
        "social": 1,
        "display": 1,
        None: 1,
    }


def test_init_refreshes_the_touches_after_a_write_that_kept_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wh.duckdb"
    with Warehouse.open(path, create=True) as wh:
        journeys_for(
            wh,
            {"ann": [touch("email", "2024-03-01 10:00"), touch("social", "2024-03-02 10:00")]},
        )
        # a write by other means that keeps the row counts: not noticed by queries
        wh.con.execute(
            "UPDATE touchpoints SET ts = TIMESTAMP '2024-03-01 10:00', channel = 'display' "
            "WHERE touchpoint_id = 'ann-t1'"
        )
        assert touch_times_unique(wh)
    monkeypatch.delenv("REVLENS_WAREHOUSE", raising=False)

    def init(*options: str) -> list[str]:
        monkeypatch.setattr(sys, "argv", ["revlens", "-w", str(path), "init", *options])
        main()
        capsys.readouterr()
        with Warehouse.open(path, read_only=True) as wh:
            assert touch_times_unique(wh) is (options == ())
            return [row[2] for row in _stored(wh)]

    assert init() == ["email", "social"]  # current by the counts: kept as it was
    assert init("--refresh-touches") == ["email", "display"]


def test_a_failed_import_leaves_the_stored_touches_and_facts_as_they_were(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    journeys_for(warehouse, {"ann": [touch("email", "2024-03-01 10:00")]})
    before = (_all_stored(warehouse), warehouse.fact(STITCHED), warehouse.fact(TOUCH_TIMES))

    def interrupted(*args: Any, **kwargs: Any) -> bool:
        raise KeyboardInterrupt  # after the new touch was stored, before the facts

    monkeypatch.setattr(facts, "_has_ties", interrupted)
    later = {"touchpoint_id": "x", "contact_id": "ann", "ts": dt.datetime(2024, 3, 2)}
    with pytest.raises(KeyboardInterrupt):
        load_rows(warehouse, {"touchpoints": [{**later, "channel": "social"}]})
    after = (_all_stored(warehouse), warehouse.fact(STITCHED), warehouse.fact(TOUCH_TIMES))
    assert after == before
    assert warehouse.row_counts()["touchpoints"] == 1
