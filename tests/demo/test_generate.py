"""The demo data set: deterministic, exactly the canonical schema, unique keys, loads with
zero rejects, and an analysis of it recovers the true parameters of revlens.demo.truth
(rates within 4 binomial standard errors of the truth)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revlens.compile.context import STORED_TOUCHES, Context
from revlens.compile.facts import stitched_touches_current
from revlens.demo import truth as T
from revlens.demo.generate import (
    ARROW_TYPES,
    GLOBAL_TABLES,
    NOT_GENERATED,
    generate,
    load_demo,
    write_parquet,
)
from revlens.model.schema import (
    ACTIVITY_TYPES,
    DEFAULT_STAGES,
    EMAIL_EVENTS,
    TABLES,
    TOUCH_TYPES,
)
from revlens.model.warehouse import REJECTS_TABLE, Warehouse

CONTACTS = 6_000
SEED = 42
Tables = dict[str, pa.Table]


def _concat(chunks: list[Tables]) -> Tables:
    return {t.name: pa.concat_tables([c[t.name] for c in chunks if t.name in c]) for t in TABLES}


@pytest.fixture(scope="module")
def data() -> Tables:
    return _concat(list(generate(CONTACTS, seed=SEED)))


@pytest.fixture(scope="module")
def db(data: Tables) -> duckdb.DuckDBPyConnection:
    """The generated tables, queryable with SQL (not through revlens: an independent view)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, tbl in data.items():
        con.register(name, tbl)
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def _within(measured: float, truth: float, n: int, k: float = 4.0) -> bool:
    """|measured - truth| <= k binomial standard errors of a rate over n trials."""
    return abs(measured - truth) <= k * math.sqrt(truth * (1 - truth) / n)


# -- determinism, schema, keys --------------------------------------------------------------


def test_same_seed_same_data_and_different_seed_different_data(data: Tables) -> None:
    again = _concat(list(generate(CONTACTS, seed=SEED)))
    for name, tbl in data.items():
        assert tbl.equals(again[name]), name
    other = _concat(list(generate(CONTACTS, seed=SEED + 1)))
    assert not data["contacts"].equals(other["contacts"])
    assert not data["touchpoints"].equals(other["touchpoints"])
    assert not data["spend"].equals(other["spend"])


def test_every_table_has_exactly_the_canonical_columns_and_types(data: Tables) -> None:
    for t in TABLES:
        schema = data[t.name].schema
        assert schema.names == list(t.column_names), t.name
        for col in t.columns:
            assert schema.field(col.name).type == ARROW_TYPES[col.type], (t.name, col.name)
        for name in t.required:
            assert data[t.name][name].null_count == 0, (t.name, name)
        # the demo's traffic and email are events, each deal has one contact
        assert (data[t.name].num_rows > 0) == (t.name not in NOT_GENERATED), t.name


def test_keys_are_unique_across_chunks() -> None:
    chunks = list(generate(3_000, seed=SEED, chunk_contacts=1_000))
    assert len(chunks) == 3
    assert set(chunks[0]) == {t.name for t in TABLES}
    assert not set(chunks[1]) & set(GLOBAL_TABLES)
    assert set(chunks[2]) & set(GLOBAL_TABLES) == {"spend"}  # its sales-cost rows
    con = duckdb.connect()
    for t in TABLES:
        tbl = pa.concat_tables([c[t.name] for c in chunks if t.name in c])
        con.register("t", tbl)
        keys = ", ".join(t.key)
        distinct = _rows(con, f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM t)")[0][0]
        assert distinct == tbl.num_rows, t.name
        con.unregister("t")


