"""Recognition: a known export is told by its header (past title and comment lines, with each
mapping's own read options); of several matches the most specific wins; an unknown file gets
the closest mappings and tables and the command to run. The built-in folder is a test folder
here, so these tests do not depend on the shipped mappings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from revlens.errors import InputFileError
from revlens.ingest import mapping as mapping_module
from revlens.ingest.recognise import recognise_file

Writer = Callable[[str, str | bytes], Path]

TEST_MAPPINGS = {
    "test-deals": """
name: test-deals
title: Test CRM deals
recognise: {columns: [Record ID, Deal Name]}
outputs:
  - table: opportunities
    columns: {opportunity_id: Record ID, created_at: Create Date, amount: Amount,
              stage: {value: open}}
""",
    "test-deals-full": """
name: test-deals-full
title: Test CRM deals with contacts
recognise: {columns: [Record ID, Deal Name, Associated Contact IDs]}
outputs:
  - table: opportunities
    columns: {opportunity_id: Record ID, created_at: Create Date, amount: Amount,
              stage: {value: open}, contact_id: {from: Associated Contact IDs, split: ";"}}
""",
    "test-ads": """
name: test-ads
title: Test Ads campaigns
recognise: {columns: [Day, Campaign, "Amount spent (*)"]}
read: {header_contains: [Day, Campaign], skip_rows: [{column: Day, starts_with: Total}]}
outputs:
  - table: spend
    columns: {date: Day, channel: {value: paid_social}, campaign: Campaign,
              cost: {from: "Amount spent (*)"}, currency: {header_part: "Amount spent (*)"}}
""",
    "test-plain": """
name: test-plain
outputs:
  - table: contacts
    columns: {contact_id: lead_id, created_at: created}
""",
}


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "builtin"
    folder.mkdir()
    for name, text in TEST_MAPPINGS.items():
        (folder / f"{name}.yml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(mapping_module, "BUILTIN_DIR", folder)
    return folder


def test_the_most_specific_mapping_wins(builtins: Path, write: Writer) -> None:
    path = write("deals.csv", "Record ID,Deal Name,Amount,Associated Contact IDs\n1,a,5,7\n")
    found = recognise_file(path)
    assert (found.mapping.name, found.title, found.others) == (
        "test-deals-full",
        "Test CRM deals with contacts",
        ("test-deals",),
    )
    fewer = write("fewer.csv", "Record ID,Deal Name,Amount\n1,a,5\n")
    assert recognise_file(fewer).mapping.name == "test-deals"


def test_a_header_past_title_lines_and_a_pattern(builtins: Path, write: Writer) -> None:
    text = "Ads report\nJan 2026\nDay,Campaign,Amount spent (EUR)\n2026-01-01,x,1\n"
    assert recognise_file(write("ads.csv", text)).mapping.name == "test-ads"


def test_an_unknown_file_names_the_closest_mappings_and_tables(
    builtins: Path, write: Writer
) -> None:
    path = write("odd.csv", "Record ID,Title,contact_id,created_at\n1,a,c,2026-01-01\n")
    with pytest.raises(InputFileError) as exc:
        recognise_file(path)
    err = exc.value
    assert (err.code, err.where) == ("RL114", str(path))
    assert err.message.startswith(
        "not an export revlens recognises: no built-in mapping finds all its columns in the "
        "header (Record ID, Title, contact_id, created_at); closest: "
    )
    # half of test-deals' columns, a third of test-deals-full's; contacts shares 2 columns
    assert "mapping test-deals (1 of its 2 columns; lacks 'Deal Name')" in err.message
    assert "mapping test-deals-full (1 of its 3 columns; lacks 'Deal Name', " in err.message
    assert "table contacts (2 of its 8 columns)" in err.message
    assert err.fix is not None
    assert err.fix.startswith(
        f"if it is one of these, run: revlens import --mapping test-deals {path}"
    )
    assert f"revlens import --table contacts {path}" in err.fix


def test_a_file_like_nothing_gets_the_list_of_mappings(builtins: Path, write: Writer) -> None:
    with pytest.raises(InputFileError) as exc:
        recognise_file(write("x.csv", "foo,bar\n1,2\n"))
    assert exc.value.fix is not None
    assert "built-in mappings: test-ads, test-deals, test-deals-full (revlens mappings)" in (
        exc.value.fix
    )
