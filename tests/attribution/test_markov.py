"""The Markov model: hand-solved small chains, the state conventions (order, collapse), and
recovery of the removal effects of a known chain from journeys simulated from it."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from revlens.attribution import Journey, JourneyTable, MarkovChain, ModelParameterError, attribute
from revlens.attribution import markov_states as states


def path(text: str, conversions: int = 1, value: float = 0.0, nulls: int = 0) -> Journey:
    channels = tuple(c.strip() for c in text.split(">") if c.strip())
    return Journey(channels, conversions=conversions, value=value, nulls=nulls)


def markov(journeys: list[Journey], **options: object) -> dict[str, dict[str, float]]:
    result = attribute(journeys, ["markov"], **options)
    credit = result.credits["markov"]
    return {
        c: {
            "conversions": float(credit.conversions[i]),
            "value": float(credit.value[i]),
            "removal_effect": float(credit.removal_effect[i]),  # type: ignore[index]
            "removal_effect_value": float(credit.removal_effect_value[i]),  # type: ignore[index]
        }
        for i, c in enumerate(credit.channels)
    }


HAND = [
    path("a > b", conversions=2, value=30.0),  # converts from b, 15 a conversion
    path("b", conversions=1, value=10.0, nulls=1),  # converts from b, 10
    path("a", conversions=1, value=50.0, nulls=1),  # converts from a, 50
]


def test_removal_effects_of_a_hand_solved_chain() -> None:
    # transitions (counts -> probabilities):
    #   start -> a: 2 + 2 = 4, start -> b: 2          => 2/3, 1/3
    #   a -> b: 2, a -> conv: 1, a -> null: 1        => 1/2, 1/4, 1/4
    #   b -> conv: 2 + 1 = 3, b -> null: 1           => 3/4, 1/4
    # P(conv) = 2/3 (1/4 + 1/2 * 3/4) + 1/3 * 3/4 = 5/12 + 3/12 = 2/3
    # without a: 1/3 * 3/4 = 1/4        RE_a = 1 - (1/4) / (2/3) = 5/8
    # without b: 2/3 * 1/4 = 1/6        RE_b = 1 - (1/6) / (2/3) = 3/4
    # 4 conversions shared 5/8 : 3/4 = 5 : 6  => a 20/11, b 24/11
    got = markov(HAND)
    assert got["a"]["removal_effect"] == pytest.approx(5 / 8, abs=1e-12)
    assert got["b"]["removal_effect"] == pytest.approx(3 / 4, abs=1e-12)
    assert got["a"]["conversions"] == pytest.approx(20 / 11, abs=1e-12)
    assert got["b"]["conversions"] == pytest.approx(24 / 11, abs=1e-12)


def test_value_follows_channelattribution_convention() -> None:
    # a conversion carries the mean value of conversions from its last state:
    #   from a: 50 / 1 = 50; from b: (30 + 10) / 3 = 40/3
    # expected visits: a 2/3, b 1/3 + 2/3 * 1/2 = 2/3
    # conversions via a: 2/3 * 1/4 = 1/6, via b: 2/3 * 3/4 = 1/2
    # expected value W = 1/6 * 50 + 1/2 * 40/3 = 25/3 + 20/3 = 15
    # without a: via b 1/3 * 3/4 = 1/4 -> W = 10/3    REV_a = 1 - (10/3)/15 = 7/9
    # without b: via a 1/6            -> W = 25/3    REV_b = 1 - (25/3)/15 = 4/9
    # value 90 shared 7 : 4 => a 630/11, b 360/11
    got = markov(HAND)
    assert got["a"]["removal_effect_value"] == pytest.approx(7 / 9, abs=1e-12)
    assert got["b"]["removal_effect_value"] == pytest.approx(4 / 9, abs=1e-12)
    assert got["a"]["value"] == pytest.approx(630 / 11, abs=1e-9)
    assert got["b"]["value"] == pytest.approx(360 / 11, abs=1e-9)


def test_states_are_windows_of_order_k() -> None:
    assert states(("a", "b", "c"), 1, True) == [("a",), ("b",), ("c",)]
    assert states(("a", "b", "c"), 2, True) == [("a", "b"), ("b", "c")]
    assert states(("a",), 2, True) == [("a",)]  # shorter than the order: one state
    assert states(("a", "a", "b"), 1, True) == [("a",), ("b",)]  # collapsed
    assert states(("a", "a", "b"), 1, False) == [("a",), ("a",), ("b",)]  # a self-loop
    assert states(("a", "a", "b"), 2, True) == [("a", "b")]
    assert states(("a", "a", "b"), 2, False) == [("a", "a"), ("a", "b")]


def test_order_two_remembers_where_a_journey_came_from() -> None:
    journeys = [path("a > b > a", conversions=1), path("b > a", conversions=0, nulls=1)]
    # order 1: start -> a 1, start -> b 1; a -> b 1, a -> conv 1, a -> null 1; b -> a 2
    #   p_a = 1/3 + 1/3 p_b, p_b = p_a  => p_a = p_b = 1/2, P(conv) = 1/2
    #   without a: 0 (RE_a = 1); without b: 1/2 * 1/3 = 1/6 (RE_b = 2/3) => a 3/5, b 2/5
    one = markov(journeys)
    assert (one["a"]["conversions"], one["b"]["conversions"]) == pytest.approx((0.6, 0.4))
    # order 2: start -> (a,b) 1, start -> (b,a) 1, (a,b) -> (b,a) 1,
    #   (b,a) -> conv 1, (b,a) -> null 1; every state holds a and b: RE 1 each => 1/2, 1/2
    two = markov(journeys, order=2)
    assert (two["a"]["removal_effect"], two["b"]["removal_effect"]) == (1.0, 1.0)
    assert (two["a"]["conversions"], two["b"]["conversions"]) == (0.5, 0.5)


def test_collapse_does_not_change_order_one_removal_effects() -> None:
    # a self-loop only delays absorption: the order-1 answer is the same with repeats kept
    journeys = [
        path("a > a > b", 3, 30.0, nulls=1),
        path("b > b > b > a", 1, 5.0, nulls=4),
        path("c > a > a", 2, 8.0, nulls=2),
    ]
    on, off = markov(journeys), markov(journeys, collapse=False)
    for c in on:
        for k in on[c]:
            assert on[c][k] == pytest.approx(off[c][k], abs=1e-12), (c, k)
    # at order 2 they differ: (a,a) is a state only without collapse
    assert markov(journeys, order=2) != markov(journeys, order=2, collapse=False)


def test_transition_probabilities_are_the_count_ratios() -> None:
    table = JourneyTable.build(HAND)
    m = MarkovChain()
    prepared = m.prepare(table.paths, table.channels)
    got = {
        (a, b): p for a, b, p in m.transitions(prepared, table.paths.conversions, table.paths.nulls)
    }
    assert got == pytest.approx(
        {
            ("(start)", "a"): 2 / 3,
            ("(start)", "b"): 1 / 3,
            ("a", "b"): 1 / 2,
            ("a", "(conversion)"): 1 / 4,
            ("a", "(null)"): 1 / 4,
            ("b", "(conversion)"): 3 / 4,
            ("b", "(null)"): 1 / 4,
        }
    )
    p = m.conversion_probability(prepared, table.paths.conversions, table.paths.nulls)
    assert p == pytest.approx(2 / 3)  # 4 conversions of 6 journeys


def test_no_conversions_gives_no_credit() -> None:
    got = markov([path("a > b", conversions=0, nulls=3)])
    assert got == {
        c: {"conversions": 0.0, "value": 0.0, "removal_effect": 0.0, "removal_effect_value": 0.0}
        for c in ("a", "b")
    }


def test_the_sparse_solver_agrees_with_the_dense_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    journeys = [
        path(
            " > ".join(rng.choice(list("abcdef"), size=rng.integers(1, 7))), int(c), 1.5 * c, int(n)
        )
        for c, n in rng.integers(0, 6, size=(60, 2))
        if c + n
    ]
    dense = markov(journeys, order=2)
    import revlens.attribution.markov as module

    monkeypatch.setattr(module, "DENSE_MAX_STATES", 0)
    sparse = markov(journeys, order=2)
    for c in dense:
        for k in dense[c]:
            assert sparse[c][k] == pytest.approx(dense[c][k], abs=1e-10)


def test_order_must_be_at_least_one() -> None:
    with pytest.raises(ModelParameterError):
        MarkovChain(order=0)


# A known chain: start -> {search 0.5, social 0.3, email 0.2}; each channel moves on to
# another channel, converts or drops with the probabilities below.
TRUE_CHAIN = {
    "start": {"search": F(1, 2), "social": F(3, 10), "email": F(1, 5)},
    "search": {"social": F(1, 10), "email": F(2, 10), "conv": F(3, 10), "null": F(4, 10)},
    "social": {"search": F(3, 10), "email": F(1, 10), "conv": F(1, 10), "null": F(5, 10)},
    "email": {"search": F(1, 10), "social": F(1, 10), "conv": F(4, 10), "null": F(4, 10)},
}


def _true_removal_effects() -> dict[str, float]:
    """Exact removal effects of TRUE_CHAIN from the fundamental matrix N = (I - Q)^-1,
    B = N R (Kemeny & Snell), a different route from revlens' transposed solve."""
    names = ["start", "search", "social", "email"]

    def p_conv(removed: str | None) -> float:
        q = np.zeros((4, 4))
        r = np.zeros(4)
        for i, a in enumerate(names):
            if a == removed:
                continue  # a removed channel leads to null
            for b, p in TRUE_CHAIN[a].items():
                if b == "conv":
                    r[i] = float(p)
                elif b != "null" and b != removed:
                    q[i, names.index(b)] = float(p)
        return float((np.linalg.inv(np.eye(4) - q) @ r)[0])

    base = p_conv(None)
    return {c: 1 - p_conv(c) / base for c in names[1:]}


