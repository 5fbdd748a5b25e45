"""The true parameters of the demo simulation (`revlens demo`), as frozen data.

`revlens.demo.generate` draws every row from these numbers, so an analysis of the demo data
should recover them: tests compare measured rates with the values here, and docs/demo.md
lists them. Rates are probabilities per unit named in each docstring; lags are means in days.

Definitions the generator follows exactly:

- A contact's *origin channel* is its `lead_source` and the channel of its first touch.
  The origin channel alone sets the contact's funnel probabilities (`Channel.lead_to_mql`
  ... `Channel.win_rate`) and stage lags; the segment sets deal size and sales-cycle length.
- `Channel.visit_to_lead`: leads whose lead_source is the channel / web sessions
  (touch_type = session) of the channel. Anonymous never-converting sessions are added,
  month by month, until the ratio holds: over the window it is exact up to rounding (not
  only in expectation); per month it holds approximately.
- `Channel.lead_to_mql` is the probability that a lead *becomes* marketing-qualified, whether
  or not the CRM records the mql event: `SKIP_MQL` of the contacts that reach SQL have no mql
  event (they jump lead -> sql). Measure it as "reached mql or any later stage" / leads.
- Stage lags are gamma distributed (shape `LAG_SHAPE`) with the listed mean; the
  opportunity-to-close lag is multiplied by the segment's `cycle_multiplier`. Won and lost
  deals share the lag distribution, so won / (won + lost) among closed deals is unbiased.
- Events that would happen after the window's end are not recorded (open deals, pending
  stages), as in a real export taken on the end date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from math import exp

REPORTING_CURRENCY = "USD"
"""Every money column is in USD unless its currency column says EUR."""

DEFAULT_END = dt.date(2026, 10, 31)
"""Last day of the demo window when no end date is given (fixed, so data is reproducible)."""

DEFAULT_MONTHS = 24
"""Length of the window in calendar months, ending with the month of the end date."""

REFERENCE_CONTACTS = 20_000
REFERENCE_DAYS = 730
"""`Channel.daily_spend` is the mean daily spend when 20,000 contacts are generated over 730
days; spend scales with leads per day, so cost per lead is the same at every size."""


@dataclass(frozen=True)
class StageLags:
    """Mean days between lifecycle stages (gamma distributed, shape `LAG_SHAPE`)."""

    lead_to_mql: float = 6.0
    mql_to_sql: float = 12.0
    sql_to_opportunity: float = 9.0
    opportunity_to_close: float = 45.0  # times the segment's cycle_multiplier


@dataclass(frozen=True)
class Campaign:
    """A paid campaign: its share of the channel's spend (and of its paid sessions), its ads
    (equal shares of the campaign) and the currency it is billed in."""

    name: str
    spend_share: float
    ads: tuple[str, ...]
    currency: str = REPORTING_CURRENCY


@dataclass(frozen=True)
class Channel:
    """One marketing channel and the quality of the leads it brings.

    Attributes:
        name: canonical channel name (touchpoints.channel, contacts.lead_source, spend.channel).
        medium: utm_medium of its touchpoints.
        sources: utm_source values and their weights.
        spend_cadence: "daily" (one spend row per ad per day), "monthly" (one row on the
            1st of each month), "event" (one row per event on its first day) or "none".
        daily_spend: mean USD spend per day at the reference size (see REFERENCE_CONTACTS);
            0 for organic channels, which have no spend rows.
        cpc: mean cost per click (spend.clicks = cost / cpc, with noise); 0 when no clicks.
        ctr: clicks / impressions on the ad platform.
        session_share: share of all web sessions that come from this channel.
        visit_to_lead: leads (by lead_source) / sessions of the channel.
        lead_to_mql, mql_to_sql, sql_to_opportunity: stage conversion probabilities.
        win_rate: probability an opportunity of this origin is won (won / (won + lost)).
        lags: mean days between stages for contacts of this origin.
        deal_size_multiplier: multiplies the segment's deal size (partners bring bigger deals).
        bounce_rate: share of the channel's sessions that bounce (lead-creating ones never do).
        pages_per_session: mean pageviews of a session that does not bounce.
        landing_pages: landing pages of its sessions (uniform).
        campaigns: paid campaigns and their ads (empty for unpaid channels).
        return_weight: weight of the channel among the sessions a known visitor makes before
            and after becoming a lead (other than the first touch).
    """

    name: str
    medium: str
    sources: tuple[tuple[str, float], ...]
    spend_cadence: str
    daily_spend: float
    cpc: float
    ctr: float
    session_share: float
    visit_to_lead: float
    lead_to_mql: float
    mql_to_sql: float
    sql_to_opportunity: float
    win_rate: float
    lags: StageLags
    deal_size_multiplier: float
    bounce_rate: float
    pages_per_session: float
    landing_pages: tuple[str, ...]
    campaigns: tuple[Campaign, ...] = ()
    return_weight: float = 0.0

    @property
    def lead_to_customer(self) -> float:
        """Probability that a lead of this origin is eventually won."""
        return self.lead_to_mql * self.mql_to_sql * self.sql_to_opportunity * self.win_rate

    @property
    def paid(self) -> bool:
        return self.daily_spend > 0


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "paid_search",
        "cpc",
        (("google", 0.85), ("bing", 0.15)),
        "daily",
        daily_spend=700.0,
        cpc=11.0,
        ctr=0.045,
        session_share=0.18,
        visit_to_lead=0.08,
        lead_to_mql=0.30,
        mql_to_sql=0.35,
        sql_to_opportunity=0.55,
        win_rate=0.25,
        lags=StageLags(5, 10, 8, 45),
        deal_size_multiplier=1.0,
        bounce_rate=0.40,
        pages_per_session=3.5,
        landing_pages=("/pricing", "/demo", "/product", "/lp/search"),
        campaigns=(
            Campaign("search-brand", 0.30, ("brand-exact", "brand-phrase")),
            Campaign(
                "search-generic", 0.50, ("generic-crm", "generic-analytics", "generic-attribution")
            ),
            Campaign("search-competitor", 0.20, ("competitor-a", "competitor-b")),
        ),
        return_weight=0.10,
    ),
    Channel(
        "paid_social",
        "paid_social",
        (("linkedin", 0.65), ("facebook", 0.35)),
        "daily",
        daily_spend=240.0,
        cpc=6.0,
        ctr=0.008,
        session_share=0.12,
        visit_to_lead=0.05,
        lead_to_mql=0.18,
        mql_to_sql=0.25,
        sql_to_opportunity=0.45,
        win_rate=0.18,
        lags=StageLags(8, 14, 10, 50),
        deal_size_multiplier=0.9,
        bounce_rate=0.60,
        pages_per_session=2.5,
        landing_pages=("/lp/social", "/ebook", "/webinar"),
        campaigns=(
            Campaign("social-prospecting", 0.50, ("video-1", "carousel-1", "static-1")),
            Campaign("social-retargeting", 0.20, ("retarget-1", "retarget-2")),
            Campaign("social-leadgen", 0.30, ("leadgen-ebook", "leadgen-webinar")),
        ),
        return_weight=0.05,
    ),
    Channel(
        "display",
        "display",
        (("gdn", 0.6), ("programmatic", 0.4)),
        "daily",
        daily_spend=200.0,
        cpc=5.5,
        ctr=0.002,
        session_share=0.10,
        visit_to_lead=0.02,
        lead_to_mql=0.10,
        mql_to_sql=0.20,
        sql_to_opportunity=0.40,
        win_rate=0.15,
        lags=StageLags(10, 16, 12, 55),
        deal_size_multiplier=0.85,
        bounce_rate=0.70,
        pages_per_session=2.0,
        landing_pages=("/lp/display", "/product"),
        campaigns=(
            Campaign("display-prospecting", 0.60, ("banner-300x250", "banner-728x90")),
            Campaign("display-retargeting", 0.25, ("retarget-300x250", "retarget-728x90")),
            Campaign("display-eu", 0.15, ("eu-banner-300x250",), currency="EUR"),
        ),
        return_weight=0.05,
    ),
    Channel(
        "organic_search",
        "organic",
        (("google", 0.9), ("bing", 0.1)),
        "none",
        daily_spend=0.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.25,
        visit_to_lead=0.10,
        lead_to_mql=0.28,
        mql_to_sql=0.35,
        sql_to_opportunity=0.55,
        win_rate=0.28,
        lags=StageLags(6, 12, 9, 45),
        deal_size_multiplier=1.0,
        bounce_rate=0.45,
        pages_per_session=3.0,
        landing_pages=(
            "/blog/funnel-metrics",
            "/blog/attribution-guide",
            "/blog/cac",
            "/",
            "/product",
        ),
        return_weight=0.25,
    ),
    Channel(
        "email",
        "email",
        (("newsletter", 1.0),),
        "monthly",
        daily_spend=60.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.06,
        visit_to_lead=0.12,
        lead_to_mql=0.35,
        mql_to_sql=0.35,
        sql_to_opportunity=0.50,
        win_rate=0.25,
        lags=StageLags(5, 12, 9, 45),
        deal_size_multiplier=1.0,
        bounce_rate=0.35,
        pages_per_session=3.0,
        landing_pages=("/blog/newsletter", "/webinar", "/pricing"),
        campaigns=(Campaign("email-platform", 1.0, ()),),
        return_weight=0.05,
    ),
    Channel(
        "referral",
        "referral",
        (
            ("g2.com", 0.4),
            ("capterra.com", 0.3),
            ("techcrunch.com", 0.15),
            ("producthunt.com", 0.15),
        ),
        "none",
        daily_spend=0.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.06,
        visit_to_lead=0.10,
        lead_to_mql=0.35,
        mql_to_sql=0.45,
        sql_to_opportunity=0.60,
        win_rate=0.35,
        lags=StageLags(4, 10, 7, 40),
        deal_size_multiplier=1.1,
        bounce_rate=0.40,
        pages_per_session=3.5,
        landing_pages=("/", "/reviews", "/pricing"),
        return_weight=0.05,
    ),
    Channel(
        "direct",
        "(none)",
        (("(direct)", 1.0),),
        "none",
        daily_spend=0.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.18,
        visit_to_lead=0.10,
        lead_to_mql=0.30,
        mql_to_sql=0.40,
        sql_to_opportunity=0.55,
        win_rate=0.30,
        lags=StageLags(5, 11, 8, 45),
        deal_size_multiplier=1.0,
        bounce_rate=0.35,
        pages_per_session=4.0,
        landing_pages=("/", "/pricing", "/login"),
        return_weight=0.40,
    ),
    Channel(
        "social",
        "social",
        (("linkedin", 0.5), ("x", 0.25), ("facebook", 0.15), ("instagram", 0.10)),
        "none",
        daily_spend=0.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.05,
        visit_to_lead=0.05,
        lead_to_mql=0.15,
        mql_to_sql=0.25,
        sql_to_opportunity=0.45,
        win_rate=0.20,
        lags=StageLags(8, 14, 10, 50),
        deal_size_multiplier=0.9,
        bounce_rate=0.55,
        pages_per_session=2.5,
        landing_pages=("/blog/funnel-metrics", "/blog/attribution-guide", "/"),
        return_weight=0.05,
    ),
    Channel(
        "events",
        "event",
        (("event", 1.0),),
        "event",
        daily_spend=500.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.01,
        visit_to_lead=0.40,
        lead_to_mql=0.45,
        mql_to_sql=0.40,
        sql_to_opportunity=0.60,
        win_rate=0.30,
        lags=StageLags(10, 14, 10, 60),
        deal_size_multiplier=1.2,
        bounce_rate=0.30,
        pages_per_session=3.0,
        landing_pages=("/events", "/demo"),
    ),
    Channel(
        "partners",
        "partner",
        (("acme-consulting", 0.5), ("northwind-partners", 0.3), ("globex-integrators", 0.2)),
        "monthly",
        daily_spend=220.0,
        cpc=0.0,
        ctr=0.0,
        session_share=0.01,
        visit_to_lead=0.35,
        lead_to_mql=0.55,
        mql_to_sql=0.60,
        sql_to_opportunity=0.70,
        win_rate=0.40,
        lags=StageLags(3, 8, 6, 40),
        deal_size_multiplier=1.3,
        bounce_rate=0.35,
        pages_per_session=3.5,
        landing_pages=("/partners", "/demo"),
        campaigns=(Campaign("partner-program", 1.0, ()),),
    ),
)
CHANNELS_BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}

LEADGEN_SHARE = 0.30
"""Share of paid_social leads created by a native lead-gen form: their only first touch is an
ad_click (campaign social-leadgen) at created_at, with no web session."""

EVENT_MONTHS = (1, 4, 7, 10, 13, 16, 19, 22)
"""Month offsets (from the window's first month) of the trade shows; each starts on the 15th,
lasts 3 days, and gets an equal share of the events channel's leads and spend."""
EVENT_NAMES = ("saastr", "dreamforce", "inbound", "websummit")
EVENT_DAYS = 3
LATER_EVENT_ATTENDANCE = 0.04
"""Probability that a contact attends a later event (an `event` touchpoint)."""


@dataclass(frozen=True)
class Segment:
    """A company size. Contacts of one account share its segment, country and owner.

    Attributes:
        contact_share: share of all contacts in this segment.
        contacts_per_account: mean contacts per account (1 + Poisson).
        deal_median: median deal amount in USD (annual contract value), lognormal.
        deal_sigma: sigma of log(amount).
        cycle_multiplier: multiplies the channel's opportunity-to-close lag.
        monthly_churn: probability a paying customer churns in a given month.
        products: product mix of its deals.
    """

    name: str
    contact_share: float
    contacts_per_account: float
    deal_median: float
    deal_sigma: float
    cycle_multiplier: float
    monthly_churn: float
    products: tuple[tuple[str, float], ...]

    @property
    def deal_mean(self) -> float:
        """Mean deal amount in USD (before the channel multiplier)."""
        return self.deal_median * exp(self.deal_sigma**2 / 2)


SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "smb",
        0.55,
        1.3,
        6_000.0,
        0.5,
        0.6,
        0.030,
        (("starter", 0.6), ("growth", 0.35), ("enterprise_suite", 0.05)),
    ),
    Segment(
        "mid",
        0.30,
        2.5,
        25_000.0,
        0.5,
        1.0,
        0.015,
        (("starter", 0.15), ("growth", 0.65), ("enterprise_suite", 0.20)),
    ),
    Segment(
        "enterprise",
        0.15,
        5.0,
        110_000.0,
        0.6,
        2.0,
        0.008,
        (("growth", 0.30), ("enterprise_suite", 0.70)),
    ),
)
SEGMENTS_BY_NAME: dict[str, Segment] = {s.name: s for s in SEGMENTS}
PRODUCTS: tuple[str, ...] = ("starter", "growth", "enterprise_suite")

