"""Read CSV, Parquet, JSON Lines and XLSX files into one raw shape: every value a string (or
null when empty), plus the line each row came from, so errors can point at the file."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from revlens.errors import InputFileError

LINE_COLUMN = "__line"
Progress = Callable[[int, int], None]  # (units done, units total)

FileFormat = Literal["csv", "parquet", "jsonl", "xlsx"]
SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}


HEADER_SEARCH_LINES = 50  # `header_contains` looks for the header within these lines
SKIP_KINDS = ("title", "comment", "summary", "empty")  # what RawData.skipped counts


class SkipRow(BaseModel):
    """Rows that are not data: a cell in `column` that starts with (or equals) a text, such
    as Google Ads' "Total: Account" lines, or (`empty_row: true`) rows with no value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str | None = None
    starts_with: str | None = None
    equals: str | None = None
    empty_row: bool = False

    @model_validator(mode="after")
    def _one_test(self) -> SkipRow:
        if self.empty_row:
            if self.column or self.starts_with is not None or self.equals is not None:
                raise ValueError("`empty_row: true` stands alone (no column, starts_with, equals)")
        elif not self.column or (self.starts_with is None) == (self.equals is None):
            raise ValueError(
                "give a `column` and exactly one of `starts_with` or `equals` "
                "(or `empty_row: true`)"
            )
        return self


class ReadOptions(BaseModel):
    """How to read a file; every field left empty is detected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: FileFormat | None = None
    delimiter: str | None = None
    quotechar: str | None = None
    encoding: str | None = (
        None  # e.g. utf-8, utf-16, latin-1, cp1252; default: UTF-8 (BOM or not), a UTF-16
        # BOM, else Latin-1
    )
    sheet: str | None = None  # XLSX sheet name; default: the first sheet
    header_row: int = 1  # XLSX: the row that holds the column names
    # the header is the first line (of the first 50) holding all these names; the lines
    # before it are title lines, skipped and counted
    header_contains: list[str] | None = Field(default=None, min_length=1)
    comment: str | None = Field(default=None, min_length=1)  # lines starting so are skipped
    skip_rows: list[SkipRow] = Field(default_factory=list)  # summary rows, skipped and counted


@dataclass
class PreReject:
    """A row the reader itself could not take (wrong number of fields, bad JSON)."""

    line: int
    code: str
    reason: str
    value: str | None = None


@dataclass
class RawData:
    """A file's rows as strings: `table` has one column per header name plus `__line`."""

    path: str
    table: pa.Table
    columns: list[str]
    pre_rejects: list[PreReject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # lines that are not data rows, by kind (title, comment, summary, empty): not rows read
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return int(self.table.num_rows) + len(self.pre_rejects)


def detect_format(path: Path, options: ReadOptions) -> FileFormat:
    if options.format:
        return options.format
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"cannot tell the format of {path.name!r} from its extension",
            where=str(path),
            fix="use .csv, .parquet, .jsonl or .xlsx, or pass --file-format",
            code="RL101",
        )
    return fmt


def read_file(
    path: Path, options: ReadOptions | None = None, progress: Progress | None = None
) -> RawData:
    """Read one input file into RawData, or raise InputFileError naming what is wrong."""
    options = options or ReadOptions()
    if not path.exists():
        raise InputFileError("file not found", where=str(path), code="RL102", fix="check the path")
    fmt = detect_format(path, options)
    if path.stat().st_size == 0:
        raise InputFileError(
            "the file is empty (not even a header row)",
            where=str(path),
            code="RL103",
            fix="export the file again with its header row",
        )
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl, "xlsx": _read_xlsx}[
        fmt
    ]
    return reader(path, options, progress)


