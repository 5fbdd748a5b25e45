"""Fixtures of the attribution tests: ChannelAttribution's PathData (skipped with a reason
when ../shared/data is absent) and the peer packages' numbers on it.

Engines: only the journeys read from a warehouse depend on one, and those tests
(test_warehouse_journeys.py, test_demo_truth.py) run on DuckDB and Spark. The models over
path files and journey tables (rules, Markov, Shapley, bootstrap, properties, PathData
peers) are pure Python and NumPy, with no engine to vary, so they run once, in `make test`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from revlens.attribution import JourneyTable
from revlens.attribution.pathfile import PathColumns, read_path_file

PATHDATA = (
    Path(__file__).resolve().parents[3] / "shared/data/channelattribution_pathdata/PathData.csv"
)
PEERS = Path(__file__).with_name("fixtures") / "pathdata_peers.json"
PATHDATA_COLUMNS = PathColumns(
    path="path",
    conversions="total_conversions",
    value="total_conversion_value",
    nulls="total_null",
)


@pytest.fixture(scope="session")
def pathdata_file() -> Path:
    if not PATHDATA.exists():
        pytest.skip(f"ChannelAttribution's PathData is not at {PATHDATA} (../shared/data)")
    return PATHDATA


@pytest.fixture(scope="session")
def pathdata(pathdata_file: Path) -> JourneyTable:
    return read_path_file(pathdata_file, PATHDATA_COLUMNS)


@pytest.fixture(scope="session")
def peers() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PEERS.read_text(encoding="utf-8"))
    return data
