"""`revlens funnel`, `cohorts` and `velocity`: how contacts and deals move through stages."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from revlens.cli.app import (
    FormatOption,
    FromOption,
    ToOption,
    app,
    console,
    open_reader,
    open_warehouse,
    print_rows,
    to_json,
)
from revlens.cli.commands_kpi import CatalogOption
from revlens.cli.output import OutputFormat, format_value
from revlens.compile.periods import Grain
from revlens.errors import UnknownName
from revlens.funnel.cohorts import cohort_matrix
from revlens.funnel.engine import run_funnel
from revlens.funnel.scoring import evaluate, load_rules, score_contacts
from revlens.funnel.velocity import stage_velocity
from revlens.params import parse_day
from revlens.service import funnel_query, project_file


@app.command()
def funnel(
    stages: Annotated[
        str,
        typer.Option(
            help="Stages in order, comma-separated: lifecycle "
            "stages (lead,mql,sql,...) or opportunity stages."
        ),
    ],
    start: FromOption = None,
    end: ToOption = None,
    mode: Annotated[
        str,
        typer.Option(
            help="cohort: follow contacts from their entry into the "
            "first stage, within --window; period: count stage "
            "entries inside each period."
        ),
    ] = "cohort",
    window: Annotated[
        str, typer.Option(help="Conversion window in cohort mode, e.g. 90d.")
    ] = "90d",
    grain: Annotated[
        Grain | None,
        typer.Option(
            help="One cohort/period per day, week, month, "
            "quarter or year (default: the whole range)."
        ),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Breakdown dimension(s), comma-separated.")] = None,
    touch: Annotated[
        str, typer.Option(help="Marketing dimensions from the first or last touch before entry.")
    ] = "first",
    lookback: Annotated[str, typer.Option(help="Touch lookback before entry, e.g. 90d.")] = "90d",
    order: Annotated[
        str,
        typer.Option(
            help="ordered: each stage at or after the previous; "
            "strict: and no other stage in between."
        ),
    ] = "ordered",
    skips: Annotated[
        str | None,
        typer.Option(
            help="pass: a skipped stage counts as passed "
            "(default for lifecycle stages); drop: it does "
            "not (default for opportunity stages)."
        ),
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option(help="Leave out entities with these stages after entry, comma-separated."),
    ] = None,
    entity: Annotated[str, typer.Option(help="auto, contact or opportunity.")] = "auto",
    catalog: CatalogOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """A stage funnel: counts, conversion from the first and previous stage, drop-off and
    time to convert, by cohort or period."""
    query = funnel_query(
        stages,
        start=start,
        end=end,
        mode=mode,
        window=window,
        grain=grain.value if grain else None,
        by=by,
        touch=touch,
        lookback=lookback,
        order=order,
        skips=skips,
        exclude=exclude,
        entity=entity,
        project=catalog,
    )
    with open_reader() as wh:
        result = run_funnel(wh, query)
    if format is not OutputFormat.table:
        print_rows(result.rows, format)
        return
    shown = [_funnel_cell(r) for r in result.rows]
    print_rows(
        shown,
        format,
        title=f"{' → '.join(query.stages)} {result.start} .. "
        f"{result.end} ({query.mode}, {result.entity}s)",
    )


SHORT = {
    "conversion_from_first": "of first",
    "conversion_from_previous": "of previous",
    "median_days": "median d",
    "mean_days": "mean d",
    "p90_days": "p90 d",
}


def _funnel_cell(row: dict[str, Any]) -> dict[str, Any]:
    """A funnel row for the terminal: short headers, percents, one decimal for days."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in ("cohort_end", "period_end"):
            continue
        if k.startswith("conversion"):
            out[SHORT[k]] = format_value(v, "percent") if v is not None else ""
        elif k.endswith("_days"):
            out[SHORT[k]] = "" if v is None else f"{v:.1f}"
        elif k == "immature":
            out[k] = "yes" if v else ""
        else:
            out[k] = v
    return out


