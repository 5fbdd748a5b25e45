"""KPIs on the real public data sets (/work/shared/data), imported through the built-in
mappings, against the same numbers computed separately from the CSV files with Python's csv
module.

Maven CRM pipeline: win rate, average deal size and sales cycle by agent (owner), by product
and, rolled up from the by-owner rows, by manager (sales_teams.csv). Olist marketing funnel:
leads by month and lead-to-customer by origin channel, period and cohort mode.

Both data sets are read on each engine (`on_engine`: the warehouse on DuckDB, its lake on
Spark) and checked against the same CSV numbers, so the engines agree with each other too."""

from __future__ import annotations

import csv
import datetime as dt
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain
from revlens.compile.query import KpiQuery, run_kpis
from revlens.ingest.load import import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MAVEN = DATA / "maven_crm_sales_opportunities"
PIPELINE = MAVEN / "sales_pipeline.csv"
TEAMS = MAVEN / "sales_teams.csv"
OLIST = DATA / "olist_marketing_funnel"
MQLS = OLIST / "olist_marketing_qualified_leads_dataset.csv"
DEALS = OLIST / "olist_closed_deals_dataset.csv"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not all(p.exists() for p in (PIPELINE, TEAMS, MQLS, DEALS)),
        reason=f"the public data sets (Maven CRM, Olist funnel) are not in {DATA}",
    ),
]

CATALOG = load_catalog(measures=set(MEASURES))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def same(got: Any, want: float | None, what: str) -> None:
    if want is None:
        assert got is None, f"{what}: expected None, got {got!r}"
    else:
        assert got == pytest.approx(want, rel=1e-12), what


def rows_by(
    wh: Reader, kpis: tuple[str, ...], start: dt.date, end: dt.date, **kw: Any
) -> dict[tuple[Any, ...], dict[str, Any]]:
    query = KpiQuery(kpis=kpis, start=start, end=end, **kw)
    rows = run_kpis(wh, query, CATALOG).rows
    out = {(r["kpi"], r["period_start"], *(r[d] for d in query.by)): r for r in rows}
    assert len(out) == len(rows)
    return out


# =============================================================================================
# Maven CRM pipeline
# =============================================================================================
M_START, M_END = dt.date(2016, 10, 1), dt.date(2017, 12, 31)
M_KPIS = ("win_rate", "average_deal_size", "sales_cycle_days")


def product(name: str) -> str:
    return "GTX Pro" if name == "GTXPro" else name


def maven_reference(
    key: str, start: dt.date = M_START, end: dt.date = M_END
) -> dict[str, dict[str, Any]]:
    """Per key value (owner, product or manager): won, closed, revenue, cycle days (won),
    for deals closed in [start, end]. Prospecting deals have no engage date: not loaded."""
    teams = {r["sales_agent"]: r["manager"] for r in read_csv(TEAMS)}
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"won": 0, "closed": 0, "revenue": 0.0, "cycles": []}
    )
    for r in read_csv(PIPELINE):
        if r["deal_stage"] not in ("Won", "Lost"):
            continue
        close = day(r["close_date"])
        if not start <= close <= end:
            continue
        k = {
            "owner": r["sales_agent"],
            "product": product(r["product"]),
            "manager": teams[r["sales_agent"]],
        }[key]
        g = out[k]
        g["closed"] += 1
        if r["deal_stage"] == "Won":
            g["won"] += 1
            g["revenue"] += float(r["close_value"])
            g["cycles"].append((close - day(r["engage_date"])).days)
    return dict(out)


@pytest.fixture(scope="module")
def maven() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    result = import_files(wh, [PIPELINE], mapping=load_mapping("maven-pipeline"))
    prospecting = [r for r in read_csv(PIPELINE) if r["deal_stage"] == "Prospecting"]
    assert all(r["engage_date"] == "" for r in prospecting)
    assert result.rows_rejected == len(prospecting) == 500
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def maven_reader(on_engine: OnEngine, maven: Warehouse) -> Reader:
    return on_engine(maven)


def test_csv_reference_sanity() -> None:
    """The CSV side, pinned to the data set's published shape."""
    rows = read_csv(PIPELINE)
    assert Counter(r["deal_stage"] for r in rows) == {
        "Won": 4238,
        "Lost": 2473,
        "Engaging": 1589,
        "Prospecting": 500,
    }
    ref = maven_reference("owner")
    assert sum(g["won"] for g in ref.values()) == 4238
    assert sum(g["closed"] for g in ref.values()) == 4238 + 2473
    assert "GTXPro" not in maven_reference("product")