OWNERS: tuple[tuple[str, str], ...] = (
    ("alice.moreau", "smb"),
    ("ben.okafor", "smb"),
    ("carla.diaz", "smb"),
    ("deniz.yilmaz", "mid"),
    ("erik.lund", "mid"),
    ("fatima.haddad", "mid"),
    ("grace.chen", "enterprise"),
    ("hugo.weber", "enterprise"),
)
"""Sales reps (contacts.owner) and the segment each covers; an account gets one of them."""

COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 0.45),
    ("GB", 0.10),
    ("DE", 0.10),
    ("FR", 0.07),
    ("CA", 0.06),
    ("NL", 0.05),
    ("ES", 0.04),
    ("AU", 0.05),
    ("IN", 0.04),
    ("BR", 0.04),
)
"""Account countries and their shares."""
EURO_COUNTRIES = ("DE", "FR", "NL", "ES")
EUR_SHARE_IN_EURO_COUNTRIES = 0.8
"""Share of euro-country accounts billed in EUR (their deals and MRR are in EUR)."""

SKIP_MQL = 0.12
"""Share of contacts reaching SQL whose mql event is missing (lead -> sql directly)."""
REPEAT_MQL = 0.05
"""Share of MQLs that do not progress to SQL and are recycled: a second mql event 30-120 days
after the first."""
LAG_SHAPE = 2.0
"""Shape of the gamma distribution of every stage lag."""

