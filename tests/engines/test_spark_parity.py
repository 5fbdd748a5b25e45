"""The same KPIs, funnels and attribution on Spark as on DuckDB, compared with each other on
the demo data exported as a Parquet lake: every KPI of the catalogue by month x channel,
cohort KPIs with comparisons, the lead -> customer funnel by channel, the attribution
models, and the CLI's `--engine spark`; money to the cent, everything else to 1e-9
(`make test-spark`). The KPI, funnel and attribution suites themselves also run on both
engines against their references (the `engine` parameter, see tests/conftest.py); this
module covers what they do not: the whole catalogue and breakdowns on a realistic data set."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from journeys import journeys_for, stage
from revlens.attribution import attribute
from revlens.attribution.warehouse import warehouse_journeys
from revlens.compile.query import KpiQuery, run_kpis
from revlens.demo.generate import load_demo
from revlens.engines.lake import export_lake
from revlens.funnel.engine import FunnelQuery, run_funnel
from revlens.model.warehouse import Reader, Warehouse
from revlens.service import catalog_for
from two_engines import SPARK_MISSING

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(SPARK_MISSING is not None, reason=SPARK_MISSING or ""),
]

START, END = dt.date(2025, 11, 1), dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory, spark: Any
) -> Iterator[tuple[Warehouse, Reader]]:
    from revlens.engines.spark import LakeReader

    folder = tmp_path_factory.mktemp("spark")
    with Warehouse.open(folder / "demo.duckdb", create=True) as wh:
        load_demo(wh, contacts=2000, seed=42)
        export_lake(wh, folder / "lake")
    duck = Warehouse.open(folder / "demo.duckdb", read_only=True)
    yield duck, LakeReader(folder / "lake", session=spark)
    duck.close()


def test_two_lakes_in_one_process_each_read_their_own_tables(tmp_path: Path, spark: Any) -> None:
    """A Spark session holds one temporary view per table name: a reader used after another
    lake was opened must register its own views again, not read the other lake's rows."""
    from revlens.engines.spark import LakeReader

    readers = []
    for name, leads in (("one", 1), ("three", 3)):
        with Warehouse.open(tmp_path / f"{name}.duckdb", create=True) as wh:
            journeys_for(wh, {f"p{i}": [stage("lead", "2024-01-05")] for i in range(leads)})
            export_lake(wh, tmp_path / name)
        readers.append(LakeReader(tmp_path / name, session=spark))
    query = KpiQuery(kpis=("leads",), start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 31))
    catalog = catalog_for(None)
    one, three = readers
    assert [run_kpis(r, query, catalog).rows[0]["value"] for r in (one, three, one)] == [1, 3, 1]


def key(row: dict[str, Any], dims: tuple[str, ...]) -> tuple[Any, ...]:
    return (
        row.get("kpi"),
        row.get("stage"),
        str(row.get("period_start", row.get("cohort"))),
        *(row.get(d) for d in dims),
    )


def assert_same_rows(
    duck: list[dict[str, Any]], spark: list[dict[str, Any]], dims: tuple[str, ...], money: set[str]
) -> None:
    left = {key(r, dims): r for r in duck}
    right = {key(r, dims): r for r in spark}
    assert left.keys() == right.keys()
    for k, a in left.items():
        b = right[k]
        assert a.keys() == b.keys(), k
        for field, x in a.items():
            y = b[field]
            if isinstance(x, float) and isinstance(y, float):
                tol = (
                    0.005
                    if (a.get("unit") == "money" and field != "attainment") or (field in money)
                    else 1e-9 * max(1.0, abs(x))
                )
                assert abs(x - y) <= tol, (k, field, x, y)
            else:  # the same value of the same type (a count is not 1 here and 1.0 there)
                assert (type(x), x) == (type(y), y), (k, field, x, y)


def test_every_kpi_by_month_and_channel(engines: tuple[Warehouse, Reader]) -> None:
    duck, spark = engines
    catalog = catalog_for(None)
    query = KpiQuery(
        kpis=tuple(s.id for s in catalog), start=START, end=END, grain="month", by=("channel",)
    )
    a, b = run_kpis(duck, query, catalog).rows, run_kpis(spark, query, catalog).rows
    assert len(a) > 64 * 12
    assert_same_rows(a, b, ("channel",), set())


