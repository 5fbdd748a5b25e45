"""The demo's sales cost: spend rows of the sales-cost channel. Per month they are exactly
the documented truth (truth.SALES_COST on the month's won revenue, counted here from the raw
tables), `sales_cost` sums them, `cac_fully_loaded` is (marketing spend + sales cost) / new
customers against a hand count, and `spend` and `cac` leave them out; on each engine (the
demo warehouse on DuckDB, its lake on Spark)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES, SALES_COST_CHANNEL
from revlens.compile.periods import Grain
from revlens.compile.query import KpiQuery, run_kpis
from revlens.demo import truth as T
from revlens.demo.generate import generate, load_demo
from revlens.model.warehouse import Warehouse
from two_engines import OnEngine

CONTACTS, SEED = 20_000, 42  # make run's defaults
START, END = dt.date(2024, 11, 1), dt.date(2026, 10, 31)  # the demo window: 24 months
SALES = "sales"  # the channel docs/kpis.md names for sales cost

# Per month of the window, from the raw tables with plain SQL (not through revlens): won
# revenue and new customers (account, else contact, else deal, at its first won close),
# marketing spend and sales cost, money in USD at the rate of the row's date.
HAND_SQL = """
WITH won AS (
    SELECT o.*, o.amount * CASE WHEN o.currency = 'USD' THEN 1 ELSE fx.rate END AS usd
    FROM opportunities AS o
    LEFT JOIN fx_rates AS fx ON fx.currency = o.currency AND fx.date = CAST(o.closed_at AS DATE)
    WHERE o.is_won AND o.closed_at IS NOT NULL
), firsts AS (
    SELECT closed_at, row_number() OVER (
        PARTITION BY coalesce(account_id, contact_id, opportunity_id)
        ORDER BY closed_at, opportunity_id) AS nth
    FROM won
), cost AS (
    SELECT s.date, s.channel, s.cost * CASE WHEN s.currency = 'USD' THEN 1 ELSE fx.rate END AS usd
    FROM spend AS s
    LEFT JOIN fx_rates AS fx ON fx.currency = s.currency AND fx.date = s.date
), months AS (
    SELECT CAST(range AS DATE) AS month
    FROM range(DATE '2024-11-01', DATE '2026-11-01', INTERVAL 1 MONTH)
)
SELECT month,
    (SELECT sum(usd) FROM won WHERE date_trunc('month', closed_at) = month),
    (SELECT count(*) FROM firsts WHERE nth = 1 AND date_trunc('month', closed_at) = month),
    (SELECT sum(usd) FROM cost WHERE channel <> 'sales' AND date_trunc('month', date) = month),
    (SELECT sum(usd) FROM cost WHERE channel = 'sales' AND date_trunc('month', date) = month)
