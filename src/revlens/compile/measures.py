"""The measures KPIs are built from: each one Ibis expression over the canonical tables.

An event measure yields rows (ts, value, contact_id, and the dimensions it carries itself);
the compiler buckets them by period and sums `value` (or counts distinct `entity`). A
snapshot measure is evaluated at each period, and a distribution measure gives median and
mean. Counting rules live here once: first stage dates count a contact once per stage,
unique email opens are per (campaign, contact), money is in the reporting currency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis

from revlens.compile.context import DEAL_DIMS, DIMENSIONS, MARKETING_DIMS, Context, union_all

Style = Literal["event", "snapshot", "distribution"]
NULL_STR = ibis.null().cast("string")


@dataclass(frozen=True)
class Measure:
    """A named building block. `direct` are the dimensions its rows carry themselves; others
    come from the contact (segment, country, owner, account) or its first touch."""

    name: str
    description: str
    tables: tuple[str, ...]
    build: Callable[..., Any]
    style: Style = "event"
    direct: frozenset[str] = frozenset()
    distinct: bool = False  # count distinct `entity` per bucket instead of summing `value`
    per_entity: bool = False  # distribution over entities: each one's largest value per bucket
    defaults: dict[str, float] = field(default_factory=dict)
    variant: Variant | None = None  # the rows of a family it keeps and sums, when it has one
    # the tables its rows may come from, when it reads an aggregate table or the events
    # (precedence): its rows carry `_source`, and the KPI rows say which ones fed a value
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:
    """A measure that is its family's rows with its own filter (`keep`, default every row)
    and value (default 1 per row): the measures of one family are summed in one scan of
    those rows (`family_events`) instead of one query each."""

    family: str
    keep: Callable[[Any], Any] | None = None
    value: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Family:
    """Rows several measures read: `rows(ctx)` builds them, `emit(rows, value, extra)` puts
    them in the event shape with `value` and the `extra` columns."""

    rows: Callable[[Context], Any]
    emit: Callable[[Any, Any, dict[str, Any]], Any]


MEASURES: dict[str, Measure] = {}
FAMILIES: dict[str, Family] = {}


def measure(
    name: str,
    description: str,
    tables: tuple[str, ...],
    *,
    style: Style = "event",
    direct: tuple[str, ...] = (),
    distinct: bool = False,
    per_entity: bool = False,
    defaults: dict[str, float] | None = None,
    variant: Variant | None = None,
    sources: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        MEASURES[name] = Measure(
            name,
            description,
            tables,
            fn,
            style,
            frozenset(direct),
            distinct,
            per_entity,
            defaults or {},
            variant,
            sources,
        )
        return fn

    return register


def variant_measure(
    name: str, description: str, tables: tuple[str, ...], variant: Variant, **options: Any
) -> None:
    """Register a summed event measure that is a variant of a family's rows; alone it is
    the family's kept rows with its value (`family_events` with one variant, filtered)."""

    def build(ctx: Context, p: dict[str, float]) -> Any:
        fam = FAMILIES[variant.family]
        rows = fam.rows(ctx)
        if variant.keep is not None:
            rows = rows.filter(variant.keep(rows))
        return fam.emit(rows, 1.0 if variant.value is None else variant.value(rows), {})

    measure(name, description, tables, variant=variant, **options)(build)


def family_events(ctx: Context, family: str, variants: list[Variant]) -> Any:
    """The family's rows once, in the event shape, with `_keep<i>` (whether variant i keeps
    the row) and `_value<i>` (its value) for each variant: summing `_value<i>` where
    `_keep<i>` gives each variant's measure from one scan."""
    fam = FAMILIES[family]
    rows = fam.rows(ctx)
    extra: dict[str, Any] = {}
    for i, v in enumerate(variants):
        extra[f"_keep{i}"] = ibis.literal(True) if v.keep is None else v.keep(rows)
        value = ibis.literal(1.0) if v.value is None else v.value(rows)
        extra[f"_value{i}"] = value.cast("float64")
    return fam.emit(rows, 1.0, extra)


def events(
    table: Any,
    ts: Any,
    value: Any = 1.0,
    *,
    contact: Any = None,
    entity: Any = None,
    extra: dict[str, Any] | None = None,
    **dims: Any,
) -> Any:
    """The standard event shape: ts, value, contact_id, entity and every dimension column
    (then the `extra` columns, for a family's variants)."""
    cols: dict[str, Any] = {
        "ts": ts.cast("timestamp"),
        "value": ibis.literal(value).cast("float64")
        if isinstance(value, float | int)
        else value.cast("float64"),
        "contact_id": NULL_STR if contact is None else contact.cast("string"),
        "entity": NULL_STR if entity is None else entity.cast("string"),
    }
    for d in DIMENSIONS:
        cols[d] = dims[d].cast("string") if d in dims else NULL_STR
    return table.select(**cols, **(extra or {}))


# -- A. reach, traffic, engagement ------------------------------------------------------
def _sessions(ctx: Context, *, resolve: bool = True) -> Any:
    """Sessions with `resolved`, their contact (anonymous ones through identities). Without
    `resolve` (the query asks for no contact dimension) `resolved` is null and the
    identities are not read: a session's marketing dimensions are its own."""
    tp = ctx.table("touchpoints")
    s = tp.filter(tp.touch_type == "session")
    if not resolve:
        return s.mutate(resolved=NULL_STR)
    ids = ctx.table("identities").select(i_anon="anonymous_id", i_contact="contact_id")
    first_ids = ids.group_by("i_anon").aggregate(i_contact=ids.i_contact.min())
    s = s.left_join(first_ids, s.anonymous_id == first_ids.i_anon)
    return s.mutate(resolved=ibis.coalesce(s.contact_id, s.i_contact))


