"""What each dashboard page shows, asked of the service layer exactly as the JSON API asks
it (`service.kpi_query` + `run_kpis`, `service.funnel_query` + `run_funnel`, ...), so every
number on a page is the number of its JSON twin; pages only arrange and format the rows."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revlens import service
from revlens.attribution.registry import DEFAULT_MODELS
from revlens.attribution.warehouse import CONVERSIONS
from revlens.catalog.spec import Catalog, Direction
from revlens.cli.output import plain
from revlens.compile.context import DIMENSIONS, Context
from revlens.compile.query import run_kpis
from revlens.dashboard.filters import PageFilters, url
from revlens.errors import RevlensError
from revlens.funnel.engine import run_funnel
from revlens.model.warehouse import Warehouse
from revlens.params import choice
from revlens.plan.pacing import pacing_rows

Row = dict[str, Any]

OVERVIEW_KPIS = (
    "leads",
    "mqls",
    "sqls",
    "customers",
    "revenue",
    "spend",
    "cpl",
    "cac",
    "win_rate",
    "marketing_roi",
)
FUNNEL_STAGES = "lead,mql,sql,opportunity,customer"  # the API's default funnel
FUNNEL_MODES = ("cohort", "period")
ATTRIBUTION_LEVEL = "channel"
ATTRIBUTION_SEED = 0  # the API's default, so both give the same Markov/Shapley numbers
MONEY_CONVERSIONS = ("revenue", "pipeline")  # credit is money (`value`), not conversions
PLAN_PERS = ("month", "quarter", "year")
PACING_SEED = 7  # the API's default
GOAL_FACTOR = 1.2  # the default revenue goal: the last 12 months' revenue x 1.2
MAX_SERIES = 12  # lines or bar groups in one chart; the JSON twin has every one
MAX_TABLE_GROUPS = 50
NONE_LABEL = "(none)"
# attainment (already direction-adjusted by the KPI engine) -> status, as pacing grades it
ON_TRACK, AT_RISK = 1.0, 0.9


@dataclass
class Twin:
    """A JSON API URL giving the rows a part of the page shows."""

    label: str
    url: str


@dataclass
class View:
    """One page's content: what the template lays out, and the API rows it embeds."""

    title: str
    twins: list[Twin]
    data: dict[str, Any]  # embedded as JSON: the API rows and what the charts draw
    content: dict[str, Any] = field(default_factory=dict)  # what the template lays out
    empty: bool = False
    notes: list[str] = field(default_factory=list)


def _api_filters(f: PageFilters, *, range_only: bool = False) -> dict[str, str | None]:
    params: dict[str, str | None] = {"from": f.start, "to": f.end}
    if not range_only:
        params.update(f.dimensions())
    return params


def _kpi_rows(
    wh: Warehouse, catalog: Catalog, project: Path | None, ids: str, **kwargs: Any
) -> list[Row]:
    """`GET /api/kpis` rows, computed the way the route computes them."""
    query = service.kpi_query(ids, project=project, **kwargs)
    return plain(run_kpis(wh, query, catalog).to_records())  # type: ignore[no-any-return]


def newest_data(wh: Warehouse) -> str:
    """The day the data runs to, for the hints of empty pages."""
    ctx = Context(wh)
    try:
        return ctx.data_end().isoformat()
    finally:
        ctx.release()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float | int) and value == 0)


def status_of(attainment: float | None) -> str:
    """on_track / at_risk / off_track, or none without a target."""
    if attainment is None:
        return "none"
    if attainment >= ON_TRACK:
        return "on_track"
    return "at_risk" if attainment >= AT_RISK else "off_track"


def _label(value: Any) -> str:
    return NONE_LABEL if value is None else str(value)


def _largest(
    groups: Iterable[str], weight: Callable[[str], float], limit: int
) -> tuple[list[str], int]:
    """The `limit` groups of largest weight (in their original order) and how many there were."""
    every = list(groups)
    keep = set(sorted(every, key=lambda g: -abs(weight(g)))[:limit])
    return [g for g in every if g in keep], len(every)


# -- Overview ---------------------------------------------------------------------------------


