"""The benchmark's core KPI subset by month x channel in straightforward pandas: the tables
are read with DuckDB (`.df()`, the needed columns only, no filtering in SQL), everything
else is pandas merges, merge_asof and groupby. Same semantics as hand.sql and revlens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

KPIS: dict[str, tuple[str, str | None]] = {
    "leads": ("leads", None),
    "mqls": ("mqls", None),
    "sqls": ("sqls", None),
    "opportunities": ("opportunities", None),
    "customers": ("customers", None),
    "revenue": ("revenue", None),
    "spend": ("spend", None),
    "sessions": ("sessions", None),
    "cpl": ("spend", "leads"),
    "cac": ("spend", "customers"),
    "win_rate": ("won_deals", "closed_deals"),
    "bounce_rate": ("bounced_sessions", "sessions"),
}


def _read(con: Any, table: str, cols: str) -> pd.DataFrame:
    return con.sql(f"SELECT {cols} FROM {table}").df()  # type: ignore[no-any-return]


def _to_usd(rows: pd.DataFrame, rates: pd.DataFrame, amount: str, date: str) -> pd.Series:
    """amount x the rate of (currency, latest date <= date), else the currency's earliest;
    USD as is. Aligned with `rows`."""
    r = rows[[amount, "currency"]].assign(_d=pd.to_datetime(rows[date]).dt.normalize())
    r = r.reset_index(names="_i").sort_values("_d")
    asof = pd.merge_asof(r, rates, left_on="_d", right_on="fx_date", by="currency")
    earliest = rates.sort_values("fx_date").drop_duplicates("currency")
    asof = asof.merge(
        earliest[["currency", "fx_rate"]].rename(columns={"fx_rate": "e_rate"}),
        on="currency",
        how="left",
    )
    rate = asof["fx_rate"].fillna(asof["e_rate"]).where(asof["currency"] != "USD", 1.0)
    usd = (asof[amount] * rate).where(asof["currency"].notna())
    return pd.Series(usd.to_numpy(), index=asof["_i"].to_numpy()).reindex(rows.index)


def compute(con: Any, lo: dt.datetime, hi: dt.datetime, lookback_days: int) -> pd.DataFrame:
    """(kpi, month, channel, value) for the subset."""
    lo_ts, hi_ts = pd.Timestamp(lo), pd.Timestamp(hi)

    def in_range(ts: pd.Series) -> pd.Series:
        return (ts >= lo_ts) & (ts < hi_ts)

    # -- stage dates: first time per contact and stage; created_at when no lead event
    se = _read(con, "stage_events", "contact_id, stage, ts")
    firsts = se.groupby(["contact_id", "stage"], as_index=False)["ts"].min()
    del se
    contacts = _read(con, "contacts", "contact_id, created_at")
    lead_ev = firsts[firsts["stage"] == "lead"][["contact_id", "ts"]]
    leads = lead_ev.merge(contacts, on="contact_id", how="outer")
    leads["ts"] = leads["ts"].fillna(leads["created_at"])
    del contacts
    frames = [leads[["contact_id", "ts"]].assign(m="leads", v=1.0)]
    for stage in ("mql", "sql"):
        s = firsts[firsts["stage"] == stage][["contact_id", "ts"]]
        frames.append(s.assign(m=stage + "s", v=1.0))
    del firsts, leads

    # -- deals
    opps = _read(
        con,
        "opportunities",
        "opportunity_id, contact_id, account_id, created_at, closed_at, is_won, amount, currency",
    )
    rates = _read(con, "fx_rates", "date AS fx_date, currency, rate AS fx_rate")
    rates["fx_date"] = pd.to_datetime(rates["fx_date"])
    rates = rates.sort_values("fx_date")
    frames.append(
        opps[["contact_id", "created_at"]]
        .rename(columns={"created_at": "ts"})
        .assign(m="opportunities", v=1.0)
    )
    closed = opps[opps["is_won"].notna() & opps["closed_at"].notna()].copy()
    closed["is_won"] = closed["is_won"].astype(bool)
    closed = closed.rename(columns={"closed_at": "ts"})
    won = closed[closed["is_won"]].copy()
    frames.append(closed[["contact_id", "ts"]].assign(m="closed_deals", v=1.0))
    frames.append(won[["contact_id", "ts"]].assign(m="won_deals", v=1.0))
    won["v"] = _to_usd(won, rates, "amount", "ts")
    frames.append(won[["contact_id", "ts", "v"]].assign(m="revenue"))
    won["customer"] = won["account_id"].fillna(won["contact_id"]).fillna(won["opportunity_id"])
    first_won = won.sort_values(["ts", "opportunity_id"]).drop_duplicates("customer")
    frames.append(first_won[["contact_id", "ts"]].assign(m="customers", v=1.0))
    del opps, closed, won, first_won

    conv = pd.concat(frames, ignore_index=True)
    conv = conv[in_range(conv["ts"])]
    del frames

    # -- first touch: the contact's first touchpoint in [ts - lookback, ts]
    tp = _read(
        con,
        "touchpoints",
        "touchpoint_id, contact_id, anonymous_id, ts, channel, touch_type, is_bounce",
    )
    ids = _read(con, "identities", "anonymous_id, contact_id")
    known = tp[tp["contact_id"].notna()][["contact_id", "ts", "touchpoint_id", "channel"]]
    anon = tp[tp["contact_id"].isna() & tp["anonymous_id"].notna()]
    anon = anon[["anonymous_id", "ts", "touchpoint_id", "channel"]].merge(ids, on="anonymous_id")
    touches = pd.concat([known, anon.drop(columns="anonymous_id")], ignore_index=True)
    touches = touches.rename(columns={"ts": "t_ts"}).sort_values(["t_ts", "touchpoint_id"])
    del known, anon, ids
    keys = conv[conv["contact_id"].notna()][["contact_id", "ts"]].drop_duplicates()
    keys["since"] = keys["ts"] - pd.Timedelta(days=lookback_days)
    first = pd.merge_asof(
        keys.sort_values("since"),
        touches,
        left_on="since",
        right_on="t_ts",
        by="contact_id",
        direction="forward",
    )
    first["channel"] = first["channel"].where(first["t_ts"] <= first["ts"])
    conv = conv.merge(first[["contact_id", "ts", "channel"]], on=["contact_id", "ts"], how="left")
    del touches, keys, first
    conv["month"] = conv["ts"].dt.to_period("M").dt.start_time
    parts = [conv.groupby(["m", "month", "channel"], dropna=False, as_index=False)["v"].sum()]
    del conv

    # -- sessions and spend carry their own channel
    s = tp[(tp["touch_type"] == "session") & in_range(tp["ts"])][["ts", "channel", "is_bounce"]]
    del tp
    s["month"] = s["ts"].dt.to_period("M").dt.start_time
    s["bounced"] = s["is_bounce"].fillna(False).astype(float)
    g = s.groupby(["month", "channel"], dropna=False, as_index=False).agg(
        n=("ts", "size"), b=("bounced", "sum")
    )
    parts.append(g[["month", "channel"]].assign(m="sessions", v=g["n"].astype(float)))
    parts.append(g[["month", "channel"]].assign(m="bounced_sessions", v=g["b"]))
    del s
    sp = _read(con, "spend", "date, channel, cost, currency")
    sp["date"] = pd.to_datetime(sp["date"])
    sp = sp[in_range(sp["date"]) & (sp["channel"] != "sales")].copy()  # marketing spend only
    sp["v"] = _to_usd(sp, rates, "cost", "date")
    sp["month"] = sp["date"].dt.to_period("M").dt.start_time
    parts.append(
        sp.groupby(["month", "channel"], dropna=False, as_index=False)["v"].sum().assign(m="spend")
    )
    agg = pd.concat(parts, ignore_index=True)
    agg["channel"] = agg["channel"].astype(object).where(agg["channel"].notna(), None)

    # -- KPIs: every month x every channel the KPI's measures produced
    month_index = pd.DataFrame(
        {
            "month": pd.date_range(
                lo_ts.to_period("M").start_time, hi_ts, freq="MS", inclusive="left"
            )
        }
    )
    out = []
    for kpi, (num, den) in KPIS.items():
        used = agg[agg["m"].isin([num, den])]
        channels = pd.DataFrame({"channel": used["channel"].drop_duplicates()})
        grid = month_index.merge(channels, how="cross")
        n = agg[agg["m"] == num][["month", "channel", "v"]]
        grid = grid.merge(n, on=["month", "channel"], how="left")
        grid["v"] = grid["v"].fillna(0.0)
        if den is None:
            grid["value"] = grid["v"]
        else:
            d = agg[agg["m"] == den][["month", "channel", "v"]].rename(columns={"v": "d"})
            grid = grid.merge(d, on=["month", "channel"], how="left")
            grid["value"] = (grid["v"] / grid["d"]).where(grid["d"].fillna(0) != 0)
        out.append(grid[["month", "channel", "value"]].assign(kpi=kpi))
    return pd.concat(out, ignore_index=True)[["kpi", "month", "channel", "value"]]
