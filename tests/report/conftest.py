"""Fixtures of the report tests: a small hand-made warehouse whose numbers are counted by
hand and a small seeded demo warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from report.hand_data import fill_hand
from revlens.catalog.spec import Catalog
from revlens.demo.generate import load_demo
from revlens.model.warehouse import Warehouse
from revlens.service import catalog_for


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return catalog_for(None)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The hand-made warehouse, in a file, open read-only."""
    path = tmp_path_factory.mktemp("hand") / "hand.duckdb"
    with Warehouse.open(path, create=True) as wh:
        fill_hand(wh)
    with Warehouse.open(path, read_only=True) as wh:
        yield wh


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded demo warehouse (1,500 contacts, with the demo's monthly targets)."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with Warehouse.open(path, create=True) as wh:
        load_demo(wh, contacts=1500, seed=7)
    return path


@pytest.fixture(scope="module")
def demo(demo_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(demo_path, read_only=True) as wh:
        # one thread: the engine then sums floats in one order, so two runs of a query agree
        # to the last bit (with several threads money sums can differ in the 16th digit)
        wh.con.execute("SET threads = 1")
        yield wh
