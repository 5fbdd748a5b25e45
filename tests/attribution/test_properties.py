"""Invariants every model keeps, on random path tables (hypothesis): credit adds up to the
totals, a one-channel world gives that channel everything, symmetric channels share
alike, the order of the input rows does not matter, removal effects are in [0, 1]."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revlens.attribution import MODEL_NAMES, Journey, JourneyTable, MarkovChain, attribute
from revlens.attribution.markov import _prepare_order1, _prepare_walks

OPTIONS: dict[str, Any] = {"custom_weights": ((0.5, 0.2), 0.1, (0.2,))}
# every model id, plus the variants that take other code paths
VARIANTS: list[tuple[str, dict[str, Any]]] = [(m, OPTIONS) for m in MODEL_NAMES] + [
    ("markov", {"order": 2}),
    ("markov", {"order": 3, "collapse": False}),
    ("shapley", {"shapley_characteristic": "conversion_rate"}),
    ("shapley", {"shapley_characteristic": "conversion_rate", "shapley_exact_max_channels": 0}),
]

channel = st.sampled_from(["a", "b", "c", "d", "direct"])


@st.composite
def journeys(draw: st.DrawFn, alphabet: st.SearchStrategy[str] = channel) -> list[Journey]:
    rows = draw(
        st.lists(
            st.tuples(
                st.lists(alphabet, min_size=0, max_size=6),
                st.integers(0, 20),
                st.integers(0, 20),
                st.floats(0, 500, allow_nan=False, allow_infinity=False),
            ),
            min_size=1,
            max_size=12,
        )
    )
    out = [
        Journey(tuple(chs), conversions=c, value=round(c * unit, 2), nulls=n)
        for chs, c, n, unit in rows
    ]
    # at least one conversion, so the totals are not all zero
    if not any(j.conversions for j in out):
        out.append(Journey((draw(alphabet),), conversions=1, value=10.0))
    return out


def totals_by_model(journeys: list[Journey]) -> dict[str, tuple[float, float]]:
    sums: dict[str, tuple[float, float]] = {}
    for model, options in VARIANTS:
        result = attribute(journeys, [model], **options)
        sums[f"{model} {options}"] = (
            math.fsum(r["conversions"] for r in result.rows),
            math.fsum(r["value"] for r in result.rows),
        )
    return sums


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(journeys())
def test_credit_adds_up_to_the_totals_for_every_model(js: list[Journey]) -> None:
    conversions = sum(j.conversions for j in js)
    value = math.fsum(j.value for j in js)
    for model, (c, v) in totals_by_model(js).items():
        assert math.isclose(c, conversions, rel_tol=1e-9, abs_tol=1e-9), model
        assert math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-6), model


@FAST
@given(journeys(st.just("x")))
def test_a_one_channel_world_gives_that_channel_all_credit(js: list[Journey]) -> None:
    touched = [j for j in js if j.channels]
    conversions = sum(j.conversions for j in touched)
    value = math.fsum(j.value for j in touched)
    for model, options in VARIANTS:
        result = attribute(js, [model], **options)
        rows = {r["channel"]: r for r in result.rows}
        if not touched:
            assert "x" not in rows  # only (none): x was never touched
            continue
        x = rows["x"]
        assert math.isclose(x["conversions"], conversions, abs_tol=1e-9), model
        assert math.isclose(x["value"], value, rel_tol=1e-9, abs_tol=1e-6), model


def mirror(j: Journey) -> Journey:
    swap = {"a": "b", "b": "a"}
    return Journey(
        tuple(swap.get(c, c) for c in j.channels),
        conversions=j.conversions,
        value=j.value,
        nulls=j.nulls,
    )


@FAST
@given(journeys())
def test_symmetric_channels_get_equal_data_driven_credit(js: list[Journey]) -> None:
    # with every path also present with a and b swapped, nothing tells a from b
    world = js + [mirror(j) for j in js]
    for model, options in VARIANTS:
        if model not in ("shapley", "markov") or options.get("shapley_exact_max_channels") == 0:
            continue
        result = attribute(world, [model], **options)
        credit = result.credits[model]
        where = {c: i for i, c in enumerate(credit.channels)}
        if "a" in where:
            a, b = where["a"], where["b"]
            assert math.isclose(
                credit.conversions[a], credit.conversions[b], rel_tol=1e-9, abs_tol=1e-9
            ), (model, options)
            if credit.shapley_value is not None:
                assert math.isclose(
                    credit.shapley_value[a], credit.shapley_value[b], rel_tol=1e-9, abs_tol=1e-12
                )


@FAST
@given(journeys(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_the_order_of_the_rows(js: list[Journey], rnd: Any) -> None:
    shuffled = list(js)
    rnd.shuffle(shuffled)
    for model, options in VARIANTS:
        one = attribute(js, [model], **options).rows
        two = attribute(shuffled, [model], **options).rows
        assert one == two, model


@FAST
@given(journeys())
def test_markov_removal_effects_are_between_zero_and_one(js: list[Journey]) -> None:
    for order in (1, 2):
        credit = attribute(js, ["markov"], order=order).credits["markov"]
        assert credit.removal_effect is not None and credit.removal_effect_value is not None
        assert np.all((credit.removal_effect >= 0) & (credit.removal_effect <= 1))
        assert np.all((credit.removal_effect_value >= 0) & (credit.removal_effect_value <= 1))


@FAST
@given(journeys())
def test_the_fitted_chain_converts_like_the_data(js: list[Journey]) -> None:
    # the maximum-likelihood chain conserves flow, so P(conversion) from (start) is the
    # observed conversions over journeys (of the journeys that have touches)
    table = JourneyTable.build(js)
    paths = table.paths
    people = float(paths.conversions.sum() + paths.nulls.sum())
    if not people:
        return
    for order in (1, 2, 3):
        m = MarkovChain(order=order)
        p = m.conversion_probability(
            m.prepare(paths, table.channels), paths.conversions, paths.nulls
        )
        assert math.isclose(p, float(paths.conversions.sum()) / people, rel_tol=1e-9)


@FAST
@given(journeys(), st.booleans())
def test_order_one_on_arrays_equals_walking_the_paths(js: list[Journey], collapse: bool) -> None:
    """The order-1 chain prepared on the path arrays has the states, edges (numbered
    alike) and per-path edge counts of walking every path through its states."""
    paths = JourneyTable.build(js).paths
    if not paths.size:
        return
    for channels in (paths.channels, (*reversed(paths.channels), "unused")):
        fast = _prepare_order1(paths, channels, collapse)
        walked = _prepare_walks(paths, channels, 1, collapse)
        assert fast.states == walked.states
        for field in ("edge_from", "edge_to", "last_state", "contains"):
            np.testing.assert_array_equal(getattr(fast, field), getattr(walked, field))
        np.testing.assert_array_equal(fast.edge_paths.toarray(), walked.edge_paths.toarray())


def as_arrays(js: list[Journey]) -> JourneyTable:
    """The journeys as the columnar constructor takes them (names unsorted on purpose)."""
    names = sorted({c for j in js for c in j.channels}, reverse=True)
    index = {c: i for i, c in enumerate(names)}
    return JourneyTable.from_arrays(
        names,
        np.array([index[c] for j in js for c in j.channels], dtype=np.int32),
        np.array([len(j.channels) for j in js], dtype=np.int64),
        conversions=np.array([j.conversions for j in js], dtype=np.float64),
        nulls=np.array([j.nulls for j in js], dtype=np.float64),
        value=np.array([j.value for j in js], dtype=np.float64),
    )


@FAST
@given(st.one_of(journeys(), journeys(st.sampled_from(["a", "ab", "b", "é", "Z"]))))
def test_the_columnar_table_equals_the_built_one(js: list[Journey]) -> None:
    built, columnar = JourneyTable.build(js), as_arrays(js)
    assert columnar.channels == built.channels
    assert columnar.paths.paths == built.paths.paths  # summed and sorted alike
    for field in ("conversions", "nulls", "value"):
        np.testing.assert_allclose(
            getattr(columnar.paths, field), getattr(built.paths, field), rtol=1e-12
        )
    assert (columnar.none_conversions, columnar.none_nulls, columnar.has_empty) == (
        built.none_conversions,
        built.none_nulls,
        built.has_empty,
    )
    for model, options in VARIANTS:
        one = attribute(built, [model], **options).rows
        two = attribute(columnar, [model], **options).rows
        assert len(one) == len(two)
        for a, b in zip(one, two, strict=True):
            assert a.keys() == b.keys()
            for key, value in a.items():
                if isinstance(value, float):
                    assert math.isclose(value, b[key], rel_tol=1e-9, abs_tol=1e-9), (model, key)
                else:
                    assert value == b[key], (model, key)


long_paths = st.lists(channel, min_size=20, max_size=40)  # past 62 bits as one number


@FAST
@given(
    st.lists(st.tuples(long_paths, st.integers(0, 3)), min_size=1, max_size=4),
    st.lists(st.tuples(st.lists(channel, min_size=1, max_size=2), st.integers(0, 3)), max_size=40),
)
def test_long_paths_are_sorted_and_summed(
    long: list[tuple[list[str], int]], short: list[tuple[list[str], int]]
) -> None:
    """Long paths among few short ones are compared column by column; among many short
    ones (a padded matrix would be mostly padding) as byte strings."""
    js = [Journey(tuple(p), conversions=c, nulls=1) for p, c in long + short] + [
        Journey(tuple(long[0][0]), conversions=1)  # a duplicate of the first path
    ]
    built, columnar = JourneyTable.build(js), as_arrays(js)
    assert columnar.paths.paths == built.paths.paths
    np.testing.assert_array_equal(columnar.paths.conversions, built.paths.conversions)
    np.testing.assert_array_equal(columnar.paths.nulls, built.paths.nulls)


def test_an_empty_columnar_table() -> None:
    table = as_arrays([])
    assert (table.channels, table.paths.size, table.total_conversions) == ((), 0, 0.0)
    assert attribute(table, ["linear", "markov"]).rows == attribute([], ["linear", "markov"]).rows
