"""The embedded DuckDB engine: opening the warehouse file and everything DuckDB-specific.

Analytics code only sees the Ibis backend returned here; the raw DuckDB connection is used by
the warehouse writer (DDL, imports, transactions), which is DuckDB's job alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import ibis

from revlens.errors import WarehouseError


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL, so a user's column name can never break out."""
    return '"' + name.replace('"', '""') + '"'


def open_duckdb(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (or create) the warehouse file; a clear error when another process holds its lock."""
    target = str(path)
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise WarehouseError(
                "the warehouse is in use by another process",
                where=target,
                fix="wait for the other revlens command to finish, or stop it",
            ) from None
        raise WarehouseError(f"cannot open the warehouse: {text}", where=target) from None
    # Timestamps are stored as naive UTC; the session zone only matters while parsing input.
    con.execute("SET TimeZone = 'UTC'")
    return con


def ibis_backend(con: duckdb.DuckDBPyConnection) -> Any:
    """The Ibis backend over an open DuckDB connection; all analytics reads go through it."""
    return ibis.duckdb.from_connection(con)
