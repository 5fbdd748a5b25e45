"""The Excel report: a KPI template sheet (every KPI of the catalogue with its definition,
actual, a target to fill in and a live attainment formula), a trend, the cohort funnel and
attribution by model, with native Excel charts, each sheet printable landscape on one page
wide. Written with xlsxwriter into memory, so the CLI saves it and the server sends it."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from revlens.attribution.journeys import NONE_CHANNEL
from revlens.catalog.spec import Catalog, Direction, KpiSpec
from revlens.compile.periods import Grain
from revlens.errors import RevlensError
from revlens.model.warehouse import Reader
from revlens.report.data import ATTRIBUTION_MODELS, WINDOW_DAYS, ReportData, gather, keep_row
from revlens.report.filters import ReportFilters
from revlens.service import catalog_rows

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEETS = ("KPIs", "Trend", "Funnel", "Attribution")
KPI_COLUMNS = (
    "id",
    "name",
    "definition",
    "formula",
    "unit",
    "direction",
    "actual",
    "target",
    "attainment",
    "numerator",
    "denominator",
)
FUNNEL_COLUMNS = (
    "stage",
    "count",
    "conversion_from_first",
    "conversion_from_previous",
    "dropped",
    "median_days",
    "mean_days",
    "p90_days",
)
# attainment colours (Excel's own good / neutral / bad styles)
GREEN = {"bg_color": "#C6EFCE", "font_color": "#006100"}
AMBER = {"bg_color": "#FFEB9C", "font_color": "#9C5700"}
RED = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
UNIT_FORMATS = {
    "count": "#,##0",
    "percent": "0.0%",
    "ratio": "0.00",
    "days": '0.0 "days"',
    "minutes": '0.0 "min"',
}
CREDIT_FORMAT = "#,##0.00"
PERIOD_FORMATS = {Grain.month: "mmm yyyy", Grain.year: "yyyy"}
LINE_HEIGHT = 15  # points per line of wrapped text (Calibri 11)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once at import: os.umask is process-wide and not thread-safe


@dataclass(frozen=True)
class SheetSummary:
    """One sheet of a written report: its data rows, native charts and empty-data note."""

    name: str
    rows: int
    charts: int
    note: str = ""


@dataclass(frozen=True)
class ExcelReport:
    """A built report: the .xlsx bytes and what is in them."""

    content: bytes
    start: dt.date
    end: dt.date
    sheets: tuple[SheetSummary, ...]

    @property
    def filename(self) -> str:
        """A download name that says the range, e.g. revlens-report-2025-01-01-2025-12-31.xlsx."""
        return f"revlens-report-{self.start}-{self.end}.xlsx"


def build_report(
    wh: Reader,
    filters: ReportFilters,
    catalog: Catalog,
    *,
    generated_at: dt.datetime | None = None,
) -> ExcelReport:
    """Compute the report's numbers and render the workbook in memory."""
    return render(gather(wh, filters, catalog, generated_at=generated_at))


