"""`revlens report excel`: the KPI report as an Excel workbook (KPI template, trend, funnel,
attribution, with native charts). A thin layer over revlens.report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revlens.cli.app import FromOption, ToOption, app, console, open_reader
from revlens.cli.commands_kpi import CatalogOption
from revlens.compile.periods import Grain
from revlens.report.excel import check_output, write_report
from revlens.report.filters import report_filters
from revlens.service import catalog_for

report_app = typer.Typer(
    help="Reports to share: the KPIs, trend, funnel and attribution as an Excel workbook.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


@report_app.command("excel")
def excel(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The workbook to write, e.g. report.xlsx.")
    ],
    start: FromOption = None,
    end: ToOption = None,
    grain: Annotated[
        Grain, typer.Option(help="Periods of the Trend sheet: day, week, month, quarter, year.")
    ] = Grain.month,
    channel: Annotated[
        str | None, typer.Option(help="Only this channel's numbers, e.g. paid_search.")
    ] = None,
    campaign: Annotated[
        str | None,
        typer.Option(help="Only this campaign's numbers (attribution then credits campaigns)."),
    ] = None,
    segment: Annotated[
        str | None, typer.Option(help="Only the numbers of this contact segment, e.g. smb.")
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Write the Excel report: every KPI with target and attainment, a trend, the funnel
    and attribution by model, with charts; landscape, one page wide."""
    filters = report_filters(
        start=start,
        end=end,
        grain=grain.value,
        channel=channel,
        campaign=campaign,
        segment=segment,
    )
    check_output(out)  # before the queries: a wrong --out fails at once
    cat = catalog_for(catalog)
    with open_reader() as wh:
        report = write_report(out, wh, filters, cat)
    console.print(
        f"wrote {out} ({report.start} .. {report.end}, filters: {filters.describe()})",
        highlight=False,
    )
    for sheet in report.sheets:
        charts = f", {sheet.charts} chart{'s' if sheet.charts != 1 else ''}" if sheet.charts else ""
        note = f" - {sheet.note}" if sheet.note else ""
        rows = f"{sheet.rows} row{'s' if sheet.rows != 1 else ''}"
        console.print(f"  {sheet.name}: {rows}{charts}{note}", highlight=False)
