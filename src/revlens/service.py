"""The questions revlens answers, each asked with the parameters as users type them, so the
CLI, the HTTP API, the dashboard and the Excel report ask them the same way and get the
same rows. Every function here is engine work plus parsing: no printing, no HTTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from revlens.attribution import AttributionResult, attribute
from revlens.attribution.journeys import JourneyTable
from revlens.attribution.registry import ModelOptions, build_models
from revlens.catalog.dimensions import load_groupings
from revlens.catalog.spec import Catalog, Kind, load_catalog
from revlens.compile.context import DIMENSIONS, Context
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain, add_months, shifted
from revlens.compile.query import KpiQuery
from revlens.errors import RevlensError, UnknownName
from revlens.funnel.engine import FunnelQuery
from revlens.model.warehouse import Reader, Warehouse
from revlens.params import (
    choice,
    names,
    parse_day,
    parse_window,
    period_bounds,
)
from revlens.plan.planner import (
    PERIODS,
    Plan,
    Rate,
    apply_scenario,
    forward,
    parse_rates,
    reverse,
    spread_monthly,
)

PROJECT_FILE = Path("revlens.yml")
# The KPIs a team reads first: `revlens summary` and the Excel report's trend sheet
HEADLINE_KPIS = (
    "leads",
    "mqls",
    "sqls",
    "opportunities",
    "customers",
    "revenue",
    "spend",
    "cpl",
    "cac",
    "win_rate",
)
TARGET_COLUMNS = ("kpi", "period_start", "period_end", "dimension", "dimension_value", "target")
# the plan's stages and the KPI whose target each becomes
PLAN_TARGET_KPIS = {
    "visits": "sessions",
    "leads": "leads",
    "mqls": "mqls",
    "sqls": "sqls",
    "opportunities": "opportunities",
    "customers": "customers",
}


def project_file(path: Path | None) -> Path | None:
    """--catalog FILE, else ./revlens.yml when present."""
    if path is None and PROJECT_FILE.exists():
        return PROJECT_FILE
    return path


def catalog_for(path: Path | None) -> Catalog:
    """The built-in catalogue plus the project's KPIs, if any."""
    return load_catalog(project_file(path), measures=set(MEASURES))


def catalog_rows(cat: Catalog) -> list[dict[str, Any]]:
    """The catalogue as rows: each KPI with its definition (`revlens kpis`, `/api/catalog`)."""
    rows: list[dict[str, Any]] = []
    for spec in cat:
        f = spec.formula
        formula = f.measure or f.expression or f"{f.numerator} / {f.denominator}"
        rows.append(
            {
                "id": spec.id,
                "name": spec.name,
                "kind": spec.kind.value,
                "unit": spec.unit.value,
                "direction": spec.direction.value,
                "formula": formula,
                "description": spec.description,
                "cohort": f"{spec.cohort.from_stage} -> {spec.cohort.to_stage}"
                if spec.cohort
                else None,
                "tables": list(spec.tables),
                "source": spec.source,
            }
        )
    return rows


def grain_of(text: str | None) -> Grain | None:
    """day|week|month|quarter|year, or None for one row over the range."""
    if not text:
        return None
    return Grain(choice(text, "--grain", tuple(g.value for g in Grain), code="RL520"))


def kpi_query(
    ids: str,
    *,
    start: str | None = None,
    end: str | None = None,
    grain: str | None = None,
    by: str | None = None,
    mode: str = "period",
    window: str = "90d",
    lookback: str = "90d",
    attribution: str = "first_touch",
    compare: str | None = None,
    filters: dict[str, str] | None = None,
    project: Path | None = None,
) -> KpiQuery:
    """The query of `revlens kpi` / `GET /api/kpis`."""
    choice(mode, "--mode", ("period", "cohort"), code="RL513")
    if compare:
        choice(compare, "--compare", ("previous", "year"), code="RL514")
    return KpiQuery(
        kpis=names(ids),
        start=parse_day(start, "--from"),
        end=parse_day(end, "--to", month_end=True),
        grain=grain_of(grain),
        by=names(by),
        mode="cohort" if mode == "cohort" else "period",
        window_days=parse_window(window, "--window"),
        lookback_days=parse_window(lookback, "--lookback"),
        compare="previous" if compare == "previous" else ("year" if compare else None),
        groupings=load_groupings(project_file(project)),
        attribution=attribution,
        filters={k: v for k, v in (filters or {}).items() if v},
    )


