"""Rule-based models on small journeys, with the expected credit worked out by hand (the
arithmetic is in the comments) for every model, including timing and milestones."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from revlens.attribution import (
    CustomPositionWeights,
    FullPath,
    Journey,
    JourneyTable,
    ModelParameterError,
    PositionBased,
    TimeDecay,
    WShaped,
    attribute,
)
from revlens.attribution.base import TouchModel


def path(
    text: str, conversions: int = 1, value: float = 0.0, nulls: int = 0, **kw: object
) -> Journey:
    """'a > b > c' as a journey (kw: days_before, lead_touch, opportunity_touch, ...)."""
    channels = tuple(c.strip() for c in text.split(">") if c.strip())
    return Journey(channels, conversions=conversions, value=value, nulls=nulls, **kw)  # type: ignore[arg-type]


def credit(
    journeys: list[Journey], model: str | TouchModel, **options: object
) -> dict[str, tuple[float, float]]:
    """{channel: (conversions, value)} under one model, (none) included."""
    result = attribute(journeys, [model], **options)
    return {r["channel"]: (r["conversions"], r["value"]) for r in result.rows}


def close(expected: dict[str, tuple[float, float]]) -> dict[str, object]:
    """Expected credit compared to 1e-12 relative (floating-point sums)."""
    return {k: pytest.approx(v, rel=1e-12, abs=1e-12) for k, v in expected.items()}


def weights(model: TouchModel, journey: Journey) -> list[float]:
    return [round(float(w), 12) for w in model.weights(journey)]


JOURNEYS = [
    path("paid_search > email > direct", conversions=3, value=300.0),
    path("email", conversions=1, value=50.0),
    path("direct > paid_search", conversions=2, value=100.0, nulls=4),
    path("social", conversions=0, nulls=7),
]


def test_first_touch() -> None:
    # paid_search: 3 (first of path 1); email: 1; direct: 2 (first of path 3); social: 0
    assert credit(JOURNEYS, "first_touch") == {
        "direct": (2.0, 100.0),
        "email": (1.0, 50.0),
        "paid_search": (3.0, 300.0),
        "social": (0.0, 0.0),
    }


def test_last_touch() -> None:
    # direct: 3 (last of path 1); email: 1; paid_search: 2 (last of path 3)
    assert credit(JOURNEYS, "last_touch") == {
        "direct": (3.0, 300.0),
        "email": (1.0, 50.0),
        "paid_search": (2.0, 100.0),
        "social": (0.0, 0.0),
    }


def test_last_non_direct_skips_direct_and_falls_back_to_last_touch() -> None:
    journeys = [
        path("paid_search > email > direct", conversions=3, value=300.0),  # email (skips direct)
        path("email > Direct > direct", conversions=1, value=10.0),  # email: case-insensitive
        path("direct > direct", conversions=2, value=20.0),  # all direct: the last touch
    ]
    assert credit(journeys, "last_non_direct") == {
        "direct": (2.0, 20.0),
        "Direct": (0.0, 0.0),
        "email": (4.0, 310.0),
        "paid_search": (0.0, 0.0),
    }
    # a configurable direct set: email counts as direct too -> paid_search for path 1
    got = credit(journeys, "last_non_direct", direct=("direct", "email"))
    assert got["paid_search"] == (3.0, 300.0)
    assert got["direct"] == (3.0, 30.0)  # path 2 is all direct now: its last touch + path 3
    assert got["Direct"] == (0.0, 0.0)


def test_linear_counts_repeats_like_channelattribution() -> None:
    # a > b > a with 3 conversions, value 30: each touch 1/3 -> a 2 touches = 2, b = 1
    assert credit([path("a > b > a", conversions=3, value=30.0)], "linear") == {
        "a": (2.0, 20.0),
        "b": (1.0, 10.0),
    }
    # JOURNEYS: path 1 gives 1 each (3/3), path 3 gives 1 each (2/2)
    assert credit(JOURNEYS, "linear") == {
        "direct": (2.0, 150.0),  # 300/3 + 100/2
        "email": (2.0, 150.0),  # 300/3 + 50
        "paid_search": (2.0, 150.0),  # 300/3 + 100/2
        "social": (0.0, 0.0),
    }


def test_time_decay_by_position_when_there_are_no_timestamps() -> None:
    # half-life 1 step: last touch 2^0 = 1, the one before 2^-1, then 2^-2
    # a > b > c: 0.25 : 0.5 : 1 over 1.75 -> 1/7, 2/7, 4/7
    got = credit([path("a > b > c", conversions=7, value=70.0)], "time_decay", half_life=1.0)
    assert got == close({"a": (1.0, 10.0), "b": (2.0, 20.0), "c": (4.0, 40.0)})
    result = attribute([path("a > b")], ["time_decay"])
    assert result.notes == (
        "time_decay: 1 path(s) have no timestamps; their touches decay by position "
        "(half-life 7 steps)",
    )


def test_time_decay_by_days_before_the_conversion() -> None:
    # touches 14, 7 and 0 days before the conversion, half-life 7 days:
    # 2^-2 : 2^-1 : 2^0 = 1 : 2 : 4 -> 1/7, 2/7, 4/7 (the order of the given touches is kept
    # by time: the touch given first happened last)
    day = dt.datetime(2025, 3, 1)
    journey = Journey.from_timestamps(
        ["c", "b", "a"],
        [day + dt.timedelta(days=14), day + dt.timedelta(days=7), day],
        day + dt.timedelta(days=14),
        value=700.0,
    )
    assert journey.channels == ("a", "b", "c")
    assert journey.days_before == (14.0, 7.0, 0.0)
    assert credit([journey], "time_decay") == close(
        {"a": (1 / 7, 100.0), "b": (2 / 7, 200.0), "c": (4 / 7, 400.0)}
    )
    # a touch 3.5 days before weighs 2^-0.5 of one at the conversion
    two = Journey(("x", "y"), days_before=(3.5, 0.0))
    w = TimeDecay(7.0).weights(two)
    assert w[0] / w[1] == pytest.approx(2**-0.5)


def test_position_based_u_shaped() -> None:
    m = PositionBased()
    assert weights(m, path("a")) == [1.0]  # one touch: 100 %
    assert weights(m, path("a > b")) == [0.5, 0.5]  # two touches: 40:40 -> 50/50
    assert weights(m, path("a > b > c")) == [0.4, 0.2, 0.4]
    assert weights(m, path("a > b > c > d")) == [0.4, 0.1, 0.1, 0.4]  # 20 % over 2
    # 30/40/30 weights: 2 touches split first:last 30:30 -> 50/50, middle alone 40 %
    assert weights(PositionBased(30, 40, 30), path("a > b > c")) == [0.3, 0.4, 0.3]
    # a > b > c > d with 10 conversions, value 100: a 4 (40), b 1, c 1, d 4
    got = credit([path("a > b > c > d", conversions=10, value=100.0)], "u_shaped")
    assert got == close({"a": (4.0, 40.0), "b": (1.0, 10.0), "c": (1.0, 10.0), "d": (4.0, 40.0)})


def test_custom_position_weights() -> None:
    # head (0.5, 0.2), middle 0.1, tail (0.2,): 5 touches -> 0.5, 0.2, 0.05, 0.05, 0.2
    m = CustomPositionWeights(head=(0.5, 0.2), middle=0.1, tail=(0.2,))
    assert weights(m, path("a > b > c > d > e")) == [0.5, 0.2, 0.05, 0.05, 0.2]
    # 3 touches: head takes 2, tail 1, no middle: 0.5, 0.2, 0.2 over 0.9
    assert weights(m, path("a > b > c")) == pytest.approx([5 / 9, 2 / 9, 2 / 9])
    # 2 touches: both are head: 0.5 : 0.2 -> 5/7, 2/7
    assert weights(m, path("a > b")) == pytest.approx([5 / 7, 2 / 7])
    # weights that are all 0 on a path split it evenly
    last_two = CustomPositionWeights(head=(0.0,), middle=0.0, tail=(1.0, 1.0))
    assert weights(last_two, path("a")) == [1.0]
    assert weights(last_two, path("a > b > c")) == [0.0, 0.5, 0.5]
    got = credit(
        [path("a > b > c > d > e", conversions=20, value=200.0)],
        "custom",
        custom_weights=((0.5, 0.2), 0.1, (0.2,)),
    )
    assert got == close(
        {"a": (10.0, 100.0), "b": (4.0, 40.0), "c": (1.0, 10.0), "d": (1.0, 10.0), "e": (4.0, 40.0)}
    )


def test_w_shaped_with_milestones() -> None:
    # a > b > c > d > e, lead created at b (1), opportunity at d (3):
    # a, b, d 30 % each; the 10 % rest over c and e: 5 % each
    j = path("a > b > c > d > e", conversions=20, value=1000.0, lead_touch=1, opportunity_touch=3)
    assert weights(WShaped(), j) == [0.3, 0.3, 0.05, 0.3, 0.05]
    assert credit([j], "w_shaped") == close(
        {
            "a": (6.0, 300.0),
            "b": (6.0, 300.0),
            "c": (1.0, 50.0),
            "d": (6.0, 300.0),
            "e": (1.0, 50.0),
        }
    )
    # milestones on the same touch add up: lead at the first touch -> a 60 %, c 30 %, b 10 %
    j2 = path("a > b > c", lead_touch=0, opportunity_touch=2)
    assert weights(WShaped(), j2) == [0.6, 0.1, 0.3]
    # no other touch: the 10 % goes to the key touches pro rata -> 0.3 : 0.6 = 1/3, 2/3
    j3 = path("a > b", lead_touch=1, opportunity_touch=1)
    assert weights(WShaped(), j3) == pytest.approx([1 / 3, 2 / 3])


def test_w_shaped_without_milestones_uses_the_last_touch() -> None:
    # a path file has no milestones: lead and opportunity fall back to the last touch:
    # a 30 %, c 30 + 30 = 60 %, b the 10 % rest
    assert weights(WShaped(), path("a > b > c")) == [0.3, 0.1, 0.6]
    assert weights(WShaped(), path("a")) == [1.0]
    result = attribute(
        [path("a > b > c"), path("a > b > c", lead_touch=1, opportunity_touch=2)], ["w_shaped"]
    )
    assert result.notes == (
        "w_shaped: 1 path(s) lack milestone touches (lead, opportunity); the last touch "
        "stands in for each missing one",
    )


def test_full_path_z_shaped() -> None:
    # a > b > c > d > e > f: lead b (1), opportunity c (2), close e (4): 22.5 % each to
    # a, b, c, e; the 10 % rest over d and f: 5 % each
    j = path("a > b > c > d > e > f", lead_touch=1, opportunity_touch=2, close_touch=4)
    assert weights(FullPath(), j) == [0.225, 0.225, 0.225, 0.05, 0.225, 0.05]
    # without milestones: a 22.5 %, the last touch 67.5 %, the middle 10 %
    assert weights(FullPath(), path("a > b > c")) == [0.225, 0.1, 0.675]
    assert credit([j], "z_shaped")["e"] == pytest.approx((0.225, 0.0))


def test_empty_journeys_are_reported_as_none_under_every_model() -> None:
    journeys = [path("a > b", conversions=2, value=20.0), Journey((), conversions=3, value=9.0)]
    for model in ("first_touch", "linear", "w_shaped", "markov", "shapley"):
        got = credit(journeys, model)
        assert got["(none)"] == (3.0, 9.0), model
        assert sum(c for c, _ in got.values()) == pytest.approx(5.0), model
        assert sum(v for _, v in got.values()) == pytest.approx(29.0), model


def test_journey_validation() -> None:
    from revlens.attribution import JourneyError

    assert Journey(("a", "b"), lead_touch=np.int64(1)).lead_touch == 1  # numpy ints welcome
    for bad in (
        {"conversions": -1},
        {"conversions": 1.5},
        {"value": float("nan")},
        {"conversions": 0, "value": 3.0},
        {"lead_touch": 2},
        {"lead_touch": True},
        {"days_before": (1.0,)},
        {"days_before": (-1.0, 0.0)},
    ):
        with pytest.raises(JourneyError):
            Journey(("a", "b"), **bad)  # type: ignore[arg-type]
    with pytest.raises(JourneyError):
        Journey(("a", ""))


def test_identical_journeys_are_merged() -> None:
    table = JourneyTable.build([path("a > b", 1, 1.5), path("a > b", 2, 2.25, nulls=1)])
    assert len(table.journeys) == 1
    assert (table.journeys[0].conversions, table.journeys[0].value) == (3, 3.75)
    assert table.journeys[0].nulls == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: PositionBased(-1, 1, 1),
        lambda: PositionBased(0, 0, 0),
        lambda: TimeDecay(0),
        lambda: WShaped(float("nan")),
    ],
)
def test_bad_parameters_are_refused(make: object) -> None:
    with pytest.raises(ModelParameterError):
        make()  # type: ignore[operator]
