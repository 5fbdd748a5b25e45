-- The lead -> customer funnel by monthly cohort x channel, as ONE hand-written DuckDB query.
-- Same semantics as revlens' cohort funnel (docs/funnels.md, src/revlens/funnel/engine.py)
-- with stages lead, mql, sql, opportunity, customer (the whole lifecycle, in its order),
-- ordered, skips pass, no exclusions, first touch:
--   * a contact's lifecycle events: its stage_events, plus created_at as the lead date when
--     it has no lead event, each of its opportunities' creation as 'opportunity' and each
--     won one's close as 'customer';
--   * cohort = the month of the contact's FIRST lead event t1, when t1 is in [$lo, $hi);
--   * stage k counts when the contact reached it, in order, within $window_days after t1
--     (inclusive): t_k = the first event of stage k, or of a later stage (a skip passes),
--     in [t_(k-1), t1 + window]. Because every stage at or after k is also one at or after
--     k-1, that is simply the first event of rank >= k in [t1, t1 + window] (one pass,
--     repeats count once);
--   * channel = the channel of the contact's first touchpoint in [t1 - $lookback_days, t1]
--     (ordered by ts, then touchpoint_id; anonymous touchpoints stitched to contacts
--     through identities); NULL when there is none;
--   * per (cohort, channel, stage): count, count / first stage's count, count / previous
--     stage's count (NULL on a zero denominator), dropped, and the days since the previous
--     stage (median, mean, p90 interpolated), over every month x every channel seen.
-- Parameters: $lo, $hi (timestamps: range start, day after the range end), $window_days,
-- $lookback_days.
WITH
stages(stage, k) AS (
    VALUES ('lead', 1), ('mql', 2), ('sql', 3), ('opportunity', 4), ('customer', 5)
),
events AS (
    SELECT contact_id, stage, ts FROM stage_events
    UNION ALL
    SELECT contact_id, 'lead', created_at
    FROM contacts c
    WHERE NOT EXISTS (
        SELECT 1 FROM stage_events s WHERE s.stage = 'lead' AND s.contact_id = c.contact_id
    )
    UNION ALL
    SELECT contact_id, 'opportunity', created_at FROM opportunities WHERE contact_id IS NOT NULL
    UNION ALL
    SELECT contact_id, 'customer', closed_at
    FROM opportunities
    WHERE contact_id IS NOT NULL AND is_won
),
ranked AS MATERIALIZED (
    SELECT e.contact_id, s.k, e.ts FROM events e JOIN stages s USING (stage)
),
entry AS (
    SELECT contact_id, min(ts) AS t1
    FROM ranked
    WHERE k = 1
    GROUP BY contact_id
    HAVING min(ts) >= $lo AND min(ts) < $hi
),
-- when each cohort contact reached each stage within its window (NULL: not reached)
reached AS (
    SELECT e.contact_id, e.t1,
           min(r.ts) FILTER (WHERE r.k >= 2) AS t2,
           min(r.ts) FILTER (WHERE r.k >= 3) AS t3,
           min(r.ts) FILTER (WHERE r.k >= 4) AS t4,
           min(r.ts) FILTER (WHERE r.k >= 5) AS t5
    FROM entry e
    LEFT JOIN ranked r
        ON r.contact_id = e.contact_id
        AND r.k >= 2
        AND r.ts >= e.t1
        AND r.ts <= e.t1 + to_days($window_days)
    GROUP BY e.contact_id, e.t1
),
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
-- each cohort contact's channel: its first touch in the lookback before the entry
channel AS (
    SELECT e.contact_id, first(t.channel ORDER BY t.ts, t.touchpoint_id) AS channel
    FROM entry e
    JOIN touches t
        ON t.contact_id = e.contact_id
        AND t.ts <= e.t1
        AND t.ts >= e.t1 - to_days($lookback_days)
    GROUP BY e.contact_id
),
-- one row per (contact, stage reached) with the days since the previous stage
steps AS (
    SELECT date_trunc('month', r.t1)::DATE AS month, c.channel, s.k,
           (epoch(s.t) - epoch(s.t_prev)) / 86400.0 AS days
    FROM reached r
    LEFT JOIN channel c USING (contact_id)
    CROSS JOIN LATERAL (
        SELECT * FROM (VALUES
            (1, r.t1, NULL::TIMESTAMP), (2, r.t2, r.t1), (3, r.t3, r.t2),
            (4, r.t4, r.t3), (5, r.t5, r.t4)
        ) v(k, t, t_prev)
    ) s
    WHERE s.t IS NOT NULL
),
agg AS MATERIALIZED (
    SELECT month, channel, k, count(*) AS n,
           median(days) AS median_days, avg(days) AS mean_days,
           quantile_cont(days, 0.9) AS p90_days
    FROM steps
    GROUP BY ALL
),
months AS (
    SELECT range::DATE AS month
    FROM range(date_trunc('month', $lo)::TIMESTAMP, $hi, INTERVAL 1 MONTH)
),
grid AS (
    SELECT m.month, ch.channel, s.stage, s.k,
           coalesce(a.n, 0) AS n, a.median_days, a.mean_days, a.p90_days
    FROM months m
    CROSS JOIN (SELECT DISTINCT channel FROM agg) ch
    CROSS JOIN stages s
    LEFT JOIN agg a
        ON a.month = m.month AND a.channel IS NOT DISTINCT FROM ch.channel AND a.k = s.k
),
windowed AS (
    SELECT *,
           first_value(n) OVER w AS n_first,
           lag(n) OVER w AS n_prev
    FROM grid
    WINDOW w AS (PARTITION BY month, channel ORDER BY k)
)
SELECT month, channel, stage, n AS count,
       CASE WHEN n_first = 0 THEN NULL ELSE n / n_first END AS conversion_from_first,
       CASE WHEN k = 1 OR n_prev = 0 THEN NULL ELSE n / n_prev END AS conversion_from_previous,
       CASE WHEN k = 1 THEN NULL ELSE n_prev - n END AS dropped,
       CASE WHEN k = 1 THEN NULL ELSE median_days END AS median_days,
       CASE WHEN k = 1 THEN NULL ELSE mean_days END AS mean_days,
       CASE WHEN k = 1 THEN NULL ELSE p90_days END AS p90_days
FROM windowed
ORDER BY month, channel NULLS FIRST, k
