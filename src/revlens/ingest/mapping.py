"""Mapping files: how the columns of an export become rows of one or more canonical tables.

A mapping renames columns, maps values (origin `paid_search` -> channel), parses dates in a
given format and zone, sets constants and a default currency, and may emit several tables
from one input row. `--table T` uses the identity mapping built by `identity_mapping`.
"""

from __future__ import annotations

from importlib import resources
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

from revlens.errors import MappingError, UnknownName
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


class ColumnSource(BaseModel):
    """Where one canonical column comes from. Exactly one of `from` or `value`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    value: str | None = None
    map: dict[str, str | None] | None = None
    unmapped: Literal["keep", "null", "reject"] = "keep"
    fallback: ColumnSource | None = None  # where the value comes from when this one is empty
    default: str | None = None  # the constant used when the value (and fallback) is empty
    format: str | None = None  # strptime format for dates and timestamps, e.g. "%d.%m.%Y %H:%M"
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
        if (self.from_ is None) == (self.value is None):
            raise ValueError("give exactly one of `from` (an input column) or `value` (a constant)")
        return self


class Condition(BaseModel):
    """Emit a row only when an input column has one of the listed values (or any value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    not_empty: bool = False


class EachMonth(BaseModel):
    """Emit one row per month from the month of `from` up to, not including, the month of
    `to` (a subscription export's start and end: the months it is paid for at their end).
    The month's first day goes to the date column `into`; months are taken in the
    warehouse's zone."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: ColumnSource = Field(alias="from")
    to: ColumnSource
    into: str

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


class Mapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
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
            pending = list(tops)
            while pending:
                src = pending.pop()
                if src.from_:
                    used.add(src.from_)
                pending += [s for s in (src.fallback, src.divide_by) if s is not None]
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


def builtin_mappings() -> list[str]:
    """Names of the mappings shipped with revlens."""
    files = resources.files(BUILTIN_PACKAGE).iterdir()
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
        resource = resources.files(BUILTIN_PACKAGE).joinpath(f"{name_or_path}.yml")
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
