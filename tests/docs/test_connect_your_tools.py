"""docs/connect-your-tools.md runs its worked first hour on the example exports and shows
the real output: run the page's commands as a user would and compare every table."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "connect-your-tools.md"
FIXTURES = ROOT / "tests" / "ingest" / "fixtures" / "tools"
Run = Callable[..., subprocess.CompletedProcess[str]]


def _commands(text: str) -> list[list[str]]:
    """The `revlens ...` lines of the page's first-hour block, with $F made absolute."""
    block = re.search(r"<!-- first-hour -->\n```sh\n(.*?)\n```", text, re.S)
    assert block, "the page lost its first-hour commands"
    lines = [line for line in block.group(1).splitlines() if line.startswith("revlens ")]
    return [line.replace("$F", str(FIXTURES)).split()[1:] for line in lines]


def test_the_first_hour_of_the_page_is_what_revlens_prints(tmp_path: Path, revlens: Run) -> None:
    text = PAGE.read_text(encoding="utf-8")
    warehouse = tmp_path / "first-hour.duckdb"
    printed = []
    for args in _commands(text):
        done = revlens(*args, warehouse=warehouse, columns=130)
        assert done.returncode == 0, done.stderr
        printed.append(" ".join((done.stdout + done.stderr).split()))
    imported = printed[-1]
    for file in ("hubspot-contacts", "hubspot-deals", "google-ads-campaigns", "ga4-traffic"):
        assert f"using mapping {file}" in imported
    # the numbers the page's prose quotes
    assert "59 rows for contacts," in imported  # subscribers, skipped by the mapping's rule
    assert "36 opportunities have no amount" in imported
    assert "1 opportunities rows name 1 contacts that are not in contacts" in imported
    assert "2 title lines, 4 summary rows skipped" in imported
    assert "9 comment lines skipped" in imported

    shown = re.findall(
        r"<!-- first-hour-output: revlens (.+?) -->\n```text\n(.*?)\n```", text, re.S
    )
    assert len(shown) == 3, "the page lost one of its outputs"
    for args, table in shown:
        done = revlens(*args.split(), warehouse=warehouse, columns=130)
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip("\n") == table, f"revlens {args} prints something else now"
