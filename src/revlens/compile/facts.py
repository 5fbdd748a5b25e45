"""Facts about the data that queries may rely on to take a cheaper exact route, recorded
when the data changes (every import of touchpoints or identities) and trusted only while
the tables still hold the rows they were recorded on.

`stitched_touches`: the touches resolved to their contacts (anonymous ones through
`identities`) are stored in `_revlens_touches`, sorted by contact and time, so a query reads
them instead of joining 100M anonymous touches to the identities each time (about 7 s of
every attribution query at 10M contacts); and the contact's touches lie together, which
made gathering them into journeys 2.5x faster there. DuckDB warehouses only: a lake
(Spark) resolves touches as it reads them.

`touch_times`: whether any contact has two touches (stitched anonymous ones included) at
the same time as queries read it, wall-clock time in the reporting zone (two instants of
the hour repeated when clocks go back are one time there); taken in one zone, it says
nothing in another. Without such ties a touch's time alone orders a contact's touches, so the
first or last touch is an arg-min (arg-max) over the time, a fixed-size key the engine
aggregates cheaply, instead of a ranking by (time, touchpoint id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from revlens.compile.context import MARKETING_DIMS, STORED_TOUCHES, Context
from revlens.model.warehouse import Reader, Warehouse

TOUCH_TIMES = "touch_times"
STITCHED = "stitched_touches"
WATCHED = ("touchpoints", "identities")
"""The tables the touch facts are about: a change to either can move, stitch or tie touches."""


CHANGE_KEYS = {"touchpoints": "touchpoint_id", "identities": "anonymous_id"}
"""Per watched table, the column whose values say which stored touches a change affects."""
REBUILD_SHARE = 0.1
"""Past this share of the stored touches changed, they are stored again whole, in order."""


@dataclass(frozen=True)
class TouchChanges:
    """The touchpoints and identities an import writes, noted as it writes them (in temp
    tables), so that `record_touch_facts` updates the stored touches of those alone. Made
    by `track_touch_changes` only while the stored touches and the touch-times fact match
    the tables; `unique_before` is that fact's answer."""

    unique_before: bool

    def note(self, wh: Warehouse, table: str, written: str) -> None:
        """Note the rows of the engine table named `written` (quoted), just written to
        `table`."""
        if table in CHANGE_KEYS:
            key = CHANGE_KEYS[table]
            wh.con.execute(f"INSERT INTO __changed_{table} SELECT {key} FROM {written}")

    def close(self, wh: Warehouse) -> None:
        """Drop the notes (when the import is done with them)."""
        for table in (*CHANGE_KEYS, "restitched"):
            wh.con.execute(f"DROP TABLE IF EXISTS __changed_{table}")


def track_touch_changes(wh: Warehouse) -> TouchChanges | None:
    """Start noting an import's changes, when the stored touches are current (else the
    import stores them again whole)."""
    facts = touch_facts(wh)
    if facts.times is None or not facts.stored:
        return None
    for table, key in CHANGE_KEYS.items():
        wh.con.execute(f"CREATE OR REPLACE TEMP TABLE __changed_{table} ({key} VARCHAR)")
    return TouchChanges(unique_before=facts.times_unique)


def record_touch_facts(wh: Warehouse, changes: TouchChanges | None = None) -> dict[str, Any]:
    """Store the stitched touches and check them for ties, with the row counts they were
    taken on (inside the caller's transaction, when there is one). With `changes`, only
    the touches they affect are stored again, and only their contacts checked for ties
    (unless ties existed before). Returns the touch-times fact."""
    rows = _rows(wh)
    affected = _update_stitched(wh) if changes is not None else None
    if affected is None:
        _store_stitched(wh)
    wh.record_fact(STITCHED, {"rows": rows, "columns": list(MARKETING_DIMS)})
    # without ties before, only the contacts of changed touches can have one now
    unique = not _has_ties(wh, among=affected if changes and changes.unique_before else None)
    fact = {"unique": unique, "rows": rows, "zone": wh.settings().timezone}
    wh.record_fact(TOUCH_TIMES, fact)
    return fact


