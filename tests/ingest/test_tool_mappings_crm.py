"""The CRM and billing built-in mappings on fixtures in the tools' own export layouts
(tests/ingest/fixtures/tools, written by make_crm_fixtures.py): hubspot-contacts,
hubspot-deals, salesforce-opportunities, salesforce-leads and stripe-subscriptions.

Every expectation is counted here from the CSV files with the csv module, independently of
the mappings: every row accounted for (read = loaded + updated + rejected + skipped), then
leads, MQLs, CPL, CAC by channel, win rate, revenue and MRR by channel against the KPIs.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from revlens.catalog.spec import Catalog, load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, KpiResult, run_kpis
from revlens.ingest.load import ImportResult, import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import Warehouse

TOOLS = Path(__file__).parent / "fixtures" / "tools"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
H1 = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 6, 30)}
MONTHS = [f"2026-{m:02d}" for m in range(1, 7)]
# Every touch of these fixtures is the contact's original source, at its creation: a year of
# lookback lets each conversion find it, so a conversion's channel is its contact's source.
LOOKBACK = {"lookback_days": 365}

# The channel vocabulary (docs/imports.md), written out for the values the fixtures use.
HUBSPOT_CHANNELS = {
    "Organic Search": "organic_search",
    "Paid Search": "paid_search",
    "Paid Social": "paid_social",
    "Social Media": "organic_social",
    "Email Marketing": "email",
    "Direct Traffic": "direct",
    "Referrals": "referral",
    "Offline Sources": "offline",
    "Other Campaigns": "other",
    "AI Referrals": "referral",
}
SALESFORCE_CHANNELS = {
    "Web": "direct",
    "Phone Inquiry": "offline",
    "Partner Referral": "affiliates",
    "Purchased List": "other",
    "Other": "other",
    "Advertisement": "display",
    "Employee Referral": "referral",
    "External Referral": "referral",
    "Trade Show": "events",
    "Webinar": "events",
}
CLOSED_HS = {"Closed Won", "Closed Lost"}


def read_csv(name: str) -> list[dict[str, str]]:
    """The data rows of a fixture; a Salesforce footer (rows without an id) is left out."""
    with (TOOLS / name).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:] if len(r) == len(header)]


def lines(name: str) -> int:
    """Physical lines after the header (what the reader reads, footer included)."""
    with (TOOLS / name).open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def local(text: str, zone: ZoneInfo = BERLIN) -> dt.datetime:
    """A HubSpot/Stripe 'YYYY-MM-DD HH:MM' wall-clock time in `zone`, as naive UTC."""
    t = dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    return t.astimezone(UTC).replace(tzinfo=None)


def month_of(text: str) -> str:
    """The month of a HubSpot date in the portal's (and the warehouse's) zone."""
    return text[:7]


def sha(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def us(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%m/%d/%Y").date()


def midnight(text: str, zone: str = "America/New_York") -> dt.datetime:
    """A Salesforce M/D/YYYY date: midnight in the warehouse zone, as naive UTC."""
    t = dt.datetime.combine(us(text), dt.time(), tzinfo=ZoneInfo(zone))
    return t.astimezone(UTC).replace(tzinfo=None)


def table_counts(result: ImportResult) -> list[tuple[str, int, int, int, int, int]]:
    return [
        (c.table, c.read, c.loaded, c.updated, c.rejected, c.skipped)
        for f in result.files
        for c in f.tables
    ]


def kpis(wh: Warehouse, catalog: Catalog, *ids: str, **query: Any) -> KpiResult:
    return run_kpis(wh, KpiQuery(kpis=ids, **query), catalog)


def by(result: KpiResult, kpi: str, dim: str) -> dict[Any, dict[str, Any]]:
    rows = [r for r in result.rows if r["kpi"] == kpi]
    out = {r[dim]: r for r in rows}
    assert len(out) == len(rows)
    return out


def by_month(result: KpiResult, kpi: str) -> dict[str, dict[str, Any]]:
    return {str(r["period_start"])[:7]: r for r in result.rows if r["kpi"] == kpi}


# -- the HubSpot + Stripe warehouse ------------------------------------------------------


@dataclass
class HubSpot:
    wh: Warehouse
    results: dict[str, ImportResult]
    contacts: list[dict[str, str]]
    deals: list[dict[str, str]]
    subs: list[dict[str, str]]
    spend: list[dict[str, str]]

    @property
    def leads(self) -> list[dict[str, str]]:
        return [c for c in self.contacts if c["Lifecycle Stage"] != "Subscriber"]

    def channel(self, contact_id: str) -> str | None:
        for c in self.leads:
            if c["Record ID"] == contact_id:
                return HUBSPOT_CHANNELS[c["Original Source"]]
        return None


@pytest.fixture(scope="module")
def hubspot() -> Iterator[HubSpot]:
    wh = Warehouse.open(":memory:", create=True)
    wh.update_settings(timezone="Europe/Berlin", reporting_currency="EUR")
    results = {
        "fx": import_files(wh, [TOOLS / "crm-fx-rates-eur.csv"], table="fx_rates"),
        "spend": import_files(wh, [TOOLS / "crm-spend.csv"], table="spend"),
    }
    for name in ("hubspot-contacts", "hubspot-deals", "stripe-subscriptions"):
        results[name] = import_files(wh, [TOOLS / f"{name}.csv"], mapping=load_mapping(name))
    yield HubSpot(
        wh,
        results,
        read_csv("hubspot-contacts.csv"),
        read_csv("hubspot-deals.csv"),
        read_csv("stripe-subscriptions.csv"),
        read_csv("crm-spend.csv"),
    )
    wh.close()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(measures=set(MEASURES))


def q(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return wh.con.execute(sql).fetchall()


def test_hubspot_contacts_every_row_accounted_for(hubspot: HubSpot) -> None:
    rows = hubspot.contacts
    n = len(rows)
    assert n == lines("hubspot-contacts.csv") and n > 500
    subscribers = sum(1 for r in rows if r["Lifecycle Stage"] == "Subscriber")
    assert subscribers > 50  # the trap: subscribers without a lead date
    assert all(not r["Became a Lead Date"] for r in rows if r["Lifecycle Stage"] == "Subscriber")

    def dated(col: str) -> int:
        return sum(1 for r in rows if r[col])

    expected = [
        ("contacts", n, n - subscribers, 0, 0, subscribers),
        *[
            ("stage_events", n, dated(col), 0, 0, n - dated(col))
            for col in (
                "Became a Lead Date",
                "Became a Marketing Qualified Lead Date",
                "Became a Sales Qualified Lead Date",
                "Became an Opportunity Date",
                "Became a Customer Date",
            )
        ],
        ("touchpoints", n, n - subscribers, 0, 0, subscribers),
    ]
    assert table_counts(hubspot.results["hubspot-contacts"]) == expected
    for table, read, loaded, updated, rejected, skipped in expected:
        assert read == loaded + updated + rejected + skipped, table
    assert hubspot.results["hubspot-contacts"].rows_rejected == 0


def test_hubspot_contacts_columns(hubspot: HubSpot) -> None:
    leads = {r["Record ID"]: r for r in hubspot.leads}
    stored = {
        r[0]: r[1:]
        for r in q(
            hubspot.wh,
            "SELECT contact_id, created_at, owner, country, account_id, email_hash, lead_source "
            "FROM contacts",
        )
    }
    assert stored == {
        rid: (
            local(r["Create Date"]),
            r["Contact owner"],
            r["Country/Region"],
            r["Associated Company"],
            sha(r["Email"]),
            HUBSPOT_CHANNELS[r["Original Source"]],
        )
        for rid, r in leads.items()
    }
    touches = {
        r[0]: r[1:]
        for r in q(
            hubspot.wh,
            "SELECT touchpoint_id, contact_id, ts, channel, source, campaign, touch_type "
            "FROM touchpoints",
        )
    }
    assert touches == {
        rid: (
            rid,
            local(r["Create Date"]),
            HUBSPOT_CHANNELS[r["Original Source"]],
            r["Original Source Drill-Down 1"] or None,
            r["Original Source Drill-Down 2"] or None,
            "offline" if r["Original Source"] == "Offline Sources" else None,
        )
        for rid, r in leads.items()
    }


def test_hubspot_dates_are_read_in_the_portal_zone(hubspot: HubSpot) -> None:
    """A lead created 2026-04-01 00:59 in Berlin is 2026-03-31 22:59 UTC, and an April lead."""
    row = q(hubspot.wh, "SELECT ts FROM stage_events WHERE contact_id = '51467' AND stage = 'lead'")
    assert row == [(dt.datetime(2026, 3, 31, 22, 59),)]
    midnight = [r for r in hubspot.leads if r["Became a Lead Date"].startswith("2026-04-01 00:")]
    assert len(midnight) == 4


def test_hubspot_deals_every_row_accounted_for(hubspot: HubSpot) -> None:
    deals = hubspot.deals
    n = len(deals)
    assert n == lines("hubspot-deals.csv")
    closed = sum(1 for d in deals if d["Deal Stage"] in CLOSED_HS)
    with_contacts = [d for d in deals if d["Associated Contact IDs"]]
    associations = sum(len(d["Associated Contact IDs"].split(";")) for d in with_contacts)
    two = [d for d in deals if ";" in d["Associated Contact IDs"]]
    assert len(two) >= 5 and any(d["Associated Contact IDs"] == "51467;52202" for d in two)
    # the each-output writes every association (read counts one row per item); the primary
    # output then marks the first of each deal
    assert table_counts(hubspot.results["hubspot-deals"]) == [
        ("opportunities", n, closed, 0, 0, n - closed),
        ("opportunities", n, n - closed, 0, 0, closed),
        (
            "opportunity_contacts",
            associations + n - len(with_contacts),
            associations,
            0,
            0,
            n - len(with_contacts),
        ),
        ("opportunity_contacts", n, 0, len(with_contacts), 0, n - len(with_contacts)),
        ("opportunity_stage_events", n, closed, 0, 0, n - closed),
    ]


def test_hubspot_deals_columns(hubspot: HubSpot) -> None:
    stored = {
        r[0]: r[1:]
        for r in q(
            hubspot.wh,
            "SELECT opportunity_id, contact_id, created_at, closed_at, is_won, amount, stage, "
            "owner, currency FROM opportunities",
        )
    }
    stage_names = {"Closed Won": "won", "Closed Lost": "lost"}
    expected = {}
    for d in hubspot.deals:
        closed = d["Deal Stage"] in CLOSED_HS
        expected[d["Record ID"]] = (
            d["Associated Contact IDs"].split(";")[0] or None,
            local(d["Create Date"]),
            local(d["Close Date"]) if closed else None,  # an open deal's close is expected only
            {"Closed Won": True, "Closed Lost": False}.get(d["Deal Stage"]),
            float(d["Amount"]) if d["Amount"] else None,  # blank: an unknown amount
            stage_names.get(
                d["Deal Stage"], d["Deal Stage"].lower().replace(" ", "_").replace("-", "_")
            ),
            d["Deal owner"],
            "EUR",
        )
    assert stored == expected
    assert stored["31599999003"][2] is None  # expected close 2026-03-31 passed: still open


def test_hubspot_multi_contact_deal_keeps_every_association(hubspot: HubSpot) -> None:
    assoc = set(
        q(hubspot.wh, "SELECT opportunity_id, contact_id, is_primary FROM opportunity_contacts")
    )
    expected = {
        (d["Record ID"], c, i == 0)
        for d in hubspot.deals
        for i, c in enumerate(d["Associated Contact IDs"].split(";"))
        if d["Associated Contact IDs"]
    }
    assert assoc == expected
    assert {(c, p) for o, c, p in assoc if o == "31599999001"} == {
        ("51467", True),
        ("52202", False),
    }
    assert q(
        hubspot.wh, "SELECT contact_id FROM opportunities WHERE opportunity_id = '31599999001'"
    ) == [("51467",)]


def test_hubspot_deals_warn_about_unknown_contacts_and_blank_amounts(hubspot: HubSpot) -> None:
    warnings = " | ".join(w for f in hubspot.results["hubspot-deals"].files for w in f.warnings)
    assert (
        "1 opportunities rows name 1 contacts that are not in contacts (contact_id: 59999)"
        in warnings
    )
    # one warning for the file's closed and open deals together
    blank = Counter(d["Deal Stage"] in CLOSED_HS for d in hubspot.deals if not d["Amount"])
    assert blank[True] >= 10 and blank[False] >= 5
    assert f"{blank[True] + blank[False]} opportunities have no amount" in warnings
    assert warnings.count("have no amount") == 1


def test_hubspot_leads_mqls_and_cpl_by_month(hubspot: HubSpot, catalog: Catalog) -> None:
    leads = Counter(month_of(r["Became a Lead Date"]) for r in hubspot.leads)
    mqls = Counter(
        month_of(r["Became a Marketing Qualified Lead Date"])
        for r in hubspot.leads
        if r["Became a Marketing Qualified Lead Date"]
    )
    spend: dict[str, float] = defaultdict(float)
    for s in hubspot.spend:
        spend[s["date"][:7]] += float(s["cost"])
    result = kpis(hubspot.wh, catalog, "leads", "mqls", "cpl", grain="month", **H1)
    got_leads, got_mqls, got_cpl = (by_month(result, k) for k in ("leads", "mqls", "cpl"))
    for m in MONTHS:
        assert got_leads[m]["value"] == leads[m], m
        assert got_mqls[m]["value"] == mqls[m], m
        assert got_cpl[m]["value"] == pytest.approx(spend[m] / leads[m], rel=1e-12), m
    # the four leads of 2026-04-01 00:xx Berlin count in April (in UTC they would be March's)
    assert leads["2026-04"] == sum(
        1
        for r in hubspot.leads
        if local(r["Became a Lead Date"]).month in (3, 4)
        and r["Became a Lead Date"].startswith("2026-04")
    )


def test_hubspot_cpl_and_cac_by_channel(hubspot: HubSpot, catalog: Catalog) -> None:
    leads = Counter(
        HUBSPOT_CHANNELS[r["Original Source"]]
        for r in hubspot.leads
        if month_of(r["Became a Lead Date"]) in MONTHS
    )
    spend: dict[str, float] = defaultdict(float)
    for s in hubspot.spend:
        spend[s["channel"]] += float(s["cost"])
    # customers: contacts whose first won deal closes in H1, credited to the deal's first contact
    first_won: dict[str, dt.datetime] = {}
    for d in hubspot.deals:
        if d["Deal Stage"] == "Closed Won" and d["Associated Contact IDs"]:
            contact = d["Associated Contact IDs"].split(";")[0]
            t = local(d["Close Date"])
            first_won[contact] = min(first_won.get(contact, t), t)
    h1_end = local("2026-07-01 00:00")
    customers = Counter(
        hubspot.channel(c) for c, t in first_won.items() if local("2026-01-01 00:00") <= t < h1_end
    )
    result = kpis(hubspot.wh, catalog, "cpl", "cac", "customers", by=("channel",), **H1, **LOOKBACK)
    cpl, cac = by(result, "cpl", "channel"), by(result, "cac", "channel")
    for channel in ("paid_search", "paid_social"):
        assert cpl[channel]["value"] == pytest.approx(spend[channel] / leads[channel], rel=1e-12)
        assert cac[channel]["denominator"] == customers[channel]
        assert cac[channel]["value"] == pytest.approx(
            spend[channel] / customers[channel], rel=1e-12
        )
    got = {ch: r["value"] for ch, r in by(result, "customers", "channel").items() if r["value"]}
    assert got == {ch: n for ch, n in customers.items() if n}
    # the deal of 51467;52202 is paid search's (51467's channel), not organic search's
    assert (
        hubspot.channel("51467") == "paid_search" and hubspot.channel("52202") == "organic_search"
    )


def test_the_two_contact_deal_is_revenue_of_its_first_contacts_channel(
    hubspot: HubSpot, catalog: Catalog
) -> None:
    """Revenue of 2026-05-12 by channel: the 12,000 deal of 51467;52202 is paid search's
    (51467's channel). Stored with the whole string as its contact, it had no channel."""
    day = dt.date(2026, 5, 12)
    expected: dict[str | None, float] = defaultdict(float)
    for d in hubspot.deals:
        if d["Deal Stage"] == "Closed Won" and d["Close Date"].startswith(day.isoformat()):
            first = d["Associated Contact IDs"].split(";")[0]
            expected[hubspot.channel(first)] += float(d["Amount"] or 0)
    assert expected["paid_search"] >= 12000
    result = kpis(hubspot.wh, catalog, "revenue", by=("channel",), start=day, end=day, **LOOKBACK)
    got = {ch: r["value"] for ch, r in by(result, "revenue", "channel").items() if r["value"]}
    assert got == pytest.approx({ch: v for ch, v in expected.items() if v}, rel=1e-12)


def test_hubspot_win_rate_and_revenue(hubspot: HubSpot, catalog: Catalog) -> None:
    won: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    revenue: dict[str, float] = defaultdict(float)
    for d in hubspot.deals:
        if d["Deal Stage"] not in CLOSED_HS:
            continue
        m = month_of(d["Close Date"])
        closed[m] += 1
        if d["Deal Stage"] == "Closed Won":
            won[m] += 1
            revenue[m] += float(d["Amount"] or 0)  # a blank amount counts in win rate only
    result = kpis(hubspot.wh, catalog, "win_rate", "revenue", grain="month", **H1)
    rate, rev = by_month(result, "win_rate"), by_month(result, "revenue")
    for m in MONTHS:
        assert (rate[m]["numerator"], rate[m]["denominator"]) == (won[m], closed[m]), m
        assert rate[m]["value"] == pytest.approx(won[m] / closed[m], rel=1e-12), m
        assert rev[m]["value"] == pytest.approx(revenue[m], rel=1e-12), m


# -- Stripe ------------------------------------------------------------------------------


RUNNING = ("active", "past_due", "trialing")


def stripe_months(row: dict[str, str]) -> list[str]:
    """The months a subscription counts in, in Berlin months: through the month its current
    period ends while it runs, else up to (not including) the month it ended."""
    start = row["Trial End (UTC)"] or row["Start (UTC)"]
    running = row["Status"] in RUNNING
    end = row["Current Period End (UTC)"]
    if not running:
        end = row["Ended At (UTC)"] or end
    first = local(start, UTC).replace(tzinfo=UTC).astimezone(BERLIN)
    last = local(end, UTC).replace(tzinfo=UTC).astimezone(BERLIN)
    months = []
    y, m = first.year, first.month
    while (y, m) < (last.year, last.month) or (running and (y, m) == (last.year, last.month)):
        months.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def stripe_mrr(row: dict[str, str]) -> float:
    per = {"month": 1, "year": 12}[row["Interval"]]
    return float(row["Amount"]) * int(row["Quantity"]) / per


def test_stripe_every_row_accounted_for(hubspot: HubSpot) -> None:
    subs = hubspot.subs
    n = len(subs)
    assert n == lines("stripe-subscriptions.csv")
    incomplete = sum(1 for s in subs if s["Status"] in ("incomplete", "incomplete_expired"))
    kept = [s for s in subs if s["Status"] not in ("incomplete", "incomplete_expired")]
    assert incomplete >= 5 and any(s["Interval"] == "year" for s in kept)
    assert any(s["Status"] == "canceled" for s in kept)
    # two outputs, running and ended subscriptions; each reads one row per month written,
    # plus the rows it skips (the other output's, incomplete ones, or no month)
    expected = []
    for part in (
        [s for s in kept if s["Status"] in RUNNING],
        [s for s in kept if s["Status"] not in RUNNING],
    ):
        months = sum(len(stripe_months(s)) for s in part)
        skipped = n - len(part) + sum(1 for s in part if not stripe_months(s))
        expected.append(("subscriptions", months + skipped, months, 0, 0, skipped))
    assert table_counts(hubspot.results["stripe-subscriptions"]) == expected
    stored = Counter(
        (c, str(m)[:7]) for c, m in q(hubspot.wh, "SELECT customer_id, month FROM subscriptions")
    )
    assert stored == Counter((s["Customer ID"], m) for s in kept for m in stripe_months(s))
    late = q(
        hubspot.wh,
        "SELECT min(month) FROM subscriptions WHERE customer_id = 'cus_R5g00000BerlinMar'",
    )
    assert late == [(dt.date(2026, 3, 1),)]  # started 2026-02-28 23:30 UTC = March 1 in Berlin


def test_stripe_mrr_by_channel(hubspot: HubSpot, catalog: Catalog) -> None:
    """MRR of June 2026, split by the acquisition channel of the contact with the e-mail."""
    by_email = {sha(c["Email"]): HUBSPOT_CHANNELS[c["Original Source"]] for c in hubspot.leads}
    expected: dict[str | None, float] = defaultdict(float)
    linked = 0
    for s in hubspot.subs:
        if s["Status"] in ("incomplete", "incomplete_expired") or "2026-06" not in stripe_months(s):
            continue
        channel = by_email.get(sha(s["Customer Email"]))
        linked += channel is not None
        expected[channel] += stripe_mrr(s) * 0.9  # USD -> EUR
    assert linked >= 50 and None in expected
    result = kpis(
        hubspot.wh,
        catalog,
        "mrr",
        by=("channel",),
        start=dt.date(2026, 6, 1),
        end=dt.date(2026, 6, 30),
        **LOOKBACK,
    )
    got = {ch: r["value"] for ch, r in by(result, "mrr", "channel").items() if r["value"]}
    assert got.keys() == {ch for ch, v in expected.items() if v}
    for ch, v in expected.items():
        assert got[ch] == pytest.approx(v, rel=1e-12), ch


def test_stripe_mrr_of_the_export_month_shows_no_false_churn(
    hubspot: HubSpot, catalog: Catalog
) -> None:
    """The export was taken in July: the running subscriptions whose current period ends in
    July still count in July's MRR (not only the yearly ones), so July shows no churn."""
    running = [s for s in hubspot.subs if s["Status"] in RUNNING]
    assert sum(1 for s in running if s["Current Period End (UTC)"].startswith("2026-07")) >= 50
    july = sum(stripe_mrr(s) * 0.9 for s in hubspot.subs if "2026-07" in stripe_months(s))
    ended_in_july = [s for s in hubspot.subs if s["Ended At (UTC)"].startswith("2026-07")]
    result = kpis(
        hubspot.wh,
        catalog,
        "mrr",
        "mrr_churn",
        start=dt.date(2026, 7, 1),
        end=dt.date(2026, 7, 31),
        **LOOKBACK,
    )
    values = {r["kpi"]: r["value"] for r in result.rows}
    assert values["mrr"] == pytest.approx(july, rel=1e-12)
    churned = sum(stripe_mrr(s) * 0.9 for s in ended_in_july)
    assert (values["mrr_churn"] or 0.0) == pytest.approx(churned, rel=1e-12, abs=1e-9)


# -- Salesforce --------------------------------------------------------------------------


@dataclass
class Salesforce:
    wh: Warehouse
    results: dict[str, ImportResult]
    opps: list[dict[str, str]]
    leads: list[dict[str, str]]


@pytest.fixture(scope="module")
def salesforce() -> Iterator[Salesforce]:
    wh = Warehouse.open(":memory:", create=True)
    wh.update_settings(timezone="America/New_York", reporting_currency="USD")
    results = {"fx": import_files(wh, [TOOLS / "crm-fx-rates-usd.csv"], table="fx_rates")}
    for name in ("salesforce-leads", "salesforce-opportunities"):
        results[name] = import_files(wh, [TOOLS / f"{name}.csv"], mapping=load_mapping(name))
    yield Salesforce(
        wh, results, read_csv("salesforce-opportunities.csv"), read_csv("salesforce-leads.csv")
    )
    wh.close()


FOOTER_LINES = 7  # two blank lines, report name, copyright, confidential, generated by, company


def test_salesforce_opportunities_every_row_accounted_for(salesforce: Salesforce) -> None:
    opps = salesforce.opps
    n = len(opps)
    assert lines("salesforce-opportunities.csv") == n + FOOTER_LINES
    closed = sum(1 for o in opps if o["Closed"] == "1")
    result = salesforce.results["salesforce-opportunities"]
    assert table_counts(result) == [
        ("opportunities", n, closed, 0, 0, n - closed),
        ("opportunities", n, n - closed, 0, 0, closed),
        ("opportunity_stage_events", n, closed, 0, 0, n - closed),
    ]
    assert result.rows_rejected == 0
    # the footer is not data: its lines are counted apart, not as rows read
    assert result.files[0].rows_read == n
    assert result.files[0].lines_skipped == {"summary": 5, "empty": 2}


def test_salesforce_opportunities_columns(salesforce: Salesforce) -> None:
    stored = {
        r[0]: r[1:]
        for r in q(
            salesforce.wh,
            "SELECT opportunity_id, created_at, closed_at, is_won, amount, currency, account_id, "
            "owner FROM opportunities",
        )
    }
    assert stored == {
        o["Opportunity ID"]: (
            midnight(o["Created Date"]),
            midnight(o["Close Date"]) if o["Closed"] == "1" else None,
            (o["Won"] == "1") if o["Closed"] == "1" else None,
            float(o["Amount"]),
            o["Amount Currency"],
            o["Account Name"],
            o["Opportunity Owner"],
        )
        for o in salesforce.opps
    }


def test_salesforce_win_rate_and_revenue_in_the_reporting_currency(
    salesforce: Salesforce, catalog: Catalog
) -> None:
    rate = {"USD": 1.0, "EUR": 1.1, "GBP": 1.3}
    won = closed = 0
    revenue = 0.0
    for o in salesforce.opps:
        if o["Closed"] != "1":
            continue
        closed += 1
        if o["Won"] == "1":
            won += 1
            revenue += float(o["Amount"]) * rate[o["Amount Currency"]]
    assert {o["Amount Currency"] for o in salesforce.opps} == {"USD", "EUR", "GBP"}
    result = kpis(
        salesforce.wh,
        catalog,
        "win_rate",
        "revenue",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
    )
    (win_rate,) = [r for r in result.rows if r["kpi"] == "win_rate"]
    (rev,) = [r for r in result.rows if r["kpi"] == "revenue"]
    assert (win_rate["numerator"], win_rate["denominator"]) == (won, closed)
    assert rev["value"] == pytest.approx(revenue, rel=1e-12)


def test_salesforce_leads(salesforce: Salesforce, catalog: Catalog) -> None:
    leads = salesforce.leads
    n = len(leads)
    assert lines("salesforce-leads.csv") == n + FOOTER_LINES
    converted = sum(1 for r in leads if r["Converted Date"])
    assert table_counts(salesforce.results["salesforce-leads"]) == [
        ("contacts", n, n, 0, 0, 0),
        ("stage_events", n, n, 0, 0, 0),
        ("stage_events", n, converted, 0, 0, n - converted),
        ("touchpoints", n, n, 0, 0, 0),
    ]
    channels = dict(q(salesforce.wh, "SELECT contact_id, lead_source FROM contacts"))
    assert channels == {r["Lead ID"]: SALESFORCE_CHANNELS[r["Lead Source"]] for r in leads}
    expected = Counter(SALESFORCE_CHANNELS[r["Lead Source"]] for r in leads)
    result = kpis(
        salesforce.wh,
        catalog,
        "leads",
        by=("channel",),
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
    )
    got = {ch: r["value"] for ch, r in by(result, "leads", "channel").items() if r["value"]}
    assert got == dict(expected)


# -- through the CLI, and again ------------------------------------------------------------


def test_the_cli_recognises_each_export_and_imports_it(revlens: Any, tmp_path: Path) -> None:
    """`revlens import FILE` without --mapping: each export is recognised by its header."""
    wh = tmp_path / "w.duckdb"
    done = revlens("init", "--timezone", "Europe/Berlin", "--currency", "EUR", warehouse=wh)
    assert done.returncode == 0, done.stderr
    rates = revlens(
        "import", "--table", "fx_rates", str(TOOLS / "crm-fx-rates-eur.csv"), warehouse=wh
    )
    assert rates.returncode == 0, rates.stderr
    for name in (
        "hubspot-contacts",
        "hubspot-deals",
        "salesforce-leads",
        "salesforce-opportunities",
        "stripe-subscriptions",
    ):
        done = revlens("import", str(TOOLS / f"{name}.csv"), warehouse=wh)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"using mapping {name}" in done.stdout + done.stderr
    with Warehouse.open(wh, read_only=True) as opened:
        counts = opened.row_counts()
    contacts = read_csv("hubspot-contacts.csv")
    sf_leads = read_csv("salesforce-leads.csv")
    assert counts["contacts"] == sum(
        1 for c in contacts if c["Lifecycle Stage"] != "Subscriber"
    ) + len(sf_leads)
    assert counts["opportunities"] == len(read_csv("hubspot-deals.csv")) + len(
        read_csv("salesforce-opportunities.csv")
    )


def test_importing_the_exports_again_changes_nothing_twice(hubspot: HubSpot) -> None:
    before = hubspot.wh.row_counts()
    again = import_files(
        hubspot.wh, [TOOLS / "hubspot-deals.csv"], mapping=load_mapping("hubspot-deals")
    )
    assert hubspot.wh.row_counts() == before
    assert all(c.loaded == 0 and c.rejected == 0 for f in again.files for c in f.tables)
    n = len(hubspot.deals)
    assert [c.updated + c.skipped for c in again.files[0].tables][:2] == [n, n]


def test_closed_stages_spelt_in_sentence_case_are_closed(tmp_path: Path, catalog: Catalog) -> None:
    """HubSpot labels its default stages "Closed Won" or "Closed won" depending on the
    portal: both close the deal (a `when` and a `map` compare ignoring case)."""
    export = tmp_path / "deals.csv"
    export.write_text(
        "Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Deal owner,"
        "Associated Contact IDs\n"
        "101,A,Closed won,1000,2026-02-01 10:00,2026-01-05 09:00,Ann,\n"
        "102,B,Closed Won,2000,2026-02-02 10:00,2026-01-05 09:00,Ann,\n"
        "103,C,closed LOST,500,2026-02-03 10:00,2026-01-05 09:00,Ann,\n"
        "104,D,Contract Sent,700,2026-05-01 00:00,2026-01-05 09:00,Ann,\n",
        encoding="utf-8",
    )
    wh = Warehouse.open(":memory:", create=True)
    import_files(wh, [export], mapping=load_mapping("hubspot-deals"))
    stored = wh.con.execute(
        "SELECT opportunity_id, stage, is_won, closed_at IS NOT NULL FROM opportunities ORDER BY 1"
    ).fetchall()
    assert stored == [
        ("101", "won", True, True),
        ("102", "won", True, True),
        ("103", "lost", False, True),
        ("104", "contract_sent", None, False),
    ]
    query = KpiQuery(
        kpis=["revenue", "win_rate"], start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31)
    )
    values = {r["kpi"]: r["value"] for r in run_kpis(wh, query, catalog).rows}
    assert values == {"revenue": 3000.0, "win_rate": 2 / 3}
