"""Stage funnels over lifecycle stages (contacts) or opportunity stages (deals).

Cohort mode follows each entity from its first entry into the first stage, within a
conversion window that may run past `--to`; period mode counts stage entries inside each
period (the seeds' definition). Ordered funnels need each stage at or after the previous one
(a tie in time counts as in order); strict funnels also forbid any other stage in between.
With `skips=pass` an entity that jumps over a stage (lead -> SQL without MQL) has passed it,
at the time of the later stage. Every step is an Ibis expression; only the aggregated rows
come back to Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
from pydantic import BaseModel, ConfigDict, model_validator

from revlens.catalog.dimensions import Grouping
from revlens.compile.context import CONTACT_DIMS, DIMENSIONS, MARKETING_DIMS, Context
from revlens.compile.filters import check_filters, keep_filtered, widened
from revlens.compile.periods import Calendar, Grain, bucket_expr, periods, shifted
from revlens.errors import RevlensError, UnknownName
from revlens.model.warehouse import Reader

DEAL_COLUMNS = {"owner": "owner", "product": "product", "account": "account_id"}


class FunnelQuery(BaseModel):
    """A funnel to compute; dates are inclusive."""

    model_config = ConfigDict(frozen=True)

    stages: tuple[str, ...]
    start: dt.date | None = None
    end: dt.date | None = None
    grain: Grain | None = None
    by: tuple[str, ...] = ()
    touch: Literal["first", "last"] = "first"
    mode: Literal["period", "cohort"] = "cohort"
    window_days: int = 90
    lookback_days: int = 90
    order: Literal["ordered", "strict"] = "ordered"
    skips: Literal["pass", "drop"] | None = None  # default: pass for lifecycle, drop for deals
    exclude: tuple[str, ...] = ()
    entity: Literal["auto", "contact", "opportunity"] = "auto"
    groupings: dict[str, Grouping] = {}
    filters: dict[str, str] = {}  # only the rows of one value per dimension

    @model_validator(mode="after")
    def _check(self) -> FunnelQuery:
        if len(self.stages) < 2 or len(set(self.stages)) != len(self.stages):
            raise RevlensError(
                "a funnel needs at least two distinct stages",
                code="RL600",
                value=",".join(self.stages),
                fix="e.g. --stages lead,mql,sql",
            )
        known = [*DIMENSIONS, *self.groupings]
        for dim in self.by:
            if dim not in known:
                raise UnknownName("dimension", dim, known)
        check_filters(self.filters, known)
        return self


@dataclass
class FunnelResult:
    query: FunnelQuery
    start: dt.date
    end: dt.date
    entity: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.rows)


def run_funnel(wh: Reader, query: FunnelQuery) -> FunnelResult:
    """Compute the funnel of `query`: one row per (cohort or period) x dimensions x stage."""
    if query.filters:
        inner = query.model_copy(update={"by": widened(query.by, query.filters), "filters": {}})
        result = run_funnel(wh, inner)
        result.rows = keep_filtered(result.rows, query.by, query.filters)
        result.query = query
        return result
    ctx = Context(wh, lookback_days=query.lookback_days, window_days=query.window_days)
    try:
        entity, events, all_stages = _events(ctx, query)
        missing = [s for s in (*query.stages, *query.exclude) if s not in all_stages]
        if missing:
            raise UnknownName(f"{entity} stage", missing[0], all_stages)
        skips = query.skips or ("pass" if entity == "contact" else "drop")
        end = query.end or ctx.data_end()
        start = query.start or shifted(end, 12) + dt.timedelta(days=1)
        settings = ctx.settings
        cal = Calendar(settings.week_start, settings.fiscal_year_start_month)
        buckets = periods(start, end, query.grain, cal)
        builder = _Builder(ctx, query, entity, events, skips, start, end, cal)

        def counted() -> Any:
            table = builder.cohort() if query.mode == "cohort" else builder.period()
            return table.execute()

        rows = _rows(ctx.ranked_if_out_of_memory(counted), query, buckets, ctx.data_end())
    finally:
        ctx.release()
    return FunnelResult(query, start, end, entity, rows)


def _events(ctx: Context, query: FunnelQuery) -> tuple[str, Any, list[str]]:
    """(entity kind, events(entity, stage, ts, contact_id), the stages the data knows)."""
    lifecycle = list(ctx.settings.stages)
    use_contacts = query.entity == "contact" or (
        query.entity == "auto" and any(s in lifecycle for s in query.stages)
    )
    if use_contacts:
        ev = ctx.lifecycle_events()
        events = ev.select(entity=ev.contact_id, stage=ev.stage, ts=ev.ts, contact_id=ev.contact_id)
        known = sorted(
            set(lifecycle)
            | set(events.select("stage").distinct().to_pyarrow()["stage"].to_pylist())
        )
        return "contact", events, known
    ose = ctx.table("opportunity_stage_events")
    opps = ctx.table("opportunities").select(
        o_id="opportunity_id", o_contact="contact_id", o_created="created_at"
    )
    staged = ose.join(opps, ose.opportunity_id == opps.o_id)
    from revlens.compile.context import union_all

    events = union_all(
        staged.select(
            entity=staged.opportunity_id,
            stage=staged.stage,
            ts=staged.ts,
            contact_id=staged.o_contact,
        ),
        opps.select(
            entity=opps.o_id,
            stage=ibis.literal("created"),
            ts=opps.o_created,
            contact_id=opps.o_contact,
        ),
    )
    known = sorted(set(events.select("stage").distinct().to_pyarrow()["stage"].to_pylist()))
    return "opportunity", events, known


class _Builder:
    """Builds the funnel table: one row per entity with its dims, bucket and t_1..t_n."""

    def __init__(
        self,
        ctx: Context,
        q: FunnelQuery,
        entity: str,
        events: Any,
        skips: str,
        start: dt.date,
        end: dt.date,
        cal: Calendar,
    ) -> None:
        self.ctx, self.q, self.entity_kind, self.events = ctx, q, entity, events
        self.skips, self.start, self.end, self.cal = skips, start, end, cal
        self.lo = ibis.timestamp(dt.datetime.combine(start, dt.time()))
        self.hi = ibis.timestamp(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        self.n = len(q.stages)

    # -- dimensions at the entity's anchor (its first event among the funnel stages) ----------
    def dims(self) -> Any:
        """Each entity's dimensions at its entry into the first stage (when it never entered
        it, at its first event of a later funnel stage)."""
        ev = self.events.filter(self.events.stage.isin(list(self.q.stages)))
        first = self.q.stages[0]
        anchor = ev.group_by("entity").aggregate(
            ts=ibis.coalesce(ev.ts.min(where=ev.stage == first), ev.ts.min()),
            contact_id=ev.contact_id.min(),
        )
        base = [self._base(d) for d in self.q.by]
        marketing = [b for b in base if b in MARKETING_DIMS]
        if marketing:  # one anchor row per entity: the per-row path, asked dims only
            anchor = self.ctx.touch_dims(anchor, self.q.touch, dims=marketing, unique_rows=True)
        contact_need = [b for b in base if b in CONTACT_DIMS]
        if self.entity_kind == "opportunity":
            deal_need = [b for b in base if b in DEAL_COLUMNS]
            contact_need = [b for b in contact_need if b not in DEAL_COLUMNS]
            if deal_need:
                o = self.ctx.table("opportunities")
                o = o.select(
                    d_id=o.opportunity_id, **{f"d_{b}": o[DEAL_COLUMNS[b]] for b in deal_need}
                )
                anchor = anchor.left_join(o, anchor.entity == o.d_id)
                anchor = anchor.mutate(**{b: anchor[f"d_{b}"] for b in deal_need}).drop(
                    "d_id", *[f"d_{b}" for b in deal_need]
                )
        if contact_need:
            c = self.ctx.table("contacts")
            c = c.select(
                c_id=c.contact_id,
                c_segment=c.segment,
                c_country=c.country,
                c_owner=c.owner,
                c_account=c.account_id,
            )
            anchor = anchor.left_join(c, anchor.contact_id == c.c_id)
            anchor = anchor.mutate(**{b: anchor[f"c_{b}"] for b in contact_need}).drop(
                "c_id", "c_segment", "c_country", "c_owner", "c_account"
            )
        for b in base:
            if b not in anchor.columns:
                anchor = anchor.mutate(**{b: ibis.null().cast("string")})
        for name, grouping in self.q.groupings.items():
            if name in self.q.by:
                anchor = anchor.mutate(
                    **{name: anchor[grouping.base].substitute(grouping.mapping, else_=None)}
                )
        return anchor.select("entity", *self.q.by)

    def _base(self, dim: str) -> str:
        return self.q.groupings[dim].base if dim in self.q.groupings else dim

    # -- cohort mode --------------------------------------------------------------------------
    def cohort(self) -> Any:
        q, ev = self.q, self.events
        first_stage = ev.filter(ev.stage == q.stages[0])
        entry = first_stage.group_by("entity").aggregate(t_1=first_stage.ts.min())
        entry = entry.filter((entry.t_1 >= self.lo) & (entry.t_1 < self.hi))
        window = ibis.interval(days=q.window_days)
        cur = entry.mutate(deadline=entry.t_1 + window)
        if q.exclude:
            bad = ev.filter(ev.stage.isin(list(q.exclude)))
            hit = bad.join(cur, "entity").filter(lambda t: (t.ts >= t.t_1) & (t.ts <= t.deadline))
            cur = cur.anti_join(hit.select("entity").distinct(), "entity")
        for k in range(2, self.n + 1):
            cur = self._step(cur, k)
        cur = cur.join(self.dims(), "entity")
        bucket = bucket_expr(cur.t_1, q.grain, self.cal, self.start)
        return self._long(cur, lambda k: bucket, lambda k: cur[f"t_{k}"].notnull())

    def later(self, k: int) -> list[str]:
        """Stages that pass stage k by a skip: the later funnel stages and, for contacts,
        every later lifecycle stage (lead -> SQL passes MQL even in a lead,mql funnel)."""
        out = list(self.q.stages[k:])
        lifecycle = list(self.ctx.settings.stages)
        stage = self.q.stages[k - 1]
        if self.entity_kind == "contact" and stage in lifecycle:
            out += [s for s in lifecycle[lifecycle.index(stage) + 1 :] if s not in out]
        return out

    def _step(self, cur: Any, k: int) -> Any:
        """Add t_k: when the entity reached stage k (or passed it by a skip), or null."""
        q, ev = self.q, self.events
        prev = cur[f"t_{k - 1}"]
        stage, later = q.stages[k - 1], self.later(k)
        alive = cur.filter(prev.notnull()).select("entity", t_prev=prev, t_deadline=cur.deadline)
        cand = ev.join(alive, "entity").filter(
            lambda t: (t.ts >= t.t_prev) & (t.ts <= t.t_deadline)
        )
        if q.order == "strict":
            # the next stage event after the previous stage decides; repeats of the previous
            # stage, and earlier stages logged at the same moment, are not "in between"
            done = list(q.stages[: k - 1])
            cand = cand.filter(
                (cand.stage != q.stages[k - 2]) & ((cand.ts > cand.t_prev) | ~cand.stage.isin(done))
            )
            nxt = cand.mutate(first_ts=cand.ts.min().over(group_by=cand.entity))
            nxt = nxt.filter(nxt.ts == nxt.first_ts)
            ok = nxt.stage == stage
            if self.skips == "pass" and later:
                ok = ok | nxt.stage.isin(later)
            reached = nxt.filter(ok).group_by("entity").aggregate(t_new=nxt.ts.min())
        else:
            own = cand.filter(cand.stage == stage)
            reached = own.group_by("entity").aggregate(t_new=own.ts.min())
            if self.skips == "pass" and later:
                skip = cand.filter(cand.stage.isin(later))
                skipped = skip.group_by("entity").aggregate(t_skip=skip.ts.min())
                both = reached.outer_join(skipped, "entity")
                reached = both.select(
                    entity=ibis.coalesce(both.entity, both.entity_right),
                    t_new=ibis.least(both.t_new, both.t_skip),  # NULLs are ignored
                )
        out = cur.left_join(reached, "entity")
        return out.mutate(**{f"t_{k}": out.t_new}).drop("t_new", "entity_right")

    # -- period mode --------------------------------------------------------------------------
    def period(self) -> Any:
        """Per stage: entities whose first entry (or, skipping, first later entry) falls in
        the period, and the time since their previous stage."""
        q, ev = self.q, self.events
        relevant = set(q.stages)
        for k in range(1, self.n + 1):
            relevant.update(self.later(k))
        firsts = (
            ev.filter(ev.stage.isin(sorted(relevant)))
            .group_by(["entity", "stage"])
            .aggregate(ts=ev.ts.min())
        )
        wide = firsts.group_by("entity").aggregate(
            **{
                f"f_{k}": firsts.ts.min(where=firsts.stage == s)  # first entry of stage k
                for k, s in enumerate(q.stages, start=1)
            },
            **{  # first entry of any stage that passes stage k by a skip
                f"s_{k}": firsts.ts.min(where=firsts.stage.isin(self.later(k)))
                for k in range(1, self.n + 1)
                if self.later(k)
            },
        )
        cols: dict[str, Any] = {}
        for k in range(1, self.n + 1):
            own = wide[f"f_{k}"]
            if self.skips == "pass" and self.later(k):
                own = ibis.least(own, wide[f"s_{k}"])
            cols[f"t_{k}"] = own
        wide = wide.mutate(**cols)
        if q.exclude:
            # excluded for good: an excluded stage at or after the entity's first funnel stage
            entered = ibis.least(*[wide[f"t_{k}"] for k in range(1, self.n + 1)])
            bad = ev.filter(ev.stage.isin(list(q.exclude))).join(
                wide.select("entity", entered=entered), "entity"
            )
            bad = bad.filter(bad.ts >= bad.entered)
            wide = wide.anti_join(bad.select("entity").distinct(), "entity")
        wide = wide.join(self.dims(), "entity")
        return self._long(
            wide,
            lambda k: bucket_expr(wide[f"t_{k}"], q.grain, self.cal, self.start),
            lambda k: (wide[f"t_{k}"] >= self.lo) & (wide[f"t_{k}"] < self.hi),
        )

    # -- aggregation --------------------------------------------------------------------------
    def _long(self, t: Any, bucket: Any, counted: Any) -> Any:
        """One row per (entity, stage reached): its bucket and days since the previous stage;
        aggregated per bucket x dims x stage into count and time-to-convert."""
        parts = []
        for k in range(1, self.n + 1):
            days = _days(t[f"t_{k - 1}"], t[f"t_{k}"]) if k > 1 else ibis.null().cast("float64")
            if k > 1:  # out of order (period mode) has no time to convert
                days = ibis.cases((days >= 0, days), else_=ibis.null().cast("float64"))
            parts.append(
                t.filter(counted(k)).select(
                    *self.q.by, bucket=bucket(k), step=ibis.literal(k), days=days
                )
            )
        from revlens.compile.context import union_all

        long = union_all(*parts)
        return long.group_by(["bucket", *self.q.by, "step"]).aggregate(
            count=long.count(),
            median_days=long.days.median(),
            mean_days=long.days.mean(),
            p90_days=long.days.quantile(0.9),
        )


def _days(a: Any, b: Any) -> Any:
    return (b.epoch_seconds() - a.epoch_seconds()) / 86400.0


def _rows(df: Any, q: FunnelQuery, buckets: list[Any], data_end: dt.date) -> list[dict[str, Any]]:
    """Complete rows: every bucket x dims combination x stage, with conversions and drops."""
    by_bucket = {p.bucket: p for p in buckets}
    stats: dict[tuple[Any, ...], dict[str, Any]] = {}
    combos: set[tuple[str | None, ...]] = set()
    for rec in df.to_dict("records"):
        bucket = _date(rec["bucket"])
        dims = tuple(_text(rec[d]) for d in q.by)
        combos.add(dims)
        stats[(bucket, dims, int(rec["step"]))] = rec
    if not q.by:
        combos = {()}
    out: list[dict[str, Any]] = []
    for period in buckets:
        for dims in sorted(combos, key=lambda c: tuple("" if v is None else v for v in c)):
            first = _count(stats.get((period.bucket, dims, 1)))
            previous = first
            for k, stage in enumerate(q.stages, start=1):
                rec = stats.get((period.bucket, dims, k))
                count = _count(rec)
                row: dict[str, Any] = {}
                if q.mode == "cohort":
                    row["cohort"] = period.start
                    row["cohort_end"] = period.end
                else:
                    row["period_start"] = period.start
                    row["period_end"] = period.end
                row.update(dict(zip(q.by, dims, strict=True)))
                row.update(
                    {
                        "stage": stage,
                        "count": count,
                        "conversion_from_first": None if first == 0 else count / first,
                        "conversion_from_previous": None
                        if k == 1 or previous == 0
                        else count / previous,
                        "dropped": None if k == 1 else previous - count,
                        "median_days": _num(rec, "median_days") if k > 1 else None,
                        "mean_days": _num(rec, "mean_days") if k > 1 else None,
                        "p90_days": _num(rec, "p90_days") if k > 1 else None,
                    }
                )
                if q.mode == "cohort":
                    row["immature"] = period.end + dt.timedelta(days=q.window_days) > data_end
                out.append(row)
                previous = count
    del by_bucket
    return out


def _count(rec: dict[str, Any] | None) -> int:
    return 0 if rec is None else int(rec["count"])


def _num(rec: dict[str, Any] | None, key: str) -> float | None:
    if rec is None:
        return None
    value = rec[key]
    return None if value is None or value != value else float(value)


def _text(value: Any) -> str | None:
    return None if value is None or value != value else str(value)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
