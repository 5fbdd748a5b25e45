"""Aggregated sources (issue 16): ad platform rows (CTR, CPC, CPM, cost per platform
conversion), web_traffic beside touchpoint sessions and email_campaigns beside email events,
each counted once (a day with web_traffic rows from them only; a campaign with an
email_campaigns row from it only), the `sources` each value came from, the landing_page
dimension, and MRR / retention / churn by the acquisition channel of the subscription's
contact. Every expected number is worked out by hand in the test; every query runs on each
engine (`on_engine`: the warehouse on DuckDB, its lake on Spark)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from journeys import (
    ad_spend,
    contact_attributes,
    email,
    email_campaign,
    email_hash,
    journeys_for,
    load_events,
    load_rows,
    session,
    stage,
    subscription,
    touch,
    traffic,
)
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain
from revlens.compile.query import KpiQuery, run_kpis
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

D = dt.date
Rows = dict[tuple[Any, ...], dict[str, Any]]


def run(
    reader: Reader,
    kpis: tuple[str, ...],
    start: dt.date,
    end: dt.date,
    *,
    by: tuple[str, ...] = (),
    grain: Grain | None = None,
) -> Rows:
    """The KPI rows keyed by (kpi, period start, *dimension values)."""
    query = KpiQuery(kpis=kpis, start=start, end=end, by=by, grain=grain)
    rows = run_kpis(reader, query, load_catalog(measures=set(MEASURES))).rows
    out = {(r["kpi"], r["period_start"], *(r[d] for d in by)): r for r in rows}
    assert len(out) == len(rows)
    return out


# -- ad platform rows ---------------------------------------------------------------------
ADS = (
    # two ad groups of one campaign on one day: two rows (ad_group is part of the key)
    ad_spend("paid_search", "2024-01-05", 100.0, campaign="brand", ad_group="ag1",
             impressions=10000, clicks=250, conversions=5.0, platform="google_ads"),
    ad_spend("paid_search", "2024-01-05", 50.0, campaign="brand", ad_group="ag2",
             impressions=5000, clicks=50, conversions=0.0, platform="google_ads"),
    # 30 EUR at 1.25 = 37.5 USD; no clicks and no conversions: CPC and cost per conversion
    # of this campaign are undefined (null), not 0
    ad_spend("paid_search", "2024-01-06", 30.0, currency="EUR", campaign="generic",
             impressions=2000, clicks=0, conversions=0.0, platform="google_ads"),
    ad_spend("paid_social", "2024-01-07", 60.0, campaign="retarget", ad="video1",
             impressions=20000, clicks=100, conversions=3.0, platform="meta_ads"),
    # an agency fee on the channel: spend, but no count stands against it
    ad_spend("paid_social", "2024-01-08", 40.0, campaign="retarget"),
    # sales cost is no marketing spend and has no ad counts
    ad_spend("sales", "2024-01-10", 500.0, impressions=999, clicks=99),
)  # fmt: skip
AD_KPIS = (
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "cpm",
    "platform_conversions",
    "cost_per_platform_conversion",
    "spend",
)
JAN = D(2024, 1, 1)


@pytest.fixture(scope="module")
def ads(on_engine: OnEngine) -> Any:
    wh = Warehouse.open(":memory:", create=True)
    load_rows(wh, {"fx_rates": [{"date": D(2024, 1, 1), "currency": "EUR", "rate": 1.25}]})
    load_events(wh, *ADS)
    yield on_engine(wh)
    wh.close()


def test_ad_kpis_by_channel(ads: Reader) -> None:
    got = run(ads, AD_KPIS, JAN, D(2024, 1, 31), by=("channel",))
    search_cost = 100.0 + 50.0 + 37.5  # every paid_search row reports clicks and impressions
    want = {
        "paid_search": {
            "impressions": 17000.0,
            "clicks": 300.0,
            "ctr": 300 / 17000,
            "cpc": search_cost / 300,  # 0.625
            "cpm": search_cost / 17000 * 1000,
            "platform_conversions": 5.0,
            "cost_per_platform_conversion": search_cost / 5,  # 37.5
            "spend": search_cost,
        },
        "paid_social": {
            "impressions": 20000.0,
            "clicks": 100.0,
            "ctr": 100 / 20000,
            "cpc": 60.0 / 100,  # the fee reports no clicks: not in the cost per click
            "cpm": 60.0 / 20000 * 1000,
            "platform_conversions": 3.0,
            "cost_per_platform_conversion": 60.0 / 3,
            "spend": 100.0,  # the fee is spend all the same
        },
    }
    for channel, kpis in want.items():
        for kpi, value in kpis.items():
            assert got[(kpi, JAN, channel)]["value"] == value, (kpi, channel)
    assert got[("cpc", JAN, "paid_search")]["value"] == 0.625
    assert not any(key[2] == "sales" for key in got)  # no marketing row for sales cost
    assert "sources" not in got[("ctr", JAN, "paid_search")]  # one source only: no field


def test_ad_kpis_by_campaign(ads: Reader) -> None:
    got = run(ads, AD_KPIS, JAN, D(2024, 1, 31), by=("campaign",))
    assert got[("ctr", JAN, "brand")]["value"] == 300 / 15000
    assert got[("cpc", JAN, "brand")]["value"] == 150.0 / 300  # 0.5
    assert got[("cpm", JAN, "brand")]["value"] == 150.0 / 15000 * 1000  # 10
    assert got[("cost_per_platform_conversion", JAN, "brand")]["value"] == 150.0 / 5
    assert got[("ctr", JAN, "generic")]["value"] == 0.0
    assert got[("cpc", JAN, "generic")]["value"] is None  # 37.5 / 0 clicks
    assert got[("cpm", JAN, "generic")]["value"] == 37.5 / 2000 * 1000  # 18.75
    assert got[("cost_per_platform_conversion", JAN, "generic")]["value"] is None
    assert got[("cpc", JAN, "retarget")]["value"] == 0.6
    assert got[("cpc", JAN, "brand")]["numerator"] == 150.0
    assert got[("cpc", JAN, "brand")]["denominator"] == 300.0


def test_ad_kpis_whole_range(ads: Reader) -> None:
    got = run(ads, AD_KPIS, JAN, D(2024, 1, 31))
    cost = 100.0 + 50.0 + 37.5 + 60.0
    assert got[("impressions", JAN)]["value"] == 37000.0
    assert got[("clicks", JAN)]["value"] == 400.0
    assert got[("ctr", JAN)]["value"] == 400 / 37000
    assert got[("cpc", JAN)]["value"] == cost / 400
    assert got[("cpm", JAN)]["value"] == cost / 37000 * 1000
    assert got[("cost_per_platform_conversion", JAN)]["value"] == cost / 8
    assert got[("spend", JAN)]["value"] == cost + 40.0


# -- web traffic: touchpoint sessions and web_traffic, never both for one day ---------------
FEB1, FEB2, FEB3 = D(2024, 2, 1), D(2024, 2, 2), D(2024, 2, 3)
WEB_PEOPLE = {
    # 1 Feb has no web_traffic rows: its touchpoint sessions count
    "alice": [
        session("paid_search", "2024-02-01T10:00:00", pageviews=3, engaged_seconds=30.0,
                is_bounce=False, landing_page="/pricing"),
        stage("lead", "2024-02-01T10:05:00"),
    ],
    "bob": [
        session("organic_search", "2024-02-01T11:00:00", pageviews=1, engaged_seconds=2.0,
                is_bounce=True, landing_page="/blog"),
        stage("lead", "2024-02-01T11:30:00"),
    ],
    # 2 Feb has web_traffic rows: dave's session is not counted again (the aggregate holds
    # it), but it is still his first touch, so his lead is a /pricing lead
    "dave": [
        session("paid_search", "2024-02-02T09:00:00", pageviews=5, engaged_seconds=60.0,
                is_bounce=False, landing_page="/pricing"),
        stage("lead", "2024-02-02T09:10:00"),
    ],
}  # fmt: skip
ANONYMOUS_SESSION = {  # engaged by its two pageviews, not by time
    "touchpoint_id": "anon-1",
    "anonymous_id": "v9",
    "ts": dt.datetime(2024, 2, 1, 12),
    "channel": "organic_search",
    "touch_type": "session",
    "pageviews": 2,
    "is_bounce": False,
    "landing_page": "/blog",
}
WEB_TRAFFIC = (
    # a GA4 row: 31,264 sessions, not one
    traffic("organic_search", "2024-02-02", 31264, engaged_sessions=20000, bounces=11264,
            pageviews=72845, new_users=9000, landing_page="/blog", platform="ga4"),
    traffic("paid_search", "2024-02-02", 100, engaged_sessions=60, bounces=40, pageviews=250,
            new_users=30, landing_page="/pricing", source="google", medium="cpc"),
    # no bounces given: sessions - engaged sessions (GA4: a bounce is a session not engaged);
    # no new users given: none
    traffic("email", "2024-02-03", 50, engaged_sessions=10, pageviews=80,
            landing_page="/newsletter"),
)  # fmt: skip
WEB_KPIS = (
    "sessions",
    "bounce_rate",
    "pages_per_session",
    "engaged_sessions",
    "engagement_rate",
    "new_visitors",
)


@pytest.fixture(scope="module")
def web(on_engine: OnEngine) -> Any:
    wh = Warehouse.open(":memory:", create=True)
    journeys_for(wh, WEB_PEOPLE)
    load_rows(wh, {"touchpoints": [ANONYMOUS_SESSION]})
    load_events(wh, *WEB_TRAFFIC)
    yield on_engine(wh)
    wh.close()


def test_web_kpis_from_events_alone(web: Reader) -> None:
    got = run(web, WEB_KPIS, FEB1, FEB1)
    # alice (engaged: 30 s), bob (bounced, 2 s and 1 page), the anonymous v9 (2 pages)
    assert got[("sessions", FEB1)]["value"] == 3.0
    assert got[("bounce_rate", FEB1)]["value"] == 1 / 3
    assert got[("pages_per_session", FEB1)]["value"] == (3 + 1 + 2) / 3
    assert got[("engaged_sessions", FEB1)]["value"] == 2.0
    assert got[("engagement_rate", FEB1)]["value"] == 2 / 3
    assert got[("new_visitors", FEB1)]["value"] == 3.0
    for kpi in WEB_KPIS:
        assert got[(kpi, FEB1)]["sources"] == ["touchpoints"], kpi


def test_web_kpis_from_aggregates_alone(web: Reader) -> None:
    got = run(web, WEB_KPIS, FEB3, FEB3)
    assert got[("sessions", FEB3)]["value"] == 50.0
    assert got[("bounce_rate", FEB3)]["value"] == (50 - 10) / 50
    assert got[("pages_per_session", FEB3)]["value"] == 80 / 50
    assert got[("engaged_sessions", FEB3)]["value"] == 10.0
    assert got[("engagement_rate", FEB3)]["value"] == 10 / 50
    assert got[("new_visitors", FEB3)]["value"] == 0.0
    for kpi in WEB_KPIS:
        assert got[(kpi, FEB3)]["sources"] == ["web_traffic"], kpi


def test_a_day_with_both_is_counted_once_from_the_aggregate(web: Reader) -> None:
    got = run(web, WEB_KPIS, FEB2, FEB2)
    sessions = 31264 + 100  # dave's session of that day is not added
    assert got[("sessions", FEB2)]["value"] == sessions
    assert got[("bounce_rate", FEB2)]["value"] == (11264 + 40) / sessions
    assert got[("pages_per_session", FEB2)]["value"] == (72845 + 250) / sessions
    assert got[("engaged_sessions", FEB2)]["value"] == 20000 + 60
    assert got[("engagement_rate", FEB2)]["value"] == (20000 + 60) / sessions
    assert got[("new_visitors", FEB2)]["value"] == 9000 + 30  # dave's first session: not added
    for kpi in WEB_KPIS:
        assert got[(kpi, FEB2)]["sources"] == ["web_traffic"], kpi


def test_web_kpis_over_a_mix_of_days(web: Reader) -> None:
    by_day = run(web, WEB_KPIS, FEB1, FEB3, grain=Grain.day)
    assert [by_day[("sessions", d)]["value"] for d in (FEB1, FEB2, FEB3)] == [3, 31364, 50]
    got = run(web, WEB_KPIS, FEB1, FEB3)
    sessions = 3 + 31364 + 50
    assert got[("sessions", FEB1)]["value"] == sessions
    assert got[("bounce_rate", FEB1)]["value"] == (1 + 11304 + 40) / sessions
    assert got[("pages_per_session", FEB1)]["value"] == (6 + 73095 + 80) / sessions
    assert got[("engagement_rate", FEB1)]["value"] == (2 + 20060 + 10) / sessions
    assert got[("new_visitors", FEB1)]["value"] == 3 + 9030 + 0
    assert got[("sessions", FEB1)]["sources"] == ["web_traffic", "touchpoints"]


def test_web_kpis_by_channel_mix_the_sources_per_day(web: Reader) -> None:
    got = run(web, ("sessions", "pages_per_session"), FEB1, FEB3, by=("channel",))
    assert got[("sessions", FEB1, "paid_search")]["value"] == 1 + 100  # alice + 2 Feb's row
    assert got[("sessions", FEB1, "organic_search")]["value"] == 2 + 31264
    assert got[("sessions", FEB1, "email")]["value"] == 50
    assert got[("pages_per_session", FEB1, "paid_search")]["value"] == (3 + 250) / 101
    assert got[("sessions", FEB1, "email")]["sources"] == ["web_traffic"]
    assert got[("sessions", FEB1, "paid_search")]["sources"] == ["web_traffic", "touchpoints"]


def test_a_ga4_row_of_31264_sessions_counts_31264(on_engine: OnEngine) -> None:
    wh = Warehouse.open(":memory:", create=True)
    load_events(
        wh,
        traffic("organic_search", "2026-03-01", 31264, pageviews=72845, engaged_sessions=20000),
    )
    got = run(on_engine(wh), ("sessions", "pages_per_session"), D(2026, 3, 1), D(2026, 3, 31))
    assert got[("sessions", D(2026, 3, 1))]["value"] == 31264.0
    assert got[("pages_per_session", D(2026, 3, 1))]["value"] == 72845 / 31264
    wh.close()


def test_visit_to_lead_by_landing_page(web: Reader) -> None:
    """Seed 002 (5) by landing page: leads by their first touch's landing page, sessions by
    theirs (web_traffic rows on 2 and 3 Feb, touchpoint sessions on 1 Feb)."""
    got = run(web, ("visit_to_lead", "leads", "sessions"), FEB1, FEB3, by=("landing_page",))
    # /pricing: alice's session + 2 Feb's 100; leads alice and dave
    assert got[("visit_to_lead", FEB1, "/pricing")]["value"] == 2 / 101
    # /blog: bob's and v9's sessions + 2 Feb's 31,264; lead bob
    assert got[("visit_to_lead", FEB1, "/blog")]["value"] == 1 / 31266
    assert got[("visit_to_lead", FEB1, "/newsletter")]["value"] == 0 / 50
    assert got[("leads", FEB1, "/pricing")]["value"] == 2.0
    assert got[("visit_to_lead", FEB1, "/pricing")]["sources"] == ["web_traffic", "touchpoints"]
    assert got[("visit_to_lead", FEB1, "/newsletter")]["sources"] == ["web_traffic"]


# -- email: email_campaigns rows for their campaigns, events for the others ----------------
MAR = D(2024, 3, 1)
EMAIL_PEOPLE = {
    "alice": [
        email("delivered", "promo", "2024-03-10T09:00:00"),
        email("open", "promo", "2024-03-10T10:00:00"),
        email("open", "promo", "2024-03-11T10:00:00"),  # not a second unique open
        email("click", "promo", "2024-03-11T10:01:00"),
        # events of an aggregated campaign: its row counts, these do not
        email("delivered", "news", "2024-03-05T10:00:00"),
        email("open", "news", "2024-03-05T11:00:00"),
        email("click", "news", "2024-03-05T11:01:00"),
        email("forward", "news", "2024-03-05T11:02:00"),
    ],
    "bob": [
        email("delivered", "promo", "2024-03-10T09:00:00"),
        email("open", "promo", "2024-03-12T08:00:00"),
        email("forward", "promo", "2024-03-12T08:05:00"),
    ],
    "carol": [
        email("delivered", "promo", "2024-03-10T09:00:00"),
        email("unsubscribe", "promo", "2024-03-10T12:00:00"),
    ],
}
CAMPAIGNS = (
    email_campaign("news", "2024-03-05T10:00:00", 1000, delivered=980, unique_opens=245,
                   total_opens=400, unique_clicks=49, total_clicks=70, forwards=3,
                   unsubscribes=2, soft_bounces=12, hard_bounces=8, platform="mailchimp"),
    # no delivered count: recipients - soft - hard bounces = 200 - 5 - 3 = 192
    email_campaign("offer", "2024-03-20T10:00:00", 200, soft_bounces=5, hard_bounces=3,
                   unique_opens=40, unique_clicks=8, unsubscribes=1),
)  # fmt: skip
EMAIL_KPIS = (
    "email_open_rate",
    "email_click_rate",
    "email_click_to_open",
    "email_forwards",
    "unsubscribe_rate",
)


@pytest.fixture(scope="module")
def mail(on_engine: OnEngine) -> Any:
    wh = Warehouse.open(":memory:", create=True)
    journeys_for(wh, EMAIL_PEOPLE)
    load_events(wh, *CAMPAIGNS)
    yield on_engine(wh)
    wh.close()


def test_email_rates_by_campaign(mail: Reader) -> None:
    got = run(mail, EMAIL_KPIS, MAR, D(2024, 3, 31), by=("campaign",))
    assert got[("email_open_rate", MAR, "news")]["value"] == 245 / 980
    assert got[("email_click_rate", MAR, "news")]["value"] == 49 / 980
    assert got[("email_click_to_open", MAR, "news")]["value"] == 49 / 245
    assert got[("email_forwards", MAR, "news")]["value"] == 3.0  # not 3 + alice's forward
    assert got[("unsubscribe_rate", MAR, "news")]["value"] == 2 / 980
    assert got[("email_open_rate", MAR, "offer")]["value"] == 40 / 192
    assert got[("unsubscribe_rate", MAR, "offer")]["value"] == 1 / 192
    # promo from its events: 3 delivered, unique opens alice and bob, a click by alice
    assert got[("email_open_rate", MAR, "promo")]["value"] == 2 / 3
    assert got[("email_click_rate", MAR, "promo")]["value"] == 1 / 3
    assert got[("email_click_to_open", MAR, "promo")]["value"] == 1 / 2
    assert got[("email_forwards", MAR, "promo")]["value"] == 1.0
    assert got[("unsubscribe_rate", MAR, "promo")]["value"] == 1 / 3
    for kpi in EMAIL_KPIS:
        assert got[(kpi, MAR, "news")]["sources"] == ["email_campaigns"], kpi
        assert got[(kpi, MAR, "promo")]["sources"] == ["email_events"], kpi


def test_email_rates_over_an_aggregate_and_an_event_campaign(mail: Reader) -> None:
    got = run(mail, EMAIL_KPIS, MAR, D(2024, 3, 31))
    delivered = 980 + 192 + 3
    assert got[("email_open_rate", MAR)]["value"] == (245 + 40 + 2) / delivered
    assert got[("email_click_rate", MAR)]["value"] == (49 + 8 + 1) / delivered
    assert got[("email_click_to_open", MAR)]["value"] == (49 + 8 + 1) / (245 + 40 + 2)
    assert got[("email_forwards", MAR)]["value"] == 3 + 1
    assert got[("unsubscribe_rate", MAR)]["value"] == (2 + 1 + 1) / delivered
    assert got[("email_open_rate", MAR)]["sources"] == ["email_campaigns", "email_events"]


def test_an_aggregate_campaign_counts_on_its_send_date(mail: Reader) -> None:
    got = run(mail, ("email_open_rate",), MAR, D(2024, 3, 31), grain=Grain.day)
    assert got[("email_open_rate", D(2024, 3, 20))]["value"] == 40 / 192
    assert got[("email_open_rate", D(2024, 3, 20))]["sources"] == ["email_campaigns"]
    assert got[("email_open_rate", D(2024, 3, 1))]["value"] is None
    assert got[("email_open_rate", D(2024, 3, 1))]["sources"] == []


# -- subscriptions by the acquisition channel of their contact -----------------------------
SUB_PEOPLE = {
    # first touch paid_search, long before the subscription (not within any lookback): the
    # acquisition channel is the first touch's, whenever it was
    "alice": [
        touch("paid_search", "2023-06-01"),
        touch("organic_search", "2023-12-01"),
    ],
    "bob": [touch("organic_search", "2023-11-01")],
    "erin": [touch("paid_search", "2023-10-01")],
}
SUBSCRIPTIONS = (
    # linked to alice through the e-mail hash only
    subscription("cus_A", "2024-01-01", 100.0, email_hash=email_hash(" Alice@Example.com")),
    subscription("cus_A", "2024-02-01", 100.0, email_hash=email_hash("alice@example.com")),
    subscription("cus_A", "2024-03-01", 100.0, email_hash=email_hash("alice@example.com")),
    # linked to bob directly; gone in March
    subscription("cus_B", "2024-01-01", 50.0, contact_id="bob"),
    subscription("cus_B", "2024-02-01", 80.0, contact_id="bob"),
    # erin's: January only
    subscription("cus_E", "2024-01-01", 30.0, contact_id="erin"),
    # linked to nobody: the channel is unknown
    subscription("cus_X", "2024-01-01", 20.0),
    subscription("cus_X", "2024-02-01", 20.0),
    subscription("cus_X", "2024-03-01", 20.0),
)
SUB_KPIS = ("mrr", "retention_rate", "churn_rate", "mrr_churn", "mrr_expansion")


@pytest.fixture(scope="module")
def subs(on_engine: OnEngine) -> Any:
    wh = Warehouse.open(":memory:", create=True)
    journeys_for(wh, SUB_PEOPLE)
    contact_attributes(
        wh,
        {
            "alice": {"email_hash": email_hash("alice@example.com")},
            "bob": {"email_hash": email_hash("bob@example.com")},
        },
    )
    load_events(wh, *SUBSCRIPTIONS)
    yield on_engine(wh)
    wh.close()


def test_mrr_retention_and_churn_by_acquisition_channel(subs: Reader) -> None:
    feb = D(2024, 2, 1)
    got = run(subs, SUB_KPIS, feb, D(2024, 3, 31), by=("channel",), grain=Grain.month)
    # February: active alice (100, paid), bob (80, organic), X (20, none); erin churned
    assert got[("mrr", feb, "paid_search")]["value"] == 100.0
    assert got[("mrr", feb, "organic_search")]["value"] == 80.0
    assert got[("mrr", feb, None)]["value"] == 20.0
    # of January's paid_search customers (A, E) only A is active in February
    assert got[("retention_rate", feb, "paid_search")]["value"] == 1 / 2
    assert got[("churn_rate", feb, "paid_search")]["value"] == 1 - 1 / 2
    assert got[("retention_rate", feb, "organic_search")]["value"] == 1.0
    assert got[("mrr_churn", feb, "paid_search")]["value"] == 30.0  # erin's last MRR
    assert got[("mrr_expansion", feb, "organic_search")]["value"] == 80.0 - 50.0
    # March: bob is gone
    assert got[("mrr", MAR, "paid_search")]["value"] == 100.0
    assert got[("mrr", MAR, "organic_search")]["value"] == 0.0
    assert got[("retention_rate", MAR, "organic_search")]["value"] == 0.0
    assert got[("churn_rate", MAR, "organic_search")]["value"] == 1.0
    assert got[("retention_rate", MAR, "paid_search")]["value"] == 1.0
    assert got[("retention_rate", MAR, None)]["value"] == 1.0
    assert got[("mrr_churn", MAR, "organic_search")]["value"] == 80.0


def test_mrr_by_channel_adds_up_to_the_total(subs: Reader) -> None:
    feb = D(2024, 2, 1)
    total = run(subs, ("mrr",), feb, D(2024, 2, 29))
    split = run(subs, ("mrr",), feb, D(2024, 2, 29), by=("channel",))
    assert total[("mrr", feb)]["value"] == 200.0
    assert sum(r["value"] for r in split.values()) == 200.0
