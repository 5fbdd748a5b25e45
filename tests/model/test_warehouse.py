"""The warehouse: every canonical table with its types and keys, versioned and migrated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from revlens.errors import WarehouseError
from revlens.model.schema import TABLES
from revlens.model.warehouse import META_TABLE, SCHEMA_VERSION, Warehouse


def test_init_creates_every_canonical_table_with_types_and_keys(tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "w.duckdb", create=True) as wh:
        assert wh.schema_version() == SCHEMA_VERSION
        for table in TABLES:
            cols = wh.con.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [table.name],
            ).fetchall()
            assert [c[0] for c in cols] == list(table.column_names)
            required = {c[0] for c in cols if c[2] == "NO"}
            assert required == set(table.required)
            if all(table.column(k).required for k in table.key):
                pk = wh.con.execute(
                    "SELECT constraint_column_names FROM duckdb_constraints() "
                    "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
                    [table.name],
                ).fetchone()
                assert pk is not None and list(pk[0]) == list(table.key)
        assert wh.row_counts() == {t.name: 0 for t in TABLES}


def test_init_twice_is_a_no_op_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, create=True) as wh:
        wh.con.execute("INSERT INTO fx_rates VALUES ('2024-01-01', 'EUR', 1.1)")
    with Warehouse.open(path, create=True) as wh:
        assert wh.migrate() == []
        assert wh.row_counts()["fx_rates"] == 1


def test_missing_warehouse_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError) as err:
        Warehouse.open(tmp_path / "none.duckdb")
    assert "revlens init" in (err.value.fix or "")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, create=True) as wh:
        wh.con.execute(f"UPDATE {META_TABLE} SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(WarehouseError, match="newer than this revlens"):
        Warehouse.open(path)


def test_settings_are_validated_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, create=True) as wh:
        wh.update_settings(reporting_currency="EUR", timezone="Europe/Berlin")
        with pytest.raises(Exception, match="IANA time zone"):
            wh.update_settings(timezone="Mars/Olympus")
    with Warehouse.open(path) as wh:
        assert wh.settings().reporting_currency == "EUR"
        assert wh.settings().timezone == "Europe/Berlin"


def test_a_version_1_warehouse_migrates_forward_keeping_its_data(tmp_path: Path) -> None:
    import duckdb

    from revlens.model import warehouse as w

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
    w.MIGRATIONS[0](con)
    con.execute(f"INSERT INTO {META_TABLE} VALUES ('schema_version', '1')")
    con.execute("INSERT INTO fx_rates VALUES ('2024-01-01', 'EUR', 1.1)")
    con.close()
    with pytest.raises(WarehouseError, match="schema version 1") as err:
        Warehouse.open(path)
    assert "revlens init" in (err.value.fix or "")
    with Warehouse.open(path, create=True) as wh:
        assert wh.schema_version() == SCHEMA_VERSION == 4
        assert wh.row_counts()["fx_rates"] == 1
        assert wh.con.execute("SELECT count(*) FROM lead_scores").fetchone() == (0,)
        assert wh.con.execute("SELECT count(*) FROM api_tokens").fetchone() == (0,)
        assert wh.con.execute("SELECT count(*) FROM api_users").fetchone() == (0,)


def _version_3_file(path: Path) -> None:
    """A warehouse file as revlens wrote it at schema version 3: a fresh warehouse with the
    tables and columns of version 4 taken out again, holding spend and subscription rows."""
    with Warehouse.open(path, create=True) as wh:
        for name in ("web_traffic", "email_campaigns", "opportunity_contacts"):
            wh.con.execute(f"DROP TABLE {name}")
        for table, column in (
            ("spend", "ad_group"),
            ("spend", "conversions"),
            ("spend", "platform"),
            ("subscriptions", "contact_id"),
            ("subscriptions", "email_hash"),
        ):
            wh.con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        wh.con.execute(f"UPDATE {META_TABLE} SET value = '3' WHERE key = 'schema_version'")
        wh.con.execute(
            "INSERT INTO spend (date, channel, campaign, cost, source, impressions, clicks) "
            "VALUES ('2024-01-02', 'paid_search', 'brand', 12.5, 'google', 1000, 40)"
        )
        wh.con.execute("INSERT INTO subscriptions VALUES ('acme', '2024-01-01', 99.0, 'USD')")


def test_a_version_3_warehouse_migrates_to_4_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    _version_3_file(path)
    with pytest.raises(WarehouseError, match="schema version 3"):
        Warehouse.open(path)
    with Warehouse.open(path, create=True) as wh:
        assert wh.schema_version() == 4
        spend = wh.con.execute(
            "SELECT date::VARCHAR, channel, campaign, cost, source, impressions, clicks, "
            "ad_group, conversions, platform FROM spend"
        ).fetchall()
        assert spend == [
            ("2024-01-02", "paid_search", "brand", 12.5, "google", 1000, 40, None, None, None)
        ]
        subs = wh.con.execute("SELECT * FROM subscriptions").fetchall()
        assert [tuple(r) for r in subs] == [("acme", dt.date(2024, 1, 1), 99.0, "USD", None, None)]
        for table in TABLES:  # the same columns, in the same order, as a new warehouse
            cols = wh.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [table.name],
            ).fetchall()
            assert [c[0] for c in cols] == list(table.column_names), table.name
        pk = wh.con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = 'email_campaigns' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
        assert pk == [(["campaign"],)]
        assert wh.row_counts()["web_traffic"] == 0