@pytest.mark.parametrize("dim", ["owner", "product"])
def test_maven_by_dimension_matches_csv(maven_reader: Reader, dim: str) -> None:
    got = rows_by(maven_reader, M_KPIS, M_START, M_END, by=(dim,))
    ref = maven_reference(dim)
    for kpi in M_KPIS:
        assert {k[2] for k in got if k[0] == kpi} == set(ref), kpi
    for value, g in ref.items():
        win = got[("win_rate", M_START, value)]
        assert (win["numerator"], win["denominator"]) == (g["won"], g["closed"]), value
        same(win["value"], g["won"] / g["closed"], f"win_rate {value}")
        size = got[("average_deal_size", M_START, value)]
        assert size["numerator"] == pytest.approx(g["revenue"]), value
        assert size["denominator"] == g["won"], value
        same(size["value"], ratio(g["revenue"], g["won"]), f"average_deal_size {value}")
        cycle = got[("sales_cycle_days", M_START, value)]
        same(cycle["value"], statistics.median(g["cycles"]), f"median cycle {value}")
        same(cycle["mean"], statistics.fmean(g["cycles"]), f"mean cycle {value}")


def test_maven_totals_match_csv(maven_reader: Reader) -> None:
    got = rows_by(maven_reader, M_KPIS, M_START, M_END)
    ref = maven_reference("owner")
    won = sum(g["won"] for g in ref.values())
    revenue = sum(g["revenue"] for g in ref.values())
    cycles = [c for g in ref.values() for c in g["cycles"]]
    win = got[("win_rate", M_START)]
    assert (win["numerator"], win["denominator"]) == (4238, 4238 + 2473)
    same(got[("average_deal_size", M_START)]["value"], revenue / won, "average_deal_size")
    same(got[("sales_cycle_days", M_START)]["value"], statistics.median(cycles), "median")
    same(got[("sales_cycle_days", M_START)]["mean"], statistics.fmean(cycles), "mean")


def test_maven_win_rate_by_product_per_quarter(maven_reader: Reader) -> None:
    got = rows_by(
        maven_reader,
        ("win_rate",),
        dt.date(2017, 1, 1),
        M_END,
        grain=Grain.quarter,
        by=("product",),
    )
    for q in range(4):
        start = dt.date(2017, 3 * q + 1, 1)
        end = (dt.date(2017, 3 * q + 4, 1) if q < 3 else dt.date(2018, 1, 1)) - dt.timedelta(days=1)
        ref = maven_reference("product", start, end)
        for value, g in ref.items():
            row = got[("win_rate", start, value)]
            assert (row["numerator"], row["denominator"]) == (g["won"], g["closed"]), (start, value)


def test_maven_rollup_by_manager(maven_reader: Reader) -> None:
    """revlens has no manager dimension: summing the by-owner numerators and denominators
    per manager (sales_teams.csv) gives the managers' numbers computed from the CSVs."""
    teams = {r["sales_agent"]: r["manager"] for r in read_csv(TEAMS)}
    got = rows_by(maven_reader, M_KPIS, M_START, M_END, by=("owner",))
    rolled: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (kpi, _, owner), row in got.items():
        agg = rolled[teams[owner]]
        if kpi == "win_rate":
            agg["won"] += row["numerator"]
            agg["closed"] += row["denominator"]
        elif kpi == "average_deal_size":
            agg["revenue"] += row["numerator"]
            agg["won_for_size"] += row["denominator"]
        else:  # the mean cycle weighted by the owner's won deals
            won = got[("win_rate", M_START, owner)]["numerator"]
            agg["cycle_days"] += row["mean"] * won
    ref = maven_reference("manager")
    assert set(rolled) == set(ref) and len(ref) == 6
    for manager, g in ref.items():
        agg = rolled[manager]
        assert (agg["won"], agg["closed"]) == (g["won"], g["closed"]), manager
        assert agg["won_for_size"] == g["won"], manager
        assert agg["revenue"] == pytest.approx(g["revenue"]), manager
        same(agg["won"] / agg["closed"], g["won"] / g["closed"], f"win rate {manager}")
        same(agg["revenue"] / agg["won"], g["revenue"] / g["won"], f"deal size {manager}")
        same(agg["cycle_days"] / agg["won"], statistics.fmean(g["cycles"]), f"mean cycle {manager}")


# =============================================================================================
# Olist marketing funnel
# =============================================================================================
O_START, O_END = dt.date(2017, 7, 1), dt.date(2018, 5, 31)


def olist() -> tuple[dict[str, dict[str, Any]], dict[str, dt.datetime]]:
    """MQLs (lead date = first contact date, channel = origin, empty -> 'unknown') and the
    won date of each deal's MQL."""
    mqls = {
        r["mql_id"]: {
            "lead": dt.datetime.combine(day(r["first_contact_date"]), dt.time()),
            "channel": r["origin"] or "unknown",
        }
        for r in read_csv(MQLS)
    }
    won = {r["mql_id"]: stamp(r["won_date"]) for r in read_csv(DEALS)}
    return mqls, won