def _update_stitched(wh: Warehouse) -> Any | None:
    """Store again the touches an import changed (noted by `TouchChanges`): the touchpoints
    written, and the anonymous touches of the identities written. They are appended, out
    of order. Returns the contacts they now belong to (an Ibis table), or None when too
    many changed: then nothing is done and the caller stores all touches again, in order."""
    wh.con.execute(
        """CREATE OR REPLACE TEMP TABLE __changed_restitched AS
        SELECT touchpoint_id FROM __changed_touchpoints
        UNION
        SELECT touchpoint_id FROM main.touchpoints
        WHERE contact_id IS NULL
          AND anonymous_id IN (SELECT anonymous_id FROM __changed_identities)"""
    )
    changed = wh.ibis.table("__changed_restitched")
    stored = wh.ibis.table(STORED_TOUCHES)
    if int(changed.count().execute()) > REBUILD_SHARE * int(stored.count().execute()):
        return None
    wh.con.execute(
        f"DELETE FROM {STORED_TOUCHES} "
        "WHERE touchpoint_id IN (SELECT touchpoint_id FROM __changed_restitched)"
    )
    tp = wh.ibis.table("touchpoints")
    ctx = Context(wh, local=False)  # stored as the touchpoints are: naive UTC
    touches = ctx.stitch_touches(MARKETING_DIMS, tp.semi_join(changed, "touchpoint_id"))
    columns = ", ".join(touches.columns)
    sql = wh.ibis.compile(touches.order_by(["contact_id", "ts"]))
    wh.con.execute(f"INSERT INTO {STORED_TOUCHES} ({columns}) {sql}")
    return touches.select("contact_id").distinct()


def _store_stitched(wh: Warehouse) -> None:
    """`_revlens_touches`: every touch with a contact (`Context.stitch_touches`), with all
    marketing dimensions, in (contact, time) order: a contact's touches together (ties are
    broken by the queries; the id as a third key cost 24 s more at 10M contacts)."""
    touches = Context(wh, local=False).stitch_touches(MARKETING_DIMS)  # naive UTC
    ordered = touches.order_by(["contact_id", "ts"])
    # an ORDER BY orders the stored rows whatever preserve_insertion_order says
    wh.con.execute(f"CREATE OR REPLACE TABLE {STORED_TOUCHES} AS {wh.ibis.compile(ordered)}")


@dataclass(frozen=True)
class TouchFacts:
    """What the recorded touch facts say of the tables as they are now: `times`, the
    touch-times fact if it was taken on the rows the tables hold, in the reporting zone
    (else None); `stored`, whether `_revlens_touches` holds the touches of those rows, with
    the marketing dimensions this revlens reads."""

    times: dict[str, Any] | None
    stored: bool

    @property
    def times_unique(self) -> bool:
        """True when a current fact says no contact has two touches at one instant; False
        when some do, or nobody knows (then queries rank by time and touchpoint id)."""
        return self.times is not None and self.times.get("unique") is True


def touch_facts(reader: Reader) -> TouchFacts:
    """Both facts, checked against the tables' row counts (taken once)."""
    rows = _rows(reader)
    times, stitched = reader.fact(TOUCH_TIMES), reader.fact(STITCHED)
    return TouchFacts(
        times=(
            times
            if isinstance(times, dict)
            and times.get("rows") == rows
            and times.get("zone", "UTC") == reader.settings().timezone
            else None
        ),
        stored=(
            isinstance(stitched, dict)
            and stitched.get("columns") == list(MARKETING_DIMS)
            and stitched.get("rows") == rows
            and STORED_TOUCHES in reader.ibis.list_tables()  # not dropped by other means
        ),
    )


def current_touch_times(reader: Reader) -> dict[str, Any] | None:
    """The recorded touch-times fact, if it was taken on the rows the tables hold now."""
    return touch_facts(reader).times


def touch_times_unique(reader: Reader) -> bool:
    """See `TouchFacts.times_unique`."""
    return touch_facts(reader).times_unique


def stitched_touches_current(reader: Reader) -> bool:
    """Whether `_revlens_touches` holds the touches of the rows the tables hold now."""
    return touch_facts(reader).stored


def ensure_touch_facts(wh: Warehouse) -> dict[str, Any]:
    """The current touch-times fact, with the stitched touches, recorded now if either is
    missing or out of date (a warehouse built before revlens recorded them, or written to by
    other means than an import)."""
    facts = touch_facts(wh)
    if facts.times is not None and facts.stored:
        return facts.times
    return record_touch_facts(wh)


def _has_ties(reader: Reader, among: Any = None) -> bool:
    """Whether any contact (of the table `among`, when given) has two touches at one
    instant."""
    touches = Context(reader).touches([])
    if among is not None:
        touches = touches.semi_join(among, "contact_id")
    per_instant = touches.group_by(["contact_id", "ts"]).aggregate(n=touches.count())
    return bool(per_instant.filter(per_instant.n > 1).count().execute() > 0)


def _rows(reader: Reader) -> dict[str, int]:
    con = reader.ibis
    return {name: int(con.table(name).count().execute()) for name in WATCHED}
