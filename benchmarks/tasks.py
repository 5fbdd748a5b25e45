"""One benchmark task, run in its own process by run.py (so peak RSS is the task's own and
no cache carries over between tasks):

    python benchmarks/tasks.py TASK WAREHOUSE.duckdb OUT.json

TASK is one of TASKS. The timed part starts before the warehouse is opened and ends when
the KPI (or funnel) values are in Python; interpreter start-up and imports are not timed
(they are in `wall_seconds`). OUT.json gets the timings, the row count and the values: the
core subset's for the KPI tasks, every (stage.field, cohort month, channel) for the funnel
tasks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import attribution_tasks  # noqa: E402
import common  # noqa: E402

T_START = time.perf_counter()


MAY_BE_EMPTY = {"sales_cost"}
"""KPIs whose rows older benchmark data sets lack (the demo wrote no sales cost then)."""


def open_reader(source: str) -> Any:
    """The warehouse (DuckDB), or with $BENCH_ENGINE=spark the Parquet lake `source` on
    Spark local (a `LakeReader`, as `revlens --engine spark --lake` uses)."""
    if os.environ.get("BENCH_ENGINE") == "spark":
        return attribution_tasks.spark_reader(source)
    from revlens.model.warehouse import Warehouse

    return Warehouse.open(source)  # with revlens' memory limit ($REVLENS_MEMORY_LIMIT, else 6GB)


def _revlens(db: str, kpis: tuple[str, ...] | None) -> tuple[float, int, common.Values]:
    from revlens.catalog.spec import load_catalog
    from revlens.compile.measures import MEASURES
    from revlens.compile.periods import Grain
    from revlens.compile.query import KpiQuery, run_kpis

    catalog = load_catalog(measures=set(MEASURES))
    ids = tuple(catalog.kpis) if kpis is None else kpis
    t0 = time.perf_counter()
    wh = open_reader(db)
    try:
        query = KpiQuery(
            kpis=ids,
            start=common.START,
            end=common.END,
            grain=Grain.month,
            by=common.BY,
            lookback_days=common.LOOKBACK_DAYS,
        )
        result = run_kpis(wh, query, catalog)
    finally:
        wh.close()
    secs = time.perf_counter() - t0
    subset = set(common.SUBSET)
    values = common.normalise(
        (r["kpi"], r["period_start"], r["channel"], r["value"])
        for r in result.rows
        if r["kpi"] in subset
    )
    kpis_seen = {r["kpi"] for r in result.rows}
    # a data set generated before the demo wrote sales cost (spend of channel "sales") has
    # no rows for it; every other KPI must have some
    missing = [k for k in ids if k not in kpis_seen and k not in MAY_BE_EMPTY]
    if missing:
        raise SystemExit(f"revlens returned no rows for {missing}")
    return secs, len(result.rows), values


def revlens_all(db: str) -> tuple[float, int, common.Values]:
    return _revlens(db, None)


def revlens_subset(db: str) -> tuple[float, int, common.Values]:
    return _revlens(db, common.SUBSET)


def _connect(db: str) -> Any:
    """A plain DuckDB connection for the hand-written SQL and pandas, with the same memory
    limit as revlens' own connections."""
    import duckdb

    from revlens.engines.duckdb import set_memory_limit

    con = duckdb.connect(db, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    set_memory_limit(con)
    return con


def hand_sql(db: str) -> tuple[float, int, common.Values]:
    sql = (HERE / "hand.sql").read_text(encoding="utf-8")
    lo, hi = common.lo_hi()
    t0 = time.perf_counter()
    con = _connect(db)
    rows = con.execute(sql, {"lo": lo, "hi": hi, "lookback_days": common.LOOKBACK_DAYS}).fetchall()
    con.close()
    secs = time.perf_counter() - t0
    return secs, len(rows), common.normalise(rows)


def pandas(db: str) -> tuple[float, int, common.Values]:
    import pandas_impl

    lo, hi = common.lo_hi()
    t0 = time.perf_counter()
    con = _connect(db)
    df = pandas_impl.compute(con, lo, hi, common.LOOKBACK_DAYS)
    con.close()
    secs = time.perf_counter() - t0
    return secs, len(df), common.normalise(df.itertuples(index=False))


# -- the lead -> customer funnel by monthly cohort x channel ----------------------------------
def revlens_funnel(db: str) -> tuple[float, int, common.Values]:
    from revlens.compile.periods import Grain
    from revlens.funnel.engine import FunnelQuery, run_funnel

    query = FunnelQuery(
        stages=common.FUNNEL_STAGES,
        mode="cohort",
        start=common.START,
        end=common.END,
        grain=Grain.month,
        by=common.BY,
        window_days=common.WINDOW_DAYS,
        lookback_days=common.LOOKBACK_DAYS,
    )
    t0 = time.perf_counter()
    wh = open_reader(db)
    try:
        result = run_funnel(wh, query)
    finally:
        wh.close()
    secs = time.perf_counter() - t0
    if result.entity != "contact":
        raise SystemExit(f"revlens followed {result.entity}s, not contacts")
    values = common.funnel_values(
        (r["cohort"], r["channel"], r["stage"], *(r[f] for f in common.FUNNEL_FIELDS))
        for r in result.rows
    )
    return secs, len(result.rows), values


def hand_sql_funnel(db: str) -> tuple[float, int, common.Values]:
    sql = (HERE / "hand_funnel.sql").read_text(encoding="utf-8")
    lo, hi = common.lo_hi()
    params = {
        "lo": lo,
        "hi": hi,
        "window_days": common.WINDOW_DAYS,
        "lookback_days": common.LOOKBACK_DAYS,
    }
    t0 = time.perf_counter()
    con = _connect(db)
    rows = con.execute(sql, params).fetchall()
    con.close()
    secs = time.perf_counter() - t0
    return secs, len(rows), common.funnel_values(rows)


def pandas_funnel(db: str) -> tuple[float, int, common.Values]:
    import pandas_funnel as impl

    lo, hi = common.lo_hi()
    t0 = time.perf_counter()
    con = _connect(db)
    df = impl.compute(con, lo, hi, common.WINDOW_DAYS, common.LOOKBACK_DAYS)
    con.close()
    secs = time.perf_counter() - t0
    return secs, len(df), common.funnel_values(df.itertuples(index=False))


TASKS = {
    "revlens_all": revlens_all,
    "revlens_subset": revlens_subset,
    "hand_sql": hand_sql,
    "pandas": pandas,
    "revlens_funnel": revlens_funnel,
    "hand_sql_funnel": hand_sql_funnel,
    "pandas_funnel": pandas_funnel,
}


def spark_task(inner: Any) -> Any:
    """A KPI or funnel task on Spark local: the same query over the Parquet lake (`source`
    is the lake folder), read through a `LakeReader` as `--engine spark` does."""

    def run(lake: str) -> tuple[float, int, common.Values]:
        os.environ["BENCH_ENGINE"] = "spark"
        return inner(lake)  # type: ignore[no-any-return]

    return run


TASKS.update(
    spark_all=spark_task(revlens_all),
    spark_subset=spark_task(revlens_subset),
    spark_funnel=spark_task(revlens_funnel),
)


def own_peak_mb() -> float:
    """This process's peak resident memory since it started (VmHWM): unlike ru_maxrss it
    does not include the size of the runner it was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    task, db, out = argv
    extra: dict[str, Any] = {}
    if task in attribution_tasks.TASKS:
        secs, rows, credit, phases = attribution_tasks.TASKS[task](db)
        values: common.Values = {}
        extra = {"credit": credit, "phases": phases}
    else:
        secs, rows, values = TASKS[task](db)
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out).write_text(
        json.dumps(
            {
                "task": task,
                "seconds": secs,
                "wall_seconds": time.perf_counter() - T_START,
                "rows": rows,
                "self_maxrss_mb": maxrss_kb / 1024,
                "peak_mb": own_peak_mb(),
                "finished": dt.datetime.now().isoformat(timespec="seconds"),
                "values": common.to_records(values),
                **extra,
            }
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
