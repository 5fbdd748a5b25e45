"""The mapping language of real tool exports (issue 16): title, comment and summary lines,
UTF-16, split items, rates to counts, header patterns, hashes, channel normalisation, format
lists, null values, rows skipped by a rule and references to unknown contacts. Every import
here keeps read = loaded + updated + rejected + skipped per table."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from journeys import load_rows
from revlens.errors import InputFileError, MappingError
from revlens.ingest.channels import builtin_vocabulary
from revlens.ingest.load import ImportResult, UnknownReference, import_files
from revlens.ingest.mapping import Mapping, load_mapping
from revlens.model.warehouse import Warehouse

Writer = Callable[[str, str | bytes], Path]
D = dt.date
T = dt.datetime


def mapping(write: Writer, text: str) -> Mapping:
    return load_mapping(str(write("mapping.yml", text)))


def accounted(result: ImportResult) -> list[tuple[str, int, int, int, int, int]]:
    """Per table (read, loaded, updated, rejected, skipped), checking that they add up."""
    out = []
    for f in result.files:
        for c in f.tables:
            assert c.read == c.loaded + c.updated + c.rejected + c.skipped, c
            out.append((c.table, c.read, c.loaded, c.updated, c.rejected, c.skipped))
    return out


def rows(wh: Warehouse, sql: str) -> list[tuple[object, ...]]:
    return wh.con.execute(sql).fetchall()


@pytest.fixture
def eur(warehouse: Warehouse) -> Warehouse:
    load_rows(warehouse, {"fx_rates": [{"date": D(2025, 1, 1), "currency": "EUR", "rate": 1.1}]})
    return warehouse


# -- title lines, summary rows, null values, thousands ---------------------------------------

GOOGLE_ADS = (
    "Campaign report\n"
    '"January 1, 2026 - January 31, 2026"\n'
    "Day,Campaign,Campaign type,Currency code,Cost,Clicks,Impr.\n"
    '2026-01-01,Brand,Search,EUR,"1,234.50","1,020",--\n'
    "2026-01-02,Brand,Search,EUR,10.00,5,100\n"
    "2026-01-02,Shoes,Performance Max,EUR,3.00,1, -- \n"
    'Total: Account,--,--,EUR,"1,247.50","1,026",100\n'
    "Total: Search,--,--,EUR,1244.50,1025\n"  # short, but a summary row all the same
)
GOOGLE_ADS_MAPPING = """
name: test-google-ads
title: Google Ads (test)
read:
  header_contains: [Day, Campaign, Cost]
  skip_rows: [{column: Day, starts_with: "Total"}]
outputs:
  - table: spend
    columns:
      date: Day
      channel: {from: Campaign type, normalize: channel}
      campaign: Campaign
      currency: Currency code
      cost: {from: Cost, thousands: ","}
      clicks: {from: Clicks, thousands: ","}
      impressions: {from: Impr., null_values: ["--"], thousands: ","}
"""


def test_title_lines_and_total_rows_are_skipped_and_counted(eur: Warehouse, write: Writer) -> None:
    m = mapping(write, GOOGLE_ADS_MAPPING)
    result = import_files(eur, [write("ads.csv", GOOGLE_ADS)], mapping=m)
    f = result.files[0]
    assert f.lines_skipped == {"title": 2, "summary": 2}
    assert (f.rows_read, f.rows_rejected) == (3, 0)
    assert accounted(result) == [("spend", 3, 3, 0, 0, 0)]
    assert rows(
        eur,
        "SELECT date, channel, campaign, cost, clicks, impressions, currency FROM spend "
        "ORDER BY date, campaign",
    ) == [
        (D(2026, 1, 1), "paid_search", "Brand", 1234.5, 1020, None, "EUR"),
        (D(2026, 1, 2), "paid_search", "Brand", 10.0, 5, 100, "EUR"),
        (D(2026, 1, 2), "cross_network", "Shoes", 3.0, 1, None, "EUR"),
    ]


def test_a_header_not_found_in_the_first_lines_is_a_clear_error(
    warehouse: Warehouse, write: Writer
) -> None:
    m = mapping(write, GOOGLE_ADS_MAPPING)
    with pytest.raises(InputFileError) as exc:
        import_files(warehouse, [write("other.csv", "a,b\n1,2\n")], mapping=m)
    assert exc.value.code == "RL113"
    assert "Day, Campaign, Cost" in exc.value.message
    assert exc.value.where is not None and exc.value.where.endswith("other.csv")


def test_skip_rows_naming_a_missing_column_is_a_clear_error(
    warehouse: Warehouse, write: Writer
) -> None:
    m = mapping(write, GOOGLE_ADS_MAPPING.replace("column: Day,", "column: Date,"))
    with pytest.raises(InputFileError) as exc:
        import_files(warehouse, [write("ads.csv", GOOGLE_ADS)], mapping=m)
    assert (exc.value.code, exc.value.value) == ("RL112", "Date")


def test_empty_rows_are_skipped_and_counted(eur: Warehouse, write: Writer) -> None:
    text = "Day,Campaign,Cost\n2026-01-01,A,1\n,,\n\n2026-01-02,B,2\n"
    m = mapping(
        write,
        """
