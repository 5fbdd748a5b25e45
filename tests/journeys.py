"""Build warehouse contents from readable journeys, through the real import path:

journeys_for(wh, {"alice": [stage("lead", "2024-01-05"), touch("paid_search", "2024-01-01"),
                            deal(1200, "2024-02-01", closed="2024-03-01", won=True)]})
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from revlens.ingest.load import import_raw
from revlens.ingest.readers import from_arrow
from revlens.model.schema import table as canonical
from revlens.model.warehouse import Warehouse


@dataclass(frozen=True)
class Event:
    table: str
    row: dict[str, Any]


def ts(text: str) -> dt.datetime:
    return (
        dt.datetime.fromisoformat(text)
        if "T" in text or " " in text
        else dt.datetime.fromisoformat(text + "T00:00:00")
    )


def stage(name: str, at: str) -> Event:
    return Event("stage_events", {"stage": name, "ts": ts(at)})


def touch(channel: str, at: str, **extra: Any) -> Event:
    return Event("touchpoints", {"channel": channel, "ts": ts(at), **extra})


def deal(
    amount: float,
    created: str,
    *,
    closed: str | None = None,
    won: bool | None = None,
    currency: str = "USD",
    account: str | None = None,
    stage_name: str = "open",
) -> Event:
    return Event(
        "opportunities",
        {
            "amount": amount,
            "created_at": ts(created),
            "closed_at": ts(closed) if closed else None,
            "is_won": won,
            "currency": currency,
            "account_id": account,
            "stage": stage_name,
        },
    )


def session(channel: str, at: str, **extra: Any) -> Event:
    """A web session (touch_type session); pass is_bounce, pageviews, campaign, ..."""
    return Event(
        "touchpoints", {"channel": channel, "ts": ts(at), "touch_type": "session", **extra}
    )


def activity(kind: str, at: str, **extra: Any) -> Event:
    """A sales activity: call, email, meeting or status_change (outcome=...)."""
    return Event("sales_activities", {"activity_type": kind, "ts": ts(at), **extra})


def email(event: str, campaign: str, at: str) -> Event:
    return Event("email_events", {"event": event, "campaign": campaign, "ts": ts(at)})


def meeting(
    booked: str, scheduled: str, *, attended: bool | None = None, owner: str | None = None
) -> Event:
    return Event(
        "meetings",
        {
            "booked_at": ts(booked),
            "scheduled_for": ts(scheduled),
            "attended": attended,
            "owner": owner,
        },
    )


def inbound(
    received: str,
    responded: str | None = None,
    *,
    channel: str | None = None,
    outcome: str | None = None,
) -> Event:
    return Event(
        "inbound_requests",
        {
            "received_at": ts(received),
            "first_response_at": ts(responded) if responded else None,
            "channel": channel,
            "outcome": outcome,
        },
    )


def email_hash(address: str) -> str:
    """The canonical email_hash: lowercase hex SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def traffic(channel: str, day: str, sessions: int, **extra: Any) -> Event:
    """A web_traffic row (aggregated web analytics, e.g. GA4): pass engaged_sessions,
    bounces, pageviews, new_users, landing_page, source, medium, campaign, ..."""
    return Event(
        "web_traffic",
        {"channel": channel, "date": dt.date.fromisoformat(day), "sessions": sessions, **extra},
    )


def email_campaign(campaign: str, sent: str, recipients: int, **extra: Any) -> Event:
    """An email_campaigns row (aggregated campaign statistics, e.g. Mailchimp): pass
    delivered, unique_opens, unique_clicks, forwards, unsubscribes, soft_bounces, ..."""
    return Event(
        "email_campaigns",
        {"campaign": campaign, "sent_at": ts(sent), "recipients": recipients, **extra},
    )


