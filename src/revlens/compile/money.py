"""Money in the reporting currency: every money column not already in it is multiplied by the
fx_rates rate of its currency on its date (the latest rate on or before the date, else the
currency's earliest rate), as one Ibis expression that runs in the engine.

The rates are few (a currency a day at most), so they are read once per query and spread to
one row per currency and day between each currency's first and last rate; the conversion is
then an equality join, which every engine runs well (Spark has no as-of join)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis


@dataclass(frozen=True)
class Rates:
    """Daily rates (fx_currency, fx_date, fx_rate) and each currency's first and last rate
    (b_currency, b_first, b_first_rate, b_last_rate), as engine tables; None when empty."""

    daily: Any
    bounds: Any


def daily_rates(fx_rates: Any) -> Rates | None:
    """The fx_rates table spread to one rate per currency and day (carried forward)."""
    rows = fx_rates.select("currency", "date", "rate").to_pyarrow().to_pylist()
    if not rows:
        return None
    by_currency: dict[str, list[tuple[dt.date, float]]] = {}
    for r in rows:
        by_currency.setdefault(r["currency"], []).append((r["date"], float(r["rate"])))
    cur: list[str] = []
    day: list[dt.date] = []
    rate: list[float] = []
    bounds: dict[str, list[Any]] = {
        k: [] for k in ("b_currency", "b_first", "b_first_rate", "b_last_rate")
    }
    for currency, points in by_currency.items():
        points.sort()
        for (start, value), (stop, _) in zip(
            points, [*points[1:], (points[-1][0] + dt.timedelta(days=1), 0)], strict=True
        ):
            n = (stop - start).days
            cur += [currency] * n
            day += [start + dt.timedelta(days=i) for i in range(n)]
            rate += [value] * n
        bounds["b_currency"].append(currency)
        bounds["b_first"].append(points[0][0])
        bounds["b_first_rate"].append(points[0][1])
        bounds["b_last_rate"].append(points[-1][1])
    daily = ibis.memtable(
        {"fx_currency": cur, "fx_date": day, "fx_rate": rate},
        schema={"fx_currency": "string", "fx_date": "date", "fx_rate": "float64"},
    )
    edges = ibis.memtable(
        bounds,
        schema={
            "b_currency": "string",
            "b_first": "date",
            "b_first_rate": "float64",
            "b_last_rate": "float64",
        },
    )
    return Rates(daily, edges)


def in_reporting_currency(
    rows: Any,
    rates: Rates | None,
    *,
    amount: str,
    date: str,
    reporting_currency: str,
    out: str = "amount_rc",
) -> Any:
    """`rows` with a column `out`: `amount` converted with the rate for (currency, date)."""
    same = ibis.cases((rows.currency == reporting_currency, 1.0), else_=None)
    if rates is None:
        return rows.mutate(**{out: rows[amount] * same})
    keyed = rows.mutate(__fx_date=rows[date].cast("date"))
    d, b = rates.daily, rates.bounds
    joined = keyed.left_join(
        d, (keyed.currency == d.fx_currency) & (keyed.__fx_date == d.fx_date)
    ).left_join(b, keyed.currency == b.b_currency)
    outside = ibis.cases(
        (joined.__fx_date < joined.b_first, joined.b_first_rate), else_=joined.b_last_rate
    )
    rate = ibis.cases((joined.currency == reporting_currency, 1.0), else_=None).coalesce(
        joined.fx_rate, outside
    )
    result = joined.mutate(**{out: joined[amount] * rate})
    return result.drop(
        "__fx_date",
        "fx_currency",
        "fx_date",
        "fx_rate",
        "b_currency",
        "b_first",
        "b_first_rate",
        "b_last_rate",
    )
