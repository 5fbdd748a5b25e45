"""Journeys from the warehouse: for each conversion in the range (a lifecycle stage, an
opportunity created for pipeline, a won deal for revenue), the contact's touchpoints (with
stitched anonymous ones) inside the lookback window before it, in time order, with the
touches that created the lead, the opportunity and the customer marked; and the
non-converting journeys of contacts touched in the range, which the data-driven models need.

Everything up to the journeys is Ibis in the engine: touches are ordered and gathered per
conversion there, and identical journeys are counted there when no model needs timestamps,
so only distinct paths come back to Python.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.operations as ops
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from revlens.attribution.journeys import Journey, JourneyTable, numpy_view
from revlens.compile.context import Context
from revlens.engines import collect_non_null
from revlens.errors import RevlensError
from revlens.model.warehouse import Reader

Conversion = Literal["lead", "mql", "sql", "opportunity", "customer", "pipeline", "revenue"]
CONVERSIONS: tuple[str, ...] = (
    "lead",
    "mql",
    "sql",
    "opportunity",
    "customer",
    "pipeline",
    "revenue",
)
LEVELS = ("channel", "source", "medium", "campaign", "ad")
TIMED_MODELS = {"time_decay"}
PART_TOUCHES = 20_000_000
"""Touches of non-converting journeys gathered per query as structs, at most (see
_non_converting; `PackedOrder` gathers three times as many)."""
MILESTONE_MODELS = {"w_shaped", "full_path"}
BUCKETS = 1024
"""Contacts are hashed into this many buckets; the parts of _non_converting are sets of them."""


def conversions(ctx: Context, kind: str, lo: Any, hi: Any) -> Any:
    """(conv_id, contact_id, conv_ts, value) of the conversions in [lo, hi)."""
    if kind in ("pipeline", "revenue"):
        o = ctx.money(ctx.table("opportunities"), amount="amount", date="created_at")
        o = o.filter(o.contact_id.notnull())
        if kind == "revenue":
            o = o.filter(o.is_won.fill_null(False) & o.closed_at.notnull())
            ts = o.closed_at
        else:
            ts = o.created_at
        return o.filter((ts >= lo) & (ts < hi)).select(
            conv_id=o.opportunity_id, contact_id=o.contact_id, conv_ts=ts, value=o.amount_rc
        )
    reached = ctx.stage_reached(ctx.stage(kind))
    s = reached.filter((reached.ts >= lo) & (reached.ts < hi))
    return s.select(
        conv_id=s.contact_id, contact_id=s.contact_id, conv_ts=s.ts, value=ibis.literal(0.0)
    )


def warehouse_journeys(
    wh: Reader,
    conversion: str,
    *,
    start: dt.date,
    end: dt.date,
    level: str = "channel",
    lookback_days: int = 90,
    timed: bool = False,
) -> JourneyTable:
    """The journeys of `conversion` in [start, end] (inclusive), at `level`. With `timed`,
    one journey per conversion with the days before it and the milestone touches; else
    identical paths are counted together in the engine."""
    if conversion not in CONVERSIONS:
        from revlens.errors import UnknownName

        raise UnknownName("conversion", conversion, CONVERSIONS)
    if level not in LEVELS:
        from revlens.errors import UnknownName

        raise UnknownName("level", level, LEVELS)
    ctx = Context(wh, lookback_days=lookback_days)
    cached = None
    try:
        lo = ibis.timestamp(dt.datetime.combine(start, dt.time()))
        hi = ibis.timestamp(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        if timed:  # the milestones read every stage's dates: build them once, first
            ctx.stage_dates()
        conv = conversions(ctx, conversion, lo, hi)
        if conversion not in ("pipeline", "revenue"):
            # a stage's first dates (a MIN over its lifecycle events), read up to 2 + parts
            # times: built once. (Deals are a filter of opportunities, and their money
            # conversion holds in-memory rate tables that Ibis on Spark cannot cache.)
            conv = cached = conv.cache()
        return journeys_of(ctx, conv, lo, hi, level=level, timed=timed)
    finally:
        if cached is not None:
            cached.release()
        ctx.release()


def journeys_of(
    ctx: Context, conv: Any, lo: Any, hi: Any, *, level: str = "channel", timed: bool = False
) -> JourneyTable:
    """The journeys of the conversions `conv` (conv_id, contact_id, conv_ts, value), with
    the touches inside `ctx`'s lookback before each, and the non-converting journeys of the
    contacts touched in [lo, hi). The KPI engine fits data-driven models on these too."""
    codes = ctx.cached(f"journey_label_codes:{level}", lambda: _label_codes(ctx, level))
    names = [str(v) for v in codes.order_by("code").to_pyarrow()["c_label"].to_pylist()]
    if ctx.stored_touches_current:  # already stitched and in order: streamed, not copied
        touches = _labelled_touches(ctx, level, codes)
    else:
        touches = ctx.cached(
            f"journey_touches:{level}", lambda: _labelled_touches(ctx, level, codes)
        )
    window = ibis.interval(days=ctx.lookback_days)
    pairs = conv.join(
        touches,
        (conv.contact_id == touches.t_contact)
        & (touches.t_ts <= conv.conv_ts)
        & (touches.t_ts >= conv.conv_ts - window),
    )
    conv_keys = ["conv_id", "contact_id", "conv_ts", "value"]
    order = StructOrder() if timed else _touch_order(ctx, lo, hi, len(names))
    if timed:  # the days before the conversion and the milestones' touches, per touch
        marks = milestones(ctx)
        pairs = pairs.left_join(marks, pairs.contact_id == marks.m_contact)
        days = (pairs.conv_ts.epoch_seconds() - pairs.t_ts.epoch_seconds()) / 86400.0
        gathered = pairs.group_by(conv_keys).aggregate(
            steps=_step(pairs, days=days).collect(),
            # a milestone's touch: the last touch at or before it (its index, 0-based)
            lead_i=(pairs.t_ts <= pairs.m_lead).sum() - 1,
            opp_i=(pairs.t_ts <= pairs.m_opp).sum() - 1,
        )
        in_order = gathered.steps.sort()
        gathered = gathered.mutate(
            path=in_order.map(lambda step: step.code),
            days=in_order.map(lambda step: step.days),
        ).drop("steps")
    else:
        # a touch's time measured from the start of its conversion's window
        steps = order.collect(pairs, since=pairs.conv_ts - window)
        gathered = pairs.group_by(conv_keys).aggregate(steps=steps)
        gathered = gathered.mutate(path=order.codes(gathered.steps.sort()))
    converted = conv.anti_join(gathered, "conv_id").select(
        path=ibis.literal([], type="array<int32>"), value=conv.value
    )
    parts = _non_converting(touches, conv, lo, hi, order)
    if timed:
        rows = gathered.to_pyarrow().to_pylist()
        empty = converted.to_pyarrow().to_pylist()
        null_rows = [r for nulls in parts for r in nulls.to_pyarrow().to_pylist()]
        return JourneyTable.build(_timed(rows, empty, null_rows, names))
    paths = gathered.select(path=gathered.path, value=gathered.value)
    agg = ibis.union(paths, converted, distinct=False)
    grouped = agg.group_by("path").aggregate(
        conversions=agg.count().cast("float64"),
        nulls=ibis.literal(0.0),
        value=agg.value.sum().cast("float64"),
    )
    counted = [grouped.to_pyarrow()]
    for nulls in parts:  # identical paths counted per part (and summed over the parts below)
        null_agg = nulls.group_by("path").aggregate(
            conversions=ibis.literal(0.0),
            nulls=nulls.count().cast("float64"),
            value=ibis.literal(0.0),
        )
        counted.append(null_agg.to_pyarrow())
    return _table_of_paths(pa.concat_tables(counted, promote_options="permissive"), names)


def _table_of_paths(counted: pa.Table, names: list[str]) -> JourneyTable:
    """The engine's distinct paths (lists of label codes) with their counts, as a journey
    table (no Journey objects: a million paths are a few arrays). Value is never negative
    or missing."""
    path = counted["path"].combine_chunks()
    touch = pc.list_flatten(path).cast(pa.int32())
    length = pc.fill_null(pc.list_value_length(path), 0).cast(pa.int64())
    value = np.nan_to_num(counted["value"].to_numpy(), nan=0.0)
    return JourneyTable.from_arrays(
        names,
        numpy_view(touch, np.int32),
        numpy_view(length, np.int64),
        conversions=counted["conversions"].to_numpy(),
        nulls=counted["nulls"].to_numpy(),
        value=np.maximum(value, 0.0),
    )


def _label_codes(ctx: Context, level: str) -> Any:
    """(c_label, code) of every `level` value of the touchpoints, numbered 0, 1, ... in
    their order: touches are gathered as these numbers (small integers sort and group faster
    in the engine than names). Built in the engine, as a table both engines can join."""
    tp = ctx.table("touchpoints")  # every value, stitched to a contact or not: one scan
    labels = tp.filter(tp[level].notnull()).select(c_label=tp[level]).distinct()
    return labels.mutate(code=ibis.dense_rank().over(order_by=labels.c_label).cast("int32"))


def _labelled_touches(ctx: Context, level: str, codes: Any) -> Any:
    """(t_contact, t_ts, t_id, code) of the touches with a `level` value, `code` its number
    in `codes` (see `_label_codes`): only the one dimension the journeys need (materialised
    once when stitched by the query: journeys scan it twice), not all five of
    `contact_touches()`. Without t_id when
    touch times are unique per contact (`Context.touch_times_unique`): the id only breaks
    ties, and carrying it was half the cost of materialising 53M touches at 10M contacts."""
    touches = ctx.touches([level])
    coded = touches.join(codes, touches[level] == codes.c_label)
    tie_break = {} if ctx.touch_times_unique else {"t_id": coded.touchpoint_id}
    return coded.select(
        t_contact="contact_id",
        t_ts="ts",
        **tie_break,
        code="code",
        # the contact's bucket for gathering in parts (hashed once here, not once per part)
        bucket=(((coded.contact_id.hash() % BUCKETS) + BUCKETS) % BUCKETS).cast("int16"),
    )


def milestones(ctx: Context) -> Any:
    """Per contact: its lead date and its first opportunity date."""
    sd = ctx.stage_dates()
    lead = sd.filter(sd.stage == ctx.stage("lead")).select(m_contact="contact_id", m_lead="ts")
    opp = sd.filter(sd.stage == ctx.stage("opportunity")).select(o_contact="contact_id", m_opp="ts")
    joined = lead.outer_join(opp, lead.m_contact == opp.o_contact)
    return joined.select(
        m_contact=ibis.coalesce(joined.m_contact, joined.o_contact),
        m_lead=joined.m_lead,
        m_opp=joined.m_opp,
    )


def _non_converting(touches: Any, conv: Any, lo: Any, hi: Any, order: StructOrder) -> list[Any]:
    """Contacts touched in the range that did not convert in it: their touches of the
    range, in order, as one journey each. In parts (contacts split by their bucket)
    when the range holds more than PART_TOUCHES touches: gathering every contact's touches
    into lists is a hash aggregate the engine cannot spill (DuckDB ran out of its 6GB at
    10M contacts, 127M touches), and each part needs only its share of the memory."""
    inside = touches.filter((touches.t_ts >= lo) & (touches.t_ts < hi))
    rest = inside.anti_join(conv.select("contact_id"), inside.t_contact == conv.contact_id)
    count = int(inside.count().execute())
    n = min(BUCKETS, max(1, math.ceil(count / order.part_touches)))
    parts = []
    for k in range(n):
        part = rest if n == 1 else rest.filter(rest.bucket % n == k)
        grouped = part.group_by("t_contact").aggregate(steps=order.collect(part, since=lo))
        parts.append(grouped.select("t_contact", path=order.codes(grouped.steps.sort())))
    return parts


class StructOrder:
    """Touches gathered as `_step` structs, sorted by (time, id), then reduced to codes."""

    part_touches = PART_TOUCHES

    def collect(self, touches: Any, since: Any) -> Any:
        """The touches' steps as a list (`since`: no touch of the list is earlier)."""
        return _step(touches).collect()

    def codes(self, steps: Any) -> Any:
        return steps.map(lambda step: step.code)


