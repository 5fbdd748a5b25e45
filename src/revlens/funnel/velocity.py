"""Stage velocity: how long contacts take from one lifecycle stage to another (or stay in a
stage until any later one), as a histogram and as a trend of median/mean/p90 by period."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np

from revlens.compile.context import Context
from revlens.compile.periods import Calendar, Grain, bucket_expr, periods, shifted
from revlens.errors import UnknownName
from revlens.model.warehouse import Reader


@dataclass
class Velocity:
    """`histogram`: rows (from_days, to_days, count); `trend`: rows per period of entry into
    `from_stage` (period_start, period_end, count, median_days, mean_days, p90_days)."""

    from_stage: str
    to_stage: str | None
    histogram: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)


def stage_velocity(
    wh: Reader,
    from_stage: str,
    to_stage: str | None = None,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: Grain | None = Grain.month,
    bins: int = 10,
) -> Velocity:
    """Days from each contact's first `from_stage` (in the range) to its first `to_stage` at
    or after it; without `to_stage`, the time in `from_stage`: until the first later stage."""
    ctx = Context(wh)
    try:
        stages = list(ctx.settings.stages)
        for s in (from_stage, to_stage):
            if s is not None and s not in stages:
                raise UnknownName("stage", s, stages)
        end = end or ctx.data_end()
        start = start or shifted(end, 12) + dt.timedelta(days=1)
        cal = Calendar(ctx.settings.week_start, ctx.settings.fiscal_year_start_month)
        targets = [to_stage] if to_stage else stages[stages.index(from_stage) + 1 :]
        sd = ctx.stage_dates()
        entry = sd.filter(sd.stage == from_stage).select("contact_id", t_in="ts")
        lo = ibis.timestamp(dt.datetime.combine(start, dt.time()))
        hi = ibis.timestamp(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        entry = entry.filter((entry.t_in >= lo) & (entry.t_in < hi))
        # any event of a target stage counts, not only the first ever: the clock stops at
        # the first one at or after the entry
        ev = ctx.lifecycle_events()
        later = ev.filter(ev.stage.isin(targets)).select(r_contact="contact_id", t_out="ts")
        pairs = entry.join(
            later, (entry.contact_id == later.r_contact) & (later.t_out >= entry.t_in)
        )
        firsts = pairs.group_by(["contact_id", "t_in"]).aggregate(t_out=pairs.t_out.min())
        days = (firsts.t_out.epoch_seconds() - firsts.t_in.epoch_seconds()) / 86400.0
        table = firsts.mutate(days=days, bucket=bucket_expr(firsts.t_in, grain, cal, start))
        values = table.select("days").to_pyarrow()["days"].to_numpy()
        trend = (
            table.group_by("bucket")
            .aggregate(
                count=table.count(),
                median_days=table.days.median(),
                mean_days=table.days.mean(),
                p90_days=table.days.quantile(0.9),
            )
            .execute()
        )
    finally:
        ctx.release()
    out = Velocity(from_stage, to_stage)
    if len(values):
        counts, edges = np.histogram(values, bins=bins)
        out.histogram = [
            {"from_days": float(edges[i]), "to_days": float(edges[i + 1]), "count": int(counts[i])}
            for i in range(len(counts))
        ]
    stats = {
        (r["bucket"].date() if isinstance(r["bucket"], dt.datetime) else r["bucket"]): r
        for r in trend.to_dict("records")
    }
    for period in periods(start, end, grain, cal):
        r = stats.get(period.bucket)
        out.trend.append(
            {
                "period_start": period.start,
                "period_end": period.end,
                "count": 0 if r is None else int(r["count"]),
                **{
                    k: None if r is None else float(r[k])
                    for k in ("median_days", "mean_days", "p90_days")
                },
            }
        )
    return out
