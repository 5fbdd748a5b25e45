"""The canonical tables of DATA_MODEL.md: columns, types, keys and row rules, as data.

Everything downstream (imports, KPIs, funnels, attribution) reads this one description, so a
table or column is added here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["string", "timestamp", "date", "number", "integer", "boolean"]

SQL_TYPES: dict[ColumnType, str] = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
}

TOUCH_TYPES = ("session", "ad_click", "email_click", "event", "call", "chat", "form", "offline")
EMAIL_EVENTS = (
    "sent",
    "delivered",
    "open",
    "click",
    "forward",
    "bounce",
    "subscribe",
    "unsubscribe",
)
ACTIVITY_TYPES = ("call", "email", "meeting", "status_change")
DEFAULT_STAGES = ("lead", "mql", "sql", "opportunity", "customer")
# A marker meaning "the configured lifecycle stages": the allowed values are a setting.
LIFECYCLE_STAGES = ("<lifecycle stages>",)


@dataclass(frozen=True)
class Column:
    """One canonical column: its type, whether a row needs it, and the values it may take."""

    name: str
    type: ColumnType
    required: bool = False
    allowed: tuple[str, ...] | None = None
    non_negative: bool = False
    description: str = ""


@dataclass(frozen=True)
class OrderRule:
    """`later` may be empty but, when present, must not come before `earlier`."""

    earlier: str
    later: str


@dataclass(frozen=True)
class Table:
    """A canonical table: its key (upserts match on it) and its columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str
    order_rules: tuple[OrderRule, ...] = ()
    hashed_key: bool = False  # the key column may be derived as a stable hash of the row
    money_date: str | None = None  # the column that dates the money (for the FX rate check)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def has_currency(self) -> bool:
        return "currency" in self.column_names


def _c(name: str, type_: ColumnType = "string", **kw: object) -> Column:
    return Column(name, type_, **kw)  # type: ignore[arg-type]


