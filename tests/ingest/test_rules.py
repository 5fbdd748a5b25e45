"""Every row rule of DATA_MODEL.md: the exact code, line, column and value of each rejected
row, the values stored for the good ones, and how zone-less and offset timestamps land in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from revlens.ingest.load import FileResult, import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import REJECTS_TABLE, Warehouse

Writer = Callable[[str, str | bytes], Path]
T = dt.datetime


def load(
    wh: Warehouse, path: Path, *, table: str | None = None, mapping: str | Path | None = None
) -> FileResult:
    result = import_files(
        wh, [path], table=table, mapping=load_mapping(str(mapping)) if mapping else None
    )
    assert len(result.files) == 1
    file = result.files[0]
    for counts in file.tables:
        assert counts.read == counts.loaded + counts.updated + counts.rejected, counts
    return file


def rejects(file: FileResult) -> set[tuple[int | None, str | None, str | None, str]]:
    return {(r.line, r.column, r.value, r.code) for r in file.rejects}


def counts(file: FileResult) -> list[tuple[str, int, int, int, int]]:
    return [(c.table, c.read, c.loaded, c.updated, c.rejected) for c in file.tables]


def rows(wh: Warehouse, sql: str) -> list[tuple[object, ...]]:
    return wh.con.execute(sql).fetchall()


# -- missing values and the rejects store ---------------------------------------------------


def test_missing_required_values_are_rejected_with_line_column_and_reason(
    warehouse: Warehouse, write: Writer
) -> None:
    path = write(
        "contacts.csv", "contact_id,created_at,owner\nc1,2024-01-01,ann\n,2024-01-02,bob\nc3,,cy\n"
    )
    file = load(warehouse, path, table="contacts")
    assert counts(file) == [("contacts", 3, 1, 0, 2)]
    assert file.rows_read == 3 and file.rows_rejected == 2
    assert rejects(file) == {(3, "contact_id", None, "missing"), (4, "created_at", None, "missing")}
    assert rows(warehouse, "SELECT contact_id, owner FROM contacts") == [("c1", "ann")]
    stored = rows(
        warehouse,
        f"""SELECT file, "table", line, "column", value, code, reason, "row"
                               FROM {REJECTS_TABLE} ORDER BY line""",
    )
    assert stored == [
        (
            str(path),
            "contacts",
            3,
            "contact_id",
            None,
            "missing",
            "contact_id is required and empty; fill it in the file or map a default in the mapping",
            '{"contact_id":null,"created_at":"2024-01-02","owner":"bob","__line":3}',
        ),
        (
            str(path),
            "contacts",
            4,
            "created_at",
            None,
            "missing",
            "created_at is required and empty; fill it in the file or map a default in the mapping",
            '{"contact_id":"c3","created_at":null,"owner":"cy","__line":4}',
        ),
    ]


# -- unparseable values ------------------------------------------------------------------------

OPP = "opportunity_id,created_at,amount,stage\n"
TP = "touchpoint_id,ts,channel,pageviews,is_bounce,engaged_seconds\n"
SPEND = "date,channel,campaign,ad,cost\n"


@pytest.mark.parametrize(
    ("table", "header", "good", "bad", "column", "value", "code"),
    [
        (
            "opportunities",
            OPP,
            "o1,2024-01-01,10,open",
            "o2,2024-01-01,12x,open",
            "amount",
            "12x",
            "bad_number",
        ),
        (
            "opportunities",
            OPP,
            "o1,2024-01-01,10,open",
            "o2,2024-01-01,nan,open",
            "amount",
            "nan",
            "bad_number",
        ),
        (
            "opportunities",
            OPP,
            "o1,2024-01-01,10,open",
            "o2,2024-01-01,inf,open",
            "amount",
            "inf",
            "bad_number",
        ),
        (
            "touchpoints",
            TP,
            "t1,2024-01-01,web,3,no,1.5",
            "t2,2024-01-01,web,3.5,no,1",
            "pageviews",
            "3.5",
            "bad_integer",
        ),
        (
            "touchpoints",
            TP,
            "t1,2024-01-01,web,3,no,1.5",
            "t2,2024-01-01,web,3,maybe,1",
            "is_bounce",
            "maybe",
            "bad_boolean",
        ),
        (
            "spend",
            SPEND,
            "2024-01-01,paid,,,1",
            "2024-13-01,paid,,,1",
            "date",
            "2024-13-01",
            "bad_date",
        ),
        (
            "spend",
            SPEND,
            "2024-01-01,paid,,,1",
            "2024-02-30,paid,,,1",
            "date",
            "2024-02-30",
            "bad_date",
        ),
        (
            "contacts",
            "contact_id,created_at\n",
            "c1,2024-01-01",
            "c2,yesterday",
            "created_at",
            "yesterday",
            "bad_timestamp",
        ),
        (
            "contacts",
            "contact_id,created_at\n",
            "c1,2024-01-01",
            "c2,2024-02-30",
            "created_at",
            "2024-02-30",
            "bad_timestamp",
        ),
        (
            "contacts",
            "contact_id,created_at\n",
            "c1,2024-01-01",
            "c2,2024-02-30T10:00:00+02:00",
            "created_at",
            "2024-02-30T10:00:00+02:00",
            "bad_timestamp",
        ),
        (
            "contacts",
            "contact_id,created_at\n",
            "c1,2024-01-01",
            "c2,20240301",
            "created_at",
            "20240301",
            "bad_timestamp",
        ),
    ],
)
def test_unparseable_value_is_rejected(
    warehouse: Warehouse,
    write: Writer,
    table: str,
    header: str,
    good: str,
    bad: str,
    column: str,
    value: str,
    code: str,
) -> None:
    file = load(warehouse, write("f.csv", f"{header}{good}\n{bad}\n"), table=table)
    assert counts(file) == [(table, 2, 1, 0, 1)]
    assert rejects(file) == {(3, column, value, code)}
    assert warehouse.row_counts()[table] == 1


def test_every_broken_rule_of_one_row_is_recorded(warehouse: Warehouse, write: Writer) -> None:
    path = write("tp.csv", TP + "t1,2024-01-01,web,3,yes,1.5\nt2,2024-01-01,,3.5,maybe,-1\n")
    file = load(warehouse, path, table="touchpoints")
    assert counts(file) == [("touchpoints", 2, 1, 0, 1)]
    assert file.rows_rejected == 1
    assert rejects(file) == {
        (3, "channel", None, "missing"),
        (3, "pageviews", "3.5", "bad_integer"),
        (3, "is_bounce", "maybe", "bad_boolean"),
        (3, "engaged_seconds", "-1", "negative"),
    }


def test_valid_values_are_typed(warehouse: Warehouse, write: Writer) -> None:
    text = (
        TP + "t1,2024-01-01,web,3.0,yes,1e3\nt2,2024-01-01,web, 7 ,N,0\n"
        "t3,2024-01-01,web,0,TRUE,2.25\nt4,2024-01-01,web,,f,\n"
    )
    file = load(warehouse, write("tp.csv", text), table="touchpoints")
    assert counts(file) == [("touchpoints", 4, 4, 0, 0)]
    assert rows(
        warehouse,
        """SELECT touchpoint_id, pageviews, is_bounce, engaged_seconds
                              FROM touchpoints ORDER BY 1""",
    ) == [
        ("t1", 3, True, 1000.0),
        ("t2", 7, False, 0.0),
        ("t3", 0, True, 2.25),
        ("t4", None, False, None),
    ]


# -- negative, unknown values, order ---------------------------------------------------------


def test_negative_cost_and_counts_are_rejected(warehouse: Warehouse, write: Writer) -> None:
    text = (
        "date,channel,campaign,ad,cost,impressions\n2024-01-01,paid,,,0,0\n"
        "2024-01-02,paid,,,-1,5\n2024-01-03,paid,,,2,-5\n"
    )
    file = load(warehouse, write("spend.csv", text), table="spend")
    assert counts(file) == [("spend", 3, 1, 0, 2)]
    assert rejects(file) == {(3, "cost", "-1", "negative"), (4, "impressions", "-5", "negative")}
    assert rows(warehouse, "SELECT date, cost, impressions FROM spend") == [
        (dt.date(2024, 1, 1), 0.0, 0)
    ]


def test_unknown_stage_is_rejected_and_known_stages_are_lowercased(
    warehouse: Warehouse, write: Writer
) -> None:
    text = "contact_id,stage,ts\nc1,MQL,2024-01-01\nc1,won,2024-01-02\nc2,customer,2024-01-03\n"
    file = load(warehouse, write("stages.csv", text), table="stage_events")
    assert counts(file) == [("stage_events", 3, 2, 0, 1)]
    assert rejects(file) == {(3, "stage", "won", "unknown_value")}
    reason = file.rejects[0].reason
    assert reason.startswith("stage must be one of lead, mql, sql, opportunity, customer")
    assert rows(warehouse, "SELECT contact_id, stage FROM stage_events ORDER BY 1") == [
        ("c1", "mql"),
        ("c2", "customer"),
    ]


def test_configured_stages_replace_the_default_ones(warehouse: Warehouse, write: Writer) -> None:
    warehouse.update_settings(stages=("visitor", "lead", "customer"))
    text = "contact_id,stage,ts\nc1,visitor,2024-01-01\nc1,mql,2024-01-02\n"
    file = load(warehouse, write("stages.csv", text), table="stage_events")
    assert rejects(file) == {(3, "stage", "mql", "unknown_value")}
    assert rows(warehouse, "SELECT stage FROM stage_events") == [("visitor",)]


def test_configured_stages_with_capitals_are_accepted(warehouse: Warehouse, write: Writer) -> None:
    warehouse.update_settings(stages=("Lead", "MQL", "SQL"))
    text = (
        "contact_id,stage,ts\nc1,Lead,2024-01-01\nc1,MQL,2024-01-02\nc2,sql,2024-01-03\n"
        "c2,Customer,2024-01-04\n"
    )
    file = load(warehouse, write("stages.csv", text), table="stage_events")
    assert rejects(file) == {(5, "stage", "Customer", "unknown_value")}
    assert counts(file) == [("stage_events", 4, 3, 0, 1)]
    # matched without regard to case, stored in the configured spelling
    assert rows(warehouse, "SELECT contact_id, stage FROM stage_events ORDER BY ts") == [
        ("c1", "Lead"),
        ("c1", "MQL"),
        ("c2", "SQL"),
    ]


def test_unknown_touch_type_is_rejected(warehouse: Warehouse, write: Writer) -> None:
    text = (
        "touchpoint_id,ts,channel,touch_type\nt1,2024-01-01,web,Session\n"
        "t2,2024-01-01,web,visit\nt3,2024-01-01,web,ad_click\n"
    )
    file = load(warehouse, write("tp.csv", text), table="touchpoints")
    assert counts(file) == [("touchpoints", 3, 2, 0, 1)]
    assert rejects(file) == {(3, "touch_type", "visit", "unknown_value")}
    assert rows(warehouse, "SELECT touchpoint_id, touch_type FROM touchpoints ORDER BY 1") == [
        ("t1", "session"),
        ("t3", "ad_click"),
    ]


def test_closed_before_created_is_rejected(warehouse: Warehouse, write: Writer) -> None:
    text = (
        "opportunity_id,created_at,amount,stage,closed_at\n"
        "o1,2024-03-01,10,won,2024-02-01\no2,2024-03-01,10,won,2024-03-01\n"
        "o3,2024-03-01,10,open,\n"
    )
    file = load(warehouse, write("opps.csv", text), table="opportunities")
    assert counts(file) == [("opportunities", 3, 2, 0, 1)]
    assert rejects(file) == {(2, "closed_at", "2024-02-01 00:00:00", "order")}
    assert file.rejects[0].reason == "closed_at is before created_at; correct one of the two"
    assert rows(warehouse, "SELECT opportunity_id, closed_at FROM opportunities ORDER BY 1") == [
        ("o2", T(2024, 3, 1)),
        ("o3", None),
    ]


@pytest.mark.parametrize(
    ("table", "text", "column", "value"),
    [
        (
            "inbound_requests",
            "request_id,received_at,first_response_at\nr1,2024-03-01 10:00,2024-03-01 09:59\n",
            "first_response_at",
            "2024-03-01 09:59:00",
        ),
        (
            "targets",
            "kpi,period_start,period_end,target\nmqls,2024-02-01,2024-01-31,5\n",
            "period_end",
            "2024-01-31",
        ),
    ],
)
def test_other_order_rules(
    warehouse: Warehouse, write: Writer, table: str, text: str, column: str, value: str
) -> None:
    file = load(warehouse, write("f.csv", text), table=table)
    assert counts(file) == [(table, 1, 0, 0, 1)]
    assert rejects(file) == {(2, column, value, "order")}


# -- currencies ------------------------------------------------------------------------------

OPP_CUR = "opportunity_id,created_at,amount,stage,currency\n"


def test_currency_without_a_rate_is_rejected_then_loads_once_rates_exist(
    warehouse: Warehouse, write: Writer
) -> None:
    text = (
        OPP_CUR + "o1,2024-03-01,10,open,USD\no2,2024-03-01,20,open,eur\n"
        "o3,2024-03-01,30,open,EURO\n"
    )
    path = write("opps.csv", text)
    file = load(warehouse, path, table="opportunities")
    assert counts(file) == [("opportunities", 3, 1, 0, 2)]
    assert rejects(file) == {
        (3, "currency", "EUR", "no_fx_rate"),
        (4, "currency", "EURO", "bad_currency"),
    }
    by_code = {r.code: r.reason for r in file.rejects}
    assert by_code["no_fx_rate"] == (
        "no rate in fx_rates converts this currency to USD; import fx_rates for it first"
    )
    assert by_code["bad_currency"] == "currency must be an ISO 4217 code such as EUR"

    fx = load(
        warehouse, write("fx.csv", "date,currency,rate\n2024-01-01,EUR,1.08\n"), table="fx_rates"
    )
    assert counts(fx) == [("fx_rates", 1, 1, 0, 0)]
    again = load(warehouse, path, table="opportunities")
    assert counts(again) == [("opportunities", 3, 1, 1, 1)]
    assert rejects(again) == {(4, "currency", "EURO", "bad_currency")}
    assert rows(
        warehouse, "SELECT opportunity_id, amount, currency FROM opportunities ORDER BY 1"
    ) == [("o1", 10.0, "USD"), ("o2", 20.0, "EUR")]
    # the re-import replaced the file's old rejects instead of adding to them
    assert rows(warehouse, f"SELECT line, code FROM {REJECTS_TABLE} ORDER BY line") == [
        (4, "bad_currency")
    ]


def test_money_without_a_currency_column_gets_the_reporting_currency(
    warehouse: Warehouse, write: Writer
) -> None:
    warehouse.update_settings(reporting_currency="EUR")
    load(warehouse, write("spend.csv", SPEND + "2024-01-01,paid,,,5\n"), table="spend")
    assert rows(warehouse, "SELECT cost, currency FROM spend") == [(5.0, "EUR")]


def test_empty_currency_cell_gets_the_reporting_currency(
    warehouse: Warehouse, write: Writer
) -> None:
    text = "date,channel,campaign,ad,cost,currency\n2024-01-01,paid,,,5,\n2024-01-02,paid,,,6,usd\n"
    load(warehouse, write("spend.csv", text), table="spend")
    assert rows(warehouse, "SELECT date, currency FROM spend ORDER BY 1") == [
        (dt.date(2024, 1, 1), "USD"),
        (dt.date(2024, 1, 2), "USD"),
    ]


def test_fx_rates_reject_a_currency_that_is_not_iso_4217(
    warehouse: Warehouse, write: Writer
) -> None:
    text = "date,currency,rate\n2024-01-01,EURO,1.1\n2024-01-01,gbp,1.2\n"
    file = load(warehouse, write("fx.csv", text), table="fx_rates")
    assert rejects(file) == {(2, "currency", "EURO", "bad_currency")}
    assert rows(warehouse, "SELECT currency, rate FROM fx_rates") == [("GBP", 1.2)]


# -- duplicates and field counts -------------------------------------------------------------


def test_duplicate_keys_in_one_file_last_occurrence_wins(
    warehouse: Warehouse, write: Writer
) -> None:
    text = (
        "contact_id,created_at,owner\nc1,2024-01-01,ann\nc2,2024-01-01,bob\n"
        "c1,2024-01-02,cy\nc1,2024-01-03,dee\n"
    )
    file = load(warehouse, write("contacts.csv", text), table="contacts")
    assert counts(file) == [("contacts", 4, 2, 0, 2)]
    assert rejects(file) == {
        (2, "contact_id", "c1", "duplicate_key"),
        (4, "contact_id", "c1", "duplicate_key"),
    }
    assert {r.reason for r in file.rejects} == {
        "the same key appears again on line 5, which is kept (the last occurrence wins); "
        "remove the duplicate from the export"
    }
    assert rows(warehouse, "SELECT contact_id, created_at, owner FROM contacts ORDER BY 1") == [
        ("c1", T(2024, 1, 3), "dee"),
        ("c2", T(2024, 1, 1), "bob"),
    ]


def test_a_bad_last_duplicate_leaves_the_last_good_one(warehouse: Warehouse, write: Writer) -> None:
    text = "contact_id,created_at\nc1,2024-01-01\nc1,not a date\n"
    file = load(warehouse, write("contacts.csv", text), table="contacts")
    assert rejects(file) == {(3, "created_at", "not a date", "bad_timestamp")}
    assert rows(warehouse, "SELECT contact_id, created_at FROM contacts") == [("c1", T(2024, 1, 1))]


def test_duplicate_composite_key_with_empty_parts(warehouse: Warehouse, write: Writer) -> None:
    text = SPEND + "2024-01-03,paid,,,10\n2024-01-03,paid,spring,,20\n2024-01-03,paid,,,11\n"
    file = load(warehouse, write("spend.csv", text), table="spend")
    assert counts(file) == [("spend", 3, 2, 0, 1)]
    assert rejects(file) == {
        (2, "date, channel, source, campaign, ad_group, ad", "2024-01-03 | paid", "duplicate_key")
    }
    assert rows(warehouse, "SELECT campaign, cost FROM spend ORDER BY cost") == [
        (None, 11.0),
        ("spring", 20.0),
    ]


def test_wrong_field_count_is_rejected_with_the_raw_line(
    warehouse: Warehouse, write: Writer
) -> None:
    text = "contact_id,created_at\nc1,2024-01-01\nc2,2024-01-02,extra\n\nc3\nc4,2024-01-04\n"
    file = load(warehouse, write("contacts.csv", text), table="contacts")
    assert counts(file) == [("contacts", 4, 2, 0, 2)]
    assert rejects(file) == {
        (3, None, "c2,2024-01-02,extra", "field_count"),
        (5, None, "c3", "field_count"),
    }
    assert {r.line: r.reason for r in file.rejects}[3] == (
        "the row has 3 fields but the header has 2; check the delimiter and quoting of this line"
    )
    assert rows(warehouse, "SELECT contact_id FROM contacts ORDER BY 1") == [("c1",), ("c4",)]


# -- mapping rules: unmapped values, update-only outputs --------------------------------------


def test_unmapped_value_is_rejected_when_the_mapping_says_so(
    warehouse: Warehouse, write: Writer
) -> None:
    mapping = write(
        "m.yml",
        """
