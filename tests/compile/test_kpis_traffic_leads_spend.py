"""KPIS.md sections A (reach, traffic, engagement), B (leads and qualification) and C (spend
and efficiency) against a pure-Python reference computed from the same hand-built journeys.

The reference reads the catalogue descriptions (src/revlens/catalog/kpis.yml) and KPIS.md,
not the measures: it walks the journey events below with plain loops and dicts.

Every query runs on each engine (`reader`: the warehouse on DuckDB, its lake on Spark)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from journeys import (
    Event,
    activity,
    deal,
    email,
    journeys_for,
    load_rows,
    meeting,
    session,
    stage,
    touch,
)
from revlens.catalog.spec import Catalog, load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, KpiResult, _Evaluator, query_context, run_kpis
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

START, END = dt.date(2024, 1, 1), dt.date(2024, 3, 31)
MONTHS = [
    (dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    (dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    (dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
]

SECTION_A = (
    "reach",
    "sessions",
    "new_visitors",
    "bounce_rate",
    "pages_per_session",
    "engagement",
    "social_click_through",
)
SECTION_B = (
    "leads",
    "visit_to_lead",
    "mqls",
    "lead_to_mql",
    "mql_acceptance",
    "sqls",
    "mql_to_sql",
    "lead_to_open_opportunity",
    "opportunities",
    "mql_to_opportunity",
    "sql_to_opportunity",
    "meetings_booked",
    "meetings_attended",
    "meeting_attendance_rate",
    "lead_score",
)
SECTION_C = (
    "spend",
    "cpl",
    "cost_per_mql",
    "cost_per_sql",
    "cost_per_opportunity",
    "cac",
    "marketing_roi",
    "roas",
)
ALL = SECTION_A + SECTION_B + SECTION_C


# -- the data ----------------------------------------------------------------------------
PEOPLE: dict[str, list[Event]] = {
    "alice": [
        session("paid_search", "2024-01-03T10:00:00", pageviews=3, is_bounce=False),
        stage("lead", "2024-01-03T10:05:00"),
        touch("paid_search", "2024-01-03T10:06:00", touch_type="form"),  # +10
        email("open", "nl1", "2024-01-10"),  # +2
        email("open", "nl1", "2024-01-11"),  # +2 (every open is a behaviour)
        email("click", "nl1", "2024-01-11T00:01:00"),  # +5
        stage("mql", "2024-01-15"),
        # (the first row of a table must carry every key: pyarrow's from_pylist drops the
        # keys the first row lacks, so `outcome` is given here)
        activity("call", "2024-01-16", outcome="connected"),  # accepted
        meeting("2024-01-16", "2024-01-20", attended=True),  # +20
        stage("sql", "2024-01-25"),
        stage("mql", "2024-02-01"),  # a repeat: counts once, in January
        deal(1000, "2024-02-01", closed="2024-03-01", won=True),
    ],
    "bob": [
        session("organic_social", "2024-01-08", pageviews=1, is_bounce=True),
        stage("lead", "2024-01-08T12:00:00"),
        meeting("2024-01-28", "2024-02-02", attended=True),  # booked Jan, held Feb, +20
        stage("sql", "2024-02-05"),  # skips MQL
        deal(700, "2024-02-10", closed="2024-03-05", won=False),
    ],
    "carol": [
        session("email", "2023-12-20", pageviews=2),  # first session before the range
        stage("lead", "2023-12-20T01:00:00"),  # a December lead
        stage("mql", "2024-01-05"),
        activity("status_change", "2024-01-06", outcome="accepted"),
        stage("sql", "2024-01-09"),
        deal(500, "2024-01-10", closed="2024-02-20", won=True, currency="EUR", account="acme"),
        session("email", "2024-01-22", pageviews=4, is_bounce=False),
    ],
    # no lead event: the lead date is created_at (the earliest event)
    "dave": [touch("paid_search", "2024-02-02", touch_type="ad_click")],
    "erin": [deal(900, "2024-03-01", closed="2024-03-10", won=True, account="acme")],
    "frank": [
        stage("lead", "2024-03-20"),
        stage("mql", "2024-03-22"),
        email("open", "nl2", "2024-03-25"),  # +2
        activity("email", "2024-04-02"),  # accepted after the range: still accepted
        deal(300, "2024-04-05"),  # an opportunity after the MQL (and the acceptance)
    ],
    "gina": [
        touch("webinar", "2024-02-10", touch_type="event"),  # before the lead: no points
        touch("organic_social", "2024-02-11", touch_type="ad_click"),  # not a session
        stage("lead", "2024-02-12"),
        activity("call", "2024-02-13"),  # before the MQL: not an acceptance
        stage("mql", "2024-02-14"),
        activity("status_change", "2024-02-15", outcome="rejected"),  # not an acceptance
        meeting("2024-02-14", "2024-02-21", attended=False),
        meeting("2024-02-25", "2024-03-02"),  # attendance unknown: not attended
        touch("webinar", "2024-02-20", touch_type="event"),  # +15
    ],
    "hank": [
        session("paid_social", "2024-01-30", pageviews=5, is_bounce=False),
        stage("lead", "2024-02-03"),  # the lead event wins over created_at (Jan 30)
        email("click", "nl2", "2024-02-05"),  # +5
        stage("lead", "2024-02-20"),  # repeat
        stage("mql", "2024-02-25"),
        activity("meeting", "2024-02-26"),  # accepted
        deal(400, "2024-02-27"),
        deal(250, "2024-03-03"),  # a second opportunity counts too
    ],
    "ivy": [
        deal(2000, "2023-12-01"),  # an opportunity before the MQL: not "then got one"
        stage("lead", "2024-03-05"),
        stage("mql", "2024-03-06"),
        activity("call", "2024-03-06T09:00:00"),
        stage("sql", "2024-03-07"),
        meeting("2024-03-06", "2024-03-08", attended=True),  # +20
    ],
}

# anonymous touchpoints; identities stitch some of them to contacts
ANON_TOUCHES: list[dict[str, Any]] = [
    # stitched to alice: her first session is in December, so she is not new in January
    {"anonymous_id": "v1", "ts": "2023-12-28T09:00:00", "channel": "direct", "pageviews": 1},
    {
        "anonymous_id": "v2",
        "ts": "2024-02-05T09:00:00",
        "channel": "direct",
        "pageviews": 2,
        "is_bounce": True,
    },
    {
        "anonymous_id": "v2",
        "ts": "2024-02-06T09:00:00",
        "channel": "referral",
        "pageviews": 6,
        "is_bounce": False,
    },
    # stitched to hank, who had a session in January: not new in March
    {
        "anonymous_id": "v3",
        "ts": "2024-03-10T09:00:00",
        "channel": "direct",
        "pageviews": 1,
        "is_bounce": True,
    },
    {"anonymous_id": "v4", "ts": "2024-03-12T09:00:00", "channel": "Paid_Social", "pageviews": 2},
    {
        "anonymous_id": "v4",
        "ts": "2024-03-13T09:00:00",
        "channel": "display",
        "touch_type": "ad_click",
    },
    # stitched to ivy: a form after her lead date is worth 10 points
    {"anonymous_id": "v5", "ts": "2024-03-08T10:00:00", "channel": "organic", "touch_type": "form"},
]
IDENTITIES = {"v1": "alice", "v3": "hank", "v5": "ivy"}

FX = [
    {"date": dt.date(2023, 12, 1), "currency": "GBP", "rate": 1.25},
    {"date": dt.date(2024, 1, 1), "currency": "EUR", "rate": 1.1},
    {"date": dt.date(2024, 2, 15), "currency": "EUR", "rate": 1.2},
]
SPEND = [
    {"date": dt.date(2023, 12, 31), "channel": "paid_search", "cost": 77.0, "currency": "USD"},
    {"date": dt.date(2024, 1, 1), "channel": "paid_search", "cost": 300.0, "currency": "USD"},
    {"date": dt.date(2024, 1, 15), "channel": "paid_social", "cost": 200.0, "currency": "GBP"},
    {"date": dt.date(2024, 2, 14), "channel": "display", "cost": 100.0, "currency": "EUR"},
    {"date": dt.date(2024, 2, 15), "channel": "display", "cost": 100.0, "currency": "EUR"},
    {"date": dt.date(2024, 3, 10), "channel": "paid_search", "cost": 50.0, "currency": "USD"},
    {"date": dt.date(2024, 4, 1), "channel": "display", "cost": 999.0, "currency": "USD"},
]
AUDIENCES = [
    {"date": dt.date(2023, 12, 31), "audience": "email_list", "size": 900},
    {"date": dt.date(2024, 1, 15), "audience": "email_list", "size": 1000},
    {"date": dt.date(2024, 1, 31), "audience": "email_list", "size": 1100},
    {"date": dt.date(2024, 1, 20), "audience": "social_followers", "size": 500},
    {"date": dt.date(2024, 1, 10), "audience": "blog_subscribers", "size": 200},
    {"date": dt.date(2024, 2, 28), "audience": "email_list", "size": 1200},
    {"date": dt.date(2024, 2, 10), "audience": "social_followers", "size": 520},
    {"date": dt.date(2024, 2, 25), "audience": "blog_subscribers", "size": 210},
    {"date": dt.date(2024, 3, 31), "audience": "email_list", "size": 1300},
    {"date": dt.date(2024, 3, 5), "audience": "social_followers", "size": 540},
    {"date": dt.date(2024, 3, 30), "audience": "social_followers", "size": 560},
    {"date": dt.date(2024, 3, 1), "audience": "blog_subscribers", "size": 220},
    {"date": dt.date(2024, 4, 1), "audience": "email_list", "size": 5000},
]
POSTS = [
    {
        "post_id": "p0",
        "published_at": "2023-12-31T23:00:00",
        "channel": "linkedin",
        "likes": 99,
        "comments": 9,
        "shares": 9,
    },
    {
        "post_id": "p1",
        "published_at": "2024-01-05T10:00:00",
        "channel": "linkedin",
        "likes": 10,
        "comments": 2,
        "shares": 3,
        "clicks": 40,
    },
    {
        "post_id": "p2",
        "published_at": "2024-01-25T10:00:00",
        "channel": "twitter",
        "likes": 5,
        "comments": 0,
        "shares": 1,
    },
    {
        "post_id": "p3",
        "published_at": "2024-02-07T10:00:00",
        "channel": "linkedin",
        "likes": 20,
        "comments": 4,
        "shares": 6,
    },
]
SCORE_POINTS = {"form": 10, "event": 15, "open": 2, "click": 5, "meeting": 20}
SCORE_HORIZON = dt.timedelta(days=90)


def padded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with every key (pyarrow's from_pylist keeps only the first row's keys)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in keys} for r in rows]


def anon_rows() -> list[dict[str, Any]]:
    return padded(
        [
            {"touchpoint_id": f"anon-{i}", "contact_id": None, "touch_type": "session", **row}
            for i, row in enumerate(ANON_TOUCHES)
        ]
    )


def load(wh: Warehouse) -> None:
    load_rows(wh, {"fx_rates": FX})
    journeys_for(wh, PEOPLE)
    load_rows(
        wh,
        {
            "touchpoints": anon_rows(),
            "identities": [{"anonymous_id": a, "contact_id": c} for a, c in IDENTITIES.items()],
            "spend": SPEND,
            "audience_snapshots": AUDIENCES,
            "social_posts": padded(POSTS),
        },
    )


# -- the reference -------------------------------------------------------------------------
def when(text: str | dt.datetime) -> dt.datetime:
    return text if isinstance(text, dt.datetime) else dt.datetime.fromisoformat(text)


def rate(currency: str, day: dt.date) -> float:
    """The latest rate on or before `day` (every test row has one)."""
    if currency == "USD":
        return 1.0
    known = sorted((r["date"], r["rate"]) for r in FX if r["currency"] == currency)
    return [r for d, r in known if d <= day][-1]


class World:
    """The journeys flattened into plain lists, once."""

    def __init__(self) -> None:
        self.stage_first: dict[tuple[str, str], dt.datetime] = {}
        self.sessions: list[dict[str, Any]] = []
        self.deals: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.meetings: list[dict[str, Any]] = []
        self.behaviour: dict[str, list[tuple[dt.datetime, int]]] = {}
        for person, events in PEOPLE.items():
            times = []
            for e in events:
                r = e.row
                times.append(r.get("ts") or r.get("created_at") or r.get("booked_at"))
                if e.table == "stage_events":
                    key = (person, r["stage"])
                    self.stage_first[key] = min(self.stage_first.get(key, r["ts"]), r["ts"])
                elif e.table == "touchpoints":
                    self._touch(person, None, r["ts"], r)
                elif e.table == "opportunities":
                    self.deals.append({"person": person, **r})
                elif e.table == "sales_activities":
                    self.activities.append({"person": person, **r})
                elif e.table == "meetings":
                    self.meetings.append({"person": person, **r})
                    if r["attended"]:
                        self._score(person, r["scheduled_for"], SCORE_POINTS["meeting"])
                elif e.table == "email_events" and r["event"] in ("open", "click"):
                    self._score(person, r["ts"], SCORE_POINTS[r["event"]])
            # no lead event: the contact's creation (its earliest event) is the lead date
            self.stage_first.setdefault((person, "lead"), min(times))
        for row in ANON_TOUCHES:
            self._touch(None, row["anonymous_id"], when(row["ts"]), row)

    def _score(self, person: str, at: dt.datetime, points: int) -> None:
        self.behaviour.setdefault(person, []).append((at, points))

    def _touch(self, person: str | None, anon: str | None, at: dt.datetime, r: Any) -> None:
        owner = person or IDENTITIES.get(anon or "")
        kind = r.get("touch_type", "session")
        if kind == "session":
            self.sessions.append(
                {
                    "visitor": owner or anon,
                    "ts": at,
                    "channel": r["channel"],
                    "bounce": bool(r.get("is_bounce")),
                    "pageviews": r.get("pageviews") or 0,
                }
            )
        elif kind in ("form", "event") and owner:
            self._score(owner, at, SCORE_POINTS[kind])

    def firsts(self, role: str) -> dict[str, dt.datetime]:
        return {p: t for (p, s), t in self.stage_first.items() if s == role}


W = World()


def reference(a: dt.date, b: dt.date) -> dict[str, dict[str, Any]]:
    """Every KPI of sections A-C for the period [a, b], from the journeys."""

    def inside(t: dt.datetime | dt.date) -> bool:
        d = t.date() if isinstance(t, dt.datetime) else t
        return a <= d <= b

    def ratio(n: float, d: float) -> dict[str, Any]:
        return {"value": None if d == 0 else n / d, "numerator": n, "denominator": d}

    def count(v: float) -> dict[str, Any]:
        return {"value": v, "numerator": None, "denominator": None}

    out: dict[str, dict[str, Any]] = {}
    # A
    last: dict[str, tuple[dt.date, int]] = {}
    for s in AUDIENCES:
        if inside(s["date"]) and (s["audience"] not in last or s["date"] > last[s["audience"]][0]):
            last[s["audience"]] = (s["date"], s["size"])
    out["reach"] = count(sum(size for _, size in last.values()) if last else None)
    sessions = [s for s in W.sessions if inside(s["ts"])]
    out["sessions"] = count(len(sessions))
    first_seen: dict[str, dt.datetime] = {}
    for s in W.sessions:
        first_seen[s["visitor"]] = min(first_seen.get(s["visitor"], s["ts"]), s["ts"])
    out["new_visitors"] = count(sum(1 for t in first_seen.values() if inside(t)))
    out["bounce_rate"] = ratio(sum(1 for s in sessions if s["bounce"]), len(sessions))
    out["pages_per_session"] = ratio(sum(s["pageviews"] for s in sessions), len(sessions))
    out["engagement"] = count(
        sum(
            p["likes"] + p["comments"] + p["shares"]
            for p in POSTS
            if inside(when(p["published_at"]))
        )
    )
    out["social_click_through"] = count(
        sum(1 for s in sessions if "social" in s["channel"].lower())
    )
    # B
    lead_at, mql_at, sql_at = W.firsts("lead"), W.firsts("mql"), W.firsts("sql")
    leads = {p for p, t in lead_at.items() if inside(t)}
    mqls = {p for p, t in mql_at.items() if inside(t)}
    sqls = {p for p, t in sql_at.items() if inside(t)}
    opps = [d for d in W.deals if inside(d["created_at"])]
    out["leads"] = count(len(leads))
    out["visit_to_lead"] = ratio(len(leads), len(sessions))
    out["mqls"] = count(len(mqls))
    out["lead_to_mql"] = ratio(len(mqls), len(leads))

    def accepted(p: str) -> dt.datetime | None:
        touches = [
            x["ts"]
            for x in W.activities
            if x["person"] == p
            and x["ts"] >= mql_at[p]
            and (
                x["activity_type"] in ("call", "email", "meeting")
                or (x["activity_type"] == "status_change" and x.get("outcome") == "accepted")
            )
        ]
        return min(touches) if touches else None

    worked = {p for p in mqls if accepted(p) is not None}
    out["mql_acceptance"] = ratio(len(worked), len(mqls))
    out["sqls"] = count(len(sqls))
    out["mql_to_sql"] = ratio(len(sqls), len(mqls))
    with_opp = {
        p for p in worked if any(d["person"] == p and d["created_at"] >= mql_at[p] for d in W.deals)
    }
    out["lead_to_open_opportunity"] = ratio(len(with_opp), len(worked))
    out["opportunities"] = count(len(opps))
    out["mql_to_opportunity"] = ratio(len(opps), len(mqls))
    out["sql_to_opportunity"] = ratio(len(opps), len(sqls))
    out["meetings_booked"] = count(sum(1 for m in W.meetings if inside(m["booked_at"])))
    held = [m for m in W.meetings if inside(m["scheduled_for"])]
    attended = sum(1 for m in held if m["attended"])
    out["meetings_attended"] = count(attended)
    out["meeting_attendance_rate"] = ratio(attended, len(held))
    scores = [
        sum(
            pts
            for at, pts in W.behaviour.get(p, [])
            if lead_at[p] <= at <= lead_at[p] + SCORE_HORIZON
        )
        for p in leads
    ]
    out["lead_score"] = {
        "value": statistics.median(scores) if scores else None,
        "mean": statistics.mean(scores) if scores else None,
        "numerator": None,
        "denominator": None,
    }
    # C
    spend = sum(s["cost"] * rate(s["currency"], s["date"]) for s in SPEND if inside(s["date"]))
    won = [d for d in W.deals if d["is_won"] and inside(d["closed_at"])]
    revenue = sum(d["amount"] * rate(d["currency"], d["closed_at"].date()) for d in won)
    first_win: dict[str, dt.datetime] = {}
    for d in W.deals:
        if d["is_won"]:
            who = d["account_id"] or d["person"]
            first_win[who] = min(first_win.get(who, d["closed_at"]), d["closed_at"])
    customers = sum(1 for t in first_win.values() if inside(t))
    out["spend"] = count(spend)
    out["cpl"] = ratio(spend, len(leads))
    out["cost_per_mql"] = ratio(spend, len(mqls))
    out["cost_per_sql"] = ratio(spend, len(sqls))
    out["cost_per_opportunity"] = ratio(spend, len(opps))
    out["cac"] = ratio(spend, customers)
    out["marketing_roi"] = count(None if spend == 0 else (revenue - spend) / spend)
    out["roas"] = ratio(revenue, spend)
    return out


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(measures=set(MEASURES))


@pytest.fixture(scope="module")
def wh() -> Iterator[Warehouse]:
    warehouse = Warehouse.open(":memory:", create=True)
    load(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="module")
def reader(wh: Warehouse, on_engine: OnEngine) -> Reader:
    return on_engine(wh)


@pytest.fixture(scope="module")
def computed(reader: Reader, catalog: Catalog) -> Any:
    """Every KPI of sections A-C in one query per grain, as a dashboard would ask."""
    cache: dict[tuple[tuple[str, ...], str | None], KpiResult] = {}

    def get(kpi: str, grain: str | None) -> KpiResult:
        kpis = ALL
        if (kpis, grain) not in cache:
            query = KpiQuery(kpis=kpis, start=START, end=END, grain=grain)
            cache[kpis, grain] = run_kpis(reader, query, catalog)
        return cache[kpis, grain]

    return get


def rows_of(result: KpiResult, kpi: str) -> list[dict[str, Any]]:
    return [r for r in result.rows if r["kpi"] == kpi]


def check(row: dict[str, Any], expected: dict[str, Any]) -> None:
    where = f"{row['kpi']} {row['period_start']}"
    for key in ("value", "numerator", "denominator", "mean"):
        if key not in expected:
            continue
        want = expected[key]
        if want is None:
            assert row.get(key) is None, (where, key, row.get(key))
        else:
            assert row[key] == pytest.approx(want, rel=1e-12), (where, key, row[key], want)


# -- the comparison, one test per KPI and grain ---------------------------------------------
@pytest.mark.parametrize("kpi", ALL)
def test_monthly_rows_match_the_reference(kpi: str, computed: Any) -> None:
    rows = rows_of(computed(kpi, "month"), kpi)
    assert [(r["period_start"], r["period_end"]) for r in rows] == MONTHS
    for row, (a, b) in zip(rows, MONTHS, strict=True):
        assert row["mode"] == "period"
        check(row, reference(a, b)[kpi])


@pytest.mark.parametrize("kpi", ALL)
def test_whole_range_row_matches_the_reference(kpi: str, computed: Any) -> None:
    rows = rows_of(computed(kpi, None), kpi)
    assert [(r["period_start"], r["period_end"]) for r in rows] == [(START, END)]
    check(rows[0], reference(START, END)[kpi])


def test_units_follow_the_catalogue(computed: Any) -> None:
    units = {k: rows_of(computed(k, None), k)[0]["unit"] for k in ALL}
    assert units["reach"] == units["sessions"] == units["leads"] == "count"
    assert units["bounce_rate"] == units["lead_to_mql"] == units["marketing_roi"] == "percent"
    assert units["pages_per_session"] == units["roas"] == "ratio"
    assert units["spend"] == units["cpl"] == units["cac"] == "money"


# -- the reference itself, hand-counted once -------------------------------------------------
def test_reference_hand_counted() -> None:
    jan, feb, mar = (reference(a, b) for a, b in MONTHS)
    # A: sessions alice, bob, carol, hank in Jan; v2 twice in Feb; v3, v4 in Mar
    assert [m["sessions"]["value"] for m in (jan, feb, mar)] == [4, 2, 2]
    # new: bob, hank (alice's first session is the stitched v1 in Dec; carol's is in Dec);
    # v2; v4 (v3 is hank's)
    assert [m["new_visitors"]["value"] for m in (jan, feb, mar)] == [2, 1, 1]
    assert jan["reach"]["value"] == 1100 + 500 + 200
    assert mar["reach"]["value"] == 1300 + 560 + 220
    assert jan["engagement"]["value"] == 15 + 6 and mar["engagement"]["value"] == 0
    assert [m["social_click_through"]["value"] for m in (jan, feb, mar)] == [2, 0, 1]
    # B: alice, bob | dave (created_at), gina, hank (event, not Jan 30) | erin, frank, ivy
    assert [m["leads"]["value"] for m in (jan, feb, mar)] == [2, 3, 3]
    assert [m["mqls"]["value"] for m in (jan, feb, mar)] == [2, 2, 2]
    assert [m["sqls"]["value"] for m in (jan, feb, mar)] == [2, 1, 1]
    assert [m["opportunities"]["value"] for m in (jan, feb, mar)] == [1, 3, 2]
    # accepted: alice, carol | hank (gina's call is before, her status is 'rejected') |
    # frank (in April), ivy
    assert [m["mql_acceptance"]["numerator"] for m in (jan, feb, mar)] == [2, 1, 2]
    # then an opportunity: carol (alice's came after too) | hank | frank, not ivy (December)
    assert [m["lead_to_open_opportunity"]["numerator"] for m in (jan, feb, mar)] == [2, 1, 1]
    assert jan["lead_to_open_opportunity"]["value"] == 1.0
    assert [m["meetings_booked"]["value"] for m in (jan, feb, mar)] == [2, 2, 1]
    assert [m["meeting_attendance_rate"]["value"] for m in (jan, feb, mar)] == [1, 0.5, 0.5]
    # scores: alice 10+2+2+5+20, bob 20 | dave 0, gina 15, hank 5 | erin 0, frank 2, ivy 30
    assert jan["lead_score"]["value"] == 29.5
    assert feb["lead_score"]["value"] == 5 and feb["lead_score"]["mean"] == pytest.approx(20 / 3)
    assert mar["lead_score"]["value"] == 2 and mar["lead_score"]["mean"] == pytest.approx(32 / 3)
    # C: 300 + GBP 200 at 1.25 | EUR 100 at 1.1 + EUR 100 at 1.2 | 50
    assert jan["spend"]["value"] == pytest.approx(550)
    assert feb["spend"]["value"] == pytest.approx(230)
    assert mar["spend"]["value"] == 50
    assert jan["cac"]["value"] is None  # no new customer in January
    assert jan["marketing_roi"]["value"] == -1.0
    assert feb["roas"]["value"] == pytest.approx(600 / 230)  # carol's EUR 500 at 1.2
    assert mar["roas"]["value"] == pytest.approx(1900 / 50)  # alice + erin
    assert mar["cac"]["value"] == 50  # alice (erin's account acme was already a customer)


# -- targeted checks -------------------------------------------------------------------------
def test_stitched_visitors_are_one_visitor(computed: Any) -> None:
    """Over the quarter: bob, carol? no (Dec), hank, v2, v4 are new; alice is not (v1 in
    December is hers) and v3 is hank, already counted."""
    (row,) = rows_of(computed("new_visitors", None), "new_visitors")
    assert row["value"] == 4


def test_contacts_without_a_lead_event_are_leads_at_creation(
    reader: Reader, catalog: Catalog
) -> None:
    result = run_kpis(
        reader,
        KpiQuery(kpis=("leads",), start=dt.date(2024, 2, 2), end=dt.date(2024, 2, 2)),
        catalog,
    )
    assert result.rows[0]["value"] == 1  # dave, whose only event is an ad click that day
    result = run_kpis(
        reader,
        KpiQuery(kpis=("leads",), start=dt.date(2024, 1, 30), end=dt.date(2024, 1, 30)),
        catalog,
    )
    assert result.rows[0]["value"] == 0  # hank was created then, but his lead event is later


def test_lead_score_params_override_the_default_points(reader: Reader) -> None:
    """A project catalogue may change the points: forms worth 100 instead of 10."""
    base = load_catalog(measures=set(MEASURES))
    spec = base.kpis["lead_score"].model_copy(update={"params": {"form": 100.0}})
    custom = Catalog({**base.kpis, "lead_score": spec})
    result = run_kpis(
        reader,
        KpiQuery(kpis=("lead_score",), start=MONTHS[2][0], end=MONTHS[2][1]),
        custom,
    )
    # March leads: erin 0, frank 2, ivy 100 (stitched form) + 20
    assert result.rows[0]["value"] == 2
    assert result.rows[0]["mean"] == pytest.approx(122 / 3)


def test_spend_is_converted_at_the_rate_of_its_date(reader: Reader, catalog: Catalog) -> None:
    result = run_kpis(
        reader,
        KpiQuery(
            kpis=("spend",), start=dt.date(2024, 2, 14), end=dt.date(2024, 2, 15), grain="day"
        ),
        catalog,
    )
    assert [r["value"] for r in result.rows] == [pytest.approx(110.0), pytest.approx(120.0)]


def test_empty_periods_give_zero_counts_and_null_ratios(reader: Reader, catalog: Catalog) -> None:
    day = dt.date(2024, 1, 2)  # nothing happened on this day
    result = run_kpis(
        reader,
        KpiQuery(
            kpis=(
                "sessions",
                "bounce_rate",
                "lead_to_mql",
                "cpl",
                "roas",
                "marketing_roi",
                "meeting_attendance_rate",
            ),
            start=day,
            end=day,
        ),
        catalog,
    )
    got = {r["kpi"]: r for r in result.rows}
    assert got["sessions"]["value"] == 0
    for kpi in (
        "bounce_rate",
        "lead_to_mql",
        "cpl",
        "roas",
        "marketing_roi",
        "meeting_attendance_rate",
    ):
        assert got[kpi]["value"] is None, kpi
    assert got["cpl"]["denominator"] == 0 and got["roas"]["denominator"] == 0


@pytest.mark.parametrize("by", [("channel",), ("owner",)])
def test_session_variants_in_one_scan_equal_their_own_queries(
    reader: Reader, catalog: Catalog, by: tuple[str, ...]
) -> None:
    """The session measures summed in one scan (`prefetch_families`) give each measure the
    cells of its own query: the same sums, and a cell only where the measure kept a row."""
    query = KpiQuery(
        kpis=("bounce_rate", "pages_per_session", "social_click_through"),
        start=START,
        end=END,
        grain="month",
        by=by,
    )
    ctx = query_context(reader, query)
    together = _Evaluator(ctx, catalog, query, START, END)
    together.prefetch_families([catalog.get(k) for k in query.kpis])
    alone = _Evaluator(ctx, catalog, query, START, END)
    try:
        names = sorted(name for name, _ in together.measures)
        assert names == ["bounced_sessions", "pageviews", "sessions", "social_sessions"]
        for (name, params), agg in together.measures.items():
            assert agg == alone.measure(name, dict(params)), name
    finally:
        ctx.release()