@app.command()
def cohorts(
    from_stage: Annotated[str, typer.Option("--from-stage", help="Entry stage (the cohort).")],
    to_stage: Annotated[str, typer.Option("--to-stage", help="Stage whose reach is measured.")],
    start: FromOption = None,
    end: ToOption = None,
    grain: Annotated[Grain, typer.Option(help="Cohort period.")] = Grain.month,
    months: Annotated[int, typer.Option(help="Months since entry to show.")] = 12,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Cohort matrix: entry period x months since entry -> cumulative conversion."""
    with open_reader() as wh:
        matrix = cohort_matrix(
            wh,
            from_stage,
            to_stage,
            start=parse_day(start, "--from"),
            end=parse_day(end, "--to", month_end=True),
            grain=grain,
            months=months,
        )
    if format is not OutputFormat.table:
        print_rows(matrix.rows, format)
        return
    wide: dict[Any, dict[str, Any]] = {}
    for r in matrix.rows:
        row = wide.setdefault(r["cohort"], {"cohort": r["cohort"], "size": r["size"]})
        row[f"m{r['month']}"] = (
            format_value(r["rate"], "percent") if r["observed"] and r["rate"] is not None else ""
        )
    print_rows(
        list(wide.values()),
        format,
        columns=["cohort", "size", *[f"m{m}" for m in range(months + 1)]],
        keep_empty=True,
        title=f"{from_stage} → {to_stage}: cumulative conversion by months since entry",
    )


@app.command()
def velocity(
    from_stage: Annotated[str, typer.Option("--from-stage", help="Stage the clock starts at.")],
    to_stage: Annotated[
        str | None,
        typer.Option(
            "--to-stage", help="Stage the clock stops at (default: any later stage: time in stage)."
        ),
    ] = None,
    start: FromOption = None,
    end: ToOption = None,
    grain: Annotated[Grain | None, typer.Option(help="Trend period.")] = Grain.month,
    bins: Annotated[int, typer.Option(help="Histogram bins.")] = 10,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Time between two stages (or in a stage): histogram and trend by period."""
    with open_reader() as wh:
        v = stage_velocity(
            wh,
            from_stage,
            to_stage,
            start=parse_day(start, "--from"),
            end=parse_day(end, "--to", month_end=True),
            grain=grain,
            bins=bins,
        )
    if format is OutputFormat.json:
        print(
            to_json(
                {
                    "from_stage": v.from_stage,
                    "to_stage": v.to_stage,
                    "histogram": v.histogram,
                    "trend": v.trend,
                }
            )
        )
        return
    if format is OutputFormat.csv:
        print_rows(v.trend, format)
        return
    print_rows(
        [
            {"days": f"{h['from_days']:.1f}–{h['to_days']:.1f}", "count": h["count"]}
            for h in v.histogram
        ],
        format,
        title="time to convert (days)",
    )
    print_rows(
        [{k: (f"{x:.1f}" if isinstance(x, float) else x) for k, x in r.items()} for r in v.trend],
        format,
        title="trend by period of entry",
    )


@app.command()
def score(
    rules: Annotated[
        Path | None,
        typer.Option(
            help="A YAML file with a `scoring:` section "
            "(default: ./revlens.yml, else built-in rules)."
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score as of this day (default: the newest data).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Stage that counts as converted in the evaluation (default: the rules' target)."
        ),
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Score every lead by its behaviour, write the scores to `lead_scores`, and report how
    well the score separates leads that later converted (ROC AUC, lift by decile)."""
    scoring = load_rules(rules or project_file(None))
    if target:
        scoring = scoring.model_copy(update={"target": target})
    with open_warehouse() as wh:
        if scoring.target not in wh.settings().stages:
            raise UnknownName("stage", scoring.target, wh.settings().stages)
        written = score_contacts(wh, scoring, parse_day(as_of, "--as-of"))
        report = evaluate(wh, scoring)
    if format is OutputFormat.json:
        print(to_json({"scored": written, "evaluation": asdict(report)}))
        return
    if format is OutputFormat.csv:
        print_rows(report.deciles, format)
        return
    console.print(
        f"scored {written} leads into lead_scores (MQL at {scoring.threshold:g} points)\n"
        f"evaluation against reaching {report.target}: {report.leads} leads, "
        f"{report.converted} converted, ROC AUC "
        f"{'n/a' if report.auc is None else f'{report.auc:.3f}'}; at the threshold "
        f"{report.above_threshold} leads, precision "
        f"{format_value(report.precision_at_threshold, 'percent')}, recall "
        f"{format_value(report.recall_at_threshold, 'percent')}",
        highlight=False,
    )
    print_rows(
        [
            {
                **d,
                "rate": format_value(d["rate"], "percent"),
                "lift": "" if d["lift"] is None else f"{d['lift']:.2f}",
            }
            for d in report.deciles
        ],
        format,
        title="conversion by score decile (1 = top)",
    )
