"""KPIs by marketing dimension under each attribution model, so cost KPIs and ROAS follow
the model chosen: hand-counted splits, and every rule-based model's KPI split equal to
`revlens attribution`'s credit on the same journeys (two implementations: Ibis windows in
the KPI engine, Python weights in the attribution models)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from journeys import deal, journeys_for, load_rows, stage, touch
from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.compile.query import KpiQuery, run_kpis
from revlens.errors import RevlensError, UnknownName
from revlens.model.warehouse import Warehouse
from revlens.service import warehouse_attribution

START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 31)


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.open(":memory:", create=True)
    journeys_for(
        warehouse,
        {
            # three touches before the lead: linear gives each 1/3
            "ann": [
                touch("paid_search", "2024-03-01"),
                touch("email", "2024-03-02"),
                touch("social", "2024-03-03"),
                stage("lead", "2024-03-04"),
                deal(900, "2024-03-05", closed="2024-03-20", won=True),
            ],
            # one touch: all credit to it under every model
            "bob": [touch("email", "2024-03-10"), stage("lead", "2024-03-11")],
            # no touch: the (none) row keeps the whole conversion
            "cat": [stage("lead", "2024-03-12")],
        },
    )
    load_rows(
        warehouse,
        {
            "spend": [
                {"date": dt.date(2024, 3, 1), "channel": "paid_search", "cost": 300.0},
                {"date": dt.date(2024, 3, 1), "channel": "email", "cost": 100.0},
            ]
        },
    )
    return warehouse


def by_channel(wh: Warehouse, kpi: str, model: str) -> dict[str | None, float | None]:
    query = KpiQuery(kpis=(kpi,), start=START, end=END, by=("channel",), attribution=model)
    rows = run_kpis(wh, query, load_catalog(measures=set(MEASURES))).rows
    return {r["channel"]: r["value"] for r in rows}


def test_leads_under_each_model(wh: Warehouse) -> None:
    # rows exist for the channels that got credit under the model
    assert by_channel(wh, "leads", "first_touch") == {None: 1.0, "email": 1.0, "paid_search": 1.0}
    assert by_channel(wh, "leads", "last_touch") == {None: 1.0, "email": 1.0, "social": 1.0}
    linear = by_channel(wh, "leads", "linear")
    assert linear == pytest.approx(
        {None: 1.0, "email": 1 + 1 / 3, "paid_search": 1 / 3, "social": 1 / 3}
    )
    assert sum(v or 0 for v in linear.values()) == pytest.approx(3.0)  # credit sums to total


def test_cost_per_lead_and_roas_follow_the_model(wh: Warehouse) -> None:
    cpl = by_channel(wh, "cpl", "linear")
    assert cpl["paid_search"] == pytest.approx(300 / (1 / 3))
    assert cpl["email"] == pytest.approx(100 / (4 / 3))
    # ann's 900 won on March 20: her touches are within 90 days before the close
    roas_first = by_channel(wh, "roas", "first_touch")
    roas_linear = by_channel(wh, "roas", "linear")
    assert roas_first["paid_search"] == pytest.approx(900 / 300)
    assert roas_linear["paid_search"] == pytest.approx(300 / 300)
    assert roas_linear["email"] == pytest.approx(300 / 100)


# -- every model: the KPI split equals `revlens attribution` on the same journeys -----------
@pytest.fixture(scope="module")
def varied() -> Iterator[Warehouse]:
    """Journeys that tell the models apart: repeats, direct visits, touches days apart,
    touches before and after the lead and the opportunity, and one without touches."""
    warehouse = Warehouse.open(":memory:", create=True)
    journeys_for(
        warehouse,
        {
            "ann": [
                touch("paid_search", "2024-03-01T09:00"),
                touch("email", "2024-03-03T10:00"),
                stage("lead", "2024-03-04"),
                touch("direct", "2024-03-06T11:00"),
                touch("social", "2024-03-09T12:00"),
                stage("opportunity", "2024-03-10"),
                touch("direct", "2024-03-14T13:00"),
                stage("customer", "2024-03-20"),
                deal(900, "2024-03-10", closed="2024-03-20", won=True),
            ],
            "bob": [
                touch("email", "2024-03-02T08:00"),
                touch("email", "2024-03-05T08:00"),
                touch("direct", "2024-03-07T08:00"),
                stage("lead", "2024-03-08"),
                stage("customer", "2024-03-25"),
                deal(500, "2024-03-12", closed="2024-03-25", won=True),
            ],
            "cat": [touch("direct", "2024-03-11"), stage("lead", "2024-03-12")],
            "dan": [
                touch("social", "2024-03-01"),
                touch("paid_search", "2024-03-15"),
                stage("lead", "2024-03-16"),
            ],
            "eve": [stage("lead", "2024-03-18")],
            "fay": [touch("social", "2024-03-05"), touch("email", "2024-03-06")],
        },
    )
    yield warehouse
    warehouse.close()


RULE_BASED = [
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "w_shaped",
    "full_path",
]


def kpi_by_channel(wh: Warehouse, kpi: str, model: str) -> dict[str, float]:
    query = KpiQuery(kpis=(kpi,), start=START, end=END, by=("channel",), attribution=model)
    rows = run_kpis(wh, query, load_catalog(measures=set(MEASURES))).rows
    return {r["channel"] or "(none)": r["value"] for r in rows if r["value"]}


def attributed(wh: Warehouse, conversion: str, model: str, field: str) -> dict[str, float]:
    result, _ = warehouse_attribution(
        wh, model=model, conversion=conversion, start=str(START), end=str(END)
    )
    return {r["channel"]: r[field] for r in result.rows if r[field]}


@pytest.mark.parametrize("model", RULE_BASED)
@pytest.mark.parametrize(
    ("kpi", "conversion", "field"),
    [("leads", "lead", "conversions"), ("revenue", "revenue", "value")],
)
def test_rule_based_split_equals_revlens_attribution(
    varied: Warehouse, model: str, kpi: str, conversion: str, field: str
) -> None:
    got = kpi_by_channel(varied, kpi, model)
    assert got == pytest.approx(attributed(varied, conversion, model, field), rel=1e-12)


def test_hand_counted_splits(varied: Warehouse) -> None:
    # ann's lead: paid_search (Mar 1 09:00), email (Mar 3 10:00) -> U-shaped 50/50;
    # bob's: email, email, direct -> 40/20/40; cat's: direct -> 100 %; dan's: social,
    # paid_search -> 50/50; eve's: no touch; fay, a lead at creation (her first touch,
    # social, Mar 5): social 100 %
    assert kpi_by_channel(varied, "leads", "u_shaped") == pytest.approx(
        {"paid_search": 1.0, "email": 1.1, "direct": 1.4, "social": 1.5, "(none)": 1.0}
    )
    # last non-direct: bob's lead goes to his second email, cat has only direct
    assert kpi_by_channel(varied, "leads", "last_non_direct") == pytest.approx(
        {"email": 2.0, "direct": 1.0, "paid_search": 1.0, "social": 1.0, "(none)": 1.0}
    )
    # time decay, half-life 7 days: dan's touches are 15 and 1 days before his lead
    decay = kpi_by_channel(varied, "leads", "time_decay")
    w_social, w_paid = 2 ** (-15 / 7), 2 ** (-1 / 7)
    assert decay["social"] == pytest.approx(1 + w_social / (w_social + w_paid))  # + fay
    # W-shaped on ann's 900: first touch paid_search 30 %, the lead's touch (email, the
    # last before Mar 4) 30 %, the opportunity's (social, the last before Mar 10) 30 %,
    # the two direct visits 5 % each
    w = kpi_by_channel(varied, "revenue", "w_shaped")
    ann = {"paid_search": 270.0, "email": 270.0, "social": 270.0, "direct": 90.0}
    # bob's 500: first touch email 30 %, lead touch direct 30 %, no opportunity stage
    # event -> the last touch (direct) stands in: 30 %; the second email gets the 10 %
    bob = {"email": 200.0, "direct": 300.0}
    assert w == pytest.approx({c: ann.get(c, 0) + bob.get(c, 0) for c in {*ann, *bob}})


@pytest.mark.parametrize("model", ["markov", "shapley"])
def test_data_driven_split_follows_the_fitted_credit(varied: Warehouse, model: str) -> None:
    """Each lead is split over its journey's channels in proportion to the model's credit
    per conversion, fitted to the lead journeys (computed here from `revlens attribution`)."""
    fitted = attributed(varied, "lead", model, "conversions")
    weight = {c: v / sum(fitted.values()) for c, v in fitted.items() if c != "(none)"}
    paths = {
        "ann": ["paid_search", "email"],
        "bob": ["email", "email", "direct"],
        "cat": ["direct"],
        "dan": ["social", "paid_search"],
        "fay": ["social"],  # a lead at creation: her first touch
    }
    expected: dict[str, float] = {"(none)": 1.0}
    for path in paths.values():
        channels = set(path)
        total = sum(weight.get(c, 0.0) for c in channels)
        for c in channels:
            part = weight.get(c, 0.0) / total if total else 1 / len(channels)
            expected[c] = expected.get(c, 0.0) + part
    got = kpi_by_channel(varied, "leads", model)
    assert got == pytest.approx({c: v for c, v in expected.items() if v}, rel=1e-9)
    assert sum(got.values()) == pytest.approx(6.0)


def test_unknown_and_custom_models_are_explained() -> None:
    with pytest.raises(UnknownName) as unknown:
        KpiQuery(kpis=("leads",), attribution="markow")
    assert unknown.value.fix == "did you mean 'markov'?"
    with pytest.raises(RevlensError, match="custom") as err:
        KpiQuery(kpis=("leads",), attribution="custom")
    assert err.value.code == "RL519"
