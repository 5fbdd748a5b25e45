"""Planner rates from the warehouse: cohort conversion rates with Wilson intervals, the
visit-to-lead rate, the average deal size and the median stage lags, over a past window
whose cohorts have all had their full conversion window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import pairwise

from revlens.catalog.spec import load_catalog
from revlens.compile.context import Context
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.funnel.engine import FunnelQuery, run_funnel
from revlens.model.warehouse import Reader
from revlens.plan.planner import LIFECYCLE, RATE_INTO, STAGES, Rate, wilson


@dataclass(frozen=True)
class History:
    rates: dict[str, Rate]
    average_deal_size: float | None
    lag_days: dict[str, float]  # median days into each stage from the previous one
    start: dt.date
    end: dt.date


def from_history(wh: Reader, *, window_days: int = 365, conversion_days: int = 180) -> History:
    """Rates of the contacts that entered in the `window_days` ending `conversion_days`
    before the newest data, so every cohort had its full conversion window."""
    newest = Context(wh).data_end()
    end = newest - dt.timedelta(days=conversion_days)
    start = end - dt.timedelta(days=window_days - 1)
    stages = tuple(LIFECYCLE[s] for s in STAGES[1:])
    funnel = run_funnel(
        wh,
        FunnelQuery(
            stages=stages, start=start, end=end, mode="cohort", window_days=conversion_days
        ),
    )
    counts = {r["stage"]: r["count"] for r in funnel.rows}
    lags = {r["stage"]: r["median_days"] for r in funnel.rows}
    rates: dict[str, Rate] = {}
    lag_days: dict[str, float] = {}
    for prev, stage in pairwise(STAGES[1:]):
        n, k = counts[LIFECYCLE[prev]], counts[LIFECYCLE[stage]]
        low, high = wilson(k, n)
        rates[RATE_INTO[stage]] = Rate(k / n if n else 0.0, low, high, n)
        lag = lags[LIFECYCLE[stage]]
        lag_days[stage] = 0.0 if lag is None else float(lag)
    kpis = {
        r["kpi"]: r
        for r in run_kpis(
            wh,
            KpiQuery(kpis=("visit_to_lead", "average_deal_size"), start=start, end=end),
            load_catalog(measures=set(MEASURES)),
        ).rows
    }
    v2l = kpis["visit_to_lead"]
    sessions, leads = int(v2l["denominator"] or 0), int(v2l["numerator"] or 0)
    low, high = wilson(min(leads, sessions), sessions)
    rates["visit_to_lead"] = Rate(leads / sessions if sessions else 0.0, low, high, sessions)
    lag_days["leads"] = 0.0  # a visit converts to a lead in the same session
    return History(rates, kpis["average_deal_size"]["value"], lag_days, start, end)
