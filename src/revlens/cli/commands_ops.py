"""`revlens sla` (the marketing-sales agreement: compliance per period and owner, breaching
records) and `revlens alerts check` (rules for cron: exit 0 quiet, 1 fired, 2 bad config)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from revlens.cli.app import (
    FormatOption,
    FromOption,
    ToOption,
    app,
    console,
    open_reader,
    print_rows,
    state,
    to_json,
)
from revlens.cli.output import OutputFormat, err_console, format_value
from revlens.compile.periods import Grain
from revlens.errors import RevlensError
from revlens.params import parse_day
from revlens.plan.alerts import (
    AlertsConfig,
    CheckResult,
    WebhookError,
    check_alerts,
    check_references,
    load_alerts,
    post_webhook,
    slack_body,
    webhook_url,
)
from revlens.plan.sla import SlaConfig, human_minutes, load_sla_config, read_section, sla_report
from revlens.service import PROJECT_FILE, catalog_for

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="A file with an `sla:` section (default: ./revlens.yml when present, else the "
        "default agreement).",
    ),
]


def sla_config_for(path: Path | None) -> SlaConfig:
    """--config FILE, else ./revlens.yml when present, else the defaults."""
    if path is None and PROJECT_FILE.exists():
        path = PROJECT_FILE
    return load_sla_config(path)


@app.command()
def sla(
    start: FromOption = None,
    end: ToOption = None,
    grain: Annotated[
        Grain, typer.Option(help="One row per day, week, month, quarter or year.")
    ] = Grain.month,
    by: Annotated[
        str | None, typer.Option(help="owner: compliance per owner (the contact's owner).")
    ] = None,
    breaches: Annotated[
        bool, typer.Option("--breaches", help="List the breaching records too.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Tell missing follow-ups from not yet due ones as of this day "
            "(default: the newest SLA data).",
        ),
    ] = None,
    config: ConfigOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """SLA compliance per period (and owner): each item's target, actual and whether it was
    kept; --breaches lists the MQLs and inbound requests that were answered late or not."""
    if by not in (None, "owner"):
        raise RevlensError(
            "--by takes only owner", value=by, code="RL803", fix="use --by owner or leave it out"
        )
    cfg = sla_config_for(config)
    day = parse_day(as_of, "--as-of")
    with open_reader() as wh:
        report = sla_report(
            wh,
            cfg,
            start=parse_day(start, "--from"),
            end=parse_day(end, "--to", month_end=True),
            grain=grain,
            by_owner=by == "owner",
            as_of=None if day is None else _end_of(day),
        )
    if format is OutputFormat.json:
        print(to_json(report.to_dict()))
        return
    if format is OutputFormat.csv:
        print_rows(report.breaches if breaches else report.items, format)
        return
    shown = [
        {
            "period_start": r["period_start"],
            **({"owner": r["owner"] or "(none)"} if report.by_owner else {}),
            "item": r["item"],
            "rule": r["rule"],
            "target": format_value(r["target"], r["unit"]),
            "actual": format_value(r["actual"], r["unit"]),
            "kept": "yes" if r["compliant"] else "NO",
            "in SLA": "" if r["denominator"] is None else f"{r['numerator']} / {r['denominator']}",
            "breaches": "" if r["breaches"] is None else r["breaches"],
            "pending": r["pending"] or "",
        }
        for r in report.items
    ]
    print_rows(shown, format, title=f"SLA {report.start} .. {report.end} (as of {report.as_of})")
    if breaches:
        print_rows(
            [
                {
                    "kind": b["kind"],
                    "record": b["record_id"],
                    "owner": b["owner"] or "",
                    "at": f"{b['at']:%Y-%m-%d %H:%M}",
                    "due": f"{b['due_at']:%Y-%m-%d %H:%M}",
                    "done": "" if b["done_at"] is None else f"{b['done_at']:%Y-%m-%d %H:%M}",
                    "status": b["status"],
                    "late": human_minutes(b["late_minutes"]),
                }
                for b in report.breaches
            ],
            format,
            title=f"{len(report.breaches)} breaching records",
        )
    elif report.breaches:
        console.print(
            f"{len(report.breaches)} breaching records: `revlens sla --breaches` lists them",
            highlight=False,
        )


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59))


alerts_app = typer.Typer(
    help="Alert rules (the `alerts:` section of revlens.yml): check them, e.g. from cron.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("check")
def alerts_check(
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="A file with an `alerts:` section (and optionally `sla:`); "
            "default: ./revlens.yml.",
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="Post fired alerts to this Slack-compatible webhook "
            "(default: the variable named by alerts.webhook_env).",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Check as of this day (default: the newest data)."),
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Check every alert rule. Exit code: 0 nothing fired, 1 an alert fired, 2 the rules or
    the warehouse cannot be used. Fired alerts go to stdout and, if set, to the webhook."""
    try:
        result, url, cfg = _check(rules, webhook, as_of)
    except RevlensError as exc:
        err_console.print(exc.render(), highlight=False, markup=False)
        raise typer.Exit(2) from None
    except Exception as exc:  # never "1" (= fired) for a crash; a traceback only with --debug
        if state.debug:
            raise
        err_console.print(
            f"error RL999: unexpected {type(exc).__name__}: {exc}\n"
            "  fix: run again with --debug and report the traceback",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(2) from None
    for note in result.notes:
        err_console.print(f"note: {note}", highlight=False, markup=False)
    fired = [f.to_dict() for f in result.fired]
    if format is OutputFormat.json:
        print(to_json(fired))
    elif format is OutputFormat.csv:
        print_rows(
            [{**f, "values": json.dumps(f["values"], default=str)} for f in fired],
            format,
            columns=["rule", "kind", "kpi", "message", "values"],
        )
    elif fired:
        print_rows(
            fired,
            format,
            columns=["rule", "kind", "kpi", "message"],
            title=f"{len(fired)} alert{'s' if len(fired) != 1 else ''} fired "
            f"({result.checked} rules checked as of {result.as_of})",
        )
    else:
        console.print(
            f"no alert fired: {result.checked} rules checked as of {result.as_of}",
            highlight=False,
        )
    if fired and url:
        try:
            delivery = post_webhook(
                url,
                slack_body(result.fired, result.as_of),
                timeout=cfg.webhook_timeout,
                retries=cfg.webhook_retries,
                backoff=cfg.webhook_backoff,
                log=lambda text: err_console.print(text, highlight=False, markup=False),
            )
            err_console.print(
                f"webhook: {len(fired)} alert{'s' if len(fired) != 1 else ''} posted "
                f"(attempt {delivery.attempts})",
                highlight=False,
            )
        except WebhookError as exc:
            err_console.print(exc.render(), highlight=False, markup=False)
    raise typer.Exit(1 if fired else 0)


def _check(
    rules: Path | None, webhook: str | None, as_of: str | None
) -> tuple[CheckResult, str | None, AlertsConfig]:
    project = PROJECT_FILE if PROJECT_FILE.exists() else None
    source = rules or project
    if source is None:
        raise RevlensError(
            "no alert rules: no --rules file and no ./revlens.yml",
            code="RL810",
            fix="add an `alerts:` section to revlens.yml or pass --rules FILE "
            "(see docs/sla-alerts.md)",
        )
    cfg = load_alerts(source)
    # the agreement: the rules file's `sla:`, else the project's, else the defaults
    sla_source = source if read_section(source, "sla") is not None else project
    sla_cfg = load_sla_config(sla_source)
    catalog = catalog_for(None)
    check_references(cfg, catalog, sla_cfg, str(source))
    url = webhook_url(webhook, cfg, os.environ)
    day = parse_day(as_of, "--as-of")
    with open_reader() as wh:
        result = check_alerts(wh, cfg, catalog=catalog, sla=sla_cfg, as_of=day)
    return result, url, cfg