def funnel_query(
    stages: str,
    *,
    start: str | None = None,
    end: str | None = None,
    mode: str = "cohort",
    window: str = "90d",
    grain: str | None = None,
    by: str | None = None,
    touch: str = "first",
    lookback: str = "90d",
    order: str = "ordered",
    skips: str | None = None,
    exclude: str | None = None,
    entity: str = "auto",
    filters: dict[str, str] | None = None,
    project: Path | None = None,
) -> FunnelQuery:
    """The query of `revlens funnel` / `GET /api/funnel`."""
    return FunnelQuery(
        stages=names(stages),
        start=parse_day(start, "--from"),
        end=parse_day(end, "--to", month_end=True),
        grain=grain_of(grain),
        by=names(by),
        touch=choice(touch, "--touch", ("first", "last")),  # type: ignore[arg-type]
        mode=choice(mode, "--mode", ("cohort", "period")),  # type: ignore[arg-type]
        window_days=parse_window(window, "--window"),
        lookback_days=parse_window(lookback, "--lookback"),
        order=choice(order, "--order", ("ordered", "strict")),  # type: ignore[arg-type]
        skips=choice(skips, "--skips", ("pass", "drop")) if skips else None,  # type: ignore[arg-type]
        exclude=names(exclude),
        entity=choice(entity, "--entity", ("auto", "contact", "opportunity")),  # type: ignore[arg-type]
        groupings=load_groupings(project_file(project)),
        filters={k: v for k, v in (filters or {}).items() if v},
    )


def attribution_journeys(
    wh: Reader,
    *,
    model: str,
    conversion: str = "customer",
    level: str = "channel",
    lookback: str = "90d",
    start: str | None = None,
    end: str | None = None,
) -> tuple[JourneyTable, str]:
    """The warehouse's journeys to `conversion` in the range (default: the year to the newest
    data), and a line saying what they are."""
    from revlens.attribution.warehouse import check_range, needs_timing, warehouse_journeys

    hi = parse_day(end, "--to", month_end=True) or Context(wh).data_end()
    lo = parse_day(start, "--from") or shifted(hi, 12) + dt.timedelta(days=1)
    check_range(lo, hi)
    journeys = warehouse_journeys(
        wh,
        conversion,
        start=lo,
        end=hi,
        level=level,
        lookback_days=parse_window(lookback, "--lookback"),
        timed=needs_timing(list(names(model))),
    )
    return journeys, f"{conversion} conversions {lo} .. {hi}, {lookback} lookback"


def warehouse_attribution(
    wh: Reader,
    *,
    model: str,
    conversion: str = "customer",
    level: str = "channel",
    lookback: str = "90d",
    start: str | None = None,
    end: str | None = None,
    seed: int = 0,
) -> tuple[AttributionResult, str]:
    """Credit per `level` value under each model (default options) for the warehouse's
    journeys: the question of `GET /api/attribution` and the dashboard's page."""
    models = build_models(model, ModelOptions())  # a mistyped model fails before any query
    journeys, source = attribution_journeys(
        wh,
        model=model,
        conversion=conversion,
        level=level,
        lookback=lookback,
        start=start,
        end=end,
    )
    return attribute(journeys, models, level=level, seed=seed), source


def make_plan(
    wh: Reader | None,
    *,
    revenue_goal: float | None = None,
    average_deal_size: float | None = None,
    visits: float | None = None,
    rates: str | None = None,
    from_history: bool = False,
    window: str = "12m",
    conversion_window: str = "180d",
    per: str = "month",
    scenario: str | None = None,
    start: str | None = None,
) -> tuple[Plan, str | None]:
    """The plan of `revlens plan` and a note on where its rates come from; `wh` is needed
    (open) only with `from_history`."""
    if (revenue_goal is None) == (visits is None):
        raise RevlensError(
            "give --revenue-goal (reverse) or --visits (forward)",
            code="RL760",
            fix="e.g. revlens plan --revenue-goal 10000000 --average-deal-size 1100000 --rates ...",
        )
    if not from_history and not rates:
        raise RevlensError(
            "no rates: give --rates or --from-history",
            code="RL761",
            fix="e.g. --rates visit_to_lead=0.015,lead_to_mql=0.2,"
            "mql_to_sql=0.2,sql_to_opportunity=0.4,win_rate=0.5",
        )
    given = {k: Rate(v) for k, v in parse_rates(rates).items()} if rates else {}
    lags: dict[str, float] = {}
    first_month = parse_day(start, "--start")
    note = None
    measured = given
    if from_history:
        from revlens.plan.history import from_history as measure

        assert wh is not None, "from_history needs the warehouse"
        hist = measure(
            wh,
            window_days=parse_window(window, "--window"),
            conversion_days=parse_window(conversion_window, "--conversion-window"),
        )
        newest = Context(wh).data_end()
        measured = {**hist.rates, **given}
        lags = hist.lag_days
        average_deal_size = average_deal_size or hist.average_deal_size
        first_month = first_month or add_months(newest.replace(day=1), 1)
        note = f"rates measured on the cohorts of {hist.start} .. {hist.end}"
    result = _plan(revenue_goal, average_deal_size, visits, measured, per)
    if scenario:
        alt = _plan(
            revenue_goal, average_deal_size, visits, apply_scenario(measured, scenario), per
        )
        result.scenario = {"change": scenario, "stages": alt.stages, "revenue": alt.revenue}
    if first_month is not None:
        spread_monthly(result, first_month, 12, lags)
    return result, note


