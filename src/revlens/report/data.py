"""The numbers of a report, asked of the library exactly as the CLI asks them (run_kpis,
run_funnel, warehouse_journeys + attribute), so a report cell and a `revlens kpi` row are
the same number. Rendering is elsewhere (excel.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from revlens.attribution import AttributionResult, attribute
from revlens.attribution.warehouse import warehouse_journeys
from revlens.catalog.spec import Catalog, KpiSpec
from revlens.compile.context import Context
from revlens.compile.query import KpiQuery, KpiResult, run_kpis
from revlens.funnel.engine import FunnelQuery, FunnelResult, run_funnel
from revlens.model.warehouse import Reader
from revlens.report.filters import ReportFilters
from revlens.service import HEADLINE_KPIS

TREND_KPIS = HEADLINE_KPIS
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "position_based", "markov", "shapley")
# what the attribution sheet credits: contacts becoming customers, and won revenue
ATTRIBUTION_CONVERSIONS = ("customer", "revenue")
LOOKBACK_DAYS = 90
WINDOW_DAYS = 90


@dataclass
class ReportData:
    """Everything a report shows, as the library's own result objects."""

    filters: ReportFilters
    start: dt.date
    end: dt.date
    data_end: dt.date
    currency: str
    warehouse: str
    generated_at: dt.datetime
    specs: list[KpiSpec]
    kpis: KpiResult
    trend: KpiResult
    funnel: FunnelResult
    # the attribution level: channel, or campaign when the report is for one campaign
    level: str
    attribution: dict[str, AttributionResult] = field(default_factory=dict)
    spend: KpiResult | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)

    def kpi_row(self, kpi_id: str) -> dict[str, Any] | None:
        """The whole-range row of one KPI (None when the filters left it no row)."""
        return next((r for r in self.kpis.rows if r["kpi"] == kpi_id), None)


def gather(
    wh: Reader,
    filters: ReportFilters,
    catalog: Catalog,
    *,
    generated_at: dt.datetime | None = None,
) -> ReportData:
    """Run every query of the report over one range (the filters', else the year to the
    newest data) so that all sheets cover the same days."""
    ctx = Context(wh)
    try:
        data_end = ctx.data_end()
    finally:
        ctx.release()
    start, end = filters.range(data_end)
    dims = filters.dimensions()
    specs = list(catalog)
    kpis = run_kpis(
        wh,
        KpiQuery(kpis=tuple(s.id for s in specs), start=start, end=end, filters=dims),
        catalog,
    )
    trend_ids = tuple(k for k in TREND_KPIS if k in catalog.kpis)
    trend = run_kpis(
        wh,
        KpiQuery(kpis=trend_ids, start=start, end=end, grain=filters.grain, filters=dims),
        catalog,
    )
    stages = wh.settings().stages
    funnel = run_funnel(
        wh,
        FunnelQuery(
            stages=stages,
            start=start,
            end=end,
            mode="cohort",
            window_days=WINDOW_DAYS,
            lookback_days=LOOKBACK_DAYS,
            filters=dims,
        ),
    )
    data = ReportData(
        filters=filters,
        start=start,
        end=end,
        data_end=data_end,
        currency=wh.settings().reporting_currency,
        warehouse=str(wh.path),
        generated_at=generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0),
        specs=specs,
        kpis=kpis,
        trend=trend,
        funnel=funnel,
        level="campaign" if filters.campaign else "channel",
    )
    _attribution(wh, data, catalog)
    return data


def _attribution(wh: Reader, data: ReportData, catalog: Catalog) -> None:
    """Credit per model for customers and for won revenue, and spend per channel (or
    campaign). Multi-touch credit needs whole journeys, so the models always run over every
    journey; a channel or campaign filter then keeps that value's row."""
    level = data.level
    keep = data.filters.campaign if level == "campaign" else data.filters.channel
    for conversion in ATTRIBUTION_CONVERSIONS:
        journeys = warehouse_journeys(
            wh,
            conversion,
            start=data.start,
            end=data.end,
            level=level,
            lookback_days=LOOKBACK_DAYS,
        )
        data.attribution[conversion] = attribute(journeys, ATTRIBUTION_MODELS, level=level)
    if "spend" in catalog.kpis:
        level_filters = {k: v for k, v in data.filters.dimensions().items() if k == level}
        query = KpiQuery(
            kpis=("spend",), start=data.start, end=data.end, by=(level,), filters=level_filters
        )
        data.spend = run_kpis(wh, query, catalog)
    notes = data.notes.setdefault("Attribution", [])
    notes.append(
        f"Credit of the touches within {LOOKBACK_DAYS} days before each conversion, every model "
        "over all journeys of the range"
        + (f"; the rows of {level} = {keep} only." if keep else ".")
    )
    if data.filters.segment:
        notes.append(
            f"The segment filter ({data.filters.segment}) does not apply here: journeys and "
            "spend are not split by segment."
        )
    if level == "campaign" and data.filters.channel:
        notes.append("With a campaign filter the channel filter does not apply here.")


def keep_row(data: ReportData, key: str | None) -> bool:
    """Whether an attribution/spend row of `key` belongs in the sheet under the filters."""
    keep = data.filters.campaign if data.level == "campaign" else data.filters.channel
    return keep is None or key == keep