def _clean(value: Any) -> str | None:
    """One cell as a trimmed string; empty means null. Dates keep ISO format."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = str(value).strip()
    return text or None


def _unique_header(names: list[str], path: Path) -> list[str]:
    cleaned = [n.strip().lstrip("\ufeff") for n in names]
    seen: set[str] = set()
    for name in cleaned:
        if not name:
            continue
        if name in seen:
            raise InputFileError(
                f"the header names column {name!r} twice",
                where=str(path),
                value=name,
                code="RL104",
                fix="rename or remove one of the two columns",
            )
        seen.add(name)
    return cleaned


def _to_table(header: list[str], rows: list[list[str | None]], lines: list[int]) -> pa.Table:
    arrays = {
        name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(header) if name
    }
    arrays[LINE_COLUMN] = pa.array(lines, pa.int64())
    return pa.table(arrays)


def _encoding_of(data: bytes, options: ReadOptions) -> str | None:
    """The encoding to use: the option, else a UTF-16 byte-order mark (or the zero bytes of
    BOM-less UTF-16 text), else None (UTF-8 with a Latin-1 fallback)."""
    if options.encoding:
        return options.encoding
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not data.startswith(b"\xff\xfe\x00\x00"):
        return "utf-16"  # the codec reads the BOM and drops it
    if len(data) >= 4 and data[0] and not data[1] and data[2] and not data[3]:
        return "utf-16-le"
    if len(data) >= 4 and not data[0] and data[1] and not data[2] and data[3]:
        return "utf-16-be"
    return None


def _decode(path: Path, options: ReadOptions, warnings: list[str], limit: int | None = None) -> str:
    """The file's text (or, with `limit`, the text of its first `limit` bytes)."""
    with path.open("rb") as fh:
        data = fh.read() if limit is None else fh.read(limit)
    final = limit is None or len(data) < limit
    encoding = _encoding_of(data, options)
    if encoding:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(data, final=final)
        except (UnicodeError, LookupError) as exc:  # UTF-16 without a BOM: UnicodeError
            raise InputFileError(
                f"cannot decode the file as {encoding}: {exc}",
                where=str(path),
                code="RL105",
                fix="pass the right --encoding (e.g. utf-8, utf-16, latin-1, cp1252)",
            ) from None
        return text.removeprefix("\ufeff")
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=final)
    except UnicodeDecodeError as exc:
        warnings.append(
            f"{path.name} is not valid UTF-8 (byte {exc.start}); read as Latin-1. "
            "Pass --encoding to choose another."
        )
        return data.decode("latin-1")


def sniff_dialect(sample: str, options: ReadOptions) -> tuple[str, str]:
    """The delimiter is the candidate that occurs most in the header line (ties: comma);
    csv.Sniffer is not used as it guesses from data values and is easily fooled."""
    quotechar = options.quotechar or '"'
    delimiter = options.delimiter
    if delimiter is None:
        first_line = sample.splitlines()[0] if sample else ""
        counts = {d: first_line.count(d) for d in ",;\t|"}
        best = max(counts.values())
        delimiter = "," if best == 0 or counts[","] == best else max(counts, key=counts.__getitem__)
    if delimiter == "\\t":
        delimiter = "\t"
    return delimiter, quotechar


@dataclass
class _Header:
    """Where the header of a text file is: its line number, cells, dialect, and the offset
    of the text after it."""

    line: int
    cells: list[str]
    delimiter: str
    quotechar: str
    rest: int


def _find_header(text: str, options: ReadOptions, path: Path, skipped: Counter[str]) -> _Header:
    """The header line: the first line that is neither blank nor a comment, or with
    `header_contains` the first of the first 50 lines holding all those names (the lines
    before it count as title lines)."""
    wanted = options.header_contains
    pos, number = 0, 0
    while pos < len(text) and (wanted is None or number < HEADER_SEARCH_LINES):
        end = text.find("\n", pos)
        stop = len(text) if end < 0 else end
        line = text[pos:stop].removesuffix("\r")
        number += 1
        following = len(text) if end < 0 else end + 1
        if options.comment and line.startswith(options.comment):
            skipped["comment"] += 1
        elif line.strip():
            delimiter, quotechar = sniff_dialect(line, options)
            cells = next(csv.reader([line], delimiter=delimiter, quotechar=quotechar), [])
            names = {c.strip() for c in cells}
            if wanted is None or all(w in names for w in wanted):
                return _Header(number, cells, delimiter, quotechar, following)
            skipped["title"] += 1
        pos = following
    if wanted is None:
        raise InputFileError(
            "the file is empty (not even a header row)",
            where=str(path),
            code="RL103",
            fix="export the file again with its header row",
        )
    raise InputFileError(
        f"no line of the first {min(number, HEADER_SEARCH_LINES)} holds the header columns "
        f"{', '.join(wanted)}",
        where=str(path),
        value=", ".join(wanted),
        code="RL113",
        fix="check that the file is the export the mapping expects (read.header_contains), "
        "or pass --delimiter if its columns are not split",
    )