name: t
read: {skip_rows: [{empty_row: true}]}
outputs:
  - table: spend
    columns: {date: Day, channel: {value: email}, campaign: Campaign, cost: Cost}
""",
    )
    result = import_files(eur, [write("e.csv", text)], mapping=m)
    assert result.files[0].lines_skipped == {"empty": 2}
    assert accounted(result) == [("spend", 2, 2, 0, 0, 0)]


# -- comments, rates to counts, percents --------------------------------------------------

GA4 = (
    "# ----------------------------------------\n"
    "# Traffic acquisition: Session default channel group\n"
    "# Start date: 20260101\n"
    "# ----------------------------------------\n"
    "\n"
    "date,sessionDefaultChannelGroup,sessions,bounceRate,engagedSessions\n"
    "20260101,Organic Search,1000,0.4567,543\n"
    "20260101,Paid Search,250,45.3%,137\n"
    "# a note between the rows\n"
    "20260102,Email,3,0.5,1\n"
    "20260102,Direct,10,abc,1\n"
)
GA4_MAPPING = """
name: test-ga4
read: {comment: "#"}
outputs:
  - table: web_traffic
    columns:
      date: {from: date, format: "%Y%m%d"}
      channel: {from: sessionDefaultChannelGroup, normalize: channel}
      sessions: sessions
      engaged_sessions: engagedSessions
      bounces: {from: bounceRate, times: sessions, round: true}
"""


def test_comment_lines_are_skipped_and_rates_become_counts(
    warehouse: Warehouse, write: Writer
) -> None:
    result = import_files(warehouse, [write("ga4.csv", GA4)], mapping=mapping(write, GA4_MAPPING))
    f = result.files[0]
    assert f.lines_skipped == {"comment": 5}
    assert accounted(result) == [("web_traffic", 4, 3, 0, 1, 0)]
    # 1000 x 0.4567 = 456.7; 250 x 45.3% = 113.25; 3 x 0.5 = 1.5 (half away from zero)
    assert rows(
        warehouse, "SELECT date, channel, sessions, bounces FROM web_traffic ORDER BY ALL"
    ) == [
        (D(2026, 1, 1), "organic_search", 1000, 457),
        (D(2026, 1, 1), "paid_search", 250, 113),
        (D(2026, 1, 2), "email", 3, 2),
    ]
    # a rate that is no number is not read as empty: the row is rejected, both values shown
    assert [(r.line, r.column, r.value, r.code) for r in f.rejects] == [
        (11, "bounces", "abc × 10", "bad_integer")
    ]


def test_a_fractional_count_without_round_says_to_add_it(
    warehouse: Warehouse, write: Writer
) -> None:
    m = mapping(write, GA4_MAPPING.replace(", round: true", ""))
    result = import_files(warehouse, [write("ga4.csv", GA4)], mapping=m)
    reasons = {r.line: r.reason for r in result.files[0].rejects}
    assert reasons[7] == (
        "bounces is not a valid integer: expected a whole number "
        "(bounceRate × sessions gives a fraction: add `round: true`)"
    )


# -- UTF-16 --------------------------------------------------------------------------------

LINKEDIN = (
    "Campaign Performance Report (in UTC)\n"
    "Start Date (in UTC)\tCampaign Name\tTotal Spent\tImpressions\tClicks\tCurrency\n"
    "01/05/2026\tLaunch\t12.50\t1000\t7\tEUR\n"
    "01/06/2026\tLaunch\t2.25\t100\t1\tEUR\n"
)
LINKEDIN_MAPPING = """
name: test-linkedin
read: {header_contains: [Campaign Name, Total Spent]ENCODING}
outputs:
  - table: spend
    columns:
      date: {from: Start Date (in UTC), format: "%m/%d/%Y"}
      channel: {value: paid_social}
      campaign: Campaign Name
      cost: Total Spent
      impressions: Impressions
      clicks: Clicks
      currency: Currency