TABLES: tuple[Table, ...] = (
    Table(
        "contacts",
        ("contact_id",),
        (
            _c("contact_id", required=True),
            _c("created_at", "timestamp", required=True),
            _c("account_id"),
            _c("email_hash"),
            _c("segment"),
            _c("country"),
            _c("owner"),
            _c("lead_source"),
        ),
        "A person (lead); account_id groups the contacts of one company.",
    ),
    Table(
        "touchpoints",
        ("touchpoint_id",),
        (
            _c("touchpoint_id", required=True),
            _c("ts", "timestamp", required=True),
            _c("contact_id"),
            _c("anonymous_id"),
            _c("channel", required=True),
            _c("source"),
            _c("medium"),
            _c("campaign"),
            _c("ad"),
            _c("landing_page"),
            _c("session_id"),
            _c("touch_type", allowed=TOUCH_TYPES),
            _c("is_bounce", "boolean"),
            _c("pageviews", "integer", non_negative=True),
            _c("engaged_seconds", "number", non_negative=True),
        ),
        "One marketing interaction; a web session is a touchpoint with touch_type=session.",
        hashed_key=True,
    ),
    Table(
        "identities",
        ("anonymous_id", "contact_id"),
        (
            _c("anonymous_id", required=True),
            _c("contact_id", required=True),
            _c("first_seen_at", "timestamp"),
        ),
        "Stitches anonymous visitors to contacts.",
    ),
    Table(
        "stage_events",
        ("contact_id", "stage", "ts"),
        (
            _c("contact_id", required=True),
            _c("stage", required=True, allowed=LIFECYCLE_STAGES),
            _c("ts", "timestamp", required=True),
            _c("source"),
        ),
        "Lifecycle stage reached by a contact; stages may be skipped or repeated.",
    ),
    Table(
        "opportunities",
        ("opportunity_id",),
        (
            _c("opportunity_id", required=True),
            _c("created_at", "timestamp", required=True),
            _c("contact_id"),
            _c("account_id"),
            # empty = an unknown amount (a CRM deal nobody priced): the deal counts in deal
            # counts and win rate, not in revenue or pipeline value; imports warn about it
            _c("amount", "number", non_negative=True),
            _c("currency"),
            _c("stage", required=True),
            _c("closed_at", "timestamp"),
            _c("is_won", "boolean"),
            _c("owner"),
            _c("product"),
        ),
        "A deal; open while closed_at is empty. An empty amount is an unknown amount: the "
        "deal counts in deal counts and win rate, not in revenue or pipeline value.",
        order_rules=(OrderRule("created_at", "closed_at"),),
        money_date="created_at",
    ),
    Table(
        "opportunity_contacts",
        ("opportunity_id", "contact_id"),
        (
            _c("opportunity_id", required=True),
            _c("contact_id", required=True),
            _c("is_primary", "boolean"),
        ),
        "Every contact associated with a deal (opportunities.contact_id is the one credited).",
    ),
    Table(
        "opportunity_stage_events",
        ("opportunity_id", "stage", "ts"),
        (
            _c("opportunity_id", required=True),
            _c("stage", required=True),
            _c("ts", "timestamp", required=True),
        ),
        "Deal stages reached, e.g. discovery, proposal, negotiation, won, lost.",
    ),
    Table(
        "sales_activities",
        ("activity_id",),
        (
            _c("activity_id", required=True),
            _c("contact_id", required=True),
            _c("ts", "timestamp", required=True),
            _c("activity_type", required=True, allowed=ACTIVITY_TYPES),
            _c("owner"),
            _c("outcome"),
        ),
        "Sales follow-up of leads (MQL acceptance, SLA).",
    ),
    Table(
        "web_traffic",
        ("date", "channel", "source", "medium", "campaign", "landing_page"),
        (
            _c("date", "date", required=True),
            _c("channel", required=True),
            _c("source"),
            _c("medium"),
            _c("campaign"),
            _c("landing_page"),
            _c("sessions", "integer", required=True, non_negative=True),
            _c("engaged_sessions", "integer", non_negative=True),
            _c("bounces", "integer", non_negative=True),
            _c("pageviews", "integer", non_negative=True),
            _c("new_users", "integer", non_negative=True),
            _c("conversions", "number", non_negative=True),
            _c("platform"),
        ),
        "Aggregated web analytics per day (e.g. GA4): a day with any row here is counted from "
        "here only, never also from touchpoint sessions.",
    ),
    Table(
        "spend",
        ("date", "channel", "source", "campaign", "ad_group", "ad"),
        (
            _c("date", "date", required=True),
            _c("channel", required=True),
            _c("campaign"),
            _c("ad"),
            _c("cost", "number", required=True, non_negative=True),
            _c("currency"),
            _c("source"),
            _c("impressions", "integer", non_negative=True),
            _c("clicks", "integer", non_negative=True),
            # schema version 4 (appended, so migrated and new warehouses agree on the order)
            _c("ad_group"),
            _c("conversions", "number", non_negative=True),
            _c("platform"),
        ),
        "Marketing cost, daily or coarser, with the ad platform's impressions, clicks and "
        "conversions (by campaign, ad group or ad set, and ad where given).",
        money_date="date",
    ),
    Table(
        "email_events",
        ("ts", "campaign", "contact_id", "event"),
        (
            _c("ts", "timestamp", required=True),
            _c("campaign", required=True),
            _c("contact_id", required=True),
            _c("event", required=True, allowed=EMAIL_EVENTS),
        ),
        "Email sends, deliveries, opens, clicks, forwards, bounces and (un)subscribes.",
    ),
    Table(
        "email_campaigns",
        ("campaign",),
        (
            _c("campaign", required=True),
            _c("sent_at", "timestamp", required=True),
            _c("recipients", "integer", required=True, non_negative=True),
            _c("delivered", "integer", non_negative=True),
            _c("soft_bounces", "integer", non_negative=True),
            _c("hard_bounces", "integer", non_negative=True),
            _c("unique_opens", "integer", non_negative=True),
            _c("total_opens", "integer", non_negative=True),
            _c("unique_clicks", "integer", non_negative=True),
            _c("total_clicks", "integer", non_negative=True),
            _c("forwards", "integer", non_negative=True),
            _c("unsubscribes", "integer", non_negative=True),
            _c("complaints", "integer", non_negative=True),
            _c("list"),
            _c("platform"),
        ),
        "Aggregated statistics of one email campaign (e.g. Mailchimp): the email KPIs read "
        "a campaign found here from this row only, never also from email_events.",
    ),
    Table(
        "audience_snapshots",
        ("date", "audience"),
        (
            _c("date", "date", required=True),
            _c("audience", required=True),
            _c("size", "integer", required=True, non_negative=True),
            _c("channel"),
        ),
        "Audience sizes (email list, social followers, blog subscribers) for reach.",
    ),
    Table(
        "social_posts",
        ("post_id",),
        (
            _c("post_id", required=True),
            _c("published_at", "timestamp", required=True),
            _c("channel", required=True),
            _c("likes", "integer", required=True, non_negative=True),
            _c("comments", "integer", required=True, non_negative=True),
            _c("shares", "integer", required=True, non_negative=True),
            _c("clicks", "integer", non_negative=True),
        ),
        "Social posts and their engagement.",
    ),
    Table(
        "meetings",
        ("meeting_id",),
        (
            _c("meeting_id", required=True),
            _c("contact_id", required=True),
            _c("booked_at", "timestamp", required=True),
            _c("scheduled_for", "timestamp", required=True),
            _c("attended", "boolean"),
            _c("owner"),
        ),
        "Meetings booked and attended.",
    ),
    Table(
        "inbound_requests",
        ("request_id",),
        (
            _c("request_id", required=True),
            _c("contact_id"),
            _c("received_at", "timestamp", required=True),
            _c("first_response_at", "timestamp"),
            _c("channel"),
            _c("outcome"),
        ),
        "Inbound requests: response time, SLA and outcome.",
        order_rules=(OrderRule("received_at", "first_response_at"),),
    ),
    Table(
        "subscriptions",
        ("customer_id", "month"),
        (
            _c("customer_id", required=True),
            _c("month", "date", required=True),
            _c("mrr", "number", required=True, non_negative=True),
            _c("currency"),
            _c("contact_id"),
            _c("email_hash"),
        ),
        "Monthly recurring revenue per customer (account or contact); contact_id, else the "
        "contact with this email_hash, links it to a contact (MRR by acquisition channel).",
        money_date="month",
    ),
    Table(
        "targets",
        ("kpi", "period_start", "period_end", "dimension", "dimension_value"),
        (
            _c("kpi", required=True),
            _c("period_start", "date", required=True),
            _c("period_end", "date", required=True),
            _c("dimension"),
            _c("dimension_value"),
            _c("target", "number", required=True),
        ),
        "Goals per KPI per period, optionally for one dimension value.",
        order_rules=(OrderRule("period_start", "period_end"),),
    ),
    Table(
        "fx_rates",
        ("date", "currency"),
        (
            _c("date", "date", required=True),
            _c("currency", required=True),
            _c("rate", "number", required=True, non_negative=True),
        ),
        "Units of reporting currency per 1 unit of `currency`, by date.",
    ),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """The canonical table called `name`; raises UnknownName with suggestions otherwise."""
    from revlens.errors import UnknownName

    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise UnknownName("table", name, list(TABLES_BY_NAME)) from None
