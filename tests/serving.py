"""A demo warehouse behind the server, for the API and dashboard tests: tokens of both
roles, users, a clock the tests can move (to expire sessions) and a TestClient."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from revlens.api import credentials
from revlens.api.app import ServerConfig, create_app
from revlens.api.credentials import Role
from revlens.demo.generate import load_demo
from revlens.model.warehouse import Warehouse

CONTACTS = 3000
PASSWORD = "correct horse battery"


class Clock:
    """Seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    path: Path
    client: TestClient
    clock: Clock
    admin: str
    viewer: str
    viewer_id: str

    def as_admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    def as_viewer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.viewer}"}


def build_demo(path: Path) -> Path:
    """The seeded demo data set, small, in a warehouse file."""
    with Warehouse.open(path, create=True) as wh:
        load_demo(wh, contacts=CONTACTS, seed=42)
    return path


def serve(path: Path, **config: object) -> Served:
    with Warehouse.open(path) as wh:
        _, admin = credentials.create_token(wh, Role.admin, "admin")
        viewer_id, viewer = credentials.create_token(wh, Role.viewer, "viewer")
        credentials.create_user(wh, "ana", PASSWORD, Role.admin)
        credentials.create_user(wh, "vic", PASSWORD, Role.viewer)
    clock = Clock()
    app = create_app(ServerConfig(warehouse=path, **config), clock=clock)  # type: ignore[arg-type]
    return Served(path, TestClient(app), clock, admin, viewer, viewer_id)
