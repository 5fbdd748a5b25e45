"""Hand-built journeys for the funnel tasks: the cases the demo data never produces (no lead
event, a touch only through identities, no touch at all, touch ties, a stage exactly at the
window's end, deals as the only opportunity and customer dates, stage events before the
entry). revlens (`run_funnel`), hand_funnel.sql and pandas_funnel.py must agree on every
value, give the hand-counted cells below, and match the pure-Python reference of
tests/funnel/test_engine.py on its JOURNEYS. Part of `run.py --quick` when a funnel task
is selected; on its own:

    python benchmarks/funnel_cases.py
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for p in (HERE.parent / "tests" / "funnel", HERE.parent / "tests", HERE.parent / "src", HERE):
    sys.path.insert(0, str(p))

import common  # noqa: E402

D = dt.date
LO, HI = dt.datetime(2024, 1, 1), dt.datetime(2024, 4, 1)  # January .. March 2024

# (cohort month, channel) -> counts of lead, mql, sql, opportunity, customer, by hand
EXPECTED: dict[tuple[dt.date, str | None], list[int]] = {
    # uma: paid_search (then email) before her lead, display after it: paid_search
    (D(2024, 1, 1), "paid_search"): [1, 1, 0, 0, 0],
    # edge: a touch exactly 90 days before the entry counts; mql exactly at the deadline
    (D(2024, 1, 1), "events"): [1, 1, 0, 0, 0],
    # edge2: two touches at the same instant: the smaller touchpoint id (partners)
    (D(2024, 1, 1), "partners"): [1, 0, 0, 0, 0],
    # vic: his own touch is too old; an anonymous one stitched through identities counts
    (D(2024, 1, 1), "paid_social"): [1, 0, 0, 0, 0],
    # xia: a touch at the very instant of the entry
    (D(2024, 1, 1), "referral"): [1, 0, 0, 0, 0],
    # a, b, c (tests' JOURNEYS) and late (deal created in the window, won after it)
    (D(2024, 1, 1), None): [4, 4, 3, 1, 0],
    # d, e, f (JOURNEYS), nolead (no lead event: created_at; a won deal), rep (a customer
    # event before the entry, repeated opportunities)
    (D(2024, 2, 1), None): [5, 4, 3, 2, 1],
    # g, h, i (JOURNEYS) and lost (a lost deal passes sql as opportunity)
    (D(2024, 3, 1), None): [4, 3, 3, 1, 0],
}


def people() -> dict[str, list[Any]]:
    from test_engine import JOURNEYS

    from journeys import deal, stage, touch

    out = dict(JOURNEYS)
    out.update(
        {
            "uma": [
                touch("paid_search", "2023-12-01"),
                touch("email", "2024-01-03"),
                stage("lead", "2024-01-05"),
                touch("display", "2024-01-06"),
                stage("mql", "2024-01-10"),
            ],
            "vic": [touch("social", "2023-09-01"), stage("lead", "2024-01-05")],
            "xia": [stage("lead", "2024-01-07T09:00"), touch("referral", "2024-01-07T09:00")],
            "edge": [
                touch("events", "2023-10-08T12:00"),
                stage("lead", "2024-01-06T12:00"),
                stage("mql", "2024-04-05T12:00"),
            ],
            "edge2": [
                touch("partners", "2024-01-01"),
                touch("direct", "2024-01-01"),
                stage("lead", "2024-01-02"),
            ],
            "nolead": [
                stage("mql", "2024-02-03"),
                deal(100, "2024-02-10", closed="2024-03-01", won=True),
            ],
            "late": [
                stage("lead", "2024-01-10"),
                deal(100, "2024-01-20", closed="2024-04-10", won=True),
            ],
            "lost": [
                stage("lead", "2024-03-01"),
                stage("mql", "2024-03-02"),
                deal(10, "2024-03-05", closed="2024-03-20", won=False),
            ],
            "rep": [
                stage("customer", "2023-12-01"),
                stage("lead", "2024-02-02"),
                stage("sql", "2024-02-03"),
                stage("opportunity", "2024-02-04"),
                stage("opportunity", "2024-02-05"),
            ],
        }
    )
    return out


def _three_ways(wh: Any) -> dict[str, common.Values]:
    import pandas_funnel

    from revlens.compile.periods import Grain
    from revlens.funnel.engine import FunnelQuery, run_funnel

    query = FunnelQuery(
        stages=common.FUNNEL_STAGES,
        mode="cohort",
        start=LO.date(),
        end=HI.date() - dt.timedelta(days=1),
        grain=Grain.month,
        by=common.BY,
        window_days=common.WINDOW_DAYS,
        lookback_days=common.LOOKBACK_DAYS,
    )
    result = run_funnel(wh, query)
    params = {
        "lo": LO,
        "hi": HI,
        "window_days": common.WINDOW_DAYS,
        "lookback_days": common.LOOKBACK_DAYS,
    }
    sql = (HERE / "hand_funnel.sql").read_text(encoding="utf-8")
    df = pandas_funnel.compute(wh.con, LO, HI, common.WINDOW_DAYS, common.LOOKBACK_DAYS)
    return {
        "hand_sql_funnel": common.funnel_values(wh.con.execute(sql, params).fetchall()),
        "revlens_funnel": common.funnel_values(
            (r["cohort"], r["channel"], r["stage"], *(r[f] for f in common.FUNNEL_FIELDS))
            for r in result.rows
        ),
        "pandas_funnel": common.funnel_values(df.itertuples(index=False)),
    }


def check() -> list[str]:
    """The problems found (empty when everything holds)."""
    from test_engine import JOURNEYS, reference

    from journeys import journeys_for, load_rows, ts
    from revlens.model.warehouse import Warehouse

    problems: list[str] = []
    wh = Warehouse.open(":memory:", create=True)
    try:
        journeys_for(wh, people())
        load_rows(
            wh,
            {
                "identities": [{"anonymous_id": "anon-1", "contact_id": "vic"}],
                "touchpoints": [
                    {
                        "touchpoint_id": "anon-t1",
                        "anonymous_id": "anon-1",
                        "channel": "paid_social",
                        "ts": ts("2023-12-20"),
                    }
                ],
            },
        )
        results = _three_ways(wh)
    finally:
        wh.close()
    problems += common.compare(results, common.FUNNEL_KEYS)
    for name, values in results.items():
        for (month, channel), want in EXPECTED.items():
            got = [values.get((f"{s}.count", month, channel)) for s in common.FUNNEL_STAGES]
            if got != want:
                problems.append(f"{name}: {month} {channel}: counts {got}, by hand {want}")
    # the tests' reference (no breakdown) on its own journeys, against the hand SQL
    months = [(D(2024, 1, 1), D(2024, 1, 31)), (D(2024, 2, 1), D(2024, 2, 29))]
    months.append((D(2024, 3, 1), D(2024, 3, 31)))
    want_ref = reference(JOURNEYS, common.FUNNEL_STAGES, months, common.WINDOW_DAYS, "pass")
    wh = Warehouse.open(":memory:", create=True)
    try:
        journeys_for(wh, JOURNEYS)
        hand = _three_ways(wh)["hand_sql_funnel"]
    finally:
        wh.close()
    for (month, stage), (n, _) in want_ref.items():
        got_n = sum(v or 0 for (k, m, _), v in hand.items() if k == f"{stage}.count" and m == month)
        if got_n != n:
            problems.append(f"hand SQL vs the tests' reference: {month} {stage}: {got_n} vs {n}")
    return problems


if __name__ == "__main__":
    found = check()
    print("\n".join(found) or "funnel cases: all agree and match the hand counts")
    sys.exit(1 if found else 0)
