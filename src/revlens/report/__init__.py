"""Exports of revlens numbers, fed by the same result objects as the CLI and the API:
`build_workbook(wh, ReportFilters(...), catalog)` gives the Excel report's bytes."""

from __future__ import annotations

from revlens.report.excel import (
    SHEETS,
    XLSX_MEDIA_TYPE,
    ExcelReport,
    SheetSummary,
    build_report,
    build_workbook,
    write_report,
)
from revlens.report.filters import ReportFilters, report_filters

__all__ = [
    "SHEETS",
    "XLSX_MEDIA_TYPE",
    "ExcelReport",
    "ReportFilters",
    "SheetSummary",
    "build_report",
    "build_workbook",
    "report_filters",
    "write_report",
]