"""


@pytest.mark.parametrize(
    ("encoded", "option"),
    [
        (b"\xff\xfe" + LINKEDIN.encode("utf-16-le"), ""),  # BOM, little-endian
        (b"\xfe\xff" + LINKEDIN.encode("utf-16-be"), ""),  # BOM, big-endian
        (LINKEDIN.encode("utf-16-le"), ""),  # no BOM: told by its zero bytes
        (LINKEDIN.encode("utf-16"), ", encoding: utf-16"),  # said in the mapping
    ],
    ids=["le-bom", "be-bom", "le-no-bom", "explicit"],
)
def test_utf16_tab_files_with_a_title_line(
    eur: Warehouse, write: Writer, encoded: bytes, option: str
) -> None:
    m = mapping(write, LINKEDIN_MAPPING.replace("ENCODING", option))
    result = import_files(eur, [write("linkedin.csv", encoded)], mapping=m)
    assert result.files[0].lines_skipped == {"title": 1}
    assert accounted(result) == [("spend", 2, 2, 0, 0, 0)]
    assert rows(eur, "SELECT date, campaign, cost, impressions, clicks FROM spend ORDER BY 1") == [
        (D(2026, 1, 5), "Launch", 12.5, 1000, 7),
        (D(2026, 1, 6), "Launch", 2.25, 100, 1),
    ]
    assert [r.line for r in result.files[0].rejects] == []


# -- split: first, last, each; unknown references -------------------------------------------

DEALS = (
    "Record ID,Amount,Create Date,Associated Contact IDs\n"
    "d1,100,2026-01-05,51467;52202\n"
    "d2,200,2026-01-06,\n"
    "d3,50,2026-01-07, 52202 ; 52202;\n"
)
DEALS_MAPPING = """
name: test-deals
outputs:
  - table: opportunities
    columns:
      opportunity_id: Record ID
      created_at: Create Date
      amount: Amount
      stage: {value: open}
      contact_id: {from: Associated Contact IDs, split: ";"}
      owner: {from: Associated Contact IDs, split: ";", item: last}
  - table: opportunity_contacts
    columns:
      opportunity_id: Record ID
      contact_id: {from: Associated Contact IDs, split: ";", item: each}
"""


def test_split_first_last_and_each(warehouse: Warehouse, write: Writer) -> None:
    load_rows(warehouse, {"contacts": [{"contact_id": "51467", "created_at": T(2026, 1, 1)}]})
    m = mapping(write, DEALS_MAPPING)
    result = import_files(warehouse, [write("deals.csv", DEALS)], mapping=m)
    # d2 has no contact: no opportunity_contacts row (skipped); d3 names 52202 twice: one row
    assert accounted(result) == [
        ("opportunities", 3, 3, 0, 0, 0),
        ("opportunity_contacts", 4, 3, 0, 0, 1),
    ]
    assert rows(warehouse, "SELECT opportunity_id, contact_id, owner FROM opportunities") == [
        ("d1", "51467", "52202"),
        ("d2", None, None),
        ("d3", "52202", "52202"),
    ]
    assert rows(warehouse, "SELECT * FROM opportunity_contacts ORDER BY ALL") == [
        ("d1", "51467", None),
        ("d1", "52202", None),
        ("d3", "52202", None),
    ]
    f = result.files[0]
    assert f.unknown_references == [
        UnknownReference("opportunities", "contact_id", "contacts.contact_id", 1, 1, ["52202"]),
        UnknownReference(
            "opportunity_contacts", "contact_id", "contacts.contact_id", 2, 1, ["52202"]
        ),
    ]
    assert (
        "1 opportunities rows name 1 contacts that are not in contacts (contact_id: 52202); "
        "they are kept as they are: import those contacts too"
    ) in f.warnings


def test_a_bad_item_rejects_the_whole_input_row(warehouse: Warehouse, write: Writer) -> None:
    text = DEALS.replace("d1,100,", "d1,-5,")  # a negative amount in the deal
    result = import_files(warehouse, [write("d.csv", text)], mapping=mapping(write, DEALS_MAPPING))
    assert accounted(result) == [
        ("opportunities", 3, 2, 0, 1, 0),
        ("opportunity_contacts", 4, 1, 0, 2, 1),
    ]


def test_references_are_checked_once_the_whole_import_is_in(
    warehouse: Warehouse, write: Writer
) -> None:
    m = mapping(
        write,
        """
