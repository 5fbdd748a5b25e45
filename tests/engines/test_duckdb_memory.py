"""The warehouse's DuckDB memory_limit: $REVLENS_MEMORY_LIMIT, else 6 GB (or 80% of RAM when
that is less), so a large query spills to disk instead of taking the machine's memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from revlens.engines import duckdb as engine
from revlens.errors import WarehouseError
from revlens.model.warehouse import Warehouse


def _limit(path: Path) -> str:
    with Warehouse.open(path, create=True) as wh:
        value: str = wh.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    return value


def test_the_default_is_6gb_or_80_percent_of_ram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REVLENS_MEMORY_LIMIT", raising=False)
    assert int(engine.memory_limit().removesuffix("MB")) <= 6000
    monkeypatch.setattr(
        engine.os, "sysconf", lambda name: 1024 if name == "SC_PAGE_SIZE" else 10**6
    )
    assert engine.memory_limit() == f"{int(1024 * 10**6 * 0.8 / 1e6)}MB"  # 1 GB of RAM
    monkeypatch.setattr(
        engine.os, "sysconf", lambda name: 4096 if name == "SC_PAGE_SIZE" else 10**8
    )
    assert engine.memory_limit() == "6000MB"
    assert _limit(tmp_path / "w.duckdb") == "5.5 GiB"


def test_the_environment_variable_sets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVLENS_MEMORY_LIMIT", "2GB")
    assert _limit(tmp_path / "w.duckdb") == "1.8 GiB"


def test_a_bad_value_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVLENS_MEMORY_LIMIT", "lots")
    with pytest.raises(WarehouseError) as caught:
        Warehouse.open(tmp_path / "w.duckdb", create=True)
    assert caught.value.code == "RL403" and caught.value.value == "lots"
    assert "4GB" in (caught.value.fix or "")
