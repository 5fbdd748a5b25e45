"""The dashboard's filters: date range, grain, channel, campaign and segment, all kept in the
URL's query string so that a view can be shared, and the choices offered for each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from revlens.compile.measures import SALES_COST_CHANNEL
from revlens.compile.periods import Grain
from revlens.model.warehouse import Warehouse

# dimension -> the queries whose union lists its values; fixed text, no user input in SQL.
# Spend rows of the sales-cost channel are no marketing channel or campaign (the `spend`
# measure leaves them out), so they offer no choice here.
_MARKETING_SPEND = f"spend WHERE channel <> '{SALES_COST_CHANNEL}'"
_OPTION_SQL = {
    "channel": f"SELECT channel FROM touchpoints UNION SELECT channel FROM {_MARKETING_SPEND}",
    "campaign": f"SELECT campaign FROM touchpoints UNION SELECT campaign FROM {_MARKETING_SPEND}",
    "segment": "SELECT segment FROM contacts",
}
GRAINS = tuple(g.value for g in Grain)
# the URL names of the filters every page shares, in the order the form shows them
FILTER_KEYS = ("from", "to", "grain", "channel", "campaign", "segment")


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@dataclass(frozen=True)
class PageFilters:
    """The shared filters as typed in the URL; parsing and checking is the service's job,
    so a bad value gives the same error here as in the API."""

    start: str | None = None
    end: str | None = None
    grain: str | None = None
    channel: str | None = None
    campaign: str | None = None
    segment: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PageFilters:
        return cls(
            start=_text(query.get("from")),
            end=_text(query.get("to")),
            grain=_text(query.get("grain")),
            channel=_text(query.get("channel")),
            campaign=_text(query.get("campaign")),
            segment=_text(query.get("segment")),
        )

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (only those given)."""
        names = dict(zip((f.name for f in fields(self)), FILTER_KEYS, strict=True))
        return {names[k]: v for k, v in vars(self).items() if v}

    def dimensions(self) -> dict[str, str]:
        """The one-value dimension filters, as kpi_query/funnel_query take them."""
        values = {"channel": self.channel, "campaign": self.campaign, "segment": self.segment}
        return {k: v for k, v in values.items() if v}

    def any_dimension(self) -> bool:
        return bool(self.dimensions())


def url(path: str, params: Mapping[str, Any] | None = None) -> str:
    """`path?query` with the parameters that have a value, in the given order."""
    given = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
    return f"{path}?{urlencode(given)}" if given else path


def filter_options(wh: Warehouse, current: PageFilters) -> dict[str, list[str]]:
    """The values each dimension filter can take, from the data (plus the current value, so
    a shared URL with a value absent here still shows what it asks for)."""
    out: dict[str, list[str]] = {}
    for dim, sql in _OPTION_SQL.items():
        rows = wh.con.execute(
            f"SELECT DISTINCT v FROM ({sql}) AS t(v) WHERE v IS NOT NULL"
        ).fetchall()
        values = sorted({str(r[0]) for r in rows})
        chosen = getattr(current, dim)
        if chosen and chosen not in values:
            values.append(chosen)
        out[dim] = values
    return out
