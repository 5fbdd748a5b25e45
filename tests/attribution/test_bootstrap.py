"""Bootstrap intervals of the data-driven models: seeded, in the rows, narrowing with
more data, and absent for the rule-based models."""

from __future__ import annotations

import pytest

from revlens.attribution import Journey, ModelParameterError, attribute

JOURNEYS = [
    Journey(("search", "email"), conversions=30, value=3000.0, nulls=70),
    Journey(("social",), conversions=5, value=250.0, nulls=95),
    Journey(("email", "search", "social"), conversions=20, value=1500.0, nulls=30),
    Journey((), conversions=4, value=100.0, nulls=6),
]


def bounds(journeys: list[Journey], seed: int, model: str = "markov") -> list[tuple[float, float]]:
    rows = attribute(journeys, [model], ci=0.9, bootstrap=200, seed=seed).rows
    return [(r["ci_low"], r["ci_high"]) for r in rows]


def test_same_seed_same_bounds_other_seed_other_bounds() -> None:
    for model in ("markov", "shapley"):
        assert bounds(JOURNEYS, 1, model) == bounds(JOURNEYS, 1, model)
        assert bounds(JOURNEYS, 1, model) != bounds(JOURNEYS, 2, model)


def test_a_models_bounds_do_not_depend_on_the_other_models_asked() -> None:
    alone = attribute(JOURNEYS, ["markov"], ci=0.9, seed=3).rows
    with_others = attribute(JOURNEYS, ["shapley", "linear", "markov"], ci=0.9, seed=3).rows
    assert [r for r in with_others if r["model"] == "markov"] == alone


def test_intervals_surround_the_estimate_and_narrow_with_more_data() -> None:
    small = attribute(JOURNEYS, ["markov"], ci=0.9, seed=1)
    assert small.ci == 0.9 and small.bootstrap == 200  # the defaults with --ci
    for r in small.rows:
        assert r["ci_low"] <= r["conversions"] <= r["ci_high"], r
    big = [
        Journey(
            j.channels, conversions=100 * j.conversions, value=100 * j.value, nulls=100 * j.nulls
        )
        for j in JOURNEYS
    ]
    large = attribute(big, ["markov"], ci=0.9, seed=1)
    for s, b in zip(small.rows, large.rows, strict=True):
        # the same shares on 100 x the journeys: the relative width shrinks ~10 x
        assert b["conversions"] == pytest.approx(100 * s["conversions"])
        if s["conversions"]:
            rel_small = (s["ci_high"] - s["ci_low"]) / s["conversions"]
            rel_large = (b["ci_high"] - b["ci_low"]) / b["conversions"]
            assert rel_large < rel_small / 5


def test_only_data_driven_models_get_intervals() -> None:
    rows = attribute(JOURNEYS, ["linear", "shapley"], bootstrap=50, seed=0).rows
    assert all(r["ci_low"] is None for r in rows if r["model"] == "linear")
    assert all(r["ci_low"] is not None for r in rows if r["model"] == "shapley")
    none = next(r for r in rows if r["model"] == "shapley" and r["channel"] == "(none)")
    assert none["ci_low"] <= 4 <= none["ci_high"]
    assert all(r["ci_low"] is None for r in attribute(JOURNEYS, ["markov"]).rows)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ModelParameterError):
        attribute(JOURNEYS, ["markov"], ci=1.5)
    with pytest.raises(ModelParameterError):
        attribute(JOURNEYS, ["markov"], bootstrap=1)
