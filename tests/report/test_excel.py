"""The Excel report read back with openpyxl: every KPI's actual equals run_kpis, targets and
live attainment formulas are in place with their conditional formats, the trend, funnel and
attribution sheets equal run_kpis / run_funnel / attribute, the charts are native Excel
charts on the right sheets, every sheet prints landscape one page wide, and an empty
warehouse still gives a valid, explained workbook. Small cases are counted by hand."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from report.hand_data import GENERATED, HAND_FROM, HAND_TO
from report.xlsx_read import charts_by_sheet, header_row, table
from revlens.attribution import attribute
from revlens.attribution.warehouse import warehouse_journeys
from revlens.catalog.spec import Catalog, Direction
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError
from revlens.funnel.engine import FunnelQuery, run_funnel
from revlens.model.warehouse import Warehouse
from revlens.report import (
    SHEETS,
    XLSX_MEDIA_TYPE,
    ReportFilters,
    build_report,
    build_workbook,
    report_filters,
    write_report,
)
from revlens.report.data import ATTRIBUTION_MODELS, TREND_KPIS
from revlens.report.excel import check_output, save_atomically

MODELS = list(ATTRIBUTION_MODELS)


def write(tmp: Path, wh: Warehouse, catalog: Catalog, **filters: Any) -> Path:
    path = tmp / "report.xlsx"
    write_report(path, wh, ReportFilters(**filters), catalog, generated_at=GENERATED)
    return path


def books(path: Path) -> tuple[Any, Any]:
    """The workbook with formulas, and with the formulas' stored results."""
    return openpyxl.load_workbook(path), openpyxl.load_workbook(path, data_only=True)


def kpi_cells(wb: Any) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in table(wb["KPIs"], "Id")}


def blank(value: Any) -> bool:
    return value is None or value == ""


