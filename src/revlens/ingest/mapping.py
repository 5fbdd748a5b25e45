"""Mapping files: how the columns of an export become rows of one or more canonical tables.

A mapping renames columns, maps values (origin `paid_search` -> channel), parses dates in a
given format and zone, sets constants and a default currency, and may emit several tables
from one input row. `--table T` uses the identity mapping built by `identity_mapping`.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from revlens.errors import InputFileError, MappingError, UnknownName
from revlens.ingest.readers import ReadOptions
from revlens.model.schema import TABLES_BY_NAME, Table


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
    return value


Zone = Annotated[str | None, AfterValidator(_check_zone)]


Item = Literal["first", "last", "each"]


class ColumnSource(BaseModel):
    """Where one canonical column comes from: exactly one of `from` (an input column, or a
    header pattern with one `*`), `value` (a constant) or `header_part` (the text a header
    pattern's `*` matches, as a constant). The steps apply in the order of the fields:
    null_values, split, map, normalize, hash, separators, times/round, fallback, default."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    value: str | None = None
    header_part: str | None = None  # "Amount spent (*)" -> "EUR" for every row
    null_values: list[str] | None = None  # cells meaning empty, e.g. ["--"]
    split: str | None = Field(default=None, min_length=1)  # "51467;52202" with split ";"
    item: Item | None = None  # which item of a split: first (default), last, or each (one row
    # per item)
    map: dict[str, str | None] | None = None
    unmapped: Literal["keep", "null", "reject"] = "keep"
    normalize: Literal["channel"] | None = None  # through the channel vocabulary
    hash: Literal["sha256"] | None = None  # trimmed, lower-cased, SHA-256 hex (email_hash)
    times: str | None = None  # multiply by this input column (rates to counts; "45.3%" ok)
    round: bool = False  # round the number to the nearest integer
    fallback: ColumnSource | None = None  # where the value comes from when this one is empty
    default: str | None = None  # the constant used when the value (and fallback) is empty
    # strptime format(s) for dates and timestamps, e.g. "%d.%m.%Y %H:%M"; of a list, the
    # first that parses wins
    format: str | list[str] | None = None
    timezone: Zone = None  # zone of zone-less timestamps in this column
    decimal: str = "."  # decimal separator of numbers, e.g. "," in German exports
    thousands: str | None = None  # thousands separator to drop, e.g. "." or " "
    # divide the number by this value, e.g. a price per interval by the interval's months
    divide_by: ColumnSource | None = None

    @field_validator("divide_by", mode="before")
    @classmethod
    def _divisor_shorthand(cls, value: object) -> object:
        """`divide_by: Months` is short for `divide_by: {from: Months}`."""
        return {"from": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSource:
        given = [n for n in ("from", "value", "header_part") if self._source(n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `from` (an input column), `value` (a constant) or "
                "`header_part` (a header pattern such as 'Amount spent (*)'); "
                f"got {', '.join(given) or 'none'}"
            )
        problems = []
        if self.from_ is not None and self.from_.count("*") > 1:
            problems.append(f"`from: {self.from_}` may hold at most one `*`")
        if self.header_part is not None and self.header_part.count("*") != 1:
            problems.append(f"`header_part: {self.header_part}` needs exactly one `*`")
        if self.item is not None and self.split is None:
            problems.append(f"`item: {self.item}` needs `split` (the separator)")
        if self.round and self.hash:
            problems.append("`round` and `hash` do not go together")
        if isinstance(self.format, list):
            if not self.format:
                problems.append("`format` lists no format")
            zoned = {("%z" in f or "%Z" in f) for f in self.format}
            if len(zoned) > 1:
                problems.append("the formats of one list must all have an offset (%z) or none")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _source(self, name: str) -> str | None:
        return {"from": self.from_, "value": self.value, "header_part": self.header_part}[name]

    @property
    def formats(self) -> list[str]:
        if self.format is None:
            return []
        return [self.format] if isinstance(self.format, str) else list(self.format)

    def chain(self) -> list[ColumnSource]:
        """This source and its fallbacks, in order."""
        out: list[ColumnSource] = []
        src: ColumnSource | None = self
        while src is not None:
            out.append(src)
            src = src.fallback
        return out


class Condition(BaseModel):
    """Emit a row only when an input column has one of the listed values (or any value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    not_empty: bool = False


class EachMonth(BaseModel):
    """Emit one row per month from the month of `from` up to, not including, the month of
    `to` (a subscription export's start and end: the months it is paid for at their end);
    with `through`, up to and including it.
    The month's first day goes to the date column `into`; months are taken in the
    warehouse's zone."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: ColumnSource = Field(alias="from")
    to: ColumnSource
    into: str
    # the month of `to` counts too: a running subscription's current period is paid for
    through: bool = False

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"from": value} if isinstance(value, str) else value


class Output(BaseModel):
    """The rows one input row produces in one canonical table.

    `mode: upsert` inserts new keys and updates existing ones; `mode: update` only enriches
    rows that already exist (a row whose key is unknown is rejected).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    columns: dict[str, ColumnSource]
    when: Condition | None = None
    mode: Literal["upsert", "update"] = "upsert"
    each_month: EachMonth | None = None  # one row per month between two timestamps

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        """`contact_id: mql_id` is short for `contact_id: {from: mql_id}`."""
        if isinstance(value, dict):
            return {k: {"from": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_each(self) -> Output:
        each = [n for n, src in self.columns.items() if src.item == "each"]
        if len(each) > 1:
            raise ValueError(
                f"at most one column of an output may use `item: each`; {', '.join(each)} do"
            )
        deep = [
            n for n, src in self.columns.items() if any(f.item == "each" for f in src.chain()[1:])
        ]
        if deep:
            raise ValueError(f"`item: each` cannot be used in a fallback ({', '.join(deep)})")
        if each and self.each_month is not None:
            raise ValueError("an output takes `item: each` or `each_month`, not both")
        return self

    @property
    def each_column(self) -> str | None:
        """The column that emits one row per item of its split, if any."""
        return next((n for n, src in self.columns.items() if src.item == "each"), None)


class Recognise(BaseModel):
    """How `revlens import FILE` knows the export: its header holds all these names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: list[str] = Field(min_length=1)


class Mapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str = ""  # e.g. "HubSpot deals", shown by `revlens mappings` and recognition
    description: str = ""
    recognise: Recognise | None = None
    read: ReadOptions = ReadOptions()
    timezone: Zone = None
    currency: str | None = None
    outputs: list[Output]

    def input_columns(self) -> set[str]:
        """Every input column the mapping reads."""
        used: set[str] = set()
        for out in self.outputs:
            tops = list(out.columns.values())
            if out.each_month:
                tops += [out.each_month.from_, out.each_month.to]
            while tops:
                for src in tops.pop().chain():
                    used.update(n for n in (src.from_, src.times) if n is not None)
                    if src.divide_by is not None:
                        tops.append(src.divide_by)
            if out.when:
                used.add(out.when.column)
        return used


def check_against_schema(mapping: Mapping, where: str) -> None:
    """Report every output that names an unknown table or column, or lacks a required one."""
    problems: list[str] = []
    for i, out in enumerate(mapping.outputs):
        table = TABLES_BY_NAME.get(out.table)
        if table is None:
            problems.append(f"outputs[{i}]: unknown table {out.table!r}")
            continue
        unknown = sorted(set(out.columns) - set(table.column_names))
        mapped = set(out.columns)
        if out.each_month:
            into = out.each_month.into
            if into not in table.column_names or table.column(into).type != "date":
                dates = [c.name for c in table.columns if c.type == "date"]
                problems.append(
                    f"outputs[{i}] ({out.table}): each_month.into must be a date column of the "
                    f"table, one of {dates}; got {into!r}"
                )
            elif into in out.columns:
                problems.append(
                    f"outputs[{i}] ({out.table}): {into} comes from each_month; "
                    "remove it from columns"
                )
            mapped.add(into)
        if unknown:
            problems.append(
                f"outputs[{i}] ({out.table}): unknown columns {unknown}; "
                f"the table has {list(table.column_names)}"
            )
        for name, top in out.columns.items():
            if name in unknown:
                continue
            kind = table.column(name).type
            for src in top.chain():
                if (src.times or src.round) and kind not in ("number", "integer"):
                    problems.append(
                        f"outputs[{i}] ({out.table}).{name}: `times`/`round` need a number or "
                        f"integer column; {name} is a {kind}"
                    )
                if (src.hash or src.normalize) and kind != "string":
                    problems.append(
                        f"outputs[{i}] ({out.table}).{name}: `hash`/`normalize` need a text "
                        f"column; {name} is a {kind}"
                    )
                if src.formats and kind not in ("date", "timestamp"):
                    problems.append(
                        f"outputs[{i}] ({out.table}).{name}: `format` is for dates and "
                        f"timestamps; {name} is a {kind}"
                    )
        if out.mode == "upsert":
            missing = [
                c
                for c in table.required
                if c not in mapped and not (table.hashed_key and c in table.key)
            ]
            if missing:
                problems.append(
                    f"outputs[{i}] ({out.table}): required columns not mapped: "
                    f"{missing} (or use mode: update to only enrich existing rows)"
                )
        else:
            absent_keys = [k for k in table.key if k not in mapped]
            if absent_keys:
                problems.append(
                    f"outputs[{i}] ({out.table}): mode update needs the key columns {absent_keys}"
                )
    if problems:
        raise MappingError(
            "; ".join(problems),
            where=where,
            code="RL201",
            fix="correct the mapping file (see docs/imports.md)",
        )


BUILTIN_PACKAGE = "revlens.ingest.mappings"
# The folder of the built-in mappings; None means the package's. Tests point it elsewhere.
BUILTIN_DIR: Path | None = None


def _builtin_root() -> Traversable:
    return BUILTIN_DIR if BUILTIN_DIR is not None else resources.files(BUILTIN_PACKAGE)


def builtin_mappings() -> list[str]:
    """Names of the mappings shipped with revlens."""
    files = _builtin_root().iterdir()
    return sorted(f.name.removesuffix(".yml") for f in files if f.name.endswith(".yml"))


def load_mapping(name_or_path: str) -> Mapping:
    """A built-in mapping by name, or a mapping YAML file by path, validated."""
    path = Path(name_or_path)
    if path.suffix in (".yml", ".yaml") or path.exists():
        if not path.exists():
            raise MappingError(
                "mapping file not found",
                where=str(path),
                code="RL202",
                fix="check the path, or use a built-in name: " + ", ".join(builtin_mappings()),
            )
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        if name_or_path not in builtin_mappings():
            raise UnknownName("mapping", name_or_path, builtin_mappings())
        resource = _builtin_root().joinpath(f"{name_or_path}.yml")
        text, where = resource.read_text(encoding="utf-8"), f"built-in mapping {name_or_path}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(
            f"not valid YAML: {exc}", where=where, code="RL203", fix="fix the YAML syntax"
        ) from None
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise MappingError(
            problems,
            where=where,
            code="RL204",
            fix="correct the mapping file (see docs/imports.md)",
        ) from None
    check_against_schema(mapping, where)
    return mapping


def identity_mapping(table: Table, header: list[str]) -> Mapping:
    """The mapping `--table T` uses: every header column named like a canonical column."""
    columns = {
        c: ColumnSource.model_validate({"from": c}) for c in table.column_names if c in header
    }
    return Mapping(name=f"table:{table.name}", outputs=[Output(table=table.name, columns=columns)])


def match_header(pattern: str, header: list[str]) -> list[str]:
    """The header names a pattern names: itself when present, else the same name in
    another case ("Unique ID" for "Unique Id"), or those its one `*` matches (one or more
    characters)."""
    if pattern in header:
        return [pattern]
    if "*" not in pattern:
        return [h for h in header if h.casefold() == pattern.casefold()]
    head, tail = pattern.split("*", 1)
    return [
        h
        for h in header
        if h.startswith(head) and h.endswith(tail) and len(h) > len(head) + len(tail)
    ]


# what a column's first source says for the column as a whole (its format, zone, default)
_WHOLE_COLUMN = ("format", "timezone", "default")


def readable_links(src: ColumnSource, header: list[str]) -> ColumnSource:
    """The source without the links of its fallback chain that read a column this file
    lacks, so that one mapping reads several spellings of an export (GA4's UI writes
    "Sessions", its Data API "sessions"). When no link can be read the source stays whole,
    and the import is refused naming every spelling (RL111). The first source's format,
    zone and default stay with the column."""

    def readable(link: ColumnSource) -> bool:
        return all(c is None or c in header for c in (link.from_, link.times))

    chain = src.chain()
    kept = [link for link in chain if readable(link)]
    if len(kept) == len(chain) or not kept:
        return src
    rebuilt: ColumnSource | None = None
    for link in reversed(kept):
        rebuilt = link.model_copy(update={"fallback": rebuilt})
    assert rebuilt is not None
    whole = {
        name: getattr(src, name)
        for name in _WHOLE_COLUMN
        if getattr(rebuilt, name) is None and getattr(src, name) is not None
    }
    return rebuilt.model_copy(update=whole) if whole else rebuilt


def resolve_header(mapping: Mapping, header: list[str], where: str) -> Mapping:
    """The mapping with its header patterns resolved against one file's header: a `from`
    pattern becomes the matching column, a `header_part` the constant its `*` matched, and
    fallbacks reading columns the file lacks are left out (`readable_links`). A pattern that
    matches no column, or several, is an error naming them."""
    problems: list[str] = []

    def one(pattern: str) -> str | None:
        found = match_header(pattern, header)
        if len(found) > 1:
            problems.append(f"{pattern!r} matches several columns: {', '.join(found)}")
        return found[0] if len(found) == 1 else None

    def resolve(src: ColumnSource) -> ColumnSource:
        update: dict[str, object] = {}
        if src.from_ is not None and src.from_ not in header:
            update["from_"] = one(src.from_) or src.from_  # unmatched: RL111 names it
        if src.times is not None and src.times not in header:
            update["times"] = one(src.times) or src.times
        if src.header_part is not None:
            column = one(src.header_part)
            if column is None:
                if not problems or src.header_part not in problems[-1]:
                    problems.append(f"header_part {src.header_part!r} matches no column")
            else:
                head, tail = src.header_part.split("*", 1)
                update.update(value=column[len(head) : len(column) - len(tail)], header_part=None)
        if src.fallback is not None:
            update["fallback"] = resolve(src.fallback)
        return src.model_copy(update=update) if update else src

    def resolved(out: Output) -> Output:
        update: dict[str, object] = {
            "columns": {n: readable_links(resolve(c), header) for n, c in out.columns.items()}
        }
        if out.when is not None and out.when.column not in header:
            column = one(out.when.column)
            if column is not None:
                update["when"] = out.when.model_copy(update={"column": column})
        if out.each_month is not None:
            em = out.each_month
            update["each_month"] = em.model_copy(
                update={"from_": resolve(em.from_), "to": resolve(em.to)}
            )
        return out.model_copy(update=update)

    outputs = [resolved(out) for out in mapping.outputs]
    if problems:
        raise InputFileError(
            "; ".join(problems) + f"; the file has columns {header}",
            where=where,
            code="RL111",
            fix=f"use the mapping that fits this export, or correct the pattern in {mapping.name}",
        )
    return mapping.model_copy(update={"outputs": outputs})