@dataclass(frozen=True)
class PackedOrder(StructOrder):
    """Touches gathered as one integer each, the microseconds since the start of their
    window times `n_codes` plus the code: sorting integers is what the engine does fastest
    (10M contacts' 50M touches: 6.5 s against 10.9 s as structs in DuckDB), and the
    remainder is the code. Exact while time alone orders the touches and keys fit 63 bits
    (`_touch_order`)."""

    n_codes: int
    backend: Any
    part_touches = 3 * PART_TOUCHES  # 8 bytes a touch: a third of a struct's

    def collect(self, touches: Any, since: Any) -> Any:
        micros = touches.t_ts.delta(since, unit="microsecond").cast("int64")
        key = micros * self.n_codes + touches.code.cast("int64")
        return collect_non_null(key, self.backend)  # never null: times and codes are set

    def codes(self, steps: Any) -> Any:
        return steps.map(lambda key: (key % self.n_codes).cast("int32"))


def _touch_order(ctx: Context, lo: Any, hi: Any, n_codes: int) -> StructOrder:
    """Packed integers when time alone orders the touches (`Context.touch_times_unique`:
    no touchpoint id is carried, see `_labelled_touches`) and every key fits 63 bits: a
    converted journey's touches lie within the lookback window, a non-converting one's in
    [lo, hi) (literal timestamps, as the callers build them); else structs."""
    first, end = (v.op().value if isinstance(v.op(), ops.Literal) else None for v in (lo, hi))
    if not ctx.touch_times_unique or not n_codes or first is None or end is None:
        return StructOrder()
    widest = max(end - first, dt.timedelta(days=ctx.lookback_days))
    span = widest // dt.timedelta(microseconds=1) + 1
    return PackedOrder(n_codes, ctx.con) if span * n_codes < 1 << 62 else StructOrder()


