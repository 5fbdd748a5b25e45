"""The built-in mappings of ad platforms, GA4 and Mailchimp on exports in the tools' own
layouts (tests/ingest/fixtures/tools, written by make_ads_fixtures.py).

Every expectation is counted here, by plain Python reading the fixture files with the csv
module: which lines are titles, comments or totals, what each row holds, and the KPIs by
channel (CTR, CPC, CPM, cost per platform conversion, sessions, pages per session, bounce and
engagement rate, email open and click rates)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from journeys import load_rows
from revlens.catalog.spec import Catalog, load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.ingest.load import ImportResult, import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import Reader, Warehouse
from two_engines import OnEngine

TOOLS = Path(__file__).resolve().parent / "fixtures" / "tools"
GOOGLE = TOOLS / "google-ads-campaigns.csv"
META = TOOLS / "meta-ads.csv"
LINKEDIN = TOOLS / "linkedin-ads.csv"
GA4 = TOOLS / "ga4-traffic.csv"
GA4_API = TOOLS / "ga4-traffic-api.csv"
MAILCHIMP = TOOLS / "mailchimp-campaigns.csv"

EUR_USD = 1.1  # the only rate in fx_rates: 1 EUR = 1.1 USD (the reporting currency)
Q1 = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))

# channel groups of GA4 -> the vocabulary of design section 3
GA4_CHANNELS = {
    "Organic Search": "organic_search",
    "Direct": "direct",
    "Paid Search": "paid_search",
    "Email": "email",
    "Organic Social": "organic_social",
    "Paid Social": "paid_social",
    "Referral": "referral",
    "Unassigned": "unknown",
}
GOOGLE_CHANNELS = {
    "Search": "paid_search",
    "Display": "display",
    "Performance Max": "cross_network",
}
META_NOT_CONVERSIONS = {"actions:link_click"}  # the fixture's only non-conversion result


# -- reading the fixtures by hand ------------------------------------------------------------
@dataclass
class Export:
    """A tool export split by hand: lines before the header, the header, data rows (with
    their 1-based line numbers) and summary rows."""

    before: list[str]
    header: list[str]
    rows: list[dict[str, str]]
    summary: list[dict[str, str]]


def split_export(
    path: Path,
    first_header_cell: str,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    is_summary: Any = lambda row: False,
) -> Export:
    text = path.read_bytes().decode(encoding).lstrip("\ufeff")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(first_header_cell))
    records = list(csv.reader(io.StringIO("\n".join(lines[at:])), delimiter=delimiter))
    header, body = records[0], [r for r in records[1:] if r]
    rows = [dict(zip(header, r, strict=True)) for r in body]
    return Export(
        lines[:at],
        header,
        [r for r in rows if not is_summary(r)],
        [r for r in rows if is_summary(r)],
    )


def num(text: str) -> float:
    """A number as the ad tools write it: "1,234.56"; "--" and "" are none (0)."""
    text = text.replace(",", "")
    return 0.0 if text in ("", "--") else float(text)


def google() -> Export:
    return split_export(GOOGLE, "Day,", is_summary=lambda r: r["Day"].startswith("Total"))


def meta() -> Export:
    return split_export(META, '"Reporting starts"', is_summary=lambda r: r["Day"] == "")


def linkedin() -> Export:
    return split_export(LINKEDIN, "Start Date (in UTC)", encoding="utf-16", delimiter="\t")


def ga4() -> Export:
    return split_export(GA4, "Date,")


def ga4_api() -> list[dict[str, str]]:
    with GA4_API.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def mailchimp() -> list[dict[str, str]]:
    with MAILCHIMP.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ymd(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


@dataclass
class SpendRow:
    date: dt.date
    channel: str
    source: str
    campaign: str
    ad_group: str | None
    ad: str | None
    cost: float
    currency: str
    impressions: int
    clicks: int
    conversions: float | None
    platform: str


def expected_spend() -> list[SpendRow]:
    """Every spend row the three ad exports must give, read by hand."""
    out = [
        SpendRow(
            dt.date.fromisoformat(r["Day"]),
            GOOGLE_CHANNELS[r["Campaign type"]],
            "google",
            r["Campaign"],
            None,
            None,
            num(r["Cost"]),
            r["Currency code"],
            int(num(r["Impr."])),
            int(num(r["Clicks"])),
            None if r["Conversions"] == "--" else num(r["Conversions"]),
            "google_ads",
        )
        for r in google().rows
    ]
    out += [
        SpendRow(
            dt.date.fromisoformat(r["Day"]),
            "paid_social",
            "facebook",
            r["Campaign name"],
            r["Ad set name"],
            r["Ad name"],
            num(r["Amount spent (EUR)"]),
            "EUR",
            int(num(r["Impressions"])),
            int(num(r["Link clicks"])),
            None if r["Result indicator"] in META_NOT_CONVERSIONS else num(r["Results"]),
            "meta_ads",
        )
        for r in meta().rows
    ]
    out += [
        SpendRow(
            dt.datetime.strptime(r["Start Date (in UTC)"], "%m/%d/%Y").date(),
            "paid_social",
            "linkedin",
            r["Campaign Name"],
            None,
            None,
            num(r["Total Spent"]),
            r["Currency"],
            int(r["Impressions"]),
            int(r["Clicks"]),
            num(r["Conversions"]),
            "linkedin_ads",
        )
        for r in linkedin().rows
    ]
    return out


@dataclass(order=True)
class TrafficRow:
    date: dt.date
    channel: str
    source: str
    medium: str
    campaign: str
    landing_page: str
    sessions: int
    engaged: int
    bounces: int
    pageviews: int
    new_users: int
    conversions: float


def expected_traffic() -> list[TrafficRow]:
    out = []
    for r in ga4().rows:
        source, medium = r["Session source / medium"].split(" / ")
        sessions = int(r["Sessions"])
        out.append(
            TrafficRow(
                ymd(r["Date"]),
                GA4_CHANNELS[r["Session default channel group"]],
                source,
                medium,
                r["Session campaign"],
                r["Landing page + query string"],
                sessions,
                int(r["Engaged sessions"]),
                round(float(r["Bounce rate"]) * sessions),
                int(r["Views"]),
                int(r["New users"]),
                float(r["Key events"]),
            )
        )
    return out


# -- the warehouse ---------------------------------------------------------------------------
@dataclass
class Run:
    wh: Warehouse
    results: dict[str, ImportResult]


def open_warehouse(zone: str = "UTC") -> Warehouse:
    wh = Warehouse.open(":memory:", create=True)
    wh.update_settings(timezone=zone)
    load_rows(
        wh, {"fx_rates": [{"date": dt.date(2025, 12, 1), "currency": "EUR", "rate": EUR_USD}]}
    )
    return wh


IMPORTS = [
    ("google-ads-campaigns", GOOGLE),
    ("meta-ads", META),
    ("linkedin-ads", LINKEDIN),
    ("ga4-traffic", GA4),
    ("mailchimp-campaigns", MAILCHIMP),
]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    wh = open_warehouse()
    results = {name: import_files(wh, [path], mapping=load_mapping(name)) for name, path in IMPORTS}
    # Data API rows of the first 14 days after the UI download: the same keys, updated
    results["ga4-traffic (api)"] = import_files(wh, [GA4_API], mapping=load_mapping("ga4-traffic"))
    # every export again: nothing new, every row updated in place
    for name, path in IMPORTS:
        results[f"{name} (again)"] = import_files(wh, [path], mapping=load_mapping(name))
    yield Run(wh, results)
    wh.close()


def q(run: Run, sql: str) -> list[tuple[Any, ...]]:
    return run.wh.con.execute(sql).fetchall()


def table_counts(result: ImportResult) -> list[tuple[str, int, int, int, int, int]]:
    """(table, read, loaded, updated, rejected, skipped by the mapping's rule) per output."""
    return [
        (c.table, c.read, c.loaded, c.updated, c.rejected, c.skipped)
        for f in result.files
        for c in f.tables
    ]


def lines_skipped(result: ImportResult) -> dict[str, int]:
    """Title, comment, summary and empty lines the reader skipped, by kind."""
    (f,) = result.files
    return {k: v for k, v in f.lines_skipped.items() if v}


# -- accounting: every line of every export ----------------------------------------------------
def test_google_ads_every_line_accounted_for(run: Run) -> None:
    export = google()
    assert export.before == ["Campaign report", '"January 1, 2026 - March 31, 2026"']
    assert [r["Day"] for r in export.summary] == [
        "Total: Account",
        "Total: Search",
        "Total: Display",
        "Total: Performance Max",
    ]
    n = len(export.rows)
    assert n == 90 * 5
    result = run.results["google-ads-campaigns"]
    assert table_counts(result) == [("spend", n, n, 0, 0, 0)]
    assert lines_skipped(result) == {"title": 2, "summary": 4}
    assert result.rows_rejected == 0


def test_meta_every_line_accounted_for(run: Run) -> None:
    export = meta()
    assert export.before == []
    assert len(export.summary) == 1 and export.summary[0]["Campaign name"] == ""  # the total
    n = len(export.rows)
    clicks_results = sum(1 for r in export.rows if r["Result indicator"] in META_NOT_CONVERSIONS)
    assert (n, clicks_results) == (60 * 4, 60)
    result = run.results["meta-ads"]
    assert table_counts(result) == [
        ("spend", n, n - clicks_results, 0, 0, clicks_results),
        ("spend", n, clicks_results, 0, 0, n - clicks_results),
    ]
    assert lines_skipped(result) == {"summary": 1}


def test_linkedin_every_line_accounted_for(run: Run) -> None:
    assert LINKEDIN.read_bytes()[:2] == b"\xff\xfe"  # UTF-16 LE with its BOM
    export = linkedin()
    assert export.before[0] == "Campaign Performance Report (in UTC)"
    assert len(export.before) == 5
    n = len(export.rows)
    assert n == 90 * 3
    result = run.results["linkedin-ads"]
    assert table_counts(result) == [("spend", n, n, 0, 0, 0)]
    assert lines_skipped(result) == {"title": 5}


def test_ga4_every_line_accounted_for(run: Run) -> None:
    export = ga4()
    comments = [line for line in export.before if line.startswith("#")]
    blank = [line for line in export.before if not line.strip()]
    assert (len(comments), len(blank), len(export.before)) == (9, 1, 10)
    n = len(export.rows)
    assert n == 90 * 8
    result = run.results["ga4-traffic"]
    assert table_counts(result) == [("web_traffic", n, n, 0, 0, 0)]
    # the blank line between the comments and the header is no line of data either: the
    # reader passes over blank lines before the header without counting them
    assert lines_skipped(result) == {"comment": 9}
    # the API rows are the first 14 days again: every one updates, none is new
    api = ga4_api()
    assert len(api) == 14 * 8
    assert table_counts(run.results["ga4-traffic (api)"]) == [
        ("web_traffic", len(api), 0, len(api), 0, 0)
    ]
    assert q(run, "SELECT count(*) FROM web_traffic") == [(n,)]


def test_mailchimp_every_line_accounted_for(run: Run) -> None:
    rows = mailchimp()
    n = len(rows)
    assert n == 18
    titles = [r["Title"] for r in rows]
    assert titles.count("Product update") == 2  # one title, two campaigns
    assert table_counts(run.results["mailchimp-campaigns"]) == [("email_campaigns", n, n, 0, 0, 0)]
    assert q(run, "SELECT count(*) FROM email_campaigns") == [(n,)]


# -- the stored rows, exactly ------------------------------------------------------------------
def test_spend_rows_exactly(run: Run) -> None:
    stored = q(
        run,
        """SELECT date, channel, source, campaign, ad_group, ad, cost, currency, impressions,
                  clicks, conversions, platform FROM spend""",
    )
    got = sorted((SpendRow(*r) for r in stored), key=repr)
    want = sorted(expected_spend(), key=repr)
    assert len(got) == len(want) == 450 + 240 + 270
    for g, w in zip(got, want, strict=True):
        assert g.cost == pytest.approx(w.cost, abs=1e-9)
        assert g == SpendRow(**{**w.__dict__, "cost": g.cost})
    # the traps: thousands separators, "--" conversions, currency from the header, UTF-16
    assert any(r.cost >= 1000 for r in want if r.platform == "google_ads")
    assert any(r.impressions >= 1000 for r in want if r.platform == "google_ads")
    display = [r for r in got if r.channel == "display"]
    assert display and all(r.conversions is None for r in display)
    assert {r.currency for r in got if r.platform == "meta_ads"} == {"EUR"}
    assert {r.currency for r in got if r.platform == "linkedin_ads"} == {"USD"}


def test_web_traffic_rows_exactly(run: Run) -> None:
    stored = q(
        run,
        """SELECT date, channel, source, medium, campaign, landing_page, sessions,
                  engaged_sessions, bounces, pageviews, new_users, conversions FROM web_traffic""",
    )
    want = expected_traffic()
    assert sorted(TrafficRow(*r) for r in stored) == sorted(want)
    # GA4's bounce rate is 1 - engagement rate: the counts rebuilt from the rates agree
    assert all(r.bounces == r.sessions - r.engaged for r in want)
    # the numbers: 31,264 sessions in 720 rows, a row dated 20260401
    assert q(run, "SELECT sum(sessions), count(*) FROM web_traffic") == [(31_264, 720)]
    assert q(run, "SELECT count(*) FROM web_traffic WHERE date = DATE '2026-04-01'") == [(8,)]
    assert {r[0] for r in q(run, "SELECT DISTINCT platform FROM web_traffic")} == {"ga4"}


def test_email_campaign_rows_exactly(run: Run) -> None:
    stored = {
        r[0]: r[1:]
        for r in q(
            run,
            """SELECT campaign, sent_at, recipients, delivered, soft_bounces, hard_bounces,
                      unique_opens, total_opens, unique_clicks, total_clicks, forwards,
                      unsubscribes, complaints, list, platform FROM email_campaigns""",
        )
    }
    assert stored == {
        r["Unique Id"]: (
            dt.datetime.strptime(r["Send Date"].upper(), "%b %d, %Y %I:%M %p"),  # UTC warehouse
            *(
                int(r[c])
                for c in (
                    "Total Recipients",
                    "Successful Deliveries",
                    "Soft Bounces",
                    "Hard Bounces",
                    "Unique Opens",
                    "Total Opens",
                    "Unique Clicks",
                    "Total Clicks",
                    "Times Forwarded",
                    "Unsubscribes",
                    "Abuse Complaints",
                )
            ),
            r["List"],
            "mailchimp",
        )
        for r in mailchimp()
    }


# -- KPIs against hand counts ----------------------------------------------------------------
@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(measures=set(MEASURES))


def kpis(
    wh: Reader,
    catalog: Catalog,
    names: tuple[str, ...],
    start: dt.date,
    end: dt.date,
    *,
    by: tuple[str, ...] = (),
    grain: str | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """{(kpi, period_start, *dimension values): row}"""
    result = run_kpis(
        wh,
        KpiQuery(kpis=names, start=start, end=end, by=by, grain=grain),
        catalog,  # type: ignore[arg-type]
    )
    return {(r["kpi"], str(r["period_start"]), *(r[d] for d in by)): r for r in result.rows}


def usd(row: SpendRow) -> float:
    return row.cost * (EUR_USD if row.currency == "EUR" else 1.0)


def test_ad_kpis_by_channel(run: Run, catalog: Catalog, on_engine: OnEngine) -> None:
    # cost, impressions, clicks, conversions, cost of the rows that report conversions
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    for r in expected_spend():
        if Q1[0] <= r.date <= Q1[1]:
            s = sums[r.channel]
            s[0] += usd(r)
            s[1] += r.impressions
            s[2] += r.clicks
            if r.conversions is not None:  # "--" and Meta's click results report none
                s[3] += r.conversions
                s[4] += usd(r)
    assert set(sums) == {"paid_search", "display", "cross_network", "paid_social"}
    names = (
        "spend",
        "impressions",
        "clicks",
        "ctr",
        "cpc",
        "cpm",
        "platform_conversions",
        "cost_per_platform_conversion",
    )
    got = kpis(on_engine(run.wh), catalog, names, *Q1, by=("channel",))
    for channel, (cost, impressions, clicks, conversions, converting_cost) in sums.items():

        def value(kpi: str, ch: str = channel) -> Any:
            return got[kpi, Q1[0].isoformat(), ch]["value"]

        assert value("spend") == pytest.approx(cost, rel=1e-9)
        assert value("impressions") == impressions
        assert value("clicks") == clicks
        assert value("ctr") == pytest.approx(clicks / impressions, rel=1e-9)
        assert value("cpc") == pytest.approx(cost / clicks, rel=1e-9)
        assert value("cpm") == pytest.approx(cost / impressions * 1000, rel=1e-9)
        assert value("platform_conversions") == pytest.approx(conversions, rel=1e-9)
        if conversions:
            assert value("cost_per_platform_conversion") == pytest.approx(
                converting_cost / conversions, rel=1e-9
            )
    # display has no conversion action ("--"): no cost per conversion, not a division by 0
    assert got["cost_per_platform_conversion", Q1[0].isoformat(), "display"]["value"] is None


def test_web_kpis_by_channel_count_sessions_not_rows(
    run: Run, catalog: Catalog, on_engine: OnEngine
) -> None:
    rows = expected_traffic()
    start, end = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
    by_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        s = by_channel[r.channel]
        s[0] += r.sessions
        s[1] += r.engaged
        s[2] += r.bounces
        s[3] += r.pageviews
    names = ("sessions", "engaged_sessions", "engagement_rate", "bounce_rate", "pages_per_session")
    got = kpis(on_engine(run.wh), catalog, names, start, end, by=("channel",))
    for channel, (sessions, engaged, bounces, views) in by_channel.items():

        def row(kpi: str, ch: str = channel) -> dict[str, Any]:
            return got[kpi, start.isoformat(), ch]

        assert row("sessions")["value"] == sessions
        assert row("engaged_sessions")["value"] == engaged
        assert row("engagement_rate")["value"] == pytest.approx(engaged / sessions, rel=1e-9)
        assert row("bounce_rate")["value"] == pytest.approx(bounces / sessions, rel=1e-9)
        assert row("pages_per_session")["value"] == pytest.approx(views / sessions, rel=1e-9)
        assert row("sessions")["sources"] == ["web_traffic"]
    total = kpis(on_engine(run.wh), catalog, ("sessions", "pages_per_session"), start, end)
    assert total["sessions", start.isoformat()]["value"] == 31_264  # not 720 rows
    views = sum(r.pageviews for r in rows)
    assert total["pages_per_session", start.isoformat()]["value"] == pytest.approx(
        views / 31_264, rel=1e-9
    )


def test_email_kpis_from_the_campaign_report(
    run: Run, catalog: Catalog, on_engine: OnEngine
) -> None:
    rows = mailchimp()
    names = ("email_open_rate", "email_click_rate")
    got = kpis(on_engine(run.wh), catalog, names, *Q1, grain="month")
    for month in (1, 2, 3):
        sent = [
            r
            for r in rows
            if dt.datetime.strptime(r["Send Date"].upper(), "%b %d, %Y %I:%M %p").month == month
        ]
        delivered = sum(int(r["Successful Deliveries"]) for r in sent)
        opens = sum(int(r["Unique Opens"]) for r in sent)
        clicks = sum(int(r["Unique Clicks"]) for r in sent)
        key = dt.date(2026, month, 1).isoformat()
        assert got["email_open_rate", key]["value"] == pytest.approx(opens / delivered, rel=1e-9)
        assert got["email_click_rate", key]["value"] == pytest.approx(clicks / delivered, rel=1e-9)
        assert got["email_open_rate", key]["sources"] == ["email_campaigns"]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Los_Angeles"])
def test_ga4_dates_stay_calendar_days_in_every_zone(
    zone: str, catalog: Catalog, on_engine: OnEngine
) -> None:
    wh = open_warehouse(zone)
    try:
        import_files(wh, [GA4], mapping=load_mapping("ga4-traffic"))
        assert wh.con.execute(
            "SELECT count(*) FROM web_traffic WHERE date = DATE '2026-04-01'"
        ).fetchall() == [(8,)]
        rows = expected_traffic()
        got = kpis(
            on_engine(wh),
            catalog,
            ("sessions",),
            dt.date(2026, 1, 1),
            dt.date(2026, 4, 30),
            grain="month",
        )
        for month in (1, 2, 3, 4):
            expected = sum(r.sessions for r in rows if r.date.month == month)
            assert got["sessions", dt.date(2026, month, 1).isoformat()]["value"] == expected
        april = sum(r.sessions for r in rows if r.date == dt.date(2026, 4, 1))
        assert got["sessions", "2026-04-01"]["value"] == april
    finally:
        wh.close()


# -- the fixtures are what the generator writes -------------------------------------------------
def test_fixtures_are_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_ads_fixtures", TOOLS / "make_ads_fixtures.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    for path in (GOOGLE, META, LINKEDIN, GA4, GA4_API, MAILCHIMP):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("name", [name for name, _ in IMPORTS])
def test_importing_an_export_again_changes_nothing(run: Run, name: str) -> None:
    first, again = table_counts(run.results[name]), table_counts(run.results[f"{name} (again)"])
    assert again == [
        (table, read, 0, loaded + updated, rejected, skipped)
        for table, read, loaded, updated, rejected, skipped in first
    ]
    assert q(run, "SELECT count(*) FROM spend") == [(450 + 240 + 270,)]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (GOOGLE, "google-ads-campaigns"),
        (META, "meta-ads"),
        (LINKEDIN, "linkedin-ads"),
        (GA4, "ga4-traffic"),
        (MAILCHIMP, "mailchimp-campaigns"),
    ],
)
def test_each_export_is_recognised_by_its_header(path: Path, name: str) -> None:
    from revlens.ingest.recognise import recognise_file

    assert recognise_file(path).mapping.name == name


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Los_Angeles"])
def test_mailchimp_send_dates_are_local_time_of_the_warehouse(zone: str) -> None:
    from zoneinfo import ZoneInfo

    wh = open_warehouse(zone)
    try:
        import_files(wh, [MAILCHIMP], mapping=load_mapping("mailchimp-campaigns"))
        stored = dict(wh.con.execute("SELECT campaign, sent_at FROM email_campaigns").fetchall())
    finally:
        wh.close()
    local = {
        r["Unique Id"]: dt.datetime.strptime(r["Send Date"].upper(), "%b %d, %Y %I:%M %p")
        for r in mailchimp()
    }
    # stored as UTC: "Jan 06, 2026 10:00 am" in Berlin is 09:00 UTC
    assert stored == {
        k: v.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC).replace(tzinfo=None)
        for k, v in local.items()
    }