LOST_REACHES_PROPOSAL = 0.5
LOST_REACHES_NEGOTIATION = 0.4
"""A won deal passes discovery, proposal, negotiation, won. A lost deal reaches proposal with
probability 0.5 and, from there, negotiation with probability 0.4 before `lost`."""


@dataclass(frozen=True)
class Seasonality:
    """Traffic, leads and paid spend per day are proportional to
    growth(t) * yearly(day of year) * weekly(weekday)."""

    weekly: tuple[float, ...] = (1.12, 1.18, 1.18, 1.12, 1.00, 0.75, 0.65)  # Mon..Sun
    yearly_amplitude: float = 0.15  # yearly(d) = 1 + A * cos(2 pi (d - peak) / 365.25)
    yearly_peak_day: int = 75  # mid-March; the trough is mid-September
    annual_growth: float = 0.30  # linear growth of volume per year over the window
    hourly: tuple[float, ...] = (
        0.2,
        0.15,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.8,
        1.4,
        1.9,
        2.0,
        1.9,
        1.7,
        1.8,
        1.9,
        1.8,
        1.6,
        1.3,
        1.0,
        0.8,
        0.7,
        0.6,
        0.4,
        0.3,
    )  # relative traffic per UTC hour

    @property
    def weekend_ratio(self) -> float:
        """Mean weekend day / mean weekday (Mon-Fri) of traffic and daily spend."""
        return (sum(self.weekly[5:]) / 2) / (sum(self.weekly[:5]) / 5)


