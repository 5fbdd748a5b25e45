"""`revlens attribution` as a user runs it: JSON, CSV and table output, errors as one
message (code, place, value, fix) and no traceback, and docs/attribution.md kept true.

Until revlens/cli/app.py imports the command module, the command is run through a tiny
harness that imports it and calls the real `main()` (the console script test below skips
until then)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from revlens.attribution import MODEL_NAMES

Write = Callable[[str, str | bytes], Path]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "attribution.md"
HARNESS = "import revlens.cli.commands_attribution; from revlens.cli.app import main; main()"

HAND = """path,conversions,value,nulls
a > b,2,30,0
b,1,10,1
a,1,50,1
"""


def run(
    *args: str, cwd: Path | None = None, columns: int = 400
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REVLENS_WAREHOUSE"}
    env.update(COLUMNS=str(columns), NO_COLOR="1", TERM="dumb")
    return subprocess.run(
        [sys.executable, "-c", HARNESS, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def rows_of(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    data: list[dict[str, Any]] = json.loads(done.stdout)
    return data


def test_json_rows(write: Write) -> None:
    file = write("hand.csv", HAND)
    done = run(
        "attribution",
        "--paths",
        str(file),
        "--value-column",
        "value",
        "--nulls-column",
        "nulls",
        "--model",
        "last_touch,markov",
        "--format",
        "json",
    )
    rows = rows_of(done)
    assert [(r["model"], r["channel"]) for r in rows] == [
        ("last_touch", "a"),
        ("last_touch", "b"),
        ("markov", "a"),
        ("markov", "b"),
    ]
    assert rows[0] == {
        "model": "last_touch",
        "channel": "a",
        "conversions": 1.0,
        "value": 50.0,
        "share": 0.25,
        "removal_effect": None,
        "shapley_value": None,
        "ci_low": None,
        "ci_high": None,
        "error_bound": None,
    }
    # the hand-solved chain of test_markov: RE a 5/8, b 3/4; conversions 20/11 and 24/11
    assert rows[2]["removal_effect"] == pytest.approx(5 / 8)
    assert rows[3]["conversions"] == pytest.approx(24 / 11)
    assert rows[3]["value"] == pytest.approx(360 / 11)
    assert "note: markov (order 1, collapse on)" in done.stderr  # notes off stdout


def test_csv_and_bootstrap_options(write: Write) -> None:
    file = write("hand.csv", HAND)
    args = ("attribution", "--paths", str(file), "--nulls-column", "nulls", "-m", "shapley")
    done = run(*args, "--ci", "0.8", "--seed", "3", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(table[0]) == [
        "model",
        "channel",
        "conversions",
        "value",
        "share",
        "removal_effect",
        "shapley_value",
        "ci_low",
        "ci_high",
        "error_bound",
    ]
    # Zhao: R{a,b} = 2, R{b} = 1, R{a} = 1 -> a 1 + 1 = 2, b 1 + 1 = 2
    assert [(r["channel"], float(r["conversions"])) for r in table] == [("a", 2.0), ("b", 2.0)]
    again = run(*args, "--ci", "0.8", "--seed", "3", "--format", "csv")
    assert again.stdout == done.stdout  # same seed, same bounds
    assert table[0]["ci_low"] and table[0]["ci_high"]


def test_table_output_and_options(write: Write) -> None:
    file = write("hand.csv", HAND)
    done = run(
        "attribution",
        "--paths",
        str(file),
        "-m",
        "position_based,custom,w_shaped,time_decay,markov",
        "--position-weights",
        "30,40,30",
        "--custom-weights",
        ":0:1",
        "--half-life",
        "2",
        "--order",
        "2",
        "--no-collapse",
        "--ci",
        "0.9",
        "--bootstrap",
        "20",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    flat = " ".join(out.split())  # the title wraps to the table's width
    assert "attribution of 4 conversions (value 0.00) from" in flat
    assert "90% bootstrap interval (20 replicates)" in flat
    assert re.search(r"│ custom\s+│ b\s+│ 3\.00", out)  # all to the last touch
    assert "note: w_shaped: 3 path(s) lack milestone touches" in out
    assert "note: markov (order 2, collapse off)" in out


def test_errors_are_one_message_without_traceback(write: Write) -> None:
    file = write("hand.csv", HAND)
    done = run("attribution", "--paths", str(file), "--model", "linear,markv")
    assert done.returncode == 1
    assert done.stderr == (
        "error RL001: unknown attribution model 'markv' (value: 'markv')\n"
        "  fix: did you mean 'markov'?\n"
    )
    done = run("attribution", "--paths", str(file), "--conversions-column", "conv")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"error RL703 in {file}: no column 'conv' (--conversions-column); "
        "the columns found are: path, conversions, value, nulls (value: 'conv')\n"
    )
    assert "Traceback" not in done.stderr
    # no --paths: the warehouse's journeys, and there is no warehouse there
    done = run("--warehouse", str(file.parent / "none.duckdb"), "attribution")
    assert done.returncode == 1 and done.stderr.startswith("error RL400")
    done = run("attribution", "--paths", str(file), "-m", "custom", "--custom-weights", "1,2")
    assert done.returncode == 1 and done.stderr.startswith("error RL711")
    done = run("attribution", "--paths", str(file), "--position-weights", "40,60")
    assert done.returncode == 1 and "takes 3 comma-separated numbers" in done.stderr


def test_the_installed_console_script(write: Write) -> None:
    from conftest import REVLENS_BIN, run_revlens

    if not REVLENS_BIN.exists():
        pytest.skip(f"the console script {REVLENS_BIN} is not installed")
    if not re.search(r"^│ attribution\s", run_revlens("--help").stdout, re.M):
        pytest.skip("revlens/cli/app.py does not import commands_attribution yet")
    done = run_revlens(
        "attribution", "--paths", str(write("hand.csv", HAND)), "-m", "linear", "-f", "json"
    )
    assert done.returncode == 0, done.stderr
    assert [r["conversions"] for r in json.loads(done.stdout)] == [2.0, 2.0]


def test_the_docs_example_runs_as_shown(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    data = re.search(r"<!-- attribution-example: (\S+) -->\n```csv\n(.*?)```", text, re.S)
    shown = re.search(
        r"<!-- attribution-command: revlens (.+?) -->\n```text\n(.*?)\n```", text, re.S
    )
    assert data and shown, "docs/attribution.md lost its tested example"
    (tmp_path / data.group(1)).write_text(data.group(2), encoding="utf-8")
    done = run(*shown.group(1).split(), cwd=tmp_path, columns=120)
    assert done.returncode == 0, done.stderr
    lines = [line.rstrip() for line in done.stdout.rstrip("\n").split("\n")]
    assert lines == [line.rstrip() for line in shown.group(2).split("\n")]


def test_the_docs_name_every_model_option_and_error_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in MODEL_NAMES:
        assert f"`{name}`" in text, name
    import revlens.cli.commands_attribution as module
    from revlens.cli.app import app

    command = next(c for c in app.registered_commands if c.callback is module.attribution)
    assert command.callback is not None
    help_text = run("attribution", "--help").stdout
    for option in re.findall(r"(--[a-z][a-z-]+)", help_text):
        if option != "--help":
            assert option in text, f"docs/attribution.md does not mention {option}"
    source = Path(module.__file__).parents[1] / "attribution"
    codes = set()
    for file in [*source.glob("*.py"), Path(module.__file__)]:
        codes |= set(re.findall(r'code(?:=| = )"(RL7\d\d)"', file.read_text(encoding="utf-8")))
    assert codes, "no error codes found"
    for code in sorted(codes):
        assert code in text, f"docs/attribution.md does not list {code}"
