"""Groupings: dimensions defined in the project file as a map of another dimension, e.g. a
sales manager from the owner (rep), read from a mapping or from a two-column file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from revlens.errors import RevlensError


class Grouping(BaseModel):
    """`name` = `mapping[base]`; values the mapping lacks are null."""

    model_config = ConfigDict(frozen=True)

    base: str
    mapping: dict[str, str]


class GroupingSpec(BaseModel):
    """As written in revlens.yml: `from` a dimension, with `map` or a CSV `file` whose
    `key` column holds the base value and `value` column the group."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    map: dict[str, str] | None = None
    file: str | None = None
    key: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> GroupingSpec:
        if (self.map is None) == (self.file is None):
            raise ValueError("give exactly one of map or file (with key and value columns)")
        if self.file is not None and (self.key is None or self.value is None):
            raise ValueError("a file needs key and value (its column names)")
        return self


def load_groupings(project: Path | None) -> dict[str, Grouping]:
    """The `dimensions:` of a project file; file paths are relative to it."""
    if project is None or not project.exists():
        return {}
    data: Any = yaml.safe_load(project.read_text(encoding="utf-8")) or {}
    raw = data.get("dimensions", {}) if isinstance(data, dict) else {}
    out: dict[str, Grouping] = {}
    for name, spec_raw in raw.items():
        try:
            spec = GroupingSpec.model_validate(spec_raw)
        except ValidationError as exc:
            raise RevlensError(
                f"dimension {name!r}: " + "; ".join(e["msg"] for e in exc.errors()),
                where=str(project),
                code="RL520",
                fix="e.g. manager: {from: owner, file: teams.csv, key: agent, value: manager}",
            ) from None
        mapping = spec.map or _read_map(
            project.parent / str(spec.file), str(spec.key), str(spec.value), project
        )
        out[str(name)] = Grouping(base=spec.from_, mapping=mapping)
    return out


def _read_map(path: Path, key: str, value: str, project: Path) -> dict[str, str]:
    if not path.exists():
        raise RevlensError(
            "grouping file not found",
            where=str(project),
            value=str(path),
            code="RL521",
            fix="the path is relative to the project file",
        )
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if (
            reader.fieldnames is None
            or key not in reader.fieldnames
            or value not in reader.fieldnames
        ):
            raise RevlensError(
                f"the file needs columns {key!r} and {value!r}",
                where=str(path),
                value=reader.fieldnames,
                code="RL522",
                fix="name the right key and value columns",
            )
        return {row[key]: row[value] for row in reader if row.get(key)}
