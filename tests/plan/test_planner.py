"""The funnel planner: seed 004's worked example exactly, round trips, scenarios, spreads,
and rates measured from history (hand-built journeys and the demo's documented truth)."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from journeys import journeys_for, session, stage
from revlens.demo import truth as T
from revlens.demo.generate import load_demo
from revlens.errors import RevlensError
from revlens.model.warehouse import Warehouse
from revlens.plan.history import from_history
from revlens.plan.planner import (
    Rate,
    apply_scenario,
    forward,
    parse_rates,
    reverse,
    spread_monthly,
    wilson,
)

SEED_004 = "visit_to_lead=1.5%,lead_to_mql=0.2,mql_to_sql=0.2,sql_to_opportunity=0.4,win_rate=0.5"
Run = Callable[..., subprocess.CompletedProcess[str]]


def rates_of(text: str) -> dict[str, Rate]:
    return {k: Rate(v) for k, v in parse_rates(text).items()}


def counts(plan_stages: list[dict[str, object]]) -> dict[str, float]:
    return {str(r["stage"]): float(r["count"]) for r in plan_stages}  # type: ignore[arg-type]


def test_seed_004_reverse_plan_reproduces_exactly() -> None:
    plan = reverse(10_000_000, 1_100_000, rates_of(SEED_004), per="month")
    got = counts(plan.stages)
    # KPIS.md section I: 0.7576 customers -> 1.515 -> 3.788 -> 18.94 -> 94.70 -> 6,313.13
    assert round(got["customers"], 4) == 0.7576
    assert round(got["opportunities"], 3) == 1.515
    assert round(got["sqls"], 3) == 3.788
    assert round(got["mqls"], 2) == 18.94
    assert round(got["leads"], 2) == 94.70
    assert round(got["visits"], 2) == 6313.13
    assert got["customers"] == pytest.approx(10_000_000 / 1_100_000 / 12, rel=1e-15)


def test_seed_004_forward_plan_reproduces_exactly() -> None:
    plan = forward(6000, rates_of(SEED_004), average_deal_size=1_100_000)
    got = counts(plan.stages)
    expected = {
        "visits": 6000,
        "leads": 90,
        "mqls": 18,
        "sqls": 3.6,
        "opportunities": 1.44,
        "customers": 0.72,
    }
    assert got == pytest.approx(expected, rel=1e-12)
    assert plan.revenue == pytest.approx(0.72 * 1_100_000, rel=1e-12)


@pytest.mark.parametrize("per", ["month", "quarter", "year"])
def test_forward_of_the_reverse_gives_the_goal_back(per: str) -> None:
    rates = rates_of(SEED_004)
    back = reverse(10_000_000, 1_100_000, rates, per=per)
    visits = counts(back.stages)["visits"]
    again = forward(visits, rates, average_deal_size=1_100_000, per=per)
    periods = {"month": 12, "quarter": 4, "year": 1}[per]
    assert again.revenue == pytest.approx(10_000_000 / periods, rel=1e-12)
    assert counts(again.stages) == pytest.approx(counts(back.stages), rel=1e-12)


def test_scenario_changes_one_rate() -> None:
    rates = rates_of(SEED_004)
    changed = apply_scenario(rates, "mql_to_sql=+0.05,win_rate=0.6,lead_to_mql=*1.5")
    assert changed["mql_to_sql"].value == pytest.approx(0.25)
    assert changed["win_rate"].value == 0.6
    assert changed["lead_to_mql"].value == pytest.approx(0.3)
    assert changed["visit_to_lead"] == rates["visit_to_lead"]
    plan = reverse(10_000_000, 1_100_000, changed)
    assert counts(plan.stages)["visits"] == pytest.approx(
        10_000_000 / 1_100_000 / 12 / 0.6 / 0.4 / 0.25 / 0.3 / 0.015, rel=1e-12
    )


def test_bad_rates_are_refused_with_the_fix() -> None:
    with pytest.raises(RevlensError, match="unknown rate 'mql_to_sqll'") as err:
        parse_rates("mql_to_sqll=0.2")
    assert err.value.fix == "did you mean 'mql_to_sql'?"
    with pytest.raises(RevlensError, match="missing rates: win_rate"):
        reverse(
            1,
            1,
            rates_of("visit_to_lead=0.1,lead_to_mql=0.2,mql_to_sql=0.2,sql_to_opportunity=0.4"),
        )
    with pytest.raises(RevlensError, match="at most 1"):
        forward(1, rates_of(SEED_004.replace("win_rate=0.5", "win_rate=50")))


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson(5, 10)
    # z = 1.96: centre 0.5, half-width 1.96*sqrt(0.025 + 0.0096)/1.384 = 0.2634
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson(0, 0) == (0.0, 1.0)


def test_monthly_spread_shifts_stages_back_by_their_lags() -> None:
    plan = reverse(12_000_000, 1_000_000, rates_of(SEED_004))
    lags = {"leads": 0, "mqls": 20.0, "sqls": 15.0, "opportunities": 10.0, "customers": 40.0}
    spread_monthly(plan, dt.date(2027, 7, 1), 3, lags)
    by = {(r["stage"], r["for_customers_in"]): r for r in plan.monthly}
    july = dt.date(2027, 7, 1)
    assert by[("customers", july)]["month"] == july
    assert by[("opportunities", july)]["month"] == dt.date(2027, 6, 1)  # 40 d ~ 1 month
    assert by[("sqls", july)]["month"] == dt.date(2027, 5, 1)  # 50 d -> 2 months
    assert by[("leads", july)]["month"] == dt.date(2027, 4, 1)  # 85 d -> 3 months
    assert by[("customers", july)]["count"] == pytest.approx(1.0)


def test_history_rates_from_hand_built_cohorts() -> None:
    wh = Warehouse.open(":memory:", create=True)
    people = {}
    # 10 leads in June 2025; 4 become MQL (2 days later); 2 of those SQL; 1 opportunity + won
    for i in range(10):
        events = [stage("lead", "2025-06-10"), session("web", "2025-06-10")]
        if i < 4:
            events.append(stage("mql", "2025-06-12"))
        if i < 2:
            events.append(stage("sql", "2025-06-22"))
        if i < 1:
            events += [stage("opportunity", "2025-07-01"), stage("customer", "2025-07-31")]
        people[f"p{i}"] = events
    people["late"] = [stage("lead", "2026-06-01")]  # keeps the newest data in June 2026
    journeys_for(wh, people)
    hist = from_history(wh, window_days=365, conversion_days=180)
    rates = {k: (v.value, v.n) for k, v in hist.rates.items()}
    assert rates["lead_to_mql"] == (0.4, 10)
    assert rates["mql_to_sql"] == (0.5, 4)
    assert rates["sql_to_opportunity"] == (0.5, 2)
    assert rates["win_rate"] == (1.0, 1)
    assert rates["visit_to_lead"] == (1.0, 10)
    assert hist.lag_days == {
        "mqls": 2.0,
        "sqls": 10.0,
        "opportunities": 9.0,
        "customers": 30.0,
        "leads": 0.0,
    }


@pytest.mark.slow
def test_history_on_the_demo_recovers_the_documented_rates() -> None:
    wh = Warehouse.open(":memory:", create=True)
    load_demo(wh, contacts=20_000, seed=42)
    hist = from_history(wh, window_days=365, conversion_days=180)
    shares = T.lead_shares()
    chans = T.CHANNELS
    mql = sum(shares[c.name] * c.lead_to_mql for c in chans)
    sql = sum(shares[c.name] * c.lead_to_mql * c.mql_to_sql for c in chans)
    opp = sum(shares[c.name] * c.lead_to_mql * c.mql_to_sql * c.sql_to_opportunity for c in chans)
    won = sum(shares[c.name] * c.lead_to_customer for c in chans)
    truth = {
        "lead_to_mql": mql,
        "mql_to_sql": sql / mql,
        "sql_to_opportunity": opp / sql,
        "win_rate": won / opp,
    }
    for name, expected in truth.items():
        rate = hist.rates[name]
        assert rate.n is not None and rate.n > 100
        se = math.sqrt(expected * (1 - expected) / rate.n)
        assert abs(rate.value - expected) < 4 * se, (name, rate.value, expected, rate.n)


def test_plan_cli_json_and_save_targets(tmp_path: Path, revlens: Run) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse.open(path, create=True).close()
    done = revlens(
        "plan",
        "--revenue-goal",
        "10000000",
        "--average-deal-size",
        "1100000",
        "--rates",
        SEED_004,
        "--start",
        "2027-01",
        "--save-targets",
        "--format",
        "json",
        warehouse=path,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["targets_saved"] == 12 * 6
    assert [r["stage"] for r in body["stages"]] == [
        "visits",
        "leads",
        "mqls",
        "sqls",
        "opportunities",
        "customers",
    ]
    assert {"stage", "count", "rate"} <= set(body["stages"][0])
    assert len(body["monthly"]) == 12 * 6
    targets = json.loads(
        revlens("targets", "list", "--kpi", "leads", "--format", "json", warehouse=path).stdout
    )
    assert len(targets) == 12
    assert targets[0]["period_start"] == "2027-01-01"
    assert targets[0]["target"] == pytest.approx(
        10_000_000 / 1_100_000 / 12 / 0.5 / 0.4 / 0.2 / 0.2
    )
    bad = revlens("plan", "--visits", "10", warehouse=path)
    assert bad.returncode == 1 and "RL761" in bad.stderr and "Traceback" not in bad.stderr