SEASONALITY = Seasonality()
SPEND_NOISE_SIGMA = 0.15
"""Daily spend per ad = level * seasonality * lognormal noise (mean 1, this sigma)."""


@dataclass(frozen=True)
class Web:
    """Sessions of known visitors, around the lead-creating one."""

    pre_lead_sessions: float = 1.5  # Poisson mean of anonymous sessions before the lead
    pre_lead_gap_days: float = 5.0  # mean days between them (exponential)
    second_device: float = 0.15  # contacts with a second anonymous_id (device)
    closer_is_origin: float = 0.5  # the lead-creating session is from the origin channel
    post_lead_sessions: float = 2.0  # Poisson mean of sessions after the lead (contact_id set)
    post_lead_gap_days: float = 20.0
    anonymous_sessions_per_visitor: float = 1.6  # never-converting visitors


WEB = Web()


@dataclass(frozen=True)
class Email:
    """Email marketing: a welcome mail and monthly newsletters to opted-in contacts.

    Rates: bounce per sent; open (unique) per delivered; click (unique) per unique open;
    forward per unique open; unsubscribe per delivered (no later mail after it).
    """

    opt_in: float = 0.60
    newsletter_months: float = 3.0  # mean consecutive newsletters received (geometric)
    newsletter_day: int = 10  # sent on the 10th of each month at 14:00 UTC (+ up to 1 h)
    bounce_rate: float = 0.02
    open_rate: float = 0.30
    second_open: float = 0.20  # share of openers who open again (unique opens count once)
    click_to_open: float = 0.25
    forward_rate: float = 0.03
    unsubscribe_rate: float = 0.005

    @property
    def click_rate(self) -> float:
        """Unique clicks / delivered."""
        return self.open_rate * self.click_to_open