def overview(
    wh: Warehouse, catalog: Catalog, project: Path | None, f: PageFilters, _q: Mapping[str, str]
) -> View:
    """KPI cards: value, target, attainment, change against the previous period, sparkline."""
    ids = ",".join(k for k in OVERVIEW_KPIS if k in catalog.kpis)
    grain = f.grain or "month"
    common: dict[str, Any] = {"start": f.start, "end": f.end, "filters": f.dimensions()}
    cards = _kpi_rows(wh, catalog, project, ids, compare="previous", **common)
    series = _kpi_rows(wh, catalog, project, ids, grain=grain, **common)
    twins = [
        Twin("KPI cards", url("/api/kpis", {"kpi": ids, **_api_filters(f), "compare": "previous"})),
        Twin("Sparklines", url("/api/kpis", {"kpi": ids, **_api_filters(f), "grain": grain})),
    ]
    by_kpi = {r["kpi"]: r for r in cards}
    shown = []
    for kpi_id in ids.split(","):
        spec = catalog.get(kpi_id)
        row = by_kpi.get(kpi_id, {})
        points = [r for r in series if r["kpi"] == kpi_id]
        change = row.get("change")
        better = None
        if change not in (None, 0) and spec.direction is not Direction.none:
            better = (change > 0) == (spec.direction is Direction.up)
        shown.append(
            {
                "id": kpi_id,
                "name": spec.name,
                "unit": spec.unit.value,
                "direction": spec.direction.value,
                "description": spec.description,
                "row": row,
                "value": row.get("value"),
                "target": row.get("target"),
                "attainment": row.get("attainment"),
                "status": status_of(row.get("attainment")),
                "previous": row.get("previous_value"),
                "change": change,
                "better": better,
                "spark": [p["value"] for p in points],
                "spark_periods": [p["period_start"] for p in points],
            }
        )
    first = cards[0] if cards else {}
    return View(
        title="Overview",
        twins=twins,
        data={
            "page": "overview",
            "cards": cards,
            "series": series,
            "units": {c["id"]: c["unit"] for c in shown},
            "names": {c["id"]: c["name"] for c in shown},
        },
        content={
            "cards": shown,
            "period": (first.get("period_start"), first.get("period_end")),
            "grain": grain,
        },
        empty=all(_blank(r.get("value")) for r in cards),
    )


# -- Funnel -----------------------------------------------------------------------------------


def funnel(
    wh: Warehouse, catalog: Catalog, project: Path | None, f: PageFilters, q: Mapping[str, str]
) -> View:
    """Stage counts with conversion from the first and the previous stage, by cohort or
    period, optionally broken down by one dimension."""
    mode = choice(q.get("mode") or "cohort", "mode", FUNNEL_MODES, code="RL513")
    by = (q.get("by") or "").strip() or None
    query = service.funnel_query(
        FUNNEL_STAGES,
        start=f.start,
        end=f.end,
        mode=mode,
        by=by,
        filters=f.dimensions(),
        project=project,
    )
    rows: list[Row] = plain(run_funnel(wh, query).rows)
    twin = url(
        "/api/funnel",
        {"stages": FUNNEL_STAGES, "mode": mode, "by": by, **_api_filters(f)},
    )
    stages = FUNNEL_STAGES.split(",")
    grouped: dict[str, dict[str, Row]] = {}
    for r in rows:
        grouped.setdefault(_label(r.get(by)) if by else "All", {})[r["stage"]] = r

    def first_count(g: str) -> float:
        return float(grouped[g].get(stages[0], {}).get("count") or 0)

    charted, total = _largest(grouped, first_count, MAX_SERIES)
    tabled, _ = _largest(grouped, first_count, MAX_TABLE_GROUPS)
    series = [
        {"name": g, "data": [(grouped[g].get(s) or {}).get("count", 0) for s in stages]}
        for g in charted
    ]
    notes = []
    if total > len(charted):
        notes.append(
            f"The chart shows the {len(charted)} largest of {total} {by} values and the table "
            f"the {len(tabled)} largest; the JSON twin has them all."
        )
    first = rows[0] if rows else {}
    period = (
        (first.get("cohort"), first.get("cohort_end"))
        if mode == "cohort"
        else (first.get("period_start"), first.get("period_end"))
    )
    return View(
        title="Funnel",
        twins=[Twin("Funnel rows", twin)],
        data={"page": "funnel", "rows": rows, "stages": stages, "series": series, "by": by},
        content={
            "mode": mode,
            "by": by,
            "stages": stages,
            "groups": [(g, [grouped[g].get(s) for s in stages]) for g in tabled],
            "period": period,
            "immature": any(r.get("immature") for r in rows),
        },
        empty=not rows or all(_blank(r.get("count")) for r in rows),
        notes=notes,
    )


# -- Attribution ------------------------------------------------------------------------------


def _attribution_rows(
    wh: Warehouse, f: PageFilters, models: str, conversion: str
) -> tuple[list[Row], str]:
    """`GET /api/attribution` rows for one conversion, computed the way the route does."""
    result, source = service.warehouse_attribution(
        wh,
        model=models,
        conversion=conversion,
        level=ATTRIBUTION_LEVEL,
        start=f.start,
        end=f.end,
        seed=ATTRIBUTION_SEED,
    )
    return plain(result.rows), source


