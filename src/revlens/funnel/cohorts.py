"""Cohort matrix: entry period x months since entry -> cumulative conversion between any two
lifecycle stages, so each cohort's curve can be read beside the younger ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis

from revlens.compile.context import Context
from revlens.compile.periods import Calendar, Grain, bucket_expr, periods, shifted
from revlens.errors import UnknownName
from revlens.model.warehouse import Reader

MONTH_DAYS = 30.4375  # an average month: months since entry are blocks of this many days


@dataclass
class CohortMatrix:
    """Rows of (cohort, size, month, converted, rate); `rate` is cumulative. A cell is
    `observed` only when the whole month since entry lies inside the data."""

    from_stage: str
    to_stage: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def cohort_matrix(
    wh: Reader,
    from_stage: str,
    to_stage: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: Grain = Grain.month,
    months: int = 12,
) -> CohortMatrix:
    """Contacts by the period they first reached `from_stage`; for each month since then, the
    share that has reached `to_stage` (at or after entry)."""
    ctx = Context(wh)
    try:
        stages = ctx.settings.stages
        for s in (from_stage, to_stage):
            if s not in stages:
                raise UnknownName("stage", s, stages)
        data_end = ctx.data_end()
        end = end or data_end
        start = start or shifted(end, 12) + dt.timedelta(days=1)
        cal = Calendar(ctx.settings.week_start, ctx.settings.fiscal_year_start_month)
        sd = ctx.stage_dates()
        entry = sd.filter(sd.stage == from_stage).select("contact_id", t_in="ts")
        lo = ibis.timestamp(dt.datetime.combine(start, dt.time()))
        hi = ibis.timestamp(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        entry = entry.filter((entry.t_in >= lo) & (entry.t_in < hi))
        ev = ctx.lifecycle_events()
        reach = ev.filter(ev.stage == to_stage).select(r_contact="contact_id", r_ts="ts")
        pairs = entry.join(
            reach, (entry.contact_id == reach.r_contact) & (reach.r_ts >= entry.t_in)
        )
        firsts = pairs.group_by(["contact_id", "t_in"]).aggregate(t_out=pairs.r_ts.min())
        joined = entry.left_join(firsts, ["contact_id", "t_in"])
        # whole average months (30.4375 days) from entry to conversion; 0 = the first month
        month = (joined.t_out.epoch_seconds() - joined.t_in.epoch_seconds()) // (MONTH_DAYS * 86400)
        table = joined.mutate(
            cohort=bucket_expr(joined.t_in, grain, cal, start), m=month.cast("int64")
        )
        sizes = table.group_by("cohort").aggregate(size=table.count()).execute()
        converted = table.filter(table.t_out.notnull())
        conv = converted.group_by(["cohort", "m"]).aggregate(n=converted.count()).execute()
    finally:
        ctx.release()
    by_cohort = {_date(r["cohort"]): int(r["size"]) for r in sizes.to_dict("records")}
    hits: dict[tuple[dt.date, int], int] = {}
    for r in conv.to_dict("records"):
        hits[(_date(r["cohort"]), int(r["m"]))] = int(r["n"])
    out = CohortMatrix(from_stage, to_stage)
    for period in periods(start, end, grain, cal):
        size = by_cohort.get(period.bucket, 0)
        total = 0
        for m in range(months + 1):
            total += hits.get((period.bucket, m), 0)
            # month m (of 30.4375 days) of the period's last entrants is complete
            horizon = dt.timedelta(days=MONTH_DAYS * (m + 1))
            observed = dt.datetime.combine(
                period.end, dt.time.max
            ) + horizon <= dt.datetime.combine(data_end, dt.time.max)
            out.rows.append(
                {
                    "cohort": period.start,
                    "size": size,
                    "month": m,
                    "converted": total,
                    "rate": None if size == 0 else total / size,
                    "observed": observed,
                }
            )
    return out


def _date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value
