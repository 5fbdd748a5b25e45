"""Printing results the same way in every command: a Rich table, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
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


def plain(value: Any) -> Any:
    """Data as JSON has it: dates as ISO text, NaN and infinities as null (the same in the
    CLI's --format json and the API, so both give identical rows)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(data: Any) -> str:
    return json.dumps(plain(data), default=str, indent=2, ensure_ascii=False)


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
            writer.writerow({k: plain(r.get(k)) for k in cols})
    else:
        cells = [["" if r.get(c) is None else str(plain(r.get(c))) for c in cols] for r in rows]
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
