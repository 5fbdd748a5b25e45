"""The funnel planner (seed 004): from a revenue goal back to the visits it needs, or from
traffic forward to customers and revenue, with rates given or measured in the warehouse,
spread over months and shifted in time by the measured stage lags."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from revlens.compile.periods import add_months
from revlens.errors import RevlensError, did_you_mean

# Stage volumes in funnel order, and the rate that leads INTO each of them.
STAGES = ("visits", "leads", "mqls", "sqls", "opportunities", "customers")
RATES = ("visit_to_lead", "lead_to_mql", "mql_to_sql", "sql_to_opportunity", "win_rate")
RATE_INTO = dict(zip(STAGES[1:], RATES, strict=True))
# lifecycle stage of each volume (visits are sessions, not a lifecycle stage)
LIFECYCLE = dict(zip(STAGES[1:], ("lead", "mql", "sql", "opportunity", "customer"), strict=True))
PERIODS = {"month": 12, "quarter": 4, "year": 1}
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Rate:
    """A conversion rate, with its confidence interval and sample size when measured."""

    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None


@dataclass
class Plan:
    """Stage volumes per `per` period, the rates used, and monthly rows when lags are known."""

    direction: Literal["reverse", "forward"]
    per: str
    average_deal_size: float | None
    revenue: float | None
    rates: dict[str, Rate]
    stages: list[dict[str, Any]] = field(default_factory=list)
    monthly: list[dict[str, Any]] = field(default_factory=list)
    scenario: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "per": self.per,
            "average_deal_size": self.average_deal_size,
            "revenue": self.revenue,
            "rates": {k: vars(v) for k, v in self.rates.items()},
            "stages": self.stages,
            "monthly": self.monthly,
            "scenario": self.scenario,
        }


def parse_rates(text: str) -> dict[str, float]:
    """'visit_to_lead=0.015,lead_to_mql=0.2' -> {...}; percents like 1.5% are accepted."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in RATES:
            close = did_you_mean(name, RATES)
            raise RevlensError(
                f"unknown rate {name!r}",
                value=name,
                code="RL750",
                fix=f"did you mean {close[0]!r}?" if close else f"use {', '.join(RATES)}",
            )
        out[name] = _number(value, name)
    return out


def _number(text: str, name: str) -> float:
    raw = text.strip()
    try:
        value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        raise RevlensError(
            f"{name} needs a number", value=text, code="RL751", fix=f"e.g. {name}=0.2 or {name}=20%"
        ) from None
    return value


def apply_scenario(rates: dict[str, Rate], text: str) -> dict[str, Rate]:
    """'mql_to_sql=+0.05' adds to a rate, '=0.3' sets it, '*1.1' scales it."""
    out = dict(rates)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, change = part.partition("=")
        name = name.strip()
        if name not in RATES:
            raise RevlensError(
                f"unknown rate {name!r} in the scenario",
                value=name,
                code="RL752",
                fix=f"use {', '.join(RATES)}",
            )
        base = out[name].value
        change = change.strip()
        if change.startswith(("+", "-")):
            new = base + _number(change, name)
        elif change.startswith("*"):
            new = base * _number(change[1:], name)
        else:
            new = _number(change, name)
        out[name] = Rate(new)
    return out


def _check(rates: dict[str, Rate]) -> None:
    missing = [r for r in RATES if r not in rates]
    if missing:
        raise RevlensError(
            f"missing rates: {', '.join(missing)}",
            code="RL753",
            fix="give all five with --rates, or use --from-history",
        )
    for name, rate in rates.items():
        if not 0 < rate.value <= 1:
            raise RevlensError(
                f"{name} must be a rate above 0 and at most 1",
                value=rate.value,
                code="RL754",
                fix=f"e.g. {name}=0.2",
            )


def reverse(
    revenue_goal: float, average_deal_size: float, rates: dict[str, Rate], *, per: str = "month"
) -> Plan:
    """Annual revenue goal -> customers -> opportunities -> SQLs -> MQLs -> leads -> visits,
    per period: each stage is the next one divided by the rate into it."""
    _check(rates)
    if average_deal_size <= 0 or revenue_goal < 0:
        raise RevlensError(
            "the goal must be ≥ 0 and the deal size > 0",
            code="RL755",
            value=f"{revenue_goal} / {average_deal_size}",
            fix="e.g. --revenue-goal 10000000 --average-deal-size 1100000",
        )
    customers = revenue_goal / average_deal_size / PERIODS[_per(per)]
    counts = {"customers": customers}
    for lower, upper in zip(reversed(STAGES[:-1]), reversed(STAGES[1:]), strict=True):
        counts[lower] = counts[upper] / rates[RATE_INTO[upper]].value
    plan = Plan("reverse", per, average_deal_size, revenue_goal / PERIODS[per], rates)
    plan.stages = _rows(counts, rates)
    return plan


def forward(
    visits: float,
    rates: dict[str, Rate],
    *,
    average_deal_size: float | None = None,
    per: str = "month",
) -> Plan:
    """Visits per period -> leads -> ... -> customers (-> revenue with a deal size): each
    stage is the previous one times the rate into it."""
    _check(rates)
    counts = {"visits": visits}
    for lower, upper in pairwise(STAGES):
        counts[upper] = counts[lower] * rates[RATE_INTO[upper]].value
    revenue = counts["customers"] * average_deal_size if average_deal_size else None
    plan = Plan("forward", _per(per), average_deal_size, revenue, rates)
    plan.stages = _rows(counts, rates)
    return plan


def _per(per: str) -> str:
    if per not in PERIODS:
        raise RevlensError(
            "--per must be month, quarter or year", value=per, code="RL756", fix="e.g. --per month"
        )
    return per


def _rows(counts: dict[str, float], rates: dict[str, Rate]) -> list[dict[str, Any]]:
    rows = []
    for stage in STAGES:
        rate = rates.get(RATE_INTO.get(stage, ""))
        rows.append(
            {
                "stage": stage,
                "count": counts[stage],
                "rate": None if rate is None else rate.value,
                "rate_name": RATE_INTO.get(stage),
            }
        )
    return rows


def spread_monthly(plan: Plan, start: dt.date, months: int, lag_days: dict[str, float]) -> None:
    """Monthly rows for `months` months from `start`: the customers needed each month, and
    each earlier stage shifted back by the median lag from it to the customer stage, so the
    plan says when leads are needed, not only how many."""
    per_month = {row["stage"]: row["count"] * PERIODS[plan.per] / 12 for row in plan.stages}
    shift: dict[str, int] = {}
    for i, stage in enumerate(STAGES):
        to_close = sum(lag_days.get(s, 0.0) for s in STAGES[i + 1 :])
        shift[stage] = round(to_close / DAYS_PER_MONTH)
    plan.monthly = []
    first = start.replace(day=1)
    for m in range(months):
        close_month = add_months(first, m)
        for stage in STAGES:
            plan.monthly.append(
                {
                    "month": add_months(close_month, -shift[stage]),
                    "for_customers_in": close_month,
                    "stage": stage,
                    "count": per_month[stage],
                    "lead_months": shift[stage],
                }
            )
    plan.monthly.sort(key=lambda r: (r["month"], STAGES.index(r["stage"])))


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
