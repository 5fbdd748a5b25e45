"""KpiQuery semantics (KPIS.md conventions): grains, week and fiscal-year starts, clipping,
dimensions by first touch within the lookback window, cost KPIs by channel, zero
denominators, stage skips and repeats, cohort mode and maturity, comparisons, targets,
time zones and unknown names. Expected numbers come from small pure-Python references over
the same journeys, and are hand-counted in the comments.

Each test builds its warehouse and queries it on each engine through `on_engine` (on Spark,
the warehouse as it is at the query: its rows and settings exported as a lake). The name
checks fail before any query and take no engine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from journeys import Event, deal, journeys_for, load_rows, session, stage, touch
from revlens.catalog.spec import Catalog, load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, KpiResult, run_kpis
from revlens.errors import UnknownName
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

D = dt.date


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(measures=set(MEASURES))


def run(wh: Reader, catalog: Catalog, *kpis: str, **query: Any) -> KpiResult:
    return run_kpis(wh, KpiQuery(kpis=kpis, **query), catalog)


def values(result: KpiResult, kpi: str | None = None) -> list[Any]:
    return [r["value"] for r in result.rows if kpi is None or r["kpi"] == kpi]


def spans(result: KpiResult) -> list[tuple[dt.date, dt.date]]:
    return [(r["period_start"], r["period_end"]) for r in result.rows]


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text if "T" in text else text + "T00:00:00")


def padded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with every key (pyarrow's from_pylist keeps only the first row's keys)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in keys} for r in rows]


# -- a small reference: first stage dates and first touches ----------------------------------
def first_dates(people: dict[str, list[Event]], role: str) -> dict[str, dt.datetime]:
    """Each contact's first `role` stage event; for leads, created_at (the earliest event)
    when there is no lead event."""
    out: dict[str, dt.datetime] = {}
    for person, events in people.items():
        hits = [e.row["ts"] for e in events if e.table == "stage_events" and e.row["stage"] == role]
        if hits:
            out[person] = min(hits)
        elif role == "lead":
            out[person] = min(
                e.row.get("ts") or e.row.get("created_at") or e.row["booked_at"] for e in events
            )
    return out


def first_touch(
    touches: list[tuple[str, dt.datetime, str]], person: str, at: dt.datetime, lookback: int
) -> str | None:
    """The channel of the person's earliest touch in [at - lookback, at]."""
    window = [
        (t, ch)
        for p, t, ch in touches
        if p == person and at - dt.timedelta(days=lookback) <= t <= at
    ]
    return min(window)[1] if window else None


def count_by(
    dates: dict[str, dt.datetime], a: dt.date, b: dt.date, key: Any = None
) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for person, t in dates.items():
        if a <= t.date() <= b:
            k = key(person, t) if key else None
            out[k] = out.get(k, 0) + 1
    return out


# -- grains ---------------------------------------------------------------------------------
LEAD_DAYS = [
    "2024-01-06T12:00:00",  # a Saturday
    "2024-01-07T12:00:00",  # a Sunday
    "2024-01-08T12:00:00",  # a Monday
    "2024-01-31T23:59:00",
    "2024-02-01",
    "2024-03-31T23:00:00",
    "2024-04-01",
    "2024-06-30",
    "2024-07-01",
    "2024-12-31T23:59:59",
]


@pytest.fixture
def dated(warehouse: Warehouse) -> Warehouse:
    journeys_for(warehouse, {f"p{i}": [stage("lead", d)] for i, d in enumerate(LEAD_DAYS)})
    return warehouse


def leads_between(a: dt.date, b: dt.date) -> int:
    return sum(1 for d in LEAD_DAYS if a <= when(d).date() <= b)


