"""Alert rules: below_pace (against a fake pacing), sla_below and out_of_range on hand-built
monthly data with exact values; the rules file and its problems; `revlens alerts check` exit
codes; the webhook against local HTTP servers on 127.0.0.1 that accept, time out or fail."""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import revlens.cli.commands_ops  # registers `revlens alerts` on the app
import revlens.plan.pacing
from journeys import activity, journeys_for, stage
from revlens.catalog.spec import load_catalog
from revlens.cli.app import app
from revlens.compile.measures import MEASURES
from revlens.compile.periods import Calendar, Grain
from revlens.model.warehouse import Warehouse
from revlens.plan.alerts import (
    AlertConfigError,
    AlertsConfig,
    BelowPaceRule,
    Fired,
    OutOfRangeRule,
    SlaBelowRule,
    WebhookError,
    check_alerts,
    check_references,
    latest_complete,
    load_alerts,
    mask_url,
    parse_alerts,
    post_webhook,
    slack_body,
    webhook_url,
)
from revlens.plan.sla import SlaConfig, load_sla_config

CATALOG = load_catalog(measures=set(MEASURES))
LEADS = [10, 12, 11, 9, 10, 12]  # January .. June 2024
JULY = 30
AS_OF = dt.date(2024, 7, 31)


def build(wh: Warehouse) -> None:
    """Leads per month as LEADS, then JULY leads in July, two of them the July MQLs (a
    contact without a lead event is a lead when created): m1 followed up in 1 h, m2 in 27 h
    (late), so MQL follow-up is 50 % in July."""
    people: dict[str, list[Any]] = {}
    for month, n in enumerate([*LEADS, JULY - 2], start=1):
        for i in range(n):
            people[f"l{month}-{i}"] = [stage("lead", f"2024-{month:02d}-05T{i % 24:02d}:00")]
    people["m1"] = [stage("mql", "2024-07-10T09:00"), activity("call", "2024-07-10T10:00")]
    people["m2"] = [stage("mql", "2024-07-11T09:00"), activity("call", "2024-07-12T12:00")]
    journeys_for(wh, people)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder: no ./revlens.yml but the one a test writes."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def wh_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alerts") / "w.duckdb"
    with Warehouse.open(path, create=True) as w:
        build(w)
    return path


@pytest.fixture
def wh(wh_file: Path) -> Iterator[Warehouse]:
    with Warehouse.open(wh_file) as w:
        yield w


def config(*rules: Any, **settings: Any) -> AlertsConfig:
    return parse_alerts({"rules": list(rules), **settings}, "test")


# -- out_of_range ---------------------------------------------------------------------------
def test_out_of_range_fires_above_mean_plus_k_sd(wh: Warehouse) -> None:
    cfg = config({"name": "leads jump", "kind": "out_of_range", "kpi": "leads"})
    result = check_alerts(wh, cfg, catalog=CATALOG, as_of=AS_OF)
    mean, sd = statistics.fmean(LEADS), statistics.stdev(LEADS)
    assert (mean, round(sd, 6)) == (64 / 6, round((22 / 15) ** 0.5, 6))
    assert [f.to_dict() for f in result.fired] == [
        {
            "rule": "leads jump",
            "kind": "out_of_range",
            "kpi": "leads",
            "message": "leads 2024-07-01..2024-07-31: 30 is above its usual range 7.03 .. 14.30 "
            "(mean 10.67 ± 3 sd 1.21 of the 6 months before)",
            "values": {
                "period_start": dt.date(2024, 7, 1),
                "period_end": dt.date(2024, 7, 31),
                "value": 30.0,
                "mean": mean,
                "sd": sd,
                "k": 3.0,
                "low": mean - 3 * sd,
                "high": mean + 3 * sd,
                "history": [float(n) for n in LEADS],
            },
        }
    ]
    assert result.notes == []


