"""The three built-in mappings on the real public files in /work/shared/data. Expectations are
computed from the CSVs with Python's csv module, then pinned to the published counts."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from revlens.ingest.load import ImportResult, import_files
from revlens.ingest.mapping import load_mapping
from revlens.model.warehouse import REJECTS_TABLE, Warehouse

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MQLS = DATA / "olist_marketing_funnel" / "olist_marketing_qualified_leads_dataset.csv"
DEALS = DATA / "olist_marketing_funnel" / "olist_closed_deals_dataset.csv"
PIPELINE = DATA / "maven_crm_sales_opportunities" / "sales_pipeline.csv"
PRODUCTS = DATA / "maven_crm_sales_opportunities" / "products.csv"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not all(p.exists() for p in (MQLS, DEALS, PIPELINE, PRODUCTS)),
        reason=f"the public data sets are not in {DATA}",
    ),
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def day(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d")


def stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def counts(result: ImportResult) -> list[tuple[str, int, int, int, int]]:
    return [
        (c.table, c.read, c.loaded, c.updated, c.rejected) for f in result.files for c in f.tables
    ]


@dataclass
class Run:
    wh: Warehouse
    first: dict[str, ImportResult]
    again: dict[str, ImportResult]
    counts_after: dict[str, dict[str, int]]  # table counts after each first import
    counts_end: dict[str, int]
    rejects_end: int


@pytest.fixture(scope="module")
def run() -> Any:
    wh = Warehouse.open(":memory:", create=True)
    first, again, after = {}, {}, {}
    for name, path in (("olist-mqls", MQLS), ("olist-deals", DEALS), ("maven-pipeline", PIPELINE)):
        first[name] = import_files(wh, [path], mapping=load_mapping(name))
        after[name] = wh.row_counts()
    for name, path in (("olist-mqls", MQLS), ("olist-deals", DEALS), ("maven-pipeline", PIPELINE)):
        again[name] = import_files(wh, [path], mapping=load_mapping(name))
    row = wh.con.execute(f"SELECT count(*) FROM {REJECTS_TABLE}").fetchone()
    assert row is not None
    yield Run(wh, first, again, after, wh.row_counts(), int(row[0]))
    wh.close()


def q(run: Run, sql: str) -> list[tuple[Any, ...]]:
    return run.wh.con.execute(sql).fetchall()


# -- olist-mqls ------------------------------------------------------------------------------


def test_olist_mqls_counts(run: Run) -> None:
    mqls = read_csv(MQLS)
    n = len(mqls)
    assert n == 8000 and len({r["mql_id"] for r in mqls}) == n
    assert counts(run.first["olist-mqls"]) == [
        ("contacts", n, n, 0, 0),
        ("stage_events", n, n, 0, 0),
        ("stage_events", n, n, 0, 0),
        ("touchpoints", n, n, 0, 0),
    ]
    assert run.first["olist-mqls"].rows_rejected == 0
    after = run.counts_after["olist-mqls"]
    assert (after["contacts"], after["stage_events"], after["touchpoints"]) == (8000, 16000, 8000)
    assert q(
        run, "SELECT stage, count(*) FROM stage_events WHERE source = 'olist' GROUP BY 1 ORDER BY 1"
    ) == [("lead", 8000), ("mql", 8000)]


def test_olist_mqls_channels_and_dates(run: Run) -> None:
    mqls = read_csv(MQLS)
    expected = Counter(r["origin"] or "unknown" for r in mqls)
    assert sum(1 for r in mqls if not r["origin"]) == 60
    assert expected["unknown"] == 1099 + 60 == 1159
    assert dict(q(run, "SELECT channel, count(*) FROM touchpoints GROUP BY 1")) == dict(expected)
    assert q(run, "SELECT DISTINCT touch_type FROM touchpoints") == [("form",)]
    created = dict(q(run, "SELECT contact_id, created_at FROM contacts"))
    assert created == {r["mql_id"]: day(r["first_contact_date"]) for r in mqls}
    sources = dict(q(run, "SELECT contact_id, lead_source FROM contacts"))
    assert sources == {r["mql_id"]: r["origin"] or None for r in mqls}
    landing = dict(q(run, "SELECT touchpoint_id, landing_page FROM touchpoints"))
    assert landing == {r["mql_id"]: r["landing_page_id"] for r in mqls}


# -- olist-deals -----------------------------------------------------------------------------


def test_olist_deals(run: Run) -> None:
    deals = read_csv(DEALS)
    n = len(deals)
    assert n == 842
    assert counts(run.first["olist-deals"]) == [
        ("opportunities", n, n, 0, 0),
        ("opportunity_stage_events", n, n, 0, 0),
        ("stage_events", n, n, 0, 0),
        ("contacts", n, 0, n, 0),
    ]
    after = run.counts_after["olist-deals"]
    assert (after["opportunities"], after["contacts"], after["stage_events"]) == (
        842,
        8000,
        16000 + 842,
    )
    ids = {d["mql_id"] for d in deals}
    opps = {
        o[0]: o[1:]
        for o in q(
            run,
            "SELECT opportunity_id, stage, is_won, contact_id, "
            "created_at, closed_at, amount, owner, product, currency "
            "FROM opportunities",
        )
        if o[0] in ids
    }
    assert Counter((o[0], o[1]) for o in opps.values()) == {("won", True): 842}
    owners = q(run, "SELECT contact_id, owner, segment FROM contacts WHERE owner IS NOT NULL")
    assert {r[0]: (r[1], r[2]) for r in owners} == {
        d["mql_id"]: (d["sdr_id"], d["business_segment"] or None) for d in deals
    }
    assert {k: v[2:] for k, v in opps.items()} == {
        d["mql_id"]: (
            d["mql_id"],
            stamp(d["won_date"]),
            stamp(d["won_date"]),
            float(d["declared_monthly_revenue"] or 0),
            d["sr_id"],
            d["business_type"] or None,
            "USD",
        )
        for d in deals
    }
    customer = q(run, "SELECT contact_id, ts, source FROM stage_events WHERE stage = 'customer'")
    assert sorted(customer) == sorted(
        (d["mql_id"], stamp(d["won_date"]), "olist-deals") for d in deals
    )
    won = q(run, "SELECT opportunity_id, ts FROM opportunity_stage_events WHERE stage = 'won'")
    assert {e for e in won if e[0] in ids} == {(d["mql_id"], stamp(d["won_date"])) for d in deals}


def test_olist_deal_won_before_first_contact_is_kept(run: Run) -> None:
    first_contact = {r["mql_id"]: day(r["first_contact_date"]) for r in read_csv(MQLS)}
    early = [
        d["mql_id"] for d in read_csv(DEALS) if stamp(d["won_date"]) < first_contact[d["mql_id"]]
    ]
    assert len(early) == 1  # the documented quirk: it still loads
    assert q(
        run,
        f"SELECT count(*) FROM stage_events WHERE contact_id = '{early[0]}' AND stage = 'customer'",
    ) == [(1,)]


# -- maven-pipeline --------------------------------------------------------------------------


def test_maven_pipeline_counts_and_rejects(run: Run) -> None:
    pipeline = read_csv(PIPELINE)
    no_engage = [(i + 2, r) for i, r in enumerate(pipeline) if not r["engage_date"]]
    engaged = len(pipeline) - len(no_engage)
    closed = sum(1 for r in pipeline if r["deal_stage"] in ("Won", "Lost"))
    assert (len(pipeline), len(no_engage), engaged, closed) == (8800, 500, 8300, 6711)
    assert {r["deal_stage"] for _, r in no_engage} == {"Prospecting"}
    result = run.first["maven-pipeline"]
    assert (result.rows_read, result.rows_rejected) == (8800, 500)
    assert counts(result) == [
        ("opportunities", 8800, 8300, 0, 500),
        ("opportunity_stage_events", 8800, 8300, 0, 0),
        ("opportunity_stage_events", 8800, 6711, 0, 0),
    ]
    # the rows each `when` leaves out are skipped: read = loaded + updated + rejected + skipped
    assert [c.skipped for c in result.files[0].tables] == [0, 500, 8800 - 6711]
    rejects = q(
        run,
        f"""SELECT line, "table", "column", value, code FROM {REJECTS_TABLE}
                       WHERE file = '{PIPELINE}' ORDER BY line""",
    )
    assert rejects == [
        (line, "opportunities", "created_at", None, "missing") for line, _ in no_engage
    ]


def test_maven_pipeline_stage_events(run: Run) -> None:
    pipeline = read_csv(PIPELINE)
    maven_ids = {r["opportunity_id"] for r in pipeline}
    events = [
        e
        for e in q(run, "SELECT opportunity_id, stage, ts FROM opportunity_stage_events")
        if e[0] in maven_ids
    ]
    expected = [
        (r["opportunity_id"], "engaging", day(r["engage_date"]))
        for r in pipeline
        if r["engage_date"]
    ]
    expected += [
        (r["opportunity_id"], r["deal_stage"].lower(), day(r["close_date"]))
        for r in pipeline
        if r["deal_stage"] in ("Won", "Lost")
    ]
    assert sorted(events) == sorted(expected)
    assert Counter(e[1] for e in events) == {"engaging": 8300, "won": 4238, "lost": 2473}


def test_maven_products_and_amounts(run: Run) -> None:
    pipeline = [r for r in read_csv(PIPELINE) if r["engage_date"]]
    price = {p["product"]: float(p["sales_price"]) for p in read_csv(PRODUCTS)}
    assert sum(1 for r in read_csv(PIPELINE) if r["product"] == "GTXPro") == 1480
    assert "GTXPro" not in price and "GTX Pro" in price

    def product(r: dict[str, str]) -> str:
        return "GTX Pro" if r["product"] == "GTXPro" else r["product"]

    maven_ids = {r["opportunity_id"] for r in pipeline}
    rows = {
        o[0]: o[1:]
        for o in q(
            run,
            "SELECT opportunity_id, product, stage, amount, is_won, "
            "owner, account_id, created_at, closed_at "
            "FROM opportunities",
        )
        if o[0] in maven_ids
    }
    assert len(rows) == 8300
    assert q(run, "SELECT count(*) FROM opportunities WHERE product = 'GTXPro'") == [(0,)]
    assert sum(1 for v in rows.values() if v[0] == "GTX Pro") == sum(
        1 for r in pipeline if r["product"] == "GTXPro"
    )

    def expected_amount(r: dict[str, str]) -> float:
        return float(r["close_value"]) if r["close_value"] else price[product(r)]

    assert rows == {
        r["opportunity_id"]: (
            product(r),
            r["deal_stage"].lower(),
            expected_amount(r),
            {"Won": True, "Lost": False}.get(r["deal_stage"]),
            r["sales_agent"],
            r["account"] or None,
            day(r["engage_date"]),
            day(r["close_date"]) if r["close_date"] else None,
        )
        for r in pipeline
    }
    engaging = Counter(product(r) for r in pipeline if r["deal_stage"] == "Engaging")
    sums = dict(
        q(run, "SELECT product, sum(amount) FROM opportunities WHERE stage = 'engaging' GROUP BY 1")
    )
    assert sums == {p: n * price[p] for p, n in engaging.items()}
    assert sums["GTX Pro"] == 253 * 4821
    assert q(run, "SELECT count(*), sum(amount) FROM opportunities WHERE stage = 'lost'") == [
        (2473, 0.0)
    ]


# -- re-importing each file ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["olist-mqls", "olist-deals", "maven-pipeline"])
def test_reimport_loads_nothing_new(run: Run, name: str) -> None:
    first, again = counts(run.first[name]), counts(run.again[name])
    assert again == [
        (t, read, 0, loaded + updated, rejected) for t, read, loaded, updated, rejected in first
    ]
    assert run.again[name].rows_rejected == run.first[name].rows_rejected


def test_reimport_keeps_table_counts_and_rejects(run: Run) -> None:
    assert run.counts_end == run.counts_after["maven-pipeline"]
    assert run.rejects_end == 500