name: segs
outputs:
  - table: contacts
    columns:
      contact_id: id
      created_at: created
      segment: {from: seg, map: {s: SMB, e: Enterprise}, unmapped: reject}
      lead_source: {from: src, map: {ads: paid}}
""",
    )
    text = "id,created,seg,src\nc1,2024-01-01,s,ads\nc2,2024-01-01,x,web\nc3,2024-01-01,,\n"
    file = load(warehouse, write("in.csv", text), mapping=mapping)
    assert counts(file) == [("contacts", 3, 2, 0, 1)]
    assert rejects(file) == {(3, "segment", "x", "unmapped_value")}
    assert file.rejects[0].reason == (
        "seg has a value the mapping does not list; add it to the map of segment"
    )
    assert rows(warehouse, "SELECT contact_id, segment, lead_source FROM contacts ORDER BY 1") == [
        ("c1", "SMB", "paid"),
        ("c3", None, None),
    ]


def test_update_mode_rejects_unknown_keys(warehouse: Warehouse, write: Writer) -> None:
    load(
        warehouse,
        write("c.csv", "contact_id,created_at,owner\nc1,2024-01-01,ann\n"),
        table="contacts",
    )
    mapping = write(
        "m.yml",
        """
name: owners
outputs:
  - table: contacts
    mode: update
    columns: {contact_id: id, owner: rep}
