"""`revlens report excel` as a user runs it: the file is written and summarised, filters
reach the workbook, and a wrong option is one clear error, never a traceback. Until the
command is imported by revlens.cli.app, the tests import it themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from report.hand_data import fill_hand
from report.xlsx_read import charts_by_sheet, table
from revlens.cli.app import app
from revlens.model.warehouse import Warehouse
from revlens.report import SHEETS

# the console script's entry point, with the report command registered
MAIN = "from revlens.cli.app import main; main()"


@pytest.fixture
def hand_path(tmp_path: Path) -> Path:
    path = tmp_path / "hand.duckdb"
    with Warehouse.open(path, create=True) as wh:
        fill_hand(wh)
    return path


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `revlens ARGS` in a new process through main(), as the installed script does."""
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=False,
    )


def test_report_excel_writes_the_workbook(hand_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "q1.xlsx"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        [
            "--warehouse",
            str(hand_path),
            "report",
            "excel",
            "--out",
            str(out),
            "--from",
            "2024-01-01",
            "--to",
            "2024-03",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"wrote {out} (2024-01-01 .. 2024-03-31, filters: none)"
    assert lines[1].startswith("  KPIs: ") and "rows" in lines[1]
    assert lines[2] == "  Trend: 3 rows, 4 charts"
    assert lines[3] == "  Funnel: 5 rows, 1 chart"
    assert lines[4].startswith("  Attribution: ") and "2 charts" in lines[4]
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == list(SHEETS)
    leads = next(r for r in table(wb["KPIs"], "Id") if r["Id"] == "leads")
    assert (leads["Actual"], leads["Target"]) == (4, 5)
    assert sum(len(c) for c in charts_by_sheet(out).values()) == 7
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_filters_and_grain_reach_the_workbook(hand_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "email.xlsx"
    result = CliRunner().invoke(
        app,
        [
            "--warehouse",
            str(hand_path),
            "report",
            "excel",
            "-o",
            str(out),
            "--from",
            "2024-01-01",
            "--to",
            "2024-03-31",
            "--grain",
            "quarter",
            "--channel",
            "email",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "filters: channel = email" in result.output
    wb = openpyxl.load_workbook(out)
    assert wb["Trend"]["A1"].value == "Trend by quarter"
    assert len(table(wb["Trend"], "Period")) == 1
    leads = next(r for r in table(wb["KPIs"], "Id") if r["Id"] == "leads")
    assert leads["Actual"] == 2  # bob and cid: their first touch is email


def test_a_bad_date_is_one_clear_error(hand_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    done = invoke(
        "--warehouse", str(hand_path), "report", "excel", "--out", str(out), "--from", "2024-13-01"
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (
        "error RL512: --from takes a date such as 2025-03-31 (or a month 2025-03) "
        "(value: '2024-13-01')"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("out", "code"),
    [("report.csv", "RL900"), ("missing/report.xlsx", "RL901")],
)
def test_a_bad_output_path_is_one_clear_error(
    hand_path: Path, tmp_path: Path, out: str, code: str
) -> None:
    done = invoke("--warehouse", str(hand_path), "report", "excel", "--out", str(tmp_path / out))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error {code}")
    assert "fix:" in done.stderr


def test_from_after_to_is_refused(hand_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--warehouse",
            str(hand_path),
            "report",
            "excel",
            "--out",
            str(tmp_path / "r.xlsx"),
            "--from",
            "2024-03-01",
            "--to",
            "2024-01-31",
        ],
    )
    assert result.exit_code != 0
    assert getattr(result.exception, "code", None) == "RL903"


def test_every_option_has_help_and_is_documented() -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["report", "excel", "--help"])
    assert result.exit_code == 0
    docs = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text("utf-8")
    for option in (
        "--out",
        "--from",
        "--to",
        "--grain",
        "--channel",
        "--campaign",
        "--segment",
        "--catalog",
    ):
        assert option in result.output, option
        assert f"`{option}" in docs, f"docs/reports.md does not document {option}"
    assert "revlens report excel" in docs