name: t
outputs:
  - table: stage_events
    columns: {contact_id: id, stage: {value: lead}, ts: at}
  - table: contacts
    when: {column: known, in: ["yes"]}
    columns: {contact_id: id, created_at: at}
""",
    )
    text = "id,at,known\nc1,2026-01-01,yes\nc2,2026-01-02,no\nc3,2026-01-03,no\nc4,2026-01-04,\n"
    result = import_files(warehouse, [write("s.csv", text)], mapping=m)
    assert accounted(result) == [("stage_events", 4, 4, 0, 0, 0), ("contacts", 4, 1, 0, 0, 3)]
    assert result.files[0].unknown_references == [
        UnknownReference(
            "stage_events", "contact_id", "contacts.contact_id", 3, 3, ["c2", "c3", "c4"]
        )
    ]


def test_each_may_be_used_once_per_output_and_not_in_a_fallback(write: Writer) -> None:
    with pytest.raises(MappingError) as exc:
        mapping(
            write,
            """
name: t
outputs:
  - table: opportunity_contacts
    columns:
      opportunity_id: {from: a, split: ",", item: each}
      contact_id: {from: b, split: ",", item: each}
  - table: opportunity_contacts
    columns:
      opportunity_id: a
      contact_id: {from: b, fallback: {from: c, split: ",", item: each}}
  - table: contacts
    columns:
      contact_id: {from: a, item: last}
      created_at: {header_part: "Created"}
      email_hash: {from: e, times: x}
""",
        )
    message = exc.value.message
    assert exc.value.code == "RL204"
    assert "at most one column of an output may use `item: each`" in message
    assert "`item: each` cannot be used in a fallback (contact_id)" in message
    assert "`item: last` needs `split`" in message
    assert "`header_part: Created` needs exactly one `*`" in message


def test_options_must_fit_the_column_type(write: Writer) -> None:
    with pytest.raises(MappingError) as exc:
        mapping(
            write,
            """
name: t
outputs:
  - table: contacts
    columns:
      contact_id: {from: a, round: true}
      created_at: {from: b, hash: sha256}
      email_hash: {from: e, times: x, format: "%Y"}
""",
        )
    assert exc.value.code == "RL201"
    message = exc.value.message
    assert "contacts).contact_id: `times`/`round` need a number or integer column" in message
    assert "contacts).created_at: `hash`/`normalize` need a text column" in message
    assert "contacts).email_hash: `times`/`round` need a number" in message
    assert "contacts).email_hash: `format` is for dates and timestamps" in message


# -- header patterns, hashes, formats -------------------------------------------------------

META = "Day,Campaign name,Amount spent (EUR),Impressions\n2026-01-05,Spring,12.34,100\n"
META_MAPPING = """
name: test-meta
outputs:
  - table: spend
    columns:
      date: Day
      channel: {value: paid_social}
      campaign: Campaign name
      cost: {from: "Amount spent (*)"}
      currency: {header_part: "Amount spent (*)"}
      impressions: Impressions
