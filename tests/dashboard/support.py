"""Helpers of the dashboard tests: the demo warehouse's handle, logging in through the
form, and reading a page's embedded rows and data-* attributes."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

CONTACTS = 3000
USER, PASSWORD = "ana", "correct horse battery"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass(frozen=True)
class Demo:
    path: Path
    token: str

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def copy(self, folder: Path) -> Demo:
        """The same warehouse in another file (a server of its own, no shared locks)."""
        target = folder / "demo.duckdb"
        shutil.copy(self.path, target)
        return Demo(target, self.token)


def login_csrf(html: str) -> str:
    found = re.search(r'name="login_csrf" value="([^"]+)"', html)
    assert found, "the login form has no login_csrf field"
    return found.group(1)


def log_in(client: TestClient, next_url: str = "/", **fields: str) -> Any:
    """Fill the login form as a browser would: GET it (for its CSRF token), then POST."""
    form = client.get("/login", params={"next": next_url})
    data = {"next": next_url, "login_csrf": login_csrf(form.text), **fields}
    return client.post("/login", data=data, follow_redirects=False)


def page_data(html: str) -> dict[str, Any]:
    """The rows a page embeds in <script type="application/json" id="page-data">."""
    found = re.search(
        r'<script type="application/json" id="page-data">(.*?)</script>', html, re.DOTALL
    )
    assert found, "the page has no page-data block"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def number(text: str) -> float | None:
    """A data-value attribute: JSON number, empty for none."""
    return None if text == "" else float(json.loads(text))


def same_rows(page: Any, api: Any, where: str = "rows") -> None:
    """The page's rows are the API's: the same keys and values (floats to 1e-9 relative)."""
    if isinstance(api, dict):
        assert isinstance(page, dict), where
        assert page.keys() == api.keys(), f"{where}: keys {page.keys()} != {api.keys()}"
        for key in api:
            same_rows(page[key], api[key], f"{where}.{key}")
    elif isinstance(api, list):
        assert isinstance(page, list) and len(page) == len(api), f"{where}: lengths differ"
        for i, (a, b) in enumerate(zip(page, api, strict=True)):
            same_rows(a, b, f"{where}[{i}]")
    elif isinstance(api, int | float) and not isinstance(api, bool):
        assert isinstance(page, int | float), f"{where}: {page!r} != {api!r}"
        assert math.isclose(page, api, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {page} != {api}"
    else:
        assert page == api, f"{where}: {page!r} != {api!r}"
