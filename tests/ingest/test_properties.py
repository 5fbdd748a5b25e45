"""Properties of imports over generated files with a random mix of good rows, bad rows and
repeated keys, checked against a small pure-Python model of the rules:

- for every table in the result, rows read = loaded + updated + rejected, with the exact
  numbers the model predicts, and the stored rows are the model's (last good occurrence wins);
- importing the same file again changes no table and loads nothing new.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revlens.ingest.load import ImportResult, import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.schema import TABLES
from revlens.model.warehouse import Warehouse

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T = dt.datetime
D = dt.date


def csv_text(header: list[str], rows: list[tuple[list[str], bool]]) -> str:
    """CSV with the given rows; a row flagged broken gets one field too many."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for values, broken in rows:
        writer.writerow([*values, "surplus"] if broken else values)
    return out.getvalue()


def canonical(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t.name: wh.con.execute(f'SELECT * FROM "{t.name}" ORDER BY ALL').fetchall() for t in TABLES
    }


def check_accounting(result: ImportResult) -> None:
    for f in result.files:
        for c in f.tables:
            assert c.read == c.loaded + c.updated + c.rejected, c
            assert c.read == f.rows_read, c
    for total in result.totals().values():
        assert total.read == total.loaded + total.updated + total.rejected


def import_twice(wh: Warehouse, path: Path, **kw: Any) -> tuple[ImportResult, ImportResult]:
    """Import, then import the same file again and check that nothing changed."""
    first = import_files(wh, [path], **kw)
    check_accounting(first)
    before = canonical(wh)
    second = import_files(wh, [path], **kw)
    check_accounting(second)
    assert canonical(wh) == before
    for a, b in zip(first.files[0].tables, second.files[0].tables, strict=True):
        assert (b.table, b.read, b.loaded, b.updated, b.rejected) == (
            a.table,
            a.read,
            0,
            a.loaded + a.updated,
            a.rejected,
        )
    return first, second


def broken_flag() -> st.SearchStrategy[bool]:
    return st.integers(0, 7).map(lambda i: i == 0)


# -- contacts --------------------------------------------------------------------------------

GOOD_TS = {
    "2024-01-01": T(2024, 1, 1),
    "2024-02-29 10:00:00": T(2024, 2, 29, 10),
    "2024-03-01T10:00:00+02:00": T(2024, 3, 1, 8),
    "2023-12-31T23:59:59Z": T(2023, 12, 31, 23, 59, 59),
}
BAD_TS = ["", "2024-02-30", "not a date", "2024-13-01"]
SEGMENTS = ["", "SMB", "Enterprise, EU", 'say "hi"', "two\nlines", " padded "]

contact_row = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "c4", ""]),
    st.sampled_from([*GOOD_TS, *BAD_TS]),
    st.sampled_from(SEGMENTS),
    broken_flag(),
)