def test_month_grain(dated: Warehouse, catalog: Catalog, on_engine: OnEngine) -> None:
    result = run(
        on_engine(dated), catalog, "leads", start=D(2024, 1, 1), end=D(2024, 3, 31), grain="month"
    )
    months = [
        (D(2024, 1, 1), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
    ]
    assert spans(result) == months
    assert values(result) == [leads_between(a, b) for a, b in months] == [4, 1, 1]


def test_week_grain_starts_on_monday_by_default(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(dated), catalog, "leads", start=D(2024, 1, 1), end=D(2024, 1, 14), grain="week"
    )
    assert spans(result) == [(D(2024, 1, 1), D(2024, 1, 7)), (D(2024, 1, 8), D(2024, 1, 14))]
    assert values(result) == [2, 1]  # Sat + Sun | Mon


def test_week_grain_with_sunday_weeks(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    dated.update_settings(week_start=7)
    result = run(
        on_engine(dated), catalog, "leads", start=D(2024, 1, 1), end=D(2024, 1, 14), grain="week"
    )
    # the week of Sun Dec 31 is clipped to the range; so is the week of Sun Jan 14
    weeks = [
        (D(2024, 1, 1), D(2024, 1, 6)),
        (D(2024, 1, 7), D(2024, 1, 13)),
        (D(2024, 1, 14), D(2024, 1, 14)),
    ]
    assert spans(result) == weeks
    assert values(result) == [leads_between(a, b) for a, b in weeks] == [1, 2, 0]


def fiscal_spans(year: int, first_month: int, months: int) -> list[tuple[dt.date, dt.date]]:
    """The calendar year `year` cut into fiscal buckets of `months` months, where fiscal
    buckets start at `first_month` (and every `months` months after it)."""
    starts = [(first_month - 1 + k * months) % 12 + 1 for k in range(12 // months)]
    cuts = sorted({D(year, 1, 1), *[D(year, m, 1) for m in starts]})
    ends = [c - dt.timedelta(days=1) for c in cuts[1:]] + [D(year, 12, 31)]
    return list(zip(cuts, ends, strict=True))


def test_quarter_grain_with_fiscal_year_from_april(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    dated.update_settings(fiscal_year_start_month=4)
    result = run(
        on_engine(dated),
        catalog,
        "leads",
        start=D(2024, 1, 1),
        end=D(2024, 12, 31),
        grain="quarter",
    )
    quarters = fiscal_spans(2024, 4, 3)
    assert spans(result) == quarters
    assert values(result) == [leads_between(a, b) for a, b in quarters] == [6, 2, 1, 1]


def test_year_grain_with_fiscal_year_from_april(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    dated.update_settings(fiscal_year_start_month=4)
    result = run(
        on_engine(dated), catalog, "leads", start=D(2024, 1, 1), end=D(2024, 12, 31), grain="year"
    )
    # fiscal 2023 ends on March 31; fiscal 2024 starts April 1 (clipped at the range end)
    assert spans(result) == [(D(2024, 1, 1), D(2024, 3, 31)), (D(2024, 4, 1), D(2024, 12, 31))]
    assert values(result) == [6, 4]


def test_quarter_grain_with_fiscal_year_from_february(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    dated.update_settings(fiscal_year_start_month=2)
    result = run(
        on_engine(dated),
        catalog,
        "leads",
        start=D(2024, 1, 1),
        end=D(2024, 12, 31),
        grain="quarter",
    )
    quarters = fiscal_spans(2024, 2, 3)
    assert quarters[0] == (D(2024, 1, 1), D(2024, 1, 31))  # Nov-Jan, clipped
    assert spans(result) == quarters
    assert values(result) == [leads_between(a, b) for a, b in quarters] == [4, 3, 2, 0, 1]


def test_no_grain_is_one_row_for_the_range(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(dated), catalog, "leads", "sessions", start=D(2024, 1, 7), end=D(2024, 6, 30)
    )
    assert spans(result) == [(D(2024, 1, 7), D(2024, 6, 30))] * 2
    assert values(result, "leads") == [leads_between(D(2024, 1, 7), D(2024, 6, 30))] == [7]
    assert values(result, "sessions") == [0]


def test_periods_are_clipped_to_the_range(
    dated: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(dated), catalog, "leads", start=D(2024, 1, 7), end=D(2024, 3, 31), grain="month"
    )
    assert spans(result) == [
        (D(2024, 1, 7), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
    ]
    assert values(result) == [3, 1, 1]  # Jan 6 is before the range


# -- a funnel with touches, spend, deals ------------------------------------------------------
FUNNEL: dict[str, list[Event]] = {
    # first touch within 90 days of the lead: paid_search (Dec 1), not the later email
    "a": [
        touch("paid_search", "2023-12-01"),
        touch("email", "2024-01-02"),
        stage("lead", "2024-01-10"),
        stage("mql", "2024-01-20"),
        stage("mql", "2024-02-03"),  # a repeat: counts once (January)
        stage("sql", "2024-02-10"),
        deal(150, "2024-01-05", closed="2024-01-20", won=True),
    ],
    # display is older than the lookback: social is the first touch; skips MQL
    "b": [
        touch("display", "2023-09-01"),
        touch("social", "2024-01-05"),
        stage("lead", "2024-01-10"),
        stage("sql", "2024-01-25"),
        deal(125, "2024-02-01", closed="2024-02-20", won=True),
    ],
    # the touch comes after the lead (no channel for the lead) but before the MQL
    "c": [
        stage("lead", "2024-01-10"),
        touch("paid_search", "2024-01-20"),
        stage("mql", "2024-02-15"),  # 36 days after the lead
    ],
    # never touched; the lead repeats; MQL 25 days after the lead, after a Feb range end
    "d": [stage("lead", "2024-02-05"), stage("lead", "2024-02-25"), stage("mql", "2024-03-01")],
    # MQL long after the window
    "e": [
        touch("paid_search", "2024-02-01"),
        stage("lead", "2024-02-10"),
        stage("mql", "2024-05-20"),
    ],
    # only an anonymous session, stitched to f through identities
    "f": [stage("lead", "2024-03-03")],
}
ANON = [
    {
        "touchpoint_id": "anon-1",
        "anonymous_id": "cookie-f",
        "ts": "2024-01-28T08:00:00",
        "channel": "social",
        "touch_type": "session",
    }
]
FUNNEL_SPEND = [
    {"date": D(2024, 1, 3), "channel": "paid_search", "cost": 300.0},
    {"date": D(2024, 2, 3), "channel": "social", "cost": 100.0},
    {"date": D(2024, 3, 3), "channel": "display", "cost": 50.0},
    {"date": D(2024, 4, 3), "channel": "display", "cost": 20.0},
]


def funnel_touches() -> list[tuple[str, dt.datetime, str]]:
    out = [
        (p, e.row["ts"], e.row["channel"])
        for p, events in FUNNEL.items()
        for e in events
        if e.table == "touchpoints"
    ]
    return [*out, ("f", when(ANON[0]["ts"]), ANON[0]["channel"])]


@pytest.fixture
def funnel(warehouse: Warehouse) -> Warehouse:
    journeys_for(warehouse, FUNNEL)
    load_rows(
        warehouse,
        {
            "touchpoints": ANON,
            "identities": [{"anonymous_id": "cookie-f", "contact_id": "f"}],
            "spend": FUNNEL_SPEND,
        },
    )
    return warehouse


def by_dim(result: KpiResult, kpi: str, dim: str = "channel") -> dict[Any, dict[str, Any]]:
    rows = [r for r in result.rows if r["kpi"] == kpi]
    out = {r[dim]: r for r in rows}
    assert len(out) == len(rows), "one row per dimension value"
    return out


Q1 = {"start": D(2024, 1, 1), "end": D(2024, 3, 31)}


@pytest.mark.parametrize("lookback", [90, 30])
def test_leads_by_channel_use_the_first_touch_in_the_lookback(
    funnel: Warehouse, catalog: Catalog, lookback: int, on_engine: OnEngine
) -> None:
    result = run(on_engine(funnel), catalog, "leads", by=("channel",), lookback_days=lookback, **Q1)
    touches = funnel_touches()
    expected = count_by(
        first_dates(FUNNEL, "lead"),
        Q1["start"],
        Q1["end"],
        key=lambda p, t: first_touch(touches, p, t, lookback),
    )
    got = {ch: r["value"] for ch, r in by_dim(result, "leads").items() if r["value"]}
    assert got == expected
    if lookback == 90:
        # a: paid_search (Dec 1), b: social (Sep 1 too old), c: none (touch after),
        # d: none, e: paid_search, f: social (stitched anonymous session)
        assert expected == {"paid_search": 2, "social": 2, None: 2}
    else:
        # a's Dec 1 is 40 days back: the email of Jan 2; f's session is 35 days back
        assert expected == {"email": 1, "social": 1, "paid_search": 1, None: 3}


def test_each_conversion_gets_its_own_first_touch(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    """c had no touch before the lead, but one before the MQL."""
    result = run(on_engine(funnel), catalog, "mqls", by=("channel",), **Q1)
    touches = funnel_touches()
    expected = count_by(
        first_dates(FUNNEL, "mql"),
        Q1["start"],
        Q1["end"],
        key=lambda p, t: first_touch(touches, p, t, 90),
    )
    assert expected == {"paid_search": 2, None: 1}  # a, c | d
    got = {ch: r["value"] for ch, r in by_dim(result, "mqls").items() if r["value"]}
    assert got == expected


def test_sessions_by_channel_use_their_own_channel(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(on_engine(funnel), catalog, "sessions", by=("channel",), **Q1)
    assert {ch: r["value"] for ch, r in by_dim(result, "sessions").items()} == {"social": 1}


def test_cost_kpis_by_channel_pair_spend_with_first_touched_conversions(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(on_engine(funnel), catalog, "cpl", "cost_per_mql", "spend", by=("channel",), **Q1)
    spend = {"paid_search": 300.0, "social": 100.0, "display": 50.0}
    cpl = by_dim(result, "cpl")
    assert cpl["paid_search"]["value"] == spend["paid_search"] / 2
    assert cpl["social"]["value"] == spend["social"] / 2
    # display has spend but no lead first-touched to it: undefined, not 0
    assert cpl["display"]["numerator"] == 50 and cpl["display"]["denominator"] == 0
    assert cpl["display"]["value"] is None
    # the untouched leads carry no spend
    assert cpl[None]["numerator"] == 0 and cpl[None]["denominator"] == 2
    per_mql = by_dim(result, "cost_per_mql")
    assert per_mql["paid_search"]["value"] == 300 / 2  # a, c
    assert per_mql["social"]["value"] is None  # b skipped MQL
    got_spend = {ch: r["value"] for ch, r in by_dim(result, "spend").items() if r["value"]}
    assert got_spend == spend


def test_zero_denominators_are_null(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(funnel),
        catalog,
        "cpl",
        "lead_to_mql",
        "cac",
        "bounce_rate",
        start=D(2024, 4, 1),
        end=D(2024, 4, 30),
    )
    got = {r["kpi"]: r for r in result.rows}
    assert got["cpl"]["numerator"] == 20 and got["cpl"]["denominator"] == 0
    for kpi in ("cpl", "lead_to_mql", "cac", "bounce_rate"):
        assert got[kpi]["value"] is None, kpi
        assert got[kpi]["denominator"] == 0, kpi


def test_stage_skips_and_repeats(funnel: Warehouse, catalog: Catalog, on_engine: OnEngine) -> None:
    result = run(
        on_engine(funnel), catalog, "leads", "mqls", "sqls", "mql_to_sql", grain="month", **Q1
    )
    months = [
        (D(2024, 1, 1), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
    ]
    for role, kpi in (("lead", "leads"), ("mql", "mqls"), ("sql", "sqls")):
        dates = first_dates(FUNNEL, role)
        assert values(result, kpi) == [count_by(dates, a, b).get(None, 0) for a, b in months]
    assert values(result, "leads") == [3, 2, 1]  # d's repeated lead counts once
    assert values(result, "mqls") == [1, 1, 1]  # a's repeat in Feb does not count; b skipped
    assert values(result, "sqls") == [1, 1, 0]  # b (without an MQL), a
    # period mode: SQLs / MQLs of the same month, whatever their path
    assert values(result, "mql_to_sql") == [1.0, 1.0, 0.0]


# -- cohort mode ------------------------------------------------------------------------------
def cohort(from_role: str, to_role: str, a: dt.date, b: dt.date, window: int) -> tuple[int, int]:
    """(converted, entered): contacts entering `from_role` in [a, b] and reaching `to_role`
    within `window` days after entering."""
    entered = first_dates(FUNNEL, from_role)
    reached = first_dates(FUNNEL, to_role)
    cohort_ = [p for p, t in entered.items() if a <= t.date() <= b]
    done = [
        p
        for p in cohort_
        if p in reached and entered[p] <= reached[p] <= entered[p] + dt.timedelta(days=window)
    ]
    return len(done), len(cohort_)


def test_cohort_mode_counts_conversions_within_the_window(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(funnel),
        catalog,
        "lead_to_mql",
        "leads",
        start=D(2024, 1, 1),
        end=D(2024, 2, 29),
        grain="month",
        mode="cohort",
        window_days=30,
    )
    rows = [r for r in result.rows if r["kpi"] == "lead_to_mql"]
    # Jan: a (10 days) yes, b never, c (36 days) no; Feb: d (Mar 1, after the range end but
    # within 30 days) yes, e (May) no
    assert cohort("lead", "mql", D(2024, 1, 1), D(2024, 1, 31), 30) == (1, 3)
    assert cohort("lead", "mql", D(2024, 2, 1), D(2024, 2, 29), 30) == (1, 2)
    assert [(r["numerator"], r["denominator"]) for r in rows] == [(1, 3), (1, 2)]
    assert [r["value"] for r in rows] == [pytest.approx(1 / 3, rel=1e-12), 0.5]
    assert {r["mode"] for r in rows} == {"cohort"}
    # the newest data is e's MQL on May 20: both windows have closed
    assert [r["immature"] for r in rows] == [False, False]
    # KPIs without a cohort definition stay period-based and say so
    assert {r["mode"] for r in result.rows if r["kpi"] == "leads"} == {"period"}


def test_cohort_and_period_answers_differ(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    jan = {"start": D(2024, 1, 1), "end": D(2024, 1, 31)}
    cohort_row = run(on_engine(funnel), catalog, "lead_to_mql", mode="cohort", **jan).rows[0]
    period_row = run(on_engine(funnel), catalog, "lead_to_mql", **jan).rows[0]
    # the default 90-day window catches c's MQL (36 days) too
    assert (
        (cohort_row["numerator"], cohort_row["denominator"])
        == cohort("lead", "mql", jan["start"], jan["end"], 90)
        == (2, 3)
    )
    assert (period_row["numerator"], period_row["denominator"]) == (1, 3)  # a's MQL only
    assert period_row["mode"] == "period" and "immature" not in period_row


def test_cohort_mode_for_later_stages(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    """MQL cohorts of Q1: a (SQL 21 days later), c (no SQL), d (no SQL); b reached SQL
    without an MQL and is in no MQL cohort. a's opportunity was created before the MQL, so
    it is not a conversion of the cohort."""
    result = run(
        on_engine(funnel), catalog, "mql_to_sql", "mql_to_opportunity", mode="cohort", **Q1
    )
    got = {r["kpi"]: r for r in result.rows}
    assert (
        (got["mql_to_sql"]["numerator"], got["mql_to_sql"]["denominator"])
        == cohort("mql", "sql", Q1["start"], Q1["end"], 90)
        == (1, 3)
    )
    opened = {
        p: min(e.row["created_at"] for e in events if e.table == "opportunities")
        for p, events in FUNNEL.items()
        if any(e.table == "opportunities" for e in events)
    }
    mqls = first_dates(FUNNEL, "mql")
    converted = [
        p
        for p, t in mqls.items()
        if Q1["start"] <= t.date() <= Q1["end"]
        and p in opened
        and t <= opened[p] <= t + dt.timedelta(days=90)
    ]
    assert converted == []
    assert got["mql_to_opportunity"]["numerator"] == 0
    assert got["mql_to_opportunity"]["denominator"] == 3
    assert got["mql_to_opportunity"]["value"] == 0
    # period mode: SQLs (a, b) / MQLs (a, c, d); opportunities (a, b) / MQLs
    period = {
        r["kpi"]: r
        for r in run(on_engine(funnel), catalog, "mql_to_sql", "mql_to_opportunity", **Q1).rows
    }
    assert period["mql_to_sql"]["value"] == pytest.approx(2 / 3, rel=1e-12)
    assert period["mql_to_opportunity"]["value"] == pytest.approx(2 / 3, rel=1e-12)


def test_cohort_rows_are_immature_until_the_window_closes(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(funnel),
        catalog,
        "lead_to_mql",
        start=D(2024, 3, 1),
        end=D(2024, 4, 30),
        grain="month",
        mode="cohort",
        window_days=30,
    )
    data_end = D(2024, 5, 20)  # the newest event (e's MQL)
    rows = result.rows
    assert (
        [r["immature"] for r in rows]
        == [r["period_end"] + dt.timedelta(days=30) > data_end for r in rows]
        == [False, True]
    )
    assert (rows[0]["numerator"], rows[0]["denominator"]) == (0, 1)  # f never became an MQL
    assert rows[1]["value"] is None and rows[1]["denominator"] == 0


# -- comparisons --------------------------------------------------------------------------------
def change(value: float, prev: float | None) -> float | None:
    return None if prev in (None, 0) else (value - prev) / abs(prev)


def test_compare_previous_period(funnel: Warehouse, catalog: Catalog, on_engine: OnEngine) -> None:
    result = run(
        on_engine(funnel),
        catalog,
        "leads",
        start=D(2024, 2, 1),
        end=D(2024, 3, 31),
        grain="month",
        compare="previous",
    )
    leads = first_dates(FUNNEL, "lead")
    jan, feb, mar = (
        count_by(leads, a, b).get(None, 0)
        for a, b in [
            (D(2024, 1, 1), D(2024, 1, 31)),
            (D(2024, 2, 1), D(2024, 2, 29)),
            (D(2024, 3, 1), D(2024, 3, 31)),
        ]
    )
    assert (jan, feb, mar) == (3, 2, 1)
    assert [(r["value"], r["previous_value"]) for r in result.rows] == [(feb, jan), (mar, feb)]
    assert [change(feb, jan), change(mar, feb)] == [pytest.approx(-1 / 3), -0.5]
    assert [r["change"] for r in result.rows] == [
        pytest.approx(change(feb, jan), rel=1e-12),
        pytest.approx(change(mar, feb), rel=1e-12),
    ]


def test_compare_previous_without_grain_uses_the_same_length_before(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    # Feb 1-29 (29 days) against Jan 3-31
    result = run(
        on_engine(funnel),
        catalog,
        "leads",
        start=D(2024, 2, 1),
        end=D(2024, 2, 29),
        compare="previous",
    )
    (row,) = result.rows
    assert (
        row["previous_value"]
        == count_by(first_dates(FUNNEL, "lead"), D(2024, 1, 3), D(2024, 1, 31)).get(None, 0)
        == 3
    )
    assert row["change"] == pytest.approx(-1 / 3, rel=1e-12)


def test_change_divides_by_the_absolute_previous_value(
    funnel: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    """marketing_roi: Jan (150 - 300) / 300 = -0.5; Feb (125 - 100) / 100 = 0.25."""
    result = run(
        on_engine(funnel),
        catalog,
        "marketing_roi",
        start=D(2024, 2, 1),
        end=D(2024, 2, 29),
        grain="month",
        compare="previous",
    )
    (row,) = result.rows
    assert row["value"] == 0.25 and row["previous_value"] == -0.5
    assert row["change"] == pytest.approx(change(0.25, -0.5), rel=1e-12) == 1.5


@pytest.fixture
def two_years(funnel: Warehouse) -> Warehouse:
    journeys_for(funnel, {"y1": [stage("lead", "2023-02-15")]})
    return funnel


def test_compare_year(two_years: Warehouse, catalog: Catalog, on_engine: OnEngine) -> None:
    result = run(
        on_engine(two_years),
        catalog,
        "leads",
        start=D(2024, 2, 1),
        end=D(2024, 3, 31),
        grain="month",
        compare="year",
    )
    feb, mar = result.rows
    assert (feb["value"], feb["previous_value"], feb["change"]) == (2, 1, 1.0)
    # nothing a year before: previous 0, change undefined
    assert (mar["value"], mar["previous_value"], mar["change"]) == (1, 0, None)


def test_compare_year_by_week(warehouse: Warehouse, catalog: Catalog, on_engine: OnEngine) -> None:
    # one lead a day through 2023 and January 2024: every full week holds 7
    day0 = D(2023, 1, 1)
    journeys_for(
        warehouse,
        {f"p{i}": [stage("lead", (day0 + dt.timedelta(days=i)).isoformat())] for i in range(400)},
    )
    result = run(
        on_engine(warehouse),
        catalog,
        "leads",
        start=D(2024, 1, 8),
        end=D(2024, 1, 21),
        grain="week",
        compare="year",
    )
    assert [r["value"] for r in result.rows] == [7, 7]
    assert [r["previous_value"] for r in result.rows] == [7, 7]
    assert [r["change"] for r in result.rows] == [0, 0]


# -- targets --------------------------------------------------------------------------------------
TARGETS = [
    {"kpi": "leads", "period_start": D(2024, 1, 1), "period_end": D(2024, 1, 31), "target": 4},
    {"kpi": "leads", "period_start": D(2024, 2, 1), "period_end": D(2024, 2, 29), "target": 5},
    {"kpi": "leads", "period_start": D(2024, 3, 1), "period_end": D(2024, 3, 31), "target": 6},
    {"kpi": "cpl", "period_start": D(2024, 1, 1), "period_end": D(2024, 1, 31), "target": 120},
    {"kpi": "cpl", "period_start": D(2024, 2, 1), "period_end": D(2024, 2, 29), "target": 40},
    {
        "kpi": "leads",
        "period_start": D(2024, 1, 1),
        "period_end": D(2024, 3, 31),
        "dimension": "channel",
        "dimension_value": "paid_search",
        "target": 4,
    },
]


@pytest.fixture
def targeted(funnel: Warehouse) -> Warehouse:
    load_rows(funnel, {"targets": padded(TARGETS)})
    return funnel


def test_targets_match_their_exact_period(
    targeted: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(on_engine(targeted), catalog, "leads", "cpl", grain="month", **Q1)
    leads = [r for r in result.rows if r["kpi"] == "leads"]
    assert [(r["value"], r["target"]) for r in leads] == [(3, 4), (2, 5), (1, 6)]
    assert [r["attainment"] for r in leads] == [3 / 4, 2 / 5, 1 / 6]
    cpl = [r for r in result.rows if r["kpi"] == "cpl"]
    # lower is better: attainment = target / value. Jan 300 / 3 = 100; Feb 100 / 2 = 50
    assert [r["value"] for r in cpl[:2]] == [100, 50]
    assert [r["target"] for r in cpl[:2]] == [120, 40]
    assert [r["attainment"] for r in cpl[:2]] == [1.2, 0.8]
    assert "target" not in cpl[2] and "attainment" not in cpl[2]  # no March target


def test_quarter_targets_sum_the_months_for_counts_only(
    targeted: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(on_engine(targeted), catalog, "leads", "cpl", grain="quarter", **Q1)
    got = {r["kpi"]: r for r in result.rows}
    assert got["leads"]["value"] == 6
    assert got["leads"]["target"] == 4 + 5 + 6
    assert got["leads"]["attainment"] == 6 / 15
    assert "target" not in got["cpl"]  # a ratio's monthly targets do not add up


def test_targets_for_a_dimension_value(
    targeted: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(on_engine(targeted), catalog, "leads", by=("channel",), **Q1)
    rows = by_dim(result, "leads")
    assert rows["paid_search"]["target"] == 4
    assert rows["paid_search"]["attainment"] == 2 / 4
    assert all("target" not in r for ch, r in rows.items() if ch != "paid_search")
    # the overall quarter row does not take the channel's target; the months add up
    (overall,) = run(on_engine(targeted), catalog, "leads", **Q1).rows
    assert overall["target"] == 15


# -- time zones ---------------------------------------------------------------------------------
def test_an_offset_timestamp_is_bucketed_in_utc(
    warehouse: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    late = "2024-01-31T23:30:00-02:00"  # 2024-02-01 01:30 UTC
    load_rows(
        warehouse,
        {
            "contacts": [{"contact_id": "z", "created_at": late}],
            "stage_events": [{"contact_id": "z", "stage": "lead", "ts": late}],
        },
    )
    result = run(
        on_engine(warehouse),
        catalog,
        "leads",
        start=D(2024, 1, 1),
        end=D(2024, 2, 29),
        grain="month",
    )
    assert values(result) == [0, 1]


def test_a_zoneless_timestamp_is_read_in_the_warehouse_zone(
    warehouse: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    warehouse.update_settings(timezone="America/Sao_Paulo")  # UTC-3, no DST in 2024
    local = "2024-01-31T23:30:00"  # 2024-02-01 02:30 UTC, still January in Sao Paulo
    load_rows(
        warehouse,
        {
            "contacts": [{"contact_id": "z", "created_at": local}],
            "stage_events": [{"contact_id": "z", "stage": "lead", "ts": local}],
        },
    )
    result = run(
        on_engine(warehouse),
        catalog,
        "leads",
        start=D(2024, 1, 1),
        end=D(2024, 2, 29),
        grain="month",
    )
    assert values(result) == [1, 0]  # months are cut in the warehouse zone


def test_an_aware_datetime_through_journeys_is_bucketed_in_utc(
    warehouse: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    journeys_for(warehouse, {"z": [stage("lead", "2024-01-31T23:30:00-02:00")]})
    result = run(
        on_engine(warehouse),
        catalog,
        "leads",
        start=D(2024, 1, 1),
        end=D(2024, 2, 29),
        grain="month",
    )
    assert values(result) == [0, 1]


# -- unknown names ----------------------------------------------------------------------------
def test_unknown_kpi_suggests_the_close_one(warehouse: Warehouse, catalog: Catalog) -> None:
    with pytest.raises(UnknownName) as caught:
        run(warehouse, catalog, "leadz")
    assert caught.value.suggestions[0] == "leads"
    assert "did you mean 'leads'" in (caught.value.fix or "")
    assert "leadz" in caught.value.message


def test_unknown_dimension_suggests_the_close_one() -> None:
    with pytest.raises(UnknownName) as caught:
        KpiQuery(kpis=("leads",), by=("chanel",))
    assert caught.value.suggestions[0] == "channel"
    assert "did you mean 'channel'" in (caught.value.fix or "")


def test_unknown_name_without_a_close_match_lists_the_choices() -> None:
    with pytest.raises(UnknownName) as caught:
        KpiQuery(kpis=("leads",), by=("zzzz",))
    assert caught.value.suggestions == []
    assert "channel" in (caught.value.fix or "")


# keep the session builder import meaningful: a session is a touch for first-touch purposes
def test_a_session_is_a_first_touch(
    warehouse: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    journeys_for(warehouse, {"s": [session("organic", "2024-01-02"), stage("lead", "2024-01-03")]})
    result = run(
        on_engine(warehouse),
        catalog,
        "leads",
        by=("channel",),
        start=D(2024, 1, 1),
        end=D(2024, 1, 31),
    )
    assert {ch: r["value"] for ch, r in by_dim(result, "leads").items()} == {"organic": 1}