def test_cohort_kpis_and_comparisons(engines: tuple[Warehouse, Reader]) -> None:
    duck, spark = engines
    catalog = catalog_for(None)
    query = KpiQuery(
        kpis=("lead_to_mql", "mql_to_sql", "win_rate", "revenue", "cpl"),
        start=START,
        end=END,
        grain="quarter",
        mode="cohort",
        compare="year",
    )
    assert_same_rows(
        run_kpis(duck, query, catalog).rows, run_kpis(spark, query, catalog).rows, (), set()
    )


@pytest.mark.parametrize("model", ["last_non_direct", "time_decay", "w_shaped", "shapley"])
def test_kpis_by_channel_under_an_attribution_model(
    engines: tuple[Warehouse, Reader], model: str
) -> None:
    """Conversions, revenue and the cost KPIs split over channels by each kind of model
    (single touch, time-weighted, milestone positions, data-driven)."""
    duck, spark = engines
    catalog = catalog_for(None)
    query = KpiQuery(
        kpis=("leads", "customers", "revenue", "cpl", "cac", "roas"),
        start=START,
        end=END,
        grain="quarter",
        by=("channel",),
        attribution=model,
    )
    a, b = run_kpis(duck, query, catalog).rows, run_kpis(spark, query, catalog).rows
    assert len({r["channel"] for r in a}) > 5
    assert_same_rows(a, b, ("channel",), set())


def test_the_lead_to_customer_funnel_by_channel(engines: tuple[Warehouse, Reader]) -> None:
    duck, spark = engines
    for mode in ("cohort", "period"):
        query = FunnelQuery(
            stages=("lead", "mql", "sql", "opportunity", "customer"),
            start=START,
            end=END,
            grain="month",
            by=("channel",),
            mode=mode,
        )
        assert_same_rows(
            run_funnel(duck, query).rows, run_funnel(spark, query).rows, ("channel",), set()
        )


@pytest.mark.parametrize("conversion", ["customer", "revenue"])
def test_attribution_of_the_same_journeys(
    engines: tuple[Warehouse, Reader], conversion: str
) -> None:
    duck, spark = engines
    results = []
    for wh in (duck, spark):
        journeys = warehouse_journeys(
            wh, conversion, start=START, end=END, level="channel", lookback_days=90, timed=True
        )
        results.append(
            attribute(
                journeys,
                ["first_touch", "linear", "time_decay", "markov", "shapley"],
                level="channel",
            ).rows
        )
    rows = [{**r, "kpi": r["model"]} for r in results[0]]
    other = [{**r, "kpi": r["model"]} for r in results[1]]
    assert_same_rows(rows, other, ("channel",), {"value", "value_share"})


def test_the_cli_answers_the_same_on_spark(
    tmp_path: Path, revlens: Callable[..., CompletedProcess[str]]
) -> None:
    path = tmp_path / "demo.duckdb"
    with Warehouse.open(path, create=True) as wh:
        load_demo(wh, contacts=1000, seed=7)
    assert revlens("export", "--out", str(tmp_path / "lake"), warehouse=path).returncode == 0
    args = [
        "kpi",
        "leads,cpl,win_rate",
        "--grain",
        "quarter",
        "--by",
        "channel",
        "--format",
        "json",
    ]
    duck = revlens(*args, warehouse=path)
    spark = revlens(
        "--engine",
        "spark",
        "--lake",
        str(tmp_path / "lake"),
        "--spark-master",
        "local[2]",
        *args,
        timeout=600,
    )
    assert duck.returncode == 0 and spark.returncode == 0, spark.stderr
    assert_same_rows(json.loads(duck.stdout), json.loads(spark.stdout), ("channel",), set())
    refused = revlens(
        "--engine",
        "spark",
        "--lake",
        str(tmp_path / "lake"),
        "targets",
        "set",
        "leads",
        "--target",
        "5",
        "--period",
        "2026-01",
    )
    assert refused.returncode == 1 and "RL046" in refused.stderr
