"""`revlens import`, `tables` and `rejects` as a user meets them: JSON shapes, the printed
outcome, one clear error message (never a traceback), and help text on every command."""

from __future__ import annotations

import csv
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
        "0",
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
            ["--table", "contacts", "--mapping", "olist-mqls"],
            "error RL010: give --table or --mapping, not both\n"
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
    ids=["both", "unknown-table", "unknown-mapping", "bad-policy"],
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


# -- recognition, skipped lines, channels (issue 16) ----------------------------------------


def flat(text: str) -> str:
    return " ".join(text.split())


ADS_MAPPING = """
name: test-ads
title: Test Ads campaigns
description: A test export with a title line and a total row.
recognise: {columns: [Day, Campaign, "Amount spent (*)"]}
read: {header_contains: [Day, Campaign], skip_rows: [{column: Day, starts_with: Total}]}
outputs:
  - table: spend
    columns: {date: Day, channel: {from: Channel, normalize: channel}, campaign: Campaign,
              cost: {from: "Amount spent (*)"}}
  - table: stage_events
    when: {column: Lead, not_empty: true}
    columns: {contact_id: Lead, stage: {value: lead}, ts: Day}
"""
ADS_EXPORT = (
    "Ads report\n"
    "Day,Campaign,Channel,Amount spent (USD),Lead\n"
    "2026-01-01,Spring,Paid Social,12.50,\n"
    "2026-01-02,Spring,Partner Portal,2.50,c9\n"
    "Total: 2 days,,,15.00,\n"
)


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built-in mapping folder holding only the test mapping."""
    from revlens.ingest import mapping as mapping_module

    folder = tmp_path / "builtin"
    folder.mkdir()
    (folder / "test-ads.yml").write_text(ADS_MAPPING, encoding="utf-8")
    monkeypatch.setattr(mapping_module, "BUILTIN_DIR", folder)
    return folder


def test_import_recognises_a_known_export(
    db: Path,
    write: Writer,
    builtins: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(
        write("project/revlens.yml", 'channels: {"Partner Portal": affiliates}\n').parent
    )
    path = write("ads.csv", ADS_EXPORT)
    code, out, err = run_main(monkeypatch, capsys, "-w", str(db), "import", str(path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "recognised as a Test Ads campaigns export: using mapping test-ads"
    assert f"{path}: 1 title line, 1 summary row skipped (not data rows)" in lines
    assert f"{path}: 1 rows for stage_events skipped by the mapping's rule" in lines
    assert any(
        "1 stage_events rows name 1 contacts that are not in contacts (contact_id: c9)" in line
        for line in lines
    )
    wh = Warehouse.open(db)
    try:
        assert wh.con.execute("SELECT channel, cost FROM spend ORDER BY 1").fetchall() == [
            ("affiliates", 2.5),
            ("paid_social", 12.5),
        ]
    finally:
        wh.close()


def test_import_json_counts_skipped_rows_and_lines(
    db: Path,
    write: Writer,
    builtins: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(write("empty/x.txt", "").parent)  # no revlens.yml here
    path = write("ads.csv", ADS_EXPORT)
    code, out, err = run_main(
        monkeypatch, capsys, "-w", str(db), "import", str(path), "--format", "json"
    )
    assert code == 0
    assert err.strip() == "recognised as a Test Ads campaigns export: using mapping test-ads"
    f = json.loads(out)["files"][0]
    assert f["lines_skipped"] == {"title": 1, "summary": 1}
    assert f["tables"] == [
        {"table": "spend", "read": 2, "loaded": 2, "updated": 0, "rejected": 0, "skipped": 0},
        {
            "table": "stage_events",
            "read": 2,
            "loaded": 1,
            "updated": 0,
            "rejected": 0,
            "skipped": 1,
        },
    ]
    assert f["unknown_references"] == [
        {
            "table": "stage_events",
            "column": "contact_id",
            "references": "contacts.contact_id",
            "rows": 1,
            "values": 1,
            "examples": ["c9"],
        }
    ]
    assert (
        "channel 'Partner Portal' is not in the vocabulary; kept as 'partner_portal' (map it "
        "under `channels:` in revlens.yml to choose another)"
    ) in f["warnings"]


def test_an_unknown_export_names_the_closest_mappings_and_the_command(
    db: Path,
    write: Writer,
    builtins: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    snapshot: Callable[..., Any],
) -> None:
    path = write("odd.csv", "Day,Campaign,Cost\n2026-01-01,x,1\n")
    wh = Warehouse.open(db)
    before = snapshot(wh)
    wh.close()
    code, out, err = run_main(monkeypatch, capsys, "-w", str(db), "import", str(path))
    assert (code, out) == (1, "")
    assert "Traceback" not in err
    err = flat(err)  # the error console wraps long lines
    assert err.startswith(
        f"error RL114 in {path}: not an export revlens recognises: no built-in mapping finds "
        "all its columns in the header (Day, Campaign, Cost); closest: mapping test-ads (2 of "
        "its 3 columns; lacks 'Amount spent (*)')"
    )
    assert f"fix: if it is one of these, run: revlens import --mapping test-ads {path}" in err
    assert f"revlens import --table spend {path}" in err
    wh = Warehouse.open(db)
    try:
        assert snapshot(wh) == before
    finally:
        wh.close()


def test_a_bad_channels_section_is_one_clear_error(
    db: Path, write: Writer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write("cfg.yml", 'channels: {"Web": Organic Search, "Fair": events}\n')
    path = write("contacts.csv", CONTACTS)
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "-w",
        str(db),
        "import",
        "--table",
        "contacts",
        "--config",
        str(config),
        str(path),
    )
    assert (code, out) == (1, "")
    assert flat(err) == flat(
        f"error RL205 in {config}: channels: 'Web': 'Organic Search' is not a channel name in "
        "snake_case (e.g. direct, organic_search, paid_search, organic_social)\n"
        '  fix: write each entry as `"Tool word": channel_name` (see docs/channels.md)'
    )


def test_mappings_lists_titles(
    builtins: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(monkeypatch, capsys, "mappings", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "name": "test-ads",
            "title": "Test Ads campaigns",
            "tables": "spend, stage_events",
            "recognised_by": "Day, Campaign, Amount spent (*)",
            "description": "A test export with a title line and a total row.",
        }
    ]


TOOL_FIXTURES = Path(__file__).resolve().parent / "ingest" / "fixtures" / "tools"


def test_one_command_imports_exports_of_several_tools(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each file goes through the mapping it is recognised as, in one transaction."""
    monkeypatch.chdir(db.parent)
    contacts = TOOL_FIXTURES / "hubspot-contacts.csv"
    ads = TOOL_FIXTURES / "google-ads-campaigns.csv"
    assert run_main(monkeypatch, capsys, "-w", str(db), "init", "--currency", "EUR")[0] == 0
    code, out, err = run_main(
        monkeypatch, capsys, "-w", str(db), "import", str(ads), str(contacts), "--format", "json"
    )
    assert code == 0, out
    assert flat(err) == flat(
        f"{ads}: recognised as a Google Ads campaign report (UI download, segmented by Day) "
        f"export: using mapping google-ads-campaigns {contacts}: recognised as a HubSpot "
        "contacts export: using mapping hubspot-contacts"
    )
    files = json.loads(out)["files"]
    assert [f["mapping"] for f in files] == ["google-ads-campaigns", "hubspot-contacts"]
    import_ids = {json.loads(out)["import_id"]}
    assert len(import_ids) == 1
    with contacts.open(encoding="utf-8", newline="") as fh:
        people = list(csv.DictReader(fh))
    with ads.open(encoding="utf-8", newline="") as fh:
        ad_rows = [r for r in csv.reader(fh)][3:]
    days = [r for r in ad_rows if r and not r[0].startswith("Total")]
    wh = Warehouse.open(db)
    try:
        assert wh.row_counts()["contacts"] == sum(
            1 for p in people if p["Lifecycle Stage"].lower() != "subscriber"
        )
        assert wh.row_counts()["spend"] == len(days)
    finally:
        wh.close()


def test_a_big_file_imports_behind_a_progress_bar(
    db: Path, write: Writer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past PROGRESS_BYTES the reading shows a bar (here: every file); the import is the same."""
    from revlens.cli import commands_import

    monkeypatch.setattr(commands_import, "PROGRESS_BYTES", 0)
    path = write("contacts.csv", "contact_id,created_at\nc1,2026-01-01\nc2,2026-01-02\n")
    code, _out, err = run_main(
        monkeypatch, capsys, "-w", str(db), "import", "--table", "contacts", str(path)
    )
    assert (code, err) == (0, "")
    wh = Warehouse.open(db)
    try:
        assert wh.row_counts()["contacts"] == 2
    finally:
        wh.close()
