"""Alert rules checked by cron (`revlens alerts check`): a KPI below its pace to target, an
SLA item's compliance under a threshold, a KPI outside its usual range (mean ± k·sd of the
previous periods). Fired alerts can be posted to a Slack-compatible webhook with the
standard library only: a timeout, retries with backoff, and the URL masked in every message.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException, InvalidURL
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from revlens.catalog.spec import Catalog
from revlens.compile.context import Context
from revlens.compile.periods import Calendar, Grain, add_months, bucket_start, next_bucket
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError, did_you_mean
from revlens.model.warehouse import Reader
from revlens.plan.sla import ITEM_KPI, SlaConfig, read_section, share_value, sla_report

KINDS = ("below_pace", "sla_below", "out_of_range")
STATUS_RANK = {"on_track": 0, "at_risk": 1, "off_track": 2}


class AlertConfigError(RevlensError):
    """Alert rules that cannot be checked: every problem, listed at once."""

    code = "RL810"


class WebhookError(RevlensError):
    """The webhook did not take the alerts (after the retries)."""

    code = "RL820"


# -- rules ------------------------------------------------------------------------------
class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: str


class BelowPaceRule(_Rule):
    """Fires when a KPI with a target in the current month paces at `status` or worse."""

    kind: Literal["below_pace"] = "below_pace"
    kpi: str
    status: Literal["at_risk", "off_track"] = "at_risk"


class SlaBelowRule(_Rule):
    """Fires when an SLA item's compliance share (for mql_volume: MQLs / commitment) is
    under `threshold` in the current (to date) or previous month, overall or per owner."""

    kind: Literal["sla_below"] = "sla_below"
    item: Literal["mql_volume", "mql_followup", "inbound_response", "inbound_outcome"]
    threshold: float = Field(ge=0, le=1)
    period: Literal["current", "previous"] = "current"
    by: Literal["owner"] | None = None

    @field_validator("threshold", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return share_value(value)


class OutOfRangeRule(_Rule):
    """Fires when a KPI's value in the latest complete period is outside mean ± k·sd of the
    `periods` periods before it."""

    kind: Literal["out_of_range"] = "out_of_range"
    kpi: str
    k: float = Field(default=3.0, gt=0)
    periods: int = Field(default=6, ge=2)
    grain: Literal["week", "month", "quarter"] = "month"


Rule = BelowPaceRule | SlaBelowRule | OutOfRangeRule
RULE_MODELS: dict[str, type[BelowPaceRule] | type[SlaBelowRule] | type[OutOfRangeRule]] = {
    "below_pace": BelowPaceRule,
    "sla_below": SlaBelowRule,
    "out_of_range": OutOfRangeRule,
}


@dataclass(frozen=True)
class AlertsConfig:
    """The `alerts:` section: the rules and how to deliver fired alerts."""

    rules: tuple[Rule, ...]
    webhook_env: str | None = None
    webhook_timeout: float = 5.0
    webhook_retries: int = 3
    webhook_backoff: float = 0.5


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Any]
    webhook_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    webhook_timeout: float = Field(default=5.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0, le=10)
    webhook_backoff: float = Field(default=0.5, ge=0)


EXAMPLE = (
    "alerts: {webhook_env: REVLENS_WEBHOOK, rules: [{name: mql pace, kind: below_pace, kpi: mqls}]}"
)


def parse_alerts(raw: Any, where: str) -> AlertsConfig:
    """Validate an `alerts:` section (a list of rules, or a mapping with `rules:` and the
    webhook settings); every problem is reported at once."""
    if raw is None:
        raise AlertConfigError(
            "no alert rules", where=where, fix=f"add an `alerts:` section, e.g. {EXAMPLE}"
        )
    data = {"rules": raw} if isinstance(raw, list) else raw
    if not isinstance(data, dict):
        raise AlertConfigError(
            "`alerts:` must be a list of rules or a mapping with `rules:`",
            where=where,
            value=raw,
            fix=f"e.g. {EXAMPLE}",
        )
    problems: list[str] = []
    try:
        settings = _Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(_messages(exc, "alerts"))
        settings = None
    rules: list[Rule] = []
    names: set[str] = set()
    items = data.get("rules")
    for i, item in enumerate(items if isinstance(items, list) else []):
        rule = _parse_rule(item, f"alerts.rules[{i}]", problems)
        if rule is None:
            continue
        if rule.name in names:
            problems.append(f"alerts.rules[{i}]: the name {rule.name!r} is used twice")
        names.add(rule.name)
        rules.append(rule)
    if settings is not None and not settings.rules:
        problems.append("alerts.rules: no rules")
    if problems or settings is None:
        raise AlertConfigError(_listing(problems), where=where, fix=_FIX)
    return AlertsConfig(
        tuple(rules),
        settings.webhook_env,
        settings.webhook_timeout,
        settings.webhook_retries,
        settings.webhook_backoff,
    )


_FIX = (
    "each rule needs a kind (below_pace, sla_below, out_of_range) and its fields: "
    "below_pace: kpi, status?; sla_below: item, threshold (0.9 or '90%'), period?, by?; "
    "out_of_range: kpi, k?, periods?, grain? (see docs/sla-alerts.md)"
)


def _parse_rule(item: Any, where: str, problems: list[str]) -> Rule | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: a rule must be a mapping (name, kind, ...)")
        return None
    kind = item.get("kind")
    if kind not in KINDS:
        close = did_you_mean(str(kind), KINDS)
        hint = f"; did you mean {close[0]!r}?" if close else f"; use one of {', '.join(KINDS)}"
        problems.append(f"{where}: unknown kind {kind!r}{hint}")
        return None
    raw = dict(item)
    if not raw.get("name"):
        raw["name"] = f"{kind} {raw.get('kpi') or raw.get('item') or ''}".strip()
    try:
        return RULE_MODELS[kind].model_validate(raw)
    except ValidationError as exc:
        problems.extend(_messages(exc, f"{where} ({raw['name']})"))
        return None


def _messages(exc: ValidationError, where: str) -> list[str]:
    return [
        f"{where}: {'.'.join(str(p) for p in err['loc']) or '-'}: {err['msg']}"
        for err in exc.errors()
    ]


def _listing(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


def load_alerts(path: Path) -> AlertsConfig:
    """The `alerts:` section of a project or rules file."""
    return parse_alerts(read_section(path, "alerts"), str(path))


def check_references(config: AlertsConfig, catalog: Catalog, sla: SlaConfig, where: str) -> None:
    """KPI ids that exist, SLA items that can be measured: all problems at once."""
    problems = []
    for rule in config.rules:
        if isinstance(rule, BelowPaceRule | OutOfRangeRule) and rule.kpi not in catalog.kpis:
            close = did_you_mean(rule.kpi, catalog.kpis)
            hint = f"; did you mean {close[0]!r}?" if close else " (see `revlens kpis`)"
            problems.append(f"rule {rule.name!r}: unknown KPI {rule.kpi!r}{hint}")
        if isinstance(rule, SlaBelowRule) and rule.item == "mql_volume":
            if sla.mqls_per_month is None:
                problems.append(
                    f"rule {rule.name!r}: mql_volume needs `sla: {{mqls_per_month: N}}`"
                )
            if rule.by == "owner":
                problems.append(
                    f"rule {rule.name!r}: mql_volume is marketing's commitment, not per owner"
                )
    if problems:
        raise AlertConfigError(_listing(problems), where=where, fix=_FIX)


# -- checking ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fired:
    """One fired alert: the rule, its kind, the KPI, a sentence, and the numbers."""

    rule: str
    kind: str
    kpi: str
    message: str
    values: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "kpi": self.kpi,
            "message": self.message,
            "values": dict(self.values),
        }


@dataclass
class CheckResult:
    """The fired alerts, and notes on rules that could not be evaluated (no target, no
    history): those do not fire."""

    as_of: dt.date
    checked: int
    fired: list[Fired] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_alerts(
    wh: Reader,
    config: AlertsConfig,
    *,
    catalog: Catalog,
    sla: SlaConfig | None = None,
    as_of: dt.date | None = None,
) -> CheckResult:
    """Evaluate every rule as of `as_of` (default: the day of the newest data)."""
    sla = sla or SlaConfig()
    ctx = Context(wh)
    try:
        today = as_of or ctx.data_end()
        settings = ctx.settings
        cal = Calendar(settings.week_start, settings.fiscal_year_start_month)
        first_day = data_start(ctx)
    finally:
        ctx.release()
    result = CheckResult(today, len(config.rules))
    pacing: list[dict[str, Any]] | None = None
    for rule in config.rules:
        if isinstance(rule, BelowPaceRule):
            if pacing is None:
                pacing = _pacing(wh, catalog, as_of)
            _below_pace(rule, pacing, result)
        elif isinstance(rule, SlaBelowRule):
            _sla_below(wh, rule, sla, today, result)
        else:
            _out_of_range(wh, rule, catalog, cal, today, first_day, result)
    return result


def _pacing(wh: Reader, catalog: Catalog, as_of: dt.date | None) -> list[dict[str, Any]]:
    try:
        from revlens.plan import pacing
    except ImportError as exc:
        raise AlertConfigError(
            f"below_pace rules need revlens.plan.pacing, which cannot be imported ({exc})",
            fix="remove the below_pace rules or update revlens",
        ) from None
    if as_of is None:
        return pacing.pacing_rows(wh, None, catalog=catalog)
    return pacing.pacing_rows(wh, f"{as_of:%Y-%m}", as_of=as_of, catalog=catalog)


def _below_pace(rule: BelowPaceRule, rows: list[dict[str, Any]], result: CheckResult) -> None:
    row = next((r for r in rows if r.get("kpi") == rule.kpi), None)
    if row is None:
        result.notes.append(
            f"rule {rule.name!r}: {rule.kpi} has no target this month, not checked "
            "(set one with `revlens targets set`)"
        )
        return
    status = str(row.get("status"))
    if STATUS_RANK.get(status, 0) < STATUS_RANK[rule.status]:
        return
    probability = row.get("probability")
    chance = "" if probability is None else f", probability {probability:.0%}"
    message = (
        f"{rule.kpi} is {status.replace('_', ' ')}: {_num(row.get('actual'))} so far, "
        f"projected {_num(row.get('projected'))} against a target of "
        f"{_num(row.get('target'))}{chance}"
    )
    values: dict[str, Any] = {
        k: row.get(k)
        for k in ("status", "actual", "target", "projected", "probability", "period_start")
        if k in row
    }
    result.fired.append(Fired(rule.name, rule.kind, rule.kpi, message, values))


def _sla_below(
    wh: Reader, rule: SlaBelowRule, sla: SlaConfig, today: dt.date, result: CheckResult
) -> None:
    month = today.replace(day=1)
    if rule.period == "current":
        start, end = month, today
    else:
        start, end = add_months(month, -1), month - dt.timedelta(days=1)
    report = sla_report(wh, sla, start=start, end=end, grain=None, by_owner=rule.by == "owner")
    for row in report.items:
        if row["item"] != rule.item or row["actual"] is None:
            continue
        share = row["actual"]
        if rule.item == "mql_volume":
            share = row["actual"] / row["target"] if row["target"] else None
        if share is None or share >= rule.threshold:
            continue
        who = f" for {row['owner'] or '(no owner)'}" if rule.by else ""
        what = (
            f"{row['numerator']} MQLs of {_num(row['target'])} committed"
            if rule.item == "mql_volume"
            else f"{row['numerator']} of {row['denominator']}"
        )
        message = (
            f"SLA {rule.item} ({row['rule']}){who}: {share:.1%} ({what}) "
            f"from {start} to {end}, below {rule.threshold:.1%}"
        )
        values: dict[str, Any] = {
            "item": rule.item,
            "share": share,
            "threshold": rule.threshold,
            "numerator": row["numerator"],
            "denominator": row["denominator"],
            "target": row["target"],
            "period_start": start,
            "period_end": end,
        }
        if rule.by:
            values["owner"] = row["owner"]
        if row.get("breaches") is not None:
            values["breaches"] = row["breaches"]
            values["pending"] = row["pending"]
        result.fired.append(Fired(rule.name, rule.kind, ITEM_KPI[rule.item], message, values))


def data_start(ctx: Context) -> dt.date | None:
    """The first day of data (stage events, touchpoints, spend, opportunities): periods
    before it are no history, though their counts would be 0."""
    oldest = []
    for table, col in (
        ("stage_events", "ts"),
        ("touchpoints", "ts"),
        ("spend", "date"),
        ("opportunities", "created_at"),
    ):
        value = ctx.table(table)[col].min().to_pyarrow().as_py()
        if isinstance(value, dt.datetime):
            oldest.append(value.date())
        elif isinstance(value, dt.date):
            oldest.append(value)
    return min(oldest) if oldest else None


def latest_complete(today: dt.date, grain: Grain, cal: Calendar) -> tuple[dt.date, dt.date]:
    """The newest whole period of `grain` that ends on or before `today`."""
    current = bucket_start(today, grain, cal)
    if next_bucket(current, grain) - dt.timedelta(days=1) <= today:
        return current, today
    previous = bucket_start(current - dt.timedelta(days=1), grain, cal)
    return previous, current - dt.timedelta(days=1)


def _out_of_range(
    wh: Reader,
    rule: OutOfRangeRule,
    catalog: Catalog,
    cal: Calendar,
    today: dt.date,
    first_day: dt.date | None,
    result: CheckResult,
) -> None:
    grain = Grain(rule.grain)
    latest, latest_end = latest_complete(today, grain, cal)
    first = latest
    for _ in range(rule.periods):
        first = bucket_start(first - dt.timedelta(days=1), grain, cal)
    if first_day is not None:  # no history before the data begins
        first = min(max(first, bucket_start(first_day, grain, cal)), latest)
    query = KpiQuery(kpis=(rule.kpi,), start=first, end=latest_end, grain=grain)
    rows = sorted(run_kpis(wh, query, catalog).rows, key=lambda r: r["period_start"])
    current = next((r for r in rows if r["period_start"] == latest), None)
    history = [r["value"] for r in rows if r["period_start"] < latest and r["value"] is not None]
    value = None if current is None else current["value"]
    if value is None or len(history) < 2:
        result.notes.append(
            f"rule {rule.name!r}: {rule.kpi} for {latest} "
            + ("has no value" if value is None else f"has {len(history)} earlier values (need 2)")
            + ", not checked"
        )
        return
    mean = statistics.fmean(history)
    sd = statistics.stdev(history)
    low, high = mean - rule.k * sd, mean + rule.k * sd
    if low <= value <= high:
        return
    side = "above" if value > high else "below"
    message = (
        f"{rule.kpi} {latest}..{latest_end}: {_num(value)} is {side} its usual range "
        f"{_num(low)} .. {_num(high)} (mean {_num(mean)} ± {rule.k:g} sd {_num(sd)} of the "
        f"{len(history)} {grain.value}s before)"
    )
    values = {
        "period_start": latest,
        "period_end": latest_end,
        "value": value,
        "mean": mean,
        "sd": sd,
        "k": rule.k,
        "low": low,
        "high": high,
        "history": history,
    }
    result.fired.append(Fired(rule.name, rule.kind, rule.kpi, message, values))


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    number = float(value)
    if number.is_integer():
        return f"{number:,.0f}"
    return f"{number:,.2f}"


# -- the webhook ------------------------------------------------------------------------
def mask_url(url: str) -> str:
    """The URL without what may be a secret (user, path, query): https://host/***."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a bad port or IPv6 literal: show nothing of it
        return "***"
    return f"{parts.scheme or '?'}://{host}/***"


