"""Money in the reporting currency: every money column not already in it is multiplied by the
fx_rates rate of its currency on its date (the latest rate on or before the date, else the
currency's earliest rate), as one Ibis expression that runs in the engine."""

from __future__ import annotations

from typing import Any

import ibis


def in_reporting_currency(
    rows: Any,
    fx_rates: Any,
    *,
    amount: str,
    date: str,
    reporting_currency: str,
    out: str = "amount_rc",
) -> Any:
    """`rows` with a column `out`: `amount` converted with the rate for (currency, date)."""
    keyed = rows.mutate(__fx_date=rows[date].cast("date"))
    rates = fx_rates.select(fx_currency="currency", fx_date="date", fx_rate="rate")
    asof = keyed.asof_join(
        rates, on=keyed.__fx_date >= rates.fx_date, predicates=[keyed.currency == rates.fx_currency]
    )
    earliest = (
        fx_rates.group_by("currency")
        .aggregate(first_date=fx_rates.date.min())
        .join(fx_rates, ["currency"])
        .filter(lambda t: t.date == t.first_date)
        .select(e_currency="currency", e_rate="rate")
    )
    joined = asof.left_join(earliest, asof.currency == earliest.e_currency)
    rate = ibis.cases((joined.currency == reporting_currency, 1.0), else_=None).coalesce(
        joined.fx_rate, joined.e_rate
    )
    result = joined.mutate(**{out: joined[amount] * rate})
    return result.drop("__fx_date", "fx_currency", "fx_date", "fx_rate", "e_currency", "e_rate")
