"""KPIS.md sections D (sales outcomes and pipeline), E (customers and recurring revenue),
F (email) and G (inbound and the SLA) on hand-built data, each checked against a
pure-Python reference written from the catalogue's definitions (kpis.yml), plus hand-counted
numbers and the zero-denominator rule (a ratio over 0 is None, never 0).

Every query runs on each engine: the sections' warehouses are read through `on_engine` (the
warehouse on DuckDB, its lake on Spark)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from journeys import (
    Event,
    activity,
    deal,
    email,
    inbound,
    journeys_for,
    load_rows,
    stage,
)
from revlens.catalog.spec import Catalog, load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain
from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

D = dt.date
Expected = dict[str, float | None]

CATALOG = load_catalog(measures=set(MEASURES))


# -- shared helpers ---------------------------------------------------------------------------
def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text if "T" in text else text + "T00:00:00")


def with_(event: Event, **extra: Any) -> Event:
    """`event` with more columns (e.g. a deal's owner)."""
    return Event(event.table, {**event.row, **extra})


def with_params(kpi: str, **params: float) -> Catalog:
    """The catalogue with `params` set on one KPI (as a project catalogue would)."""
    spec = CATALOG.get(kpi)
    kpis = dict(CATALOG.kpis)
    kpis[kpi] = spec.model_copy(update={"params": {**spec.params, **params}})
    return Catalog(kpis)


def run(
    wh: Reader,
    kpis: Iterable[str],
    start: dt.date,
    end: dt.date,
    grain: Grain | None = None,
    catalog: Catalog = CATALOG,
    **kw: Any,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows keyed by (kpi, period_start, *dimension values)."""
    query = KpiQuery(kpis=tuple(kpis), start=start, end=end, grain=grain, **kw)
    rows = run_kpis(wh, query, catalog).rows
    by = query.by
    out = {(r["kpi"], r["period_start"], *(r[d] for d in by)): r for r in rows}
    assert len(out) == len(rows), "one row per KPI x period x dimension values"
    return out


Rows = dict[tuple[Any, ...], dict[str, Any]]
# (reader, the section's KPIs, the KPI, start, end, grain) -> that KPI's rows
EachKpi = Callable[[Reader, tuple[str, ...], str, dt.date, dt.date, Grain | None], Rows]


@pytest.fixture(scope="module")
def each_kpi(engine: str) -> EachKpi:
    """One KPI's rows, as the per-KPI tests ask: on DuckDB the KPI queried alone; on Spark,
    where every query costs seconds, the section's KPIs in one query, kept for the next KPI
    (the same rows: each measure is computed on its own)."""
    kept: dict[tuple[Any, ...], Rows] = {}

    def get(
        reader: Reader,
        section: tuple[str, ...],
        kpi: str,
        start: dt.date,
        end: dt.date,
        grain: Grain | None,
    ) -> Rows:
        if engine == "duckdb":
            return run(reader, [kpi], start, end, grain)
        key = (id(reader), section, start, end, grain)
        if key not in kept:
            kept[key] = run(reader, section, start, end, grain)
        return {k: row for k, row in kept[key].items() if k[0] == kpi}

    return get


def same(got: Any, want: float | None, what: str) -> None:
    if want is None:
        assert got is None, f"{what}: expected None, got {got!r}"
    else:
        assert got is not None, f"{what}: expected {want!r}, got None"
        assert got == pytest.approx(want, rel=1e-12, abs=1e-9), what


def check(row: dict[str, Any], expected: Expected) -> None:
    for key, want in expected.items():
        same(row[key], want, f"{row['kpi']} {row['period_start']} {key}")


def ratio(num: float, den: float) -> Expected:
    return {"value": None if den == 0 else num / den, "numerator": num, "denominator": den}


def months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Calendar months covering [start, end] as (first day, last day)."""
    out = []
    m = start.replace(day=1)
    while m <= end:
        nxt = (m + dt.timedelta(days=32)).replace(day=1)
        out.append((m, nxt - dt.timedelta(days=1)))
        m = nxt
    return out


def within(t: dt.datetime | dt.date | None, start: dt.date, end: dt.date) -> bool:
    if t is None:
        return False
    day = t.date() if isinstance(t, dt.datetime) else t
    return start <= day <= end


def created_at(events: list[Event]) -> dt.datetime:
    """journeys_for creates each contact at its earliest event."""
    whens = []
    for e in events:
        for col in ("ts", "created_at", "booked_at", "received_at"):
            if e.row.get(col) is not None:
                whens.append(e.row[col])
                break
    return min(whens)


# =============================================================================================
# D. Sales outcomes and pipeline
# =============================================================================================
D_START, D_END = D(2024, 1, 1), D(2024, 3, 31)

D_FX = [
    {"date": D(2024, 1, 15), "currency": "EUR", "rate": 1.10},
    {"date": D(2024, 2, 20), "currency": "EUR", "rate": 1.20},
    {"date": D(2024, 3, 10), "currency": "EUR", "rate": 1.25},
    {"date": D(2024, 1, 1), "currency": "GBP", "rate": 1.30},  # one rate: any date gives it
]


def won(amount: float, created: str, closed: str, owner: str, **kw: Any) -> Event:
    return with_(
        deal(amount, created, closed=closed, won=True, stage_name="won", **kw), owner=owner
    )


def lost(amount: float, created: str, closed: str, owner: str) -> Event:
    return with_(deal(amount, created, closed=closed, won=False, stage_name="lost"), owner=owner)


def open_deal(amount: float, created: str, stage_name: str, owner: str, **kw: Any) -> Event:
    return with_(deal(amount, created, stage_name=stage_name, **kw), owner=owner)


D_PEOPLE: dict[str, list[Event]] = {
    "alice": [stage("lead", "2024-01-03"), won(1000, "2024-01-10", "2024-02-05", "ann")],
    # closes before the first EUR rate: the earliest rate (1.10) applies
    "bob": [
        stage("lead", "2023-12-15"),
        won(2000, "2023-12-20", "2024-01-05", "ben", currency="EUR"),
    ],
    # closes on the day of the 1.20 rate
    "carol": [
        stage("lead", "2024-01-08"),
        won(500, "2024-01-12", "2024-02-20", "ann", currency="EUR", account="acme"),
    ],
    # acme's second win: revenue and a won deal, but not a new customer
    "dan": [
        stage("lead", "2024-02-01"),
        won(800, "2024-02-10", "2024-03-15", "ben", account="acme"),
    ],
    "erin": [stage("lead", "2024-02-12"), lost(300, "2024-02-15", "2024-03-05", "ann")],
    "frank": [
        stage("lead", "2024-03-02"),
        open_deal(700, "2024-03-05", "negotiation", "ben", currency="GBP"),
    ],
    # no lead event: the lead date is the contact's created_at (its first deal's creation)
    "gina": [
        won(1200, "2024-01-25", "2024-03-28", "ben"),
        won(100, "2024-03-01", "2024-03-30", "ann", currency="EUR"),
    ],  # second win
    "hank": [stage("lead", "2024-03-10"), lost(900, "2024-03-12", "2024-03-25", "ben")],
    # closed (lost) on the last day of January: not open at January's end
    "ivan": [
        stage("lead", "2024-01-02"),
        lost(250, "2024-01-05", "2024-01-31T12:00", "ann"),
        open_deal(600, "2024-04-02", "discovery", "ann"),
    ],  # created after the range
    "judy": [stage("lead", "2024-02-28")],
    # a customer since December 2023: the February win is not a new customer
    "kate": [
        stage("lead", "2023-11-01"),
        won(5000, "2023-11-05", "2023-12-20", "ann"),
        won(300, "2024-02-02", "2024-02-25", "ann"),
    ],
    "leo": [stage("lead", "2023-11-20"), open_deal(1500, "2023-12-01", "discovery", "ben")],
    "mia": [stage("lead", "2024-01-18"), open_deal(400, "2024-01-20", "proposal", "ann")],
}
# a deal with no contact: its sales cycle starts at its creation; the account is the customer
D_LOOSE_DEALS = [
    {
        "opportunity_id": "solo-1",
        "created_at": ts("2024-02-01"),
        "closed_at": ts("2024-03-01"),
        "is_won": True,
        "amount": 50.0,
        "currency": "USD",
        "account_id": "solo",
        "stage": "won",
        "owner": "ben",
    },
]


@dataclass(frozen=True)
class Deal:
    id: str
    contact: str | None
    account: str | None
    amount: float
    currency: str
    created: dt.datetime
    closed: dt.datetime | None
    is_won: bool | None
    stage: str
    owner: str | None


def d_deals() -> list[Deal]:
    out = []
    for person, events in D_PEOPLE.items():
        for i, e in enumerate(events):
            if e.table == "opportunities":
                r = e.row
                out.append(
                    Deal(
                        f"{person}-o{i}",
                        person,
                        r["account_id"],
                        r["amount"],
                        r["currency"],
                        r["created_at"],
                        r["closed_at"],
                        r["is_won"],
                        r["stage"],
                        r.get("owner"),
                    )
                )
    for r in D_LOOSE_DEALS:
        out.append(
            Deal(
                r["opportunity_id"],
                None,
                r["account_id"],
                r["amount"],
                r["currency"],
                r["created_at"],
                r["closed_at"],
                r["is_won"],
                r["stage"],
                r["owner"],
            )
        )
    return out


DEALS = d_deals()


def oid(person: str, amount: float) -> str:
    return next(d.id for d in DEALS if d.contact == person and d.amount == amount)


D_OPP_STAGES = [
    {"opportunity_id": oid("alice", 1000), "stage": "proposal", "ts": ts("2024-01-20")},
    {"opportunity_id": oid("carol", 500), "stage": "quote", "ts": ts("2024-01-25")},
    {"opportunity_id": oid("erin", 300), "stage": "proposal", "ts": ts("2024-02-25")},
    {"opportunity_id": oid("erin", 300), "stage": "proposal", "ts": ts("2024-03-02")},  # repeat
    {"opportunity_id": oid("gina", 1200), "stage": "proposal", "ts": ts("2024-02-10")},
    {"opportunity_id": oid("mia", 400), "stage": "proposal", "ts": ts("2024-03-20")},
    {"opportunity_id": oid("dan", 800), "stage": "negotiation", "ts": ts("2024-03-01")},
    {"opportunity_id": oid("leo", 1500), "stage": "proposal", "ts": ts("2023-12-10")},
]

D_KPIS = (
    "customers",
    "win_rate",
    "lead_to_customer",
    "opportunity_to_proposal",
    "proposal_to_won",
    "revenue",
    "pipeline_value",
    "average_deal_size",
    "lead_value",
    "sales_cycle_days",
)


def fx(currency: str, day: dt.date, table: list[dict[str, Any]] = D_FX) -> float:
    """Latest rate on or before `day`, else the currency's earliest rate."""
    if currency == "USD":
        return 1.0
    known = sorted((r["date"], r["rate"]) for r in table if r["currency"] == currency)
    before = [rate for d, rate in known if d <= day]
    return before[-1] if before else known[0][1]


def lead_dates() -> dict[str, dt.datetime]:
    out = {}
    for person, events in D_PEOPLE.items():
        leads = [
            e.row["ts"] for e in events if e.table == "stage_events" and e.row["stage"] == "lead"
        ]
        out[person] = min(leads) if leads else created_at(events)
    return out


LEAD_DATE = lead_dates()


def first_proposals() -> dict[str, dt.datetime]:
    out: dict[str, dt.datetime] = {}
    for r in D_OPP_STAGES:
        if r["stage"] in ("proposal", "quote"):
            out[r["opportunity_id"]] = min(out.get(r["opportunity_id"], r["ts"]), r["ts"])
    return out


def open_at(day: dt.date) -> list[Deal]:
    """Created on or before `day` and not closed by its end."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return [d for d in DEALS if d.created < end and (d.closed is None or d.closed >= end)]


def d_reference(start: dt.date, end: dt.date, owner: str | None = None) -> dict[str, Expected]:
    deals = [d for d in DEALS if owner is None or d.owner == owner]
    leads = [c for c, t in LEAD_DATE.items() if within(t, start, end)]
    closed = [d for d in deals if d.is_won is not None and within(d.closed, start, end)]
    wins = [d for d in closed if d.is_won]
    revenue = sum(d.amount * fx(d.currency, d.closed.date()) for d in wins if d.closed)
    first_win: dict[str, tuple[dt.datetime, Deal]] = {}
    for d in DEALS:
        if d.is_won and d.closed:
            key = d.account or d.contact or d.id
            if key not in first_win or d.closed < first_win[key][0]:
                first_win[key] = (d.closed, d)
    customers = sum(
        1
        for t, d in first_win.values()
        if within(t, start, end) and (owner is None or d.owner == owner)
    )
    created = [d for d in deals if within(d.created, start, end)]
    props = first_proposals()
    proposals = [d for d in deals if within(props.get(d.id), start, end)]
    won_after = [d for d in wins if d.id in props]
    cycles = [
        ((d.closed - (LEAD_DATE[d.contact] if d.contact else d.created)).total_seconds() / 86400)
        for d in wins
        if d.closed
    ]
    pipeline = sum(
        d.amount * fx(d.currency, end) for d in open_at(end) if owner is None or d.owner == owner
    )
    return {
        "customers": {"value": customers},
        "win_rate": ratio(len(wins), len(closed)),
        "lead_to_customer": ratio(customers, len(leads)),
        "opportunity_to_proposal": ratio(len(proposals), len(created)),
        "proposal_to_won": ratio(len(won_after), len(proposals)),
        "revenue": {"value": revenue},
        "pipeline_value": {"value": pipeline},
        "average_deal_size": ratio(revenue, len(wins)),
        "lead_value": ratio(revenue, len(leads)),
        "sales_cycle_days": {
            "value": statistics.median(cycles) if cycles else None,
            "mean": statistics.fmean(cycles) if cycles else None,
        },
    }


def d_cohort_reference(start: dt.date, end: dt.date, window: int) -> Expected:
    """Contacts whose lead date is in the range that became customers (their own first won
    deal) no earlier than the lead date and at most `window` days after it."""
    entered = [c for c, t in LEAD_DATE.items() if within(t, start, end)]
    converted = 0
    for c in entered:
        wins = [d.closed for d in DEALS if d.contact == c and d.is_won and d.closed]
        lead = LEAD_DATE[c]
        if wins and lead <= min(wins) <= lead + dt.timedelta(days=window):
            converted += 1
    return ratio(converted, len(entered))


@pytest.fixture(scope="module")
def d_wh() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    load_rows(wh, {"fx_rates": D_FX})
    journeys_for(wh, D_PEOPLE)
    load_rows(wh, {"opportunities": D_LOOSE_DEALS, "opportunity_stage_events": D_OPP_STAGES})
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def d_reader(on_engine: OnEngine, d_wh: Warehouse) -> Reader:
    """Section D's warehouse on the engine under test."""
    return on_engine(d_wh)


@pytest.fixture(scope="module")
def d_monthly(d_reader: Reader) -> dict[tuple[Any, ...], dict[str, Any]]:
    return run(d_reader, D_KPIS, D_START, D_END, Grain.month)


@pytest.mark.parametrize("kpi", D_KPIS)
def test_d_monthly_matches_reference(
    d_monthly: dict[tuple[Any, ...], dict[str, Any]], kpi: str
) -> None:
    for start, end in months(D_START, D_END):
        row = d_monthly[(kpi, start)]
        assert row["period_end"] == end and row["mode"] == "period"
        check(row, d_reference(start, end)[kpi])


@pytest.mark.parametrize("kpi", D_KPIS)
def test_d_whole_range_matches_reference(d_reader: Reader, each_kpi: EachKpi, kpi: str) -> None:
    got = each_kpi(d_reader, D_KPIS, kpi, D_START, D_END, None)
    check(got[(kpi, D_START)], d_reference(D_START, D_END)[kpi])


def test_d_hand_counted(d_monthly: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """The reference checked by hand once."""
    jan, feb, mar = D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1)

    def series(kpi: str, field: str = "value") -> list[Any]:
        return [d_monthly[(kpi, m)][field] for m in (jan, feb, mar)]

    # bob | alice, acme (carol) | gina, solo; dan's win is acme's second, gina's 2nd is hers,
    # kate's February win follows her 2023 one
    assert series("customers") == [1, 2, 2]
    # leads: alice ivan carol mia gina(created_at 01-25) | dan erin judy | frank hank
    assert series("lead_to_customer", "denominator") == [5, 3, 2]
    assert series("win_rate", "numerator") == [1, 3, 4]
    assert series("win_rate", "denominator") == [2, 3, 6]
    # EUR 2000 at the earliest rate 1.10; 1000 + EUR 500 at 1.20 (its close date) + 300;
    # 800 + 1200 + EUR 100 at 1.25 + 50
    assert series("revenue") == pytest.approx([2200, 1900, 2175])
    assert series("average_deal_size") == pytest.approx([2200, 1900 / 3, 2175 / 4])
    assert series("lead_value") == pytest.approx([440, 1900 / 3, 2175 / 2])
    # opportunities created: 5 | 4 (incl. solo, kate) | 3; first proposal/quote: 2 | 2 | 1
    assert series("opportunity_to_proposal", "numerator") == [2, 2, 1]
    assert series("opportunity_to_proposal", "denominator") == [5, 4, 3]
    assert series("proposal_to_won") == [0, 1, 1]  # 0 (not None): proposals exist in January
    # open at Jan 31: alice 1000, carol EUR 500 (550), mia 400, gina 1200, leo 1500 (ivan's
    # deal closed on Jan 31); at Feb 29: dan 800, erin 300, mia, gina, leo, solo 50; at Mar 31:
    # frank GBP 700 (910), mia, leo
    assert series("pipeline_value") == pytest.approx([4650, 4250, 2810])
    # days lead -> won: bob 21 | alice 33, carol 43, kate 116 (from her 2023 lead) |
    # dan 43, gina 63 and 65, solo 29 (no contact: from the deal's creation)
    assert series("sales_cycle_days") == pytest.approx([21, 43, 53])
    assert series("sales_cycle_days", "mean") == pytest.approx([21, 64, 50])


def test_d_by_owner_matches_reference(d_reader: Reader) -> None:
    kpis = (
        "win_rate",
        "revenue",
        "average_deal_size",
        "sales_cycle_days",
        "pipeline_value",
        "opportunity_to_proposal",
        "proposal_to_won",
    )
    got = run(d_reader, kpis, D_START, D_END, by=("owner",))
    assert {k[2] for k in got} == {"ann", "ben"}
    for owner in ("ann", "ben"):
        expected = d_reference(D_START, D_END, owner)
        for kpi in kpis:
            check(got[(kpi, D_START, owner)], expected[kpi])
    # alice, carol, gina's 2nd, kate's 2nd; lost: erin, ivan
    assert got[("win_rate", D_START, "ann")]["numerator"] == 4
    assert got[("win_rate", D_START, "ann")]["denominator"] == 6


def test_d_customers_by_owner_counts_the_first_win(d_reader: Reader) -> None:
    """acme's first win is carol's (ann's deal); dan's later win for acme (ben) is not new."""
    got = run(d_reader, ["customers"], D_START, D_END, by=("owner",))
    assert got[("customers", D_START, "ann")]["value"] == 2  # alice, acme
    assert got[("customers", D_START, "ben")]["value"] == 3  # bob, gina, solo


def test_revenue_converts_at_the_close_date_rate(warehouse: Warehouse, on_engine: OnEngine) -> None:
    """Latest rate on or before the close *date* (time of day ignored), else the earliest."""
    fx_rows = [
        {"date": D(2024, 1, 15), "currency": "EUR", "rate": 1.10},
        {"date": D(2024, 2, 20), "currency": "EUR", "rate": 1.20},
    ]
    wh = warehouse
    load_rows(wh, {"fx_rates": fx_rows})
    journeys_for(
        wh,
        {
            "x": [deal(100, "2024-01-01", closed="2024-02-19T23:30", won=True, currency="EUR")],
            "y": [deal(100, "2024-01-01", closed="2024-02-20T00:00", won=True, currency="EUR")],
            "z": [deal(100, "2024-01-01", closed="2024-01-02T08:00", won=True, currency="EUR")],
            "w": [deal(100, "2024-01-01", closed="2024-03-30", won=True, currency="EUR")],
        },
    )
    got = run(on_engine(wh), ["revenue"], D(2024, 1, 1), D(2024, 3, 31), Grain.month)
    values = [got[("revenue", m)]["value"] for m in (D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1))]
    assert values == pytest.approx([110, 110 + 120, 120])


def test_weighted_pipeline_uses_the_stage_probabilities(d_reader: Reader) -> None:
    """Open at Mar 31: frank GBP 700 = 910 (negotiation), mia 400 (proposal), leo 1500
    (discovery now, but his last stage event by Mar 31 says proposal), each times the
    probability of its stage at the period end (params prob_<stage>)."""
    catalog = with_params(
        "weighted_pipeline", prob_negotiation=0.6, prob_proposal=0.4, prob_discovery=0.1
    )
    got = run(d_reader, ["weighted_pipeline", "pipeline_value"], D_START, D_END, catalog=catalog)
    probs = {"negotiation": 0.6, "proposal": 0.4, "discovery": 0.1}
    end = dt.datetime.combine(D_END + dt.timedelta(days=1), dt.time())

    def stage_then(d: Deal) -> str:
        events = [r for r in D_OPP_STAGES if r["opportunity_id"] == d.id and r["ts"] < end]
        return max(events, key=lambda r: r["ts"])["stage"] if events else d.stage

    expected = sum(d.amount * fx(d.currency, D_END) * probs[stage_then(d)] for d in open_at(D_END))
    assert expected == pytest.approx(910 * 0.6 + 400 * 0.4 + 1500 * 0.4)
    same(got[("weighted_pipeline", D_START)]["value"], expected, "weighted_pipeline")
    same(got[("pipeline_value", D_START)]["value"], 2810, "pipeline_value")


@pytest.mark.parametrize("window", [90, 33, 40])
def test_lead_to_customer_cohort_matches_reference(d_reader: Reader, window: int) -> None:
    """Of each month's leads, those who became customers within the window (inclusive:
    alice converts in exactly 33 days)."""
    got = run(
        d_reader,
        ["lead_to_customer"],
        D_START,
        D_END,
        Grain.month,
        mode="cohort",
        window_days=window,
    )
    for start, end in months(D_START, D_END):
        row = got[("lead_to_customer", start)]
        assert row["mode"] == "cohort"
        check(row, d_cohort_reference(start, end, window))
    jan = got[("lead_to_customer", D(2024, 1, 1))]
    # alice 33 d, carol 43 d, gina 63 d of alice ivan carol mia gina
    assert jan["numerator"] == {90: 3, 33: 1, 40: 1}[window] and jan["denominator"] == 5


def test_d_zero_denominators_are_none(d_reader: Reader) -> None:
    """May 2024: no leads, no deals closed or created, no proposals."""
    start, end = D(2024, 5, 1), D(2024, 5, 31)
    got = run(d_reader, (*D_KPIS, "weighted_pipeline"), start, end)
    for kpi in (
        "win_rate",
        "lead_to_customer",
        "opportunity_to_proposal",
        "proposal_to_won",
        "average_deal_size",
        "lead_value",
    ):
        row = got[(kpi, start)]
        assert row["value"] is None and row["denominator"] == 0, kpi
    assert got[("sales_cycle_days", start)]["value"] is None
    assert got[("sales_cycle_days", start)]["mean"] is None
    assert got[("customers", start)]["value"] == 0
    assert got[("revenue", start)]["value"] == 0
    # still open at May 31: ivan's 600 (created Apr 2), frank 910, mia 400, leo 1500
    same(got[("pipeline_value", start)]["value"], 3410, "pipeline_value")
    expected = d_reference(start, end)
    for kpi in D_KPIS:
        check(got[(kpi, start)], expected[kpi])


# =============================================================================================
# E. Customers and recurring revenue
# =============================================================================================
E_START, E_END = D(2024, 1, 1), D(2024, 6, 30)
E_FX = [{"date": D(2023, 1, 1), "currency": "GBP", "rate": 1.3}]


def m(year: int, month: int) -> dt.date:
    return D(year, month, 1)


# customer -> month -> MRR (c5 pays GBP 100 = 130 in the reporting currency)
SUBS: dict[str, dict[dt.date, float]] = {
    "c1": {
        m(2023, 12): 100,
        m(2024, 1): 100,
        m(2024, 2): 150,
        m(2024, 3): 120,
        m(2024, 4): 120,
        m(2024, 5): 120,
        m(2024, 6): 120,
    },
    "c2": {
        m(2024, 1): 200,
        m(2024, 2): 200,
        m(2024, 4): 180,
        m(2024, 5): 180,
        m(2024, 6): 180,
    },  # March missing: churn in March, reactivation in April
    "c3": {m(2023, 12): 50, m(2024, 1): 50, m(2024, 2): 50},
    "c4": {m(2024, 3): 300, m(2024, 4): 300, m(2024, 5): 250, m(2024, 6): 400},
    "c5": {m(2024, 2): 100, m(2024, 3): 100},
    "c6": {m(2024, 6): 90},
}
SUB_CURRENCY = {"c5": "GBP"}


def sub_rows() -> list[dict[str, Any]]:
    return [
        {"customer_id": c, "month": month, "mrr": float(v), "currency": SUB_CURRENCY.get(c, "USD")}
        for c, hist in SUBS.items()
        for month, v in hist.items()
    ]


def mrr_of(c: str, month: dt.date) -> float | None:
    v = SUBS[c].get(month)
    return None if v is None else v * (1.3 if SUB_CURRENCY.get(c) == "GBP" else 1.0)


def active(month: dt.date) -> dict[str, float]:
    return {c: v for c in SUBS if (v := mrr_of(c, month)) is not None}


def prev(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


# the journeys behind lead value: Q1 has 4 leads and 1200 of revenue, Q2 2 leads and 1000
E_PEOPLE: dict[str, list[Event]] = {
    "p1": [stage("lead", "2024-01-10"), deal(600, "2024-01-15", closed="2024-02-01", won=True)],
    "p2": [stage("lead", "2024-02-05"), deal(600, "2024-02-06", closed="2024-03-01", won=True)],
    "p3": [stage("lead", "2024-03-01")],
    "p4": [stage("lead", "2024-03-15")],
    "p5": [stage("lead", "2024-04-10"), deal(1000, "2024-04-11", closed="2024-05-20", won=True)],
    "p6": [stage("lead", "2024-06-01")],
}

E_KPIS = (
    "arpc",
    "mrr",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churn",
    "mrr_reactivation",
    "retention_rate",
    "churn_rate",
    "cltv",
    "cltv_arpc_lifetime",
    "cltv_lead_value",
    "customer_lifetime_months",
)


def e_lead_value(start: dt.date, end: dt.date) -> float | None:
    leads = 0
    revenue = 0.0
    for events in E_PEOPLE.values():
        for e in events:
            if e.table == "stage_events" and within(e.row["ts"], start, end):
                leads += 1
            if (
                e.table == "opportunities"
                and e.row["is_won"]
                and within(e.row["closed_at"], start, end)
            ):
                revenue += e.row["amount"]
    return None if leads == 0 else revenue / leads


def div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def e_reference(start: dt.date, end: dt.date) -> dict[str, Expected]:
    ms = [a for a, _ in months(start, end)]
    last = ms[-1]
    new = expansion = contraction = churn = reactivation = 0.0
    for month in ms:
        now, before = active(month), active(prev(month))
        for c, v in now.items():
            earlier = [x for x in SUBS[c] if x < month]
            if not earlier:
                new += v
            elif c not in before:
                reactivation += v
            elif v > before[c]:
                expansion += v - before[c]
            elif v < before[c]:
                contraction += before[c] - v
        churn += sum(v for c, v in before.items() if c not in now)
    revenue = sum(sum(active(month).values()) for month in ms)
    seen = {c for month in ms for c in active(month)}
    at_start, at_end = set(active(prev(ms[0]))), set(active(last))
    retention = ratio(len(at_start & at_end), len(at_start))
    churn_rate = None if retention["value"] is None else 1 - retention["value"]
    arpc = ratio(revenue, len(seen))
    lifetimes = [sum(1 for x in SUBS[c] if x <= last) for c in seen]
    lifetime = statistics.median(lifetimes) if lifetimes else None
    mrr = sum(active(last).values())
    lead_value = e_lead_value(start, end)
    return {
        "arpc": arpc,
        "mrr": {"value": mrr},
        "mrr_new": {"value": new},
        "mrr_expansion": {"value": expansion},
        "mrr_contraction": {"value": contraction},
        "mrr_churn": {"value": churn},
        "mrr_reactivation": {"value": reactivation},
        "retention_rate": retention,
        "churn_rate": {"value": churn_rate},
        "cltv": {"value": div(arpc["value"], churn_rate)},
        "cltv_arpc_lifetime": {
            "value": None if lifetime is None or not at_end else mrr / len(at_end) * lifetime
        },
        "cltv_lead_value": {
            "value": None if lead_value is None or lifetime is None else lead_value * lifetime / 12
        },
        "customer_lifetime_months": {
            "value": lifetime,
            "mean": statistics.fmean(lifetimes) if lifetimes else None,
        },
    }


@pytest.fixture(scope="module")
def e_wh() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    load_rows(wh, {"fx_rates": E_FX, "subscriptions": sub_rows()})
    journeys_for(wh, E_PEOPLE)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def e_reader(on_engine: OnEngine, e_wh: Warehouse) -> Reader:
    """Section E's warehouse on the engine under test."""
    return on_engine(e_wh)


def test_e_reference_hand_counted() -> None:
    """The reference checked by hand, month by month, and the MRR bridge
    (start + new + expansion + reactivation - contraction - churn = end) holds."""
    monthly = {a: e_reference(a, b) for a, b in months(E_START, E_END)}

    def series(kpi: str) -> list[float | None]:
        return [monthly[a][kpi]["value"] for a in monthly]

    assert series("mrr") == pytest.approx([350, 530, 550, 600, 550, 790])
    assert series("mrr_new") == pytest.approx([200, 130, 300, 0, 0, 90])
    assert series("mrr_expansion") == pytest.approx([0, 50, 0, 0, 0, 150])
    assert series("mrr_contraction") == pytest.approx([0, 0, 30, 0, 50, 0])
    assert series("mrr_churn") == pytest.approx([0, 0, 250, 130, 0, 0])  # c2 + c3 | c5
    assert series("mrr_reactivation") == pytest.approx([0, 0, 0, 180, 0, 0])
    assert series("retention_rate") == pytest.approx([1, 1, 0.5, 2 / 3, 1, 1])
    opening = 150.0  # December: c1 100 + c3 50
    for a, row in monthly.items():
        v = {k: float(row[k]["value"] or 0) for k in row}
        closing = (
            opening
            + v["mrr_new"]
            + v["mrr_expansion"]
            + v["mrr_reactivation"]
            - v["mrr_contraction"]
            - v["mrr_churn"]
        )
        assert closing == pytest.approx(v["mrr"]), a
        opening = closing
    q1, q2 = e_reference(D(2024, 1, 1), D(2024, 3, 31)), e_reference(D(2024, 4, 1), E_END)
    assert q1["arpc"]["value"] == pytest.approx((350 + 530 + 550) / 5)  # c1..c5
    assert q2["arpc"]["value"] == pytest.approx((600 + 550 + 790) / 4)  # c1 c2 c4 c6
    assert q1["retention_rate"]["value"] == 0.5  # of c1 c3 (December), c1 is active in March
    assert q2["retention_rate"]["value"] == pytest.approx(2 / 3)  # of c1 c4 c5: c1 c4
    assert q1["cltv"]["value"] == pytest.approx(286 / 0.5)
    # active months so far: c1 4, c2 2, c3 3, c4 1, c5 2 | c1 7, c2 5 (gap), c4 4, c6 1
    assert q1["customer_lifetime_months"] == {"value": 2, "mean": 2.4}
    assert q2["customer_lifetime_months"] == {"value": 4.5, "mean": 4.25}
    assert q2["cltv_arpc_lifetime"]["value"] == pytest.approx(790 / 4 * 4.5)
    assert q2["cltv_lead_value"]["value"] == pytest.approx(500 * 4.5 / 12)


@pytest.fixture(scope="module")
def e_monthly(e_reader: Reader) -> dict[tuple[Any, ...], dict[str, Any]]:
    return run(e_reader, E_KPIS, E_START, E_END, Grain.month)


@pytest.fixture(scope="module")
def e_quarterly(e_reader: Reader) -> dict[tuple[Any, ...], dict[str, Any]]:
    return run(e_reader, E_KPIS, E_START, E_END, Grain.quarter)


@pytest.mark.parametrize("kpi", E_KPIS)
def test_e_monthly_matches_reference(
    e_monthly: dict[tuple[Any, ...], dict[str, Any]], kpi: str
) -> None:
    for start, end in months(E_START, E_END):
        check(e_monthly[(kpi, start)], e_reference(start, end)[kpi])


@pytest.mark.parametrize("kpi", E_KPIS)
def test_e_quarterly_matches_reference(
    e_quarterly: dict[tuple[Any, ...], dict[str, Any]], kpi: str
) -> None:
    for start, end in ((D(2024, 1, 1), D(2024, 3, 31)), (D(2024, 4, 1), D(2024, 6, 30))):
        check(e_quarterly[(kpi, start)], e_reference(start, end)[kpi])


def test_e_quarterly_hand_counted(e_quarterly: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    q1, q2 = D(2024, 1, 1), D(2024, 4, 1)
    assert e_quarterly[("mrr", q1)]["value"] == pytest.approx(550)  # the quarter's last month
    assert e_quarterly[("mrr_new", q1)]["value"] == pytest.approx(200 + 130 + 300)
    assert e_quarterly[("mrr_churn", q2)]["value"] == pytest.approx(130)
    assert e_quarterly[("arpc", q1)]["numerator"] == pytest.approx(1430)
    assert e_quarterly[("arpc", q1)]["denominator"] == 5
    assert e_quarterly[("retention_rate", q1)]["numerator"] == 1
    assert e_quarterly[("retention_rate", q1)]["denominator"] == 2
    assert e_quarterly[("churn_rate", q2)]["value"] == pytest.approx(1 / 3)
    assert e_quarterly[("cltv", q2)]["value"] == pytest.approx(485 * 3)


def test_e_zero_denominators_are_none(e_reader: Reader) -> None:
    """October 2023: no subscriptions yet (and none in September); no leads."""
    start, end = D(2023, 10, 1), D(2023, 10, 31)
    got = run(e_reader, E_KPIS, start, end)
    for kpi in ("arpc", "retention_rate"):
        row = got[(kpi, start)]
        assert row["value"] is None and row["denominator"] == 0, kpi
    for kpi in (
        "churn_rate",
        "cltv",
        "cltv_arpc_lifetime",
        "cltv_lead_value",
        "customer_lifetime_months",
    ):
        assert got[(kpi, start)]["value"] is None, kpi
    assert got[("customer_lifetime_months", start)]["mean"] is None
    for kpi in (
        "mrr",
        "mrr_new",
        "mrr_expansion",
        "mrr_contraction",
        "mrr_churn",
        "mrr_reactivation",
    ):
        assert got[(kpi, start)]["value"] == 0, kpi


def test_e_full_retention_gives_no_cltv(e_monthly: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """January keeps every December customer: churn 0, so ARPC / churn is undefined."""
    jan = D(2024, 1, 1)
    assert e_monthly[("churn_rate", jan)]["value"] == 0
    assert e_monthly[("cltv", jan)]["value"] is None


# =============================================================================================
# F. Email marketing
# =============================================================================================
F_START, F_END = D(2024, 1, 1), D(2024, 2, 29)

F_PEOPLE: dict[str, list[Event]] = {
    "alice": [
        email("delivered", "camp1", "2024-01-05"),
        email("open", "camp1", "2024-01-05"),
        email("open", "camp1", "2024-01-06T10:00"),  # a repeat open
        email("click", "camp1", "2024-01-06T10:01"),
        email("click", "camp1", "2024-01-07"),  # a repeat click
        email("forward", "camp1", "2024-01-06T11:00"),
        email("delivered", "camp2", "2024-01-30"),
        email("open", "camp2", "2024-02-02"),
        email("click", "camp2", "2024-02-02T09:00"),
    ],
    "bob": [
        email("delivered", "camp1", "2024-01-05"),
        email("open", "camp1", "2024-01-08"),
        email("unsubscribe", "camp1", "2024-01-08T12:00"),
        email("open", "camp1", "2024-02-05"),
    ],  # re-open in Feb: not a unique open there
    "carol": [
        email("delivered", "camp1", "2024-01-05"),
        email("delivered", "camp2", "2024-01-30"),
        email("open", "camp2", "2024-01-31"),
        email("forward", "camp2", "2024-02-01"),
        email("forward", "camp2", "2024-02-03"),
    ],
    "dave": [email("sent", "camp1", "2024-01-05"), email("bounce", "camp1", "2024-01-05T00:01")],
    # a click without a tracked open
    "erin": [email("delivered", "camp1", "2024-01-05"), email("click", "camp1", "2024-01-09")],
    "frank": [email("subscribe", "signup", "2024-01-20")],
    "gina": [
        email("subscribe", "signup", "2024-02-10"),
        email("unsubscribe", "camp2", "2024-02-15"),
    ],
    "henry": [email("subscribe", "signup", "2024-02-12")],
}
F_AUDIENCE = [
    {"date": D(2023, 12, 31), "audience": "email_list", "size": 100},
    {"date": D(2024, 1, 15), "audience": "email_list", "size": 98},
    {"date": D(2024, 1, 31), "audience": "email_list", "size": 101},
    {"date": D(2023, 12, 31), "audience": "social_followers", "size": 800},
    {"date": D(2024, 1, 31), "audience": "social_followers", "size": 900},
]
F_KPIS = (
    "email_open_rate",
    "email_click_rate",
    "email_click_to_open",
    "list_growth_rate",
    "email_forwards",
    "unsubscribe_rate",
)


def email_events() -> list[dict[str, Any]]:
    return [{"contact": p, **e.row} for p, evs in F_PEOPLE.items() for e in evs]


def f_reference(start: dt.date, end: dt.date, campaign: str | None = None) -> dict[str, Expected]:
    evs = [e for e in email_events() if campaign is None or e["campaign"] == campaign]

    def unique(kind: str) -> int:
        first: dict[tuple[str, str], dt.datetime] = {}
        for e in evs:
            if e["event"] == kind:
                key = (e["campaign"], e["contact"])
                first[key] = min(first.get(key, e["ts"]), e["ts"])
        return sum(1 for t in first.values() if within(t, start, end))

    def count(kind: str) -> int:
        return sum(1 for e in evs if e["event"] == kind and within(e["ts"], start, end))

    delivered, opens, clicks = unique("delivered"), unique("open"), unique("click")
    before = [r for r in F_AUDIENCE if r["audience"] == "email_list" and r["date"] < start]
    size = max(before, key=lambda r: r["date"])["size"] if before else 0
    growth = count("subscribe") - count("unsubscribe")
    return {
        "email_open_rate": ratio(opens, delivered),
        "email_click_rate": ratio(clicks, delivered),
        "email_click_to_open": ratio(clicks, opens),
        "list_growth_rate": {"value": None if size == 0 else growth / size},
        "email_forwards": {"value": count("forward")},
        "unsubscribe_rate": ratio(count("unsubscribe"), delivered),
    }


@pytest.fixture(scope="module")
def f_wh() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    journeys_for(wh, F_PEOPLE)
    load_rows(wh, {"audience_snapshots": F_AUDIENCE})
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def f_reader(on_engine: OnEngine, f_wh: Warehouse) -> Reader:
    """Section F's warehouse on the engine under test."""
    return on_engine(f_wh)


@pytest.mark.parametrize("kpi", F_KPIS)
def test_f_matches_reference(f_reader: Reader, each_kpi: EachKpi, kpi: str) -> None:
    got = each_kpi(f_reader, F_KPIS, kpi, F_START, F_END, Grain.month)
    for start, end in months(F_START, F_END):
        check(got[(kpi, start)], f_reference(start, end)[kpi])
    whole = each_kpi(f_reader, F_KPIS, kpi, F_START, F_END, None)
    check(whole[(kpi, F_START)], f_reference(F_START, F_END)[kpi])


def test_f_hand_counted(f_reader: Reader) -> None:
    got = run(f_reader, F_KPIS, F_START, F_END, Grain.month)
    jan, feb = D(2024, 1, 1), D(2024, 2, 1)
    # delivered in Jan: camp1 alice bob carol erin, camp2 alice carol (dave bounced)
    # unique opens: camp1 alice bob, camp2 carol | camp2 alice (bob's Feb re-open is not new)
    check(got[("email_open_rate", jan)], {"value": 3 / 6, "numerator": 3, "denominator": 6})
    check(got[("email_click_rate", jan)], {"value": 2 / 6, "numerator": 2, "denominator": 6})
    check(got[("email_click_to_open", jan)], {"value": 2 / 3})
    check(got[("email_click_to_open", feb)], {"value": 1.0, "numerator": 1, "denominator": 1})
    # nothing delivered in February: open, click and unsubscribe rates are undefined
    for kpi in ("email_open_rate", "email_click_rate", "unsubscribe_rate"):
        assert got[(kpi, feb)]["value"] is None and got[(kpi, feb)]["denominator"] == 0, kpi
    assert got[("email_open_rate", feb)]["numerator"] == 1
    check(got[("unsubscribe_rate", jan)], {"value": 1 / 6})
    assert [got[("email_forwards", p)]["value"] for p in (jan, feb)] == [1, 2]
    # (1 - 1) / 100 (the Dec 31 snapshot) | (2 - 1) / 101 (the Jan 31 one, not Jan 15's 98)
    assert got[("list_growth_rate", jan)]["value"] == 0
    assert got[("list_growth_rate", feb)]["value"] == pytest.approx(1 / 101)


def test_f_by_campaign(f_reader: Reader) -> None:
    got = run(f_reader, ["email_open_rate", "email_click_rate"], F_START, F_END, by=("campaign",))
    assert {k[2] for k in got} == {"camp1", "camp2"}
    for c in ("camp1", "camp2"):
        expected = f_reference(F_START, F_END, c)
        check(got[("email_open_rate", F_START, c)], expected["email_open_rate"])
        check(got[("email_click_rate", F_START, c)], expected["email_click_rate"])
    check(got[("email_open_rate", F_START, "camp1")], {"value": 2 / 4})
    check(got[("email_click_rate", F_START, "camp2")], {"value": 1 / 2})


def test_f_zero_denominators_are_none(f_reader: Reader) -> None:
    """December 2023: no email events and no list snapshot before it."""
    start, end = D(2023, 12, 1), D(2023, 12, 31)
    got = run(f_reader, F_KPIS, start, end)
    for kpi in ("email_open_rate", "email_click_rate", "email_click_to_open", "unsubscribe_rate"):
        assert got[(kpi, start)]["value"] is None and got[(kpi, start)]["denominator"] == 0
    assert got[("list_growth_rate", start)]["value"] is None
    assert got[("email_forwards", start)]["value"] == 0


# =============================================================================================
# G. Inbound response and the sales-marketing SLA
# =============================================================================================
G_START, G_END = D(2024, 1, 1), D(2024, 2, 29)


def sales(kind: str, at: str, outcome: str | None = None) -> Event:
    """A sales activity that always carries the outcome column (load_rows builds its Arrow
    table from the first row's keys, so a column missing there is dropped for every row)."""
    return activity(kind, at, outcome=outcome)


G_PEOPLE: dict[str, list[Event]] = {
    "r1": [inbound("2024-01-05T10:00", "2024-01-05T10:02", channel="chat", outcome="meeting")],
    "r2": [inbound("2024-01-05T11:00", "2024-01-05T11:03", channel="chat", outcome="none")],
    "r3": [inbound("2024-01-06T09:00", "2024-01-06T09:10", channel="phone", outcome="opportunity")],
    "r4": [inbound("2024-01-07T09:00", channel="form")],  # never answered
    "r5": [inbound("2024-01-08T12:00", "2024-01-08T12:00:30", channel="chat", outcome="qualified")],
    "r6": [inbound("2024-01-09T15:00", "2024-01-09T15:03:01", channel="phone")],
    # received in January, answered in February: a January request
    "r8": [inbound("2024-01-31T23:58", "2024-02-01T00:01", channel="form")],
    "r7": [inbound("2024-02-01T09:00", "2024-02-01T11:00", channel="phone", outcome="meeting")],
    # MQLs and the first sales touch after them
    "m1": [stage("mql", "2024-01-10T09:00"), sales("call", "2024-01-10T15:00")],
    "m2": [stage("mql", "2024-01-11T09:00"), sales("email", "2024-01-12T09:00")],  # 24 h
    "m3": [stage("mql", "2024-01-12T09:00"), sales("call", "2024-01-13T10:00")],  # 25 h
    "m4": [stage("mql", "2024-01-15T09:00")],  # never touched
    "m5": [
        stage("mql", "2024-01-20T09:00"),
        sales("status_change", "2024-01-20T10:00", outcome="rejected"),  # not a touch
        sales("meeting", "2024-01-22T10:00"),
    ],  # 49 h
    "m6": [
        stage("mql", "2024-01-25T09:00"),
        sales("status_change", "2024-01-25T12:00", outcome="accepted"),
    ],
    "m7": [sales("call", "2024-01-27T09:00"), stage("mql", "2024-01-28T09:00")],  # before
    "m8": [
        stage("mql", "2024-02-03T09:00"),
        sales("call", "2024-02-03T10:00"),
        stage("mql", "2024-02-20T09:00"),
    ],  # a repeat MQL counts once
}
G_KPIS = ("inbound_response_time", "inbound_within_sla", "inbound_outcome_rate", "sla_mql_followup")
TOUCHES = {"call", "email", "meeting"}


def g_reference(
    start: dt.date,
    end: dt.date,
    sla_minutes: float = 3,
    sla_hours: float = 24,
    channel: str | None = None,
) -> dict[str, Expected]:
    reqs = [
        e.row
        for evs in G_PEOPLE.values()
        for e in evs
        if e.table == "inbound_requests"
        and within(e.row["received_at"], start, end)
        and (channel is None or e.row["channel"] == channel)
    ]
    minutes = [
        (r["first_response_at"] - r["received_at"]).total_seconds() / 60
        for r in reqs
        if r["first_response_at"]
    ]
    in_sla = sum(1 for x in minutes if x <= sla_minutes)
    outcome = sum(1 for r in reqs if r["outcome"] not in (None, "none"))
    mqls = followed = 0
    for evs in G_PEOPLE.values():
        mql_ts = [e.row["ts"] for e in evs if e.table == "stage_events" and e.row["stage"] == "mql"]
        if not mql_ts or not within(min(mql_ts), start, end):
            continue
        first_mql = min(mql_ts)
        mqls += 1
        touches = [
            e.row["ts"]
            for e in evs
            if e.table == "sales_activities"
            and e.row["ts"] >= first_mql
            and (
                e.row["activity_type"] in TOUCHES
                or (
                    e.row["activity_type"] == "status_change" and e.row.get("outcome") == "accepted"
                )
            )
        ]
        if touches and min(touches) - first_mql <= dt.timedelta(hours=sla_hours):
            followed += 1
    return {
        "inbound_response_time": {
            "value": statistics.median(minutes) if minutes else None,
            "mean": statistics.fmean(minutes) if minutes else None,
        },
        "inbound_within_sla": ratio(in_sla, len(reqs)),
        "inbound_outcome_rate": ratio(outcome, len(reqs)),
        "sla_mql_followup": ratio(followed, mqls),
    }


@pytest.fixture(scope="module")
def g_wh() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    journeys_for(wh, G_PEOPLE)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def g_reader(on_engine: OnEngine, g_wh: Warehouse) -> Reader:
    """Section G's warehouse on the engine under test."""
    return on_engine(g_wh)


INBOUND_KPIS = G_KPIS[:3]


@pytest.mark.parametrize("kpi", G_KPIS)
def test_g_matches_reference(g_reader: Reader, each_kpi: EachKpi, kpi: str) -> None:
    got = each_kpi(g_reader, G_KPIS, kpi, G_START, G_END, Grain.month)
    for start, end in months(G_START, G_END):
        check(got[(kpi, start)], g_reference(start, end)[kpi])
    whole = each_kpi(g_reader, G_KPIS, kpi, G_START, G_END, None)
    check(whole[(kpi, G_START)], g_reference(G_START, G_END)[kpi])


def test_g_inbound_hand_counted(g_reader: Reader) -> None:
    jan, feb = D(2024, 1, 1), D(2024, 2, 1)
    got = run(g_reader, INBOUND_KPIS, G_START, G_END, Grain.month)
    # answered in January: 2, 3, 10, 0.5, 3 1/60, 3 minutes (r4 never)
    answered = [2, 3, 10, 0.5, 3 + 1 / 60, 3]
    check(got[("inbound_response_time", jan)], {"value": 3, "mean": sum(answered) / 6})
    check(got[("inbound_response_time", feb)], {"value": 120, "mean": 120})
    # within 3 minutes (inclusive): r1 r2 r5 r8 of 7 requests (the unanswered r4 included)
    check(got[("inbound_within_sla", jan)], {"value": 4 / 7, "numerator": 4, "denominator": 7})
    check(got[("inbound_within_sla", feb)], {"value": 0, "numerator": 0, "denominator": 1})
    # meeting, opportunity, qualified; "none" and no outcome do not count
    check(got[("inbound_outcome_rate", jan)], {"value": 3 / 7})
    check(got[("inbound_outcome_rate", feb)], {"value": 1.0})


def test_sla_mql_followup_hand_counted(g_reader: Reader) -> None:
    jan, feb = D(2024, 1, 1), D(2024, 2, 1)
    got = run(g_reader, ["sla_mql_followup"], G_START, G_END, Grain.month)
    # m1 (6 h), m2 (24 h exactly), m6 (accepted after 3 h) of m1..m7 (m3 25 h, m4 never,
    # m5's first real touch after 49 h, m7's call came before the MQL); m8 in February
    check(got[("sla_mql_followup", jan)], {"value": 3 / 7, "numerator": 3, "denominator": 7})
    check(got[("sla_mql_followup", feb)], {"value": 1.0, "numerator": 1, "denominator": 1})


def test_g_inbound_sla_minutes_param(g_reader: Reader) -> None:
    """sla_minutes 5 adds r6 (3 min 1 s)."""
    jan = D(2024, 1, 1)
    got = run(
        g_reader,
        ["inbound_within_sla"],
        G_START,
        G_END,
        Grain.month,
        catalog=with_params("inbound_within_sla", sla_minutes=5),
    )
    check(
        got[("inbound_within_sla", jan)],
        g_reference(jan, D(2024, 1, 31), sla_minutes=5)["inbound_within_sla"],
    )
    assert got[("inbound_within_sla", jan)]["numerator"] == 5


def test_sla_mql_followup_sla_hours_param(g_reader: Reader) -> None:
    """sla_hours 48 adds m3 (25 h) but not m5 (49 h)."""
    jan = D(2024, 1, 1)
    got = run(
        g_reader,
        ["sla_mql_followup"],
        G_START,
        G_END,
        Grain.month,
        catalog=with_params("sla_mql_followup", sla_hours=48),
    )
    check(
        got[("sla_mql_followup", jan)],
        g_reference(jan, D(2024, 1, 31), sla_hours=48)["sla_mql_followup"],
    )
    assert got[("sla_mql_followup", jan)]["numerator"] == 4


def test_g_by_channel(g_reader: Reader) -> None:
    got = run(g_reader, INBOUND_KPIS, G_START, G_END, by=("channel",))
    assert {k[2] for k in got} == {"chat", "phone", "form"}
    for channel in ("chat", "phone", "form"):
        expected = g_reference(G_START, G_END, channel=channel)
        for kpi in INBOUND_KPIS:
            check(got[(kpi, G_START, channel)], expected[kpi])
    check(got[("inbound_within_sla", G_START, "chat")], {"value": 1.0})


def test_g_inbound_zero_denominators_are_none(g_reader: Reader) -> None:
    start, end = D(2024, 3, 1), D(2024, 3, 31)
    got = run(g_reader, INBOUND_KPIS, start, end)
    for kpi in ("inbound_within_sla", "inbound_outcome_rate"):
        assert got[(kpi, start)]["value"] is None and got[(kpi, start)]["denominator"] == 0
    assert got[("inbound_response_time", start)]["value"] is None
    assert got[("inbound_response_time", start)]["mean"] is None


def test_sla_mql_followup_zero_denominator_is_none(g_reader: Reader) -> None:
    start, end = D(2024, 3, 1), D(2024, 3, 31)
    row = run(g_reader, ["sla_mql_followup"], start, end)[("sla_mql_followup", start)]
    assert row["value"] is None and row["denominator"] == 0


def test_g_unanswered_requests_have_no_response_time(
    warehouse: Warehouse, on_engine: OnEngine
) -> None:
    """Only answered requests have a response time: all unanswered -> None, not 0."""
    wh = warehouse
    journeys_for(wh, {"a": [inbound("2024-01-05T10:00")], "b": [inbound("2024-01-06T10:00")]})
    got = run(on_engine(wh), ["inbound_response_time", "inbound_within_sla"], G_START, G_END)
    assert got[("inbound_response_time", G_START)]["value"] is None
    check(got[("inbound_within_sla", G_START)], {"value": 0, "numerator": 0, "denominator": 2})
