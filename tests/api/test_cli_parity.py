"""The CLI (`--format json`) and the API give identical rows for the same question."""

from __future__ import annotations

import json
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any

import pytest

from serving import Served

Revlens = Callable[..., CompletedProcess[str]]

CASES = [
    (
        [
            "kpi",
            "leads,cpl,win_rate,revenue",
            "--from",
            "2026-01-01",
            "--to",
            "2026-06-30",
            "--grain",
            "month",
            "--by",
            "channel",
            "--compare",
            "previous",
        ],
        "/api/kpis",
        {
            "kpi": "leads,cpl,win_rate,revenue",
            "from": "2026-01-01",
            "to": "2026-06-30",
            "grain": "month",
            "by": "channel",
            "compare": "previous",
        },
    ),
    (
        ["kpi", "mqls,sales_cycle_days", "--mode", "cohort", "--window", "60d", "--by", "segment"],
        "/api/kpis",
        {"kpi": "mqls,sales_cycle_days", "mode": "cohort", "window": "60d", "by": "segment"},
    ),
    (
        [
            "funnel",
            "--stages",
            "lead,mql,sql,opportunity,customer",
            "--grain",
            "quarter",
            "--by",
            "channel",
        ],
        "/api/funnel",
        {"stages": "lead,mql,sql,opportunity,customer", "grain": "quarter", "by": "channel"},
    ),
    (
        [
            "attribution",
            "--model",
            "first_touch,last_touch,linear,markov",
            "--conversion",
            "revenue",
        ],
        "/api/attribution",
        {"model": "first_touch,last_touch,linear,markov", "conversion": "revenue"},
    ),
    (["pacing"], "/api/pacing", {}),
    (["targets", "list"], "/api/targets", {}),
    (["kpis"], "/api/catalog", {}),
    (
        ["plan", "--revenue-goal", "2000000", "--from-history"],
        "/api/plan",
        {"revenue_goal": "2000000", "from_history": "true"},
    ),
]


@pytest.mark.parametrize(
    ("argv", "url", "params"), CASES, ids=[c[1] + " " + c[0][0] for c in CASES]
)
def test_cli_and_api_rows_are_identical(
    served: Served, revlens: Revlens, argv: list[str], url: str, params: dict[str, str]
) -> None:
    done = revlens(*argv, "--format", "json", warehouse=served.path)
    assert done.returncode == 0, done.stderr
    cli: Any = json.loads(done.stdout)
    r = served.client.get(url, params=params, headers=served.as_viewer())
    assert r.status_code == 200, r.text
    api = r.json()
    if url == "/api/plan":
        api.pop("note")
    assert api == same_as(cli)
    assert api, "an empty answer would prove nothing"


def same_as(data: Any) -> Any:
    """`data` with every float as pytest.approx(rel=1e-12): DuckDB sums doubles in parallel,
    so two runs of one query may differ in the last bits (e.g. 229.51329848 and
    229.51329847999995); everything else must be equal."""
    if isinstance(data, dict):
        return {k: same_as(v) for k, v in data.items()}
    if isinstance(data, list):
        return [same_as(v) for v in data]
    if isinstance(data, float):
        return pytest.approx(data, rel=1e-12, abs=1e-12)
    return data
