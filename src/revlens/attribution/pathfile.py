"""Aggregated paths from a file, a DataFrame or row dicts (ChannelAttribution's input shape:
one row per path 'a > b > c' with conversions, value and nulls), as Journeys.

Channel names are stripped of surrounding spaces, empty parts of a path are dropped, a
row with an empty path counts as a journey without touches (reported as `(none)`), and
rows with the same path are summed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revlens.attribution.journeys import Journey, split_path
from revlens.errors import InputFileError, did_you_mean
from revlens.ingest.readers import LINE_COLUMN, read_file


@dataclass(frozen=True)
class PathColumns:
    """Which columns hold what; `value` and `nulls` are optional."""

    path: str = "path"
    conversions: str = "conversions"
    value: str | None = None
    nulls: str | None = None
    separator: str = ">"

    def required(self) -> list[tuple[str, str]]:
        wanted = [("--path-column", self.path), ("--conversions-column", self.conversions)]
        if self.value:
            wanted.append(("--value-column", self.value))
        if self.nulls:
            wanted.append(("--nulls-column", self.nulls))
        return wanted


def read_path_file(path: Path, columns: PathColumns) -> list[Journey]:
    """Journeys from a CSV, Parquet, JSON Lines or XLSX file of aggregated paths."""
    raw = read_file(Path(path))
    if raw.pre_rejects:
        bad = raw.pre_rejects[0]
        raise InputFileError(
            f"{bad.reason} ({len(raw.pre_rejects)} such row(s))",
            where=f"{path}:{bad.line}",
            value=bad.value,
            code="RL701",
            fix="fix the row(s) or export the file again",
        )
    records = raw.table.to_pylist()
    return journeys_from_records(
        records, columns, source=str(path), found=raw.columns, line_key=LINE_COLUMN
    )


def journeys_from_records(
    records: Iterable[Mapping[str, Any]],
    columns: PathColumns,
    *,
    source: str = "the rows",
    found: list[str] | None = None,
    line_key: str | None = None,
) -> list[Journey]:
    """Journeys from row dicts; a path cell is a string split at the separator, or already
    a list of channel names. Identical paths are summed."""
    if not columns.separator:
        raise InputFileError(
            "the path separator cannot be empty",
            where=source,
            code="RL702",
            fix="e.g. --separator '>'",
        )
    rows = list(records)
    present = found if found is not None else list(dict.fromkeys(k for r in rows for k in r))
    for option, name in columns.required():
        if name not in present:
            close = did_you_mean(name, present)
            raise InputFileError(
                f"no column {name!r} ({option}); the columns found are: "
                f"{', '.join(present) or '(none)'}",
                where=source,
                value=name,
                code="RL703",
                fix=(
                    f"did you mean {' or '.join(repr(c) for c in close)}?"
                    if close
                    else f"pass {option} with one of the columns found"
                ),
            )
    sums: dict[tuple[str, ...], list[Any]] = {}
    for number, row in enumerate(rows, start=1):
        line = row.get(line_key) if line_key else None
        where = f"{source}:{line}" if line is not None else f"{source} row {number}"
        channels = _channels(row.get(columns.path), columns.separator, where, columns.path)
        conv = _count(row.get(columns.conversions), where, columns.conversions)
        nulls = _count(row.get(columns.nulls), where, columns.nulls) if columns.nulls else 0
        value = _money(row.get(columns.value), where, columns.value) if columns.value else 0.0
        entry = sums.setdefault(channels, [0, [], 0, where])
        entry[0] += conv
        entry[1].append(value)
        entry[2] += nulls
    journeys = []
    for channels, (conv, values, nulls, where) in sums.items():
        value = math.fsum(values)
        if value > 0 and conv == 0:
            raise InputFileError(
                "a path without conversions has conversion value",
                where=where,
                value=value,
                code="RL704",
                fix="the value belongs to conversions: fix the conversions or the value",
            )
        journeys.append(Journey(channels, conversions=conv, value=value, nulls=nulls))
    return journeys


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _channels(value: Any, separator: str, where: str, column: str) -> tuple[str, ...]:
    if _missing(value):
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(c).strip() for c in value if str(c).strip())
    return split_path(str(value), separator)


def _number(value: Any, where: str, column: str, what: str) -> float:
    if _missing(value):
        raise InputFileError(
            f"column {column!r} is empty; it needs {what}",
            where=where,
            code="RL705",
            fix=f"fill in {what} (0 if there is none)",
        )
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else value
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise InputFileError(
            f"column {column!r} needs {what}",
            where=where,
            value=value,
            code="RL705",
            fix=f"write {what}, e.g. 3",
        )
    return float(number)


def _count(value: Any, where: str, column: str) -> int:
    number = _number(value, where, column, "a whole number >= 0")
    if number < 0 or not number.is_integer():
        raise InputFileError(
            f"column {column!r} needs a whole number >= 0",
            where=where,
            value=value,
            code="RL705",
            fix="count people: 0, 1, 2, ...",
        )
    return int(number)


def _money(value: Any, where: str, column: str) -> float:
    number = _number(value, where, column, "an amount >= 0")
    if number < 0:
        raise InputFileError(
            f"column {column!r} needs an amount >= 0",
            where=where,
            value=value,
            code="RL705",
            fix="give the money of the path's conversions, or 0",
        )
    return number