"""


def test_currency_from_the_header(eur: Warehouse, write: Writer) -> None:
    result = import_files(eur, [write("meta.csv", META)], mapping=mapping(write, META_MAPPING))
    assert accounted(result) == [("spend", 1, 1, 0, 0, 0)]
    assert rows(eur, "SELECT campaign, cost, currency FROM spend") == [("Spring", 12.34, "EUR")]


def test_a_header_pattern_must_match_one_column(warehouse: Warehouse, write: Writer) -> None:
    m = mapping(write, META_MAPPING)
    none = "Day,Campaign name,Spent,Impressions\n2026-01-05,Spring,12.34,100\n"
    with pytest.raises(InputFileError) as exc:
        import_files(warehouse, [write("a.csv", none)], mapping=m)
    assert exc.value.code == "RL111"
    assert "header_part 'Amount spent (*)' matches no column" in exc.value.message
    two = "Day,Campaign name,Amount spent (EUR),Amount spent (USD),Impressions\n"
    with pytest.raises(InputFileError) as exc:
        import_files(warehouse, [write("b.csv", two)], mapping=m)
    assert "'Amount spent (*)' matches several columns: Amount spent (EUR), Amount spent (USD)" in (
        exc.value.message
    )


def test_hash_trims_and_lower_cases(warehouse: Warehouse, write: Writer) -> None:
    m = mapping(
        write,
        """
name: t
outputs:
  - table: contacts
    columns: {contact_id: id, created_at: at, email_hash: {from: mail, hash: sha256}}
""",
    )
    text = 'id,at,mail\nc1,2026-01-01," Foo@Example.COM "\nc2,2026-01-01,\n'
    import_files(warehouse, [write("c.csv", text)], mapping=m)
    expected = hashlib.sha256(b"foo@example.com").hexdigest()
    assert rows(warehouse, "SELECT contact_id, email_hash FROM contacts ORDER BY 1") == [
        ("c1", expected),
        ("c2", None),
    ]


def test_a_list_of_formats_and_lower_case_am_pm(warehouse: Warehouse, write: Writer) -> None:
    m = mapping(
        write,
        """
name: t
outputs:
  - table: contacts
    columns:
      contact_id: id
      created_at: {from: at, format: ["%Y-%m-%d %H:%M", "%b %d, %Y %I:%M %p"]}
""",
    )
    text = (
        "id,at\n"
        "c1,2026-01-06 10:00\n"
        'c2,"Jan 06, 2026 10:00 am"\n'
        'c3,"Jan 06, 2026 10:00 pm"\n'
        'c4,"Jan 06, 2026 10:00 PM"\n'
        "c5,06.01.2026\n"
    )
    result = import_files(warehouse, [write("c.csv", text)], mapping=m)
    assert rows(warehouse, "SELECT contact_id, created_at FROM contacts ORDER BY 1") == [
        ("c1", T(2026, 1, 6, 10)),
        ("c2", T(2026, 1, 6, 10)),
        ("c3", T(2026, 1, 6, 22)),
        ("c4", T(2026, 1, 6, 22)),
    ]
    assert [(r.line, r.value, r.reason) for r in result.files[0].rejects] == [
        (
            6,
            "06.01.2026",
            "created_at is not a valid timestamp: expected one of the formats "
            "'%Y-%m-%d %H:%M', '%b %d, %Y %I:%M %p'",
        )
    ]


# -- channels ------------------------------------------------------------------------------


def test_normalize_channel_with_a_project_override_and_unknown_values(
    warehouse: Warehouse, write: Writer
) -> None:
    m = mapping(
        write,
        """
name: t
outputs:
  - table: contacts
    columns: {contact_id: id, created_at: at, lead_source: {from: src, normalize: channel}}
""",
    )
    text = (
        "id,at,src\n"
        "c1,2026-01-01,Paid Search\n"
        "c2,2026-01-01,Web\n"
        "c3,2026-01-01,Trade Fair 2026\n"
        "c4,2026-01-01,Trade Fair 2026\n"
        "c5,2026-01-01,\n"
        "c6,2026-01-01,EMAIL_MARKETING\n"
    )
    vocab = builtin_vocabulary().with_overrides({"web": "organic_search"})
    result = import_files(warehouse, [write("c.csv", text)], mapping=m, channels=vocab)
    assert rows(warehouse, "SELECT contact_id, lead_source FROM contacts ORDER BY 1") == [
        ("c1", "paid_search"),
        ("c2", "organic_search"),
        ("c3", "trade_fair_2026"),
        ("c4", "trade_fair_2026"),
        ("c5", None),
        ("c6", "email"),
    ]
    assert result.files[0].warnings == [
        "channel 'Trade Fair 2026' is not in the vocabulary; kept as 'trade_fair_2026' (map it "
        "under `channels:` in revlens.yml to choose another)"
    ]


# -- rows left out by `when` ---------------------------------------------------------------


def test_rows_a_when_leaves_out_are_skipped(warehouse: Warehouse, write: Writer) -> None:
    m = mapping(
        write,
        """