@pytest.fixture(scope="module")
def demo_report(
    demo: Warehouse, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write(tmp_path_factory.mktemp("demo_report"), demo, catalog)


@pytest.fixture(scope="module")
def hand_report(
    hand: Warehouse, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write(
        tmp_path_factory.mktemp("hand_report"), hand, catalog, start=HAND_FROM, end=HAND_TO
    )


# -- the KPI template -----------------------------------------------------------------------
def test_kpi_template_counted_by_hand(hand_report: Path) -> None:
    path = hand_report  # Q1 2024
    wb, values = books(path)
    ws = wb["KPIs"]
    assert ws["A1"].value == "KPI report"
    assert ws["B2"].value == "2024-01-01 .. 2024-03-31 (newest data in the warehouse: 2024-03-20)"
    assert ws["B3"].value == "none"
    assert ws["B5"].value == "2024-04-02 09:30 UTC"
    cells, results = kpi_cells(wb), kpi_cells(values)
    # 4 leads; 850 spent; ann and bob won (1000 + 500) of 3 closed deals
    expected = {
        "leads": (4.0, 5.0, 4 / 5),
        "cpl": (850 / 4, 200.0, 200 / (850 / 4)),  # lower is better: target / actual
        "revenue": (1500.0, 2000.0, 1500 / 2000),
        "customers": (2.0, None, None),
        "win_rate": (2 / 3, None, None),
        "cac": (425.0, None, None),
    }
    for kpi, (actual, target, attainment) in expected.items():
        row, result = cells[kpi], results[kpi]
        assert row["Actual"] == pytest.approx(actual, rel=1e-12), kpi
        assert row["Target"] == target, kpi
        if attainment is None:
            assert blank(result["Attainment"]), kpi
        else:
            assert result["Attainment"] == pytest.approx(attainment, rel=1e-12), kpi
    row_of = {kpi: header_row(ws, "Id") + 1 + i for i, kpi in enumerate(cells)}
    r = row_of["leads"]
    assert ws[f"I{r}"].value == f'=IF(OR(G{r}="",H{r}="",H{r}=0),"",G{r}/H{r})'
    r = row_of["cpl"]
    assert ws[f"I{r}"].value == f'=IF(OR(G{r}="",H{r}="",G{r}=0),"",H{r}/G{r})'
    # no sessions: bounce rate is undefined, an empty cell, not 0
    assert cells["bounce_rate"]["Actual"] is None
    assert cells["bounce_rate"]["Denominator"] == 0
    # number formats by unit, in the reporting currency
    r = row_of["revenue"]
    assert ws[f"G{r}"].number_format == '"$"#,##0.00'
    assert ws[f"I{r}"].number_format == "0.0%"
    assert ws[f"G{row_of['win_rate']}"].number_format == "0.0%"
    r = row_of["sales_cycle_days"]
    assert ws[f"G{r}"].number_format == '0.0 "days"'


def test_every_kpi_equals_run_kpis(demo: Warehouse, catalog: Catalog, demo_report: Path) -> None:
    wb, values = books(demo_report)
    cells, results = kpi_cells(wb), kpi_cells(values)
    result = run_kpis(demo, KpiQuery(kpis=tuple(s.id for s in catalog)), catalog)
    assert list(cells) == [s.id for s in catalog]
    with_target = 0
    for row in result.rows:
        spec = catalog.get(row["kpi"])
        got = cells[row["kpi"]]
        assert got["Name"] == spec.name
        assert got["Definition"] == spec.description
        assert got["Unit"] == spec.unit.value
        assert got["Direction"] == spec.direction.value
        assert got["Actual"] == row["value"], row["kpi"]  # exactly the same float
        assert got["Target"] == row.get("target"), row["kpi"]
        if row.get("attainment") is None:
            assert blank(results[row["kpi"]]["Attainment"]), row["kpi"]
        else:
            with_target += 1
            assert results[row["kpi"]]["Attainment"] == row["attainment"], row["kpi"]
    assert with_target >= 3  # the demo's targets reach the template
    assert cells["marketing_roi"]["Formula"] == "(revenue - spend) / spend"
    assert cells["cpl"]["Formula"] == "spend / leads"


def test_attainment_formats_freeze_and_filter(demo_report: Path, catalog: Catalog) -> None:
    ws = openpyxl.load_workbook(demo_report)["KPIs"]
    top = header_row(ws, "Id")
    first, last = top + 1, top + len(catalog)
    ranges = {str(cf.sqref): cf.rules for cf in ws.conditional_formatting}
    assert list(ranges) == [f"I{first}:I{last}"]
    rules = ranges[f"I{first}:I{last}"]
    cell = f"$I{first}"
    assert [(r.type, r.formula, r.stopIfTrue) for r in rules] == [
        ("expression", [f"AND(ISNUMBER({cell}),{cell}>=1)"], True),
        ("expression", [f"AND(ISNUMBER({cell}),{cell}>=0.9,{cell}<1)"], True),
        ("expression", [f"AND(ISNUMBER({cell}),{cell}<0.9)"], True),
    ]
    fills = [r.dxf.fill.bgColor.rgb for r in rules]
    assert [f[-6:] for f in fills] == ["C6EFCE", "FFEB9C", "FFC7CE"]  # green, amber, red
    assert ws.freeze_panes == f"C{top + 1}"
    assert ws.auto_filter.ref == f"A{top}:K{last}"
    # the target cells are marked for input
    assert ws[f"H{first}"].fill.fgColor.rgb[-6:] == "FFF2CC"


def test_every_sheet_prints_landscape_one_page_wide(demo_report: Path) -> None:
    wb = openpyxl.load_workbook(demo_report)
    assert wb.sheetnames == list(SHEETS)
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        # fitToWidth is 1 when absent (the OOXML default); 0 pages tall: as many as needed
        assert (ws.page_setup.fitToWidth or 1, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.print_title_rows, ws.title
    top = header_row(wb["KPIs"], "Id")
    assert wb["KPIs"].print_title_rows == f"${top}:${top}"
    assert wb["Funnel"].print_title_rows.startswith(f"${header_row(wb['Funnel'], 'Stage')}:")


def test_native_charts_on_trend_funnel_and_attribution(demo_report: Path) -> None:
    charts = charts_by_sheet(demo_report)
    assert {name: len(c) for name, c in charts.items()} == {
        "KPIs": 0,
        "Trend": 4,
        "Funnel": 1,
        "Attribution": 2,
    }
    trend = "".join(charts["Trend"])
    assert "<c:lineChart>" in trend and '<c:barDir val="col"/>' in trend
    assert '<c:barDir val="bar"/>' in charts["Funnel"][0]
    assert all('<c:grouping val="clustered"/>' in c for c in charts["Attribution"])
    for sheet, parts in charts.items():
        for xml in parts:
            refs = [r for r in _refs(xml)]
            assert refs and all(r.startswith(f"{sheet}!$") for r in refs), (sheet, refs)
    # the attribution charts have one series per model
    assert all(c.count("<c:ser>") == len(MODELS) for c in charts["Attribution"])


def _refs(xml: str) -> list[str]:
    import re

    return re.findall(r"<c:f>([^<]+)</c:f>", xml)


# -- trend, funnel, attribution ---------------------------------------------------------------
def test_trend_equals_run_kpis_by_month(
    demo: Warehouse, catalog: Catalog, demo_report: Path
) -> None:
    ws = openpyxl.load_workbook(demo_report)["Trend"]
    rows = table(ws, "Period")
    result = run_kpis(demo, KpiQuery(kpis=TREND_KPIS, grain="month"), catalog)
    periods = sorted({r["period_start"] for r in result.rows})
    assert [r["Period"].date() for r in rows] == periods
    assert len(rows) == 12
    for r in result.rows:
        got = next(x for x in rows if x["Period"].date() == r["period_start"])
        assert got["Period end"].date() == r["period_end"]
        assert got[r["kpi"]] == r["value"], (r["kpi"], r["period_start"])


def funnel_rows(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    wb, values = books(path)
    return (
        table(wb["Funnel"], "Stage"),
        table(values["Funnel"], "Stage"),
        header_row(wb["Funnel"], "Stage"),
    )


def test_funnel_counted_by_hand(hand_report: Path) -> None:
    path = hand_report  # Q1 2024
    formulas, values, top = funnel_rows(path)
    # every contact is a lead; ann, bob, dan reach MQL and open a deal (so pass SQL);
    # ann and bob win
    assert [(r["Stage"], r["Count"]) for r in values] == [
        ("lead", 4),
        ("mql", 3),
        ("sql", 3),
        ("opportunity", 3),
        ("customer", 2),
    ]
    assert [r["Conversion from first"] for r in values] == [1.0, 0.75, 0.75, 0.75, 0.5]
    assert [r["Conversion from previous"] for r in values][1:] == [0.75, 1.0, 1.0, 2 / 3]
    assert [r["Dropped"] for r in values][1:] == [1, 0, 0, 1]
    first = top + 1
    assert formulas[1]["Conversion from first"] == f'=IF($B${first}=0,"",B{first + 1}/$B${first})'
    assert formulas[1]["Conversion from previous"] == f'=IF(B{first}=0,"",B{first + 1}/B{first})'
    assert formulas[1]["Dropped"] == f"=B{first}-B{first + 1}"


def test_funnel_equals_run_funnel(demo: Warehouse, demo_report: Path) -> None:
    _, values, _ = funnel_rows(demo_report)
    result = run_funnel(demo, FunnelQuery(stages=demo.settings().stages))
    assert len(values) == len(result.rows) == 5
    for got, row in zip(values, result.rows, strict=True):
        assert got["Stage"] == row["stage"]
        assert got["Count"] == row["count"]
        assert got["Conversion from first"] == row["conversion_from_first"]
        if row["conversion_from_previous"] is not None:
            assert got["Conversion from previous"] == row["conversion_from_previous"]
        assert got["Median days"] == row["median_days"]
        assert got["P90 days"] == row["p90_days"]


def attribution_tables(path: Path, data_only: bool) -> list[list[dict[str, Any]]]:
    """The three tables of the Attribution sheet: customers, revenue + spend, ROI."""
    ws = openpyxl.load_workbook(path, data_only=data_only)["Attribution"]
    tops = [c.row for c in ws["A"] if c.value in ("channel", "campaign")]
    assert len(tops) == 3
    out = []
    for top in tops:
        names = [c.value for c in ws[top]]
        rows = []
        for row in ws.iter_rows(min_row=top + 1):
            if row[0].value is None:
                break
            rows.append({n: c.value for n, c in zip(names, row, strict=False) if n})
        out.append(rows)
    return out


def test_attribution_counted_by_hand(hand_report: Path) -> None:
    path = hand_report  # Q1 2024
    customers, revenue, roi = attribution_tables(path, data_only=True)
    by = {r["channel"]: r for r in revenue}
    # ann: paid_search (1000); bob: email then paid_search (500)
    assert by["paid_search"]["first_touch"] == 1000
    assert by["email"]["first_touch"] == 500
    assert by["paid_search"]["last_touch"] == 1500
    assert by["email"]["last_touch"] == 0
    assert by["paid_search"]["linear"] == 1250
    assert by["email"]["linear"] == 250
    assert {k: v["spend"] for k, v in by.items()} == {
        "display": 100,
        "email": 150,
        "paid_search": 600,
        "organic_search": None,  # no spend recorded: an empty cell, and no ROI
        "Total": 850,
    }
    assert by["Total"]["markov"] == pytest.approx(1500)
    cust = {r["channel"]: r for r in customers}
    assert cust["paid_search"]["first_touch"] == 1 and cust["email"]["first_touch"] == 1
    assert cust["Total"]["shapley"] == pytest.approx(2)
    rois = {r["channel"]: r for r in roi}
    # the catalogue's marketing_roi: (revenue - spend) / spend
    assert rois["paid_search"]["first_touch"] == pytest.approx((1000 - 600) / 600)
    assert rois["email"]["linear"] == pytest.approx((250 - 150) / 150)
    assert rois["display"]["last_touch"] == -1
    assert "organic_search" not in rois or blank(rois["organic_search"]["first_touch"])
    assert rois["Total"]["first_touch"] == pytest.approx((1500 - 850) / 850)
    formulas = attribution_tables(path, data_only=False)[2]
    ws = openpyxl.load_workbook(path)["Attribution"]
    spend_col = openpyxl.utils.get_column_letter(2 + len(MODELS))
    roi_formula = next(r for r in formulas if r["channel"] == "paid_search")["first_touch"]
    assert roi_formula.startswith(f"=IF(OR(${spend_col}") and roi_formula.endswith(
        f"/${spend_col}{_row(ws, 'paid_search', 2)})"
    )


def _row(ws: Any, key: str, nth: int) -> int:
    """The row of the nth (1-based) occurrence of `key` in column A."""
    rows = [c.row for c in ws["A"] if c.value == key]
    return int(rows[nth - 1])


def test_attribution_equals_attribute(demo: Warehouse, demo_report: Path, catalog: Catalog) -> None:
    customers, revenue, _ = attribution_tables(demo_report, data_only=True)
    result = run_kpis(demo, KpiQuery(kpis=("leads",)), catalog)
    for conversion, rows, field in (
        ("customer", customers, "conversions"),
        ("revenue", revenue, "value"),
    ):
        journeys = warehouse_journeys(demo, conversion, start=result.start, end=result.end)
        expected = attribute(journeys, MODELS)
        got = {r["channel"]: r for r in rows}
        for row in expected.rows:
            assert got[row["channel"]][row["model"]] == row[field], (conversion, row)
    spend = run_kpis(demo, KpiQuery(kpis=("spend",), by=("channel",)), catalog)
    got = {r["channel"]: r for r in revenue}
    for row in spend.rows:
        assert got[row["channel"]]["spend"] == row["value"]


# -- filters ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_channel_filter_restricts_every_sheet(
    demo: Warehouse, catalog: Catalog, tmp_path: Path
) -> None:
    path = write(tmp_path, demo, catalog, channel="paid_search")
    wb, values = books(path)
    assert wb["KPIs"]["B3"].value == "channel = paid_search"
    dims = {"channel": "paid_search"}
    result = run_kpis(demo, KpiQuery(kpis=tuple(s.id for s in catalog), filters=dims), catalog)
    cells = kpi_cells(wb)
    by_kpi = {r["kpi"]: r for r in result.rows}
    for spec in catalog:
        assert cells[spec.id]["Actual"] == by_kpi.get(spec.id, {}).get("value"), spec.id
    unfiltered = run_kpis(demo, KpiQuery(kpis=("leads",)), catalog).rows[0]["value"]
    assert 0 < cells["leads"]["Actual"] < unfiltered
    trend = run_kpis(demo, KpiQuery(kpis=("leads",), grain="month", filters=dims), catalog)
    assert [r["leads"] for r in table(wb["Trend"], "Period")] == [r["value"] for r in trend.rows]
    funnel = run_funnel(demo, FunnelQuery(stages=demo.settings().stages, filters=dims))
    assert [r["Count"] for r in table(values["Funnel"], "Stage")] == [
        r["count"] for r in funnel.rows
    ]
    _, revenue, roi = attribution_tables(path, data_only=True)
    assert [r["channel"] for r in revenue] == ["paid_search", "Total"]
    assert [r["channel"] for r in roi] == ["paid_search", "Total"]


@pytest.mark.slow
def test_campaign_and_segment_filters(demo: Warehouse, catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path, demo, catalog, campaign="search-brand", segment="smb")
    wb = openpyxl.load_workbook(path)
    ws = wb["Attribution"]
    assert ws["A1"].value == "Attribution by campaign"
    notes = [c.value for c in ws["A"] if isinstance(c.value, str)]
    assert any("segment filter (smb) does not apply" in n for n in notes)
    _, revenue, _ = attribution_tables(path, data_only=True)
    assert [r["campaign"] for r in revenue] == ["search-brand", "Total"]
    result = run_kpis(
        demo,
        KpiQuery(kpis=("leads", "mqls"), filters={"campaign": "search-brand", "segment": "smb"}),
        catalog,
    )
    cells = kpi_cells(wb)
    for row in result.rows:
        assert cells[row["kpi"]]["Actual"] == row["value"]


# -- no data ------------------------------------------------------------------------------------
def sheet_notes(ws: Any) -> str:
    return " ".join(str(c.value) for c in ws["A"] if isinstance(c.value, str))


def test_empty_warehouse_gives_an_explained_workbook(
    warehouse: Warehouse, catalog: Catalog, tmp_path: Path
) -> None:
    content = build_workbook(warehouse, ReportFilters(), catalog, generated_at=GENERATED)
    path = tmp_path / "empty.xlsx"
    path.write_bytes(content)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    assert "No data in this range" in sheet_notes(wb["KPIs"])
    assert "No data in this range" in sheet_notes(wb["Trend"])
    assert "entered lead in this range" in sheet_notes(wb["Funnel"])
    assert "nothing to attribute" in sheet_notes(wb["Attribution"])
    cells = kpi_cells(wb)
    assert len(cells) == len(catalog)
    assert cells["leads"]["Actual"] == 0
    assert cells["cpl"]["Actual"] is None  # 0 / 0 is undefined: an empty cell
    assert {name: len(c) for name, c in charts_by_sheet(path).items()} == {s: 0 for s in SHEETS}


def test_a_range_without_data(demo: Warehouse, catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path, demo, catalog, start=dt.date(2010, 1, 1), end=dt.date(2010, 6, 30))
    wb = openpyxl.load_workbook(path)
    assert "No data in this range" in sheet_notes(wb["Trend"])
    assert len(table(wb["Trend"], "Period")) == 6
    assert "nothing to attribute" in sheet_notes(wb["Attribution"])
    assert sum(len(c) for c in charts_by_sheet(path).values()) == 0


# -- filters as typed, output files ------------------------------------------------------------
def test_report_filters_from_text() -> None:
    f = report_filters(start="2025-01", end="2025-03", grain="quarter", channel=" email ")
    assert (f.start, f.end, f.grain.value, f.channel) == (
        dt.date(2025, 1, 1),
        dt.date(2025, 3, 31),
        "quarter",
        "email",
    )
    assert f.dimensions() == {"channel": "email"} and f.describe() == "channel = email"
    assert report_filters(segment="").dimensions() == {}
    for kwargs, code in (
        ({"start": "2025-13-01"}, "RL512"),
        ({"grain": "fortnight"}, "RL520"),
        ({"start": "2025-03-01", "end": "2025-01-31"}, "RL903"),
    ):
        with pytest.raises(RevlensError) as err:
            report_filters(**kwargs)
        assert err.value.code == code


def test_output_paths_are_checked(tmp_path: Path) -> None:
    for path, code in (
        (tmp_path / "report.csv", "RL900"),
        (tmp_path / "missing" / "report.xlsx", "RL901"),
    ):
        with pytest.raises(RevlensError) as err:
            check_output(path)
        assert err.value.code == code
    folder = tmp_path / "dir.xlsx"
    folder.mkdir()
    with pytest.raises(RevlensError) as err:
        check_output(folder)
    assert err.value.code == "RL901"


def test_saving_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.xlsx"
    save_atomically(path, b"first")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    save_atomically(path, b"second")
    assert path.read_bytes() == b"second"

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(RevlensError) as err:
        save_atomically(path, b"third")
    assert err.value.code == "RL902" and "No space left" in err.value.message
    assert path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]  # no temporary file left


def test_workbook_bytes_for_a_download(hand: Warehouse, catalog: Catalog, tmp_path: Path) -> None:
    filters = report_filters(start="2024-01-01", end="2024-03")
    report = build_report(hand, filters, catalog, generated_at=GENERATED)
    assert report.content[:2] == b"PK"  # a zip, i.e. an .xlsx
    assert report.filename == "revlens-report-2024-01-01-2024-03-31.xlsx"
    assert XLSX_MEDIA_TYPE == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert [s.name for s in report.sheets] == list(SHEETS)
    path = tmp_path / report.filename
    path.write_bytes(report.content)
    leads = kpi_cells(openpyxl.load_workbook(path))["leads"]
    assert (leads["Actual"], leads["Target"]) == (4, 5)


def test_direction_down_kpis_invert_attainment(catalog: Catalog) -> None:
    from revlens.report.excel import _attainment

    down = next(s for s in catalog if s.direction is Direction.down)
    up = next(s for s in catalog if s.direction is Direction.up)
    assert _attainment(down, 9, 50.0, 40.0) == ('=IF(OR(G10="",H10="",G10=0),"",H10/G10)', 0.8)
    assert _attainment(up, 9, 50.0, 40.0) == ('=IF(OR(G10="",H10="",H10=0),"",G10/H10)', 1.25)
    assert _attainment(down, 9, 0.0, 40.0)[1] == ""
    assert _attainment(up, 9, None, 40.0)[1] == ""