""",
    )
    file = load(warehouse, write("owners.csv", "id,rep\nc1,zed\nc9,yan\n"), mapping=mapping)
    assert counts(file) == [("contacts", 2, 0, 1, 1)]
    assert rejects(file) == {(3, None, "c9", "unknown_key")}
    assert file.rejects[0].reason.startswith("no contacts row has this key yet")
    assert rows(warehouse, "SELECT contact_id, created_at, owner FROM contacts") == [
        ("c1", T(2024, 1, 1), "zed")
    ]


def test_mapping_formats_separators_and_default_currency(
    warehouse: Warehouse, write: Writer
) -> None:
    mapping = write(
        "m.yml",
        """
name: de-spend
currency: EUR
outputs:
  - table: spend
    columns:
      date: {from: Tag, format: "%d.%m.%Y"}
      channel: Kanal
      campaign: Kampagne
      ad: Anzeige
      cost: {from: Kosten, decimal: ",", thousands: "."}
      currency: Waehrung
""",
    )
    load(warehouse, write("fx.csv", "date,currency,rate\n2024-01-01,EUR,1.1\n"), table="fx_rates")
    text = (
        "Tag;Kanal;Kampagne;Anzeige;Kosten;Waehrung\n01.03.2024;paid;;;1.234,5;\n"
        "31.02.2024;paid;;;1;\n02.03.2024;paid;;;7,25;GBP\n"
    )
    file = load(warehouse, write("kosten.csv", text), mapping=mapping)
    assert counts(file) == [("spend", 3, 1, 0, 2)]
    assert rejects(file) == {
        (3, "date", "31.02.2024", "bad_date"),
        (4, "currency", "GBP", "no_fx_rate"),
    }
    assert {r.reason for r in file.rejects if r.code == "bad_date"} == {
        "date is not a valid date: expected the format '%d.%m.%Y'"
    }
    assert rows(warehouse, "SELECT date, cost, currency FROM spend") == [
        (dt.date(2024, 3, 1), 1234.5, "EUR")
    ]


# -- integers that do not fit ----------------------------------------------------------------


def test_integer_out_of_range_is_rejected_not_a_crash(warehouse: Warehouse, write: Writer) -> None:
    text = (
        "touchpoint_id,ts,channel,pageviews\nt1,2024-01-01,web,1\n"
        "t2,2024-01-01,web,99999999999999999999\nt3,2024-01-01,web,9223372036854775807\n"
    )
    file = load(warehouse, write("tp.csv", text), table="touchpoints")
    assert counts(file) == [("touchpoints", 3, 2, 0, 1)]
    assert rejects(file) == {(3, "pageviews", "99999999999999999999", "bad_integer")}
    assert rows(warehouse, "SELECT touchpoint_id, pageviews FROM touchpoints ORDER BY 1") == [
        ("t1", 1),
        ("t3", 9223372036854775807),
    ]


def test_large_integers_keep_every_digit(warehouse: Warehouse, write: Writer) -> None:
    text = "date,channel,campaign,ad,cost,impressions\n2024-01-01,x,,,1,9007199254740993\n"
    load(warehouse, write("spend.csv", text), table="spend")
    assert rows(warehouse, "SELECT impressions FROM spend") == [(9007199254740993,)]


# -- time zones ------------------------------------------------------------------------------


def test_offsets_are_converted_to_utc(warehouse: Warehouse, write: Writer) -> None:
    text = (
        "contact_id,created_at\nc1,2024-03-01T10:00:00+02:00\nc2,2024-03-01T10:00:00Z\n"
        "c3,2024-03-01T10:00:00+0200\nc4,2024-03-01T10:00:00.5-05:30\nc5,2024-03-01 10:00:00\n"
        "c6,2024-03-01\n"
    )
    file = load(warehouse, write("c.csv", text), table="contacts")
    assert counts(file) == [("contacts", 6, 6, 0, 0)]
    assert rows(warehouse, "SELECT contact_id, created_at FROM contacts ORDER BY 1") == [
        ("c1", T(2024, 3, 1, 8)),
        ("c2", T(2024, 3, 1, 10)),
        ("c3", T(2024, 3, 1, 8)),
        ("c4", T(2024, 3, 1, 15, 30, 0, 500000)),
        ("c5", T(2024, 3, 1, 10)),
        ("c6", T(2024, 3, 1)),
    ]


def test_offset_after_a_space_is_accepted(warehouse: Warehouse, write: Writer) -> None:
    text = (
        "contact_id,created_at\nc1,2024-03-01 10:00:00 +02:00\nc2,2024-03-01 10:00:00 Z\n"
        "c3,2024-03-01 10:00:00 -0130\n"
    )
    file = load(warehouse, write("c.csv", text), table="contacts")
    assert rejects(file) == set()
    assert rows(warehouse, "SELECT contact_id, created_at FROM contacts ORDER BY 1") == [
        ("c1", T(2024, 3, 1, 8)),
        ("c2", T(2024, 3, 1, 10)),
        ("c3", T(2024, 3, 1, 11, 30)),
    ]


def test_mapping_timezone_shifts_zone_less_timestamps(warehouse: Warehouse, write: Writer) -> None:
    mapping = write(
        "m.yml",
        """
