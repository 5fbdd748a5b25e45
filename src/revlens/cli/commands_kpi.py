"""`revlens kpis`, `revlens kpi` and `revlens targets`: the catalogue and its numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from revlens.catalog.dimensions import load_groupings
from revlens.catalog.spec import Catalog, Kind, load_catalog
from revlens.cli.app import FormatOption, app, console, open_warehouse, print_rows, to_json
from revlens.cli.output import OutputFormat, format_change, format_value
from revlens.compile.context import DIMENSIONS
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain, add_months
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError, UnknownName

PROJECT_FILE = Path("revlens.yml")

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="A KPI catalogue file adding or overriding "
        "KPIs (default: ./revlens.yml when present).",
    ),
]


def project_file(path: Path | None) -> Path | None:
    """--catalog FILE, else ./revlens.yml when present."""
    if path is None and PROJECT_FILE.exists():
        return PROJECT_FILE
    return path


def catalog_for(path: Path | None) -> Catalog:
    """The built-in catalogue plus the project's KPIs, if any."""
    return load_catalog(project_file(path), measures=set(MEASURES))


@app.command()
def kpis(catalog: CatalogOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List the KPI catalogue with each KPI's definition."""
    cat = catalog_for(catalog)
    rows = []
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
    if format is OutputFormat.table:
        print_rows(
            rows,
            format,
            columns=["id", "name", "kind", "unit", "formula"],
            title=f"{len(rows)} KPIs",
        )
    else:
        print_rows(rows, format)


def parse_window(text: str, option: str) -> int:
    """'90d', '12w', '6m' or '1y' as days."""
    units = {"d": 1, "w": 7, "m": 30, "y": 365}
    body, unit = text[:-1], text[-1:].lower()
    if text.isdigit() and int(text) > 0:
        return int(text)
    if unit not in units or not body.isdigit() or int(body) == 0:
        raise RevlensError(
            f"{option} takes a length such as 90d, 12w, 6m or 1y",
            value=text,
            code="RL511",
            fix=f"e.g. {option} 90d",
        )
    return int(body) * units[unit]


def parse_day(text: str | None, option: str, *, month_end: bool = False) -> dt.date | None:
    """A day (2025-03-31) or a month (2025-03): its first day, or its last with `month_end`
    (so `--to 2025-03` covers March)."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        first = dt.date.fromisoformat(text + "-01")
        return add_months(first, 1) - dt.timedelta(days=1) if month_end else first
    except ValueError:
        raise RevlensError(
            f"{option} takes a date such as 2025-03-31 (or a month 2025-03)",
            value=text,
            code="RL512",
            fix=f"e.g. {option} 2025-01-01",
        ) from None


@app.command()
def kpi(
    ids: Annotated[str, typer.Argument(help="KPI id(s), comma-separated (see `revlens kpis`).")],
    start: Annotated[
        str | None, typer.Option("--from", help="First day (default: one year before --to).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day, included (default: the newest data).")
    ] = None,
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
            help="How conversions split over channel/source/medium/campaign/ad: "
            "first_touch, last_touch or linear (Markov and Shapley: `revlens "
            "attribution`)."
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
    if mode not in ("period", "cohort"):
        raise RevlensError(
            "--mode must be period or cohort",
            value=mode,
            code="RL513",
            fix="use --mode period or --mode cohort",
        )
    if compare not in (None, "previous", "year"):
        raise RevlensError(
            "--compare must be previous or year",
            value=compare,
            code="RL514",
            fix="use --compare previous or --compare year",
        )
    cat = catalog_for(catalog)
    query = KpiQuery(
        kpis=tuple(i.strip() for i in ids.split(",") if i.strip()),
        start=parse_day(start, "--from"),
        end=parse_day(end, "--to", month_end=True),
        grain=grain,
        by=tuple(d.strip() for d in by.split(",")) if by else (),
        mode="cohort" if mode == "cohort" else "period",
        window_days=parse_window(window, "--window"),
        lookback_days=parse_window(lookback, "--lookback"),
        compare="previous" if compare == "previous" else ("year" if compare else None),
        groupings=load_groupings(project_file(catalog)),
        attribution=_attribution(attribution),
    )
    with open_warehouse(read_only=True) as wh:
        result = run_kpis(wh, query, cat)
    rows = result.to_records()
    if format is OutputFormat.json:
        print(to_json(rows))
        return
    if format is OutputFormat.csv:
        print_rows(rows, format, columns=_columns(rows))
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


def _attribution(value: str) -> Literal["first_touch", "last_touch", "linear"]:
    if value == "first_touch":
        return "first_touch"
    if value == "last_touch":
        return "last_touch"
    if value == "linear":
        return "linear"
    if value in ("markov", "shapley"):
        raise RevlensError(
            f"{value} credit is computed over all journeys, not per period and row",
            value=value,
            code="RL519",
            fix="use `revlens attribution --model markov,shapley` for data-driven credit",
        )
    raise UnknownName("attribution model", value, ["first_touch", "last_touch", "linear"])


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
    return value


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
    spec = cat.get(kpi_id)
    kpi_id = spec.id
    if (dimension is None) != (value is None):
        raise RevlensError(
            "--dimension and --value go together",
            code="RL517",
            fix="e.g. --dimension channel --value paid_search",
        )
    if dimension is not None:
        known = [*DIMENSIONS, *load_groupings(project_file(catalog))]
        if dimension not in known:
            raise UnknownName("dimension", dimension, known)
    if target < 0 and spec.kind in (Kind.count, Kind.sum, Kind.ratio, Kind.snapshot):
        raise RevlensError(
            f"a target for {kpi_id} cannot be negative",
            value=target,
            code="RL518",
            fix="give a target of 0 or more",
        )
    lo, hi = _period_bounds(period, start, end)
    with open_warehouse() as wh, wh.transaction():
        wh.con.execute(
            "DELETE FROM targets WHERE kpi = ? AND period_start = ? AND period_end = ? "
            "AND dimension IS NOT DISTINCT FROM ? AND dimension_value IS NOT DISTINCT FROM ?",
            [kpi_id, lo, hi, dimension, value],
        )
        wh.con.execute(
            "INSERT INTO targets VALUES (?, ?, ?, ?, ?, ?)",
            [kpi_id, lo, hi, dimension, value, target],
        )
    scope = f" for {dimension} = {value}" if dimension else ""
    console.print(f"target {kpi_id}{scope} {lo} .. {hi} = {target:,.2f}", highlight=False)


def _period_bounds(period: str, start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    if start or end:
        lo, hi = parse_day(start, "--from"), parse_day(end, "--to", month_end=True)
        if lo is None or hi is None:
            raise RevlensError(
                "give both --from and --to",
                code="RL515",
                fix="e.g. --from 2025-01-01 --to 2025-03-31",
            )
        return lo, hi
    from revlens.compile.periods import add_months

    text = period.strip().upper()
    try:
        if "-Q" in text:
            year, q = text.split("-Q")
            lo = dt.date(int(year), (int(q) - 1) * 3 + 1, 1)
            return lo, add_months(lo, 3) - dt.timedelta(days=1)
        if len(text) == 4:
            return dt.date(int(text), 1, 1), dt.date(int(text), 12, 31)
        lo = dt.date.fromisoformat(text + "-01")
        return lo, add_months(lo, 1) - dt.timedelta(days=1)
    except ValueError:
        raise RevlensError(
            "--period takes 2025-03, 2025-Q1 or 2025",
            value=period,
            code="RL516",
            fix="or give --from and --to",
        ) from None


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
        rows = wh.con.execute(
            "SELECT kpi, period_start, period_end, dimension, dimension_value, target "
            "FROM targets WHERE ? IS NULL OR kpi = ? ORDER BY kpi, period_start",
            [kpi_id, kpi_id],
        ).fetchall()
    names = ["kpi", "period_start", "period_end", "dimension", "dimension_value", "target"]
    print_rows(
        [dict(zip(names, r, strict=True)) for r in rows], format, columns=names, title="targets"
    )
