"""`revlens funnel`, `cohorts` and `velocity` as a user runs them: JSON row shapes and
values, the table title, and bad options as one message without a traceback."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from journeys import journeys_for, stage, touch
from revlens.model.warehouse import Warehouse

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, create=True) as wh:
        journeys_for(
            wh,
            {
                "ann": [
                    touch("paid_search", "2024-01-01"),
                    stage("lead", "2024-01-03"),
                    stage("mql", "2024-01-05"),
                    stage("sql", "2024-01-15"),
                ],
                "bob": [stage("lead", "2024-01-10"), stage("mql", "2024-01-20")],
                "cid": [stage("lead", "2024-01-20")],
                "dee": [stage("lead", "2024-05-01")],  # the newest data
            },
        )
    return path


def test_funnel_json_rows(revlens: Run, filled: Path) -> None:
    done = revlens(
        "funnel",
        "--stages",
        "lead,mql,sql",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
        "--format",
        "json",
        warehouse=filled,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    base = {"cohort": "2024-01-01", "cohort_end": "2024-01-31", "immature": False}
    assert rows == [
        {**base, "stage": "lead", "count": 3, "conversion_from_first": 1.0,
         "conversion_from_previous": None, "dropped": None, "median_days": None,
         "mean_days": None, "p90_days": None},
        {**base, "stage": "mql", "count": 2, "conversion_from_first": 2 / 3,
         "conversion_from_previous": 2 / 3, "dropped": 1, "median_days": 6.0,
         "mean_days": 6.0, "p90_days": pytest.approx(9.2)},
        {**base, "stage": "sql", "count": 1, "conversion_from_first": 1 / 3,
         "conversion_from_previous": 0.5, "dropped": 1, "median_days": 10.0,
         "mean_days": 10.0, "p90_days": 10.0},
    ]  # fmt: skip


def test_funnel_json_period_mode_by_channel(revlens: Run, filled: Path) -> None:
    done = revlens(
        "funnel",
        "--stages",
        "lead,mql",
        "--mode",
        "period",
        "--by",
        "channel",
        "--grain",
        "month",
        "--from",
        "2024-01-01",
        "--to",
        "2024-02-29",
        "--format",
        "json",
        warehouse=filled,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [
        (r["period_start"], r["period_end"], r["channel"], r["stage"], r["count"]) for r in rows
    ] == [
        ("2024-01-01", "2024-01-31", None, "lead", 2),
        ("2024-01-01", "2024-01-31", None, "mql", 1),
        ("2024-01-01", "2024-01-31", "paid_search", "lead", 1),
        ("2024-01-01", "2024-01-31", "paid_search", "mql", 1),
        ("2024-02-01", "2024-02-29", None, "lead", 0),
        ("2024-02-01", "2024-02-29", None, "mql", 0),
        ("2024-02-01", "2024-02-29", "paid_search", "lead", 0),
        ("2024-02-01", "2024-02-29", "paid_search", "mql", 0),
    ]
    assert all("immature" not in r and "cohort" not in r for r in rows)


def test_funnel_table_output(revlens: Run, filled: Path) -> None:
    done = revlens(
        "funnel",
        "--stages",
        "lead,mql",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
        "--window",
        "10d",
        warehouse=filled,
    )
    assert done.returncode == 0, done.stderr
    assert "lead → mql 2024-01-01 .. 2024-01-31 (cohort, contacts)" in done.stdout
    assert "66.7" in done.stdout  # of first, in percent
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("option", "value", "code", "message"),
    [
        ("--order", "sideways", "RL601", "--order must be one of ordered, strict"),
        ("--skips", "keep", "RL601", "--skips must be one of pass, drop"),
        ("--stages", "lead", "RL600", "a funnel needs at least two distinct stages"),
    ],
)
def test_bad_options_are_one_message(
    revlens: Run, filled: Path, option: str, value: str, code: str, message: str
) -> None:
    args = ["funnel", "--stages", "lead,mql", option, value]
    if option == "--stages":
        args = ["funnel", option, value]
    done = revlens(*args, warehouse=filled)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert f"error {code}" in done.stderr
    assert done.stderr.count(message) == 1
    assert done.stdout == ""


def test_unknown_stage_is_one_message(revlens: Run, filled: Path) -> None:
    done = revlens("funnel", "--stages", "lead,mql", "--by", "chanel", warehouse=filled)
    assert done.returncode == 1
    assert "did you mean 'channel'" in done.stderr and "Traceback" not in done.stderr
    done = revlens("cohorts", "--from-stage", "lead", "--to-stage", "custmer", warehouse=filled)
    assert done.returncode == 1
    assert "did you mean 'customer'" in done.stderr and "Traceback" not in done.stderr


def test_cohorts_and_velocity_json(revlens: Run, filled: Path) -> None:
    done = revlens(
        "cohorts",
        "--from-stage",
        "lead",
        "--to-stage",
        "mql",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
        "--months",
        "1",
        "--format",
        "json",
        warehouse=filled,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"cohort": "2024-01-01", "size": 3, "month": 0, "converted": 2, "rate": 2 / 3,
         "observed": True},
        {"cohort": "2024-01-01", "size": 3, "month": 1, "converted": 2, "rate": 2 / 3,
         "observed": True},
    ]  # fmt: skip
    done = revlens(
        "velocity",
        "--from-stage",
        "lead",
        "--to-stage",
        "mql",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-31",
        "--bins",
        "2",
        "--format",
        "json",
        warehouse=filled,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["from_stage"], out["to_stage"]) == ("lead", "mql")
    assert out["histogram"] == [
        {"from_days": 2.0, "to_days": 6.0, "count": 1},
        {"from_days": 6.0, "to_days": 10.0, "count": 1},
    ]
    assert out["trend"] == [
        {"period_start": "2024-01-01", "period_end": "2024-01-31", "count": 2,
         "median_days": 6.0, "mean_days": 6.0, "p90_days": pytest.approx(9.2)},
    ]  # fmt: skip