name: t
outputs:
  - table: contacts
    columns: {contact_id: id, created_at: at}
  - table: stage_events
    when: {column: status, in: [MQL]}
    columns: {contact_id: id, stage: {value: mql}, ts: at}
""",
    )
    text = "id,at,status\nc1,2026-01-01,MQL\nc2,2026-01-02,Lead\nc3,bad,MQL\nc4,2026-01-04,\n"
    result = import_files(warehouse, [write("c.csv", text)], mapping=m)
    assert accounted(result) == [("contacts", 4, 3, 0, 1, 0), ("stage_events", 4, 1, 0, 1, 2)]
    assert result.totals()["stage_events"].skipped == 2


def test_an_xlsx_export_with_title_rows_and_a_total_row(eur: Warehouse, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Campaign report"])
    sheet.append(["January 1, 2026 - January 31, 2026"])
    sheet.append(["Day", "Campaign", "Campaign type", "Currency code", "Cost", "Clicks", "Impr."])
    sheet.append(["2026-01-01", "Brand", "Search", "EUR", "1,234.50", "1,020", "--"])
    sheet.append(["Total: Account", "--", "--", "EUR", "1,234.50", "1,020", "--"])
    path = tmp_path / "ads.xlsx"
    book.save(path)
    m = load_mapping(str(_write(tmp_path, GOOGLE_ADS_MAPPING)))
    result = import_files(eur, [path], mapping=m)
    assert result.files[0].lines_skipped == {"title": 2, "summary": 1}
    assert accounted(result) == [("spend", 1, 1, 0, 0, 0)]
    assert rows(eur, "SELECT date, cost, clicks, impressions FROM spend") == [
        (D(2026, 1, 1), 1234.5, 1020, None)
    ]


def _write(folder: Path, text: str) -> Path:
    path = folder / "m.yml"
    path.write_text(text, encoding="utf-8")
    return path


# -- thousands separators only where they group digits ---------------------------------------

SEPARATED = """
name: separated
outputs:
  - table: spend
    columns:
      date: Day
      channel: {value: paid_search}
      campaign: Row
      cost: {from: Cost, thousands: "%s", decimal: "%s"}
"""


@pytest.mark.parametrize(
    ("thousands", "decimal", "cells", "loaded", "refused"),
    [
        (
            ",",
            ".",
            ["1,234.50", "3,000", "1234.5", "1,234,567"],
            [1234.5, 3000.0, 1234.5, 1234567.0],
            ["1.234,50", "12,50", "1,23", "1,2345.0"],
        ),
        (
            ".",
            ",",
            ["1.234,50", "3.000", "12,50", "1.234.567"],
            [1234.5, 3000.0, 12.5, 1234567.0],
            ["1,200.50", "1.23", "12.5,0"],
        ),
    ],
)
def test_a_number_in_the_other_convention_is_refused_not_misread(
    warehouse: Warehouse,
    write: Writer,
    thousands: str,
    decimal: str,
    cells: list[str],
    loaded: list[float],
    refused: list[str],
) -> None:
    """ "1.234,50" read with `thousands: ","` is no 1.2345: a separator that does not group
    digits by three leaves the value as written, and the number rule rejects it."""
    body = "Day,Row,Cost\n" + "".join(
        f'2026-01-01,r{i},"{cell}"\n' for i, cell in enumerate(cells + refused)
    )
    m = mapping(write, SEPARATED % (thousands, decimal))
    result = import_files(warehouse, [write("costs.csv", body)], mapping=m)
    n = len(cells + refused)
    assert accounted(result) == [("spend", n, len(cells), 0, len(refused), 0)]
    stored = rows(warehouse, "SELECT campaign, cost FROM spend ORDER BY campaign")
    assert stored == [(f"r{i}", cost) for i, cost in enumerate(loaded)]
    bad = {(r.value, r.code) for r in result.files[0].rejects}
    why = f" (a {thousands!r} that does not group digits by three)"
    assert bad == {
        (cell if thousands not in cell else cell + why, "bad_number") for cell in refused
    }
