"""`revlens kpi`, `kpis` and `targets` as a user runs them: JSON row shapes, targets joined,
errors as one message."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from journeys import deal, journeys_for, load_events, session, stage, traffic
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
                    stage("lead", "2024-01-03"),
                    deal(100, "2024-01-05", closed="2024-02-01", won=True),
                ],
                "bob": [stage("lead", "2024-02-03")],
                "cid": [stage("lead", "2024-02-13")],
            },
        )
    return path


def test_kpi_json_rows_have_the_documented_fields(revlens: Run, filled: Path) -> None:
    done = revlens(
        "targets", "set", "leads", "--period", "2024-02", "--target", "4", warehouse=filled
    )
    assert done.returncode == 0, done.stderr
    done = revlens(
        "kpi",
        "leads,win_rate",
        "--from",
        "2024-01-01",
        "--to",
        "2024-02-29",
        "--grain",
        "month",
        "--compare",
        "previous",
        "--format",
        "json",
        warehouse=filled,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    feb = next(r for r in rows if r["kpi"] == "leads" and r["period_start"] == "2024-02-01")
    assert feb == {
        "kpi": "leads",
        "period_start": "2024-02-01",
        "period_end": "2024-02-29",
        "value": 2.0,
        "numerator": None,
        "denominator": None,
        "unit": "count",
        "mode": "period",
        "previous_value": 1.0,
        "change": 1.0,
        "target": 4.0,
        "attainment": 0.5,
    }
    jan_win = next(r for r in rows if r["kpi"] == "win_rate" and r["period_start"] == "2024-01-01")
    assert jan_win["value"] is None and jan_win["denominator"] == 0


def test_targets_list_and_kpis_catalogue(revlens: Run, filled: Path) -> None:
    revlens("targets", "set", "cpl", "--period", "2024-Q1", "--target", "50", warehouse=filled)
    listed = json.loads(revlens("targets", "list", "--format", "json", warehouse=filled).stdout)
    assert listed == [
        {
            "kpi": "cpl",
            "period_start": "2024-01-01",
            "period_end": "2024-03-31",
            "dimension": None,
            "dimension_value": None,
            "target": 50.0,
        }
    ]
    catalogue = json.loads(revlens("kpis", "--format", "json").stdout)
    ids = [k["id"] for k in catalogue]
    assert ids[:2] == ["reach", "sessions"] and "sla_mql_followup" in ids
    cpl = next(k for k in catalogue if k["id"] == "cpl")
    assert (cpl["formula"], cpl["unit"], cpl["direction"]) == ("spend / leads", "money", "down")


def test_kpi_errors_are_one_message(revlens: Run, filled: Path) -> None:
    done = revlens("kpi", "lead", warehouse=filled)
    assert done.returncode == 1
    assert "did you mean 'leads'" in done.stderr and "Traceback" not in done.stderr
    done = revlens("kpi", "leads", "--window", "ninety", warehouse=filled)
    assert done.returncode == 1 and "RL511" in done.stderr
    done = revlens(
        "targets", "set", "leads", "--period", "March", "--target", "1", warehouse=filled
    )
    assert done.returncode == 1 and "RL516" in done.stderr


def test_visit_to_lead_by_landing_page_says_its_sources(revlens: Run, tmp_path: Path) -> None:
    """Seed 002's visit -> lead by landing page, from the command line: leads by their first
    touch's landing page, sessions from web_traffic (2 Feb) and touchpoints (1 Feb)."""
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, create=True) as wh:
        journeys_for(
            wh,
            {
                "ann": [
                    session("paid_search", "2024-02-01T10:00:00", landing_page="/pricing"),
                    stage("lead", "2024-02-01T10:05:00"),
                ],
                "bob": [
                    session("organic_search", "2024-02-01T11:00:00", landing_page="/blog"),
                    stage("lead", "2024-02-01T11:05:00"),
                ],
            },
        )
        load_events(
            wh,
            traffic("paid_search", "2024-02-02", 99, landing_page="/pricing"),
            traffic("organic_search", "2024-02-02", 31263, landing_page="/blog"),
        )
    args = ("kpi", "visit_to_lead", "--from", "2024-02-01", "--to", "2024-02-29")
    done = revlens(*args, "--by", "landing_page", "--format", "json", warehouse=path)
    assert done.returncode == 0, done.stderr
    rows = {r["landing_page"]: r for r in json.loads(done.stdout)}
    assert rows["/pricing"]["value"] == 1 / 100
    assert rows["/pricing"]["numerator"] == 1.0 and rows["/pricing"]["denominator"] == 100.0
    assert rows["/blog"]["value"] == 1 / 31264
    assert rows["/blog"]["sources"] == ["web_traffic", "touchpoints"]
    table = revlens(*args, "--by", "landing_page", warehouse=path)
    assert table.returncode == 0, table.stderr
    assert "sources" in table.stdout and "web_traffic+touchpoints" in table.stdout
    assert "/pricing" in table.stdout and "1.0%" in table.stdout
