"""A corpus of awkward files and what the user gets for each: delimiters, missing columns,
empty files, encodings, quoting, JSON Lines, XLSX and Parquet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revlens.errors import InputFileError
from revlens.ingest.load import FileResult, import_files
from revlens.ingest.readers import LINE_COLUMN, ReadOptions, read_file
from revlens.model.warehouse import Warehouse

Writer = Callable[[str, str | bytes], Path]
T = dt.datetime


def load(wh: Warehouse, path: Path, table: str = "contacts", **options: object) -> FileResult:
    result = import_files(
        wh, [path], table=table, read_options=ReadOptions(**options) if options else None
    )
    file = result.files[0]
    for c in file.tables:
        assert c.read == c.loaded + c.updated + c.rejected
    return file


def counts(file: FileResult) -> list[tuple[str, int, int, int, int]]:
    return [(c.table, c.read, c.loaded, c.updated, c.rejected) for c in file.tables]


def rejects(file: FileResult) -> set[tuple[int | None, str | None, str | None, str]]:
    return {(r.line, r.column, r.value, r.code) for r in file.rejects}


def contacts(wh: Warehouse, *cols: str) -> list[tuple[object, ...]]:
    names = ", ".join(("contact_id", *cols))
    return wh.con.execute(f"SELECT {names} FROM contacts ORDER BY 1").fetchall()


def import_error(
    wh: Warehouse, path: Path, table: str = "contacts", **options: object
) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        load(wh, path, table, **options)
    return info.value


SEMI = "contact_id;created_at;segment\nc1;2024-01-01;SMB\nc2;2024-01-02;Mid, Market\n"


# -- delimiters and headers ------------------------------------------------------------------


def test_semicolon_file_read_with_a_comma_delimiter_names_the_header_found(
    warehouse: Warehouse, write: Writer
) -> None:
    err = import_error(warehouse, write("semi.csv", SEMI), delimiter=",")
    assert err.code == "RL110"
    assert err.message == (
        "the header is one column 'contact_id;created_at;segment'; the file "
        "looks ';'-separated, so required columns seem missing"
    )
    assert err.value == "contact_id;created_at;segment"
    assert err.fix == "pass --delimiter ';' (or set read.delimiter in the mapping)"
    assert warehouse.row_counts()["contacts"] == 0


def test_wrong_delimiter_error_suggests_the_right_delimiter(
    warehouse: Warehouse, write: Writer
) -> None:
    err = import_error(
        warehouse, write("semi.csv", "contact_id;created_at\nc1;2024-01-01\n"), delimiter=","
    )
    assert (err.code, err.value) == ("RL110", "contact_id;created_at")
    assert err.fix == "pass --delimiter ';' (or set read.delimiter in the mapping)"


def test_semicolon_file_is_sniffed(warehouse: Warehouse, write: Writer) -> None:
    file = load(warehouse, write("semi.csv", SEMI))
    assert counts(file) == [("contacts", 2, 2, 0, 0)]
    assert contacts(warehouse, "segment") == [("c1", "SMB"), ("c2", "Mid, Market")]


@pytest.mark.parametrize("delimiter", ["\t", "|"])
def test_other_delimiters_are_sniffed(warehouse: Warehouse, write: Writer, delimiter: str) -> None:
    text = SEMI.replace(";", delimiter)
    file = load(warehouse, write("f.tsv" if delimiter == "\t" else "f.txt", text))
    assert counts(file) == [("contacts", 2, 2, 0, 0)]


def test_tab_given_as_backslash_t(warehouse: Warehouse, write: Writer) -> None:
    load(warehouse, write("f.tsv", SEMI.replace(";", "\t")), delimiter="\\t")
    assert contacts(warehouse, "segment") == [("c1", "SMB"), ("c2", "Mid, Market")]


def test_missing_required_column_suggests_a_close_header(
    warehouse: Warehouse, write: Writer
) -> None:
    err = import_error(warehouse, write("c.csv", "contactid,created_at\nc1,2024-01-01\n"))
    assert err.code == "RL110"
    assert err.message == (
        "required column contact_id missing for table contacts; "
        "the file has columns ['contactid', 'created_at']"
    )
    assert err.value == "contact_id"
    assert err.fix == (
        "'contactid' looks like 'contact_id': rename the column, or use a mapping file"
    )
    rendered = err.render()
    assert rendered.startswith("error RL110 in ")
    assert "'contactid' looks like 'contact_id'" in rendered


def test_missing_column_of_a_hashed_key_table_is_fine(warehouse: Warehouse, write: Writer) -> None:
    file = load(warehouse, write("tp.csv", "ts,channel\n2024-01-01,web\n"), "touchpoints")
    assert counts(file) == [("touchpoints", 1, 1, 0, 0)]
    key = warehouse.con.execute("SELECT touchpoint_id FROM touchpoints").fetchone()
    assert key is not None and len(key[0]) == 32 and int(key[0], 16) >= 0


def test_duplicate_header_name(warehouse: Warehouse, write: Writer) -> None:
    err = import_error(warehouse, write("c.csv", "contact_id,created_at,contact_id\n"))
    assert (err.code, err.value) == ("RL104", "contact_id")


def test_unknown_extension_and_missing_file(
    warehouse: Warehouse, write: Writer, tmp_path: Path
) -> None:
    assert import_error(warehouse, write("c.dat", "contact_id\n")).code == "RL101"
    assert import_error(warehouse, tmp_path / "nope.csv").code == "RL102"
    # --file-format overrides the extension
    path = write("c.dat", "contact_id,created_at\nc1,2024-01-01\n")
    assert counts(load(warehouse, path, format="csv")) == [("contacts", 1, 1, 0, 0)]


# -- empty and near-empty files --------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"], ids=["zero-bytes", "bom-only"])
def test_empty_file(warehouse: Warehouse, write: Writer, content: bytes) -> None:
    err = import_error(warehouse, write("empty.csv", content))
    assert err.code == "RL103"
    assert err.message == "the file is empty (not even a header row)"


def test_header_only_loads_nothing_with_a_warning(warehouse: Warehouse, write: Writer) -> None:
    file = load(warehouse, write("head.csv", "contact_id,created_at\n"))
    assert counts(file) == [("contacts", 0, 0, 0, 0)]
    assert file.rows_read == 0
    assert file.warnings == ["head.csv has a header but no data rows"]


def test_extra_columns_load_with_a_warning(warehouse: Warehouse, write: Writer) -> None:
    text = "contact_id,created_at,favourite_colour,shoe_size\nc1,2024-01-01,red,42\n"
    file = load(warehouse, write("extra.csv", text))
    assert counts(file) == [("contacts", 1, 1, 0, 0)]
    assert file.warnings == ["ignored columns not in table contacts: favourite_colour, shoe_size"]


# -- encodings -------------------------------------------------------------------------------


def test_utf8_bom_does_not_hide_the_first_column(warehouse: Warehouse, write: Writer) -> None:
    path = write("bom.csv", "\ufeffcontact_id,created_at,country\nc1,2024-01-01,Ré\n")
    file = load(warehouse, path)
    assert counts(file) == [("contacts", 1, 1, 0, 0)]
    assert file.warnings == []
    assert contacts(warehouse, "country") == [("c1", "Ré")]


def test_bom_with_explicit_utf8(warehouse: Warehouse, write: Writer) -> None:
    path = write("bom.csv", "\ufeffcontact_id,created_at\nc1,2024-01-01\n")
    assert counts(load(warehouse, path, encoding="utf-8")) == [("contacts", 1, 1, 0, 0)]


def test_latin1_file_is_read_with_a_warning(warehouse: Warehouse, write: Writer) -> None:
    text = "contact_id,created_at,country\nc1,2024-01-01,Curaçao\nc2,2024-01-02,Rétie\n"
    data = text.encode("latin-1")
    file = load(warehouse, write("latin.csv", data))
    assert counts(file) == [("contacts", 2, 2, 0, 0)]
    first_bad = data.index("ç".encode("latin-1"))
    assert file.warnings == [
        f"latin.csv is not valid UTF-8 (byte {first_bad}); read as Latin-1. "
        "Pass --encoding to choose another."
    ]
    assert contacts(warehouse, "country") == [("c1", "Curaçao"), ("c2", "Rétie")]


def test_explicit_encoding(warehouse: Warehouse, write: Writer) -> None:
    data = "contact_id,created_at,segment\nc1,2024-01-01,€ “big”\n".encode("cp1252")
    path = write("win.csv", data)
    file = load(warehouse, path, encoding="cp1252")
    assert file.warnings == []
    assert contacts(warehouse, "segment") == [("c1", "€ “big”")]
    err = import_error(warehouse, path, encoding="utf-8")
    assert err.code == "RL105"
    assert err.message.startswith("cannot decode the file as utf-8")


# -- quoting and line numbers ----------------------------------------------------------------


def test_quoted_fields_with_delimiter_quotes_and_newlines(
    warehouse: Warehouse, write: Writer
) -> None:
    text = (
        "contact_id,created_at,segment,owner\n"
        'c1,2024-01-01,"Doe, Jane\nsecond line","say ""hi"""\n'
        "c2,2024-01-02,plain,x\n"
        'c3,not a date,"a,b",y\n'
    )
    file = load(warehouse, write("q.csv", text))
    assert counts(file) == [("contacts", 3, 2, 0, 1)]
    # c3 starts on physical line 5: the quoted newline in c1 is counted
    assert rejects(file) == {(5, "created_at", "not a date", "bad_timestamp")}
    assert contacts(warehouse, "segment", "owner") == [
        ("c1", "Doe, Jane\nsecond line", 'say "hi"'),
        ("c2", "plain", "x"),
    ]


