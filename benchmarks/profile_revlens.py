"""Where the time (and memory) of a revlens KPI query goes: the shared stage dates, the one
batched query of the first-touch measures (`_Evaluator.prefetch`), the one scan per family
of variant measures (`_Evaluator.prefetch_families`: the sessions), then each other measure's
aggregate, each timed on its own through the same Ibis expressions `run_kpis` builds, by
month x channel over the benchmark range.

    python benchmarks/profile_revlens.py WAREHOUSE.duckdb          # the core subset
    python benchmarks/profile_revlens.py WAREHOUSE.duckdb --all    # every measure of the catalogue

Prints one line per step (seconds, the process's resident memory after the step and its
peak during the step) and, as the last line, a JSON object {step: seconds}.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import common  # noqa: E402

# measure -> the subset KPIs that use it
SUBSET_MEASURES = {
    "leads": "leads, cpl",
    "mqls": "mqls",
    "sqls": "sqls",
    "opportunities": "opportunities",
    "customers": "customers, cac",
    "revenue": "revenue",
    "won_deals": "win_rate",
    "closed_deals": "win_rate",
    "spend": "spend, cpl, cac",
    "sessions": "sessions, bounce_rate",
    "bounced_sessions": "bounce_rate",
}


def _memory() -> tuple[float, float]:
    """(resident, peak resident since the last reset) in MB, from /proc/self/status."""
    rss = hwm = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)


def catalogue_measures(ev: Any, catalog: Any) -> dict[str, dict[str, float]]:
    """Every measure (with its KPI's params) that the whole catalogue needs."""
    from revlens.catalog.spec import Kind
    from revlens.compile.measures import MEASURES
    from revlens.compile.query import _names

    out: dict[str, dict[str, float]] = {}

    def need(name: str, params: dict[str, float]) -> None:
        measure_name, spec = ev.resolve(name)
        if measure_name:
            out.setdefault(measure_name, {**(spec.params if spec else {}), **params})
            return
        f = spec.formula
        if spec.kind is Kind.ratio:
            for n in (f.numerator, f.denominator):
                need(n, spec.params)
        elif spec.kind is Kind.derived:
            for n in _names(f.expression):
                need(n, spec.params)
        elif f.measure in MEASURES:
            out.setdefault(f.measure, {**spec.params, **params})

    for kpi in catalog.kpis:
        need(kpi, {})
    return out


def profile(db: str, everything: bool = False) -> dict[str, float]:
    from revlens.catalog.spec import load_catalog
    from revlens.compile.measures import MEASURES
    from revlens.compile.periods import Grain
    from revlens.compile.query import KpiQuery, _Evaluator, query_context
    from revlens.model.warehouse import Warehouse

    wh = Warehouse.open(db)
    catalog = load_catalog(measures=set(MEASURES))
    query = KpiQuery(
        kpis=tuple(catalog.kpis) if everything else common.SUBSET,
        start=common.START,
        end=common.END,
        grain=Grain.month,
        by=common.BY,
        lookback_days=common.LOOKBACK_DAYS,
    )
    ctx = query_context(wh, query)
    ev = _Evaluator(ctx, catalog, query, common.START, common.END)
    out: dict[str, float] = {}

    def step(name: str, fn: Any) -> None:
        _reset_peak()
        t0 = time.perf_counter()
        fn()
        out[name] = time.perf_counter() - t0
        rss, peak = _memory()
        print(f"{name:<40} {out[name]:8.2f} s  rss {rss:7.0f} MB  peak {peak:7.0f} MB", flush=True)

    if everything:
        steps: dict[str, tuple[str, dict[str, float]]] = {
            name: (name, params) for name, params in catalogue_measures(ev, catalog).items()
        }
    else:
        steps = {f"{n} [{kpis}]": (n, {}) for n, kpis in SUBSET_MEASURES.items()}
    try:
        step("(shared) stage_dates .cache()", ctx.stage_dates)
        specs = [catalog.get(k) for k in query.kpis]
        step("(batch)", lambda: ev.prefetch(specs))
        batched = [name for name, _ in ev.measures]
        label = f"(batch) first touch of {len(batched)} measures"
        if not everything:
            label = f"(batch) first touch: {', '.join(batched)}"
        out[label] = out.pop("(batch)")
        step("(families)", lambda: ev.prefetch_families(specs))
        families = [name for name, _ in ev.measures if name not in batched]
        out[f"(families) one scan: {', '.join(families)}"] = out.pop("(families)")
        for label, (name, params) in steps.items():
            if name not in batched and name not in families:
                step(label, lambda n=name, p=params: ev.measure(n, p))
    finally:
        ctx.release()
        wh.close()
    return out


if __name__ == "__main__":
    print(json.dumps(profile(sys.argv[1], everything="--all" in sys.argv)))