def test_rows_follow_the_import_rules(db: duckdb.DuckDBPyConnection) -> None:
    def values(sql: str) -> set[Any]:
        return {r[0] for r in _rows(db, sql)}

    assert values("SELECT DISTINCT touch_type FROM touchpoints") <= set(TOUCH_TYPES)
    assert values("SELECT DISTINCT event FROM email_events") == set(EMAIL_EVENTS)
    assert values("SELECT DISTINCT activity_type FROM sales_activities") == set(ACTIVITY_TYPES)
    assert values("SELECT DISTINCT stage FROM stage_events") == set(DEFAULT_STAGES)
    assert values("SELECT count(*) FROM opportunities WHERE closed_at < created_at") == {0}
    assert values(
        "SELECT count(*) FROM inbound_requests WHERE first_response_at < received_at"
    ) == {0}
    for table, col in [("opportunities", "amount"), ("spend", "cost"), ("subscriptions", "mrr")]:
        assert values(f"SELECT count(*) FROM {table} WHERE {col} < 0") == {0}
        assert values(f"SELECT DISTINCT currency FROM {table}") == {"USD", "EUR"}
    # every dated money row in EUR has a rate for its date
    for table, date in [
        ("opportunities", "created_at"),
        ("spend", "date"),
        ("subscriptions", "month"),
        ("opportunities", "closed_at"),
    ]:
        missing = _rows(
            db,
            f"""SELECT count(*) FROM {table} AS m WHERE currency = 'EUR'
            AND {date} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fx_rates AS f
            WHERE f.currency = 'EUR' AND f.date = CAST(m.{date} AS DATE))""",
        )
        assert missing == [(0,)], table
    end = dt.datetime(2026, 11, 1)
    start = dt.datetime(2024, 11, 1)
    for table, col in [
        ("touchpoints", "ts"),
        ("stage_events", "ts"),
        ("email_events", "ts"),
        ("contacts", "created_at"),
        ("sales_activities", "ts"),
    ]:
        lo, hi = _rows(db, f"SELECT min({col}), max({col}) FROM {table}")[0]
        assert start <= lo and hi < end, table


# -- loading through the import path ------------------------------------------------------------


def test_load_demo_loads_every_row_with_zero_rejects(data: Tables) -> None:
    wh = Warehouse.open(":memory:", create=True)
    seen: list[tuple[int, int]] = []
    counts = load_demo(wh, CONTACTS, SEED, progress=lambda d, t: seen.append((d, t)))
    expected = {name: tbl.num_rows for name, tbl in data.items()}
    assert counts == expected
    assert wh.row_counts() == expected
    assert wh.con.execute(f"SELECT count(*) FROM {REJECTS_TABLE}").fetchone() == (0,)
    assert seen[-1][0] == seen[-1][1]
    # the stitched touches are stored once, after the last chunk, as an import stores them
    assert stitched_touches_current(wh)
    stored = wh.con.execute(f"SELECT count(*) FROM {STORED_TOUCHES}").fetchone()
    assert stored == (Context(wh).stitch_touches().count().execute(),)
    wh.close()


def test_write_parquet_streams_chunks(tmp_path: Path) -> None:
    counts = write_parquet(tmp_path, contacts=1_500, seed=SEED, chunk_contacts=1_000)
    for t in TABLES:
        parts = sorted((tmp_path / t.name).glob("part-*.parquet"))
        assert parts, t.name
        assert sum(pq.read_metadata(p).num_rows for p in parts) == counts[t.name]
    assert len(list((tmp_path / "contacts").glob("*.parquet"))) == 2
    # spend: marketing rows with the first chunk, sales-cost rows (a share of every
    # chunk's won revenue) with the last
    assert len(list((tmp_path / "spend").glob("*.parquet"))) == 2
    single = {t.name for t in TABLES if len(list((tmp_path / t.name).glob("*.parquet"))) == 1}
    assert single == set(GLOBAL_TABLES) - {"spend"} | set(NOT_GENERATED)
    again = write_parquet(tmp_path, contacts=500, seed=SEED)  # replaces the old parts
    assert len(list((tmp_path / "contacts").glob("*.parquet"))) == 1
    assert again["contacts"] == 500


# -- the truth is recoverable --------------------------------------------------------------