def _plan(
    goal: float | None, deal: float | None, visits: float | None, rates: dict[str, Rate], per: str
) -> Plan:
    if goal is not None:
        if deal is None:
            raise RevlensError(
                "a reverse plan needs --average-deal-size (or --from-history)",
                code="RL762",
                fix="e.g. --average-deal-size 1100000",
            )
        return reverse(goal, deal, rates, per=per)
    assert visits is not None
    return forward(visits, rates, average_deal_size=deal, per=per)


def month_total(result: Plan, month: dt.date, stage: str) -> float:
    """What the plan needs of `stage` in `month`, over every cohort."""
    return float(
        sum(r["count"] for r in result.monthly if r["month"] == month and r["stage"] == stage)
    )


def save_plan_targets(wh: Warehouse, result: Plan) -> int:
    """Write the monthly plan as targets (replacing the same KPI and month); the count."""
    if not result.monthly:
        raise RevlensError(
            "--save-targets needs a plan start (--start or --from-history)",
            code="RL763",
            fix="e.g. --start 2027-01",
        )
    with wh.transaction():
        for row in result.monthly:
            lo = row["month"]
            _replace_target(
                wh,
                PLAN_TARGET_KPIS[row["stage"]],
                lo,
                add_months(lo, 1) - dt.timedelta(days=1),
                None,
                None,
                month_total(result, lo, row["stage"]),
            )
        if result.revenue is not None:
            for m in sorted({r["for_customers_in"] for r in result.monthly}):
                hi = add_months(m, 1) - dt.timedelta(days=1)
                share = result.revenue * PERIODS[result.per] / 12
                _replace_target(wh, "revenue", m, hi, None, None, share)
    return len({(r["stage"], r["month"]) for r in result.monthly})


def set_target(
    wh: Warehouse,
    catalog: Catalog,
    kpi_id: str,
    target: float,
    *,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    dimension: str | None = None,
    value: str | None = None,
    project: Path | None = None,
) -> dict[str, Any]:
    """Set (or replace) one target; the stored row."""
    spec = catalog.get(kpi_id)
    if (dimension is None) != (value is None):
        raise RevlensError(
            "--dimension and --value go together",
            code="RL517",
            fix="e.g. --dimension channel --value paid_search",
        )
    if dimension is not None:
        known = [*DIMENSIONS, *load_groupings(project_file(project))]
        if dimension not in known:
            raise UnknownName("dimension", dimension, known)
    if target < 0 and spec.kind in (Kind.count, Kind.sum, Kind.ratio, Kind.snapshot):
        raise RevlensError(
            f"a target for {spec.id} cannot be negative",
            value=target,
            code="RL518",
            fix="give a target of 0 or more",
        )
    lo, hi = period_bounds(period, start, end)
    with wh.transaction():
        _replace_target(wh, spec.id, lo, hi, dimension, value, target)
    return dict(zip(TARGET_COLUMNS, (spec.id, lo, hi, dimension, value, target), strict=True))


def _replace_target(
    wh: Warehouse,
    kpi: str,
    lo: dt.date,
    hi: dt.date,
    dimension: str | None,
    value: str | None,
    target: float,
) -> None:
    delete_target(wh, kpi, lo, hi, dimension, value)
    wh.con.execute(
        "INSERT INTO targets VALUES (?, ?, ?, ?, ?, ?)", [kpi, lo, hi, dimension, value, target]
    )


def delete_target(
    wh: Warehouse,
    kpi: str,
    lo: dt.date,
    hi: dt.date,
    dimension: str | None = None,
    value: str | None = None,
) -> int:
    """Remove one target; how many rows went (0 or 1)."""
    found = wh.con.execute(
        "DELETE FROM targets WHERE kpi = ? AND period_start = ? AND period_end = ? "
        "AND dimension IS NOT DISTINCT FROM ? AND dimension_value IS NOT DISTINCT FROM ? "
        "RETURNING kpi",
        [kpi, lo, hi, dimension, value],
    ).fetchall()
    return len(found)


def list_targets(wh: Warehouse, kpi: str | None = None) -> list[dict[str, Any]]:
    """Every target (or those of one KPI), by KPI and period."""
    rows = wh.con.execute(
        f"SELECT {', '.join(TARGET_COLUMNS)} FROM targets WHERE ? IS NULL OR kpi = ? "
        "ORDER BY kpi, period_start, dimension NULLS FIRST, dimension_value",
        [kpi, kpi],
    ).fetchall()
    return [dict(zip(TARGET_COLUMNS, r, strict=True)) for r in rows]
