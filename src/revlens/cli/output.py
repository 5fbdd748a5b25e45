"""Printing results the same way in every command: a Rich table, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

# Piped output (logs, `make run`) gets a wide table instead of Rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def to_json(data: Any) -> str:
    return json.dumps(data, default=_plain, indent=2, ensure_ascii=False)


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    keep_empty: bool = False,
) -> None:
    """Print a list of row objects in the chosen format."""
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    if fmt is OutputFormat.json:
        print(to_json([dict(r) for r in rows]))
    elif fmt is OutputFormat.csv:
        writer = csv.DictWriter(
            sys.stdout, fieldnames=cols, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _plain(r.get(k)) for k in cols})
    else:
        cells = [["" if r.get(c) is None else str(_plain(r.get(c))) for c in cols] for r in rows]
        # a table leaves out columns that are empty in every row, and never wraps short ones
        keep = [
            i for i in range(len(cols)) if keep_empty or not rows or any(row[i] for row in cells)
        ]
        table = Table(title=title, show_lines=False)
        for i in keep:
            longest = max([len(cols[i])] + [len(row[i]) for row in cells])
            table.add_column(
                cols[i], overflow="fold", no_wrap=longest <= 12, min_width=min(longest, 10)
            )
        for row in cells:
            table.add_row(*(row[i] for i in keep))
        console.print(table)


def format_value(value: Any, unit: str) -> str:
    """A KPI value as people read it: percents as %, money with 2 decimals, n/a for null."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else ""
    if not isinstance(value, float | int):
        return str(value)
    if unit == "percent":
        return f"{value:.1%}"
    if unit in ("money", "ratio", "days", "minutes"):
        return f"{value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def format_change(value: float | None) -> str:
    return "" if value is None else f"{value:+.1%}"
