-- The benchmark's core KPI subset by month x channel, as ONE hand-written DuckDB query.
-- Same semantics as revlens (docs/kpis.md, src/revlens/compile/measures.py):
--   * a stage counts once per contact, at its first date; the lead date is the first lead
--     event, else contacts.created_at; opportunities = opportunity rows by created_at;
--     customers = account (else contact, else deal) at its first won close;
--     win rate = won / (won + lost) closed in the month;
--   * channel of a conversion = the channel of the contact's first touchpoint in
--     [ts - lookback, ts] (ordered by ts, then touchpoint_id), anonymous touchpoints
--     stitched to contacts through identities; sessions and spend carry their own channel;
--   * spend is marketing spend: rows of channel 'sales' are sales cost and left out;
--   * money in USD: the fx rate of the currency on or before the date, else its earliest;
--   * a ratio with a zero denominator is NULL; every KPI gets the full grid of months x the
--     channels its measures produced (a count missing there is 0).
-- Parameters: $lo, $hi (timestamps: range start, day after the range end), $lookback_days.
WITH
-- touchpoints with the contact they belong to
touches AS (
    SELECT contact_id, ts, touchpoint_id, channel
    FROM touchpoints
    WHERE contact_id IS NOT NULL
    UNION ALL
    SELECT i.contact_id, t.ts, t.touchpoint_id, t.channel
    FROM touchpoints t
    JOIN identities i ON i.anonymous_id = t.anonymous_id
    WHERE t.contact_id IS NULL
),
fx_first AS (
    SELECT currency, arg_min(rate, date) AS rate FROM fx_rates GROUP BY currency
),
lead_events AS (
    SELECT contact_id, min(ts) AS ts FROM stage_events WHERE stage = 'lead' GROUP BY contact_id
),
closed AS (
    SELECT o.contact_id, o.closed_at, o.is_won, o.account_id, o.opportunity_id,
           o.amount * CASE WHEN o.currency = 'USD' THEN 1.0
                           ELSE coalesce(fx.rate, fx_first.rate) END AS amount_usd
    FROM opportunities o
    ASOF LEFT JOIN fx_rates fx
        ON fx.currency = o.currency AND o.closed_at::DATE >= fx.date
    LEFT JOIN fx_first ON fx_first.currency = o.currency
    WHERE o.is_won IS NOT NULL AND o.closed_at IS NOT NULL
),
-- conversion events, each needing the contact's first touch
conv AS (
    SELECT * FROM (
        SELECT 'leads' AS m, coalesce(e.contact_id, c.contact_id) AS contact_id,
               coalesce(e.ts, c.created_at) AS ts, 1.0 AS v
        FROM lead_events e
        FULL JOIN contacts c ON c.contact_id = e.contact_id
        UNION ALL
        SELECT stage || 's', contact_id, min(ts), 1.0
        FROM stage_events WHERE stage IN ('mql', 'sql') GROUP BY contact_id, stage
        UNION ALL
        SELECT 'opportunities', contact_id, created_at, 1.0 FROM opportunities
        UNION ALL
        SELECT 'closed_deals', contact_id, closed_at, 1.0 FROM closed
        UNION ALL
        SELECT 'won_deals', contact_id, closed_at, 1.0 FROM closed WHERE is_won
        UNION ALL
        SELECT 'revenue', contact_id, closed_at, amount_usd FROM closed WHERE is_won
        UNION ALL
        SELECT 'customers', contact_id, closed_at, 1.0
        FROM closed
        WHERE is_won
        QUALIFY row_number() OVER (
            PARTITION BY coalesce(account_id, contact_id, opportunity_id)
            ORDER BY closed_at, opportunity_id
        ) = 1
    )
    WHERE ts >= $lo AND ts < $hi
),
-- each conversion with the channel of its contact's first touch in [ts - lookback, ts]
attributed AS (
    SELECT c.m, c.ts, c.v, first(t.channel ORDER BY t.ts, t.touchpoint_id) AS channel
    FROM (SELECT *, row_number() OVER () AS id FROM conv) c
    LEFT JOIN touches t
        ON t.contact_id = c.contact_id
        AND t.ts <= c.ts
        AND t.ts >= c.ts - to_days($lookback_days)
    GROUP BY c.id, c.m, c.ts, c.v
),
sessions AS (
    SELECT date_trunc('month', ts)::DATE AS month, channel,
           count(*) AS n, count(*) FILTER (WHERE is_bounce) AS bounced
    FROM touchpoints
    WHERE touch_type = 'session' AND ts >= $lo AND ts < $hi
    GROUP BY ALL
),
spend_usd AS (
    SELECT date_trunc('month', s.date)::DATE AS month, s.channel,
           sum(s.cost * CASE WHEN s.currency = 'USD' THEN 1.0
                             ELSE coalesce(fx.rate, fx_first.rate) END) AS v
    FROM spend s
    ASOF LEFT JOIN fx_rates fx ON fx.currency = s.currency AND s.date >= fx.date
    LEFT JOIN fx_first ON fx_first.currency = s.currency
    WHERE s.date >= $lo::DATE AND s.date < $hi::DATE AND s.channel <> 'sales'
    GROUP BY ALL
),
-- measures per (month, channel)
agg AS MATERIALIZED (
    SELECT m, date_trunc('month', ts)::DATE AS month, channel, sum(v) AS v
    FROM attributed
    GROUP BY ALL
    UNION ALL SELECT 'sessions', month, channel, n FROM sessions
    UNION ALL SELECT 'bounced_sessions', month, channel, bounced FROM sessions
    UNION ALL SELECT 'spend', month, channel, v FROM spend_usd
),
kpis(kpi, num, den) AS (
    VALUES ('leads', 'leads', NULL), ('mqls', 'mqls', NULL), ('sqls', 'sqls', NULL),
           ('opportunities', 'opportunities', NULL), ('customers', 'customers', NULL),
           ('revenue', 'revenue', NULL), ('spend', 'spend', NULL),
           ('sessions', 'sessions', NULL), ('cpl', 'spend', 'leads'),
           ('cac', 'spend', 'customers'), ('win_rate', 'won_deals', 'closed_deals'),
           ('bounce_rate', 'bounced_sessions', 'sessions')
),
months AS (
    SELECT range::DATE AS month
    FROM range(date_trunc('month', $lo)::TIMESTAMP, $hi, INTERVAL 1 MONTH)
),
grid AS (
    SELECT DISTINCT k.kpi, k.num, k.den, a.channel
    FROM kpis k JOIN agg a ON a.m = k.num OR a.m = k.den
)
SELECT g.kpi, m.month, g.channel,
       CASE WHEN g.den IS NULL THEN coalesce(n.v, 0)
            WHEN coalesce(d.v, 0) = 0 THEN NULL
            ELSE coalesce(n.v, 0) / d.v END AS value
FROM grid g
CROSS JOIN months m
LEFT JOIN agg n
    ON n.m = g.num AND n.month = m.month AND n.channel IS NOT DISTINCT FROM g.channel
LEFT JOIN agg d
    ON d.m = g.den AND d.month = m.month AND d.channel IS NOT DISTINCT FROM g.channel
ORDER BY g.kpi, m.month, g.channel