name: istanbul
timezone: Europe/Istanbul
outputs:
  - table: contacts
    columns:
      contact_id: id
      created_at: created
  - table: stage_events
    columns:
      contact_id: id
      stage: {value: lead}
      ts: {from: created, timezone: America/New_York}
""",
    )
    text = "id,created\nc1,2024-03-01 10:00:00\nc2,2024-03-01T10:00:00+02:00\nc3,2024-03-01\n"
    file = load(warehouse, write("c.csv", text), mapping=mapping)
    assert counts(file) == [("contacts", 3, 3, 0, 0), ("stage_events", 3, 3, 0, 0)]
    assert rows(warehouse, "SELECT contact_id, created_at FROM contacts ORDER BY 1") == [
        ("c1", T(2024, 3, 1, 7)),
        ("c2", T(2024, 3, 1, 8)),
        ("c3", T(2024, 2, 29, 21)),
    ]
    # a column's own zone wins over the mapping's; an explicit offset wins over both
    assert rows(warehouse, "SELECT contact_id, ts FROM stage_events ORDER BY 1") == [
        ("c1", T(2024, 3, 1, 15)),
        ("c2", T(2024, 3, 1, 8)),
        ("c3", T(2024, 3, 1, 5)),
    ]


def test_warehouse_timezone_setting_applies_to_zone_less_input(
    warehouse: Warehouse, write: Writer
) -> None:
    warehouse.update_settings(timezone="America/New_York")
    text = (
        "contact_id,created_at\nc1,2024-03-01 10:00:00\nc2,2024-07-01 10:00:00\n"
        "c3,2024-03-01T10:00:00Z\n"
    )
    load(warehouse, write("c.csv", text), table="contacts")
    assert rows(warehouse, "SELECT contact_id, created_at FROM contacts ORDER BY 1") == [
        ("c1", T(2024, 3, 1, 15)),
        ("c2", T(2024, 7, 1, 14)),
        ("c3", T(2024, 3, 1, 10)),
    ]
    warehouse.update_settings(timezone="Europe/Istanbul")
    load(
        warehouse,
        write("d.csv", "contact_id,created_at\nc4,2024-03-01 10:00:00\n"),
        table="contacts",
    )
    assert rows(warehouse, "SELECT created_at FROM contacts WHERE contact_id = 'c4'") == [
        (T(2024, 3, 1, 7),)
    ]


def test_format_with_an_offset_directive(warehouse: Warehouse, write: Writer) -> None:
    mapping = write(
        "m.yml",
        """
name: fmt
timezone: Asia/Tokyo
outputs:
  - table: contacts
    columns:
      contact_id: id
      created_at: {from: created, format: "%d/%m/%Y %H:%M %z"}
""",
    )
    text = "id,created\nc1,01/03/2024 10:00 +0200\nc2,01/03/2024 10:00\n"
    file = load(warehouse, write("c.csv", text), mapping=mapping)
    assert rejects(file) == {(3, "created_at", "01/03/2024 10:00", "bad_timestamp")}
    assert rows(warehouse, "SELECT created_at FROM contacts") == [(T(2024, 3, 1, 8),)]