def webhook_url(given: str | None, config: AlertsConfig, env: Mapping[str, str]) -> str | None:
    """--webhook URL, else the variable `webhook_env` names; checked to be http(s)."""
    url = given
    if url is None and config.webhook_env:
        url = env.get(config.webhook_env)
        if not url:
            raise AlertConfigError(
                f"the webhook variable {config.webhook_env} is not set",
                where="alerts.webhook_env",
                fix=f"export {config.webhook_env}=https://hooks.slack.com/... or pass --webhook",
            )
    if url is None:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError:
        valid = False
    if not valid:
        raise AlertConfigError(
            "the webhook must be an http(s) URL",
            where="--webhook" if given else f"${config.webhook_env}",
            value=mask_url(url),
            fix="e.g. https://hooks.slack.com/services/...",
        )
    return url


def slack_body(fired: list[Fired], as_of: dt.date) -> dict[str, Any]:
    """A Slack-compatible message: `text` (the notification) and `blocks`."""
    title = f"revlens: {len(fired)} alert{'s' if len(fired) != 1 else ''} fired (as of {as_of})"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
    ]
    shown = fired[:45]  # Slack takes at most 50 blocks
    for alert in shown:
        text = f"*{_escape(alert.rule)}* ({alert.kind})\n{_escape(alert.message)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if len(fired) > len(shown):
        more = f"and {len(fired) - len(shown)} more: run `revlens alerts check`"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    lines = [title] + [f"- {a.rule}: {a.message}" for a in fired]
    return {"text": "\n".join(lines), "blocks": blocks}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Delivery:
    attempts: int
    status: int


