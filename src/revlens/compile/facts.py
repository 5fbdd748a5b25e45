"""Facts about the data that queries may rely on to take a cheaper exact route, recorded
when the data changes (every import of touchpoints or identities) and trusted only while
the tables still hold the rows they were recorded on.

`stitched_touches`: the touches resolved to their contacts (anonymous ones through
`identities`) are stored in `_revlens_touches`, sorted by contact and time, so a query reads
them instead of joining 100M anonymous touches to the identities each time (about 9 s of
every attribution query at 10M contacts); and the contact's touches lie together, which
made gathering them into journeys 2.5x faster there. DuckDB warehouses only: a lake
(Spark) resolves touches as it reads them.

`touch_times`: whether any contact has two touches (stitched anonymous ones included) at
the same instant. Without such ties a touch's time alone orders a contact's touches, so the
first or last touch is an arg-min (arg-max) over the time, a fixed-size key the engine
aggregates cheaply, instead of a ranking by (time, touchpoint id).
"""

from __future__ import annotations

from typing import Any

from revlens.compile.context import MARKETING_DIMS, STORED_TOUCHES, Context
from revlens.model.warehouse import Reader, Warehouse

TOUCH_TIMES = "touch_times"
STITCHED = "stitched_touches"
WATCHED = ("touchpoints", "identities")
"""The tables the touch facts are about: a change to either can move, stitch or tie touches."""


def record_touch_facts(wh: Warehouse) -> dict[str, Any]:
    """Store the stitched touches and check them for ties, with the row counts they were
    taken on (inside the caller's transaction, when there is one). Returns the touch-times
    fact."""
    rows = _rows(wh)
    _store_stitched(wh)
    wh.record_fact(STITCHED, {"rows": rows, "columns": list(MARKETING_DIMS)})
    fact = {"unique": not _has_ties(wh), "rows": rows}
    wh.record_fact(TOUCH_TIMES, fact)
    return fact


def _store_stitched(wh: Warehouse) -> None:
    """`_revlens_touches`: every touch with a contact (`Context.stitch_touches`), with all
    marketing dimensions, in (contact, time, touchpoint id) order."""
    touches = Context(wh).stitch_touches(MARKETING_DIMS)
    ordered = touches.order_by(["contact_id", "ts", "touchpoint_id"])
    sql = wh.ibis.compile(ordered)
    row = wh.con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    keep = bool(row[0]) if row else True
    wh.con.execute("SET preserve_insertion_order = true")  # the rows stay in that order
    try:
        wh.con.execute(f"CREATE OR REPLACE TABLE {STORED_TOUCHES} AS {sql}")
    finally:
        wh.con.execute(f"SET preserve_insertion_order = {'true' if keep else 'false'}")


def stitched_touches_current(reader: Reader) -> bool:
    """Whether `_revlens_touches` holds the touches of the rows the tables hold now, with
    the marketing dimensions this revlens reads."""
    fact = reader.fact(STITCHED)
    return (
        isinstance(fact, dict)
        and fact.get("columns") == list(MARKETING_DIMS)
        and fact.get("rows") == _rows(reader)
    )


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


def ensure_touch_facts(wh: Warehouse) -> dict[str, Any]:
    """The current touch-times fact, with the stitched touches, recorded now if either is
    missing or out of date (a warehouse built before revlens recorded them, or written to by
    other means than an import)."""
    fact = current_touch_times(wh)
    if fact is not None and stitched_touches_current(wh):
        return fact
    return record_touch_facts(wh)


def _has_ties(reader: Reader) -> bool:
    touches = Context(reader).touches([])
    per_instant = touches.group_by(["contact_id", "ts"]).aggregate(n=touches.count())
    return bool(per_instant.filter(per_instant.n > 1).count().execute() > 0)


def _rows(reader: Reader) -> dict[str, int]:
    con = reader.ibis
    return {name: int(con.table(name).count().execute()) for name in WATCHED}