def roi_rows(revenue: list[Row], spend: list[Row]) -> list[Row]:
    """ROI per channel and model: (attributed revenue - channel spend) / channel spend; None
    without spend (a channel that costs nothing has no ROI)."""
    cost = {r.get(ATTRIBUTION_LEVEL): r.get("value") for r in spend}
    out = []
    for r in revenue:
        channel = r.get(ATTRIBUTION_LEVEL)
        spent = cost.get(channel)
        credit = r.get("value") or 0.0
        roi = (credit - spent) / spent if spent else None
        out.append(
            {
                "model": r["model"],
                ATTRIBUTION_LEVEL: channel,
                "revenue": credit,
                "spend": spent,
                "roi": roi,
            }
        )
    return out


def attribution(
    wh: Warehouse, catalog: Catalog, project: Path | None, f: PageFilters, q: Mapping[str, str]
) -> View:
    """Credit per channel under each model side by side, and ROI per channel."""
    conversion = choice(q.get("conversion") or "revenue", "conversion", CONVERSIONS, code="RL050")
    models = ",".join(DEFAULT_MODELS)
    rows, source = _attribution_rows(wh, f, models, conversion)
    revenue = rows if conversion == "revenue" else _attribution_rows(wh, f, models, "revenue")[0]
    spend = _kpi_rows(wh, catalog, project, "spend", start=f.start, end=f.end, by=ATTRIBUTION_LEVEL)
    roi = roi_rows(revenue, spend)
    range_ = _api_filters(f, range_only=True)
    twins = [
        Twin(
            f"Credit ({conversion})",
            url("/api/attribution", {"model": models, "conversion": conversion, **range_}),
        )
    ]
    if conversion != "revenue":
        twins.append(
            Twin(
                "Revenue credit",
                url("/api/attribution", {"model": models, "conversion": "revenue", **range_}),
            )
        )
    twins.append(
        Twin(
            "Spend by channel",
            url("/api/kpis", {"kpi": "spend", "by": ATTRIBUTION_LEVEL, **range_}),
        )
    )
    measure = "value" if conversion in MONEY_CONVERSIONS else "conversions"
    channels = list(dict.fromkeys(_label(r.get(ATTRIBUTION_LEVEL)) for r in rows))
    if f.channel:
        channels = [c for c in channels if c == f.channel]
    model_ids = list(DEFAULT_MODELS)
    credit = {(r["model"], _label(r.get(ATTRIBUTION_LEVEL))): r for r in rows}
    roi_by = {(r["model"], _label(r.get(ATTRIBUTION_LEVEL))): r for r in roi}
    series = [
        {"name": m, "data": [(credit.get((m, c)) or {}).get(measure) for c in channels]}
        for m in model_ids
    ]
    roi_series = [
        {"name": m, "data": [(roi_by.get((m, c)) or {}).get("roi") for c in channels]}
        for m in model_ids
    ]
    spend_by = {_label(r.get(ATTRIBUTION_LEVEL)): r.get("value") for r in spend}
    notes = [f"Credit of {source}; every model runs over all journeys of the range."]
    if f.channel:
        notes.append(f"The channel filter keeps the rows of {f.channel}.")
    if f.campaign or f.segment:
        notes.append(
            "The campaign and segment filters do not apply here: journeys and spend are "
            "credited by channel."
        )
    shown = [r for r in rows if not f.channel or _label(r.get(ATTRIBUTION_LEVEL)) == f.channel]
    return View(
        title="Attribution",
        twins=twins,
        data={
            "page": "attribution",
            "rows": rows,
            "revenue_rows": revenue,
            "spend": spend,
            "roi": roi,
            "channels": channels,
            "models": model_ids,
            "measure": measure,
            "conversion": conversion,
            "series": series,
            "roi_series": roi_series,
        },
        content={
            "conversion": conversion,
            "conversions": CONVERSIONS,
            "measure": measure,
            "channels": channels,
            "models": model_ids,
            "credit": credit,
            "roi": roi_by,
            "spend": spend_by,
        },
        empty=not shown or all(_blank(r.get("conversions")) for r in shown),
        notes=notes,
    )


# -- Trends -----------------------------------------------------------------------------------


def dimension_choices(project: Path | None) -> list[str]:
    """Every dimension a KPI can be broken down by, the project's groupings included."""
    from revlens.catalog.dimensions import load_groupings

    return [*DIMENSIONS, *load_groupings(service.project_file(project))]


