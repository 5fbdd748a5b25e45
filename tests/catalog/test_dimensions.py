"""Groupings of a dimension defined in the project file: Maven's managers from its teams
file, checked against a computation written separately with the csv module."""

from __future__ import annotations

import csv
import datetime as dt
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from revlens.catalog.dimensions import load_groupings
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError
from revlens.ingest.load import import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import Warehouse

MAVEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "maven_crm_sales_opportunities"


def test_grouping_needs_one_source(tmp_path: Path) -> None:
    project = tmp_path / "revlens.yml"
    project.write_text("dimensions:\n  manager: {from: owner}\n", encoding="utf-8")
    with pytest.raises(RevlensError, match="exactly one of map or file"):
        load_groupings(project)


def test_grouping_from_an_inline_map(tmp_path: Path) -> None:
    project = tmp_path / "revlens.yml"
    project.write_text(
        "dimensions:\n  region: {from: country, map: {DE: DACH, AT: DACH}}\n", encoding="utf-8"
    )
    groupings = load_groupings(project)
    assert groupings["region"].base == "country"
    assert groupings["region"].mapping == {"DE": "DACH", "AT": "DACH"}


@pytest.mark.realdata
@pytest.mark.skipif(
    not MAVEN.exists(), reason="../shared/data/maven_crm_sales_opportunities absent"
)
def test_maven_win_rate_deal_size_and_cycle_by_manager(tmp_path: Path) -> None:
    project = tmp_path / "revlens.yml"
    project.write_text(
        "dimensions:\n  manager: {from: owner, file: %s, key: sales_agent, value: manager}\n"
        % (MAVEN / "sales_teams.csv"),
        encoding="utf-8",
    )
    wh = Warehouse.open(":memory:", create=True)
    import_files(wh, [MAVEN / "sales_pipeline.csv"], mapping=load_mapping("maven-pipeline"))
    query = KpiQuery(
        kpis=("win_rate", "average_deal_size", "sales_cycle_days"),
        start=dt.date(2016, 10, 1),
        end=dt.date(2017, 12, 31),
        by=("manager",),
        groupings=load_groupings(project),
    )
    rows = run_kpis(wh, query, load_catalog(measures=set(MEASURES))).rows
    got = {(r["kpi"], r["manager"]): r for r in rows}

    with (MAVEN / "sales_teams.csv").open(newline="", encoding="utf-8") as fh:
        manager_of = {r["sales_agent"]: r["manager"] for r in csv.DictReader(fh)}
    won: dict[str, list[float]] = defaultdict(list)
    closed: dict[str, int] = defaultdict(int)
    cycle: dict[str, list[int]] = defaultdict(list)
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["deal_stage"] not in ("Won", "Lost"):
                continue
            manager = manager_of[r["sales_agent"]]
            closed[manager] += 1
            if r["deal_stage"] == "Won":
                won[manager].append(float(r["close_value"]))
                days = (
                    dt.date.fromisoformat(r["close_date"]) - dt.date.fromisoformat(r["engage_date"])
                ).days
                cycle[manager].append(days)
    assert sorted(closed) == sorted(m for k, m in got if k == "win_rate")
    for manager in closed:
        assert got[("win_rate", manager)]["numerator"] == len(won[manager])
        assert got[("win_rate", manager)]["denominator"] == closed[manager]
        assert got[("average_deal_size", manager)]["value"] == pytest.approx(
            sum(won[manager]) / len(won[manager]), rel=1e-12
        )
        assert got[("sales_cycle_days", manager)]["value"] == statistics.median(cycle[manager])
        assert got[("sales_cycle_days", manager)]["mean"] == pytest.approx(
            statistics.mean(cycle[manager]), rel=1e-12
        )