def test_crlf_line_ends_and_blank_lines(warehouse: Warehouse, write: Writer) -> None:
    text = "contact_id,created_at\r\nc1,2024-01-01\r\n\r\nc2,bad\r\n"
    file = load(warehouse, write("crlf.csv", text))
    assert counts(file) == [("contacts", 2, 1, 0, 1)]
    assert rejects(file) == {(4, "created_at", "bad", "bad_timestamp")}


def test_values_are_trimmed_and_blank_means_empty(warehouse: Warehouse, write: Writer) -> None:
    text = "contact_id , created_at,owner\n c1 , 2024-01-01 ,   \n"
    load(warehouse, write("sp.csv", text))
    assert contacts(warehouse, "created_at", "owner") == [("c1", T(2024, 1, 1), None)]


def test_read_file_gives_strings_and_physical_line_numbers(write: Writer) -> None:
    path = write("r.csv", 'a,b\n1,"x\ny"\n\n2,\n3\n')
    raw = read_file(path)
    assert raw.columns == ["a", "b"]
    assert raw.table.column_names == ["a", "b", LINE_COLUMN]
    assert raw.table.to_pylist() == [
        {"a": "1", "b": "x\ny", LINE_COLUMN: 2},
        {"a": "2", "b": None, LINE_COLUMN: 5},
    ]
    assert [(p.line, p.code, p.value) for p in raw.pre_rejects] == [(6, "field_count", "3")]
    assert raw.rows_read == 3