def ad_spend(channel: str, day: str, cost: float, **extra: Any) -> Event:
    """A spend row: pass campaign, ad_group, ad, impressions, clicks, conversions, currency,
    platform, ..."""
    return Event(
        "spend", {"channel": channel, "date": dt.date.fromisoformat(day), "cost": cost, **extra}
    )


def subscription(customer: str, month: str, mrr: float, **extra: Any) -> Event:
    """A subscriptions row: pass contact_id or email_hash to link it to a contact."""
    return Event(
        "subscriptions",
        {"customer_id": customer, "month": dt.date.fromisoformat(month), "mrr": mrr, **extra},
    )


def load_events(wh: Warehouse, *events: Event) -> None:
    """Import events that belong to no contact (aggregates, spend, subscriptions), per table
    in the order given."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        rows.setdefault(e.table, []).append(dict(e.row))
    load_rows(wh, rows)


def journeys_for(
    wh: Warehouse, people: dict[str, list[Event]], *, created: str = "2024-01-01"
) -> None:
    """Load contacts and their events; each contact is created at its earliest event."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for person, events in people.items():
        first = min([_when(e) for e in events if _when(e) is not None] or [ts(created)])
        rows.setdefault("contacts", []).append({"contact_id": person, "created_at": first})
        for i, e in enumerate(events):
            row = {"contact_id": person, **e.row}
            if e.table == "touchpoints":
                row.setdefault("touchpoint_id", f"{person}-t{i}")
            if e.table == "opportunities":
                row["opportunity_id"] = f"{person}-o{i}"
            if e.table == "sales_activities":
                row["activity_id"] = f"{person}-a{i}"
            if e.table == "meetings":
                row["meeting_id"] = f"{person}-m{i}"
            if e.table == "inbound_requests":
                row["request_id"] = f"{person}-r{i}"
            rows.setdefault(e.table, []).append(row)
    load_rows(wh, rows)


def _when(e: Event) -> dt.datetime | None:
    for col in ("ts", "created_at", "booked_at", "received_at"):
        if e.row.get(col) is not None:
            value: dt.datetime = e.row[col]
            return value
    return None


def load_rows(wh: Warehouse, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Import plain row dicts per table; fails the test on any reject."""
    order = ["fx_rates"] + [t for t in rows if t != "fx_rates"]
    for name in order:
        if name not in rows:
            continue
        # every row gets every column: from_pylist would take the first row's keys only
        columns = list(dict.fromkeys(k for row in rows[name] for k in row))
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows[name]])
        result = import_raw(wh, [from_arrow(f"test:{name}", table)], table=canonical(name))
        rejects = [r for f in result.files for r in f.rejects]
        assert not rejects, rejects


def contact_attributes(wh: Warehouse, attributes: dict[str, dict[str, Any]]) -> None:
    """Set contact columns (segment, country, owner, ...) of contacts already loaded (by
    `journeys_for`): their rows are imported again, an upsert by contact_id, keeping
    created_at."""
    ids = list(attributes)
    found = dict(
        wh.con.execute(
            "SELECT contact_id, created_at FROM contacts WHERE contact_id = ANY($ids)",
            {"ids": ids},
        ).fetchall()
    )
    assert set(found) == set(ids), f"unknown contacts: {set(ids) - set(found)}"
    load_rows(
        wh,
        {
            "contacts": [
                {"contact_id": c, "created_at": found[c], **attrs}
                for c, attrs in attributes.items()
            ]
        },
    )


def opportunity_stages(wh: Warehouse, stages: dict[str, list[tuple[str, str]]]) -> None:
    """Load opportunity_stage_events: {"alice-o2": [("discovery", "2024-01-06"), ...]} (the
    ids `journeys_for` gives deals: "<person>-o<index of the deal in the person's list>")."""
    load_rows(
        wh,
        {
            "opportunity_stage_events": [
                {"opportunity_id": opp, "stage": name, "ts": ts(at)}
                for opp, events in stages.items()
                for name, at in events
            ]
        },
    )