def build_workbook(
    wh: Reader,
    filters: ReportFilters,
    catalog: Catalog,
    *,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """The .xlsx bytes of the report (for a download: see XLSX_MEDIA_TYPE)."""
    return build_report(wh, filters, catalog, generated_at=generated_at).content


def write_report(
    path: Path,
    wh: Reader,
    filters: ReportFilters,
    catalog: Catalog,
    *,
    generated_at: dt.datetime | None = None,
) -> ExcelReport:
    """Build the report and save it at `path` atomically (an old file stays whole on error)."""
    check_output(path)
    report = build_report(wh, filters, catalog, generated_at=generated_at)
    save_atomically(path, report.content)
    return report


def check_output(path: Path) -> None:
    """Refuse an output path that cannot become an .xlsx file, before any work is done."""
    if path.suffix.lower() != ".xlsx":
        raise RevlensError(
            "the report is an Excel workbook: the output file must end in .xlsx",
            value=str(path),
            code="RL900",
            fix=f"e.g. --out {path.with_suffix('.xlsx').name}",
        )
    if path.is_dir():
        raise RevlensError(
            "the output path is a directory",
            value=str(path),
            code="RL901",
            fix=f"give a file name, e.g. --out {path / 'report.xlsx'}",
        )
    if not path.parent.is_dir():
        raise RevlensError(
            "the output file's folder does not exist",
            where=str(path.parent),
            value=str(path),
            code="RL901",
            fix=f"create it first (mkdir -p {path.parent}) or choose another --out",
        )


def save_atomically(path: Path, content: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private; give it the mode a plain open() would
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RevlensError(
            f"cannot write the report: {exc.strerror or exc}",
            where=str(path),
            code="RL902",
            fix="check the folder's permissions and free space, or choose another --out",
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(data: ReportData) -> ExcelReport:
    """The workbook of `data`: the four sheets, in memory."""
    buffer = BytesIO()
    book = _Book(buffer, data)
    sheets = (
        book.kpi_sheet(),
        book.trend_sheet(),
        book.funnel_sheet(),
        book.attribution_sheet(),
    )
    book.close()
    return ExcelReport(buffer.getvalue(), data.start, data.end, sheets)


class _ExactWorksheet(Worksheet):  # type: ignore[misc]
    """A worksheet that stores numbers with every digit (shortest round-trip repr), as Excel
    itself saves them; xlsxwriter's 16 significant digits can change the last bit, and a
    report cell must equal the `revlens kpi` number exactly."""

    def _xml_number_element(self, number: float, attributes: list[tuple[str, Any]]) -> None:
        attr = "".join(f' {key}="{self._escape_attributes(value)}"' for key, value in attributes)
        self.fh.write(f"<c{attr}><v>{float(number)!r}</v></c>")


class _Book:
    """The workbook being written, with a cache of cell formats."""

    def __init__(self, buffer: BytesIO, data: ReportData) -> None:
        self.data = data
        created = data.generated_at.astimezone(dt.UTC).replace(tzinfo=None)
        self.wb: Any = xlsxwriter.Workbook(
            buffer, {"in_memory": True, "default_date_format": "yyyy-mm-dd"}
        )
        self.wb.worksheet_class = _ExactWorksheet
        self.wb.set_properties(
            {
                "title": f"revlens report {data.start} .. {data.end}",
                "subject": "KPIs, trend, funnel and attribution",
                "author": "revlens",
                "created": created,
            }
        )
        self._formats: dict[tuple[tuple[str, Any], ...], Any] = {}

    def close(self) -> None:
        """Finish the workbook: xlsxwriter writes the whole file here."""
        self.wb.close()

    # -- formats ------------------------------------------------------------------------
    def fmt(self, **props: Any) -> Any:
        """A cell format of these properties, made once (Excel caps the number of styles)."""
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            self._formats[key] = self.wb.add_format({"valign": "top", **props})
        return self._formats[key]

    def number_format(self, unit: str, *, cents: bool = True) -> str:
        """The Excel number format of a unit; money in the reporting currency."""
        if unit == "money":
            code = self.data.currency
            symbol = CURRENCY_SYMBOLS.get(code)
            amount = "#,##0.00" if cents else "#,##0"
            return f'"{symbol}"{amount}' if symbol else f'{amount} "{code}"'
        return UNIT_FORMATS.get(unit, "#,##0.00")

    def th(self) -> Any:
        """The format of a table's header cells."""
        return self.fmt(
            bold=True, bg_color="#1F3864", font_color="#FFFFFF", border=1, text_wrap=True
        )

    # -- shared layout ------------------------------------------------------------------
    def header(self, ws: Any, title: str, notes: Sequence[str]) -> int:
        """Title, range, filters, source and notes; returns the first free row."""
        d = self.data
        ws.write_string(0, 0, title, self.fmt(bold=True, font_size=14))
        label = self.fmt(bold=True, font_color="#595959")
        lines = [
            ("Range", f"{d.start} .. {d.end} (newest data in the warehouse: {d.data_end})"),
            ("Filters", d.filters.describe()),
            # the file's name only: a downloaded report should not reveal server paths
            ("Warehouse", f"{Path(d.warehouse).name} (reporting currency {d.currency})"),
            ("Generated", d.generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ]
        row = 1
        for name, text in lines:
            ws.write_string(row, 0, name, label)
            ws.write_string(row, 1, text)
            row += 1
        for note in notes:
            ws.write_string(row, 0, note, self.fmt(italic=True, font_color="#7F6000"))
            row += 1
        return row + 1

    def page(self, ws: Any, title_row: int) -> None:
        """Landscape, one page wide (as many tall as needed), titles on every page."""
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(title_row)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer("&L&A&CPage &P of &N&Rrevlens")

    def number(self, ws: Any, row: int, col: int, value: Any, fmt: Any) -> None:
        """A number, or an empty cell for a null value (never 0 for 'undefined')."""
        if value is None or value != value:
            ws.write_blank(row, col, None, fmt)
        else:
            ws.write_number(row, col, float(value), fmt)

    # -- KPIs ---------------------------------------------------------------------------
    def kpi_sheet(self) -> SheetSummary:
        """The KPI template: one row per KPI, target cells to fill in, live attainment."""
        d = self.data
        ws = self.wb.add_worksheet("KPIs")
        values = [r["value"] for r in d.kpis.rows]
        empty = not any(v for v in values if v is not None)
        notes = [
            "Actual: each KPI over the whole range. Target: type into the yellow cells; "
            "attainment recalculates (actual / target, target / actual where lower is better).",
            "Attainment colours: green at or above 100 %, amber 90-100 %, red below 90 %. "
            "An empty actual is undefined (e.g. a ratio over zero), not zero.",
        ]
        note = ""
        if empty:
            note = "no data in this range: every KPI is empty or zero"
            notes.append(
                f"No data in this range: every KPI is empty or zero ({d.start} .. {d.end})."
            )
        top = self.header(ws, "KPI report", notes)
        widths = (22, 30, 60, 34, 9, 9, 15, 15, 12, 15, 15)
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)
        ws.set_row(top, 30)
        ws.write_row(top, 0, [c.replace("_", " ").capitalize() for c in KPI_COLUMNS], self.th())
        meta = {r["id"]: r for r in catalog_rows(Catalog({s.id: s for s in d.specs}))}
        wrap = self.fmt(text_wrap=True)
        plain = self.fmt()
        first = top + 1
        for i, spec in enumerate(d.specs):
            r = first + i
            row = d.kpi_row(spec.id) or {}
            info = meta[spec.id]
            # wrapped text needs its height set: neither Excel nor LibreOffice grows the row
            texts = (
                (spec.name, widths[1]),
                (spec.description, widths[2]),
                (str(info["formula"]), widths[3]),
            )
            lines = max(-(-len(text) // int(width * 1.2)) for text, width in texts)
            ws.set_row(r, LINE_HEIGHT * max(1, lines))
            ws.write_string(r, 0, spec.id, plain)
            ws.write_string(r, 1, spec.name, wrap)
            ws.write_string(r, 2, spec.description, wrap)
            ws.write_string(r, 3, str(info["formula"]), wrap)
            ws.write_string(r, 4, spec.unit.value, plain)
            ws.write_string(r, 5, spec.direction.value, plain)
            num = self.number_format(spec.unit.value)
            self.number(ws, r, 6, row.get("value"), self.fmt(num_format=num))
            target_fmt = self.fmt(
                num_format=num, bg_color="#FFF2CC", border=1, border_color="#BFBFBF"
            )
            self.number(ws, r, 7, row.get("target"), target_fmt)
            formula, cached = _attainment(spec, r, row.get("value"), row.get("target"))
            ws.write_formula(r, 8, formula, self.fmt(num_format="0.0%"), cached)
            self.number(ws, r, 9, row.get("numerator"), self.fmt(num_format="#,##0.##"))
            self.number(ws, r, 10, row.get("denominator"), self.fmt(num_format="#,##0.##"))
        last = first + len(d.specs) - 1
        if d.specs:
            cells = f"I{first + 1}:I{last + 1}"
            cell = f"$I{first + 1}"
            for criteria, colours in (
                (f"=AND(ISNUMBER({cell}),{cell}>=1)", GREEN),
                (f"=AND(ISNUMBER({cell}),{cell}>=0.9,{cell}<1)", AMBER),
                (f"=AND(ISNUMBER({cell}),{cell}<0.9)", RED),
            ):
                ws.conditional_format(
                    cells,
                    {
                        "type": "formula",
                        "criteria": criteria,
                        "format": self.wb.add_format(colours),
                        "stop_if_true": True,
                    },
                )
        ws.autofilter(top, 0, max(top, last), len(KPI_COLUMNS) - 1)
        ws.freeze_panes(top + 1, 2)
        self.page(ws, top)
        ws.activate()
        return SheetSummary("KPIs", len(d.specs), 0, note)

    # -- Trend --------------------------------------------------------------------------
    def trend_sheet(self) -> SheetSummary:
        """The core KPIs per period, with native column and line charts."""
        d = self.data
        ws = self.wb.add_worksheet("Trend")
        grain = d.filters.grain
        ids = list(dict.fromkeys(r["kpi"] for r in d.trend.rows)) or list(d.trend.query.kpis)
        periods = sorted({(r["period_start"], r["period_end"]) for r in d.trend.rows})
        cells = {(r["kpi"], r["period_start"]): r["value"] for r in d.trend.rows}
        units = {r["kpi"]: r["unit"] for r in d.trend.rows}
        empty = not any(v for v in cells.values() if v is not None)
        notes = [f"The core KPIs per {grain.value}, each period computed as in `revlens kpi`."]
        note = ""
        if empty:
            note = "no data in this range"
            notes.append("No data in this range: every value is empty or zero, so no charts.")
        top = self.header(ws, f"Trend by {grain.value}", notes)
        ws.set_column(0, 1, 12)
        ws.set_column(2, 1 + len(ids), 14)
        ws.set_row(top, 30)
        ws.write_row(top, 0, ["Period", "Period end", *ids], self.th())
        period_fmt = self.fmt(num_format=PERIOD_FORMATS.get(grain, "yyyy-mm-dd"), align="left")
        date_fmt = self.fmt(num_format="yyyy-mm-dd", align="left")
        for i, (lo, hi) in enumerate(periods):
            r = top + 1 + i
            ws.write_datetime(r, 0, dt.datetime.combine(lo, dt.time()), period_fmt)
            ws.write_datetime(r, 1, dt.datetime.combine(hi, dt.time()), date_fmt)
            for j, kpi in enumerate(ids):
                fmt = self.fmt(num_format=self.number_format(units.get(kpi, "count")))
                self.number(ws, r, 2 + j, cells.get((kpi, lo)), fmt)
        charts = 0
        if periods and not empty:
            first, last = top + 1, top + len(periods)
            col_of = {k: 2 + j for j, k in enumerate(ids)}
            groups = [
                (
                    "column",
                    "Leads to customers",
                    ["leads", "mqls", "sqls", "opportunities", "customers"],
                    "count",
                ),
                ("line", f"Revenue and spend ({d.currency})", ["revenue", "spend"], "money"),
                ("line", f"Cost per lead and CAC ({d.currency})", ["cpl", "cac"], "money"),
                ("line", "Win rate", ["win_rate"], "percent"),
            ]
            anchor = last + 2
            for kind, title, kpis, unit in groups:
                present = [k for k in kpis if k in col_of]
                if not present:
                    continue
                chart = self.wb.add_chart({"type": kind})
                for k in present:
                    col = col_of[k]
                    chart.add_series(
                        {
                            "name": ["Trend", top, col],
                            "categories": ["Trend", first, 0, last, 0],
                            "values": ["Trend", first, col, last, col],
                            "marker": {"type": "circle", "size": 4} if kind == "line" else None,
                        }
                    )
                chart.set_title({"name": title, "name_font": {"size": 11}})
                chart.set_y_axis(
                    {
                        "num_format": self.number_format(unit, cents=False),
                        "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
                    }
                )
                chart.set_x_axis({"num_format": PERIOD_FORMATS.get(grain, "yyyy-mm-dd")})
                chart.set_legend({"position": "bottom"})
                chart.set_size({"width": 560, "height": 300})
                ws.insert_chart(anchor + 16 * (charts // 2), 0 if charts % 2 == 0 else 6, chart)
                charts += 1
        ws.freeze_panes(top + 1, 1)
        self.page(ws, top)
        return SheetSummary("Trend", len(periods), charts, note)

    # -- Funnel -------------------------------------------------------------------------
    def funnel_sheet(self) -> SheetSummary:
        """The cohort funnel over the range, conversions as live formulas, a bar chart."""
        d = self.data
        ws = self.wb.add_worksheet("Funnel")
        rows = d.funnel.rows
        stages = list(d.funnel.query.stages)
        first_stage = stages[0]
        notes = [
            f"Cohort funnel: the {d.funnel.entity}s entering {first_stage} in the range, "
            f"followed for {WINDOW_DAYS} days (even past the range's end); later stages reached "
            "in order (a skipped stage counts as passed).",
        ]
        if any(r.get("immature") for r in rows):
            notes.append(
                f"The newest entries are younger than {WINDOW_DAYS} days: their later stages can "
                "still grow."
            )
        count_first = rows[0]["count"] if rows else 0
        note = ""
        if not count_first:
            note = f"no {first_stage} in this range"
            notes.append(f"No {d.funnel.entity} entered {first_stage} in this range: no chart.")
        top = self.header(ws, "Funnel", notes)
        ws.set_column(0, 0, 16)
        ws.set_column(1, len(FUNNEL_COLUMNS) - 1, 14)
        ws.set_row(top, 30)
        ws.write_row(top, 0, [c.replace("_", " ").capitalize() for c in FUNNEL_COLUMNS], self.th())
        pct = self.fmt(num_format="0.0%")
        count_fmt = self.fmt(num_format="#,##0")
        days_fmt = self.fmt(num_format='0.0 "days"')
        first = top + 1
        first_cell = xl_rowcol_to_cell(first, 1, row_abs=True, col_abs=True)
        for i, row in enumerate(rows):
            r = first + i
            here, prev = xl_rowcol_to_cell(r, 1), xl_rowcol_to_cell(r - 1, 1)
            ws.write_string(r, 0, str(row["stage"]))
            ws.write_number(r, 1, row["count"], count_fmt)
            ws.write_formula(
                r,
                2,
                f'=IF({first_cell}=0,"",{here}/{first_cell})',
                pct,
                _cached(row["conversion_from_first"]),
            )
            if i == 0:
                ws.write_blank(r, 3, None, pct)
                ws.write_blank(r, 4, None, count_fmt)
            else:
                ws.write_formula(
                    r,
                    3,
                    f'=IF({prev}=0,"",{here}/{prev})',
                    pct,
                    _cached(row["conversion_from_previous"]),
                )
                ws.write_formula(r, 4, f"={prev}-{here}", count_fmt, row["dropped"])
            for j, key in enumerate(("median_days", "mean_days", "p90_days")):
                self.number(ws, r, 5 + j, row.get(key), days_fmt)
        charts = 0
        if rows and count_first:
            last = first + len(rows) - 1
            chart = self.wb.add_chart({"type": "bar"})
            chart.add_series(
                {
                    "name": ["Funnel", top, 1],
                    "categories": ["Funnel", first, 0, last, 0],
                    "values": ["Funnel", first, 1, last, 1],
                    "data_labels": {"value": True, "num_format": "#,##0"},
                    "fill": {"color": "#2F5597"},
                }
            )
            chart.set_title({"name": f"{first_stage} cohort funnel", "name_font": {"size": 11}})
            chart.set_y_axis({"reverse": True})  # first stage on top
            chart.set_x_axis({"num_format": "#,##0"})
            chart.set_legend({"none": True})
            chart.set_size({"width": 720, "height": 320})
            ws.insert_chart(last + 2, 0, chart)
            charts = 1
        ws.freeze_panes(top + 1, 1)
        self.page(ws, top)
        return SheetSummary("Funnel", len(rows), charts, note)

    # -- Attribution --------------------------------------------------------------------
    def attribution_sheet(self) -> SheetSummary:
        """Credit per model side by side per channel, for customers and won revenue, with
        spend and ROI per model (the catalogue's marketing_roi: (revenue - spend) / spend)."""
        d = self.data
        ws = self.wb.add_worksheet("Attribution")
        level = d.level
        customers = d.attribution["customer"]
        revenue = d.attribution["revenue"]
        credit: dict[str, dict[str, dict[str, float]]] = {"customer": {}, "revenue": {}}
        keys: list[str] = []
        for conversion, result, field in (
            ("customer", customers, "conversions"),
            ("revenue", revenue, "value"),
        ):
            for rec in result.rows:
                key = str(rec[level])
                if not keep_row(d, key):
                    continue
                credit[conversion].setdefault(key, {})[rec["model"]] = float(rec[field])
                keys.append(key)
        unassigned = f"(no {level})"
        spend: dict[str, float] = {}
        for rec in d.spend.rows if d.spend else []:
            key = unassigned if rec[level] is None else str(rec[level])
            if rec["value"] is not None:
                spend[key] = float(rec["value"])
                keys.append(key)
        keys = sorted(set(keys), key=lambda k: (k in (NONE_CHANNEL, unassigned), k))
        notes = list(d.notes.get("Attribution", []))
        notes.append(
            f"ROI by model = (attributed revenue - spend) / spend, the catalogue's marketing_roi; "
            f"empty where the {level} has no spend. {NONE_CHANNEL}: conversions with no touch "
            "in the lookback."
        )
        note = ""
        if not keys:
            note = "no conversions or spend in this range"
            notes.append("No customers, won revenue or spend in this range: nothing to attribute.")
        top = self.header(ws, f"Attribution by {level}", notes)
        models = list(ATTRIBUTION_MODELS)
        ws.set_column(0, 0, 24)
        ws.set_column(1, len(models) + 1, 15)
        charts = 0
        if not keys:
            self.page(ws, 0)
            return SheetSummary("Attribution", 0, 0, note)
        money = self.fmt(num_format=self.number_format("money"))
        money_total = self.fmt(num_format=self.number_format("money"), bold=True, top=1)
        credit_fmt = self.fmt(num_format=CREDIT_FORMAT)
        credit_total = self.fmt(num_format=CREDIT_FORMAT, bold=True, top=1)
        pct = self.fmt(num_format="0.0%")
        pct_total = self.fmt(num_format="0.0%", bold=True, top=1)
        bold = self.fmt(bold=True, top=1)
        section = self.fmt(bold=True, font_size=12)
        n = len(keys)
        spend_col = 1 + len(models)

        def table(row: int, title: str, extra: list[str]) -> int:
            ws.write_string(row, 0, title, section)
            ws.set_row(row + 1, 30)
            ws.write_row(row + 1, 0, [level, *models, *extra], self.th())
            return row + 2

        # customers credited
        a_first = table(
            top,
            f"Customers credited by model ({customers.total_conversions:,.0f} new customers)",
            [],
        )
        for i, key in enumerate(keys):
            ws.write_string(a_first + i, 0, key)
            for j, m in enumerate(models):
                self.number(
                    ws, a_first + i, 1 + j, credit["customer"].get(key, {}).get(m, 0.0), credit_fmt
                )
        a_total = a_first + n
        self._totals(ws, a_total, a_first, models, credit["customer"], credit_total, bold)
        # revenue credited, and spend
        b_first = table(
            a_total + 2,
            f"Won revenue credited by model ({d.currency} {revenue.total_value:,.2f}) and spend",
            ["spend"],
        )
        for i, key in enumerate(keys):
            r = b_first + i
            ws.write_string(r, 0, key)
            for j, m in enumerate(models):
                self.number(ws, r, 1 + j, credit["revenue"].get(key, {}).get(m, 0.0), money)
            self.number(ws, r, spend_col, spend.get(key), money)
        b_total = b_first + n
        self._totals(ws, b_total, b_first, models, credit["revenue"], money_total, bold)
        spend_sum = sum(spend.values())
        ws.write_formula(
            b_total,
            spend_col,
            f"=SUM({_col_range(spend_col, b_first, b_total - 1)})",
            money_total,
            spend_sum,
        )
        # ROI per model, as formulas over the revenue table
        c_first = table(b_total + 2, "ROI by model: (attributed revenue - spend) / spend", [])
        for i in range(n + 1):
            r, src = c_first + i, b_first + i
            total = i == n
            ws.write_string(r, 0, "Total" if total else keys[i], bold if total else self.fmt())
            s = xl_rowcol_to_cell(src, spend_col, col_abs=True)
            spent = spend_sum if total else spend.get(keys[i])
            for j, m in enumerate(models):
                v = xl_rowcol_to_cell(src, 1 + j)
                got = (
                    sum(c.get(m, 0.0) for c in credit["revenue"].values())
                    if total
                    else credit["revenue"].get(keys[i], {}).get(m, 0.0)
                )
                cached: float | str = "" if not spent else (got - spent) / spent
                ws.write_formula(
                    r,
                    1 + j,
                    f'=IF(OR({s}="",{s}=0),"",({v}-{s})/{s})',
                    pct_total if total else pct,
                    cached,
                )
        # charts: credit per model, side by side per channel
        anchor = c_first + n + 2
        for conversion, first_row, title, unit in (
            ("revenue", b_first, f"Won revenue credited by model ({d.currency})", "money"),
            ("customer", a_first, "Customers credited by model", "credit"),
        ):
            if not any(v for c in credit[conversion].values() for v in c.values()):
                continue
            chart = self.wb.add_chart({"type": "column"})
            for j in range(len(models)):
                chart.add_series(
                    {
                        "name": ["Attribution", first_row - 1, 1 + j],
                        "categories": ["Attribution", first_row, 0, first_row + n - 1, 0],
                        "values": ["Attribution", first_row, 1 + j, first_row + n - 1, 1 + j],
                    }
                )
            chart.set_title({"name": title, "name_font": {"size": 11}})
            chart.set_y_axis(
                {
                    "num_format": self.number_format("money", cents=False)
                    if unit == "money"
                    else "#,##0.0"
                }
            )
            chart.set_legend({"position": "bottom"})
            chart.set_size({"width": 900, "height": 340})
            ws.insert_chart(anchor + 18 * charts, 0, chart)
            charts += 1
        ws.freeze_panes(top, 1)
        self.page(ws, 0)
        return SheetSummary("Attribution", n, charts, note)

    def _totals(
        self,
        ws: Any,
        row: int,
        first: int,
        models: list[str],
        credit: dict[str, dict[str, float]],
        fmt: Any,
        label: Any,
    ) -> None:
        """A Total row of SUM formulas under a credit table, with their current results."""
        ws.write_string(row, 0, "Total", label)
        for j, m in enumerate(models):
            cached = sum(c.get(m, 0.0) for c in credit.values())
            ws.write_formula(row, 1 + j, f"=SUM({_col_range(1 + j, first, row - 1)})", fmt, cached)


def _col_range(col: int, first: int, last: int) -> str:
    """A1 notation of rows first..last (0-based) of one column, e.g. B9:B20."""
    name = xl_col_to_name(col)
    return f"{name}{first + 1}:{name}{last + 1}"


def _cached(value: float | None) -> float | str:
    """A formula's stored result: the number, or "" where the formula gives empty text."""
    return "" if value is None else value


def _attainment(
    spec: KpiSpec, row: int, actual: float | None, target: float | None
) -> tuple[str, float | str]:
    """The attainment formula of a KPI row and its current result, as run_kpis computes it:
    actual / target, or target / actual where lower is better; empty when undefined."""
    g, h = f"G{row + 1}", f"H{row + 1}"
    if spec.direction is Direction.down:
        formula = f'=IF(OR({g}="",{h}="",{g}=0),"",{h}/{g})'
        cached = "" if actual is None or target is None or actual == 0 else target / actual
    else:
        formula = f'=IF(OR({g}="",{h}="",{h}=0),"",{g}/{h})'
        cached = "" if actual is None or target is None or target == 0 else actual / target
    return formula, cached
