"""The importer: per-table accounting, upserts by key, several outputs and files per import,
the import log and the rejects store."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from revlens.errors import ImportAborted, InputFileError, UnknownName
from revlens.ingest.load import ImportResult, import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import IMPORTS_TABLE, REJECTS_TABLE, Warehouse

Writer = Callable[[str, str | bytes], Path]
T = dt.datetime

MQL_HEADER = "mql_id,first_contact_date,landing_page_id,origin\n"


def per_table(result: ImportResult) -> list[tuple[str, int, int, int, int]]:
    return [
        (c.table, c.read, c.loaded, c.updated, c.rejected) for f in result.files for c in f.tables
    ]


def q(wh: Warehouse, sql: str) -> list[tuple[object, ...]]:
    return wh.con.execute(sql).fetchall()


def test_a_bad_row_is_rejected_from_every_table_it_feeds(
    warehouse: Warehouse, write: Writer
) -> None:
    text = (
        MQL_HEADER + "m1,2024-01-01,lp1,paid_search\n"
        "m2,2024-01-02,lp2\n"  # field count: a reader reject, in every table
        "m3,2024-02-30,lp3,social\n"  # bad date: fails all four outputs
        "m4,2024-01-04,lp4,\n"
    )  # no origin: channel 'unknown'
    result = import_files(warehouse, [write("mqls.csv", text)], mapping=load_mapping("olist-mqls"))
    assert per_table(result) == [
        ("contacts", 4, 2, 0, 2),
        ("stage_events", 4, 2, 0, 2),
        ("stage_events", 4, 2, 0, 2),
        ("touchpoints", 4, 2, 0, 2),
    ]
    assert {k: (v.read, v.loaded, v.updated, v.rejected) for k, v in result.totals().items()} == {
        "contacts": (4, 2, 0, 2),
        "stage_events": (8, 4, 0, 4),
        "touchpoints": (4, 2, 0, 2),
    }
    assert (result.rows_read, result.rows_rejected) == (4, 2)
    rejects = result.files[0].rejects
    assert [(r.line, r.table, r.column, r.code) for r in rejects] == [
        (3, "contacts, stage_events, touchpoints", None, "field_count"),
        (4, "contacts", "created_at", "bad_timestamp"),
        (4, "stage_events", "ts", "bad_timestamp"),
        (4, "stage_events", "ts", "bad_timestamp"),
        (4, "touchpoints", "ts", "bad_timestamp"),
    ]
    assert q(warehouse, "SELECT contact_id, created_at, lead_source FROM contacts ORDER BY 1") == [
        ("m1", T(2024, 1, 1), "paid_search"),
        ("m4", T(2024, 1, 4), None),
    ]
    assert q(warehouse, "SELECT contact_id, stage, ts, source FROM stage_events ORDER BY 1, 2") == [
        ("m1", "lead", T(2024, 1, 1), "olist"),
        ("m1", "mql", T(2024, 1, 1), "olist"),
        ("m4", "lead", T(2024, 1, 4), "olist"),
        ("m4", "mql", T(2024, 1, 4), "olist"),
    ]
    assert q(
        warehouse,
        "SELECT touchpoint_id, contact_id, channel, landing_page, touch_type "
        "FROM touchpoints ORDER BY 1",
    ) == [("m1", "m1", "paid_search", "lp1", "form"), ("m4", "m4", "unknown", "lp4", "form")]


def test_import_log_records_each_file(warehouse: Warehouse, write: Writer) -> None:
    path = write("c.csv", "contact_id,created_at\nc1,2024-01-01\nc2,nope\n")
    result = import_files(warehouse, [path], table="contacts")
    log = q(
        warehouse,
        f"SELECT import_id, source, target, sha256, rows_read, rows_loaded, "
        f"rows_updated, rows_rejected, details FROM {IMPORTS_TABLE}",
    )
    assert len(log) == 1
    import_id, source, target, sha, read, loaded, updated, rejected, details = log[0]
    assert str(import_id).startswith(result.import_id)
    assert (source, target, read, loaded, updated, rejected) == (
        str(path),
        "table:contacts",
        2,
        1,
        0,
        1,
    )
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(str(details))["tables"] == [
        {"table": "contacts", "read": 2, "loaded": 1, "updated": 0, "rejected": 1, "skipped": 0}
    ]


def test_reimport_updates_by_key_and_replaces_the_file_rejects(
    warehouse: Warehouse, write: Writer
) -> None:
    path = write(
        "c.csv", "contact_id,created_at,owner\nc1,2024-01-01,ann\nc2,nope,bob\nc3,2024-01-03,\n"
    )
    first = import_files(warehouse, [path], table="contacts")
    assert per_table(first) == [("contacts", 3, 2, 0, 1)]
    before = q(warehouse, "SELECT * FROM contacts ORDER BY ALL")
    second = import_files(warehouse, [path], table="contacts")
    assert per_table(second) == [("contacts", 3, 0, 2, 1)]
    assert q(warehouse, "SELECT * FROM contacts ORDER BY ALL") == before
    assert q(warehouse, f"SELECT line, code, import_id FROM {REJECTS_TABLE}") == [
        (3, "bad_timestamp", second.import_id)
    ]
    assert q(warehouse, f"SELECT count(*) FROM {IMPORTS_TABLE}") == [(2,)]


def test_upsert_changes_only_the_columns_the_file_has(warehouse: Warehouse, write: Writer) -> None:
    import_files(
        warehouse,
        [
            write(
                "a.csv",
                "contact_id,created_at,owner,country\nc1,2024-01-01,ann,DE\nc2,2024-01-01,bob,FR\n",
            )
        ],
        table="contacts",
    )
    result = import_files(
        warehouse,
        [write("b.csv", "contact_id,created_at,country\nc1,2024-02-01,AT\nc3,2024-02-01,IT\n")],
        table="contacts",
    )
    assert per_table(result) == [("contacts", 2, 1, 1, 0)]
    assert q(
        warehouse, "SELECT contact_id, created_at, owner, country FROM contacts ORDER BY 1"
    ) == [
        ("c1", T(2024, 2, 1), "ann", "AT"),
        ("c2", T(2024, 1, 1), "bob", "FR"),
        ("c3", T(2024, 2, 1), None, "IT"),
    ]


def test_several_files_in_one_import(warehouse: Warehouse, write: Writer) -> None:
    a = write("a.csv", "contact_id,created_at,owner\nc1,2024-01-01,a\nc2,2024-01-01,a\n")
    b = write("b.csv", "contact_id,created_at,owner\nc1,2024-01-02,b\nc3,2024-01-01,b\n")
    result = import_files(warehouse, [a, b], table="contacts")
    assert [f.file for f in result.files] == [str(a), str(b)]
    assert per_table(result) == [("contacts", 2, 2, 0, 0), ("contacts", 2, 1, 1, 0)]
    assert q(warehouse, "SELECT contact_id, created_at, owner FROM contacts ORDER BY 1") == [
        ("c1", T(2024, 1, 2), "b"),
        ("c2", T(2024, 1, 1), "a"),
        ("c3", T(2024, 1, 1), "b"),
    ]
    again = import_files(warehouse, [a, b], table="contacts")
    assert per_table(again) == [("contacts", 2, 0, 2, 0), ("contacts", 2, 0, 2, 0)]


def test_touchpoints_without_an_id_get_a_stable_hash(warehouse: Warehouse, write: Writer) -> None:
    path = write(
        "tp.csv", "ts,channel,campaign\n2024-01-01,web,a\n2024-01-01,web,a\n2024-01-01,web,b\n"
    )
    first = import_files(warehouse, [path], table="touchpoints")
    assert per_table(first) == [("touchpoints", 3, 2, 0, 1)]
    # two identical rows are one touchpoint: the first is a duplicate of the second
    assert [(r.line, r.code) for r in first.files[0].rejects] == [(2, "duplicate_key")]
    keys = q(warehouse, "SELECT touchpoint_id, campaign FROM touchpoints ORDER BY 2")
    assert [k[1] for k in keys] == ["a", "b"]
    assert all(len(str(k[0])) == 32 for k in keys) and keys[0][0] != keys[1][0]
    second = import_files(warehouse, [path], table="touchpoints")
    assert per_table(second) == [("touchpoints", 3, 0, 2, 1)]
    assert q(warehouse, "SELECT touchpoint_id, campaign FROM touchpoints ORDER BY 2") == keys


def test_abort_raises_with_the_rows_and_changes_nothing(
    warehouse: Warehouse, write: Writer, snapshot: Callable[..., object]
) -> None:
    import_files(
        warehouse, [write("a.csv", "contact_id,created_at\nc1,2024-01-01\n")], table="contacts"
    )
    before = snapshot(warehouse)
    path = write("b.csv", "contact_id,created_at\nc1,2024-05-05\nc2,2024-01-02\nc3,nope\n")
    with pytest.raises(ImportAborted) as info:
        import_files(warehouse, [path], table="contacts", on_error="abort")
    err = info.value
    assert err.code == "RL300"
    assert err.message == "1 of 3 rows break a rule; nothing was loaded"
    assert err.where == str(path)
    assert isinstance(err.result, ImportResult) and err.result.committed is False
    assert [(r.line, r.column, r.value, r.code) for r in err.result.files[0].rejects] == [
        (4, "created_at", "nope", "bad_timestamp")
    ]
    assert snapshot(warehouse) == before
    # the warehouse is still usable and the same file loads with the default policy
    ok = import_files(warehouse, [path], table="contacts")
    assert per_table(ok) == [("contacts", 3, 1, 1, 1)]


def test_abort_with_a_clean_file_loads(warehouse: Warehouse, write: Writer) -> None:
    result = import_files(
        warehouse,
        [write("a.csv", "contact_id,created_at\nc1,2024-01-01\n")],
        table="contacts",
        on_error="abort",
    )
    assert result.committed is True
    assert per_table(result) == [("contacts", 1, 1, 0, 0)]


def test_mapping_columns_missing_from_the_file(warehouse: Warehouse, write: Writer) -> None:
    with pytest.raises(InputFileError) as info:
        import_files(
            warehouse,
            [write("x.csv", "mql_id,first_contact_date\nm1,2024-01-01\n")],
            mapping=load_mapping("olist-mqls"),
        )
    assert info.value.code == "RL111"
    assert info.value.value == "landing_page_id, origin"


def test_table_and_mapping_are_exclusive(warehouse: Warehouse, write: Writer) -> None:
    path = write("c.csv", "contact_id,created_at\nc1,2024-01-01\n")
    with pytest.raises(ValueError, match="exactly one of table, mapping or file_mappings"):
        import_files(warehouse, [path])
    with pytest.raises(ValueError, match="exactly one of table, mapping or file_mappings"):
        import_files(warehouse, [path], table="contacts", mapping=load_mapping("olist-mqls"))


def test_unknown_table_suggests_the_close_one(warehouse: Warehouse, write: Writer) -> None:
    with pytest.raises(UnknownName) as info:
        import_files(warehouse, [write("c.csv", "contact_id\n")], table="contact")
    assert info.value.suggestions == ["contacts"]
    assert info.value.fix == "did you mean 'contacts'?"


def test_spend_upserts_by_its_key_with_empty_parts(warehouse: Warehouse, write: Writer) -> None:
    """spend's key is (date, channel, source, campaign, ad_group, ad): rows that differ in an
    ad group are two rows; empty key parts match empty ones (IS NOT DISTINCT FROM), so the
    same file imported again updates every row and adds none."""
    path = write(
        "ads.csv",
        "date,channel,source,campaign,ad_group,ad,cost,impressions,clicks,conversions,platform\n"
        "2024-01-05,paid_search,google,brand,ag1,,100,10000,250,5,google_ads\n"
        "2024-01-05,paid_search,google,brand,ag2,,50,5000,50,0,google_ads\n"
        "2024-01-05,paid_search,,brand,,,30,2000,0,,google_ads\n"
        "2024-01-05,paid_social,,,,,40,,,,\n",
    )
    first = import_files(warehouse, [path], table="spend")
    assert per_table(first) == [("spend", 4, 4, 0, 0)]
    again = import_files(warehouse, [path], table="spend")
    assert per_table(again) == [("spend", 4, 0, 4, 0)]
    changed = write(
        "ads2.csv",
        "date,channel,source,campaign,ad_group,ad,cost\n"
        "2024-01-05,paid_search,,brand,,,35\n"  # the row without source and ad group
        "2024-01-05,paid_search,bing,brand,,,7\n",  # another source: a new row
    )
    assert per_table(import_files(warehouse, [changed], table="spend")) == [("spend", 2, 1, 1, 0)]
    assert q(
        warehouse,
        "SELECT source, campaign, ad_group, cost, clicks, conversions, platform FROM spend "
        "WHERE channel = 'paid_search' ORDER BY source NULLS FIRST, ad_group",
    ) == [
        (None, "brand", None, 35.0, 0, None, "google_ads"),
        ("bing", "brand", None, 7.0, None, None, None),
        ("google", "brand", "ag1", 100.0, 250, 5.0, "google_ads"),
        ("google", "brand", "ag2", 50.0, 50, 0.0, "google_ads"),
    ]