WEB_SOURCES = ("web_traffic", "touchpoints")
"""Where web measures read from: `web_traffic` aggregates on the days that have any, else
touchpoint sessions (`_web_rows`)."""
ENGAGED_SECONDS = 10
"""A touchpoint session is engaged (GA4's definition) when it lasted this long or had two or
more pageviews."""


def _aggregate_days(ctx: Context) -> Any:
    """The days that have any `web_traffic` row (for the whole warehouse, whatever their
    channel): on them the web measures read the aggregates only."""
    wt = ctx.table("web_traffic")
    return wt.select(agg_day=wt.date.cast("date")).distinct()


def session_day(ts: Any) -> Any:
    """The calendar day of a session's time, compared with `web_traffic.date`."""
    return ts.date()


def _event_sessions(ctx: Context, s: Any) -> Any:
    """Sessions `s` on the days without `web_traffic` rows (all of them when it is empty)."""
    if not ctx.has_rows("web_traffic"):
        return s
    days = _aggregate_days(ctx)
    return s.anti_join(days, session_day(s.ts) == days.agg_day)


def _web_rows(ctx: Context, *, resolve: bool = True) -> Any:
    """Web traffic without double counting: the touchpoint sessions of days without
    `web_traffic` rows (one session each) and the `web_traffic` rows (their counts), with
    n_sessions, n_bounces, n_pageviews, n_engaged and `_source` (the table of the row).
    An aggregate row with no bounces count has sessions - engaged sessions bounces, and
    one with no engaged count sessions - bounces (GA4: a bounce is a session not engaged)."""
    s = _event_sessions(ctx, _sessions(ctx, resolve=resolve))
    engaged = (s.engaged_seconds >= ENGAGED_SECONDS) | (s.pageviews >= 2)
    one, zero = ibis.literal(1), ibis.literal(0)
    tp = s.select(
        ts=s.ts.cast("timestamp"),
        resolved=s.resolved,
        **{d: s[d].cast("string") for d in MARKETING_DIMS},
        n_sessions=one.cast("int64"),
        n_bounces=ibis.ifelse(s.is_bounce.fill_null(False), one, zero).cast("int64"),
        n_pageviews=s.pageviews.fill_null(0).cast("int64"),
        n_engaged=ibis.ifelse(engaged.fill_null(False), one, zero).cast("int64"),
        _source=ibis.literal("touchpoints"),
    )
    if not ctx.has_rows("web_traffic"):
        return tp
    w = ctx.table("web_traffic")
    wt = w.select(
        ts=w.date.cast("timestamp"),
        resolved=NULL_STR,
        **{d: w[d].cast("string") if d in w.columns else NULL_STR for d in MARKETING_DIMS},
        n_sessions=w.sessions.cast("int64"),
        n_bounces=ibis.coalesce(w.bounces, w.sessions - w.engaged_sessions, 0).cast("int64"),
        n_pageviews=w.pageviews.fill_null(0).cast("int64"),
        n_engaged=ibis.coalesce(w.engaged_sessions, w.sessions - w.bounces, 0).cast("int64"),
        _source=ibis.literal("web_traffic"),
    )
    return union_all(tp, wt)


def _session_events(s: Any, value: Any = 1.0, extra: dict[str, Any] | None = None) -> Any:
    return events(
        s,
        s.ts,
        value,
        contact=s.resolved,
        extra={"_source": s._source, **(extra or {})},
        **{d: s[d] for d in MARKETING_DIMS},
    )


FAMILIES["sessions"] = Family(lambda ctx: _web_rows(ctx, resolve=ctx.contact_dims), _session_events)
for _name, _text, _variant in (
    (
        "sessions",
        "web sessions: touchpoint sessions, web_traffic.sessions",
        Variant("sessions", value=lambda s: s.n_sessions),
    ),
    (
        "bounced_sessions",
        "sessions with is_bounce; web_traffic.bounces",
        Variant("sessions", value=lambda s: s.n_bounces),
    ),
    (
        "pageviews",
        "pageviews of sessions; web_traffic.pageviews",
        Variant("sessions", value=lambda s: s.n_pageviews),
    ),
    (
        "engaged_sessions",
        f"sessions of {ENGAGED_SECONDS}+ seconds or 2+ pageviews; web_traffic.engaged_sessions",
        Variant("sessions", value=lambda s: s.n_engaged),
    ),
    (
        "social_sessions",
        "sessions whose channel is a social one (its name contains 'social')",
        Variant(
            "sessions",
            keep=lambda s: s.channel.lower().contains("social"),
            value=lambda s: s.n_sessions,
        ),
    ),
):
    variant_measure(
        _name,
        _text,
        ("touchpoints", "web_traffic"),
        _variant,
        direct=MARKETING_DIMS,
        sources=WEB_SOURCES,
    )


