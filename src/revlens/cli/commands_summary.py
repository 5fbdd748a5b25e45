"""`revlens summary` and `revlens demo`: the headline KPIs, and a realistic data set to see
them on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from revlens.catalog.spec import load_catalog
from revlens.cli.app import (
    FormatOption,
    app,
    console,
    open_reader,
    open_warehouse,
    print_rows,
    state,
)
from revlens.cli.output import OutputFormat, format_change, format_value
from revlens.compile.context import Context
from revlens.compile.measures import MEASURES
from revlens.compile.periods import add_months
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError
from revlens.model.warehouse import Warehouse, resolve_path
from revlens.params import parse_day
from revlens.service import HEADLINE_KPIS


def default_range(wh: Warehouse) -> tuple[dt.date, dt.date]:
    """The last twelve full months of data."""
    newest = Context(wh).data_end()
    month_end = add_months(newest.replace(day=1), 1) - dt.timedelta(days=1)
    end = newest if newest == month_end else newest.replace(day=1) - dt.timedelta(days=1)
    return add_months(end.replace(day=1), -11), end


def print_summary(
    wh: Warehouse, start: dt.date | None, end: dt.date | None, fmt: OutputFormat
) -> None:
    """The headline KPIs of a range (default: the last twelve full months of data), with the
    previous period and targets."""
    lo, hi = default_range(wh)
    query = KpiQuery(kpis=HEADLINE_KPIS, start=start or lo, end=end or hi, compare="previous")
    catalog = load_catalog(measures=set(MEASURES))
    result = run_kpis(wh, query, catalog)
    if fmt is not OutputFormat.table:
        print_rows(result.to_records(), fmt)
        return
    currency = wh.settings().reporting_currency
    rows = []
    for r in result.rows:
        suffix = f" {currency}" if r["unit"] == "money" and r["value"] is not None else ""
        rows.append(
            {
                "kpi": r["kpi"],
                "name": catalog.get(r["kpi"]).name,
                "value": format_value(r["value"], r["unit"]) + suffix,
                "previous": format_value(r.get("previous_value"), r["unit"]),
                "change": format_change(r.get("change")),
                "target": format_value(r["target"], r["unit"]) if "target" in r else "",
                "attainment": format_value(r["attainment"], "percent") if "attainment" in r else "",
            }
        )
    print_rows(rows, fmt, title=f"KPI summary {result.start} .. {result.end}")


@app.command()
def summary(
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day or month (default: 12 full months back)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="Last day or month, included (default: the end of the last full month)."
        ),
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Headline KPIs: leads, MQLs, SQLs, opportunities, customers, revenue, spend, CPL, CAC,
    win rate, with the previous period and targets."""
    with open_reader() as wh:
        print_summary(
            wh, parse_day(start, "--from"), parse_day(end, "--to", month_end=True), format
        )


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(help="Number of contacts to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 42,
    no_serve: Annotated[
        bool,
        typer.Option(
            "--no-serve",
            help="Load the data and print the KPI summary, without starting the dashboard.",
        ),
    ] = False,
    parquet: Annotated[
        Path | None,
        typer.Option(
            help="Write the data set as Parquet files under this folder "
            "(streamed, for benchmarks) instead of loading it."
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Start from an empty warehouse: delete the file first."),
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = 8000,
) -> None:
    """Generate a realistic, seeded demo data set (24 months, every table) and load it through
    the normal import path, print the KPI summary, then serve the dashboard on 127.0.0.1
    with a fresh login (user `demo`, a new password each time)."""
    from revlens.demo.generate import load_demo, write_parquet

    if parquet is not None:
        counts = write_parquet(parquet, contacts=contacts, seed=seed)
        print_rows(
            [{"table": k, "rows": v} for k, v in counts.items()],
            OutputFormat.table,
            title=f"demo data written to {parquet}",
        )
        return
    path = resolve_path(state.warehouse)
    if replace and path.exists():
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
    with Warehouse.open(path, create=True) as wh:
        if any(wh.row_counts().values()):
            raise RevlensError(
                "the warehouse already holds data; the demo would mix with it",
                where=str(path),
                code="RL530",
                fix="pass --replace to start from an empty warehouse, or --warehouse NEW_FILE",
            )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("generating and loading demo data", total=None)

            def report(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            counts = load_demo(wh, contacts=contacts, seed=seed, progress=report)
        print_rows(
            [{"table": k, "rows": v} for k, v in counts.items()],
            OutputFormat.table,
            title=f"demo data loaded into {wh.path}",
        )
        print_summary(wh, None, None, OutputFormat.table)
    if no_serve:
        return
    import secrets

    from revlens.api.credentials import Role, create_user
    from revlens.cli.commands_server import serve

    password = secrets.token_urlsafe(12)
    with Warehouse.open(path) as wh:
        create_user(wh, "demo", password, Role.admin)
    console.print(
        f"\nDashboard: http://127.0.0.1:{port}  log in as user [bold]demo[/bold], password "
        f"[bold]{password}[/bold]\nAPI: http://127.0.0.1:{port}/docs  (a token: "
        "`revlens token create --role viewer`)\n"
    )
    serve(host="127.0.0.1", port=port, catalog=None, session_hours=8, secure_cookies=False)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (created).")],
    format: Annotated[str, typer.Option("--format", help="parquet (the only one so far).")] = (
        "parquet"
    ),
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite the folder if it exists.")
    ] = False,
) -> None:
    """Write the canonical tables as a Parquet lake (one folder per table, touchpoints also
    per month) for engines that read files, e.g. `revlens --engine spark --lake PATH`."""
    from revlens.engines.lake import export_lake

    if format != "parquet":
        raise RevlensError(
            "--format must be parquet", value=format, code="RL041", fix="use --format parquet"
        )
    with open_warehouse(read_only=True) as wh:
        counts = export_lake(wh, out, replace=replace)
    total = sum(counts.values())
    console.print(f"exported {total:,} rows of {len(counts)} tables to {out}", highlight=False)
