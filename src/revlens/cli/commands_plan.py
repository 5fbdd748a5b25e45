"""`revlens plan`: the reverse and forward funnel planner."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

import typer

from revlens.cli.app import (
    FormatOption,
    app,
    console,
    open_reader,
    open_warehouse,
    print_rows,
    to_json,
)
from revlens.cli.output import OutputFormat, format_value
from revlens.model.warehouse import Reader
from revlens.params import parse_day
from revlens.plan.planner import STAGES, Plan
from revlens.service import make_plan, month_total, save_plan_targets


@app.command()
def plan(
    revenue_goal: Annotated[
        float | None, typer.Option(help="Annual revenue goal (reverse plan).")
    ] = None,
    average_deal_size: Annotated[
        float | None,
        typer.Option(help="Revenue per new customer (default with --from-history: measured)."),
    ] = None,
    visits: Annotated[
        float | None, typer.Option(help="Visits per --per period (forward plan).")
    ] = None,
    rates: Annotated[
        str | None,
        typer.Option(
            help="visit_to_lead=0.015,lead_to_mql=0.2,"
            "mql_to_sql=0.2,sql_to_opportunity=0.4,"
            "win_rate=0.5"
        ),
    ] = None,
    from_history: Annotated[
        bool,
        typer.Option(
            "--from-history", help="Measure the rates, deal size and stage lags in the warehouse."
        ),
    ] = False,
    window: Annotated[str, typer.Option(help="History window, e.g. 12m.")] = "12m",
    conversion_window: Annotated[
        str, typer.Option(help="How long a cohort may take to convert, e.g. 180d.")
    ] = "180d",
    per: Annotated[
        str, typer.Option(help="Spread the annual plan per month, quarter or year.")
    ] = "month",
    scenario: Annotated[
        str | None,
        typer.Option(help="Change rates, e.g. mql_to_sql=+0.05, win_rate=0.6, lead_to_mql=*1.1."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start", help="First month of the plan (default: the month after the newest data)."
        ),
    ] = None,
    save_targets: Annotated[
        bool, typer.Option("--save-targets", help="Write the monthly plan as targets.")
    ] = False,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Plan the funnel: reverse from a revenue goal to the visits it needs, or forward from
    traffic to customers and revenue."""
    reading: AbstractContextManager[Reader | None] = (
        open_reader() if from_history else nullcontext(None)
    )
    with reading as wh:
        result, note = make_plan(
            wh,
            revenue_goal=revenue_goal,
            average_deal_size=average_deal_size,
            visits=visits,
            rates=rates,
            from_history=from_history,
            window=window,
            conversion_window=conversion_window,
            per=per,
            scenario=scenario,
            start=start,
        )
    if note and format is OutputFormat.table:
        console.print(note, highlight=False, style="dim")
    saved = None
    if save_targets:
        with open_warehouse() as wh:
            saved = save_plan_targets(wh, result)
    if format is OutputFormat.json:
        print(to_json({**result.to_dict(), "targets_saved": saved}))
        return
    if saved is not None:
        console.print(f"saved {saved} monthly targets", highlight=False)
    if format is OutputFormat.csv:
        print_rows(result.stages, format)
        return
    _print(result)


def _print(result: Plan) -> None:
    rows: list[dict[str, Any]] = []
    alt = {r["stage"]: r for r in result.scenario["stages"]} if result.scenario else {}
    for r in result.stages:
        row = {
            "stage": r["stage"],
            f"per {result.per}": f"{r['count']:,.2f}",
            "rate": "" if r["rate"] is None else format_value(r["rate"], "percent"),
        }
        rate = result.rates.get(r["rate_name"] or "")
        if rate is not None and rate.low is not None:
            row["95% interval"] = (
                f"{format_value(rate.low, 'percent')} – {format_value(rate.high, 'percent')}"
            )
        if alt:
            row["scenario"] = f"{alt[r['stage']]['count']:,.2f}"
        rows.append(row)
    title = f"{result.direction} plan"
    if result.revenue is not None:
        title += f": revenue {result.revenue:,.2f} per {result.per}"
    print_rows(rows, OutputFormat.table, title=title)
    if result.monthly:
        months = sorted({r["month"] for r in result.monthly})
        table = []
        for stage in STAGES:
            line: dict[str, Any] = {"stage": stage}
            for m in months[:6]:
                total = month_total(result, m, stage)
                line[m.strftime("%Y-%m")] = f"{total:,.1f}" if total else ""
            table.append(line)
        print_rows(
            table,
            OutputFormat.table,
            title="needed by month (earlier stages shifted back by the stage lags)",
        )


@app.command()
def pacing(
    period: Annotated[
        str | None,
        typer.Option(help="The month, e.g. 2025-03 (default: the month of the newest data)."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Pace as of this day (default: the newest data).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the Monte Carlo simulation.")] = 7,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Every KPI with a target this month: actual to date, linear expectation, projection,
    probability of reaching the target and a status (on track / at risk / off track)."""
    from revlens.plan.pacing import pacing_rows

    with open_reader() as wh:
        rows = pacing_rows(wh, period, as_of=parse_day(as_of, "--as-of"), seed=seed)
    if not rows and format is OutputFormat.table:
        console.print(
            "no KPI has a target for this month: set one with `revlens targets set` "
            "or `revlens plan --save-targets`",
            highlight=False,
        )
        return
    if format is not OutputFormat.table:
        print_rows(rows, format)
        return
    marks = {"on_track": "on track", "at_risk": "at risk", "off_track": "OFF TRACK"}
    print_rows(
        [
            {
                "kpi": r["kpi"],
                "actual": _num(r["actual"]),
                "expected now": _num(r["expected_to_date"]),
                "projected": _num(r["projected"]),
                "target": _num(r["target"]),
                "probability": "" if r["probability"] is None else f"{r['probability']:.0%}",
                "status": marks[r["status"]],
                "how": r["method"],
            }
            for r in rows
        ],
        format,
        title=f"pacing {rows[0]['period_start']:%Y-%m} as of {rows[0]['as_of']}",
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
