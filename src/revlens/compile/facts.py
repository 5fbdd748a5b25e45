"""Facts about the data that queries may rely on to take a cheaper exact route, recorded
when the data changes (every import of touchpoints or identities) and trusted only while
the tables still hold the rows they were recorded on.

`touch_times`: whether any contact has two touches (stitched anonymous ones included) at
the same instant. Without such ties a touch's time alone orders a contact's touches, so the
first or last touch is an arg-min (arg-max) over the time, a fixed-size key the engine
aggregates cheaply, instead of a ranking by (time, touchpoint id).
"""

from __future__ import annotations

from typing import Any

from revlens.compile.context import Context
from revlens.model.warehouse import Reader, Warehouse

TOUCH_TIMES = "touch_times"
WATCHED = ("touchpoints", "identities")
"""The tables a touch-times fact is about: a change to either can make or break a tie."""


def record_touch_times(wh: Warehouse) -> dict[str, Any]:
    """Check the warehouse's touches for ties and store the answer with the row counts it
    was taken on (inside the caller's transaction, when there is one)."""
    fact = {"unique": not _has_ties(wh), "rows": _rows(wh)}
    wh.record_fact(TOUCH_TIMES, fact)
    return fact


def current_touch_times(reader: Reader) -> dict[str, Any] | None:
    """The recorded touch-times fact, if it was taken on the rows the tables hold now."""
    fact = reader.fact(TOUCH_TIMES)
    if not isinstance(fact, dict) or fact.get("rows") != _rows(reader):
        return None
    return fact


def touch_times_unique(reader: Reader) -> bool:
    """True when a current fact says no contact has two touches at one instant; False when
    some do, or nobody knows (then queries take the ranking by time and touchpoint id)."""
    fact = current_touch_times(reader)
    return fact is not None and fact.get("unique") is True


def ensure_touch_times(wh: Warehouse) -> dict[str, Any]:
    """The current fact, recorded now if it is missing or out of date (a warehouse built
    before revlens recorded it, or written to by other means than an import)."""
    return current_touch_times(wh) or record_touch_times(wh)


def _has_ties(reader: Reader) -> bool:
    touches = Context(reader).touches([])
    per_instant = touches.group_by(["contact_id", "ts"]).aggregate(n=touches.count())
    return bool(per_instant.filter(per_instant.n > 1).count().execute() > 0)


def _rows(reader: Reader) -> dict[str, int]:
    con = reader.ibis
    return {name: int(con.table(name).count().execute()) for name in WATCHED}