def _simulate(n: int, seed: int) -> list[Journey]:
    rng = np.random.default_rng(seed)
    counts: dict[tuple[tuple[str, ...], bool], int] = {}
    for _ in range(n):
        state, walk = "start", []
        while True:
            options = list(TRUE_CHAIN[state])
            probs = [float(TRUE_CHAIN[state][o]) for o in options]
            state = options[rng.choice(len(options), p=probs)]
            if state in ("conv", "null"):
                break
            walk.append(state)
        key = (tuple(walk), state == "conv")
        counts[key] = counts.get(key, 0) + 1
    return [
        Journey(walk, conversions=k if conv else 0, nulls=0 if conv else k)
        for (walk, conv), k in counts.items()
    ]


def test_recovers_the_removal_effects_of_a_known_chain() -> None:
    truth = _true_removal_effects()
    journeys = _simulate(40_000, seed=3)
    # no channel repeats itself in TRUE_CHAIN, so collapse does not matter; the fitted
    # chain is the maximum-likelihood estimate and its removal effects converge to the
    # truth at the 1/sqrt(n) rate: with 40,000 journeys the standard error is below 0.006
    result = attribute(journeys, ["markov"], bootstrap=100, ci=0.99, seed=5)
    credit = result.credits["markov"]
    interval = result.intervals["markov"]
    for i, c in enumerate(credit.channels):
        assert credit.removal_effect[i] == pytest.approx(truth[c], abs=0.02), c  # type: ignore[index]
    # and the 99 % bootstrap interval of each channel's conversions covers the truth's
    # conversions (true removal effects shared over the observed conversions)
    total = sum(j.conversions for j in journeys)
    share = {c: truth[c] / sum(truth.values()) * total for c in truth}
    for i, c in enumerate(credit.channels):
        assert interval.low[i] <= share[c] <= interval.high[i], c
