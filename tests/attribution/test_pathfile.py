"""Reading aggregated paths from files, DataFrames and row dicts, and the errors that name
the file, the row, the column and what was found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from revlens.attribution import JourneyTable, attribute_paths, pathfile
from revlens.attribution.journeys import encode_paths, split_path
from revlens.attribution.pathfile import PathColumns, journeys_from_records, read_path_file
from revlens.errors import InputFileError, UnknownName
from revlens.ingest.readers import read_file

Write = Callable[[str, str | bytes], Path]

CSV = """path,conv,money,nulls
 Search >  email>direct ,2,30.5,1
search > email > direct,1,9.5,0
,1,4,2
social,0,0,3
"""


def rows_of(table: JourneyTable) -> set[tuple[tuple[str, ...], int, float, int]]:
    """The table's paths as (channels, conversions, value, nulls), the empty path included."""
    rows = {(j.channels, j.conversions, j.value, j.nulls) for j in table.journeys}
    if table.has_empty:
        rows.add(((), table.none_conversions, table.none_value, table.none_nulls))
    return rows


def test_paths_are_split_stripped_and_summed(write: Write) -> None:
    file = write("paths.csv", CSV)
    table = read_path_file(file, PathColumns("path", "conv", "money", "nulls"))
    assert rows_of(table) == {
        (("Search", "email", "direct"), 2, 30.5, 1),  # names keep their case
        (("search", "email", "direct"), 1, 9.5, 0),
        ((), 1, 4.0, 2),  # an empty path: a journey without touches
        (("social",), 0, 0.0, 3),
    }
    duplicate = write("dup.csv", "p,c\na>b,1\na > b,2\nb,1\n")
    summed = read_path_file(duplicate, PathColumns("p", "c"))
    assert rows_of(summed) == {(("a", "b"), 3, 0.0, 0), (("b",), 1, 0.0, 0)}


def test_the_empty_path_is_reported_as_none(write: Write) -> None:
    result = attribute_paths(
        write("paths.csv", CSV),
        ["last_touch"],
        conversions_column="conv",
        value_column="money",
        nulls_column="nulls",
    )
    rows = {r["channel"]: (r["conversions"], r["value"], r["share"]) for r in result.rows}
    assert rows == {
        "Search": (0.0, 0.0, 0.0),
        "direct": (3.0, 40.0, 0.75),
        "email": (0.0, 0.0, 0.0),
        "search": (0.0, 0.0, 0.0),
        "social": (0.0, 0.0, 0.0),
        "(none)": (1.0, 4.0, 0.25),
    }


def test_other_separators_and_shapes() -> None:
    records = [
        {"journey": "a|b|a", "n": 2},
        {"journey": ["b", " a "], "n": 1},  # already split
    ]
    result = attribute_paths(
        records, ["linear"], path_column="journey", separator="|", conversions_column="n"
    )
    got = {r["channel"]: r["conversions"] for r in result.rows}
    assert got == pytest.approx({"a": 2 * 2 / 3 + 0.5, "b": 2 / 3 + 0.5})
    frame = pd.DataFrame({"path": ["a > b", "b"], "conversions": [4, 2]})
    by_frame = attribute_paths(frame, ["first_touch"])
    by_table = attribute_paths(pa.Table.from_pandas(frame), ["first_touch"])
    assert by_frame.rows == by_table.rows
    assert {r["channel"]: r["conversions"] for r in by_frame.rows} == {"a": 4.0, "b": 2.0}


def test_parquet_and_jsonl_files(tmp_path: Path) -> None:
    frame = pd.DataFrame({"path": ["a > b", "b"], "conversions": [4, 2], "nulls": [1, 0]})
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_json(tmp_path / "p.jsonl", orient="records", lines=True)
    a = attribute_paths(tmp_path / "p.parquet", ["markov"], nulls_column="nulls")
    b = attribute_paths(str(tmp_path / "p.jsonl"), ["markov"], nulls_column="nulls")
    assert a.rows == b.rows


