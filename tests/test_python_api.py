"""`revlens.kpi(...)`: the Python API gives the same rows as the compiler it wraps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import revlens
from journeys import deal, journeys_for, stage
from revlens.model.warehouse import Warehouse


def test_kpi_facade_returns_tidy_rows(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, create=True) as wh:
        journeys_for(
            wh,
            {
                "ann": [
                    stage("lead", "2024-01-03"),
                    deal(100, "2024-01-05", closed="2024-02-01", won=True),
                ],
                "bob": [
                    stage("lead", "2024-02-03"),
                    deal(50, "2024-02-05", closed="2024-02-09", won=False),
                ],
            },
        )
    result = revlens.kpi(
        "leads,win_rate", start="2024-01-01", end="2024-02-29", grain="month", warehouse=str(path)
    )
    got = {
        (r["kpi"], r["period_start"]): (r["value"], r["numerator"], r["denominator"])
        for r in result.rows
    }
    assert got == {
        ("leads", dt.date(2024, 1, 1)): (1.0, None, None),
        ("leads", dt.date(2024, 2, 1)): (1.0, None, None),
        ("win_rate", dt.date(2024, 1, 1)): (None, 0.0, 0.0),
        ("win_rate", dt.date(2024, 2, 1)): (0.5, 1.0, 2.0),
    }
    frame = result.to_pandas()
    assert list(frame.columns[:5]) == ["kpi", "period_start", "period_end", "value", "numerator"]
    assert len(frame) == 4