@measure(
    "new_visitors",
    "visitors (contact, else anonymous id) at their first session; web_traffic.new_users",
    ("touchpoints", "identities", "web_traffic"),
    direct=MARKETING_DIMS,
    sources=WEB_SOURCES,
)
def new_visitors(ctx: Context, p: dict[str, float]) -> Any:
    """The first session per visitor by (ts, touchpoint_id), ranked by a window: an arg-min
    per visitor is faster with memory to spare, but its hash aggregate (string states) does
    not spill, and ran out of memory under the warehouse's limit where the sort spills.
    Of the first sessions, those on days without `web_traffic` rows count; on the days with
    some, the rows' new_users."""
    s = _sessions(ctx)
    s = s.mutate(visitor=ibis.coalesce(s.resolved, s.anonymous_id, s.session_id, s.touchpoint_id))
    ranked = s.mutate(
        r=ibis.row_number().over(group_by=s.visitor, order_by=[s.ts, s.touchpoint_id])
    )
    first = _event_sessions(ctx, ranked.filter(ranked.r == 0))
    tp = first.mutate(_source=ibis.literal("touchpoints"))
    found = _session_events(tp)
    if not ctx.has_rows("web_traffic"):
        return found
    w = ctx.table("web_traffic")
    agg = events(
        w,
        w.date,
        w.new_users.fill_null(0),
        extra={"_source": ibis.literal("web_traffic")},
        **{d: w[d] for d in MARKETING_DIMS if d in w.columns},
    )
    return union_all(found, agg)


@measure(
    "engagement",
    "likes + comments + shares of social posts",
    ("social_posts",),
    direct=("channel",),
)
def engagement(ctx: Context, p: dict[str, float]) -> Any:
    t = ctx.table("social_posts")
    return events(t, t.published_at, t.likes + t.comments + t.shares, channel=t.channel)