EMAIL = Email()


@dataclass(frozen=True)
class Sales:
    """Sales follow-up of MQLs (and of SQLs that skipped MQL), for acceptance and the SLA."""

    acceptance: float = 0.85  # MQLs that get a first sales touch
    fast_share: float = 0.75  # first touches that come quickly ...
    fast_mean_hours: float = 3.0  # ... exponential with this mean
    slow_mean_hours: float = 72.0  # the others: exponential with this mean
    sla_hours: float = 24.0
    follow_ups: float = 1.5  # Poisson mean of further calls/emails/meetings
    follow_up_gap_days: float = 3.0

    @property
    def within_sla(self) -> float:
        """Share of first touches within `sla_hours` of the MQL."""
        fast = 1 - exp(-self.sla_hours / self.fast_mean_hours)
        slow = 1 - exp(-self.sla_hours / self.slow_mean_hours)
        return self.fast_share * fast + (1 - self.fast_share) * slow


SALES = Sales()


@dataclass(frozen=True)
class SalesCost:
    """The sales team's monthly cost: spend rows of the sales-cost channel (revlens'
    `sales_cost`, in `cac_fully_loaded`, never in marketing `spend`), three per month, dated
    the 1st, in USD: salaries and tools of a team sized to the volume, and commission on the
    month's won revenue. Deterministic: no random draw beyond the deals themselves.

    Attributes:
        reps: sales headcount at the reference size (the eight OWNERS); it scales like
            spend, with leads per day, so the cost per lead is the same at every size.
        salary: monthly fully loaded salary per rep.
        tools: monthly sales tools per rep (CRM seat, dialer, data).
        commission: share of the month's won revenue: the amounts of the deals closed won
            in the month, EUR ones at the close date's rate (as the `revenue` KPI counts).
    """

    reps: float = float(len(OWNERS))
    salary: float = 10_000.0
    tools: float = 300.0
    commission: float = 0.10

    def monthly(self, won_revenue: float, scale: float = 1.0) -> dict[str, float]:
        """A month's rows, campaign -> USD rounded to cents, for `won_revenue` USD closed
        won in the month and a team of `reps * scale`."""
        team = self.reps * scale
        return {
            "sales-salaries": round(team * self.salary, 2),
            "sales-tools": round(team * self.tools, 2),
            "sales-commissions": round(won_revenue * self.commission, 2),
        }