def test_a_missing_column_names_the_file_the_column_and_the_columns_found(write: Write) -> None:
    file = write("paths.csv", CSV)
    with pytest.raises(InputFileError) as err:
        attribute_paths(file, ["linear"], conversions_column="conversion")
    e = err.value
    assert e.code == "RL703"
    assert e.where == str(file)
    assert e.value == "conversion"
    assert "the columns found are: path, conv, money, nulls" in e.message
    assert "--conversions-column" in e.message
    # a close name is suggested
    with pytest.raises(InputFileError) as err:
        attribute_paths(file, ["linear"], conversions_column="conv", nulls_column="null")
    assert err.value.fix == "did you mean 'nulls'?"
    rendered = err.value.render()
    assert rendered.startswith(f"error RL703 in {file}: no column 'null' (--nulls-column)")


@pytest.mark.parametrize(
    ("content", "line", "value"),
    [
        ("path,c\na,1\nb,x\n", 3, "x"),  # not a number
        ("path,c\na,1.5\n", 2, "1.5"),  # not whole
        ("path,c\na,-1\n", 2, "-1"),  # negative
    ],
)
def test_bad_counts_point_at_the_line(write: Write, content: str, line: int, value: str) -> None:
    file = write("bad.csv", content)
    with pytest.raises(InputFileError) as err:
        read_path_file(file, PathColumns("path", "c"))
    assert err.value.where == f"{file}:{line}"
    assert err.value.value == value
    assert err.value.code == "RL705"


def test_empty_counts_and_value_without_conversions_are_refused(write: Write) -> None:
    with pytest.raises(InputFileError, match="is empty"):
        read_path_file(write("e.csv", "path,c\na,\n"), PathColumns("path", "c"))
    with pytest.raises(InputFileError, match="without conversions has conversion value"):
        read_path_file(write("v.csv", "path,c,v\na,0,5\n"), PathColumns("path", "c", "v"))
    with pytest.raises(InputFileError) as err:
        read_path_file(write("f.csv", "path,c\na,1,2\n"), PathColumns("path", "c"))
    assert err.value.code == "RL701"
    with pytest.raises(InputFileError) as err:
        read_path_file(Path("/nonexistent/paths.csv"), PathColumns())
    assert err.value.code == "RL102"


def test_an_unknown_model_suggests_the_close_one() -> None:
    with pytest.raises(UnknownName) as err:
        attribute_paths([{"path": "a", "conversions": 1}], "linear,markv")
    assert err.value.fix == "did you mean 'markov'?"
    assert err.value.render().startswith("error RL001: unknown attribution model 'markv'")
    with pytest.raises(UnknownName) as err:
        attribute_paths([{"path": "a", "conversions": 1}], ["linear"], oder=2)
    assert err.value.fix == "did you mean 'order'?"


def row_by_row(file: Path, columns: PathColumns) -> JourneyTable:
    """The file read cell by cell through the generic reader: the reference."""
    raw = read_file(file)
    return JourneyTable.build(
        journeys_from_records(raw.table.to_pylist(), columns, found=raw.columns)
    )


def assert_same_table(got: JourneyTable, want: JourneyTable) -> None:
    assert got.channels == want.channels
    assert got.paths.paths == want.paths.paths
    np.testing.assert_array_equal(got.paths.conversions, want.paths.conversions)
    np.testing.assert_array_equal(got.paths.nulls, want.paths.nulls)
    # duplicates are summed in another order (rows vs fsum): equal to rounding
    np.testing.assert_allclose(got.paths.value, want.paths.value, rtol=1e-12, atol=0)
    assert (got.none_conversions, got.none_nulls, got.has_empty) == (
        want.none_conversions,
        want.none_nulls,
        want.has_empty,
    )
    assert got.none_value == pytest.approx(want.none_value, rel=1e-12)


