"""Where the time (and memory) of revlens' cohort funnel goes: the benchmark's funnel (lead ->
customer by monthly cohort x channel), taken apart into the steps `run_funnel` builds
(src/revlens/funnel/engine.py), each materialised (`.cache()`) and timed on its own, in
order: the lifecycle events, the touchpoints resolved to contacts, `data_end()`, the cohort
entry, each stage step `_Builder._step`, the channel at entry `_Builder.dims()`, and the
final aggregate `_Builder._long` and rows. revlens runs the steps as one query, so the
split is indicative (DuckDB may overlap or share work the split cannot).

    python benchmarks/profile_funnel.py WAREHOUSE.duckdb

Prints one line per step (seconds, the process's resident memory after the step and its
peak during the step) and, as the last line, a JSON object {step: seconds}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import common  # noqa: E402
from profile_revlens import _memory, _reset_peak  # noqa: E402


def profile(db: str) -> dict[str, float]:
    import ibis

    from revlens.compile.context import Context
    from revlens.compile.periods import Calendar, Grain, bucket_expr, periods
    from revlens.funnel.engine import FunnelQuery, _Builder, _events, _rows
    from revlens.model.warehouse import Warehouse

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
    wh = Warehouse.open(db)
    ctx = Context(wh, lookback_days=query.lookback_days, window_days=query.window_days)
    out: dict[str, float] = {}
    kept: dict[str, Any] = {}
    cached: list[Any] = []  # the profile's own materialised steps, released at the end

    def step(name: str, fn: Any) -> Any:
        _reset_peak()
        t0 = time.perf_counter()
        value = fn()
        if hasattr(value, "release"):
            cached.append(value)
        out[name] = time.perf_counter() - t0
        rss, peak = _memory()
        print(f"{name:<52} {out[name]:8.2f} s  rss {rss:7.0f} MB  peak {peak:7.0f} MB", flush=True)
        return value

    try:
        entity, events, _ = step(
            "(shared) lifecycle_events .cache() + stage names", lambda: _events(ctx, query)
        )
        if not hasattr(Context, "touches"):
            # revlens before touches were resolved per query: first touch reads this
            # materialised table (later, `dims()` below includes resolving the touches)
            step("(shared) contact_touches .cache()", ctx.contact_touches)
        data_end = step("data_end() (6 max() queries)", ctx.data_end)
        cal = Calendar(ctx.settings.week_start, ctx.settings.fiscal_year_start_month)
        b = _Builder(ctx, query, entity, events, "pass", common.START, common.END, cal)
        # cohort(): the same expressions as _Builder.cohort, each step materialised
        ev = events
        first_stage = ev.filter(ev.stage == query.stages[0])
        entry = first_stage.group_by("entity").aggregate(t_1=first_stage.ts.min())
        entry = entry.filter((entry.t_1 >= b.lo) & (entry.t_1 < b.hi))
        cur = entry.mutate(deadline=entry.t_1 + ibis.interval(days=query.window_days))
        kept["cur"] = step("entry: first lead per contact, in range", lambda: cur.cache())
        for k in range(2, len(query.stages) + 1):
            kept["cur"] = step(
                f"_step {k}: t_{k} ({query.stages[k - 1]} or later, in window)",
                lambda k=k: b._step(kept["cur"], k).cache(),
            )
        dims = step("dims(): channel of the first touch at entry", lambda: b.dims().cache())
        joined = kept["cur"].join(dims, "entity")
        bucket = bucket_expr(joined.t_1, query.grain, cal, common.START)
        table = b._long(joined, lambda k: bucket, lambda k: joined[f"t_{k}"].notnull())
        df = step("_long: per cohort x channel x stage aggregate", table.execute)
        buckets = periods(common.START, common.END, query.grain, cal)
        step("_rows (Python)", lambda: _rows(df, query, buckets, data_end))
    finally:
        for table in cached:
            table.release()
        ctx.release()
        wh.close()
    return out


if __name__ == "__main__":
    print(json.dumps(profile(sys.argv[1])))