# -- JSON Lines ------------------------------------------------------------------------------


def test_json_lines_with_a_bad_line(warehouse: Warehouse, write: Writer) -> None:
    text = (
        '{"opportunity_id": "o1", "created_at": "2024-01-01", "amount": 1.5, "stage": "won",'
        ' "is_won": true}\n'
        "\n"
        '{"opportunity_id": "o2", bad}\n'
        "[1, 2]\n"
        '{"opportunity_id": "o3", "created_at": "2024-01-01", "amount": 2, "stage": "open",'
        ' "meta": {"a": 1}}\n'
        '{"opportunity_id": "o4", "created_at": "2024-01-01", "amount": -2, "stage": "open"}\n'
    )
    file = load(warehouse, write("opps.jsonl", text), "opportunities")
    assert counts(file) == [("opportunities", 5, 2, 0, 3)]
    assert file.rows_read == 5
    assert rejects(file) == {
        (3, None, '{"opportunity_id": "o2", bad}', "bad_json"),
        (4, None, "[1, 2]", "bad_json"),
        (6, "amount", "-2", "negative"),
    }
    reasons = {r.line: r.reason for r in file.rejects}
    assert reasons[3].startswith("not valid JSON: ")
    assert reasons[4] == "each line must be a JSON object"
    assert file.warnings == ["ignored columns not in table opportunities: meta"]
    assert warehouse.con.execute(
        "SELECT opportunity_id, amount, is_won FROM opportunities ORDER BY 1"
    ).fetchall() == [("o1", 1.5, True), ("o3", 2.0, None)]


def test_json_line_with_a_unicode_line_separator_in_a_value(
    warehouse: Warehouse, write: Writer
) -> None:
    text = (
        '{"contact_id": "c1", "created_at": "2024-01-01", "segment": "a\u2028b\x85c"}\r\n'
        '{"contact_id": "c2", "created_at": "2024-01-02", "owner": "x\u2029y"}\n'
        '{"contact_id": "c3", "created_at": "nope"}\n'
    )
    file = load(warehouse, write("c.jsonl", text))
    assert counts(file) == [("contacts", 3, 2, 0, 1)]
    assert rejects(file) == {(3, "created_at", "nope", "bad_timestamp")}
    assert contacts(warehouse, "segment", "owner") == [
        ("c1", "a\u2028b\x85c", None),
        ("c2", None, "x\u2029y"),
    ]