def inside(t: dt.datetime) -> bool:
    return O_START <= t.date() <= O_END


def olist_period(lookback_days: int) -> dict[str | None, tuple[int, int]]:
    """channel -> (customers won in the range, leads in the range). A customer's channel is
    the first touch within the lookback before the win: the MQL's form touch on its first
    contact date, so none when the win is more than `lookback_days` after the first contact
    or before it."""
    mqls, won = olist()
    leads = Counter(m["channel"] for m in mqls.values() if inside(m["lead"]))
    customers: Counter[str | None] = Counter()
    for mql_id, when in won.items():
        if inside(when):
            m = mqls[mql_id]
            ok = m["lead"] <= when <= m["lead"] + dt.timedelta(days=lookback_days)
            customers[m["channel"] if ok else None] += 1
    return {c: (customers.get(c, 0), leads.get(c, 0)) for c in set(leads) | set(customers)}


def olist_cohort(window_days: int) -> dict[str, tuple[int, int]]:
    """channel -> (leads of the range won no earlier than the first contact and within the
    window after it, leads of the range)."""
    mqls, won = olist()
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for mql_id, m in mqls.items():
        if not inside(m["lead"]):
            continue
        g = out[m["channel"]]
        g[1] += 1
        when = won.get(mql_id)
        if when and m["lead"] <= when <= m["lead"] + dt.timedelta(days=window_days):
            g[0] += 1
    return {c: (n, d) for c, (n, d) in out.items()}


@pytest.fixture(scope="module")
def olist_wh() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    for name, path in (("olist-mqls", MQLS), ("olist-deals", DEALS)):
        import_files(wh, [path], mapping=load_mapping(name))
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def olist_reader(on_engine: OnEngine, olist_wh: Warehouse) -> Reader:
    return on_engine(olist_wh)


def test_olist_csv_quirks() -> None:
    mqls, won = olist()
    early = [i for i, w in won.items() if w < mqls[i]["lead"]]
    assert len(early) == 1 and inside(won[early[0]])  # won two days before its first contact
    assert sum(1 for r in read_csv(MQLS) if r["origin"] == "") == 60


def test_olist_leads_and_customers_by_month(olist_reader: Reader) -> None:
    mqls, won = olist()
    got = rows_by(
        olist_reader, ("leads", "customers", "lead_to_customer"), O_START, O_END, grain=Grain.month
    )
    leads = Counter(m["lead"].date().replace(day=1) for m in mqls.values() if inside(m["lead"]))
    customers = Counter(w.date().replace(day=1) for w in won.values() if inside(w))
    month = O_START
    while month <= O_END:
        assert got[("leads", month)]["value"] == leads[month], month
        assert got[("customers", month)]["value"] == customers[month], month
        row = got[("lead_to_customer", month)]
        assert (row["numerator"], row["denominator"]) == (customers[month], leads[month])
        same(row["value"], ratio(customers[month], leads[month]), str(month))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    assert sum(leads.values()) == 7996  # 4 of the 8,000 MQLs are from June 2017


@pytest.mark.parametrize("lookback", [90, 730])
def test_olist_lead_to_customer_by_channel_period(olist_reader: Reader, lookback: int) -> None:
    got = rows_by(
        olist_reader, ("lead_to_customer",), O_START, O_END, by=("channel",), lookback_days=lookback
    )
    ref = olist_period(lookback)
    assert {k[2] for k in got} == set(ref)
    for channel, (num, den) in ref.items():
        row = got[("lead_to_customer", O_START, channel)]
        assert (row["numerator"], row["denominator"]) == (num, den), channel
        same(row["value"], ratio(num, den), str(channel))
        assert row["mode"] == "period"
    # unattributed customers: won > lookback days after the first contact, or (1) before it
    assert ref[None][1] == 0 and got[("lead_to_customer", O_START, None)]["value"] is None
    assert ref[None][0] == {90: 32, 730: 1}[lookback]


def test_olist_lead_to_customer_by_channel_cohort(olist_reader: Reader) -> None:
    got = rows_by(
        olist_reader,
        ("lead_to_customer",),
        O_START,
        O_END,
        by=("channel",),
        mode="cohort",
        window_days=730,
    )
    ref = olist_cohort(730)
    assert {k[2] for k in got} == set(ref)
    for channel, (num, den) in ref.items():
        row = got[("lead_to_customer", O_START, channel)]
        assert (row["numerator"], row["denominator"]) == (num, den), channel
        same(row["value"], ratio(num, den), channel)
        assert row["mode"] == "cohort"
    # every deal but the one won before its first contact converts within 730 days
    mqls, won = olist()
    in_range = sum(1 for i in won if inside(mqls[i]["lead"]))
    assert sum(n for n, _ in ref.values()) == in_range - 1
    assert sum(d for _, d in ref.values()) == 7996
