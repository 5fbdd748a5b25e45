"""The README shows real `revlens kpi` output on the demo data: regenerate the demo as
`make run` does and compare, so the page cannot drift from the product."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from revlens.demo.generate import load_demo
from revlens.model.warehouse import Warehouse

README = Path(__file__).resolve().parents[2] / "README.md"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.slow
def test_readme_kpi_output_is_the_demo_output(tmp_path: Path, revlens: Run) -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- readme-kpi: revlens (.+?) -->\n```text\n(.*?)\n```", text, re.S)
    assert match, "README lost its KPI example"
    args, shown = match.group(1).split(), match.group(2)
    path = tmp_path / "demo.duckdb"
    with Warehouse.open(path, create=True) as wh:
        load_demo(wh, contacts=20_000, seed=42)  # make run's defaults
    done = revlens(*args, warehouse=path, columns=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n") == shown