# -- XLSX and Parquet ------------------------------------------------------------------------


def test_xlsx(warehouse: Warehouse, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Leads"
    sheet.append(["contact_id", "created_at", "segment", "country"])
    sheet.append(["c1", T(2024, 3, 1, 10, 30), "SMB", "DE"])
    sheet.append([None, None, None, None])  # an empty row is skipped, line numbers keep going
    sheet.append([42, dt.date(2024, 3, 2), 1.5, True])
    sheet.append(["c3", "2024-02-30", None, None])
    other = book.create_sheet("Other")
    other.append(["contact_id", "created_at"])
    other.append(["z1", "2024-01-05"])
    path = tmp_path / "leads.xlsx"
    book.save(path)

    file = load(warehouse, path)
    assert counts(file) == [("contacts", 3, 2, 0, 1)]
    assert rejects(file) == {(5, "created_at", "2024-02-30", "bad_timestamp")}
    assert contacts(warehouse, "created_at", "segment", "country") == [
        ("42", T(2024, 3, 2), "1.5", "true"),
        ("c1", T(2024, 3, 1, 10, 30), "SMB", "DE"),
    ]

    assert counts(load(warehouse, path, sheet="Other")) == [("contacts", 1, 1, 0, 0)]
    err = import_error(warehouse, path, sheet="Nope")
    assert (err.code, err.fix) == ("RL107", "use one of: Leads, Other")


def test_parquet(warehouse: Warehouse, tmp_path: Path) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    table = pa.table(
        {
            "touchpoint_id": ["p1", "p2", "p3", "p4"],
            "ts": pa.array(
                [
                    T(2024, 3, 1, 10, 0, 0, 123000, tzinfo=berlin),
                    T(2024, 3, 1, 10),
                    None,
                    T(2024, 3, 2, 9),
                ],
                pa.timestamp("ms", tz="Europe/Berlin"),
            ),
            "channel": ["web", " ", "web", "email"],
            "pageviews": pa.array([3, None, 2, -1], pa.int64()),
            "engaged_seconds": [1.0, 2.5, None, 0.5],
            "is_bounce": [True, False, None, False],
        }
    )
    path = tmp_path / "tp.parquet"
    pq.write_table(table, path)
    file = load(warehouse, path, "touchpoints")
    assert counts(file) == [("touchpoints", 4, 1, 0, 3)]
    assert rejects(file) == {
        (2, "channel", None, "missing"),
        (3, "ts", None, "missing"),
        (4, "pageviews", "-1", "negative"),
    }
    assert warehouse.con.execute(
        "SELECT touchpoint_id, ts, channel, pageviews, engaged_seconds, is_bounce FROM touchpoints"
    ).fetchall() == [("p1", T(2024, 3, 1, 9, 0, 0, 123000), "web", 3, 1.0, True)]


def test_parquet_naive_timestamps_use_the_warehouse_zone(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.update_settings(timezone="Europe/Istanbul")
    path = tmp_path / "c.parquet"
    pq.write_table(
        pa.table(
            {"contact_id": ["c1"], "created_at": pa.array([T(2024, 3, 1, 10)], pa.timestamp("us"))}
        ),
        path,
    )
    load(warehouse, path)
    assert contacts(warehouse, "created_at") == [("c1", T(2024, 3, 1, 7))]


def test_a_file_that_is_not_parquet(warehouse: Warehouse, write: Writer) -> None:
    err = import_error(warehouse, write("x.parquet", "contact_id\nc1\n"))
    assert err.code == "RL106"


def test_a_utf8_file_read_as_utf16_is_refused_with_the_fix(tmp_path: Path) -> None:
    """UTF-16 without a byte-order mark raises UnicodeError, not UnicodeDecodeError: still a
    clear error (RL105), never a traceback, and recognition takes it as "not this layout"."""
    path = tmp_path / "u8.csv"
    path.write_text("contact_id,created_at\nc1,2026-01-01\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        read_file(path, ReadOptions(encoding="utf-16"))
    assert caught.value.code == "RL105"
    assert "--encoding" in (caught.value.fix or "")
