"""The embedded DuckDB engine: opening the warehouse file and everything DuckDB-specific.

Analytics code only sees the Ibis backend returned here; the raw DuckDB connection is used by
the warehouse writer (DDL, imports, transactions), which is DuckDB's job alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import duckdb
import ibis

from revlens.errors import WarehouseError


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL, so a user's column name can never break out."""
    return '"' + name.replace('"', '""') + '"'


def open_duckdb(
    path: Path | str, *, read_only: bool = False, wait_seconds: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open (or create) the warehouse file. Readers share it; a writer has it alone, so a
    command that finds it locked waits up to `wait_seconds` ($REVLENS_LOCK_WAIT, default
    10) before saying so clearly."""
    target = str(path)
    wait = (
        float(os.environ.get("REVLENS_LOCK_WAIT", "10")) if wait_seconds is None else wait_seconds
    )
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(target, read_only=read_only)
            break
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise WarehouseError(f"cannot open the warehouse: {text}", where=target) from None
            if time.monotonic() >= deadline:
                raise WarehouseError(
                    "the warehouse is in use by another process that is writing to it",
                    where=target,
                    fix="wait for the import (or other writing command) to finish, or set "
                    "REVLENS_LOCK_WAIT to wait longer",
                ) from None
            time.sleep(0.2)
    # Timestamps are stored as naive UTC; the session zone only matters while parsing input.
    con.execute("SET TimeZone = 'UTC'")
    return con


def ibis_backend(con: duckdb.DuckDBPyConnection) -> Any:
    """The Ibis backend over an open DuckDB connection; all analytics reads go through it."""
    return ibis.duckdb.from_connection(con)
