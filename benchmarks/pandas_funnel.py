"""The lead -> customer funnel by monthly cohort x channel in straightforward pandas: the
tables are read with DuckDB (`.df()`, the needed columns only, no filtering in SQL),
everything else is pandas. Same semantics as hand_funnel.sql and revlens' cohort funnel,
but the stages are followed step by step as the engine and its tests' reference do: stage k
is the first event of stage k or a later stage (a skip passes) at or after stage k-1 and
within the window after the entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

STAGES = ("lead", "mql", "sql", "opportunity", "customer")


def _read(con: Any, table: str, cols: str) -> pd.DataFrame:
    return con.sql(f"SELECT {cols} FROM {table}").df()  # type: ignore[no-any-return]


def compute(
    con: Any, lo: dt.datetime, hi: dt.datetime, window_days: int, lookback_days: int
) -> pd.DataFrame:
    """(month, channel, stage, count, conversion_from_first, conversion_from_previous,
    dropped, median_days, mean_days, p90_days) over every month x channel x stage."""
    lo_ts, hi_ts = pd.Timestamp(lo), pd.Timestamp(hi)
    rank = {s: k for k, s in enumerate(STAGES, start=1)}

    # -- lifecycle events: stage events, created_at for contacts with no lead event, each
    #    opportunity's creation, each won close
    se = _read(con, "stage_events", "contact_id, stage, ts")
    contacts = _read(con, "contacts", "contact_id, created_at")
    unlogged = contacts[~contacts["contact_id"].isin(se.loc[se["stage"] == "lead", "contact_id"])]
    del contacts
    opps = _read(con, "opportunities", "contact_id, created_at, closed_at, is_won")
    opps = opps[opps["contact_id"].notna()]
    won = opps[opps["is_won"].fillna(False).astype(bool)]
    ev = pd.concat(
        [
            se,
            pd.DataFrame({"contact_id": unlogged["contact_id"], "stage": "lead",
                          "ts": unlogged["created_at"]}),
            pd.DataFrame({"contact_id": opps["contact_id"], "stage": "opportunity",
                          "ts": opps["created_at"]}),
            pd.DataFrame({"contact_id": won["contact_id"], "stage": "customer",
                          "ts": won["closed_at"]}),
        ],
        ignore_index=True,
    )  # fmt: skip
    del se, unlogged, opps, won
    ev["k"] = ev["stage"].map(rank)
    ev = ev[ev["k"].notna() & ev["ts"].notna()][["contact_id", "k", "ts"]]

    # -- cohorts: the first lead event, in the range
    entry = ev[ev["k"] == 1].groupby("contact_id", as_index=False)["ts"].min()
    entry = entry[(entry["ts"] >= lo_ts) & (entry["ts"] < hi_ts)].rename(columns={"ts": "t1"})

    # -- each later stage, step by step, inside the window after the entry
    w = ev.merge(entry, on="contact_id")
    w = w[(w["ts"] >= w["t1"]) & (w["ts"] <= w["t1"] + pd.Timedelta(days=window_days))]
    del ev
    t = entry.set_index("contact_id")
    for k in range(2, len(STAGES) + 1):
        prev = t[f"t{k - 1}"].dropna().rename("t_prev").reset_index()
        cand = w[w["k"] >= k].merge(prev, on="contact_id")
        cand = cand[cand["ts"] >= cand["t_prev"]]
        t[f"t{k}"] = cand.groupby("contact_id")["ts"].min().reindex(t.index)
    del w

    # -- channel: the first touch in [t1 - lookback, t1] (ties by touchpoint_id)
    tp = _read(con, "touchpoints", "touchpoint_id, contact_id, anonymous_id, ts, channel")
    ids = _read(con, "identities", "anonymous_id, contact_id")
    known = tp[tp["contact_id"].notna()][["contact_id", "ts", "touchpoint_id", "channel"]]
    anon = tp[tp["contact_id"].isna() & tp["anonymous_id"].notna()]
    del tp
    anon = anon[["anonymous_id", "ts", "touchpoint_id", "channel"]].merge(ids, on="anonymous_id")
    touches = pd.concat([known, anon.drop(columns="anonymous_id")], ignore_index=True)
    del known, anon, ids
    touches = touches.rename(columns={"ts": "t_ts"}).sort_values(["t_ts", "touchpoint_id"])
    keys = t.reset_index()[["contact_id", "t1"]]
    keys["since"] = keys["t1"] - pd.Timedelta(days=lookback_days)
    touches["contact_id"] = touches["contact_id"].astype(keys["contact_id"].dtype)  # if empty
    first = pd.merge_asof(
        keys.sort_values("since"),
        touches,
        left_on="since",
        right_on="t_ts",
        by="contact_id",
        direction="forward",
    )
    del touches
    first["channel"] = first["channel"].where(first["t_ts"] <= first["t1"])
    t = t.join(first.set_index("contact_id")["channel"])
    del first

    # -- per (cohort month, channel, stage): count and days since the previous stage
    t["month"] = t["t1"].dt.to_period("M").dt.start_time
    parts = []
    for k in range(1, len(STAGES) + 1):
        got = t[t[f"t{k}"].notna()]
        days = (
            (got[f"t{k}"] - got[f"t{k - 1}"]).dt.total_seconds() / 86400.0
            if k > 1
            else pd.Series(float("nan"), index=got.index)
        )
        parts.append(pd.DataFrame({"month": got["month"], "channel": got["channel"], "k": k,
                                   "days": days}))  # fmt: skip
    long = pd.concat(parts, ignore_index=True)
    long["channel"] = long["channel"].astype(object).where(long["channel"].notna(), None)
    g = long.groupby(["month", "channel", "k"], dropna=False)["days"]
    agg = pd.DataFrame(
        {
            "count": g.size(),
            "median_days": g.median(),
            "mean_days": g.mean(),
            "p90_days": g.quantile(0.9),
        }
    ).reset_index()

    # -- every month x every channel seen x every stage
    months = pd.DataFrame(
        {
            "month": pd.date_range(
                lo_ts.to_period("M").start_time, hi_ts, freq="MS", inclusive="left"
            )
        }
    )
    channels = pd.DataFrame({"channel": agg["channel"].drop_duplicates()})
    stages = pd.DataFrame({"k": range(1, len(STAGES) + 1), "stage": STAGES})
    grid = months.merge(channels, how="cross").merge(stages, how="cross")
    grid = grid.merge(agg, on=["month", "channel", "k"], how="left")
    grid["count"] = grid["count"].fillna(0).astype("int64")
    grid = grid.sort_values(["month", "channel", "k"], na_position="first")
    cohort = grid.groupby(["month", "channel"], dropna=False)["count"]
    first_n = cohort.transform("first")
    prev_n = cohort.shift(1)
    step1 = grid["k"] == 1
    grid["conversion_from_first"] = (grid["count"] / first_n).where(first_n != 0)
    grid["conversion_from_previous"] = (grid["count"] / prev_n).where(~step1 & (prev_n != 0))
    grid["dropped"] = (prev_n - grid["count"]).where(~step1)
    for col in ("median_days", "mean_days", "p90_days"):
        grid[col] = grid[col].where(~step1)
    return grid[
        [
            "month",
            "channel",
            "stage",
            "count",
            "conversion_from_first",
            "conversion_from_previous",
            "dropped",
            "median_days",
            "mean_days",
            "p90_days",
        ]
    ]