def test_out_of_range_quiet_inside_and_with_fewer_periods(wh: Warehouse) -> None:
    wide = config({"name": "wide", "kind": "out_of_range", "kpi": "leads", "k": 17})
    # 30 - 10.67 = 19.33 < 17 * 1.211 = 20.59: inside
    assert check_alerts(wh, wide, catalog=CATALOG, as_of=AS_OF).fired == []
    # as of 2024-07-30 July is not complete: June (12) against January .. May (mean 10.4)
    june = config({"name": "june", "kind": "out_of_range", "kpi": "leads", "periods": 5})
    result = check_alerts(wh, june, catalog=CATALOG, as_of=dt.date(2024, 7, 30))
    assert result.fired == []
    # k = 1: 12 > 10.4 + 1.14 fires
    narrow = config({"name": "n", "kind": "out_of_range", "kpi": "leads", "periods": 5, "k": 1})
    fired = check_alerts(wh, narrow, catalog=CATALOG, as_of=dt.date(2024, 7, 30)).fired
    history = [float(n) for n in LEADS[:5]]
    assert [(f.values["value"], f.values["history"]) for f in fired] == [(12.0, history)]
    assert fired[0].values["high"] == statistics.fmean(history) + statistics.stdev(history)


def test_out_of_range_below_and_without_history(wh: Warehouse) -> None:
    # February (12) against January alone: one earlier value is not a range
    short = config({"name": "feb", "kind": "out_of_range", "kpi": "leads"})
    result = check_alerts(wh, short, catalog=CATALOG, as_of=dt.date(2024, 2, 29))
    assert result.fired == []
    assert result.notes == [
        "rule 'feb': leads for 2024-02-01 has 1 earlier values (need 2), not checked"
    ]
    # a ratio with no denominator has no value: noted, not fired
    ratio = config({"name": "r", "kind": "out_of_range", "kpi": "inbound_within_sla"})
    result = check_alerts(wh, ratio, catalog=CATALOG, as_of=AS_OF)
    assert (result.fired, len(result.notes)) == ([], 1)
    assert "has no value" in result.notes[0]


def test_latest_complete_period() -> None:
    cal = Calendar()
    assert latest_complete(dt.date(2024, 7, 31), Grain.month, cal) == (
        dt.date(2024, 7, 1),
        dt.date(2024, 7, 31),
    )
    assert latest_complete(dt.date(2024, 7, 30), Grain.month, cal) == (
        dt.date(2024, 6, 1),
        dt.date(2024, 6, 30),
    )
    assert latest_complete(dt.date(2024, 7, 3), Grain.week, cal) == (
        dt.date(2024, 6, 24),
        dt.date(2024, 6, 30),
    )
    assert latest_complete(dt.date(2024, 5, 1), Grain.quarter, cal) == (
        dt.date(2024, 1, 1),
        dt.date(2024, 3, 31),
    )


# -- below_pace (pacing is another module: a fake with its interface) -----------------------
PACING = [
    {
        "kpi": "mqls",
        "status": "off_track",
        "actual": 40.0,
        "target": 100.0,
        "projected": 80.0,
        "probability": 0.12,
    },
    {
        "kpi": "leads",
        "status": "at_risk",
        "actual": 300.0,
        "target": 500.0,
        "projected": 480.5,
        "probability": 0.41,
    },
    {
        "kpi": "win_rate",
        "status": "on_track",
        "actual": 0.3,
        "target": 0.25,
        "projected": 0.3,
        "probability": None,
    },
]


