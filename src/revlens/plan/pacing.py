"""Pacing (seed 002: measure revenue against goal all month long, not on its last day): for
every KPI with a target in the period, the period-to-date actual, the linear expectation to
date, a projection of the period end, the probability of reaching the target (Monte Carlo,
seeded) and a status.

Projections: revenue and new customers are lag-aware — each open deal closes won before the
period end with the measured win rate times the probability that a deal of its age closes
within the days left (from the cycle lengths of past won deals), plus the deals that will be
created and won inside the rest of the period at the recent creation rate. Other counts and
sums continue at their recent daily pace (the last 28 days, resampled day by day). Ratios,
snapshots and distributions are compared with their target as they stand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np

from revlens.catalog.spec import Catalog, Direction, Kind, load_catalog
from revlens.compile.context import Context
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Grain, add_months
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError
from revlens.model.warehouse import Reader

RECENT_DAYS = 28
SIMULATIONS = 10_000
ON_TRACK, AT_RISK = 0.7, 0.3  # probability thresholds for the status


@dataclass(frozen=True)
class DealModel:
    """What the pipeline projection needs, measured over the last year."""

    win_rate: float
    won_cycle_days: np.ndarray  # creation -> won close, in days, of past won deals
    won_amounts: np.ndarray
    created_per_day: float
    first_win_share: float  # share of won deals that are an account's first win


def month_of(text: str | None, fallback: dt.date) -> tuple[dt.date, dt.date]:
    """'2025-03' (or the month of `fallback`) as its first and last day."""
    if not text:
        first = fallback.replace(day=1)
    else:
        try:
            first = dt.date.fromisoformat(text.strip() + "-01")
        except ValueError:
            raise RevlensError(
                "--period takes a month such as 2025-03",
                value=text,
                code="RL765",
                fix="e.g. --period 2025-03 (default: the month of the newest data)",
            ) from None
    return first, add_months(first, 1) - dt.timedelta(days=1)


def pacing_rows(
    wh: Reader,
    period: str | None = None,
    *,
    as_of: dt.date | None = None,
    catalog: Catalog | None = None,
    seed: int = 7,
    simulations: int = SIMULATIONS,
) -> list[dict[str, Any]]:
    """One row per KPI with a whole-period target in the month `period` (default: the month
    of the newest data), as of `as_of` (default: the newest data, capped at the month end)."""
    catalog = catalog or load_catalog(measures=set(MEASURES))
    ctx = Context(wh)
    newest = ctx.data_end()
    start, end = month_of(period, newest)
    today = min(as_of or newest, end)
    t = ctx.table("targets")
    found = (
        t.filter((t.period_start == start) & (t.period_end == end) & t.dimension.isnull())
        .select("kpi", "target")
        .order_by("kpi")
        .to_pyarrow()
        .to_pylist()
    )
    targets = [(r["kpi"], float(r["target"])) for r in found if r["kpi"] in catalog.kpis]
    if not targets or today < start:
        return []
    ids = tuple(k for k, _ in targets)
    actual = {
        r["kpi"]: r["value"]
        for r in run_kpis(wh, KpiQuery(kpis=ids, start=start, end=today), catalog).rows
    }
    daily = _recent_daily(wh, ids, today, catalog)
    deals = _deal_model(ctx, today) if {"revenue", "customers"} & set(ids) else None
    remaining = (end - today).days
    elapsed = (today - start).days + 1
    total = (end - start).days + 1
    rng = np.random.default_rng(seed)
    rows = []
    for kpi, target in targets:
        spec = catalog.get(kpi)
        value = actual.get(kpi)
        additive = spec.kind in (Kind.count, Kind.sum)
        row: dict[str, Any] = {
            "kpi": kpi,
            "period_start": start,
            "period_end": end,
            "as_of": today,
            "actual": value,
            "target": target,
            "expected_to_date": target * elapsed / total if additive else None,
        }
        if additive and value is not None:
            if kpi in ("revenue", "customers") and deals is not None:
                sims = _pipeline_sims(ctx, deals, today, end, kpi, rng, simulations)
                row["method"] = "pipeline"
            else:
                sims = _pace_sims(daily.get(kpi, np.zeros(0)), remaining, rng, simulations)
                row["method"] = "recent pace"
            finals = value + sims
            row["projected"] = float(finals.mean())
            if spec.direction is Direction.up:
                hit = finals >= target
            elif spec.direction is Direction.down:
                hit = finals <= target
            else:  # neither more nor less is better (spend): landing within 10 % of plan
                hit = np.abs(finals - target) <= 0.1 * abs(target)
            row["probability"] = float(hit.mean())
            row["status"] = _status_from_probability(row["probability"])
        else:
            row["method"] = "as it stands"
            row["projected"] = value
            row["probability"] = None
            row["status"] = _status_from_attainment(value, target, spec.direction)
        rows.append(row)
    ctx.release()
    return rows


def _status_from_probability(p: float) -> str:
    return "on_track" if p >= ON_TRACK else ("at_risk" if p >= AT_RISK else "off_track")


def _status_from_attainment(value: float | None, target: float, direction: Direction) -> str:
    if value is None or target == 0:
        return "off_track"
    if direction is Direction.none:
        gap = abs(value / target - 1)
        return "on_track" if gap <= 0.1 else ("at_risk" if gap <= 0.2 else "off_track")
    attainment = (
        value / target
        if direction is not Direction.down
        else target / value
        if value
        else float("inf")
    )
    return "on_track" if attainment >= 1 else ("at_risk" if attainment >= 0.9 else "off_track")


def _recent_daily(
    wh: Reader, ids: tuple[str, ...], today: dt.date, catalog: Catalog
) -> dict[str, np.ndarray]:
    """Each additive KPI's daily values over the last RECENT_DAYS days."""
    additive = tuple(k for k in ids if catalog.get(k).kind in (Kind.count, Kind.sum))
    if not additive:
        return {}
    rows = run_kpis(
        wh,
        KpiQuery(
            kpis=additive,
            start=today - dt.timedelta(days=RECENT_DAYS - 1),
            end=today,
            grain=Grain.day,
        ),
        catalog,
    ).rows
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r["kpi"], []).append(r["value"] or 0.0)
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def _pace_sims(daily: np.ndarray, remaining: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """The rest of the period as days drawn from the recent days (bootstrap)."""
    if remaining <= 0 or daily.size == 0:
        return np.zeros(n)
    draws = rng.choice(daily, size=(n, remaining), replace=True)
    return np.asarray(draws.sum(axis=1), dtype=float)


def _deal_model(ctx: Context, today: dt.date) -> DealModel:
    """Win rate, cycle lengths and amounts of deals closed in the year before `today`, and
    the recent creation rate of deals."""
    o = ctx.money(ctx.table("opportunities"), amount="amount", date="created_at")
    hi = ibis.timestamp(dt.datetime.combine(today + dt.timedelta(days=1), dt.time()))
    lo = ibis.timestamp(dt.datetime.combine(today - dt.timedelta(days=364), dt.time()))
    closed = o.filter(o.is_won.notnull() & (o.closed_at >= lo) & (o.closed_at < hi))
    table = closed.select(
        won=closed.is_won,
        amount=closed.amount_rc,
        days=(closed.closed_at.epoch_seconds() - closed.created_at.epoch_seconds()) / 86400,
        customer=ibis.coalesce(closed.account_id, closed.contact_id, closed.opportunity_id),
        closed_at=closed.closed_at,
    ).to_pandas()
    won = table[table["won"]]
    recent_lo = ibis.timestamp(dt.datetime.combine(today - dt.timedelta(days=89), dt.time()))
    created = int(o.filter((o.created_at >= recent_lo) & (o.created_at < hi)).count().execute())
    first_wins = _first_win_share(ctx, today)
    return DealModel(
        win_rate=float(len(won) / len(table)) if len(table) else 0.0,
        won_cycle_days=won["days"].to_numpy(dtype=float),
        won_amounts=won["amount"].to_numpy(dtype=float),
        created_per_day=created / 90.0,
        first_win_share=first_wins,
    )


def _first_win_share(ctx: Context, today: dt.date) -> float:
    """Of the deals won in the last year, the share that were their customer's first win."""
    o = ctx.table("opportunities")
    w = o.filter(o.is_won.fill_null(False) & o.closed_at.notnull())
    w = w.mutate(customer=ibis.coalesce(w.account_id, w.contact_id, w.opportunity_id))
    w = w.mutate(first=w.closed_at.min().over(group_by=w.customer))
    lo = ibis.timestamp(dt.datetime.combine(today - dt.timedelta(days=364), dt.time()))
    hi = ibis.timestamp(dt.datetime.combine(today + dt.timedelta(days=1), dt.time()))
    recent = w.filter((w.closed_at >= lo) & (w.closed_at < hi))
    total = int(recent.count().execute())
    firsts = int(recent.filter(recent.closed_at == recent.first).count().execute())
    return firsts / total if total else 1.0


def close_probability(cycle_days: np.ndarray, age: np.ndarray, remaining: float) -> np.ndarray:
    """P(a won deal of age `age` closes within `remaining` days | it is still open), from the
    empirical distribution of won cycle lengths: (F(a + r) - F(a)) / (1 - F(a))."""
    if cycle_days.size == 0:
        return np.zeros_like(age, dtype=float)
    ordered = np.sort(cycle_days)

    def cdf(x: np.ndarray) -> np.ndarray:
        return np.searchsorted(ordered, x, side="right") / ordered.size

    survive = 1.0 - cdf(age)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (cdf(age + remaining) - cdf(age)) / survive
    return np.where(survive > 0, p, 0.0)


def _pipeline_sims(
    ctx: Context,
    deals: DealModel,
    today: dt.date,
    end: dt.date,
    kpi: str,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Simulated revenue (or new customers) still to close this period: open deals won by
    their own probability, plus new deals created and won before the period end."""
    remaining = float((end - today).days)
    now = dt.datetime.combine(today + dt.timedelta(days=1), dt.time())
    o = ctx.money(ctx.table("opportunities"), amount="amount", date="created_at")
    open_deals = (
        o.filter(o.closed_at.isnull() & (o.created_at < ibis.timestamp(now)))
        .select(
            amount=o.amount_rc,
            age=(ibis.timestamp(now).epoch_seconds() - o.created_at.epoch_seconds()) / 86400,
        )
        .to_pandas()
    )
    ages = open_deals["age"].to_numpy(dtype=float)
    p_open = deals.win_rate * close_probability(deals.won_cycle_days, ages, remaining)
    wins = rng.random((n, ages.size)) < p_open
    unit = (
        open_deals["amount"].to_numpy(dtype=float)
        if kpi == "revenue"
        else np.full(ages.size, deals.first_win_share)
    )
    from_open = wins.astype(float) @ unit
    # new deals: created uniformly over the days left, each won in time with the same model
    if remaining > 0 and deals.won_cycle_days.size:
        starts = np.linspace(0.0, remaining, 50)
        in_time = np.mean([(deals.won_cycle_days <= remaining - s).mean() for s in starts])
        lam = deals.created_per_day * remaining * deals.win_rate * in_time
        counts = rng.poisson(lam, size=n)
        if kpi == "revenue" and deals.won_amounts.size:
            new = np.array(
                [rng.choice(deals.won_amounts, size=c).sum() if c else 0.0 for c in counts]
            )
        else:
            new = counts * deals.first_win_share
    else:
        new = np.zeros(n)
    return np.asarray(from_open + new, dtype=float)
