"""Shared test helpers: an in-memory warehouse, a file writer, full-content snapshots of a
warehouse, and a runner for the installed `revlens` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revlens.model.schema import TABLES
from revlens.model.warehouse import IMPORTS_TABLE, REJECTS_TABLE, Warehouse

REVLENS_BIN = Path(sys.executable).parent / "revlens"

Snapshot = dict[str, list[tuple[Any, ...]]]


def write_file(folder: Path, name: str, content: str | bytes) -> Path:
    """Write `content` byte for byte (str as UTF-8, no newline translation)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def take_snapshot(wh: Warehouse, *, logs: bool = True) -> Snapshot:
    """Every row of every canonical table (and, with `logs`, the import log and the rejects
    store), sorted, so two snapshots are equal exactly when the contents are."""
    names = [t.name for t in TABLES] + ([IMPORTS_TABLE, REJECTS_TABLE] if logs else [])
    return {n: wh.con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}


def run_revlens(
    *args: str, warehouse: Path | None = None, timeout: float = 120, columns: int = 400
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would, with wide, plain output."""
    env = {k: v for k, v in os.environ.items() if k != "REVLENS_WAREHOUSE"}
    env.update(COLUMNS=str(columns), NO_COLOR="1", TERM="dumb")
    cmd = [str(REVLENS_BIN)] + (["--warehouse", str(warehouse)] if warehouse else []) + list(args)
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    wh = Warehouse.open(":memory:", create=True)
    yield wh
    wh.close()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """`write("a.csv", "text or bytes")` -> the path of the new file under tmp_path."""
    return lambda name, content: write_file(tmp_path, name, content)


@pytest.fixture
def snapshot() -> Callable[..., Snapshot]:
    return take_snapshot


@pytest.fixture
def revlens() -> Callable[..., subprocess.CompletedProcess[str]]:
    if not REVLENS_BIN.exists():
        pytest.skip(f"the console script {REVLENS_BIN} is not installed (pip install -e .)")
    return run_revlens
