"""Lead scoring (seed 004: downloads, email opens, events attended, forms completed): points
per behaviour from touchpoints, email events and meetings, with an optional half-life decay
and a threshold that makes a lead an MQL. `score_contacts` writes the scores; `evaluate`
measures how well they separate the leads that later converted (ROC AUC, lift by decile)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import ibis
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from revlens.compile.context import Context, union_all
from revlens.errors import RevlensError
from revlens.model.warehouse import Reader, Warehouse


class Rule(BaseModel):
    """Points for one kind of behaviour. `source` picks the table; the other fields filter it
    (all given ones must match)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    source: Literal["touchpoints", "email_events", "meetings"]
    points: float
    touch_type: str | None = None
    channel: str | None = None
    landing_page_contains: str | None = None
    event: str | None = None  # email event: open, click, forward, ...
    attended: bool | None = None  # meetings: only attended (true) or not (false)


class ScoringRules(BaseModel):
    """A scoring model: rules, the window after the lead date that counts, decay, threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[Rule, ...]
    window_days: int = 14  # behaviour of a lead's first two weeks makes its score
    half_life_days: float | None = None
    threshold: float = 40.0
    target: str = "sql"


DEFAULT_RULES = ScoringRules(
    rules=(
        Rule(name="form completed", source="touchpoints", touch_type="form", points=10),
        Rule(name="event attended", source="touchpoints", touch_type="event", points=15),
        Rule(name="download", source="touchpoints", landing_page_contains="download", points=8),
        Rule(name="email open", source="email_events", event="open", points=2),
        Rule(name="email click", source="email_events", event="click", points=5),
        Rule(name="meeting attended", source="meetings", attended=True, points=20),
    )
)


def load_rules(path: Path | None) -> ScoringRules:
    """`scoring:` of a YAML file (revlens.yml or a rules file); the defaults without one."""
    if path is None or not path.exists():
        return DEFAULT_RULES
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = data.get("scoring") if isinstance(data, dict) else None
    if raw is None:
        return DEFAULT_RULES
    try:
        return ScoringRules.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RevlensError(
            problems,
            where=str(path),
            code="RL610",
            fix="see docs/funnels.md for the scoring rules format",
        ) from None


def behaviours(ctx: Context, rules: ScoringRules) -> Any:
    """(b_contact, b_ts, points): every scored behaviour of every contact."""
    parts = []
    for rule in rules.rules:
        if rule.source == "touchpoints":
            tp = ctx.touches(("touch_type", "landing_page", "channel"))
            cond = ibis.literal(True)
            if rule.touch_type is not None:
                cond &= tp.touch_type == rule.touch_type
            if rule.channel is not None:
                cond &= tp.channel == rule.channel
            if rule.landing_page_contains is not None:
                cond &= tp.landing_page.lower().contains(rule.landing_page_contains.lower())
            sel = tp.filter(cond)
            parts.append(
                sel.select(b_contact=sel.contact_id, b_ts=sel.ts, points=ibis.literal(rule.points))
            )
        elif rule.source == "email_events":
            em = ctx.table("email_events")
            sel = em.filter(em.event == rule.event) if rule.event else em
            parts.append(
                sel.select(b_contact=sel.contact_id, b_ts=sel.ts, points=ibis.literal(rule.points))
            )
        else:
            mt = ctx.table("meetings")
            sel = (
                mt.filter(mt.attended.fill_null(False) == rule.attended)
                if rule.attended is not None
                else mt
            )
            parts.append(
                sel.select(
                    b_contact=sel.contact_id,
                    b_ts=sel.scheduled_for,
                    points=ibis.literal(rule.points),
                )
            )
    return union_all(*parts)


def lead_scores(ctx: Context, rules: ScoringRules, *, as_of: dt.datetime | None = None) -> Any:
    """(contact_id, lead_ts, score): points of behaviours from the lead date to the window's
    end (or `as_of`, with decay from it)."""
    sd = ctx.stage_dates()
    leads = sd.filter(sd.stage == ctx.stage("lead")).select("contact_id", lead_ts="ts")
    leads = leads.mutate(stop=leads.lead_ts + ibis.interval(days=rules.window_days))
    if as_of is not None:
        leads = leads.mutate(stop=ibis.least(leads.stop, ibis.timestamp(as_of)))
    b = behaviours(ctx, rules)
    pairs = leads.left_join(
        b, (leads.contact_id == b.b_contact) & (b.b_ts >= leads.lead_ts) & (b.b_ts <= leads.stop)
    )
    points = pairs.points
    if rules.half_life_days and as_of is not None:
        age_days = (ibis.timestamp(as_of).epoch_seconds() - pairs.b_ts.epoch_seconds()) / 86400
        points = points * (0.5 ** (age_days / rules.half_life_days))
    return pairs.group_by(["contact_id", "lead_ts"]).aggregate(score=points.sum().fill_null(0.0))


@dataclass
class Evaluation:
    """How well the score separates converters: AUC (0.5 = chance) and lift by decile."""

    target: str
    leads: int
    converted: int
    auc: float | None
    threshold: float
    above_threshold: int
    precision_at_threshold: float | None
    recall_at_threshold: float | None
    deciles: list[dict[str, Any]] = field(default_factory=list)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """AUC as the Mann-Whitney probability that a converter outscores a non-converter
    (ties count half); None when either class is empty."""
    from scipy.stats import rankdata

    pos, neg = int(labels.sum()), int(len(labels) - labels.sum())
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def evaluate(wh: Reader, rules: ScoringRules) -> Evaluation:
    """Score each lead on its first `window_days` of behaviour and check whether it reached
    the target stage afterwards. Leads that converted inside the window are left out (the
    score could only describe the past), as are leads younger than the window."""
    ctx = Context(wh)
    try:
        data_end = dt.datetime.combine(ctx.data_end(), dt.time())
        window = ibis.interval(days=rules.window_days)
        scores = lead_scores(ctx, rules)
        scores = scores.filter(scores.lead_ts + window <= ibis.timestamp(data_end))
        sd = ctx.stage_dates()
        target = sd.filter(sd.stage == rules.target).select(t_contact="contact_id", t_ts="ts")
        joined = scores.left_join(
            target, (scores.contact_id == target.t_contact) & (target.t_ts >= scores.lead_ts)
        )
        joined = joined.filter(joined.t_ts.isnull() | (joined.t_ts > joined.lead_ts + window))
        table = joined.select(score=joined.score, hit=joined.t_ts.notnull()).to_pyarrow()
    finally:
        ctx.release()
    s = table["score"].to_numpy(zero_copy_only=False).astype(float)
    y = table["hit"].to_numpy(zero_copy_only=False).astype(int)
    above = s >= rules.threshold
    out = Evaluation(
        target=rules.target,
        leads=len(s),
        converted=int(y.sum()),
        auc=roc_auc(s, y),
        threshold=rules.threshold,
        above_threshold=int(above.sum()),
        precision_at_threshold=float(y[above].mean()) if above.any() else None,
        recall_at_threshold=float(y[above].sum() / y.sum()) if y.sum() else None,
    )
    if len(s):
        base = y.mean()
        from scipy.stats import rankdata

        # decile 1 = the highest scores; tied scores share a decile (some may stay empty)
        ranks = rankdata(-s, method="min")
        deciles = np.minimum((ranks - 1) * 10 // len(s), 9).astype(int) + 1
        for d in range(1, 11):
            idx = np.flatnonzero(deciles == d)
            if not len(idx):
                continue
            rate = float(y[idx].mean())
            out.deciles.append(
                {
                    "decile": d,
                    "leads": len(idx),
                    "min_score": float(s[idx].min()),
                    "max_score": float(s[idx].max()),
                    "converted": int(y[idx].sum()),
                    "rate": rate,
                    "lift": None if base == 0 else rate / base,
                }
            )
    return out


def score_contacts(wh: Warehouse, rules: ScoringRules, as_of: dt.date | None = None) -> int:
    """Write every lead's current score (as of a date, with decay) to `lead_scores`, with
    `is_mql` = score >= threshold; returns the number of contacts scored."""
    ctx = Context(wh)
    try:
        when = dt.datetime.combine((as_of or ctx.data_end()) + dt.timedelta(days=1), dt.time())
        table = lead_scores(ctx, rules, as_of=when).to_pyarrow()
        scored_at = ctx.stored_time(when)  # stored as every time is: naive UTC
    finally:
        ctx.release()
    wh.con.register("__scores", table)
    with wh.transaction():
        wh.con.execute("DELETE FROM lead_scores")
        wh.con.execute(
            "INSERT INTO lead_scores SELECT contact_id, score, score >= ?, ? FROM __scores",
            [rules.threshold, scored_at],
        )
    wh.con.unregister("__scores")
    return int(table.num_rows)