def test_visit_to_lead_per_channel(db: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(
        db,
        """
        WITH l AS (SELECT lead_source AS channel, count(*) AS leads FROM contacts GROUP BY 1),
             s AS (SELECT channel, count(*) AS sessions FROM touchpoints
                   WHERE touch_type = 'session' GROUP BY 1)
        SELECT channel, leads, sessions FROM l JOIN s USING (channel)""",
    )
    assert {r[0] for r in rows} == set(T.CHANNELS_BY_NAME)
    for channel, leads, sessions in rows:
        # exact by construction, up to the rounding of sessions per month
        assert leads / sessions == pytest.approx(
            T.CHANNELS_BY_NAME[channel].visit_to_lead, rel=0.03
        ), channel
    total = sum(r[2] for r in rows)
    assert total > 8 * CONTACTS  # sessions >> leads
    per_contact = _rows(db, "SELECT count(*) FROM touchpoints")[0][0] / CONTACTS
    assert 5 <= per_contact <= 15


def test_lead_share_per_channel(db: duckdb.DuckDBPyConnection) -> None:
    shares = T.lead_shares()
    for channel, n in _rows(db, "SELECT lead_source, count(*) FROM contacts GROUP BY 1"):
        assert _within(n / CONTACTS, shares[channel], CONTACTS), channel


def test_lead_to_mql_per_channel(db: duckdb.DuckDBPyConnection) -> None:
    """Reached MQL (or a later stage: some SQLs skip the mql event) / leads, for leads old
    enough that no MQL can still be pending (lags are days; 180 days is far in the tail)."""
    rows = _rows(
        db,
        """
        WITH c AS (SELECT contact_id, lead_source FROM contacts
                   WHERE created_at < TIMESTAMP '2026-05-01'),
             q AS (SELECT DISTINCT contact_id FROM stage_events WHERE stage <> 'lead')
        SELECT lead_source, count(*), count(q.contact_id) FROM c LEFT JOIN q USING (contact_id)
        GROUP BY 1""",
    )
    for channel, n, qualified in rows:
        truth = T.CHANNELS_BY_NAME[channel].lead_to_mql
        assert _within(qualified / n, truth, n), (channel, qualified / n, truth)


def test_win_rate_per_channel(db: duckdb.DuckDBPyConnection) -> None:
    """won / (won + lost) per origin channel, and over all deals against the truth weighted
    by each channel's closed deals."""
    rows = _rows(
        db,
        """
        SELECT c.lead_source, count(*), count(*) FILTER (WHERE o.is_won)
        FROM opportunities AS o JOIN contacts AS c USING (contact_id)
        WHERE o.is_won IS NOT NULL GROUP BY 1""",
    )
    expected = variance = 0.0
    for channel, closed, won in rows:
        truth = T.CHANNELS_BY_NAME[channel].win_rate
        assert _within(won / closed, truth, closed), (channel, won / closed, truth)
        expected += closed * truth
        variance += closed * truth * (1 - truth)
    total_won = sum(r[2] for r in rows)
    assert abs(total_won - expected) <= 4 * math.sqrt(variance)
    assert sum(r[1] for r in rows) > 300


def test_stage_skips_and_repeats_exist(db: duckdb.DuckDBPyConnection) -> None:
    sqls, skipped = _rows(
        db,
        """
        SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM stage_events AS m
            WHERE m.contact_id = s.contact_id AND m.stage = 'mql'))
        FROM stage_events AS s WHERE stage = 'sql'""",
    )[0]
    assert _within(skipped / sqls, T.SKIP_MQL, sqls)
    repeated = _rows(
        db,
        """SELECT count(*) FROM (SELECT contact_id FROM stage_events
        WHERE stage = 'mql' GROUP BY 1 HAVING count(*) > 1)""",
    )[0][0]
    assert repeated > 0


def test_spend_is_lower_on_weekends(db: duckdb.DuckDBPyConnection) -> None:
    """Daily (per-ad) spend in USD by weekday: the weekend / weekday ratio of truth."""
    rows = _rows(
        db,
        """
        SELECT isodow(s.date) AS dow,
               sum(s.cost * CASE WHEN s.currency = 'EUR' THEN f.rate ELSE 1 END)
               / count(DISTINCT s.date)
        FROM spend AS s LEFT JOIN fx_rates AS f ON f.date = s.date AND f.currency = s.currency
        WHERE s.ad IS NOT NULL GROUP BY 1""",
    )
    per_day = dict(rows)
    weekday = sum(per_day[d] for d in range(1, 6)) / 5
    weekend = (per_day[6] + per_day[7]) / 2
    assert weekend / weekday == pytest.approx(T.SEASONALITY.weekend_ratio, abs=0.03)
    assert max(per_day[6], per_day[7]) < min(per_day[d] for d in range(1, 6))


def test_cost_per_lead_of_paid_search(db: duckdb.DuckDBPyConnection) -> None:
    spend, leads = _rows(
        db,
        """
        SELECT (SELECT sum(cost) FROM spend WHERE channel = 'paid_search'),
               (SELECT count(*) FROM contacts WHERE lead_source = 'paid_search')""",
    )[0]
    truth = T.true_cpl("paid_search")
    assert truth is not None
    share = T.lead_shares()["paid_search"]
    se = math.sqrt(share * (1 - share) / CONTACTS) / share  # relative SE of the lead count
    assert spend / leads == pytest.approx(truth, rel=4 * se + 0.02)


def test_email_rates(db: duckdb.DuckDBPyConnection) -> None:
    delivered, opens, clicks = _rows(
        db,
        """
        SELECT count(*) FILTER (WHERE event = 'delivered'),
               count(DISTINCT (campaign, contact_id)) FILTER (WHERE event = 'open'),
               count(DISTINCT (campaign, contact_id)) FILTER (WHERE event = 'click')
        FROM email_events""",
    )[0]
    assert _within(opens / delivered, T.EMAIL.open_rate, delivered)
    assert _within(clicks / opens, T.EMAIL.click_to_open, opens)
    repeat_opens = _rows(db, "SELECT count(*) FROM email_events WHERE event = 'open'")[0][0]
    assert repeat_opens > opens  # unique opens differ from open events


def test_inbound_requests_and_sales_follow_up(db: duckdb.DuckDBPyConnection) -> None:
    n, with_outcome, median_minutes, unanswered = _rows(
        db,
        """
        SELECT count(*), count(*) FILTER (WHERE outcome IN ('meeting', 'opportunity',
               'qualified')), median(epoch(first_response_at - received_at) / 60),
               count(*) FILTER (WHERE first_response_at IS NULL)
        FROM inbound_requests""",
    )[0]
    assert _within(with_outcome / n, T.INBOUND.outcome_rate, n)
    assert median_minutes == pytest.approx(T.INBOUND.median_response_minutes, rel=0.2)
    assert _within(unanswered / n, T.INBOUND.unanswered, n)
    # MQLs old enough that the follow-up cannot be pending
    mqls, touched, in_sla = _rows(
        db,
        """
        WITH m AS (SELECT contact_id, min(ts) AS ts FROM stage_events WHERE stage = 'mql'
                   AND ts < TIMESTAMP '2026-09-01' GROUP BY 1),
             a AS (SELECT m.contact_id, min(s.ts) - m.ts AS lag FROM m LEFT JOIN
                   sales_activities AS s ON s.contact_id = m.contact_id AND s.ts >= m.ts
                   GROUP BY m.contact_id, m.ts)
        SELECT count(*), count(lag), count(*) FILTER (WHERE lag <= INTERVAL 24 HOURS) FROM a""",
    )[0]
    assert _within(touched / mqls, T.SALES.acceptance, mqls)
    assert _within(in_sla / touched, T.SALES.within_sla, touched)


def test_recurring_revenue_moves() -> None:
    """MRR has new, expansion, contraction, churn and reactivation movements."""
    chunk = next(generate(20_000, seed=SEED))
    con = duckdb.connect()
    con.register("subscriptions", chunk["subscriptions"])
    moves = dict(
        _rows(
            con,
            """
        WITH s AS (SELECT customer_id, month, mrr,
                          lag(month) OVER w AS prev_month, lag(mrr) OVER w AS prev_mrr,
                          lead(month) OVER w AS next_month
                   FROM subscriptions WINDOW w AS (PARTITION BY customer_id ORDER BY month))
        SELECT CASE WHEN prev_month IS NULL THEN 'new'
                    WHEN prev_month < month - INTERVAL 1 MONTH THEN 'reactivation'
                    WHEN mrr > prev_mrr THEN 'expansion'
                    WHEN mrr < prev_mrr THEN 'contraction' ELSE 'flat' END, count(*)
        FROM s GROUP BY 1
        UNION ALL
        SELECT 'churn', count(*) FROM s
        WHERE month < DATE '2026-10-01'
          AND (next_month IS NULL OR next_month > month + INTERVAL 1 MONTH)""",
        )
    )
    assert {"new", "reactivation", "expansion", "contraction", "flat", "churn"} <= set(moves)
    assert all(v > 0 for v in moves.values())


def test_other_tables_have_their_shape(db: duckdb.DuckDBPyConnection) -> None:
    sizes = _rows(
        db,
        """SELECT audience, min(size), max(size), count(*) FROM audience_snapshots
                        GROUP BY 1""",
    )
    assert {s[0] for s in sizes} == {"email_list", "social_followers", "blog_subscribers"}
    assert all(lo < hi and n == T.DEFAULT_MONTHS + 1 for _, lo, hi, n in sizes)
    kpis = {r[0] for r in _rows(db, "SELECT DISTINCT kpi FROM targets")}
    assert kpis == set(T.TARGET_KPIS)
    stitched = _rows(
        db,
        """SELECT count(*) FROM touchpoints AS t JOIN identities AS i
                           USING (anonymous_id) WHERE t.contact_id IS NULL""",
    )[0][0]
    assert stitched > 0
    attended, booked = _rows(
        db, "SELECT count(*) FILTER (WHERE attended), count(attended) FROM meetings"
    )[0]
    assert _within(attended / booked, T.MEETINGS.attendance, booked)


# -- docs/demo.md states the truth -----------------------------------------------------------


def _pct(x: float, digits: int = 0) -> str:
    return f"{x:.{digits}%}"


def _channel_table() -> list[str]:
    shares = T.lead_shares()
    lines = [
        "| channel | spend/day (USD) | session share | visit→lead | lead share | lead→MQL "
        "| MQL→SQL | SQL→opp | win rate | lead→customer | true CPL (USD) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in T.CHANNELS:
        cpl = T.true_cpl(c.name)
        cells = [
            c.name,
            f"{c.daily_spend:,.0f} ({c.spend_cadence})",
            _pct(c.session_share),
            _pct(c.visit_to_lead),
            _pct(shares[c.name], 1),
            _pct(c.lead_to_mql),
            _pct(c.mql_to_sql),
            _pct(c.sql_to_opportunity),
            _pct(c.win_rate),
            _pct(c.lead_to_customer, 2),
            "—" if cpl is None else f"{cpl:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _lag_table() -> list[str]:
    lines = [
        "| channel | lead→MQL | MQL→SQL | SQL→opp | opp→close | deal × | bounce | pages |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in T.CHANNELS:
        lag = c.lags
        cells = [
            c.name,
            f"{lag.lead_to_mql:g}",
            f"{lag.mql_to_sql:g}",
            f"{lag.sql_to_opportunity:g}",
            f"{lag.opportunity_to_close:g}",
            f"{c.deal_size_multiplier:g}",
            _pct(c.bounce_rate),
            f"{c.pages_per_session:g}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _sales_cost_table() -> list[str]:
    c = T.SALES_COST
    return [
        "| row (campaign) | per month (USD) |",
        "|---|---:|",
        f"| sales-salaries | {c.reps:g} reps x {c.salary:,.0f} |",
        f"| sales-tools | {c.reps:g} reps x {c.tools:,.0f} |",
        f"| sales-commissions | {c.commission:.0%} of the month's won revenue |",
    ]


def test_docs_list_the_true_parameters() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "demo.md").read_text("utf-8")
    for marker, lines in [
        ("channel-table", _channel_table()),
        ("lag-table", _lag_table()),
        ("sales-cost-table", _sales_cost_table()),
    ]:
        section = text.split(f"<!-- {marker} -->\n")[1].split(f"<!-- /{marker} -->")[0]
        assert section.splitlines() == lines, f"update the {marker} of docs/demo.md"
