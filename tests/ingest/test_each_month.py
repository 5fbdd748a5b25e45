"""`each_month` (one output row per month between two timestamps) and `divide_by` (a number
divided by another value): what the stripe-subscriptions mapping needs to turn one row per
subscription into monthly MRR."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from revlens.errors import MappingError
from revlens.ingest.load import import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import Warehouse

Writer = Callable[[str, str | bytes], Path]

MAPPING = """
name: subs
timezone: UTC
outputs:
  - table: subscriptions
    each_month:
      from: {from: start, fallback: {from: trial_end}}
      to: {from: ended, fallback: {from: period_end}}
      into: month
    columns:
      customer_id: id
      mrr:
        from: amount
        divide_by: {from: interval, map: {month: "1", year: "12"}, unmapped: "null"}
"""
HEADER = "id,start,trial_end,ended,period_end,amount,interval\n"


def months(wh: Warehouse) -> dict[str, list[tuple[dt.date, float]]]:
    out: dict[str, list[tuple[dt.date, float]]] = {}
    for c, m, mrr in wh.con.execute(
        "SELECT customer_id, month, mrr FROM subscriptions ORDER BY 1, 2"
    ).fetchall():
        out.setdefault(c, []).append((m, mrr))
    return out


def test_one_row_per_month_paid_at_its_end(warehouse: Warehouse, write: Writer) -> None:
    mapping = load_mapping(str(write("subs.yml", MAPPING)))
    text = HEADER + (
        "a,2026-01-15 10:00,,2026-03-15 10:00,,49,month\n"  # Jan, Feb (not March: ended)
        "b,2026-01-31 09:00,,,2026-03-01 00:00,1200,year\n"  # Jan, Feb; 1200 / 12
        "c,2026-02-10 09:00,,2026-02-20 09:00,,10,month\n"  # ended in its first month: none
        "d,,2026-04-02 00:00,,2026-06-02 00:00,10,month\n"  # from the trial end: Apr, May
    )
    result = import_files(warehouse, [write("subs.csv", text)], mapping=mapping)
    f = result.files[0]
    # read: the six months written, and the row with no month (skipped)
    assert [(c.table, c.read, c.loaded, c.rejected, c.skipped) for c in f.tables] == [
        ("subscriptions", 7, 6, 0, 1)
    ]
    assert months(warehouse) == {
        "a": [(dt.date(2026, 1, 1), 49.0), (dt.date(2026, 2, 1), 49.0)],
        "b": [(dt.date(2026, 1, 1), 100.0), (dt.date(2026, 2, 1), 100.0)],
        "d": [(dt.date(2026, 4, 1), 10.0), (dt.date(2026, 5, 1), 10.0)],
    }


def test_months_are_taken_in_the_warehouse_zone(warehouse: Warehouse, write: Writer) -> None:
    warehouse.update_settings(timezone="Europe/Berlin")
    mapping = load_mapping(str(write("subs.yml", MAPPING)))
    text = HEADER + "a,2026-02-28 23:30,,2026-04-30 22:30,,49,month\n"  # Mar 1 - May 1 Berlin
    import_files(warehouse, [write("subs.csv", text)], mapping=mapping)
    assert [m for m, _ in months(warehouse)["a"]] == [dt.date(2026, 3, 1), dt.date(2026, 4, 1)]


def test_bad_timestamps_and_divisors_are_rejected_with_their_reason(
    warehouse: Warehouse, write: Writer
) -> None:
    mapping = load_mapping(str(write("subs.yml", MAPPING)))
    text = HEADER + (
        "a,2026-01-15 10:00,,2026-03-15 10:00,,49,month\n"
        "b,2026-02-30 10:00,,2026-03-15 10:00,,49,month\n"  # no such day
        "c,,,2026-03-15 10:00,,49,month\n"  # no start, no trial end
        "d,2026-01-15 10:00,,2026-03-15 10:00,,49,week\n"  # an interval the map lacks
    )
    result = import_files(warehouse, [write("subs.csv", text)], mapping=mapping)
    rejects = [(r.line, r.column, r.code, r.value) for r in result.files[0].rejects]
    assert rejects == [
        (3, "month", "bad_timestamp", "2026-02-30 10:00"),
        (4, "month", "missing", None),
        # once per month the row would have written (January and February)
        (5, "mrr", "bad_number", "49"),
        (5, "mrr", "bad_number", "49"),
    ]
    assert list(months(warehouse)) == ["a"]
    assert result.rows_rejected == 3


def test_each_month_needs_a_date_column(write: Writer) -> None:
    bad = MAPPING.replace("into: month", "into: mrr")
    with pytest.raises(MappingError, match=r"each_month\.into must be a date column"):
        load_mapping(str(write("subs.yml", bad)))
    twice = MAPPING.replace("customer_id: id", "customer_id: id\n      month: start")
    with pytest.raises(MappingError, match="month comes from each_month"):
        load_mapping(str(write("subs.yml", twice)))
