"""`revlens kpis`, `revlens kpi` and `revlens targets`: the catalogue and its numbers."""

from __future__ import annotations

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
from revlens.cli.output import OutputFormat, format_change, format_value
from revlens.compile.periods import Grain
from revlens.compile.query import run_kpis
from revlens.service import (
    TARGET_COLUMNS,
    catalog_for,
    catalog_rows,
    kpi_query,
    list_targets,
    set_target,
)

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="A KPI catalogue file adding or overriding "
        "KPIs (default: ./revlens.yml when present).",
    ),
]


@app.command()
def kpis(catalog: CatalogOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List the KPI catalogue with each KPI's definition."""
    cat = catalog_for(catalog)
    rows = catalog_rows(cat)
    if format is OutputFormat.table:
        print_rows(
            rows,
            format,
            columns=["id", "name", "kind", "unit", "formula"],
            title=f"{len(rows)} KPIs",
        )
    else:
        print_rows(rows, format)


@app.command()
def kpi(
    ids: Annotated[str, typer.Argument(help="KPI id(s), comma-separated (see `revlens kpis`).")],
    start: FromOption = None,
    end: ToOption = None,
    grain: Annotated[
        Grain | None,
        typer.Option(
            help="One row per day, week, month, quarter or year (default: one row for the range)."
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Dimension(s), comma-separated: channel, "
            "source, medium, campaign, ad, segment, country, "
            "owner, product, account, or a grouping of revlens.yml."
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="period: events counted by their own date; "
            "cohort: conversions of the contacts entering in the "
            "period, within --window."
        ),
    ] = "period",
    window: Annotated[
        str, typer.Option(help="Conversion window in cohort mode, e.g. 90d.")
    ] = "90d",
    lookback: Annotated[
        str, typer.Option(help="First-touch lookback for marketing dimensions, e.g. 90d.")
    ] = "90d",
    attribution: Annotated[
        str,
        typer.Option(
            help="How conversions split over channel/source/medium/campaign/ad: any "
            "model of `revlens attribution` but custom (first_touch, last_touch, "
            "last_non_direct, linear, time_decay, position_based, w_shaped, full_path, "
            "markov, shapley)."
        ),
    ] = "first_touch",
    compare: Annotated[
        str | None,
        typer.Option(help="previous: the period before; year: the same period a year earlier."),
    ] = None,
    catalog: CatalogOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Compute KPIs by period and dimension, with targets and comparisons."""
    cat = catalog_for(catalog)
    query = kpi_query(
        ids,
        start=start,
        end=end,
        grain=grain.value if grain else None,
        by=by,
        mode=mode,
        window=window,
        lookback=lookback,
        attribution=attribution,
        compare=compare,
        project=catalog,
    )
    with open_reader() as wh:
        result = run_kpis(wh, query, cat)
    rows = result.to_records()
    if format is OutputFormat.json:
        print(to_json(rows))
        return
    if format is OutputFormat.csv:
        flat = [{k: _sources_text(v) if k == "sources" else v for k, v in r.items()} for r in rows]
        print_rows(flat, format, columns=_columns(rows))
        return
    if query.mode == "cohort":
        period_only = sorted({r["kpi"] for r in rows if r["mode"] == "period"})
        if period_only:
            console.print(
                f"note: {', '.join(period_only)} have no cohort definition and are "
                "shown period-based (see `revlens kpis`)",
                highlight=False,
                style="dim",
            )
    shown = [
        {
            k: "(none)" if k in query.by and v is None else _cell(k, v, r["unit"])
            for k, v in r.items()
            if k != "unit"
        }
        for r in rows
    ]
    print_rows(
        shown,
        format,
        columns=[c for c in _columns(rows) if c != "unit"],
        title=f"{', '.join(result.query.kpis)} {result.start} .. {result.end} ({mode})",
    )


def _cell(column: str, value: Any, unit: str) -> Any:
    if column in ("value", "target", "previous_value", "mean"):
        return format_value(value, unit)
    if column == "immature":
        return "yes" if value else ""
    if column == "change":
        return format_change(value)
    if column == "attainment":
        return format_value(value, "percent")
    if column in ("numerator", "denominator"):
        return "" if value is None else format_value(value, "count")
    if column == "sources":
        return _sources_text(value)
    return value


def _sources_text(value: Any) -> str:
    """The tables that fed a value (`sources`) as one cell: web_traffic+touchpoints."""
    return "" if value is None else "+".join(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


targets_app = typer.Typer(
    help="Targets per KPI and period: set, import, list.", no_args_is_help=True
)
app.add_typer(targets_app, name="targets")


@targets_app.command("set")
def targets_set(
    kpi_id: Annotated[str, typer.Argument(help="KPI id.")],
    target: Annotated[float, typer.Option(help="The target value.")],
    period: Annotated[
        str,
        typer.Option(
            help="A month (2025-03), quarter (2025-Q1) or year (2025); or use --from/--to."
        ),
    ] = "",
    start: Annotated[str | None, typer.Option("--from", help="First day of the period.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day of the period.")] = None,
    dimension: Annotated[str | None, typer.Option(help="Only for this dimension ...")] = None,
    value: Annotated[str | None, typer.Option(help="... and this value of it.")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Set (or replace) one target."""
    cat = catalog_for(catalog)
    with open_warehouse() as wh:
        row = set_target(
            wh,
            cat,
            kpi_id,
            target,
            period=period,
            start=start,
            end=end,
            dimension=dimension,
            value=value,
            project=catalog,
        )
    kpi_id, lo, hi = row["kpi"], row["period_start"], row["period_end"]
    scope = f" for {dimension} = {value}" if dimension else ""
    console.print(f"target {kpi_id}{scope} {lo} .. {hi} = {target:,.2f}", highlight=False)


@targets_app.command("import")
def targets_import(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CSV/XLSX/Parquet/JSONL files of "
            "targets (kpi, period_start, period_end, "
            "target, dimension?, dimension_value?)."
        ),
    ],
    format: FormatOption = OutputFormat.table,
) -> None:
    """Import targets from files (the same as `revlens import --table targets`)."""
    from revlens.cli.commands_import import import_command

    import_command(
        files=files,
        table="targets",
        mapping=None,
        on_error="reject",
        delimiter=None,
        quotechar=None,
        encoding=None,
        sheet=None,
        file_format=None,
        format=format,
    )


@targets_app.command("list")
def targets_list(
    kpi_id: Annotated[str | None, typer.Option("--kpi", help="Only this KPI.")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """List targets."""
    with open_warehouse(read_only=True) as wh:
        rows = list_targets(wh, kpi_id)
    print_rows(rows, format, columns=list(TARGET_COLUMNS), title="targets")
