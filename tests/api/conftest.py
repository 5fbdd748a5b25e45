"""Fixtures of the API tests: a fresh copy of the demo warehouse behind a fresh app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving import Served, build_demo, serve


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo warehouse built once; tests copy it so writes stay their own."""
    return build_demo(tmp_path_factory.mktemp("api") / "demo.duckdb")


@pytest.fixture
def served(demo_file: Path, tmp_path: Path) -> Iterator[Served]:
    """A fresh copy of the demo warehouse behind a fresh app."""
    path = tmp_path / "served.duckdb"
    shutil.copy(demo_file, path)
    s = serve(path)
    with s.client:
        yield s