def _step(touches: Any, **extra: Any) -> Any:
    """One touch as a struct whose natural order is the touch order (time, then id, when
    there is one): a collected array of them is sorted in the engine, as Spark has no
    ordered aggregates."""
    tie_break = {"id": touches.t_id} if "t_id" in touches.columns else {}
    return ibis.struct({"ts": touches.t_ts, **tie_break, "code": touches.code, **extra})


def _timed(
    rows: list[dict[str, Any]],
    empty: list[dict[str, Any]],
    nulls: list[dict[str, Any]],
    names: list[str],
) -> list[Journey]:
    out = []
    for r in rows:
        n = len(r["path"])
        lead = r["lead_i"] if r["lead_i"] is not None and 0 <= r["lead_i"] < n else None
        opp = r["opp_i"] if r["opp_i"] is not None and 0 <= r["opp_i"] < n else None
        out.append(
            Journey(
                channels=tuple(names[c] for c in r["path"]),
                value=max(0.0, float(r["value"] or 0)),
                days_before=tuple(max(0.0, float(d)) for d in r["days"]),
                lead_touch=lead,
                opportunity_touch=opp,
                close_touch=n - 1,
            )
        )
    out += [Journey(channels=(), value=max(0.0, float(r["value"] or 0))) for r in empty]
    out += [
        Journey(channels=tuple(names[c] for c in r["path"]), conversions=0, nulls=1) for r in nulls
    ]
    return out


def needs_timing(models: list[str]) -> bool:
    return bool(set(models) & (TIMED_MODELS | MILESTONE_MODELS))


def check_range(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise RevlensError(
            "--from is after --to", value=f"{start} > {end}", code="RL720", fix="swap the dates"
        )
