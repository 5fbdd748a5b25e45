"""Periods in the warehouse's reporting zone (`revlens init --timezone`): the same instants,
loaded into warehouses in UTC, Europe/Berlin, America/Los_Angeles and Asia/Kolkata (+05:30),
fall on the local day, week and month of each zone, DST days included; --from/--to are local
midnights; spend days are calendar days that never shift; funnel windows and attribution
lookbacks count local days. Every query runs on each engine (`on_engine`).

The expected local dates are written by hand in `INSTANTS` (the wall-clock time in each zone
is in the comment); `test_the_hand_table_is_right` checks the table against zoneinfo."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from journeys import activity, deal, inbound, journeys_for, load_rows, stage, touch
from revlens.attribution.warehouse import warehouse_journeys
from revlens.catalog.spec import Catalog, load_catalog
from revlens.compile.context import Context
from revlens.compile.facts import current_touch_times, touch_times_unique
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, KpiResult, run_kpis
from revlens.funnel.cohorts import cohort_matrix
from revlens.funnel.engine import FunnelQuery, run_funnel
from revlens.model.warehouse import Reader, Warehouse
from revlens.plan.sla import sla_report
from two_engines import OnEngine

D = dt.date
ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata")

# Berlin: CET (+1) until 2026-03-29 01:00Z, CEST (+2) until 2026-10-25 01:00Z, then CET.
# Los Angeles: PST (-8) until 2026-03-08 10:00Z, PDT (-7) until 2026-11-01 09:00Z, then PST.
# Kolkata: +05:30 all year.
# name: (instant in UTC, {zone: local date}); the comment gives Berlin / LA / Kolkata clocks
INSTANTS: dict[str, tuple[str, dict[str, str]]] = {
    # Los Angeles springs forward on Sunday 2026-03-08 (a 23-hour day)
    "la1": ("2026-03-08T07:30Z", {"UTC": "03-08", "BER": "03-08", "LA": "03-07", "KOL": "03-08"}),
    # 08:30 / Mar 7 23:30 PST / 13:00
    "la2": ("2026-03-08T08:30Z", {"UTC": "03-08", "BER": "03-08", "LA": "03-08", "KOL": "03-08"}),
    # 09:30 / 00:30 PST / 14:00
    "la3": ("2026-03-08T09:59Z", {"UTC": "03-08", "BER": "03-08", "LA": "03-08", "KOL": "03-08"}),
    # 10:59 / 01:59 PST / 15:29
    "la4": ("2026-03-08T10:01Z", {"UTC": "03-08", "BER": "03-08", "LA": "03-08", "KOL": "03-08"}),
    # 11:01 / 03:01 PDT / 15:31
    "la5": ("2026-03-09T06:30Z", {"UTC": "03-09", "BER": "03-09", "LA": "03-08", "KOL": "03-09"}),
    # 07:30 / Mar 8 23:30 PDT / 12:00
    "la6": ("2026-03-09T07:30Z", {"UTC": "03-09", "BER": "03-09", "LA": "03-09", "KOL": "03-09"}),
    # 08:30 / 00:30 PDT / 13:00
    # Berlin springs forward on Sunday 2026-03-29
    "be1": ("2026-03-28T22:30Z", {"UTC": "03-28", "BER": "03-28", "LA": "03-28", "KOL": "03-29"}),
    # 23:30 CET / 15:30 / Mar 29 04:00
    "be2": ("2026-03-28T23:30Z", {"UTC": "03-28", "BER": "03-29", "LA": "03-28", "KOL": "03-29"}),
    # Mar 29 00:30 CET / 16:30 / 05:00
    "be3": ("2026-03-29T00:59Z", {"UTC": "03-29", "BER": "03-29", "LA": "03-28", "KOL": "03-29"}),
    # 01:59 CET / Mar 28 17:59 / 06:29
    "be4": ("2026-03-29T01:01Z", {"UTC": "03-29", "BER": "03-29", "LA": "03-28", "KOL": "03-29"}),
    # 03:01 CEST / Mar 28 18:01 / 06:31
    "be5": ("2026-03-29T21:30Z", {"UTC": "03-29", "BER": "03-29", "LA": "03-29", "KOL": "03-30"}),
    # 23:30 CEST / 14:30 / Mar 30 03:00
    "be6": ("2026-03-29T22:30Z", {"UTC": "03-29", "BER": "03-30", "LA": "03-29", "KOL": "03-30"}),
    # Mar 30 00:30 / 15:30 / 04:00
    # the turn of March to April
    "mo1": ("2026-03-31T21:30Z", {"UTC": "03-31", "BER": "03-31", "LA": "03-31", "KOL": "04-01"}),
    # 23:30 / 14:30 / Apr 1 03:00
    "mo2": ("2026-03-31T22:30Z", {"UTC": "03-31", "BER": "04-01", "LA": "03-31", "KOL": "04-01"}),
    # Apr 1 00:30 / 15:30 / 04:00
    "mo3": ("2026-04-01T06:30Z", {"UTC": "04-01", "BER": "04-01", "LA": "03-31", "KOL": "04-01"}),
    # 08:30 / Mar 31 23:30 / 12:00
    "mo4": ("2026-04-01T07:30Z", {"UTC": "04-01", "BER": "04-01", "LA": "04-01", "KOL": "04-01"}),
    # 09:30 / Apr 1 00:30 / 13:00
    # the turn of April to May, half an hour apart around Kolkata's midnight
    "ko1": ("2026-04-30T18:15Z", {"UTC": "04-30", "BER": "04-30", "LA": "04-30", "KOL": "04-30"}),
    # 20:15 / 11:15 / 23:45
    "ko2": ("2026-04-30T18:45Z", {"UTC": "04-30", "BER": "04-30", "LA": "04-30", "KOL": "05-01"}),
    # 20:45 / 11:45 / May 1 00:15
    # Berlin falls back on Sunday 2026-10-25 (a 25-hour day: 02:00-03:00 twice)
    "be7": ("2026-10-24T21:30Z", {"UTC": "10-24", "BER": "10-24", "LA": "10-24", "KOL": "10-25"}),
    # 23:30 CEST / 14:30 / Oct 25 03:00
    "be8": ("2026-10-24T22:30Z", {"UTC": "10-24", "BER": "10-25", "LA": "10-24", "KOL": "10-25"}),
    # Oct 25 00:30 CEST / 15:30 / 04:00
    "be9": ("2026-10-25T00:30Z", {"UTC": "10-25", "BER": "10-25", "LA": "10-24", "KOL": "10-25"}),
    # 02:30 CEST / Oct 24 17:30 / 06:00
    "be10": ("2026-10-25T01:30Z", {"UTC": "10-25", "BER": "10-25", "LA": "10-24", "KOL": "10-25"}),
    # 02:30 CET (again) / Oct 24 18:30 / 07:00
    "be11": ("2026-10-25T22:30Z", {"UTC": "10-25", "BER": "10-25", "LA": "10-25", "KOL": "10-26"}),
    # 23:30 CET / 15:30 / Oct 26 04:00
    "be12": ("2026-10-25T23:30Z", {"UTC": "10-25", "BER": "10-26", "LA": "10-25", "KOL": "10-26"}),
    # Oct 26 00:30 / 16:30 / 05:00
    # Los Angeles falls back on Sunday 2026-11-01 (01:00-02:00 twice)
    "la7": ("2026-11-01T06:30Z", {"UTC": "11-01", "BER": "11-01", "LA": "10-31", "KOL": "11-01"}),
    # 07:30 / Oct 31 23:30 PDT / 12:00
    "la8": ("2026-11-01T07:30Z", {"UTC": "11-01", "BER": "11-01", "LA": "11-01", "KOL": "11-01"}),
    # 08:30 / 00:30 PDT / 13:00
    "la9": ("2026-11-01T08:30Z", {"UTC": "11-01", "BER": "11-01", "LA": "11-01", "KOL": "11-01"}),
    # 09:30 / 01:30 PDT / 14:00
    "la10": ("2026-11-01T09:30Z", {"UTC": "11-01", "BER": "11-01", "LA": "11-01", "KOL": "11-01"}),
    # 10:30 / 01:30 PST (again) / 15:00
    "la11": ("2026-11-02T07:30Z", {"UTC": "11-02", "BER": "11-02", "LA": "11-01", "KOL": "11-02"}),
    # 08:30 / Nov 1 23:30 PST / 13:00
    "la12": ("2026-11-02T08:30Z", {"UTC": "11-02", "BER": "11-02", "LA": "11-02", "KOL": "11-02"}),
    # 09:30 / 00:30 PST / 14:00
}
SHORT = {"UTC": "UTC", "Europe/Berlin": "BER", "America/Los_Angeles": "LA", "Asia/Kolkata": "KOL"}

# leads per local month (March, April, May, ..., November), counted by hand from INSTANTS
MONTHLY = {
    "UTC": {3: 14, 4: 4, 10: 6, 11: 6},
    "Europe/Berlin": {3: 13, 4: 5, 10: 6, 11: 6},
    "America/Los_Angeles": {3: 15, 4: 3, 10: 7, 11: 5},
    "Asia/Kolkata": {3: 12, 4: 5, 5: 1, 10: 6, 11: 6},
}
# leads from 2026-04-01 to 2026-04-30 (--from/--to): 00:30 on April 1 is in, 23:30 on
# March 31 is not; 23:45 on April 30 is in, 00:15 on May 1 is not
APRIL = {"UTC": 4, "Europe/Berlin": 5, "America/Los_Angeles": 3, "Asia/Kolkata": 5}
SPEND = {"2026-03-31": 600.0, "2026-04-01": 1000.0}  # calendar days: March 600, April 1000


def local_day(name: str, zone: str) -> D:
    return D.fromisoformat("2026-" + INSTANTS[name][1][SHORT[zone]])


def instant(name: str) -> str:
    return INSTANTS[name][0].replace("Z", "+00:00")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(measures=set(MEASURES))


@pytest.fixture(scope="module")
def zoned() -> Iterator[dict[str, Warehouse]]:
    """One warehouse per zone holding the same instants: a lead each (its contact created
    then), and spend on two calendar days."""
    built = {}
    for zone in ZONES:
        wh = Warehouse.open(":memory:", create=True)
        wh.update_settings(timezone=zone)
        journeys_for(wh, {name: [stage("lead", instant(name))] for name in INSTANTS})
        load_rows(
            wh,
            {
                "spend": [
                    {"date": day, "channel": "paid_search", "cost": cost}
                    for day, cost in SPEND.items()
                ]
            },
        )
        built[zone] = wh
    yield built
    for wh in built.values():
        wh.close()


def run(wh: Reader, catalog: Catalog, *kpis: str, **query: Any) -> KpiResult:
    return run_kpis(wh, KpiQuery(kpis=kpis, **query), catalog)


def counted(result: KpiResult, kpi: str = "leads") -> dict[D, float]:
    """Period start -> value, the periods with a value other than 0."""
    return {r["period_start"]: r["value"] for r in result.rows if r["kpi"] == kpi and r["value"]}


def test_the_hand_table_is_right() -> None:
    """The local dates written in INSTANTS are those zoneinfo gives (a typo guard)."""
    for name, (at, _) in INSTANTS.items():
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        for zone in ZONES:
            assert moment.astimezone(ZoneInfo(zone)).date() == local_day(name, zone), (name, zone)
    for zone in ZONES:
        by_month = Counter(local_day(name, zone).month for name in INSTANTS)
        assert by_month == MONTHLY[zone]
        assert sum(local_day(n, zone).month == 4 for n in INSTANTS) == APRIL[zone]


@pytest.mark.parametrize("zone", ZONES)
def test_leads_fall_on_their_local_days(
    zoned: dict[str, Warehouse], catalog: Catalog, on_engine: OnEngine, zone: str
) -> None:
    result = run(
        on_engine(zoned[zone]),
        catalog,
        "leads",
        start=D(2026, 3, 1),
        end=D(2026, 11, 30),
        grain="day",
    )
    expected = Counter(local_day(name, zone) for name in INSTANTS)
    assert counted(result) == expected
    if zone == "Europe/Berlin":  # both DST Sundays: every lead of the local day, no other
        assert counted(result)[D(2026, 3, 29)] == 4  # be2..be5: 00:30, 01:59, 03:01, 23:30
        assert counted(result)[D(2026, 10, 25)] == 4  # be8..be11: 02:30 twice among them
        assert D(2026, 3, 28) in counted(result) and D(2026, 10, 26) in counted(result)
    if zone == "America/Los_Angeles":
        assert counted(result)[D(2026, 3, 8)] == 4  # la2..la5
        assert counted(result)[D(2026, 11, 1)] == 4  # la8..la11: 01:30 twice among them


@pytest.mark.parametrize("zone", ZONES)
def test_leads_fall_in_their_local_weeks(
    zoned: dict[str, Warehouse], catalog: Catalog, on_engine: OnEngine, zone: str
) -> None:
    """Weeks start on Monday; both DST changes of each zone fall on a Sunday, the last day
    of a week, so an instant moved across local midnight changes its week."""
    result = run(
        on_engine(zoned[zone]),
        catalog,
        "leads",
        start=D(2026, 3, 2),
        end=D(2026, 11, 29),
        grain="week",
    )
    monday = {
        n: local_day(n, zone) - dt.timedelta(days=local_day(n, zone).weekday()) for n in INSTANTS
    }
    assert counted(result) == Counter(monday.values())
    weeks = counted(result)
    if zone == "Europe/Berlin":
        assert weeks[D(2026, 3, 23)] == 5 and weeks[D(2026, 3, 30)] == 5  # be6, mo1, mo2-mo4
    if zone == "UTC":
        assert weeks[D(2026, 3, 23)] == 6 and weeks[D(2026, 3, 30)] == 4


@pytest.mark.parametrize("zone", ZONES)
def test_leads_fall_in_their_local_months_and_cpl_keeps_its_spend_days(
    zoned: dict[str, Warehouse], catalog: Catalog, on_engine: OnEngine, zone: str
) -> None:
    result = run(
        on_engine(zoned[zone]),
        catalog,
        "leads",
        "spend",
        "cpl",
        start=D(2026, 3, 1),
        end=D(2026, 11, 30),
        grain="month",
    )
    assert counted(result) == {D(2026, m, 1): n for m, n in MONTHLY[zone].items()}
    # spend dated 2026-03-31 and 2026-04-01 stays in its month in every zone
    assert counted(result, "spend") == {D(2026, 3, 1): 600.0, D(2026, 4, 1): 1000.0}
    cpl = counted(result, "cpl")
    assert cpl[D(2026, 3, 1)] == pytest.approx(600 / MONTHLY[zone][3], rel=1e-12)
    assert cpl[D(2026, 4, 1)] == pytest.approx(1000 / MONTHLY[zone][4], rel=1e-12)
    if zone == "Europe/Berlin":
        assert (cpl[D(2026, 3, 1)], cpl[D(2026, 4, 1)]) == pytest.approx((600 / 13, 200.0))
    if zone == "America/Los_Angeles":
        assert (cpl[D(2026, 3, 1)], cpl[D(2026, 4, 1)]) == pytest.approx((40.0, 1000 / 3))


@pytest.mark.parametrize("zone", ZONES)
def test_from_and_to_are_local_midnights(
    zoned: dict[str, Warehouse], catalog: Catalog, on_engine: OnEngine, zone: str
) -> None:
    result = run(
        on_engine(zoned[zone]), catalog, "leads", "cpl", start=D(2026, 4, 1), end=D(2026, 4, 30)
    )
    got = {r["kpi"]: r["value"] for r in result.rows}
    assert got["leads"] == APRIL[zone]
    assert got["cpl"] == pytest.approx(1000 / APRIL[zone], rel=1e-12)
    # one day: the Kolkata lead of 23:45 on April 30 is its last
    (last,) = run(
        on_engine(zoned[zone]), catalog, "leads", start=D(2026, 4, 30), end=D(2026, 4, 30)
    ).rows
    assert (
        last["value"]
        == {"UTC": 2, "Europe/Berlin": 2, "America/Los_Angeles": 2, "Asia/Kolkata": 1}[zone]
    )


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("mode", ["cohort", "period"])
def test_funnel_months_are_local(
    zoned: dict[str, Warehouse], on_engine: OnEngine, zone: str, mode: str
) -> None:
    """The lead -> mql funnel's monthly cohorts (and periods) are the leads' local months."""
    query = FunnelQuery(
        stages=("lead", "mql"), start=D(2026, 3, 1), end=D(2026, 5, 31), grain="month", mode=mode
    )
    result = run_funnel(on_engine(zoned[zone]), query)
    key = "cohort" if mode == "cohort" else "period_start"
    leads = {r[key]: r["count"] for r in result.rows if r["stage"] == "lead"}
    assert leads == {D(2026, m, 1): MONTHLY[zone].get(m, 0) for m in (3, 4, 5)}


@pytest.mark.parametrize("zone", ZONES)
def test_cohort_matrix_months_are_local(
    zoned: dict[str, Warehouse], on_engine: OnEngine, zone: str
) -> None:
    matrix = cohort_matrix(
        on_engine(zoned[zone]), "lead", "mql", start=D(2026, 3, 1), end=D(2026, 5, 31)
    )
    sizes = {r["cohort"]: r["size"] for r in matrix.rows}
    assert sizes == {D(2026, m, 1): MONTHLY[zone].get(m, 0) for m in (3, 4, 5)}


# -- windows and lookbacks count local days --------------------------------------------------
@pytest.fixture(scope="module")
def windows() -> Iterator[Warehouse]:
    """Berlin, across the autumn change (Sunday 2026-10-25 has 25 hours): ann was touched by
    paid search at 12:00 on Saturday and became a lead at 12:00 on Sunday, one local day
    later (25 hours); bob became a lead at 12:00 on Saturday and a customer (a won deal) at
    12:00 on Sunday."""
    wh = Warehouse.open(":memory:", create=True)
    wh.update_settings(timezone="Europe/Berlin")
    journeys_for(
        wh,
        {
            "ann": [
                touch("paid_search", "2026-10-24T12:00:00+02:00"),
                stage("lead", "2026-10-25T12:00:00+01:00"),
            ],
            "bob": [
                stage("lead", "2026-10-24T12:00:00+02:00"),
                deal(
                    500, "2026-10-24T12:00:00+02:00", closed="2026-10-25T12:00:00+01:00", won=True
                ),
            ],
        },
    )
    yield wh
    wh.close()


def test_a_one_day_lookback_reaches_the_same_local_time_the_day_before(
    windows: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(windows),
        catalog,
        "leads",
        start=D(2026, 10, 25),
        end=D(2026, 10, 25),
        by=("channel",),
        lookback_days=1,
    )
    assert {r["channel"]: r["value"] for r in result.rows} == {"paid_search": 1}


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "stitched"])
def test_attribution_lookback_counts_local_days(
    windows: Warehouse, on_engine: OnEngine, monkeypatch: pytest.MonkeyPatch, stored: bool
) -> None:
    """The same on the stored stitched touches (kept in UTC, read in the zone) and on
    touches stitched by the query."""
    if not stored:
        monkeypatch.setattr(Context, "stored_touches_current", property(lambda self: False))
    table = warehouse_journeys(
        on_engine(windows), "lead", start=D(2026, 10, 25), end=D(2026, 10, 25), lookback_days=1
    )
    assert {j.channels: j.conversions for j in table.journeys} == {("paid_search",): 1}


def test_a_one_day_funnel_window_is_one_local_day(windows: Warehouse, on_engine: OnEngine) -> None:
    result = run_funnel(
        on_engine(windows),
        FunnelQuery(
            stages=("lead", "customer"), start=D(2026, 10, 24), end=D(2026, 10, 24), window_days=1
        ),
    )
    got = {r["stage"]: r["count"] for r in result.rows}
    assert got == {"lead": 1, "customer": 1}


def test_two_instants_of_the_repeated_hour_are_a_tie_in_that_zone() -> None:
    """02:30 CEST and 02:30 CET on 2026-10-25 are two instants but one Berlin time: the
    touch-times fact, taken in the zone queries read, says the touches tie there (so first
    and last touches rank by time and touchpoint id), and a fact taken in another zone is
    not trusted."""
    for zone, unique in (("UTC", True), ("Europe/Berlin", False)):
        wh = Warehouse.open(":memory:", create=True)
        wh.update_settings(timezone=zone)
        twice = [
            touch("email", "2026-10-25T00:30:00+00:00"),
            touch("social", "2026-10-25T01:30:00+00:00"),
        ]
        journeys_for(wh, {"ann": twice})
        assert touch_times_unique(wh) is unique
        wh.update_settings(timezone="Asia/Kolkata" if zone == "UTC" else "UTC")
        assert current_touch_times(wh) is None
        wh.close()


# -- SLA hours and minutes are elapsed time --------------------------------------------------
@pytest.fixture(scope="module")
def spring() -> Iterator[Warehouse]:
    """Berlin, around the spring change (02:00 CET -> 03:00 CEST on Sunday 2026-03-29):
    a request at 01:59 CET answered at 03:01 CEST, 2 minutes later (62 by the wall clock);
    an MQL at 10:00 CET on Saturday first called at 10:30 CEST on Sunday, 23.5 hours later
    (24.5 by the wall clock); an MQL at 10:00 CET on Saturday called at 11:30 CEST on
    Sunday, 24.5 hours later: late by 30 minutes."""
    wh = Warehouse.open(":memory:", create=True)
    wh.update_settings(timezone="Europe/Berlin")
    journeys_for(
        wh,
        {
            "ann": [
                inbound("2026-03-29T01:59:00+01:00", "2026-03-29T03:01:00+02:00"),
            ],
            "bob": [
                stage("mql", "2026-03-28T10:00:00+01:00"),
                activity("call", "2026-03-29T10:30:00+02:00"),
            ],
            "cat": [
                stage("mql", "2026-03-28T10:00:00+01:00"),
                activity("call", "2026-03-29T11:30:00+02:00"),
            ],
        },
    )
    yield wh
    wh.close()


def test_sla_kpis_measure_elapsed_time_across_a_dst_change(
    spring: Warehouse, catalog: Catalog, on_engine: OnEngine
) -> None:
    result = run(
        on_engine(spring),
        catalog,
        "inbound_within_sla",
        "inbound_response_time",
        "sla_mql_followup",
        start=D(2026, 3, 1),
        end=D(2026, 3, 31),
    )
    got = {r["kpi"]: r["value"] for r in result.rows}
    assert got["inbound_within_sla"] == 1.0  # 2 minutes, within 3
    assert got["inbound_response_time"] == pytest.approx(2.0, abs=1e-9)
    assert got["sla_mql_followup"] == 0.5  # bob within 24 hours, cat not


def test_sla_report_due_times_are_local_and_lateness_elapsed(
    spring: Warehouse, on_engine: OnEngine
) -> None:
    report = sla_report(on_engine(spring), start=D(2026, 3, 1), end=D(2026, 3, 31), grain=None)
    (late,) = report.breaches
    assert late["record_id"] == "cat" and late["status"] == "late"
    # due 24 hours after 10:00 CET: 11:00 CEST on the wall clock of Berlin
    assert late["at"] == dt.datetime(2026, 3, 28, 10, 0)
    assert late["due_at"] == dt.datetime(2026, 3, 29, 11, 0)
    assert late["response_minutes"] == 24.5 * 60
    assert late["late_minutes"] == 30


def test_utc_reads_the_tables_as_stored(zoned: dict[str, Warehouse]) -> None:
    """In UTC (the default, and the benchmarks') nothing is added to a query; in another
    zone every timestamp column is converted and date columns are not."""
    utc, berlin = Context(zoned["UTC"]), Context(zoned["Europe/Berlin"])
    for name in ("touchpoints", "stage_events", "opportunities", "spend"):
        assert utc.table(name).equals(zoned["UTC"].ibis.table(name))
    sql = zoned["Europe/Berlin"].ibis.compile(berlin.table("opportunities"))
    assert sql.count("TIMEZONE('Europe/Berlin'") == 2  # created_at, closed_at
    spend = berlin.table("spend")
    assert spend.equals(zoned["Europe/Berlin"].ibis.table("spend"))  # dates never shift