@pytest.fixture
def fake_pacing(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def pacing_rows(wh: Warehouse, period: str | None = None, **kw: Any) -> list[dict[str, Any]]:
        calls.append((period, kw.get("as_of")))
        return [dict(r) for r in PACING]

    monkeypatch.setattr(revlens.plan.pacing, "pacing_rows", pacing_rows)
    return calls


def test_below_pace(wh: Warehouse, fake_pacing: list[tuple[Any, ...]]) -> None:
    cfg = config(
        {"name": "mql pace", "kind": "below_pace", "kpi": "mqls"},
        {"name": "leads off", "kind": "below_pace", "kpi": "leads", "status": "off_track"},
        {"name": "leads risk", "kind": "below_pace", "kpi": "leads"},
        {"name": "win", "kind": "below_pace", "kpi": "win_rate"},
        {"name": "sqls", "kind": "below_pace", "kpi": "sqls"},
    )
    result = check_alerts(wh, cfg, catalog=CATALOG, as_of=AS_OF)
    assert fake_pacing == [("2024-07", AS_OF)]  # pacing computed once, for the as-of month
    assert [f.to_dict() for f in result.fired] == [
        {
            "rule": "mql pace",
            "kind": "below_pace",
            "kpi": "mqls",
            "message": "mqls is off track: 40 so far, projected 80 against a target of 100, "
            "probability 12%",
            "values": {
                "status": "off_track",
                "actual": 40.0,
                "target": 100.0,
                "projected": 80.0,
                "probability": 0.12,
            },
        },
        {
            "rule": "leads risk",
            "kind": "below_pace",
            "kpi": "leads",
            "message": "leads is at risk: 300 so far, projected 480.50 against a target of 500, "
            "probability 41%",
            "values": {
                "status": "at_risk",
                "actual": 300.0,
                "target": 500.0,
                "projected": 480.5,
                "probability": 0.41,
            },
        },
    ]
    assert result.notes == [
        "rule 'sqls': sqls has no target this month, not checked (set one with "
        "`revlens targets set`)"
    ]


def test_below_pace_without_as_of_uses_the_pacing_default(
    wh: Warehouse, fake_pacing: list[tuple[Any, ...]]
) -> None:
    cfg = config({"name": "p", "kind": "below_pace", "kpi": "mqls"})
    assert len(check_alerts(wh, cfg, catalog=CATALOG).fired) == 1
    assert fake_pacing == [(None, None)]


# -- sla_below --------------------------------------------------------------------------------
def test_sla_below(wh: Warehouse) -> None:
    cfg = config(
        {"name": "follow-up", "kind": "sla_below", "item": "mql_followup", "threshold": "90%"},
        {"name": "half", "kind": "sla_below", "item": "mql_followup", "threshold": 0.5},
        {"name": "june", "kind": "sla_below", "item": "mql_followup", "threshold": 0.9,
         "period": "previous"},
        {"name": "volume", "kind": "sla_below", "item": "mql_volume", "threshold": 0.8},
    )  # fmt: skip
    result = check_alerts(wh, cfg, catalog=CATALOG, sla=SlaConfig(mqls_per_month=3), as_of=AS_OF)
    july = (dt.date(2024, 7, 1), AS_OF)
    assert [f.to_dict() for f in result.fired] == [
        {
            "rule": "follow-up",
            "kind": "sla_below",
            "kpi": "sla_mql_followup",
            "message": "SLA mql_followup (sales follows up each MQL within 24 h): 50.0% (1 of 2)"
            " from 2024-07-01 to 2024-07-31, below 90.0%",
            "values": {
                "item": "mql_followup",
                "share": 0.5,
                "threshold": 0.9,
                "numerator": 1,
                "denominator": 2,
                "target": 1.0,
                "period_start": july[0],
                "period_end": july[1],
                "breaches": 1,
                "pending": 0,
            },
        },
        {
            "rule": "volume",
            "kind": "sla_below",
            "kpi": "mqls",
            "message": "SLA mql_volume (>= 3 MQLs per month): 66.7% (2 MQLs of 3 committed)"
            " from 2024-07-01 to 2024-07-31, below 80.0%",
            "values": {
                "item": "mql_volume",
                "share": 2 / 3,
                "threshold": 0.8,
                "numerator": 2,
                "denominator": None,
                "target": 3.0,
                "period_start": july[0],
                "period_end": july[1],
            },
        },
    ]  # "half": 50 % is not under 50 %; "june": no MQLs in June, nothing to keep


def test_sla_below_per_owner(wh: Warehouse) -> None:
    cfg = config(
        {"name": "o", "kind": "sla_below", "item": "mql_followup", "threshold": 1, "by": "owner"}
    )
    fired = check_alerts(wh, cfg, catalog=CATALOG, as_of=AS_OF).fired
    assert [(f.values["owner"], f.values["share"]) for f in fired] == [(None, 0.5)]
    assert "for (no owner)" in fired[0].message


# -- the rules file ---------------------------------------------------------------------------
def test_rules_as_a_list_or_a_mapping() -> None:
    as_list = parse_alerts([{"kind": "below_pace", "kpi": "mqls"}], "f")
    assert as_list == AlertsConfig((BelowPaceRule(name="below_pace mqls", kpi="mqls"),))
    full = parse_alerts(
        {
            "webhook_env": "REVLENS_WEBHOOK",
            "webhook_timeout": 2,
            "webhook_retries": 1,
            "rules": [
                {"name": "a", "kind": "sla_below", "item": "inbound_outcome", "threshold": "70%"},
                {"name": "b", "kind": "out_of_range", "kpi": "leads", "k": 2.5, "periods": 12},
            ],
        },
        "f",
    )
    assert full == AlertsConfig(
        (
            SlaBelowRule(name="a", item="inbound_outcome", threshold=0.7),
            OutOfRangeRule(name="b", kpi="leads", k=2.5, periods=12),
        ),
        webhook_env="REVLENS_WEBHOOK",
        webhook_timeout=2.0,
        webhook_retries=1,
    )


def test_rule_problems_are_listed_at_once() -> None:
    with pytest.raises(AlertConfigError) as info:
        parse_alerts(
            {
                "webhook_retries": -1,
                "rules": [
                    {"name": "a", "kind": "below_pase", "kpi": "mqls"},
                    {"name": "b", "kind": "out_of_range"},
                    {"name": "c", "kind": "sla_below", "item": "mql_followup", "threshold": 90},
                    {"name": "d", "kind": "below_pace", "kpi": "leads"},
                    {"name": "d", "kind": "out_of_range", "kpi": "leads"},
                    "oops",
                ],
            },
            "revlens.yml",
        )
    err = info.value
    assert (err.code, err.where) == ("RL810", "revlens.yml")
    assert err.message.splitlines() == [
        "6 problems:",
        "  - alerts: webhook_retries: Input should be greater than or equal to 0",
        "  - alerts.rules[0]: unknown kind 'below_pase'; did you mean 'below_pace'?",
        "  - alerts.rules[1] (b): kpi: Field required",
        "  - alerts.rules[2] (c): threshold: Input should be less than or equal to 1",
        "  - alerts.rules[4]: the name 'd' is used twice",
        "  - alerts.rules[5]: a rule must be a mapping (name, kind, ...)",
    ]
    assert err.fix and "below_pace" in err.fix
    with pytest.raises(AlertConfigError, match="no alert rules"):
        parse_alerts(None, "revlens.yml")


def test_references_are_checked_against_the_catalogue() -> None:
    cfg = config(
        {"name": "a", "kind": "out_of_range", "kpi": "lead"},
        {"name": "b", "kind": "sla_below", "item": "mql_volume", "threshold": 0.9},
    )
    with pytest.raises(AlertConfigError) as info:
        check_references(cfg, CATALOG, SlaConfig(), "revlens.yml")
    assert info.value.message.splitlines()[1:] == [
        "  - rule 'a': unknown KPI 'lead'; did you mean 'leads'?",
        "  - rule 'b': mql_volume needs `sla: {mqls_per_month: N}`",
    ]


# -- the webhook ------------------------------------------------------------------------------
SECRET_PATH = "/services/T000/B000/SECRETTOKEN?key=SECRETKEY"


@dataclass
class Hook:
    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def serve(status: int = 200, *, hang: bool = False) -> Iterator[Hook]:
    """A local webhook on 127.0.0.1 that answers `status`, or never answers (`hang`)."""
    hook = Hook()
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append((self.path, dict(self.headers), body))
            if hang:
                release.wait(10)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"no")
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_port}{SECRET_PATH}"
    try:
        yield hook
    finally:
        release.set()
        server.shutdown()
        server.server_close()


