"""`revlens.kpi(...)` gives the same rows as the compiler it wraps; importing revlens settles
how NumPy and Arrow get memory for large arrays."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
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


def _memory_settings(env: dict[str, str]) -> list[str]:
    """What a fresh interpreter that imports revlens, then NumPy and Arrow, runs with."""
    code = (
        "import revlens, numpy, pyarrow, os;"
        "print(os.environ['NUMPY_MADVISE_HUGEPAGE'], pyarrow.default_memory_pool().backend_name)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NUMPY_", "ARROW_"))}
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_importing_revlens_first_turns_off_huge_page_advice_and_mimalloc() -> None:
    assert _memory_settings({}) == ["0", "system"]


def test_a_users_own_memory_settings_win() -> None:
    chosen = {"NUMPY_MADVISE_HUGEPAGE": "1", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    assert _memory_settings(chosen) == ["1", "jemalloc"]