def trends(
    wh: Warehouse, catalog: Catalog, project: Path | None, f: PageFilters, q: Mapping[str, str]
) -> View:
    """Any KPI of the catalogue over time, by any dimension."""
    kpi_id = catalog.get((q.get("kpi") or "leads").strip()).id
    by = (q.get("by") or "").strip() or None
    grain = f.grain or "month"
    rows = _kpi_rows(
        wh,
        catalog,
        project,
        kpi_id,
        start=f.start,
        end=f.end,
        grain=grain,
        by=by,
        filters=f.dimensions(),
    )
    twin = url("/api/kpis", {"kpi": kpi_id, **_api_filters(f), "grain": grain, "by": by})
    spec = catalog.get(kpi_id)
    periods = list(dict.fromkeys(r["period_start"] for r in rows))
    cells: dict[str, dict[str, Any]] = {}
    for r in rows:
        cells.setdefault(_label(r.get(by)) if by else spec.name, {})[r["period_start"]] = r["value"]

    def total(g: str) -> float:
        return sum(v for v in cells[g].values() if isinstance(v, float | int) and math.isfinite(v))

    charted, count = _largest(cells, total, MAX_SERIES)
    series = [{"name": g, "data": [cells[g].get(p) for p in periods]} for g in charted]
    notes = []
    if count > len(charted):
        notes.append(
            f"The chart and table show the {len(charted)} largest of {count} {by} values; "
            "the JSON twin has them all."
        )
    return View(
        title="Trends",
        twins=[Twin(f"{spec.name} over time", twin)],
        data={
            "page": "trends",
            "rows": rows,
            "kpi": kpi_id,
            "unit": spec.unit.value,
            "by": by,
            "periods": periods,
            "series": series,
        },
        content={
            "kpi": spec,
            "by": by,
            "periods": periods,
            "series": series,
            "ends": {r["period_start"]: r["period_end"] for r in rows},
        },
        empty=not rows or all(_blank(r.get("value")) for r in rows),
        notes=notes,
    )


# -- Plan & pacing ----------------------------------------------------------------------------


def parse_goal(text: str) -> float:
    """A revenue goal as typed: 2400000, 2,400,000 or 2.4e6; positive."""
    try:
        goal = float(text.replace(",", "").replace("_", "").strip())
    except ValueError:
        goal = math.nan
    if not math.isfinite(goal) or goal <= 0:
        raise RevlensError(
            "the revenue goal must be a positive number",
            value=text,
            code="RL051",
            fix="e.g. goal=2400000, or leave it empty for last year's revenue x 1.2",
        )
    return goal


def default_goal(wh: Warehouse, catalog: Catalog, project: Path | None) -> tuple[float, Row]:
    """The last 12 months' revenue x 1.2, rounded to a thousand, and the revenue row."""
    rows = _kpi_rows(wh, catalog, project, "revenue")
    row = rows[0] if rows else {}
    revenue = row.get("value") or 0.0
    if revenue <= 0:
        raise RevlensError(
            "no revenue in the last 12 months to base a default goal on",
            code="RL052",
            fix="give a revenue goal, e.g. goal=2400000",
        )
    return float(round(revenue * GOAL_FACTOR, -3)), row


def plan(
    wh: Warehouse, catalog: Catalog, project: Path | None, f: PageFilters, q: Mapping[str, str]
) -> View:
    """The reverse funnel to a revenue goal from measured rates, and pacing to this month's
    targets."""
    per = choice(q.get("per") or "month", "per", PLAN_PERS, code="RL764")
    goal_text = (q.get("goal") or "").strip()
    basis: Row | None = None
    if goal_text:
        goal = parse_goal(goal_text)
    else:
        goal, basis = default_goal(wh, catalog, project)
    result, note = service.make_plan(wh, revenue_goal=goal, from_history=True, per=per)
    body: Row = plain({**result.to_dict(), "targets_saved": None, "note": note})
    period = (q.get("period") or "").strip() or None
    pacing: list[Row] = plain(pacing_rows(wh, period, seed=PACING_SEED, catalog=catalog))
    twins = [
        Twin(
            "Plan",
            url("/api/plan", {"revenue_goal": _number(goal), "from_history": "true", "per": per}),
        ),
        Twin("Pacing", url("/api/pacing", {"period": period})),
    ]
    units = {r["kpi"]: catalog.get(r["kpi"]).unit.value for r in pacing if r["kpi"] in catalog.kpis}
    notes = [
        "The plan and pacing cover the whole business: the date range, channel, campaign and "
        "segment filters do not apply here."
    ]
    return View(
        title="Plan & pacing",
        twins=twins,
        data={"page": "plan", "plan": body, "pacing": pacing, "goal": goal},
        content={
            "goal": goal,
            "goal_text": goal_text,
            "basis": basis,
            "per": per,
            "pers": PLAN_PERS,
            "period": period,
            "plan": body,
            "pacing": pacing,
            "units": units,
        },
        notes=notes,
    )


def _number(value: float) -> str:
    """A goal as a URL parameter: no trailing .0."""
    return str(int(value)) if float(value).is_integer() else repr(value)


PAGES: dict[
    str, Callable[[Warehouse, Catalog, Path | None, PageFilters, Mapping[str, str]], View]
] = {
    "overview": overview,
    "funnel": funnel,
    "attribution": attribution,
    "trends": trends,
    "plan": plan,
}
