"""`revlens import`, `tables` and `rejects` as a user meets them: JSON shapes, the printed
outcome, one clear error message (never a traceback), and help text on every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from revlens.cli.app import app, main
from revlens.model.schema import TABLES
from revlens.model.warehouse import Warehouse

Writer = Callable[[str, str | bytes], Path]
Runner = Callable[..., Any]

CONTACTS = "contact_id,created_at,owner\nc1,2024-01-01,ann\nc2,nope,bob\nc3,2024-01-03,\n"
MQLS = "mql_id,first_contact_date,landing_page_id,origin\nm1,2024-01-01,lp,social\nm2,2024-01-02\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    Warehouse.open(path, create=True).close()
    return path


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """`revlens ARGS` in this process (fast): exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["revlens", *args])
    monkeypatch.delenv("REVLENS_WAREHOUSE", raising=False)
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


# -- JSON outputs ----------------------------------------------------------------------------


def test_import_tables_and_rejects_as_json(
    db: Path, write: Writer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write("contacts.csv", CONTACTS)
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "-w",
        str(db),
        "import",
        "--table",
        "contacts",
        str(path),
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["committed"] is True
    assert [
        (f["file"], f["rows_read"], f["rows_rejected"], f["tables"]) for f in result["files"]
    ] == [
        (
            str(path),
            3,
            1,
            [
                {
                    "table": "contacts",
                    "read": 3,
                    "loaded": 2,
                    "updated": 0,
                    "rejected": 1,
                    "skipped": 0,
                }
            ],
        )
    ]
    assert [
        {k: r[k] for k in ("file", "line", "table", "column", "value", "code")}
        for r in result["files"][0]["rejects"]
    ] == [
        {
            "file": str(path),
            "line": 3,
            "table": "contacts",
            "column": "created_at",
            "value": "nope",
            "code": "bad_timestamp",
        }
    ]

    code, out, _ = run_main(monkeypatch, capsys, "-w", str(db), "tables", "--format", "json")
    counts = json.loads(out)
    assert code == 0
    assert list(counts) == [t.name for t in TABLES]
    assert counts == {t.name: 2 if t.name == "contacts" else 0 for t in TABLES}

    code, out, _ = run_main(monkeypatch, capsys, "-w", str(db), "rejects", "--format", "json")
    rejects = json.loads(out)
    assert code == 0
    assert len(rejects) == 1
    assert {"file", "line", "column", "value", "reason", "table"} <= set(rejects[0])
    assert {
        k: rejects[0][k]
        for k in ("file", "line", "column", "value", "reason", "table", "code", "row")
    } == {
        "file": str(path),
        "line": 3,
        "column": "created_at",
        "value": "nope",
        "reason": "created_at is not a valid timestamp: expected a real date-time such as "
        "2024-03-31 14:05:00 or 2024-03-31T14:05:00+02:00",
        "table": "contacts",
        "code": "bad_timestamp",
        "row": {"contact_id": "c2", "created_at": "nope", "owner": "bob"},
    }


def test_rejects_filters(
    db: Path, write: Writer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts = write("contacts.csv", CONTACTS)
    mqls = write("mqls.csv", MQLS)
    for args in (["--table", "contacts", str(contacts)], ["--mapping", "olist-mqls", str(mqls)]):
        assert run_main(monkeypatch, capsys, "-w", str(db), "import", *args)[0] == 0

    def rejects(*args: str) -> list[tuple[str, int, str]]:
        code, out, _ = run_main(
            monkeypatch, capsys, "-w", str(db), "rejects", "--format", "json", *args
        )
        assert code == 0
        return [(Path(r["file"]).name, r["line"], r["code"]) for r in json.loads(out)]

    assert rejects() == [("contacts.csv", 3, "bad_timestamp"), ("mqls.csv", 3, "field_count")]
    # a row the reader refused belongs to every table of its mapping
    assert rejects("--table", "stage_events") == [("mqls.csv", 3, "field_count")]
    assert rejects("--table", "contacts") == [
        ("contacts.csv", 3, "bad_timestamp"),
        ("mqls.csv", 3, "field_count"),
    ]
    assert rejects("--file", str(contacts)) == [("contacts.csv", 3, "bad_timestamp")]
    assert rejects("--table", "spend") == []


# -- what a person sees ----------------------------------------------------------------------


def test_import_prints_counts_warnings_and_rejected_rows(
    db: Path, write: Writer, revlens: Runner
) -> None:
    path = write("extra.csv", "contact_id,created_at,shoe_size\nc1,2024-01-01,42\nc2,nope,41\n")
    proc = revlens("import", "--table", "contacts", str(path), warehouse=db)
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    row = next(line for line in lines if str(path) in line and "contacts" in line and "│" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        str(path),
        "contacts",
        "2",
        "1",
        "0",
        "1",
    ]
    assert f"warning {path}: ignored columns not in table contacts: shoe_size" in lines
    assert (
        f"rejected {path}:3 contacts.created_at = 'nope': created_at is not a valid "
        "timestamp: expected a real date-time such as 2024-03-31 14:05:00 or "
        "2024-03-31T14:05:00+02:00"
    ) in lines
    assert f"1 rows of {path} rejected: see `revlens rejects`" in lines


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--format", "json"],
            "error RL010: give exactly one of --table or --mapping\n"
            "  fix: e.g. revlens import --table contacts contacts.csv",
        ),
        (
            ["--table", "contacts", "--mapping", "olist-mqls"],
            "error RL010: give exactly one of --table or --mapping\n"
            "  fix: e.g. revlens import --table contacts contacts.csv",
        ),
        (
            ["--table", "contact"],
            "error RL001: unknown table 'contact' (value: 'contact')\n"
            "  fix: did you mean 'contacts'?",
        ),
        (
            ["--mapping", "olist-mql"],
            "error RL001: unknown mapping 'olist-mql' (value: 'olist-mql')\n"
            "  fix: did you mean 'olist-mqls' or 'olist-deals'?",
        ),
        (
            ["--table", "contacts", "--on-error", "skip"],
            "error RL011: --on-error must be reject or abort (value: 'skip')\n"
            "  fix: use --on-error reject (default) or --on-error abort",
        ),
    ],
    ids=["neither", "both", "unknown-table", "unknown-mapping", "bad-policy"],
)
def test_import_usage_mistakes_give_one_message(
    db: Path,
    write: Writer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    path = write("contacts.csv", CONTACTS)
    code, out, err = run_main(monkeypatch, capsys, "-w", str(db), "import", *args, str(path))
    assert code == 1
    assert "Traceback" not in err
    assert err.strip() == expected
    assert out == ""


def test_a_usage_mistake_through_the_installed_script(db: Path, revlens: Runner) -> None:
    proc = revlens("import", "--table", "contact", "x.csv", warehouse=db)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        "error RL001: unknown table 'contact' (value: 'contact')\n  fix: did you mean 'contacts'?\n"
    )