SALES_COST = SalesCost()


@dataclass(frozen=True)
class Meetings:
    """Sales meetings booked by SQLs (and by inbound requests whose outcome is a meeting)."""

    booked_by_sql: float = 0.80
    booking_lag_days: float = 1.0
    lead_time_days: float = 4.0  # mean days from booking to the meeting (+ 2 h)
    attendance: float = 0.75  # attended / booked (meetings after the end: attended empty)


MEETINGS = Meetings()


@dataclass(frozen=True)
class Inbound:
    """Inbound requests (demo forms, chats, calls, emails) and how fast they are answered."""

    contact_share: float = 0.25  # contacts whose lead creation is an inbound request
    anonymous_per_contact: float = 0.05  # requests from unknown visitors, per contact
    channels: tuple[tuple[str, float], ...] = (
        ("form", 0.5),
        ("chat", 0.25),
        ("phone", 0.15),
        ("email", 0.10),
    )
    median_response_minutes: float = 4.0  # lognormal
    response_sigma: float = 1.6
    unanswered: float = 0.08
    outcome_rate: float = 0.70  # requests with an outcome (unanswered ones have none)
    outcomes: tuple[tuple[str, float], ...] = (
        ("qualified", 0.55),
        ("meeting", 0.30),
        ("opportunity", 0.15),
    )


