"""Shared test helpers: an in-memory warehouse, a file writer, full-content snapshots of a
warehouse, a runner for the installed `revlens` command, and the engines the analytics
tests run on.

One test suite, two engines: the KPI, funnel and attribution tests build their data in a
DuckDB warehouse (through the real import path) and read it through `on_engine(wh)`, which
is the warehouse itself for the `duckdb` parameter and, for `spark`, the warehouse exported
as a Parquet lake and read by Spark (`LakeReader`). The spark parameter carries the `spark`
marker, so `make test` (`-m "not spark"`) runs the DuckDB side only, starts no Spark and
exports no lake, and `make test-spark` (`-m spark`) runs the same test functions on Spark.
A test that cannot run on Spark says why with `@pytest.mark.duckdb_only(reason=...)`: its
spark variant is reported as skipped with that reason, never dropped silently. Tests that
only compute in Python (path-file attribution, references) take no engine at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revlens.model.schema import TABLES
from revlens.model.warehouse import IMPORTS_TABLE, REJECTS_TABLE, Reader, Warehouse
from two_engines import ENGINES, SPARK_TEST_CONFIG, OnEngine

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


# -- engines (see two_engines.py) -----------------------------------------------------------
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`duckdb_only(reason=...)` on a test parametrised over engines: its spark variant is
    skipped with that reason, shown in the summary (-ra)."""
    for item in items:
        marker = item.get_closest_marker("duckdb_only")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: duckdb_only needs a reason")
        callspec = getattr(item, "callspec", None)
        if callspec is None or "engine" not in callspec.params:
            raise pytest.UsageError(
                f"{item.nodeid}: duckdb_only on a test without the engine parameter would "
                "hide the gap; declare it with two_engines.duckdb_only(reason)"
            )
        if callspec.params["engine"] == "spark":
            item.add_marker(pytest.mark.skip(reason=f"DuckDB only: {reason}"))


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local Spark session for the whole run (started only by a spark test)."""
    from revlens.engines.spark import spark_session

    return spark_session("local[2]", SPARK_TEST_CONFIG)


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test: "duckdb" or "spark" (the latter marked `spark`)."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def on_engine(
    engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> OnEngine:
    """`on_engine(wh)`: what the analytics read, on the engine under test. DuckDB: `wh`
    itself. Spark: `wh` exported as a lake and read by Spark; one export per warehouse and
    content (a warehouse loaded again after a query is exported again)."""
    if engine == "duckdb":
        return lambda wh: wh
    session = request.getfixturevalue("spark")
    from revlens.engines.lake import export_lake
    from revlens.engines.spark import LakeReader

    # id(wh) -> (wh, its state, reader); wh is kept so its id is not reused
    lakes: dict[int, tuple[Warehouse, tuple[Any, ...], Reader]] = {}

    def read(wh: Warehouse) -> Reader:
        # rows per table, imports (an upsert is one) and settings: what the lake carries
        state = (
            *(
                wh.con.execute(f'SELECT count(*) FROM "{n}"').fetchone()
                for n in [*(t.name for t in TABLES), IMPORTS_TABLE]
            ),
            wh.settings(),
        )
        known = lakes.get(id(wh))
        if known is not None and known[1] == state:
            return known[2]
        lake = tmp_path_factory.mktemp("lake") / "lake"
        export_lake(wh, lake)
        reader = LakeReader(lake, session=session)
        lakes[id(wh)] = (wh, state, reader)
        return reader

    return read