MESSY = (
    "\ufeffpath;conv;money;nulls\n"
    " Søk >  e-post>direct ;2;30.5;1\n"
    "b > a;1;1e1;0\n"
    "b;0;0;4\n"
    "\n"
    "b > a > ;3;2.25;0\n"
    "a > a;1;+1;0\n"
    "  ;1;4;2\n"
    "ab > a;1;0;0\n"
    "a > b;1;0;0\n"
)


def cell_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files `read_path_file` falls back to reading row by row."""
    calls: list[Path] = []

    def counted(path: Path) -> Any:
        calls.append(path)
        return read_file(path)

    monkeypatch.setattr(pathfile, "read_file", counted)
    return calls


def test_the_columnar_reader_equals_the_row_by_row_reader(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = PathColumns("path", "conv", "money", "nulls")
    file = write("messy.csv", MESSY)
    fallbacks = cell_reads(monkeypatch)
    table = read_path_file(file, columns)
    assert fallbacks == []  # BOM, ';', '+1', '1e1', blank line: all read by Arrow
    assert table.paths.paths == (  # sorted as tuples of names, a prefix first
        ("Søk", "e-post", "direct"),
        ("a", "a"),
        ("a", "b"),
        ("ab", "a"),
        ("b",),
        ("b", "a"),
    )
    assert rows_of(table) >= {(("b", "a"), 4, 12.25, 0), ((), 1, 4.0, 2)}
    assert_same_table(table, row_by_row(file, columns))


def test_pathdata_read_by_columns_equals_row_by_row(pathdata_file: Path) -> None:
    columns = PathColumns("path", "total_conversions", "total_conversion_value", "total_null")
    assert_same_table(read_path_file(pathdata_file, columns), row_by_row(pathdata_file, columns))


@pytest.mark.parametrize(
    ("content", "by_rows"),
    [
        ("path,c\na,1\nb,１２\n", True),  # full-width digits: Python reads 12, Arrow does not
        ("path,c\na,1_000\n", True),  # Python's float() accepts the underscore
        ('path,c\r\na,1\r\n"b\nc",2\r\n', False),  # a newline inside a quoted path: Arrow
    ],
)
def test_cells_arrow_does_not_read_are_read_row_by_row(
    write: Write, content: str, by_rows: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write("odd.csv", content)
    columns = PathColumns("path", "c")
    fallbacks = cell_reads(monkeypatch)
    table = read_path_file(file, columns)
    assert fallbacks == ([file] if by_rows else [])
    assert_same_table(table, row_by_row(file, columns))


GAPPY = ["a > b", None, "", " c >  > a", "b", "x>y>z", None, "a"]


@pytest.mark.parametrize("rows", [GAPPY, ["b > a", "c", "a > c > b"]])
@pytest.mark.parametrize("text", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("shape", ["text", "list", "large_list"])
def test_path_columns_of_every_arrow_shape_encode_alike(
    rows: list[str | None], text: pa.DataType, shape: str
) -> None:
    """Text or lists, in one chunk or several (sliced), with or without missing rows and
    names: the same names, touches and counts as splitting each row in Python."""
    names = sorted({c for r in rows if r for c in split_path(r, ">")})
    want = (
        names,
        [names.index(c) for r in rows if r for c in split_path(r, ">")],
        [len(split_path(r, ">")) if r else 0 for r in rows],
    )
    if shape == "text":
        whole = pa.array(rows, text)
    else:
        lists = [  # a missing name where the text has an empty one
            None if r is None else [n if n.strip() else None for n in r.split(">")] for r in rows
        ]
        whole = pa.array(lists, pa.list_(text) if shape == "list" else pa.large_list(text))
    for column in (whole, pa.chunked_array([whole.slice(0, 2), whole.slice(2)])):
        got = encode_paths(column, ">")
        assert got is not None
        assert (got[0], got[1].tolist(), got[2].tolist()) == want
        assert (got[1].dtype, got[2].dtype) == (np.int32, np.int64)
