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
    set_memory_limit(con)
    return con


# DuckDB's own default is 80% of RAM, and it uses what it may (a 10M-contact catalogue passed
# 19 GiB); 6 GB kept it under 7 GB peak, spilling to <warehouse>.tmp/ (benchmarks/RESULTS.md).
DEFAULT_MEMORY_LIMIT_MB = 6000


def memory_limit() -> str:
    """DuckDB's memory_limit for a revlens connection: $REVLENS_MEMORY_LIMIT (a DuckDB size
    such as 4GB or 500MB), else 6 GB, or 80% of RAM when that is less."""
    chosen = os.environ.get("REVLENS_MEMORY_LIMIT", "").strip()
    if chosen:
        return chosen
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        ram = 0
    limit = DEFAULT_MEMORY_LIMIT_MB
    if ram > 0:
        limit = min(limit, int(ram * 0.8 / 1e6))
    return f"{limit}MB"


def set_memory_limit(con: duckdb.DuckDBPyConnection) -> None:
    """Apply `memory_limit()` to a connection; past it DuckDB spills to disk."""
    limit = memory_limit()
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(
            "REVLENS_MEMORY_LIMIT is not a memory size DuckDB understands",
            value=limit,
            code="RL403",
            fix="set it to a size such as 4GB or 500MB, or unset it for the default (6GB)",
        ) from exc


def ibis_backend(con: duckdb.DuckDBPyConnection) -> Any:
    """The Ibis backend over an open DuckDB connection; all analytics reads go through it."""
    return ibis.duckdb.from_connection(con)