FIRED = [Fired("leads jump", "out_of_range", "leads", "leads <b> & co", {"value": 30.0})]


def test_slack_body() -> None:
    body = slack_body(FIRED, AS_OF)
    assert body == {
        "text": "revlens: 1 alert fired (as of 2024-07-31)\n- leads jump: leads <b> & co",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "revlens: 1 alert fired (as of 2024-07-31)"},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*leads jump* (out_of_range)\nleads &lt;b&gt; &amp; co",
                },
            },
        ],
    }
    many = slack_body(FIRED * 60, AS_OF)
    assert len(many["blocks"]) == 47  # header, 45 alerts, "and 15 more"
    assert many["blocks"][-1]["elements"][0]["text"].startswith("and 15 more")


def test_mask_url() -> None:
    assert mask_url("https://hooks.slack.com/services/T0/B0/xyz") == "https://hooks.slack.com/***"
    assert mask_url("https://user:pw@example.com:8443/a?token=1") == "https://example.com:8443/***"


def test_post_webhook_accepts(tmp_path: Path) -> None:
    with serve(200) as hook:
        delivery = post_webhook(hook.url, {"text": "hi"}, timeout=2)
    assert (delivery.attempts, delivery.status) == (1, 200)
    path, headers, body = hook.requests[0]
    assert path == SECRET_PATH
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"text": "hi"}


