"""`revlens export --format parquet`: every canonical table, row for row, as Parquet that
reads back to the same contents; touchpoints by month; all or nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import duckdb
import pytest

from journeys import ad_spend, journeys_for, load_events, session, stage, touch
from revlens.engines.lake import MANIFEST, export_lake
from revlens.errors import RevlensError
from revlens.model.schema import TABLES
from revlens.model.warehouse import Warehouse
from two_engines import SPARK_MISSING

Revlens = Callable[..., CompletedProcess[str]]


def small_warehouse(path: Path) -> Path:
    with Warehouse.open(path, create=True) as wh:
        journeys_for(
            wh,
            {
                "ana": [
                    touch("paid_search", "2026-01-03"),
                    stage("lead", "2026-01-04"),
                    session("organic_search", "2026-02-10"),
                ],
                "ben": [
                    touch("email", "2026-02-20"),
                    stage("lead", "2026-02-21"),
                    stage("mql", "2026-03-01"),
                ],
            },
        )
    return path


def read_back(folder: Path, table: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    cols = ", ".join(f'"{c.name}"' for c in next(t for t in TABLES if t.name == table).columns)
    glob = str(folder / table / "**" / "*.parquet")
    return con.execute(
        f"SELECT {cols} FROM read_parquet(?, hive_partitioning = true) ORDER BY ALL", [glob]
    ).fetchall()


def test_every_table_reads_back_the_same(tmp_path: Path) -> None:
    path = small_warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "lake"
    with Warehouse.open(path, read_only=True) as wh:
        counts = export_lake(wh, out)
        for table in TABLES:
            want = wh.con.execute(f'SELECT * FROM "{table.name}" ORDER BY ALL').fetchall()
            assert read_back(out, table.name) == want, table.name
            assert counts[table.name] == len(want)
    assert counts["touchpoints"] == 3 and counts["stage_events"] == 3
    months = sorted(p.name for p in (out / "touchpoints").iterdir())
    assert months == ["month=2026-01", "month=2026-02"]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["tables"] == counts
    assert manifest["settings"]["stages"][:2] == ["lead", "mql"]
    # the facts queries rely on travel with the data (Spark reads them from here)
    assert manifest["facts"]["touch_times"]["rows"]["touchpoints"] == 3


def test_an_existing_folder_is_kept_unless_replaced(tmp_path: Path) -> None:
    path = small_warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "lake"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with Warehouse.open(path, read_only=True) as wh:
        with pytest.raises(RevlensError, match="not empty") as err:
            export_lake(wh, out)
        assert err.value.code == "RL040" and "--replace" in (err.value.fix or "")
        assert (out / "mine.txt").read_text() == "keep me"
        export_lake(wh, out, replace=True)
    assert not (out / "mine.txt").exists() and (out / MANIFEST).exists()


def test_a_failed_export_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from revlens.engines import lake

    path = small_warehouse(tmp_path / "wh.duckdb")
    calls = []

    def failing(wh: Warehouse, name: str, dest: Path) -> int:
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(wh, name, dest)

    original = lake._export_table
    monkeypatch.setattr(lake, "_export_table", failing)
    with Warehouse.open(path, read_only=True) as wh, pytest.raises(OSError):
        export_lake(wh, tmp_path / "lake")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wh.duckdb"]


def test_the_cli_exports(tmp_path: Path, revlens: Revlens) -> None:
    path = small_warehouse(tmp_path / "wh.duckdb")
    done = revlens("export", "--format", "parquet", "--out", str(tmp_path / "lake"), warehouse=path)
    assert done.returncode == 0, done.stderr
    assert f"exported 8 rows of {len(TABLES)} tables" in done.stdout
    done = revlens("export", "--format", "csv", "--out", str(tmp_path / "x"), warehouse=path)
    assert done.returncode == 1 and "RL041" in done.stderr


@pytest.mark.spark
@pytest.mark.skipif(SPARK_MISSING is not None, reason=SPARK_MISSING or "")
def test_a_lake_exported_before_schema_4_still_opens_on_spark(tmp_path: Path, spark: Any) -> None:
    """A lake written by a revlens of schema version 3 has no web_traffic, email_campaigns
    or opportunity_contacts folder and no spend.platform (...) column: Spark reads the
    missing tables as empty and the missing columns as null, as a migrated warehouse has
    them, and the KPIs come out as on the warehouse."""
    from revlens.catalog.spec import load_catalog
    from revlens.compile.measures import MEASURES
    from revlens.compile.query import KpiQuery, run_kpis
    from revlens.engines.spark import LakeReader

    path = small_warehouse(tmp_path / "wh.duckdb")
    with Warehouse.open(path) as wh:
        load_events(wh, ad_spend("paid_search", "2026-01-03", 12.5, clicks=5, impressions=100))
    out = tmp_path / "lake"
    with Warehouse.open(path, read_only=True) as wh:
        export_lake(wh, out)
    for name in ("web_traffic", "email_campaigns", "opportunity_contacts"):
        shutil.rmtree(out / name)
    con = duckdb.connect()
    for name, dropped in (
        ("spend", "ad_group, conversions, platform"),
        ("subscriptions", "contact_id, email_hash"),
    ):
        part = out / name / "part-0.parquet"
        old = tmp_path / f"{name}.parquet"
        con.execute(
            f"COPY (SELECT * EXCLUDE ({dropped}) FROM read_parquet(?)) TO '{old}' (FORMAT PARQUET)",
            [str(part)],
        )
        shutil.move(old, part)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["schema_version"] = 3
    (out / MANIFEST).write_text(json.dumps(manifest))

    reader = LakeReader(out, session=spark)
    assert reader.ibis.table("web_traffic").count().execute() == 0
    spend = reader.ibis.table("spend").to_pyarrow().to_pylist()
    assert [(r["cost"], r["platform"], r["ad_group"]) for r in spend] == [(12.5, None, None)]
    query = KpiQuery(
        kpis=("sessions", "cpc", "ctr", "leads"),
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 3, 31),
    )
    catalog = load_catalog(measures=set(MEASURES))
    got = {r["kpi"]: r["value"] for r in run_kpis(reader, query, catalog).rows}
    assert got == {"sessions": 1.0, "cpc": 12.5 / 5, "ctr": 5 / 100, "leads": 2.0}
