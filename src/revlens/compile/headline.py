"""Headline KPIs for one date range (period-based, KPIS.md conventions): the summary that
`revlens demo` and `revlens summary` print. Each is one Ibis expression run in the engine;
only the scalar results come back to Python."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import ibis

from revlens.compile.money import in_reporting_currency
from revlens.model.warehouse import Warehouse


@dataclass(frozen=True)
class KpiValue:
    """One KPI over one range; a ratio with a zero denominator has value None."""

    kpi: str
    name: str
    period_start: dt.date
    period_end: dt.date
    value: float | None
    numerator: float | None
    denominator: float | None
    unit: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def _scalar(expr: Any) -> float:
    value = expr.execute()
    return 0.0 if value is None or value != value else float(value)  # empty sum: NULL/NaN


def first_stage_dates(wh: Warehouse) -> Any:
    """One row per (contact, stage) with the first time the contact reached it: repeated
    stage events count once. A contact with no `lead` event gets its created_at as lead date."""
    con = wh.ibis
    events = con.table("stage_events")
    firsts = events.group_by(["contact_id", "stage"]).aggregate(ts=events.ts.min())
    lead_stage = wh.settings().stages[0]
    contacts = con.table("contacts")
    without_lead = contacts.anti_join(
        firsts.filter(firsts.stage == lead_stage), "contact_id"
    ).select("contact_id", stage=ibis.literal(lead_stage), ts=contacts.created_at)
    # NOT NULL columns on one side: cast both to the nullable schema before the union.
    schema = ibis.schema({"contact_id": "string", "stage": "string", "ts": "timestamp(6)"})
    return firsts.cast(schema).union(without_lead.cast(schema))


def headline(wh: Warehouse, start: dt.date, end: dt.date) -> list[KpiValue]:
    """Leads, MQLs, SQLs, opportunities, customers, revenue, spend, cost per lead, CAC and
    win rate for [start, end] (both days included)."""
    con = wh.ibis
    settings = wh.settings()
    lo = ibis.timestamp(dt.datetime.combine(start, dt.time()))
    hi = ibis.timestamp(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))

    def in_range(col: Any) -> Any:
        return (col >= lo) & (col < hi)

    stages = first_stage_dates(wh)
    stage_counts = {
        s: _scalar(stages.filter((stages.stage == s) & in_range(stages.ts)).count())
        for s in settings.stages[:3]
    }
    opps = con.table("opportunities")
    fx = con.table("fx_rates")
    opportunities = _scalar(opps.filter(in_range(opps.created_at)).count())
    closed = opps.filter(opps.is_won.notnull() & in_range(opps.closed_at))
    won = _scalar(closed.filter(closed.is_won).count())
    lost = _scalar(closed.filter(~closed.is_won).count())
    won_rc = in_reporting_currency(
        closed.filter(closed.is_won),
        fx,
        amount="amount",
        date="closed_at",
        reporting_currency=settings.reporting_currency,
    )
    revenue = _scalar(won_rc.amount_rc.sum())
    all_won = opps.filter(opps.is_won)
    customer_key = ibis.coalesce(all_won.account_id, all_won.contact_id, all_won.opportunity_id)
    first_wins = all_won.group_by(customer=customer_key).aggregate(
        first_win=all_won.closed_at.min()
    )
    customers = _scalar(first_wins.filter(in_range(first_wins.first_win)).count())
    spend_rows = con.table("spend")
    spend_rc = in_reporting_currency(
        spend_rows.filter((spend_rows.date >= start) & (spend_rows.date <= end)),
        fx,
        amount="cost",
        date="date",
        reporting_currency=settings.reporting_currency,
    )
    spend = _scalar(spend_rc.amount_rc.sum())

    def kpi(
        id_: str,
        name: str,
        value: float | None,
        unit: str,
        num: float | None = None,
        den: float | None = None,
    ) -> KpiValue:
        return KpiValue(id_, name, start, end, value, num, den, unit)

    lead, mql, sql = (stage_counts[s] for s in settings.stages[:3])
    return [
        kpi("leads", "Leads generated", lead, "count"),
        kpi("mqls", "Marketing qualified leads", mql, "count"),
        kpi("sqls", "Sales qualified leads", sql, "count"),
        kpi("opportunities", "Opportunities", opportunities, "count"),
        kpi("customers", "New customers", customers, "count"),
        kpi("revenue", "Revenue (closed-won)", revenue, "money"),
        kpi("spend", "Marketing spend", spend, "money"),
        kpi("cpl", "Cost per lead", _ratio(spend, lead), "money", spend, lead),
        kpi(
            "cac", "Customer acquisition cost", _ratio(spend, customers), "money", spend, customers
        ),
        kpi("win_rate", "Win rate", _ratio(won, won + lost), "percent", won, won + lost),
    ]


def default_range(wh: Warehouse) -> tuple[dt.date, dt.date]:
    """The last twelve full months before the newest stage event (or today, if none)."""
    newest = wh.ibis.table("stage_events").ts.max().execute()
    anchor = newest.date() if newest is not None and not _is_nat(newest) else dt.date.today()
    end = anchor.replace(day=1) - dt.timedelta(days=1)
    start = (end.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    return start, end


def _is_nat(value: Any) -> bool:
    return bool(value != value)  # pandas NaT compares unequal to itself