def test_post_webhook_retries_with_backoff_then_fails() -> None:
    waits: list[float] = []
    logs: list[str] = []
    with serve(503) as hook, pytest.raises(WebhookError) as info:
        post_webhook(
            hook.url, {"text": "x"}, retries=3, backoff=0.5, log=logs.append, sleep=waits.append
        )
    assert len(hook.requests) == 4
    assert waits == [0.5, 1.0, 2.0]
    err = info.value
    assert err.message == "webhook delivery failed after 4 attempts: HTTP 503 Service Unavailable"
    assert err.value == f"{hook.url.split('/services')[0]}/***"
    assert len(logs) == 3 and "attempt 1 of 4 failed (HTTP 503" in logs[0]
    assert not any("SECRET" in text for text in [*logs, err.render()])


def test_post_webhook_does_not_retry_a_client_error() -> None:
    with serve(404) as hook, pytest.raises(WebhookError, match="after 1 attempt: HTTP 404"):
        post_webhook(hook.url, {"text": "x"}, retries=3, sleep=lambda s: None)
    assert len(hook.requests) == 1


def test_a_malformed_url_is_never_printed() -> None:
    with pytest.raises(WebhookError) as info:
        post_webhook("http://127.0.0.1:9/a secret", {"text": "x"}, sleep=lambda s: None)
    assert info.value.message == "webhook delivery failed after 1 attempt: the URL is not valid"
    assert mask_url("http://[bad/secret") == "***"
    with pytest.raises(AlertConfigError) as bad:
        webhook_url("http://h.example:port/secret", AlertsConfig(()), {})
    assert "secret" not in bad.value.render()


def test_webhook_url_from_the_environment() -> None:
    cfg = AlertsConfig((), webhook_env="HOOK")
    assert webhook_url(None, cfg, {"HOOK": "https://h.example/x"}) == "https://h.example/x"
    assert webhook_url("http://given/x", cfg, {"HOOK": "https://h.example/x"}) == "http://given/x"
    assert webhook_url(None, AlertsConfig(()), {}) is None
    with pytest.raises(AlertConfigError, match="HOOK is not set"):
        webhook_url(None, cfg, {})
    with pytest.raises(AlertConfigError, match="http") as info:
        webhook_url("ftp://h.example/secret", cfg, {})
    assert "secret" not in info.value.render()


# -- the command ------------------------------------------------------------------------------
SLA_RULE = "  - {name: follow-up, kind: sla_below, item: mql_followup, threshold: 90%}\n"


def rules_file(tmp_path: Path, rules: str, settings: str = "") -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(f"alerts:\n{settings}  rules:\n{rules}", encoding="utf-8")
    return path


def invoke(wh_file: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    runner = CliRunner(env={"COLUMNS": "200", **(env or {})})
    return runner.invoke(app, ["--warehouse", str(wh_file), "alerts", "check", *args])


def assert_clean(done: Any) -> None:
    """No traceback and no part of the webhook's secret anywhere in the output."""
    assert done.exception is None or isinstance(done.exception, SystemExit)
    text = done.stdout + done.stderr
    assert "Traceback" not in text
    assert "SECRET" not in text


def test_cli_quiet_exits_0(wh_file: Path, tmp_path: Path) -> None:
    path = rules_file(tmp_path, "  - {name: wide, kind: out_of_range, kpi: leads, k: 17}\n")
    done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == []
    done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31")
    assert done.exit_code == 0
    assert "no alert fired: 1 rules checked as of 2024-07-31" in done.stdout


def test_cli_fired_exits_1_with_json(
    wh_file: Path, tmp_path: Path, fake_pacing: list[tuple[Any, ...]]
) -> None:
    path = rules_file(
        tmp_path,
        SLA_RULE
        + "  - {name: jump, kind: out_of_range, kpi: leads}\n"
        + "  - {name: pace, kind: below_pace, kpi: mqls}\n"
        + "  - {name: sqls, kind: below_pace, kpi: sqls}\n",
    )
    done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "--format", "json")
    assert done.exit_code == 1, done.output
    fired = json.loads(done.stdout)
    assert [(f["rule"], f["kind"], f["kpi"]) for f in fired] == [
        ("follow-up", "sla_below", "sla_mql_followup"),
        ("jump", "out_of_range", "leads"),
        ("pace", "below_pace", "mqls"),
    ]
    assert fired[1]["values"]["value"] == 30.0
    assert fired[1]["values"]["period_start"] == "2024-07-01"
    assert "note: rule 'sqls': sqls has no target this month" in done.stderr
    table = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31")
    assert table.exit_code == 1
    assert "3 alerts fired (4 rules checked as of 2024-07-31)" in table.stdout