@SETTINGS
@given(
    existing=st.sets(st.sampled_from(["c1", "c2", "c5"])), rows=st.lists(contact_row, max_size=25)
)
def test_contacts_accounting_matches_the_model_and_reimport_is_a_no_op(
    existing: set[str], rows: list[tuple[str, str, str, bool]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp, Warehouse.open(":memory:", create=True) as wh:
        base = Path(tmp, "base.csv")
        base.write_text(
            csv_text(
                ["contact_id", "created_at", "owner"],
                [([k, "2020-01-01", "old"], False) for k in sorted(existing)],
            )
        )
        import_files(wh, [base], table="contacts")

        path = Path(tmp, "contacts.csv")
        path.write_text(
            csv_text(
                ["contact_id", "created_at", "segment"],
                [([k, ts, seg], broken) for k, ts, seg, broken in rows],
            )
        )
        first, _ = import_twice(wh, path, table="contacts")

        model: dict[str, tuple[T, str | None, str | None]] = {
            k: (T(2020, 1, 1), "old", None) for k in existing
        }
        good: dict[str, tuple[T, str | None, str | None]] = {}
        for key, ts, seg, broken in rows:
            if not broken and key and ts in GOOD_TS:
                good[key] = (GOOD_TS[ts], model.get(key, (None, None))[1], seg.strip() or None)
        model.update(good)
        counts = first.files[0].tables[0]
        assert (counts.read, counts.loaded, counts.updated, counts.rejected) == (
            len(rows),
            len(good.keys() - existing),
            len(good.keys() & existing),
            len(rows) - len(good),
        )
        assert first.rows_rejected == len(rows) - len(good)
        stored = wh.con.execute(
            "SELECT contact_id, created_at, owner, segment FROM contacts"
        ).fetchall()
        assert {r[0]: r[1:] for r in stored} == model


# -- spend -----------------------------------------------------------------------------------

GOOD_DATES = {
    "2024-01-01": D(2024, 1, 1),
    "2024-01-02": D(2024, 1, 2),
    "2024-01-01T08:00:00": D(2024, 1, 1),
}
GOOD_COST = {"0": 0.0, "10.5": 10.5, "1e3": 1000.0, " 7 ": 7.0}
GOOD_IMPRESSIONS: dict[str, int | None] = {"": None, "100": 100, "3.0": 3}

spend_row = st.tuples(
    st.sampled_from([*GOOD_DATES, "2024-02-30", "", "soon"]),
    st.sampled_from(["paid", "social", ""]),
    st.sampled_from(["", "spring"]),
    st.sampled_from(["", "a1"]),
    st.sampled_from([*GOOD_COST, "-1", "abc", "", "nan"]),
    st.sampled_from([*GOOD_IMPRESSIONS, "-5", "1.5"]),
    broken_flag(),
)


@SETTINGS
@given(rows=st.lists(spend_row, max_size=30))
def test_spend_accounting_matches_the_model_and_reimport_is_a_no_op(
    rows: list[tuple[str, str, str, str, str, str, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp, Warehouse.open(":memory:", create=True) as wh:
        path = Path(tmp, "spend.csv")
        header = ["date", "channel", "campaign", "ad", "cost", "impressions"]
        path.write_text(csv_text(header, [(list(r[:6]), r[6]) for r in rows]))
        first, _ = import_twice(wh, path, table="spend")

        model: dict[tuple[Any, ...], tuple[float, int | None]] = {}
        for date, channel, campaign, ad, cost, impressions, broken in rows:
            if (
                not broken
                and date in GOOD_DATES
                and channel
                and cost in GOOD_COST
                and impressions in GOOD_IMPRESSIONS
            ):
                key = (GOOD_DATES[date], channel, campaign or None, ad or None)
                model[key] = (GOOD_COST[cost], GOOD_IMPRESSIONS[impressions])
        counts = first.files[0].tables[0]
        assert (counts.read, counts.loaded, counts.updated, counts.rejected) == (
            len(rows),
            len(model),
            0,
            len(rows) - len(model),
        )
        stored = wh.con.execute(
            "SELECT date, channel, campaign, ad, cost, impressions, currency FROM spend"
        ).fetchall()
        assert {r[:4]: r[4:] for r in stored} == {k: (*v, "USD") for k, v in model.items()}


# -- a mapping with several outputs ----------------------------------------------------------

mql_row = st.tuples(
    st.sampled_from(["m1", "m2", "m3", ""]),
    st.sampled_from(["2024-01-01", "2024-01-02", "2024-02-30", ""]),
    st.sampled_from(["paid_search", "", "social"]),
    broken_flag(),
)


@settings(SETTINGS, max_examples=20)
@given(rows=st.lists(mql_row, max_size=20))
def test_mapping_rows_load_whole_or_not_at_all(rows: list[tuple[str, str, str, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Warehouse.open(":memory:", create=True) as wh:
        path = Path(tmp, "mqls.csv")
        path.write_text(
            csv_text(
                ["mql_id", "first_contact_date", "landing_page_id", "origin"],
                [([k, d, "lp", o], b) for k, d, o, b in rows],
            )
        )
        first, _ = import_twice(wh, path, mapping=load_mapping("olist-mqls"))

        model: dict[str, tuple[T, str]] = {}
        for key, date, origin, broken in rows:
            if not broken and key and date in ("2024-01-01", "2024-01-02"):
                model[key] = (T.fromisoformat(date), origin or "unknown")
        assert [c.table for c in first.files[0].tables] == [
            "contacts",
            "stage_events",
            "stage_events",
            "touchpoints",
        ]
        rejected = len(rows) - len(model)
        assert [(c.loaded, c.updated, c.rejected) for c in first.files[0].tables] == [
            (len(model), 0, rejected)
        ] * 4
        contacts = dict(wh.con.execute("SELECT contact_id, created_at FROM contacts").fetchall())
        assert contacts == {k: v[0] for k, v in model.items()}
        touch = wh.con.execute("SELECT contact_id, ts, channel FROM touchpoints").fetchall()
        assert {r[0]: r[1:] for r in touch} == model
        # a repeated id rejects its earlier rows from every output, so each contact has
        # exactly one lead and one mql event, at the date of its last good row
        stages = wh.con.execute("SELECT contact_id, stage, ts FROM stage_events").fetchall()
        assert sorted(stages) == sorted(
            (k, s, v[0]) for k, v in model.items() for s in ("lead", "mql")
        )


SKIP_MAPPING = """
name: skip-property
outputs:
  - table: contacts
    columns: {contact_id: id, created_at: at}
  - table: stage_events
    when: {column: status, in: [MQL]}
    columns: {contact_id: id, stage: {value: mql}, ts: at}
  - table: opportunity_contacts
    columns:
      opportunity_id: id
      contact_id: {from: people, split: ";", item: each}
"""


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.booleans(),  # a good date
            st.sampled_from(["MQL", "Lead", ""]),
            st.lists(st.sampled_from(["p1", "p2", " p3 ", ""]), max_size=4),
        ),
        max_size=25,
    )
)
def test_rows_a_rule_leaves_out_are_skipped_and_everything_adds_up(
    rows: list[tuple[bool, str, list[str]]],
) -> None:
    text = csv_text(
        ["id", "at", "status", "people"],
        [
            ([f"c{i}", "2024-01-02" if good else "2024-02-30", status, ";".join(people)], False)
            for i, (good, status, people) in enumerate(rows)
        ],
    )
    items = [len({p.strip() for p in people if p.strip()}) for _, _, people in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_text(text, encoding="utf-8")
        mapping_path = Path(tmp) / "m.yml"
        mapping_path.write_text(SKIP_MAPPING, encoding="utf-8")
        wh = Warehouse.open(":memory:", create=True)
        try:
            result = import_files(wh, [path], mapping=load_mapping(str(mapping_path)))
        finally:
            wh.close()
    got = {
        c.table: (c.read, c.loaded, c.updated, c.rejected, c.skipped)
        for c in result.files[0].tables
    }
    for read, loaded, updated, rejected, skipped in got.values():
        assert read == loaded + updated + rejected + skipped
    good = [g for g, _, _ in rows]
    n, bad = len(rows), good.count(False)
    mql = [g for g, status, _ in rows if status == "MQL"]
    assert got["contacts"] == (n, n - bad, 0, bad, 0)
    assert got["stage_events"] == (n, mql.count(True), 0, mql.count(False), n - len(mql))
    assert got["opportunity_contacts"] == (
        sum(max(k, 1) for k in items),
        sum(k for k, g in zip(items, good, strict=True) if g),
        0,
        sum(k for k, g in zip(items, good, strict=True) if not g),
        items.count(0),
    )
