"""The engines revlens runs on: DuckDB embedded (`duckdb`), Spark over a Parquet lake
(`spark`, `lake`). What analytics need to know of an engine beyond what every Ibis backend
does is answered here."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dtypes


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


_NAIVE = dtypes.Timestamp()
_UTC = dtypes.Timestamp(timezone="UTC")


@ibis.udf.scalar.builtin(name="timezone", signature=((str, _NAIVE), _UTC))  # type: ignore[untyped-decorator]
def _duckdb_instant(zone: str, ts: Any) -> Any:
    """DuckDB `timezone(zone, naive)`: the instant a wall-clock time in `zone` names."""


@ibis.udf.scalar.builtin(name="timezone", signature=((str, _UTC), _NAIVE))  # type: ignore[untyped-decorator]
def _duckdb_wall_clock(zone: str, ts: Any) -> Any:
    """DuckDB `timezone(zone, instant)`: the naive wall-clock time of an instant in `zone`."""


@ibis.udf.scalar.builtin(name="to_utc_timestamp", signature=((_NAIVE, str), _NAIVE))  # type: ignore[untyped-decorator]
def _spark_utc(ts: Any, zone: str) -> Any:
    """Spark `to_utc_timestamp(ts, zone)`: a wall-clock time in `zone` as UTC time."""


@ibis.udf.scalar.builtin(name="from_utc_timestamp", signature=((_NAIVE, str), _NAIVE))  # type: ignore[untyped-decorator]
def _spark_wall_clock(ts: Any, zone: str) -> Any:
    """Spark `from_utc_timestamp(ts, zone)`: a UTC time as wall-clock time in `zone`."""


def local_time(ts: Any, zone: str, backend: Any) -> Any:
    """The naive UTC timestamp `ts` as naive wall-clock time in the IANA `zone`, on
    `backend` (an Ibis backend). The zone is passed as a literal, never pasted into SQL;
    neither engine's result depends on its session zone (revlens sets both to UTC)."""
    name = ibis.literal(zone)
    if getattr(backend, "name", None) == "pyspark":
        return _spark_wall_clock(ts, name)
    return _duckdb_wall_clock(name, _duckdb_instant(ibis.literal("UTC"), ts))


def utc_time(ts: Any, zone: str, backend: Any) -> Any:
    """The inverse of `local_time`: naive wall-clock time `ts` in `zone` as naive UTC (a
    time of the hour repeated when clocks go back is taken as one of its two instants)."""
    name = ibis.literal(zone)
    if getattr(backend, "name", None) == "pyspark":
        return _spark_utc(ts, name)
    return _duckdb_wall_clock(ibis.literal("UTC"), _duckdb_instant(name, ts))