def test_cli_sla_from_the_rules_file(wh_file: Path, tmp_path: Path) -> None:
    """The rules file's own `sla:` section: 27 h is in a 28 h agreement."""
    path = tmp_path / "rules.yml"
    path.write_text("sla: {mql_followup_hours: 28}\nalerts:\n" + SLA_RULE, encoding="utf-8")
    done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "-f", "json")
    assert (done.exit_code, json.loads(done.stdout)) == (0, []), done.output


def test_cli_reads_the_project_file(wh_file: Path, tmp_path: Path) -> None:
    """Without --rules: ./revlens.yml, its `sla:` and its KPIs (a project KPI in a rule)."""
    (tmp_path / "revlens.yml").write_text(
        "sla: {mql_followup_hours: 28}\n"
        "kpis:\n"
        "  - {id: my_leads, name: My leads, description: Leads., kind: count,\n"
        "     formula: {measure: leads}, unit: count, direction: up}\n"
        "alerts:\n" + SLA_RULE + "  - {name: mine, kind: out_of_range, kpi: my_leads}\n",
        encoding="utf-8",
    )
    done = invoke(wh_file, "--as-of", "2024-07-31", "-f", "json")
    assert done.exit_code == 1, done.output
    assert [(f["rule"], f["kpi"]) for f in json.loads(done.stdout)] == [("mine", "my_leads")]
    (tmp_path / "revlens.yml").unlink()
    done = invoke(wh_file, "--as-of", "2024-07-31")
    assert done.exit_code == 2
    assert done.stderr.startswith("error RL810: no alert rules")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("alerts:\n  - {kind: nope}\n", "unknown kind 'nope'"),
        ("alerts:\n  - {kind: out_of_range, kpi: leedz}\n", "unknown KPI 'leedz'"),
        ("kpis: []\n", "no alert rules"),
        ("alerts: [\n", "not valid YAML"),
        ("sla: {mql_followup_hours: 0}\nalerts:\n" + SLA_RULE, "greater than 0"),
        ("alerts:\n  webhook_env: NO_SUCH_HOOK_VAR\n  rules:\n" + SLA_RULE, "is not set"),
    ],
)
def test_cli_configuration_errors_exit_2(
    wh_file: Path, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(content, encoding="utf-8")
    done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "-f", "json")
    assert done.exit_code == 2, done.output
    assert message in done.stderr
    assert done.stderr.startswith("error RL8")
    assert done.stdout == ""
    assert_clean(done)


def test_cli_missing_files_exit_2(wh_file: Path, tmp_path: Path) -> None:
    done = invoke(wh_file, "--rules", str(tmp_path / "missing.yml"))
    assert done.exit_code == 2
    assert done.stderr.startswith(f"error RL800 in {tmp_path / 'missing.yml'}: file not found")
    path = rules_file(tmp_path, SLA_RULE)
    done = invoke(tmp_path / "no-warehouse.duckdb", "--rules", str(path))
    assert done.exit_code == 2
    assert done.stderr.startswith("error RL4")
    assert_clean(done)