@measure(
    "audience_size",
    "email list + social followers + blog subscribers: the last size "
    "of each audience in the period, summed",
    ("audience_snapshots",),
    style="snapshot",
    direct=("channel",),
)
def audience_size(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    a = ctx.table("audience_snapshots")
    inside = a.join(periods, (a.date >= periods.p_start) & (a.date <= periods.p_end))
    ranked = inside.mutate(
        r=ibis.row_number().over(
            group_by=[inside.p_start, inside.audience], order_by=ibis.desc(inside.date)
        )
    )
    last = ranked.filter(ranked.r == 0)
    return last.select(
        p_start=last.p_start,
        value=last.size.cast("float64"),
        contact_id=NULL_STR,
        channel=last.channel,
    )


@measure(
    "list_size_at_start",
    "email list size before the period starts (last snapshot)",
    ("audience_snapshots",),
    style="snapshot",
)
def list_size_at_start(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    a = ctx.table("audience_snapshots").filter(lambda t: t.audience == "email_list")
    before = a.join(periods, a.date < periods.p_start)
    ranked = before.mutate(
        r=ibis.row_number().over(group_by=before.p_start, order_by=ibis.desc(before.date))
    )
    last = ranked.filter(ranked.r == 0)
    return last.select(p_start=last.p_start, value=last.size.cast("float64"), contact_id=NULL_STR)


# -- B. leads and qualification ---------------------------------------------------------
def _stage_events(ctx: Context, role: str) -> Any:
    sd = ctx.stage_dates()
    return sd.filter(sd.stage == ctx.stage(role))


def _stage_measure(role: str) -> Callable[[Context, dict[str, float]], Any]:
    def build(ctx: Context, p: dict[str, float]) -> Any:
        s = _stage_events(ctx, role)
        return events(s, s.ts, contact=s.contact_id, entity=s.contact_id)

    return build


for _role, _text in (
    ("lead", "contacts at their first lead date (else created_at)"),
    ("mql", "contacts at their first MQL date"),
    ("sql", "contacts at their first SQL date"),
):
    measure(f"{_role}s", _text, ("stage_events", "contacts"))(_stage_measure(_role))


def _first_sales_touch(ctx: Context) -> Any:
    """MQLs with the time of the first sales touch after them (call, email, meeting, or a
    status change whose outcome is 'accepted')."""
    mql = _stage_events(ctx, "mql")
    act = ctx.table("sales_activities")
    worked = act.filter(
        act.activity_type.isin(["call", "email", "meeting"])
        | ((act.activity_type == "status_change") & (act.outcome.lower() == "accepted"))
    )
    acts = worked.select(a_contact="contact_id", a_ts="ts")
    pairs = mql.join(acts, (mql.contact_id == acts.a_contact) & (acts.a_ts >= mql.ts))
    firsts = pairs.group_by(["contact_id", "ts"]).aggregate(first_touch=pairs.a_ts.min())
    return mql.left_join(firsts, ["contact_id", "ts"]).select("contact_id", "ts", "first_touch")


@measure(
    "mqls_accepted",
    "MQLs that sales worked (a first sales touch after the MQL)",
    ("stage_events", "sales_activities"),
)
def mqls_accepted(ctx: Context, p: dict[str, float]) -> Any:
    m = _first_sales_touch(ctx)
    m = m.filter(m.first_touch.notnull())
    return events(m, m.ts, contact=m.contact_id)


@measure(
    "mqls_followed_in_sla",
    "MQLs first touched by sales within sla_hours",
    ("stage_events", "sales_activities"),
    defaults={"sla_hours": 24},
)
def mqls_followed_in_sla(ctx: Context, p: dict[str, float]) -> Any:
    m = _first_sales_touch(ctx)
    limit = ibis.interval(seconds=int(p["sla_hours"] * 3600))
    # elapsed time: a DST change between MQL and touch does not move the deadline
    in_time = ctx.instant(m.first_touch) <= ctx.instant(m.ts) + limit
    m = m.filter(m.first_touch.notnull() & in_time)
    return events(m, m.ts, contact=m.contact_id)


@measure(
    "accepted_with_opportunity",
    "accepted MQLs whose contact then got an opportunity",
    ("stage_events", "sales_activities", "opportunities"),
)
def accepted_with_opportunity(ctx: Context, p: dict[str, float]) -> Any:
    m = _first_sales_touch(ctx)
    m = m.filter(m.first_touch.notnull())
    o = ctx.table("opportunities").select(o_contact="contact_id", o_created="created_at")
    hit = m.semi_join(o, (m.contact_id == o.o_contact) & (o.o_created >= m.ts))
    return events(hit, hit.ts, contact=hit.contact_id)


def _opps(ctx: Context) -> Any:
    return ctx.table("opportunities")


def _deal_events(t: Any, ts: Any, value: Any = 1.0) -> Any:
    return events(
        t, ts, value, contact=t.contact_id, owner=t.owner, product=t.product, account=t.account_id
    )


@measure("opportunities", "opportunities created", ("opportunities",), direct=DEAL_DIMS)
def opportunities(ctx: Context, p: dict[str, float]) -> Any:
    o = _opps(ctx)
    return _deal_events(o, o.created_at)


def _meetings(ctx: Context) -> Any:
    return ctx.table("meetings")


@measure("meetings_booked", "meetings by booking date", ("meetings",), direct=("owner",))
def meetings_booked(ctx: Context, p: dict[str, float]) -> Any:
    m = _meetings(ctx)
    return events(m, m.booked_at, contact=m.contact_id, owner=m.owner)


@measure("meetings_scheduled", "meetings by scheduled date", ("meetings",), direct=("owner",))
def meetings_scheduled(ctx: Context, p: dict[str, float]) -> Any:
    m = _meetings(ctx)
    return events(m, m.scheduled_for, contact=m.contact_id, owner=m.owner)


@measure(
    "meetings_attended",
    "meetings that took place, by scheduled date",
    ("meetings",),
    direct=("owner",),
)
def meetings_attended(ctx: Context, p: dict[str, float]) -> Any:
    m = _meetings(ctx)
    m = m.filter(m.attended.fill_null(False))
    return events(m, m.scheduled_for, contact=m.contact_id, owner=m.owner)


@measure(
    "lead_score",
    "behaviour points of each lead in the lookback window after its lead "
    "date: forms, events, email opens and clicks, attended meetings",
    ("stage_events", "touchpoints", "email_events", "meetings"),
    style="distribution",
    defaults={"form": 10, "event": 15, "email_open": 2, "email_click": 5, "meeting_attended": 20},
)
def lead_score(ctx: Context, p: dict[str, float]) -> Any:
    from revlens.funnel.scoring import Rule, ScoringRules, lead_scores

    rules = ScoringRules(
        window_days=ctx.lookback_days,
        rules=(
            Rule(name="form", source="touchpoints", touch_type="form", points=p["form"]),
            Rule(name="event", source="touchpoints", touch_type="event", points=p["event"]),
            Rule(name="open", source="email_events", event="open", points=p["email_open"]),
            Rule(name="click", source="email_events", event="click", points=p["email_click"]),
            Rule(name="meeting", source="meetings", attended=True, points=p["meeting_attended"]),
        ),
    )
    scores = lead_scores(ctx, rules)
    return events(scores, scores.lead_ts, scores.score, contact=scores.contact_id)


# -- C. spend ---------------------------------------------------------------------------
@measure(
    "spend",
    "marketing cost in the reporting currency",
    ("spend", "fx_rates"),
    direct=("channel", "source", "campaign", "ad"),
)
def spend(ctx: Context, p: dict[str, float]) -> Any:
    return _cost(ctx, sales=False)


SALES_COST_CHANNEL = "sales"
"""Spend rows of this channel are sales cost (salaries, commissions, tools), not marketing:
`spend` leaves them out, `sales_cost` and `cac_fully_loaded` count them."""


@measure(
    "sales_cost",
    f"sales cost: spend rows of channel {SALES_COST_CHANNEL!r}, in the reporting currency",
    ("spend", "fx_rates"),
    direct=("channel", "source", "campaign", "ad"),
)
def sales_cost(ctx: Context, p: dict[str, float]) -> Any:
    return _cost(ctx, sales=True)


def _cost(ctx: Context, *, sales: bool) -> Any:
    s = ctx.money(ctx.table("spend"), amount="cost", date="date")
    is_sales = s.channel == SALES_COST_CHANNEL
    s = s.filter(is_sales if sales else ~is_sales)
    return events(
        s, s.date, s.amount_rc, channel=s.channel, source=s.source, campaign=s.campaign, ad=s.ad
    )


SPEND_DIMS = ("channel", "source", "campaign", "ad")


def _ad_rows(ctx: Context) -> Any:
    """Marketing spend rows (not sales cost) with their cost in the reporting currency."""
    s = ctx.money(ctx.table("spend"), amount="cost", date="date")
    return s.filter(s.channel != SALES_COST_CHANNEL)


def _ad_count(column: str) -> Callable[[Context, dict[str, float]], Any]:
    """The platform's count `column` of marketing spend rows (missing counts as 0)."""

    def build(ctx: Context, p: dict[str, float]) -> Any:
        s = _ad_rows(ctx)
        return events(s, s.date, s[column].fill_null(0), **{d: s[d] for d in SPEND_DIMS})

    return build


def _cost_with(column: str) -> Callable[[Context, dict[str, float]], Any]:
    """The cost of the marketing spend rows that report `column`: the numerator of a cost
    per click (impression, conversion) leaves out cost no count stands against."""

    def build(ctx: Context, p: dict[str, float]) -> Any:
        s = _ad_rows(ctx)
        s = s.filter(s[column].notnull())
        return events(s, s.date, s.amount_rc, **{d: s[d] for d in SPEND_DIMS})

    return build


for _name, _column, _text in (
    ("impressions", "impressions", "ad impressions reported on spend rows"),
    ("clicks", "clicks", "ad clicks reported on spend rows"),
    ("platform_conversions", "conversions", "conversions the ad platform reports on spend rows"),
):
    measure(_name, _text, ("spend",), direct=SPEND_DIMS)(_ad_count(_column))
    measure(
        f"cost_with_{_column}",
        f"marketing cost of the spend rows that report {_column}, in the reporting currency",
        ("spend", "fx_rates"),
        direct=SPEND_DIMS,
    )(_cost_with(_column))


# -- D. sales outcomes and pipeline ----------------------------------------------------
def _won(ctx: Context) -> Any:
    o = _opps(ctx)
    return o.filter(o.is_won.fill_null(False) & o.closed_at.notnull())


@measure(
    "revenue",
    "closed-won amounts in the reporting currency, by close date",
    ("opportunities", "fx_rates"),
    direct=DEAL_DIMS,
)
def revenue(ctx: Context, p: dict[str, float]) -> Any:
    w = ctx.money(_won(ctx), amount="amount", date="closed_at")
    return _deal_events(w, w.closed_at, w.amount_rc)


@measure("won_deals", "opportunities closed won", ("opportunities",), direct=DEAL_DIMS)
def won_deals(ctx: Context, p: dict[str, float]) -> Any:
    w = _won(ctx)
    return _deal_events(w, w.closed_at)


@measure("closed_deals", "opportunities closed won or lost", ("opportunities",), direct=DEAL_DIMS)
def closed_deals(ctx: Context, p: dict[str, float]) -> Any:
    o = _opps(ctx)
    c = o.filter(o.is_won.notnull() & o.closed_at.notnull())
    return _deal_events(c, c.closed_at)


@measure(
    "customers",
    "customers (account, else contact) at their first won deal",
    ("opportunities",),
    direct=DEAL_DIMS,
)
def customers(ctx: Context, p: dict[str, float]) -> Any:
    w = _won(ctx)
    w = w.mutate(customer=ibis.coalesce(w.account_id, w.contact_id, w.opportunity_id))
    ranked = w.mutate(
        r=ibis.row_number().over(group_by=w.customer, order_by=[w.closed_at, w.opportunity_id])
    )
    first = ranked.filter(ranked.r == 0)
    return _deal_events(first, first.closed_at)


PROPOSAL_STAGES = ["proposal", "quote"]


def _proposals(ctx: Context) -> Any:
    ev = ctx.table("opportunity_stage_events")
    props = ev.filter(ev.stage.lower().isin(PROPOSAL_STAGES))
    firsts = props.group_by("opportunity_id").aggregate(p_ts=props.ts.min())
    return _opps(ctx).join(firsts, "opportunity_id")


@measure(
    "proposals",
    "opportunities at their first proposal/quote stage event",
    ("opportunities", "opportunity_stage_events"),
    direct=DEAL_DIMS,
)
def proposals(ctx: Context, p: dict[str, float]) -> Any:
    o = _proposals(ctx)
    return _deal_events(o, o.p_ts)


@measure(
    "won_after_proposal",
    "won opportunities that had reached proposal, by close date",
    ("opportunities", "opportunity_stage_events"),
    direct=DEAL_DIMS,
)
def won_after_proposal(ctx: Context, p: dict[str, float]) -> Any:
    o = _proposals(ctx)
    o = o.filter(o.is_won.fill_null(False) & o.closed_at.notnull())
    return _deal_events(o, o.closed_at)


def _open_at_end(ctx: Context, periods: Any) -> Any:
    o = ctx.money(_opps(ctx), amount="amount", date="created_at")
    day = ibis.interval(days=1)
    end = periods.p_end.cast("timestamp") + day
    return o.join(periods, (o.created_at < end) & (o.closed_at.isnull() | (o.closed_at >= end)))


def _stage_at_end(ctx: Context, t: Any) -> Any:
    """`t` (open deals per period) with `stage` as it was at the period end: the deal's last
    stage event up to then, or the export's current stage when it has none by then."""
    ev = ctx.table("opportunity_stage_events")
    ev = ev.select(e_opp=ev.opportunity_id, e_stage=ev.stage, e_ts=ev.ts)
    end = t.p_end.cast("timestamp") + ibis.interval(days=1)
    j = t.left_join(ev, (t.opportunity_id == ev.e_opp) & (ev.e_ts < end))
    latest = ibis.row_number().over(
        group_by=[j.opportunity_id, j.p_start], order_by=[ibis.desc(j.e_ts), ibis.desc(j.e_stage)]
    )
    j = j.mutate(_latest=latest)
    j = j.filter(j._latest == 0)
    return j.mutate(stage=ibis.coalesce(j.e_stage, j.stage)).drop(
        "e_opp", "e_stage", "e_ts", "_latest"
    )


def _snapshot_deals(t: Any, value: Any) -> Any:
    return t.select(
        p_start=t.p_start,
        value=value.cast("float64"),
        contact_id=t.contact_id,
        owner=t.owner,
        product=t.product,
        account=t.account_id,
    )


@measure(
    "pipeline_value",
    "amounts of opportunities open at the period end",
    ("opportunities", "fx_rates"),
    style="snapshot",
    direct=DEAL_DIMS,
)
def pipeline_value(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    t = _open_at_end(ctx, periods)
    return _snapshot_deals(t, t.amount_rc)


STAGE_PROBABILITY = {
    "prospecting": 0.1,
    "discovery": 0.1,
    "qualification": 0.2,
    "engaging": 0.3,
    "proposal": 0.5,
    "quote": 0.5,
    "negotiation": 0.75,
}


@measure(
    "weighted_pipeline",
    "open amounts × the probability of their stage at the period end "
    "(params prob_<stage>, defaults in STAGE_PROBABILITY)",
    ("opportunities", "fx_rates"),
    style="snapshot",
    direct=DEAL_DIMS,
)
def weighted_pipeline(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    t = _stage_at_end(ctx, _open_at_end(ctx, periods))
    probs = {
        **STAGE_PROBABILITY,
        **{k.removeprefix("prob_"): v for k, v in p.items() if k.startswith("prob_")},
    }
    prob = ibis.cases(*[(t.stage.lower() == k, v) for k, v in probs.items()], else_=0.0)
    return _snapshot_deals(t, t.amount_rc * prob)


@measure(
    "sales_cycle_days",
    "days from the contact's lead date (else the opportunity's creation) to the won close",
    ("opportunities", "stage_events"),
    style="distribution",
    direct=DEAL_DIMS,
)
def sales_cycle_days(ctx: Context, p: dict[str, float]) -> Any:
    w = _won(ctx)
    leads = _stage_events(ctx, "lead").select(l_contact="contact_id", l_ts="ts")
    j = w.left_join(leads, w.contact_id == leads.l_contact)
    start = ibis.coalesce(j.l_ts, j.created_at)
    days = (j.closed_at.epoch_seconds() - start.epoch_seconds()) / 86400.0
    return _deal_events(j, j.closed_at, days)


# -- E. customers and recurring revenue ----------------------------------------------------
def _subscription_contacts(ctx: Context, s: Any) -> Any:
    """`s` (subscription rows) with `sub_contact`, the contact a subscription belongs to:
    its contact_id, else the contact whose email_hash is the subscription's (the first by
    id when several share it); and with the marketing dimensions of the query
    (`ctx.marketing_dims`) of that contact's acquisition touch, its first touch by (time,
    touchpoint id); the others null."""
    c = ctx.table("contacts")
    by_hash = (
        c.filter(c.email_hash.notnull())
        .group_by(h_hash=c.email_hash)
        .aggregate(h_contact=c.contact_id.min())
    )
    j = s.left_join(by_hash, s.email_hash == by_hash.h_hash)
    j = j.mutate(sub_contact=ibis.coalesce(j.contact_id, j.h_contact)).drop("h_hash", "h_contact")
    dims = [d for d in MARKETING_DIMS if d in ctx.marketing_dims]
    nulls = {d: NULL_STR for d in MARKETING_DIMS if d not in dims}
    if not dims:
        return j.mutate(**nulls)
    t = ctx.touches(dims)
    ranked = t.mutate(
        _r=ibis.row_number().over(group_by=t.contact_id, order_by=[t.ts, t.touchpoint_id])
    )
    first = ranked.filter(ranked._r == 0).select(
        a_contact="contact_id", **{f"a_{d}": d for d in dims}
    )
    j = j.left_join(first, j.sub_contact == first.a_contact)
    return j.mutate(**{d: j[f"a_{d}"] for d in dims}, **nulls).drop(
        "a_contact", *[f"a_{d}" for d in dims]
    )


def _active_months(ctx: Context) -> Any:
    """Months with MRR > 0 per customer, in the reporting currency, with the subscription's
    contact and its acquisition touch (`_subscription_contacts`)."""
    s = ctx.money(ctx.table("subscriptions"), amount="mrr", date="month")
    s = s.filter(s.amount_rc > 0)
    s = s.mutate(month=s.month.truncate("M").cast("date"))
    return _subscription_contacts(ctx, s)


def _subscription_events(t: Any, ts: Any, value: Any = 1.0) -> Any:
    return events(
        t,
        ts,
        value,
        contact=t.sub_contact,
        entity=t.customer_id,
        **{d: t[d] for d in MARKETING_DIMS},
    )


def _subscription_snapshot(t: Any, value: Any) -> Any:
    return t.select(
        p_start=t.p_start,
        value=ibis.literal(value).cast("float64")
        if isinstance(value, float)
        else value.cast("float64"),
        contact_id=t.sub_contact,
        **{d: t[d] for d in MARKETING_DIMS},
    )


def _movements(ctx: Context) -> Any:
    """Per customer-month: previous month's MRR (0 after a gap), and whether it is new."""
    s = _active_months(ctx)
    w = ibis.window(group_by=s.customer_id, order_by=s.month)
    s = s.mutate(
        prev_month=s.month.lag().over(w),
        prev_mrr=s.amount_rc.lag().over(w),
        next_month=s.month.lead().over(w),
    )
    contiguous = s.prev_month.notnull() & (s.prev_month == (s.month - ibis.interval(months=1)))
    return s.mutate(
        prev=ibis.cases((contiguous, s.prev_mrr), else_=0.0), first=s.prev_month.isnull()
    )


def _movement(kind: str) -> Callable[[Context, dict[str, float]], Any]:
    def build(ctx: Context, p: dict[str, float]) -> Any:
        m = _movements(ctx)
        if kind == "churn":
            m = m.mutate(last_month=m.month.max().over(ibis.window()))  # a column: Spark
            churned = m.filter(  # cannot resolve a window inside a filter
                (m.next_month.isnull() | (m.next_month != m.month + ibis.interval(months=1)))
                & (m.month < m.last_month)
            )
            return _subscription_events(
                churned,
                (churned.month + ibis.interval(months=1)).cast("timestamp"),
                churned.amount_rc,
            )
        if kind == "new":
            sel, value = m.first, m.amount_rc
        elif kind == "reactivation":
            sel, value = (m.prev == 0) & ~m.first, m.amount_rc
        elif kind == "expansion":
            sel, value = (m.prev > 0) & (m.amount_rc > m.prev), m.amount_rc - m.prev
        else:
            sel, value = (m.prev > 0) & (m.amount_rc < m.prev), m.prev - m.amount_rc
        t = m.filter(sel)
        return _subscription_events(
            t,
            t.month,
            value
            if kind in ("new", "reactivation")
            else (t.amount_rc - t.prev if kind == "expansion" else t.prev - t.amount_rc),
        )

    return build


for _kind in ("new", "expansion", "contraction", "churn", "reactivation"):
    measure(
        f"mrr_{_kind}",
        f"MRR movement: {_kind}",
        ("subscriptions", "fx_rates"),
        direct=MARKETING_DIMS,
    )(_movement(_kind))


@measure(
    "subscription_revenue",
    "MRR summed over the period's months",
    ("subscriptions", "fx_rates"),
    direct=MARKETING_DIMS,
)
def subscription_revenue(ctx: Context, p: dict[str, float]) -> Any:
    s = _active_months(ctx)
    return _subscription_events(s, s.month, s.amount_rc)


@measure(
    "active_customers",
    "distinct customers with MRR in the period",
    ("subscriptions",),
    distinct=True,
    direct=MARKETING_DIMS,
)
def active_customers(ctx: Context, p: dict[str, float]) -> Any:
    s = _active_months(ctx)
    return _subscription_events(s, s.month)


def _month_of(day: Any) -> Any:
    return day.truncate("M").cast("date")


@measure(
    "mrr",
    "MRR of the period's last month",
    ("subscriptions", "fx_rates"),
    style="snapshot",
    direct=MARKETING_DIMS,
)
def mrr(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    s = _active_months(ctx)
    j = s.join(periods, s.month == _month_of(periods.p_end))
    return _subscription_snapshot(j, j.amount_rc)


def _month_before(periods: Any) -> Any:
    """The month before each period starts."""
    return (_month_of(periods.p_start) - ibis.interval(months=1)).cast("date")


def _last_month(periods: Any) -> Any:
    return _month_of(periods.p_end)


def _customers_in(ctx: Context, periods: Any, month_of: Callable[[Any], Any]) -> Any:
    s = _active_months(ctx).select("customer_id", "month", "sub_contact", *MARKETING_DIMS)
    j = s.join(periods, s.month == month_of(periods))
    return j.select("p_start", "customer_id", "sub_contact", *MARKETING_DIMS)


@measure(
    "customers_at_start",
    "customers active in the month before the period",
    ("subscriptions",),
    style="snapshot",
    direct=MARKETING_DIMS,
)
def customers_at_start(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    c = _customers_in(ctx, periods, _month_before)
    return _subscription_snapshot(c, 1.0)


@measure(
    "customers_retained",
    "customers active before the period and in its last month",
    ("subscriptions",),
    style="snapshot",
    direct=MARKETING_DIMS,
)
def customers_retained(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    start = _customers_in(ctx, periods, _month_before)
    end = _customers_in(ctx, periods, _last_month)
    kept = start.semi_join(end, ["p_start", "customer_id"])
    return _subscription_snapshot(kept, 1.0)


@measure(
    "customers_at_end",
    "customers active in the period's last month",
    ("subscriptions",),
    style="snapshot",
    direct=MARKETING_DIMS,
)
def customers_at_end(ctx: Context, p: dict[str, float], periods: Any) -> Any:
    c = _customers_in(ctx, periods, _last_month)
    return _subscription_snapshot(c, 1.0)


@measure(
    "customer_lifetime_months",
    "months each customer active in the period has been active so far (observed lifetime)",
    ("subscriptions",),
    style="distribution",
    per_entity=True,
    direct=MARKETING_DIMS,
)
def customer_lifetime_months(ctx: Context, p: dict[str, float]) -> Any:
    s = _active_months(ctx)
    w = ibis.window(group_by=s.customer_id, order_by=s.month, rows=(None, 0))
    s = s.mutate(months=s.customer_id.count().over(w))
    return _subscription_events(s, s.month, s.months)


# -- F. email --------------------------------------------------------------------------
EMAIL_SOURCES = ("email_campaigns", "email_events")
"""Where email measures read from: a campaign's `email_campaigns` row when it has one, else
its `email_events` (`_email`)."""


def _delivered(c: Any) -> Any:
    """Deliveries of an aggregate row: `delivered`, else recipients - soft and hard bounces."""
    bounced = c.soft_bounces.fill_null(0) + c.hard_bounces.fill_null(0)
    return ibis.coalesce(c.delivered, c.recipients - bounced)


EMAIL_AGGREGATES: dict[str, Callable[[Any], Any]] = {
    "delivered": _delivered,
    "open": lambda c: c.unique_opens,
    "click": lambda c: c.unique_clicks,
    "forward": lambda c: c.forwards,
    "unsubscribe": lambda c: c.unsubscribes,
}
"""The `email_campaigns` column each counted email event stands for (unique opens and clicks
per campaign and contact are the aggregate's unique_opens and unique_clicks)."""


def _email(ctx: Context, kind: str, unique: bool) -> Any:
    """Email events of `kind` (first per campaign and contact when `unique`) of the
    campaigns without an `email_campaigns` row, and the rows' counts for the others, dated
    at the campaign's sent_at."""
    e = ctx.table("email_events")
    e = e.filter(e.event == kind)
    aggregated = kind in EMAIL_AGGREGATES and ctx.has_rows("email_campaigns")
    if aggregated:
        e = e.anti_join(ctx.table("email_campaigns"), "campaign")
    if unique:
        e = e.group_by(["campaign", "contact_id"]).aggregate(ts=e.ts.min())
    found = events(
        e,
        e.ts,
        contact=e.contact_id,
        campaign=e.campaign,
        extra={"_source": ibis.literal("email_events")},
    )
    if not aggregated:
        return found
    c = ctx.table("email_campaigns")
    counts = events(
        c,
        c.sent_at,
        EMAIL_AGGREGATES[kind](c).fill_null(0),
        campaign=c.campaign,
        extra={"_source": ibis.literal("email_campaigns")},
    )
    return union_all(counts, found)


for _name, _kind, _unique, _text in (
    ("email_delivered", "delivered", True, "emails delivered, once per (campaign, contact)"),
    ("email_unique_opens", "open", True, "first open per (campaign, contact)"),
    ("email_unique_clicks", "click", True, "first click per (campaign, contact)"),
    ("email_forwards", "forward", False, "forward events"),
    ("email_unsubscribes", "unsubscribe", False, "unsubscribe events"),
):
    measure(
        _name,
        f"{_text}; email_campaigns rows for their campaigns",
        ("email_events", "email_campaigns"),
        direct=("campaign",),
        sources=EMAIL_SOURCES,
    )(lambda ctx, p, _k=_kind, _u=_unique: _email(ctx, _k, _u))


@measure("email_subscribes", "subscribe events", ("email_events",), direct=("campaign",))
def email_subscribes(ctx: Context, p: dict[str, float]) -> Any:
    e = ctx.table("email_events")
    e = e.filter(e.event == "subscribe")
    return events(e, e.ts, contact=e.contact_id, campaign=e.campaign)


# -- G. inbound --------------------------------------------------------------------------
def _inbound(ctx: Context) -> Any:
    return ctx.table("inbound_requests")


def _inbound_events(r: Any, value: Any = 1.0) -> Any:
    return events(r, r.received_at, value, contact=r.contact_id, channel=r.channel)


@measure(
    "inbound_requests", "inbound requests received", ("inbound_requests",), direct=("channel",)
)
def inbound_requests(ctx: Context, p: dict[str, float]) -> Any:
    return _inbound_events(_inbound(ctx))


@measure(
    "inbound_answered_in_sla",
    "requests answered within sla_minutes",
    ("inbound_requests",),
    direct=("channel",),
    defaults={"sla_minutes": 3},
)
def inbound_answered_in_sla(ctx: Context, p: dict[str, float]) -> Any:
    r = _inbound(ctx)
    limit = ibis.interval(seconds=int(p["sla_minutes"] * 60))
    in_time = ctx.instant(r.first_response_at) <= ctx.instant(r.received_at) + limit
    r = r.filter(r.first_response_at.notnull() & in_time)  # elapsed time, as above
    return _inbound_events(r)


NO_OUTCOME = ["none", "no_outcome", "no outcome", "unqualified"]


@measure(
    "inbound_with_outcome",
    "requests with an outcome (meeting, opportunity, qualified)",
    ("inbound_requests",),
    direct=("channel",),
)
def inbound_with_outcome(ctx: Context, p: dict[str, float]) -> Any:
    r = _inbound(ctx)
    r = r.filter(r.outcome.notnull() & ~r.outcome.lower().isin(NO_OUTCOME))
    return _inbound_events(r)


@measure(
    "inbound_response_minutes",
    "minutes from request to first response (answered ones)",
    ("inbound_requests",),
    style="distribution",
    direct=("channel",),
)
def inbound_response_minutes(ctx: Context, p: dict[str, float]) -> Any:
    r = _inbound(ctx)
    r = r.filter(r.first_response_at.notnull())
    answered, received = ctx.instant(r.first_response_at), ctx.instant(r.received_at)
    minutes = (answered.epoch_seconds() - received.epoch_seconds()) / 60.0  # elapsed
    return _inbound_events(r, minutes)