def post_webhook(
    url: str,
    body: dict[str, Any],
    *,
    timeout: float = 5.0,
    retries: int = 3,
    backoff: float = 0.5,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` as JSON; retry timeouts, connection errors, 429 and 5xx up to `retries`
    times, waiting backoff, 2·backoff, 4·backoff, ... Messages name the URL masked only."""
    data = json.dumps(body, default=str).encode("utf-8")
    masked = mask_url(url)
    attempts = retries + 1
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "revlens-alerts"},
        )
        retry = True
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return Delivery(attempt, int(response.status))
        except urllib.error.HTTPError as exc:
            exc.close()
            last = f"HTTP {exc.code} {exc.reason}"
            retry = exc.code == 429 or exc.code >= 500
        except urllib.error.URLError as exc:
            last = _reason(exc.reason, timeout)
        except (InvalidURL, ValueError):  # e.g. a space; the message would quote the URL
            last, retry = "the URL is not valid", False
        except (TimeoutError, OSError, HTTPException) as exc:
            last = _reason(exc, timeout)
        if not retry or attempt == attempts:
            break
        wait = backoff * 2 ** (attempt - 1)
        if log:
            log(
                f"webhook {masked}: attempt {attempt} of {attempts} failed ({last}); "
                f"retrying in {wait:g} s"
            )
        sleep(wait)
    raise WebhookError(
        f"webhook delivery failed after {attempt} attempt{'s' if attempt > 1 else ''}: {last}",
        where="webhook",
        value=masked,
        fix="check the webhook URL and that the service is up; the alerts were printed above",
    )


def _reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within the {timeout:g} s timeout"
    return str(reason) or type(reason).__name__
