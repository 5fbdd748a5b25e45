"""The engines revlens runs on: DuckDB embedded (`duckdb`), Spark over a Parquet lake
(`spark`, `lake`). What analytics need to know of an engine beyond what every Ibis backend
does is answered here."""

from __future__ import annotations

from typing import Any


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether a query failed because the engine ran out of the memory it may use: DuckDB
    raises OutOfMemoryException past its memory_limit, and the query can be run another way
    on the same connection. (A Spark driver out of heap is not recoverable.)"""
    import duckdb

    return isinstance(exc, duckdb.OutOfMemoryException)


def collect_non_null(values: Any, backend: Any) -> Any:
    """`values.collect()` for a column known to hold no nulls, on `backend` (an Ibis
    backend). Ibis guards each collect with FILTER (WHERE value IS NOT NULL), computing a
    derived value twice; DuckDB may go without it (Spark's collect_list drops nulls itself,
    and Ibis allows it nothing else)."""
    if getattr(backend, "name", None) == "duckdb":
        return values.collect(include_null=True)
    return values.collect()