def test_cli_webhook_accepts(wh_file: Path, tmp_path: Path) -> None:
    path = rules_file(tmp_path, SLA_RULE)
    with serve(200) as hook:
        done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "--webhook", hook.url)
    assert done.exit_code == 1, done.output
    assert len(hook.requests) == 1
    body = json.loads(hook.requests[0][2])
    assert body["text"].startswith("revlens: 1 alert fired (as of 2024-07-31)\n- follow-up: SLA")
    assert [b["type"] for b in body["blocks"]] == ["header", "section"]
    assert body["blocks"][1]["text"]["text"].startswith("*follow-up* (sla_below)\nSLA mql_followup")
    assert "webhook: 1 alert posted (attempt 1)" in done.stderr
    assert_clean(done)


def test_cli_webhook_from_the_environment(wh_file: Path, tmp_path: Path) -> None:
    path = rules_file(tmp_path, SLA_RULE, "  webhook_env: REVLENS_TEST_HOOK\n")
    with serve(200) as hook:
        done = invoke(
            wh_file, "--rules", str(path), "--as-of", "2024-07-31",
            env={"REVLENS_TEST_HOOK": hook.url},
        )  # fmt: skip
    assert done.exit_code == 1, done.output
    assert len(hook.requests) == 1


def test_cli_webhook_timeout_retries_and_exits_1(wh_file: Path, tmp_path: Path) -> None:
    settings = "  webhook_timeout: 0.2\n  webhook_retries: 3\n  webhook_backoff: 0.01\n"
    path = rules_file(tmp_path, SLA_RULE, settings)
    with serve(200, hang=True) as hook:
        done = invoke(
            wh_file, "--rules", str(path), "--as-of", "2024-07-31", "--webhook", hook.url,
            "-f", "json",
        )  # fmt: skip
    assert done.exit_code == 1, done.output
    assert len(hook.requests) == 4  # the first try and 3 retries
    assert len(json.loads(done.stdout)) == 1  # the alerts are printed all the same
    masked = hook.url.split("/services")[0] + "/***"
    assert f"webhook {masked}: attempt 1 of 4 failed (no answer within the 0.2 s timeout)" in (
        done.stderr
    )
    assert (
        "error RL820 in webhook: webhook delivery failed after 4 attempts: no answer within "
        f"the 0.2 s timeout (value: '{masked}')" in done.stderr
    )
    assert_clean(done)


def test_cli_webhook_server_error(wh_file: Path, tmp_path: Path) -> None:
    path = rules_file(tmp_path, SLA_RULE, "  webhook_retries: 2\n  webhook_backoff: 0\n")
    with serve(500) as hook:
        done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "--webhook", hook.url)
    assert done.exit_code == 1, done.output
    assert len(hook.requests) == 3
    assert "failed after 3 attempts: HTTP 500 Internal Server Error" in done.stderr
    assert_clean(done)


def test_cli_quiet_does_not_post(wh_file: Path, tmp_path: Path) -> None:
    path = rules_file(tmp_path, "  - {name: wide, kind: out_of_range, kpi: leads, k: 17}\n")
    with serve(200) as hook:
        done = invoke(wh_file, "--rules", str(path), "--as-of", "2024-07-31", "--webhook", hook.url)
    assert (done.exit_code, hook.requests) == (0, [])


# -- the docs ---------------------------------------------------------------------------------
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sla-alerts.md"


def test_docs_examples_are_valid(tmp_path: Path) -> None:
    """The YAML of docs/sla-alerts.md loads: the SLA defaults and four valid rules."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = [
        re.search(rf"<!-- {marker} -->\n```yaml\n(.*?)```", text, re.S)
        for marker in ("sla-example", "alerts-example")
    ]
    assert all(blocks), "docs/sla-alerts.md lost an example"
    path = tmp_path / "revlens.yml"
    path.write_text("".join(b.group(1) for b in blocks if b), encoding="utf-8")
    sla = load_sla_config(path)
    assert sla == SlaConfig()
    cfg = load_alerts(path)
    check_references(cfg, CATALOG, sla, str(path))
    assert [r.kind for r in cfg.rules] == ["below_pace", "sla_below", "sla_below", "out_of_range"]
    assert cfg.rules[1] == SlaBelowRule(name="MQL follow-up", item="mql_followup", threshold=0.9)
    assert (cfg.webhook_env, cfg.webhook_timeout, cfg.webhook_retries) == ("REVLENS_WEBHOOK", 5, 3)