FROM months ORDER BY month
"""


@dataclass(frozen=True)
class Month:
    """One month of the window, counted by hand."""

    won_revenue: float
    customers: int
    spend: float
    sales_cost: float


@pytest.fixture(scope="module")
def demo() -> Iterator[Warehouse]:
    wh = Warehouse.open(":memory:", create=True)
    load_demo(wh, contacts=CONTACTS, seed=SEED)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def hand(demo: Warehouse) -> dict[dt.date, Month]:
    rows = demo.con.execute(HAND_SQL).fetchall()
    assert all(None not in r for r in rows), "a month without revenue, spend or rates"
    return {r[0]: Month(r[1], r[2], r[3], r[4]) for r in rows}


@pytest.fixture(scope="module")
def kpis(demo: Warehouse, on_engine: OnEngine) -> dict[tuple[str, dt.date], float | None]:
    """(kpi, month start) -> value of the cost KPIs by month over the window."""
    query = KpiQuery(
        kpis=("spend", "sales_cost", "cac", "cac_fully_loaded"),
        start=START,
        end=END,
        grain=Grain.month,
    )
    rows = run_kpis(on_engine(demo), query, load_catalog(measures=set(MEASURES))).rows
    return {(r["kpi"], r["period_start"]): r["value"] for r in rows}


def test_the_demo_uses_the_channel_revlens_counts_as_sales_cost() -> None:
    assert SALES_COST_CHANNEL == SALES


def test_sales_cost_rows_are_the_documented_truth(
    demo: Warehouse, hand: dict[dt.date, Month]
) -> None:
    """Three rows a month on the 1st, in USD, each exactly truth.SALES_COST's: a team of
    eight at 20,000 contacts, commission on the hand-counted won revenue."""
    rows = demo.con.execute(
        "SELECT date, campaign, cost, currency, source, ad, impressions, clicks FROM spend "
        "WHERE channel = 'sales' ORDER BY date, campaign"
    ).fetchall()
    got: dict[dt.date, dict[str, float]] = {}
    for date, campaign, cost, currency, *rest in rows:
        assert currency == "USD" and rest == [None] * 4, (date, campaign)
        got.setdefault(date, {})[campaign] = cost
    assert list(got) == list(hand)
    for month, counted in hand.items():
        assert got[month] == T.SALES_COST.monthly(counted.won_revenue), month
        assert got[month]["sales-salaries"] == 80_000.0  # 8 reps x 10,000
        assert got[month]["sales-tools"] == 2_400.0  # 8 reps x 300


def test_sales_cost_per_month_is_the_truth(
    kpis: dict[tuple[str, dt.date], float | None], hand: dict[dt.date, Month]
) -> None:
    for month, counted in hand.items():
        truth = sum(T.SALES_COST.monthly(counted.won_revenue).values())
        value = kpis[("sales_cost", month)]
        assert value is not None and round(value, 2) == round(truth, 2), month


def test_fully_loaded_cac_adds_the_sales_cost_and_cac_leaves_it_out(
    kpis: dict[tuple[str, dt.date], float | None], hand: dict[dt.date, Month]
) -> None:
    for month, m in hand.items():
        assert m.customers > 0 and m.sales_cost > 0, month
        assert kpis[("spend", month)] == pytest.approx(m.spend, rel=1e-12), month
        assert kpis[("cac", month)] == pytest.approx(m.spend / m.customers, rel=1e-12), month
        fully_loaded = (m.spend + m.sales_cost) / m.customers
        assert kpis[("cac_fully_loaded", month)] == pytest.approx(fully_loaded, rel=1e-12), month


def test_commission_covers_every_chunk_and_the_team_scales_with_contacts() -> None:
    """Over several chunks the sales-cost rows come with the last one and take commission
    on the deals of all of them; 3,000 contacts over the 730-day window is 15% of the
    reference volume, so 15% of the team."""
    chunks = list(generate(3_000, seed=SEED, chunk_contacts=1_000))
    con = duckdb.connect()
    con.register("spend", pa.concat_tables([c["spend"] for c in chunks if "spend" in c]))
    con.register("opportunities", pa.concat_tables([c["opportunities"] for c in chunks]))
    con.register("fx_rates", chunks[0]["fx_rates"])
    assert [k for k, c in enumerate(chunks) if "spend" in c] == [0, 2]
    assert set(chunks[0]["spend"]["channel"].to_pylist()) == {c.name for c in T.CHANNELS if c.paid}
    assert chunks[2]["spend"]["channel"].to_pylist() == [SALES] * 3 * 24
    hand = {r[0]: r[1] or 0.0 for r in con.execute(HAND_SQL).fetchall()}
    rows = con.execute(
        "SELECT date, campaign, cost FROM spend WHERE channel = 'sales' ORDER BY date, campaign"
    ).fetchall()
    got: dict[dt.date, dict[str, float]] = {}
    for date, campaign, cost in rows:
        got.setdefault(date, {})[campaign] = cost
    assert list(got) == list(hand)
    for month, won in hand.items():
        assert got[month]["sales-commissions"] == round(won * T.SALES_COST.commission, 2)
        assert got[month]["sales-salaries"] == 12_000.0  # 1.2 reps x 10,000
        assert got[month]["sales-tools"] == 360.0
    assert sum(hand.values()) > 0


def test_docs_state_the_default_numbers(hand: dict[dt.date, Month]) -> None:
    """docs/demo.md quotes the sales cost and both CACs of the default data: keep them true."""
    text = " ".join(
        (Path(__file__).resolve().parents[2] / "docs" / "demo.md").read_text("utf-8").split()
    )
    cost = {m: h.sales_cost for m, h in hand.items()}
    low, high = min(cost, key=cost.__getitem__), max(cost, key=cost.__getitem__)
    last12 = [h for m, h in hand.items() if m >= dt.date(2025, 11, 1)]

    def cacs(months: list[Month]) -> str:
        spend = sum(h.spend for h in months)
        sales = sum(h.sales_cost for h in months)
        customers = sum(h.customers for h in months)
        return f"{spend / customers:,.0f} and fully loaded CAC {(spend + sales) / customers:,.0f}"

    months = list(hand.values())
    stated = (
        f"runs from {cost[low]:,.0f} ({low:%Y-%m}, the first month, with one deal won) to "
        f"{cost[high]:,.0f} ({high:%Y-%m}); over the 24 months it is "
        f"{sum(cost.values()):,.0f} against {sum(h.spend for h in months):,.0f} of marketing "
        f"spend, so for the {sum(h.customers for h in months)} new customers CAC is "
        f"{cacs(months)}"
    )
    assert stated in text
    last = cacs(last12).replace(" and fully loaded CAC ", " and ")
    assert f"(last twelve months: {last})" in text