class _RowSkipper:
    """Decides whether a data row is a summary or empty row the mapping's `skip_rows` names."""

    def __init__(self, rules: list[SkipRow], header: list[str], path: Path) -> None:
        self.tests: list[tuple[int, SkipRow]] = []
        self.empty = any(r.empty_row for r in rules)
        for rule in rules:
            if rule.empty_row:
                continue
            if rule.column not in header:
                raise InputFileError(
                    f"skip_rows names column {rule.column!r}, which the header lacks; "
                    f"the file has columns {[h for h in header if h]}",
                    where=str(path),
                    value=rule.column,
                    code="RL112",
                    fix="correct read.skip_rows in the mapping (column names are exact)",
                )
            self.tests.append((header.index(rule.column or ""), rule))

    def kind(self, cells: list[str] | list[str | None]) -> str | None:
        for index, rule in self.tests:
            cell = (cells[index] or "").strip() if index < len(cells) else ""
            if rule.starts_with is not None and cell.startswith(rule.starts_with):
                return "summary"
            if rule.equals is not None and cell == rule.equals:
                return "summary"
        if self.empty and all(not (c or "").strip() for c in cells):
            return "empty"
        return None


def read_header(path: Path, options: ReadOptions | None = None) -> list[str]:
    """Only the column names of a file (past title and comment lines), read from its start:
    what recognition compares with the mappings."""
    options = options or ReadOptions()
    if not path.exists():
        raise InputFileError("file not found", where=str(path), code="RL102", fix="check the path")
    fmt = detect_format(path, options)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError):
            return []
    if fmt != "csv":
        return read_file(path, options).columns
    text = _decode(path, options, [], limit=1 << 18)
    found = _find_header(text, options, path, Counter())
    return [h for h in _unique_header(found.cells, path) if h]


def _read_csv(path: Path, options: ReadOptions, progress: Progress | None) -> RawData:
    warnings: list[str] = []
    skipped: Counter[str] = Counter()
    text = _decode(path, options, warnings)
    found = _find_header(text, options, path, skipped)
    delimiter, quotechar = found.delimiter, found.quotechar
    body = text[found.rest :]
    starts: list[int] = []  # line numbers of the lines fed to the reader since the last row

    def feed() -> Iterator[str]:
        for number, line in enumerate(io.StringIO(body, newline=""), start=found.line + 1):
            if options.comment and line.startswith(options.comment):
                skipped["comment"] += 1
                continue
            starts.append(number)
            yield line

    reader = csv.reader(feed(), delimiter=delimiter, quotechar=quotechar)
    header = _unique_header(found.cells, path)
    skipper = _RowSkipper(options.skip_rows, header, path)
    if len(header) == 1 and any(d in header[0] for d in ",;\t|" if d != delimiter):
        likely = max((d for d in ",;\t|" if d != delimiter), key=header[0].count)
        warnings.append(
            f"the header is a single column {header[0]!r}: the file looks {likely!r}-separated; "
            f"pass --delimiter {likely!r} if columns are missing"
        )
    rows: list[list[str | None]] = []
    lines: list[int] = []
    pre: list[PreReject] = []
    width = len(header)
    total = body.count("\n") or 1
    for record in reader:
        line = starts[0]
        starts.clear()
        if not record or (len(record) == 1 and not record[0].strip()):
            if skipper.empty:
                skipped["empty"] += 1
            continue  # a blank line is not a row
        kind = skipper.kind(record)
        if kind:
            skipped[kind] += 1
            continue
        if len(record) != width:
            pre.append(
                PreReject(
                    line,
                    "field_count",
                    f"the row has {len(record)} fields but the header has {width}; "
                    "check the delimiter and quoting of this line",
                    delimiter.join(record)[:200],
                )
            )
            continue
        rows.append([_clean(v) for v in record])
        lines.append(line)
        if progress and len(lines) % 50_000 == 0:
            progress(line - found.line, total)
    if progress:
        progress(total, total)
    if not rows and not pre:
        warnings.append(f"{path.name} has a header but no data rows")
    return RawData(
        str(path),
        _to_table(header, rows, lines),
        [h for h in header if h],
        pre,
        warnings,
        dict(skipped),
    )


def _read_jsonl(path: Path, options: ReadOptions, progress: Progress | None) -> RawData:
    warnings: list[str] = []
    text = _decode(path, options, warnings)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    pre: list[PreReject] = []
    header: list[str] = []
    known: set[str] = set()
    # split on newlines only: str.splitlines() would also cut at U+2028 and friends,
    # which JSON allows inside strings
    for number, raw_line in enumerate(text.split("\n"), start=1):
        raw_line = raw_line.removesuffix("\r")
        if not raw_line.strip():
            continue
        try:
            obj = json.loads(raw_line)
        except json.JSONDecodeError as exc:
            pre.append(PreReject(number, "bad_json", f"not valid JSON: {exc.msg}", raw_line[:200]))
            continue
        if not isinstance(obj, dict):
            pre.append(
                PreReject(number, "bad_json", "each line must be a JSON object", raw_line[:200])
            )
            continue
        for key in obj:
            if key not in known:
                known.add(key)
                header.append(key)
        records.append(obj)
        lines.append(number)
    rows = [[_json_cell(r.get(h)) for h in header] for r in records]
    if not rows and not pre:
        warnings.append(f"{path.name} has no data rows")
    return RawData(str(path), _to_table(header, rows, lines), header, pre, warnings)


