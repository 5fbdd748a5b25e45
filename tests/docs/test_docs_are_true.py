"""The docs state facts about the product; these tests keep them true."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from journeys import load_rows
from revlens.gendocs import PAGES, SECTIONS, section
from revlens.ingest.load import import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import Warehouse

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_generated_doc_sections_match_the_code() -> None:
    """docs/data-model.md lists every canonical table, docs/kpis.md every KPI."""
    for name, page in PAGES.items():
        text = (DOCS.parent / page).read_text(encoding="utf-8")
        assert section(text, name) == SECTIONS[name](), f"run: python -m revlens.gendocs ({page})"


def test_worked_example_of_imports_md() -> None:
    wh = Warehouse.open(":memory:", create=True)
    load_rows(wh, {"fx_rates": [{"date": dt.date(2025, 1, 1), "currency": "EUR", "rate": 1.04}]})
    mapping = load_mapping(str(DOCS / "examples" / "crm-mapping.yml"))
    export = DOCS / "examples" / "crm-export.csv"

    first = import_files(wh, [export], mapping=mapping)
    counts = {(c.table, c.read): c for c in first.files[0].tables}
    contacts = counts[("contacts", 5)]
    assert (contacts.loaded, contacts.updated, contacts.rejected) == (2, 0, 3)
    rejects = {(r.line, r.table, r.column, r.value, r.code) for r in first.files[0].rejects}
    assert rejects == {
        (4, "opportunities", "currency", "CHF", "no_fx_rate"),
        (5, "contacts", "created_at", "31.02.2025 10:00", "bad_timestamp"),
        (5, "touchpoints", "ts", "31.02.2025 10:00", "bad_timestamp"),
        (5, "stage_events", "ts", "31.02.2025 10:00", "bad_timestamp"),
        (6, "touchpoints", "channel", "Fax", "unmapped_value"),
    }
    deal = wh.con.execute(
        "SELECT opportunity_id, amount, currency, created_at FROM opportunities"
    ).fetchall()
    assert deal == [("L-001", 1250.0, "EUR", dt.datetime(2025, 1, 3, 8, 15))]

    load_rows(wh, {"fx_rates": [{"date": dt.date(2025, 1, 1), "currency": "CHF", "rate": 1.12}]})
    again = import_files(wh, [export], mapping=mapping)
    contacts = next(c for c in again.files[0].tables if c.table == "contacts")
    assert (contacts.loaded, contacts.updated, contacts.rejected) == (1, 2, 2)
    assert wh.row_counts()["contacts"] == 3
    assert wh.row_counts()["opportunities"] == 2
    stored = wh.con.execute("SELECT amount FROM opportunities WHERE opportunity_id = 'L-003'")
    assert stored.fetchall() == [(12900.5,)]
