"""What the benchmark computes, and how results are normalised and compared."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

# The demo data window: 24 months ending 2026-10-31.
START = dt.date(2024, 11, 1)
END = dt.date(2026, 10, 31)
LOOKBACK_DAYS = 90
BY = ("channel",)

# The core subset computed three ways (revlens, hand-written SQL, pandas).
SUBSET: tuple[str, ...] = (
    "leads",
    "mqls",
    "sqls",
    "opportunities",
    "customers",
    "revenue",
    "spend",
    "cpl",
    "cac",
    "win_rate",
    "sessions",
    "bounce_rate",
)
MONEY = {"revenue", "spend", "cpl", "cac"}
RATES = {"win_rate", "bounce_rate"}

# The funnel computed three ways (revlens run_funnel, hand_funnel.sql, pandas_funnel.py):
# cohort mode, monthly cohorts by channel, over the same range.
FUNNEL_STAGES: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "customer")
WINDOW_DAYS = 90
FUNNEL_FIELDS: tuple[str, ...] = (
    "count",
    "conversion_from_first",
    "conversion_from_previous",
    "dropped",
    "median_days",
    "mean_days",
    "p90_days",
)
EXACT_FIELDS = ("count", "dropped")
# a funnel value's key is ("<stage>.<field>", cohort month, channel)
FUNNEL_KEYS: tuple[str, ...] = tuple(f"{s}.{f}" for s in FUNNEL_STAGES for f in FUNNEL_FIELDS)

Key = tuple[str, dt.date, str | None]  # (kpi, month, channel)
Values = dict[Key, float | None]


def lo_hi() -> tuple[dt.datetime, dt.datetime]:
    """The range as timestamps: [START, END + 1 day)."""
    return (
        dt.datetime.combine(START, dt.time()),
        dt.datetime.combine(END + dt.timedelta(days=1), dt.time()),
    )


def months() -> list[dt.date]:
    out, day = [], START.replace(day=1)
    while day <= END:
        out.append(day)
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _clean(value: Any) -> Any:
    if value is None:
        return None
    try:
        if value != value:  # NaN, pd.NA raise or compare false
            return None
    except (TypeError, ValueError):
        return None
    return value


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date"):
        return value.date()  # type: ignore[no-any-return]
    return dt.date.fromisoformat(str(value)[:10])


def normalise(rows: Iterable[tuple[Any, Any, Any, Any]]) -> Values:
    """(kpi, month, channel, value) rows as {(kpi, month, channel): value or None}."""
    out: Values = {}
    for kpi, month, channel, value in rows:
        ch = _clean(channel)
        v = _clean(value)
        key = (str(kpi), _day(month), None if ch is None else str(ch))
        if key in out:
            raise ValueError(f"duplicate row {key}")
        out[key] = None if v is None else float(v)
    return out


def funnel_values(rows: Iterable[Iterable[Any]]) -> Values:
    """(month, channel, stage, *FUNNEL_FIELDS) rows as {("stage.field", month, channel): v}."""
    out: list[tuple[Any, Any, Any, Any]] = []
    for month, channel, stage, *fields in rows:
        if len(fields) != len(FUNNEL_FIELDS):
            raise ValueError(f"{len(fields)} fields, want {FUNNEL_FIELDS}")
        out += [
            (f"{stage}.{f}", month, channel, v) for f, v in zip(FUNNEL_FIELDS, fields, strict=True)
        ]
    return normalise(out)


def to_records(values: Values) -> list[list[Any]]:
    return [[k, m.isoformat(), c, v] for (k, m, c), v in sorted(values.items(), key=_sort)]


def from_records(records: Iterable[list[Any]]) -> Values:
    return normalise((k, dt.date.fromisoformat(m), c, v) for k, m, c, v in records)


def _sort(item: tuple[Key, Any]) -> tuple[str, dt.date, str]:
    k, m, c = item[0]
    return (k, m, "" if c is None else c)


def same(kpi: str, a: float | None, b: float | None) -> bool:
    """Money to the cent, funnel counts exactly, rates (and every other number) to 1e-9."""
    if a is None or b is None:
        return a is None and b is None
    if kpi.rsplit(".", 1)[-1] in EXACT_FIELDS:
        return a == b
    if kpi in MONEY:
        return abs(a - b) < 0.005 + 1e-12 * max(abs(a), abs(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def compare(results: Mapping[str, Values], kpis: Iterable[str] = SUBSET) -> list[str]:
    """Every (kpi, month, channel) of `kpis` must be present in each result with the same
    value. Returns the differences (empty when all agree)."""
    wanted = set(kpis)
    names = list(results)
    problems: list[str] = []
    keys = sorted(
        {k for r in results.values() for k in r if k[0] in wanted},
        key=lambda k: (k[0], k[1], "" if k[2] is None else k[2]),
    )
    for key in keys:
        vals = {n: results[n].get(key, "missing") for n in names}
        base = vals[names[0]]
        for n in names[1:]:
            v = vals[n]
            if isinstance(base, str) or isinstance(v, str) or not same(key[0], base, v):
                problems.append(
                    f"{key[0]} {key[1]} {key[2]}: "
                    + ", ".join(f"{name}={val}" for name, val in vals.items())
                )
                break
    return problems
