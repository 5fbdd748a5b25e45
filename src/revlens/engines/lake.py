"""The lake: the warehouse's canonical tables as Parquet files, for engines that read files
(Spark, or any other). One folder per table; touchpoints, the biggest, also one folder per
month (`month=2026-03`), so engines read only the months a query needs. `_revlens.json`
carries the settings (stages, currency, zone, week start) the KPI definitions depend on."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from revlens.compile.facts import TOUCH_TIMES, current_touch_times
from revlens.engines.duckdb import quote_ident
from revlens.errors import RevlensError
from revlens.model.schema import TABLES
from revlens.model.warehouse import Warehouse

MANIFEST = "_revlens.json"
BY_MONTH = {"touchpoints": "ts"}  # tables partitioned by the month of this column


def _literal(path: Path) -> str:
    """A file path as a SQL string literal (COPY takes no bound parameter for its target)."""
    return "'" + str(path).replace("'", "''") + "'"


def export_lake(
    wh: Warehouse,
    out: Path,
    *,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write every canonical table under `out`; rows per table. The folder appears whole or
    not at all: it is written beside `out` and renamed into place at the end."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not replace:
        raise RevlensError(
            "the export folder exists and is not empty",
            where=str(out),
            code="RL040",
            fix="choose a new folder, or add --replace to overwrite it",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    counts: dict[str, int] = {}
    try:
        for table in TABLES:
            counts[table.name] = _export_table(wh, table.name, partial / table.name)
            if progress:
                progress(table.name, counts[table.name])
        manifest: dict[str, Any] = {
            "format": "revlens-lake",
            "schema_version": wh.schema_version(),
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "settings": wh.settings().model_dump(mode="json"),
            "tables": counts,
            "facts": {TOUCH_TIMES: current_touch_times(wh)},
            "partitioned_by_month": BY_MONTH,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return counts


def _export_table(wh: Warehouse, name: str, dest: Path) -> int:
    row = wh.con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()
    rows = int(row[0]) if row else 0
    column = BY_MONTH.get(name)
    if column and rows:
        wh.con.execute(
            f"COPY (SELECT *, strftime({quote_ident(column)}, '%Y-%m') AS month "
            f"FROM {quote_ident(name)}) TO {_literal(dest)} "
            "(FORMAT PARQUET, PARTITION_BY (month), FILENAME_PATTERN 'part-{i}')"
        )
    else:  # one file, even when empty, so readers learn the columns and their types
        dest.mkdir()
        wh.con.execute(
            f"COPY (SELECT * FROM {quote_ident(name)}) TO {_literal(dest / 'part-0.parquet')} "
            "(FORMAT PARQUET)"
        )
    return rows