INBOUND = Inbound()


@dataclass(frozen=True)
class Subscriptions:
    """Monthly recurring revenue of won deals: MRR = amount / 12 from the close month, in
    the deal's currency; monthly churn from the segment; then these movements."""

    expansion: float = 0.03  # per active month, MRR x U(1.1, 1.3)
    contraction: float = 0.015  # per active month, MRR x U(0.75, 0.9)
    reactivation: float = 0.15  # churned customers that come back ...
    reactivation_gap_months: float = 3.0  # ... after a geometric gap with this mean


SUBSCRIPTIONS = Subscriptions()


@dataclass(frozen=True)
class Audiences:
    """Month-end audience sizes (audience_snapshots), scaled by contacts / 20,000."""

    email_list_start: float = 6_000.0
    social_followers_start: float = 5_000.0
    blog_subscribers_start: float = 2_000.0
    email_list_growth: float = 0.03  # per month
    social_followers_growth: float = 0.04
    blog_subscribers_growth: float = 0.02


AUDIENCES = Audiences()

SOCIAL_NETWORKS: tuple[tuple[str, float, float], ...] = (
    ("linkedin", 3.0, 60.0),
    ("x", 5.0, 15.0),
    ("facebook", 2.0, 25.0),
    ("instagram", 2.0, 40.0),
)
"""(network, posts per week, mean likes per post). Comments ~ 8% and shares ~ 5% of likes,
clicks ~ 60% of likes; engagement grows with annual_growth. social_posts.channel is "social"."""

FX_EUR_START = 1.10
FX_DAILY_VOLATILITY = 0.003
"""EUR rates (USD per EUR): a daily geometric random walk from 1.10, one row per day."""

TARGET_UPLIFT = 1.10
"""Monthly targets are 110% of the expected value of each KPI."""
TARGET_KPIS = ("leads", "mqls", "customers", "revenue", "spend")


def lead_shares() -> dict[str, float]:
    """Share of leads per origin channel: session_share * visit_to_lead, normalised."""
    raw = {c.name: c.session_share * c.visit_to_lead for c in CHANNELS}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def sessions_per_lead() -> float:
    """Web sessions per lead over all channels (1 / the overall visit-to-lead rate)."""
    return 1.0 / sum(c.session_share * c.visit_to_lead for c in CHANNELS)


def true_cpl(channel: str) -> float | None:
    """Expected cost per lead (USD) of a paid channel, from its spend and lead share."""
    c = CHANNELS_BY_NAME[channel]
    if not c.paid:
        return None
    leads_per_day = REFERENCE_CONTACTS / REFERENCE_DAYS * lead_shares()[channel]
    return c.daily_spend / leads_per_day


def true_channel_effects(conversion: str = "lead") -> dict[str, float]:
    """Each channel's true share of the `conversion`s ("lead" or "customer"): the share that
    would be lost if the channel were switched off, in expectation.

    Only the origin channel causes anything: it brings the contact (lead share) and sets the
    contact's funnel (lead -> customer rate). Every other touch (the mixed pre-lead and
    lead-creating sessions, return visits, email clicks, later events) is drawn independently
    of whether the contact converts, so switching its channel off loses nothing. Hence a
    channel's effect on leads is its lead share, and on customers lead share x lead ->
    customer rate, normalised.
    """
    if conversion not in ("lead", "customer"):
        raise ValueError(f"true effects are defined for lead and customer, not {conversion!r}")
    shares = lead_shares()
    raw = {
        c.name: shares[c.name] * (1.0 if conversion == "lead" else c.lead_to_customer)
        for c in CHANNELS
    }
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}
