"""The marketing-sales service-level agreement (seeds 001 (8) and 004): MQLs per month that
marketing commits to, sales' follow-up of each MQL within N hours, inbound requests
answered within M minutes and the share of them that reach an outcome.

Compliance is computed per period (and per owner) with the same rules as the catalogue
KPIs `mqls`, `sla_mql_followup`, `inbound_within_sla` and `inbound_outcome_rate`, so the
numbers agree; the records that broke a per-record promise are listed with their times and
how late they were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from revlens.compile.context import Context
from revlens.compile.measures import NO_OUTCOME
from revlens.compile.periods import Calendar, Grain, Period, add_months, bucket_expr, periods
from revlens.errors import RevlensError
from revlens.model.warehouse import Reader

# item -> the catalogue KPI whose value is the item's actual
ITEM_KPI = {
    "mql_volume": "mqls",
    "mql_followup": "sla_mql_followup",
    "inbound_response": "inbound_within_sla",
    "inbound_outcome": "inbound_outcome_rate",
}
ITEMS = tuple(ITEM_KPI)


def share_value(value: Any) -> Any:
    """A share as a fraction: 0.7 stays 0.7, "70%" becomes 0.7 (other values unchanged, so
    the field's own validation reports them)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            return value
    return value


class SlaConfig(BaseModel):
    """The agreement, as written under `sla:` in revlens.yml. Shares are fractions (0.7 or
    "70%"); `*_share` of the per-record promises is the share of records that must keep it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mqls_per_month: float | None = Field(default=None, ge=0)
    mql_followup_hours: float = Field(default=24, gt=0)
    mql_followup_share: float = Field(default=1.0, ge=0, le=1)
    inbound_response_minutes: float = Field(default=3, gt=0)
    inbound_response_share: float = Field(default=1.0, ge=0, le=1)
    inbound_outcome_share: float = Field(default=0.70, ge=0, le=1)

    @field_validator(
        "mql_followup_share", "inbound_response_share", "inbound_outcome_share", mode="before"
    )
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return share_value(value)


def read_section(path: Path, name: str) -> Any:
    """The `name:` section of a YAML project file (None when the file has none)."""
    if not path.exists():
        raise RevlensError(
            "file not found",
            where=str(path),
            code="RL800",
            fix="check the path (relative to the current directory)",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RevlensError(
            f"not valid YAML: {exc}", where=str(path), code="RL801", fix="fix the YAML syntax"
        ) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RevlensError(
            "expected a mapping of sections (kpis:, sla:, alerts:, ...)",
            where=str(path),
            code="RL801",
            fix=f"write `{name}:` at the top level of the file",
        )
    return data.get(name)


def load_sla_config(path: Path | None) -> SlaConfig:
    """The `sla:` section of a project file; the defaults without a file or a section."""
    if path is None:
        return SlaConfig()
    raw = read_section(path, "sla")
    if raw is None:
        return SlaConfig()
    if not isinstance(raw, dict):
        raise RevlensError(
            "`sla:` must be a mapping",
            where=f"{path}: sla",
            value=raw,
            code="RL802",
            fix="e.g. sla: {mql_followup_hours: 24, inbound_response_minutes: 3}",
        )
    try:
        return SlaConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        known = ", ".join(SlaConfig.model_fields)
        raise RevlensError(
            "; ".join(problems),
            where=f"{path}: sla",
            code="RL802",
            fix=f"the keys are {known}; hours and minutes > 0, shares 0..1 (or '70%')",
        ) from None


@dataclass
class SlaReport:
    """Compliance rows (period × [owner] × item) and the breaching records."""

    start: dt.date
    end: dt.date
    grain: Grain | None
    by_owner: bool
    config: SlaConfig
    as_of: dt.datetime
    items: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "grain": None if self.grain is None else self.grain.value,
            "by": ["owner"] if self.by_owner else [],
            "as_of": self.as_of,
            "config": self.config.model_dump(),
            "items": [dict(r) for r in self.items],
            "breaches": [dict(b) for b in self.breaches],
        }


# -- the records ------------------------------------------------------------------------
def mql_records(ctx: Context, hours: float) -> Any:
    """Every MQL (a contact's first MQL) with its owner, due time and first sales follow-up:
    a call, email or meeting, or a status change with outcome 'accepted', at or after the
    MQL (the rule of the `mqls_accepted` measure)."""
    sd = ctx.stage_dates()
    mql = sd.filter(sd.stage == ctx.stage("mql")).select("contact_id", "ts")
    act = ctx.table("sales_activities")
    worked = act.filter(
        act.activity_type.isin(["call", "email", "meeting"])
        | ((act.activity_type == "status_change") & (act.outcome.lower() == "accepted"))
    )
    acts = worked.select(a_contact="contact_id", a_ts="ts")
    pairs = mql.join(acts, (mql.contact_id == acts.a_contact) & (acts.a_ts >= mql.ts))
    firsts = pairs.group_by(["contact_id", "ts"]).aggregate(done_at=pairs.a_ts.min())
    recs = mql.left_join(firsts, ["contact_id", "ts"]).select("contact_id", "ts", "done_at")
    limit = ibis.interval(seconds=int(hours * 3600))
    j = _with_owner(ctx, recs)
    return j.select(
        record_id=j.contact_id,
        contact_id=j.contact_id,
        owner=j.owner,
        at=j.ts,
        due_at=ctx.wall_clock(ctx.instant(j.ts) + limit),  # elapsed hours, across DST too
        done_at=j.done_at,
        outcome=ibis.literal(True),
    )


def inbound_records(ctx: Context, minutes: float) -> Any:
    """Every inbound request with its owner (the contact's, when it has one), due time, first
    response and whether it reached an outcome (not null, not none/no_outcome/unqualified)."""
    r = ctx.table("inbound_requests")
    limit = ibis.interval(seconds=int(minutes * 60))
    outcome = r.outcome.notnull() & ~r.outcome.lower().isin(NO_OUTCOME)
    recs = r.select(
        record_id=r.request_id,
        contact_id=r.contact_id,
        at=r.received_at,
        due_at=ctx.wall_clock(ctx.instant(r.received_at) + limit),
        done_at=r.first_response_at,
        outcome=outcome,
    )
    joined = _with_owner(ctx, recs)
    return joined.select("record_id", "contact_id", "owner", "at", "due_at", "done_at", "outcome")


def _with_owner(ctx: Context, recs: Any) -> Any:
    c = ctx.table("contacts").select(c_id="contact_id", owner="owner")
    return recs.left_join(c, recs.contact_id == c.c_id)


def _status(recs: Any, as_of: dt.datetime) -> Any:
    """ok (kept), late (done after the due time), missing (not done, due time passed) or
    pending (not done, not due yet: it counts against the share, as in the catalogue)."""
    return ibis.cases(
        (recs.done_at.notnull() & (recs.done_at <= recs.due_at), "ok"),
        (recs.done_at.notnull(), "late"),
        (recs.due_at > ibis.literal(as_of, type="timestamp"), "pending"),
        else_="missing",
    )


def newest_timestamp(ctx: Context) -> dt.datetime | None:
    """The newest time the SLA data knows of: stage events, sales activities, inbound."""
    newest: list[dt.datetime] = []
    for table, col in (
        ("stage_events", "ts"),
        ("sales_activities", "ts"),
        ("inbound_requests", "received_at"),
        ("inbound_requests", "first_response_at"),
    ):
        value = ctx.table(table)[col].max().to_pyarrow().as_py()
        if isinstance(value, dt.datetime):
            newest.append(value.replace(tzinfo=None))
    return max(newest) if newest else None


# -- the report -------------------------------------------------------------------------
def sla_report(
    wh: Reader,
    config: SlaConfig | None = None,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: Grain | None = Grain.month,
    by_owner: bool = False,
    as_of: dt.datetime | None = None,
) -> SlaReport:
    """Compliance of every SLA item per period (and owner), and the breaching records.

    Without dates the range is the year up to the newest data (as `revlens kpi`). `as_of`
    (default: the newest SLA timestamp) tells missing follow-ups from not yet due ones."""
    config = config or SlaConfig()
    ctx = Context(wh)
    try:
        end = end or ctx.data_end()
        start = start or add_months(end, -12) + dt.timedelta(days=1)
        if start > end:
            raise RevlensError(
                "--from is after --to", value=f"{start} > {end}", code="RL510", fix="swap the dates"
            )
        as_of = as_of or newest_timestamp(ctx) or ctx.now()
        return _Builder(ctx, config, start, end, grain, by_owner, as_of).report()
    finally:
        ctx.release()


class _Builder:
    def __init__(
        self,
        ctx: Context,
        config: SlaConfig,
        start: dt.date,
        end: dt.date,
        grain: Grain | None,
        by_owner: bool,
        as_of: dt.datetime,
    ) -> None:
        self.ctx, self.config = ctx, config
        self.start, self.end, self.grain = start, end, grain
        self.by_owner, self.as_of = by_owner, as_of
        settings = ctx.settings
        self.cal = Calendar(settings.week_start, settings.fiscal_year_start_month)
        self.periods = periods(start, end, grain, self.cal)
        self.by_bucket = {p.bucket: p for p in self.periods}

    def _in_range(self, recs: Any) -> Any:
        lo = ibis.timestamp(dt.datetime.combine(self.start, dt.time()))
        hi = ibis.timestamp(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()))
        recs = recs.filter((recs.at >= lo) & (recs.at < hi))
        return recs.mutate(
            bucket=bucket_expr(recs.at, self.grain, self.cal, self.start),
            status=_status(recs, self.as_of),
        )

    def _counts(self, recs: Any) -> dict[tuple[dt.date, str | None], dict[str, int]]:
        keys = ["bucket", "owner"] if self.by_owner else ["bucket"]
        agg = recs.group_by(keys).aggregate(
            total=recs.count(),
            ok=(recs.status == "ok").cast("int64").sum(),
            pending=(recs.status == "pending").cast("int64").sum(),
            breaches=recs.status.isin(["late", "missing"]).cast("int64").sum(),
            outcome=recs.outcome.cast("int64").sum(),
        )
        out: dict[tuple[dt.date, str | None], dict[str, int]] = {}
        for r in agg.to_pyarrow().to_pylist():
            period = self.by_bucket.get(_day(r["bucket"]))
            if period is None:
                continue
            owner = r["owner"] if self.by_owner else None
            out[(period.start, owner)] = {
                k: int(r[k] or 0) for k in ("total", "ok", "pending", "breaches", "outcome")
            }
        return out

    def report(self) -> SlaReport:
        c = self.config
        mqls = self._in_range(mql_records(self.ctx, c.mql_followup_hours))
        inbound = self._in_range(inbound_records(self.ctx, c.inbound_response_minutes))
        mql_counts, inbound_counts = self._counts(mqls), self._counts(inbound)
        owners: list[str | None] = [None]
        if self.by_owner:
            seen = {k[1] for k in (*mql_counts, *inbound_counts)}
            owners = sorted(seen, key=lambda o: "" if o is None else o)
        zero = {"total": 0, "ok": 0, "pending": 0, "breaches": 0, "outcome": 0}
        items: list[dict[str, Any]] = []
        for period in self.periods:
            for owner in owners:
                m = mql_counts.get((period.start, owner), zero)
                i = inbound_counts.get((period.start, owner), zero)
                items.extend(self._items(period, owner, m, i))
        breaches = self._breaches(mqls, "mql_followup") + self._breaches(
            inbound, "inbound_response"
        )
        breaches.sort(key=lambda b: (b["at"], b["kind"], b["record_id"]))
        return SlaReport(
            self.start,
            self.end,
            self.grain,
            self.by_owner,
            c,
            self.as_of,
            items,
            breaches,
        )

    def _items(
        self, period: Period, owner: str | None, m: dict[str, int], i: dict[str, int]
    ) -> list[dict[str, Any]]:
        c = self.config
        base: dict[str, Any] = {"period_start": period.start, "period_end": period.end}
        if self.by_owner:
            base["owner"] = owner
        rows = []
        if c.mqls_per_month is not None and not self.by_owner:
            target = round(c.mqls_per_month * months_in(period.start, period.end), 6)
            rows.append(
                {
                    **base,
                    "item": "mql_volume",
                    "kpi": ITEM_KPI["mql_volume"],
                    "rule": f">= {c.mqls_per_month:g} MQLs per month",
                    "unit": "count",
                    "target": target,
                    "actual": float(m["total"]),
                    "compliant": m["total"] >= target,
                    "numerator": m["total"],
                    "denominator": None,
                    "breaches": None,
                    "pending": None,
                }
            )
        for item, counts, rule, target, ok in (
            (
                "mql_followup",
                m,
                f"sales follows up each MQL within {c.mql_followup_hours:g} h",
                c.mql_followup_share,
                m["ok"],
            ),
            (
                "inbound_response",
                i,
                f"inbound answered within {c.inbound_response_minutes:g} min",
                c.inbound_response_share,
                i["ok"],
            ),
            (
                "inbound_outcome",
                i,
                f">= {c.inbound_outcome_share:.0%} of inbound reach an outcome",
                c.inbound_outcome_share,
                i["outcome"],
            ),
        ):
            total = counts["total"]
            actual = ok / total if total else None
            per_record = item != "inbound_outcome"
            rows.append(
                {
                    **base,
                    "item": item,
                    "kpi": ITEM_KPI[item],
                    "rule": rule,
                    "unit": "percent",
                    "target": target,
                    "actual": actual,
                    # nothing to keep is nothing broken: no records, compliant
                    "compliant": actual is None or actual >= target,
                    "numerator": ok,
                    "denominator": total,
                    "breaches": counts["breaches"] if per_record else None,
                    "pending": counts["pending"] if per_record else None,
                }
            )
        return rows

    def _breaches(self, recs: Any, kind: str) -> list[dict[str, Any]]:
        bad = recs.filter(recs.status.isin(["late", "missing"]))
        rows = bad.select(
            "record_id", "contact_id", "owner", "at", "due_at", "done_at", "status", "bucket"
        ).to_pyarrow()
        out = []
        for r in rows.to_pylist():
            period = self.by_bucket.get(_day(r["bucket"]))
            at, due, done = r["at"], r["due_at"], r["done_at"]
            late_until = done if done is not None else self.as_of
            elapsed = self.ctx.stored_time  # local times as UTC: minutes across DST are real
            out.append(
                {
                    "kind": kind,
                    "record_id": r["record_id"],
                    "contact_id": r["contact_id"],
                    "owner": r["owner"],
                    "period_start": None if period is None else period.start,
                    "at": at,
                    "due_at": due,
                    "done_at": done,
                    "status": r["status"],
                    "response_minutes": None
                    if done is None
                    else _minutes(elapsed(done) - elapsed(at)),
                    # late: done - due; missing: overdue so far (as of the report)
                    "late_minutes": _minutes(elapsed(late_until) - elapsed(due)),
                }
            )
        return out


def months_in(start: dt.date, end: dt.date) -> float:
    """How many months [start, end] spans, partial months by their share of days."""
    total = 0.0
    month = start.replace(day=1)
    while month <= end:
        nxt = add_months(month, 1)
        lo, hi = max(month, start), min(nxt - dt.timedelta(days=1), end)
        total += ((hi - lo).days + 1) / (nxt - month).days
        month = nxt
    return total


def _minutes(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 60, 4)


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def human_minutes(minutes: float | None) -> str:
    """1500 -> '1 d 1 h', 61 -> '1 h 1 min', 2.5 -> '2.5 min'."""
    if minutes is None:
        return ""
    if minutes < 60:
        return f"{minutes:g} min"
    whole = round(minutes)
    days, rest = divmod(whole, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {mins} min" if mins else f"{hours} h"
