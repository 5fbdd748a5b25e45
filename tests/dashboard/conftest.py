"""A small demo warehouse for the dashboard tests, built once per session, with a viewer
token and a user, and a fresh app per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dashboard.support import CONTACTS, PASSWORD, USER, Demo
from revlens.api import credentials
from revlens.api.app import ServerConfig, create_app
from revlens.api.credentials import Role
from revlens.demo.generate import load_demo
from revlens.model.warehouse import Warehouse


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The seeded demo data set (3,000 contacts, 24 months), a viewer token and a user."""
    path = tmp_path_factory.mktemp("dashboard") / "demo.duckdb"
    with Warehouse.open(path, create=True) as wh:
        load_demo(wh, contacts=CONTACTS, seed=42)
        _, token = credentials.create_token(wh, Role.viewer, "viewer")
        credentials.create_user(wh, USER, PASSWORD, Role.viewer)
        credentials.session_secret(wh)
    return Demo(path, token)


@pytest.fixture
def client(demo: Demo) -> Iterator[TestClient]:
    """A fresh app (its own login rate limiter) over the demo warehouse."""
    with TestClient(create_app(ServerConfig(warehouse=demo.path))) as c:
        yield c
