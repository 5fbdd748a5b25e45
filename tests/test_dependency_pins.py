"""The pins in pyproject.toml exist because ibis-framework 12.0.0 breaks with duckdb 2.x and
with sqlglot >= 30.20. These tests exercise exactly what broke, so lifting a pin that still
matters fails here loudly instead of deep inside a KPI query."""

from __future__ import annotations

import ibis


def test_ibis_can_fetch_results_from_duckdb() -> None:
    """duckdb 2.0 removed fetch_arrow_table, which ibis 12.0.0 calls for every result."""
    con = ibis.duckdb.connect()
    table = con.create_table("pins", ibis.memtable({"a": [1, 2, 3]}))
    assert table.to_pyarrow().num_rows == 3
    assert int(table.a.sum().execute()) == 6


def test_ibis_cache_release_and_drop_table_work() -> None:
    """sqlglot >= 30.20 makes ibis 12.0.0 emit `DROP TABLE IF EXISTS` without a name."""
    con = ibis.duckdb.connect()
    table = con.create_table("pins", ibis.memtable({"a": [1, 2]}))
    cached = table.filter(table.a > 1).cache()
    assert int(cached.count().execute()) == 1
    cached.release()
    con.drop_table("pins")
    assert "pins" not in con.list_tables()