def test_wrong_delimiter_names_the_header_it_found(
    db: Path, write: Writer, revlens: Runner
) -> None:
    path = write("semi.csv", "contact_id;created_at\nc1;2024-01-01\n")
    proc = revlens("import", "--table", "contacts", "--delimiter", ",", str(path), warehouse=db)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error RL110 in {path}: the header is one column 'contact_id;created_at'; the file "
        "looks ';'-separated, so required columns seem missing (value: 'contact_id;created_at')\n"
        "  fix: pass --delimiter ';' (or set read.delimiter in the mapping)"
    )


@pytest.mark.parametrize(
    ("args", "usage", "error"),
    [
        ([], "Usage: revlens [OPTIONS] COMMAND [ARGS]...", "Error: Missing command."),
        (
            ["import"],
            "Usage: revlens import [OPTIONS] {files}...",
            "Error: Missing argument 'files'.",
        ),
        (
            ["import", "x.csv", "--bogus"],
            "Usage: revlens import [OPTIONS] {files}...",
            "Error: No such option: --bogus",
        ),
    ],
    ids=["bare", "no-files", "unknown-option"],
)
def test_click_usage_errors_have_no_traceback(
    db: Path, revlens: Runner, args: list[str], usage: str, error: str
) -> None:
    proc = revlens(*args, warehouse=db)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (lines[0], lines[-1]) == (usage, error)


# -- help ------------------------------------------------------------------------------------


def test_every_command_and_option_has_help_text() -> None:
    root = typer.main.get_command(app)
    missing: list[str] = []

    def walk(command: Any, path: str) -> None:
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{path} {param.param_type_name} {param.name}")
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, f"{path} {name}")

    walk(root, "revlens")
    assert missing == []
    commands = set(getattr(root, "commands", {}))
    assert {"import", "tables", "rejects", "mappings", "init"} <= commands