def test_a_file_with_neither_spelling_is_refused_naming_the_columns(tmp_path: Path) -> None:
    from revlens.errors import InputFileError

    path = tmp_path / "ga4.csv"
    path.write_text("Date,Session default channel group,Views\n20260102,Direct,3\n")
    with open_warehouse() as wh, pytest.raises(InputFileError) as caught:
        import_files(wh, [path], mapping=load_mapping("ga4-traffic"))
    assert caught.value.code == "RL111"
    assert "Sessions" in str(caught.value) and "sessions" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "page"),
    [
        ("google-ads-campaigns", "google-ads.md"),
        ("meta-ads", "meta-ads.md"),
        ("linkedin-ads", "linkedin-ads.md"),
        ("ga4-traffic", "ga4.md"),
        ("mailchimp-campaigns", "mailchimp.md"),
    ],
)
def test_each_mapping_is_documented(name: str, page: str) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    mapping = load_mapping(name)
    assert mapping.title and mapping.description and mapping.recognise
    assert f"`{name}`" in (docs / "tools" / page).read_text(encoding="utf-8")
    assert f"`{name}`" in (docs / "imports.md").read_text(encoding="utf-8")
    assert f"`{name}`" in (docs.parent / "README.md").read_text(encoding="utf-8")
    assert page in mapping.description  # the mapping points at its page


def test_a_header_in_another_case_reads_the_same_column(tmp_path: Path) -> None:
    """ "Unique ID" for Mailchimp's "Unique Id": the mapping reads the same column (its key),
    so importing both spellings keeps one row per campaign, never a second set keyed by
    Title."""
    original = TOOLS / "mailchimp-campaigns.csv"
    text = original.read_text(encoding="utf-8")
    header, _, rest = text.partition("\n")
    assert "Unique Id" in header
    recased = tmp_path / "mailchimp-recased.csv"
    recased.write_text(header.replace("Unique Id", "Unique ID") + "\n" + rest, encoding="utf-8")
    campaigns = mailchimp()
    wh = open_warehouse()
    mapping = load_mapping("mailchimp-campaigns")
    first = import_files(wh, [recased], mapping=mapping)
    again = import_files(wh, [original], mapping=mapping)
    assert table_counts(first) == [("email_campaigns", len(campaigns), len(campaigns), 0, 0, 0)]
    assert table_counts(again) == [("email_campaigns", len(campaigns), 0, len(campaigns), 0, 0)]
    stored = {r[0] for r in wh.con.execute("SELECT campaign FROM email_campaigns").fetchall()}
    assert stored == {c["Unique Id"] for c in campaigns}
