"""Prototype, for the benchmark only (patched in at run time by the `revlens_proto` task;
src/ is not changed): KPIs by a marketing dimension with the first-touch work done once
per query instead of once per measure.

What revlens does (src/revlens/compile/context.py, query.py, measures.py):
  * each event measure is its own query, and each one that needs a first-touch dimension
    (leads, mqls, sqls, opportunities, customers, revenue, won_deals, closed_deals in the
    core subset) runs its own range join of its events against every resolved touchpoint
    (`Context.touch_dims`), ranks the pairs with a ROW_NUMBER() window and joins the
    winners back on (contact_id, ts): eight scans and joins of the touchpoints;
  * `contact_touches()` is materialised (`.cache()`) with all five marketing dimensions
    (channel, source, medium, campaign, ad), whichever dimension the query asks for;
  * the session measures resolve each session's contact through identities even when
    no contact dimension is asked for (a marketing dimension is the session's own).

What the prototype does instead:
  1. batch: before any measure runs, every summed event measure that needs first-touch
     dimensions is put into ONE query: their events tagged with the measure name, UNION
     ALL, one range join against the touchpoints, FIRST(dims ORDER BY ts, touchpoint_id)
     per event row, then GROUP BY (measure, bucket, dimensions). The per-measure results
     are stored where `_Evaluator.measure` finds them. Other measures (distinct counts,
     distributions, snapshots, cohorts, comparisons) take the usual path;
  2. the touchpoints are resolved with only the dimensions the query groups by, and are
     not materialised (one query reads them once);
  3. first touch as an ordered aggregate per event row, no window and no join back
     (also for the measures outside the batch);
  4. the session measures skip the identities join when no contact dimension is asked for;
  5. the stage dates are one MIN over the lifecycle events' UNION ALL, materialised once
     (revlens materialises the DISTINCT lifecycle events first, then the stage dates).
The values are identical (run.py checks every one against hand SQL and pandas).

Only the first-touch model is batched; last-touch and linear are left to revlens.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import ibis
import ibis.expr.operations as ibis_ops

from revlens.catalog.spec import Kind
from revlens.compile import measures as M
from revlens.compile import query as Q
from revlens.compile.context import CONTACT_DIMS, MARKETING_DIMS, Context, union_all
from revlens.compile.periods import bucket_expr

_ORIGINAL: dict[str, Any] = {}
DIMS = "proto_dims"  # ctx._cache: the marketing dimensions the query groups by
CONTACT = "proto_contact_dims"  # ctx._cache: whether a contact dimension is asked for
SESSION_MEASURES = ("sessions", "bounced_sessions", "pageviews", "social_sessions")


def _dims(ctx: Context) -> list[str]:
    dims: list[str] = ctx._cache.get(DIMS) or list(MARKETING_DIMS)
    return dims


def contact_touches(self: Context) -> Any:
    """Resolved touchpoints with only the marketing dimensions asked for; not cached."""
    dims = _dims(self)
    tp = self.table("touchpoints")
    ids = self.table("identities").select(id_anon="anonymous_id", id_contact="contact_id")
    cols = ["touchpoint_id", "contact_id", "ts", *dims]
    direct = tp.filter(tp.contact_id.notnull()).select(*cols)
    anon = tp.filter(tp.contact_id.isnull() & tp.anonymous_id.notnull())
    stitched = anon.join(ids, anon.anonymous_id == ids.id_anon).select(
        "touchpoint_id", "ts", *dims, contact_id="id_contact"
    )
    return union_all(direct, stitched.select(*cols))


def _touches(ctx: Context) -> Any:
    t = contact_touches(ctx)
    return t.select(
        t_contact="contact_id",
        t_ts="ts",
        t_id="touchpoint_id",
        **{f"t_{d}": d for d in _dims(ctx)},
    )


def _chosen(ctx: Context, pairs: Any, which: str) -> Any:
    """FIRST(struct of dims ORDER BY touch time, touch id), or the last touch."""
    if which == "first":
        order = [pairs.t_ts, pairs.t_id]
    else:
        order = [ibis.desc(pairs.t_ts), ibis.desc(pairs.t_id)]
    return ibis.struct({d: pairs[f"t_{d}"] for d in _dims(ctx)}).first(order_by=order)


def _in_window(ctx: Context, events: Any, t: Any) -> Any:
    lookback = ibis.interval(days=ctx.lookback_days)
    return (
        (events.contact_id == t.t_contact)
        & (t.t_ts <= events.ts)
        & (t.t_ts >= events.ts - lookback)
    )


def _with_nulls(ctx: Context, table: Any, struct: str) -> dict[str, Any]:
    dims = _dims(ctx)
    out = {d: table[struct][d] for d in dims}
    out.update({d: ibis.null().cast("string") for d in MARKETING_DIMS if d not in dims})
    return out


def touch_dims(self: Context, events: Any, which: str = "first") -> Any:
    """`events` plus the marketing dimensions of the contact's first (or last) touch in the
    lookback window (null when none): an ordered aggregate per distinct (contact_id, ts),
    joined back on it (no window function)."""
    moments = events.select("contact_id", "ts").distinct()
    t = _touches(self)
    pairs = moments.join(t, _in_window(self, moments, t))
    found = pairs.group_by(["contact_id", "ts"]).aggregate(_ft=_chosen(self, pairs, which))
    found = found.select(f_contact="contact_id", f_ts="ts", _ft="_ft")
    keep = [c for c in events.columns if c not in MARKETING_DIMS]
    base = events.select(*keep)
    joined = base.left_join(found, (base.contact_id == found.f_contact) & (base.ts == found.f_ts))
    return joined.select(*keep, **_with_nulls(self, joined, "_ft"))


def _rows_first_touch(ctx: Context, events: Any) -> Any:
    """`events` (few columns) plus first-touch dimensions, per event row: one range join,
    one GROUP BY row with FIRST(dims ORDER BY ...); the other columns ride along."""
    keep = list(events.columns)
    keyed = events.mutate(_rid=ibis.row_number())
    t = _touches(ctx)
    pairs = keyed.left_join(t, _in_window(ctx, keyed, t))
    agg = pairs.group_by("_rid").aggregate(
        _ft=_chosen(ctx, pairs, "first"), **{c: pairs[c].arbitrary() for c in keep}
    )
    return agg.select(*keep, **_with_nulls(ctx, agg, "_ft"))


def _build_stage_dates(self: Context) -> Any:
    """First date per (contact, stage), straight from the lifecycle events' UNION ALL: the
    DISTINCT of `lifecycle_events()` and its own materialisation are not needed for a MIN."""
    events = self._build_lifecycle_events()
    op = events.op()
    if isinstance(op, ibis_ops.Distinct):
        events = op.parent.to_expr()
    return events.group_by(["contact_id", "stage"]).aggregate(ts=events.ts.min())


def _session_build(name: str) -> Any:
    original = M.MEASURES[name].build

    def build(ctx: Context, p: dict[str, float]) -> Any:
        if ctx._cache.get(CONTACT, True):
            return original(ctx, p)
        tp = ctx.table("touchpoints")
        s = tp.filter(tp.touch_type == "session")
        s = s.mutate(resolved=ibis.null().cast("string"))  # no contact dimension asked for
        if name == "bounced_sessions":
            s = s.filter(s.is_bounce.fill_null(False))
        elif name == "social_sessions":
            s = s.filter(s.channel.lower().contains("social"))
        value = s.pageviews.fill_null(0) if name == "pageviews" else 1.0
        return M._session_events(s, value)

    return build


def _needed(ev: Any, name: str, params: dict[str, float], out: dict[str, Any]) -> None:
    """The measures (with merged params, as `_Evaluator.measure` keys them) that a KPI or
    measure name needs, recursively."""
    measure_name, spec = ev.resolve(name)
    if measure_name:
        merged = {**(spec.params if spec else {}), **params}
        out[measure_name] = {**M.MEASURES[measure_name].defaults, **merged}
        return
    f = spec.formula
    if spec.kind is Kind.ratio:
        names = [f.numerator, f.denominator]
    elif spec.kind is Kind.derived:
        names = Q._names(f.expression)
    else:  # snapshot or distribution KPI: its measure (often of the same name)
        merged = {**spec.params, **params}
        out[f.measure] = {**M.MEASURES[f.measure].defaults, **merged}
        return
    for n in names:
        _needed(ev, n, spec.params, out)


def _batch(ev: Any, specs: list[Any]) -> None:
    """Aggregate every summed event measure that needs first-touch dimensions in one query
    and store the results in the evaluator's measure cache."""
    ctx, query = ev.ctx, ev.query
    base = query.base_dims()
    wanted = [d for d in MARKETING_DIMS if d in base]
    if (
        not wanted
        or query.mode != "period"
        or getattr(query, "attribution", "first_touch") != ("first_touch")
    ):
        return
    needed: dict[str, Any] = {}
    for spec in specs:
        _needed(ev, spec.id, {}, needed)
    lo = ibis.timestamp(dt.datetime.combine(ev.start, dt.time()))
    hi = ibis.timestamp(dt.datetime.combine(ev.end + dt.timedelta(days=1), dt.time()))
    parts, keys = [], {}
    for name, params in needed.items():
        m = M.MEASURES[name]
        key = (name, tuple(sorted(params.items())))
        if (
            key in ev.measures
            or m.style != "event"
            or m.distinct
            or m.per_entity
            or any(d in m.direct for d in base)  # every measure of the batch takes all
            or not any(d not in m.direct for d in wanted)  # needs no first touch
        ):
            continue
        e = m.build(ctx, params)
        e = e.filter((e.ts >= lo) & (e.ts < hi))
        parts.append(e.select("ts", "value", "contact_id", _m=ibis.literal(name)))
        keys[name] = key
    if len(parts) < 2:
        return
    events = _rows_first_touch(ctx, union_all(*parts))
    stub = dataclasses.replace(M.MEASURES["leads"], direct=frozenset(MARKETING_DIMS))
    events = ev._with_dims(events, stub)  # contact dimensions and groupings, if any
    events = events.mutate(bucket=bucket_expr(events.ts, query.grain, ev.cal, ev.start))
    by = list(query.by)
    df = events.group_by(["_m", "bucket", *by]).aggregate(value=events.value.sum()).execute()
    values: dict[str, dict[Any, float | None]] = {name: {} for name in keys}
    for r in df.to_dict("records"):
        period = ev.by_bucket.get(Q._date(r["bucket"]))
        if period is not None:
            dims_key = tuple(Q._dim(r[d]) for d in by)
            values[r["_m"]][(period.start, dims_key)] = Q._num(r["value"])
    for name, key in keys.items():
        ev.measures[key] = Q._Agg(values[name], {})


def rows(self: Any, specs: list[Any]) -> list[dict[str, Any]]:
    base = self.query.base_dims()
    self.ctx._cache[DIMS] = [d for d in MARKETING_DIMS if d in base]
    self.ctx._cache[CONTACT] = any(d in CONTACT_DIMS or d == "product" for d in base)
    _batch(self, specs)
    return _ORIGINAL["rows"](self, specs)  # type: ignore[no-any-return]


def install() -> None:
    """Patch the prototype into revlens, for this process only."""
    if _ORIGINAL:
        return
    _ORIGINAL.update(touch_dims=Context.touch_dims, rows=Q._Evaluator.rows)
    Context.touch_dims = touch_dims  # type: ignore[method-assign]
    Context.contact_touches = contact_touches  # type: ignore[method-assign]
    if hasattr(Context, "_build_lifecycle_events"):
        Context._build_stage_dates = _build_stage_dates  # type: ignore[method-assign]
    Q._Evaluator.rows = rows  # type: ignore[method-assign]
    for name in SESSION_MEASURES:
        M.MEASURES[name] = dataclasses.replace(M.MEASURES[name], build=_session_build(name))