def _json_cell(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return _clean(value)


def _read_parquet(path: Path, options: ReadOptions, progress: Progress | None) -> RawData:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(
            f"not a readable Parquet file: {exc}",
            where=str(path),
            code="RL106",
            fix="check that the file is Parquet",
        ) from None
    columns = {}
    for name in table.column_names:
        col = _text_column(table[name])
        trimmed = pc.utf8_trim_whitespace(col)
        columns[name] = pc.if_else(pc.equal(trimmed, ""), None, trimmed)
    columns[LINE_COLUMN] = pa.array(range(1, table.num_rows + 1), pa.int64())
    return RawData(str(path), pa.table(columns), list(table.column_names))


def _read_xlsx(path: Path, options: ReadOptions, progress: Progress | None) -> RawData:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputFileError(
            f"not a readable XLSX workbook: {exc}",
            where=str(path),
            code="RL106",
            fix="save the file again as .xlsx",
        ) from None
    try:
        if options.sheet:
            if options.sheet not in book.sheetnames:
                raise InputFileError(
                    f"no sheet named {options.sheet!r}",
                    where=str(path),
                    value=options.sheet,
                    code="RL107",
                    fix=f"use one of: {', '.join(book.sheetnames)}",
                )
            sheet = book[options.sheet]
        else:
            sheet = book.worksheets[0]
        rows_iter = sheet.iter_rows(values_only=True)
        header: list[str] = []
        number = 0
        skipped: Counter[str] = Counter()
        wanted = options.header_contains
        for values in rows_iter:
            number += 1
            texts = ["" if v is None else str(v).strip() for v in values]
            if wanted is None:
                if number == options.header_row:
                    header = _unique_header(texts, path)
                    break
                continue
            if options.comment and texts and texts[0].startswith(options.comment):
                skipped["comment"] += 1
            elif all(w in texts for w in wanted):
                header = _unique_header(texts, path)
                break
            elif any(texts):
                skipped["title"] += 1
            if number >= HEADER_SEARCH_LINES:
                break
        if not header:
            if wanted is not None:
                raise InputFileError(
                    f"no row of the first {HEADER_SEARCH_LINES} holds the header columns "
                    f"{', '.join(wanted)}",
                    where=str(path),
                    value=", ".join(wanted),
                    code="RL113",
                    fix="check that the file is the export the mapping expects "
                    "(read.header_contains)",
                )
            raise InputFileError(
                "the sheet has no header row",
                where=str(path),
                code="RL103",
                fix="put the column names in the first row",
            )
        skipper = _RowSkipper(options.skip_rows, header, path)
        rows: list[list[str | None]] = []
        lines: list[int] = []
        for values in rows_iter:
            number += 1
            cells = [_clean(v) for v in values][: len(header)]
            cells += [None] * (len(header) - len(cells))
            if options.comment and (cells[0] or "").startswith(options.comment):
                skipped["comment"] += 1
                continue
            kind = skipper.kind(cells)
            if kind:
                skipped[kind] += 1
                continue
            if all(c is None for c in cells):
                continue
            rows.append(cells)
            lines.append(number)
    finally:
        book.close()
    warnings = [] if rows else [f"{path.name} has a header but no data rows"]
    return RawData(
        str(path),
        _to_table(header, rows, lines),
        [h for h in header if h],
        [],
        warnings,
        dict(skipped),
    )


def from_arrow(name: str, table: pa.Table) -> RawData:
    """Wrap an in-memory Arrow table (e.g. generated demo data) as RawData, row i = line i."""
    columns = {col_name: _text_column(table[col_name]) for col_name in table.column_names}
    columns[LINE_COLUMN] = pa.array(range(1, table.num_rows + 1), pa.int64())
    return RawData(name, pa.table(columns), list(table.column_names))


def _text_column(col: Any) -> Any:
    """A typed Arrow column as text the rules parse back: zone-aware timestamps in UTC with
    their offset, naive ones as they are, everything else cast."""
    import pyarrow.compute as pc

    if pa.types.is_timestamp(col.type):
        if col.type.tz is not None:
            col = pc.cast(col, pa.timestamp(col.type.unit, "UTC"))
            return pc.strftime(col, format="%Y-%m-%dT%H:%M:%S+00:00")
        return pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
    if pa.types.is_string(col.type):
        return col
    return pc.cast(col, pa.string())
