"""Shapley attribution: hand-computed games, three independent routes to the same value
(closed form, 2^n coalition sum, the permutation definition), and sampling against the
exact answer within its stated Hoeffding bound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from revlens.attribution import Journey, Shapley, attribute, exact_shapley, subset_sums


def path(text: str, conversions: int = 1, value: float = 0.0, nulls: int = 0) -> Journey:
    channels = tuple(c.strip() for c in text.split(">") if c.strip())
    return Journey(channels, conversions=conversions, value=value, nulls=nulls)


def shapley(journeys: list[Journey], **options: object) -> dict[str, tuple[float, float, float]]:
    """{channel: (conversions credit, value credit, Shapley value)}."""
    result = attribute(journeys, ["shapley"], **options)
    c = result.credits["shapley"]
    assert c.shapley_value is not None
    return {
        ch: (float(c.conversions[i]), float(c.value[i]), float(c.shapley_value[i]))
        for i, ch in enumerate(c.channels)
    }


def by_permutations(n: int, v: dict[frozenset[int], float]) -> list[float]:
    """The definition: the mean marginal contribution over all n! orderings."""
    phi = [0.0] * n
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        seen: frozenset[int] = frozenset()
        for player in order:
            phi[player] += v[seen | {player}] - v[seen]
            seen = seen | {player}
    return [p / len(orders) for p in phi]


def test_count_game_by_hand() -> None:
    # Zhao et al.: R({a}) = 2, R({a,b}) = 3, R({b,c}) = 1 (b > c > b has the set {b,c});
    # "c" alone never converts. φ_c = Σ_{T ∋ c} R(T)/|T|:
    #   a = 2 + 3/2 = 3.5, b = 3/2 + 1/2 = 2, c = 1/2   (sum 6 = all conversions)
    # value R: {a} 20, {a,b} 60, {b,c} 4 -> a 20 + 30 = 50, b 30 + 2 = 32, c 2
    journeys = [
        path("a", 2, 20.0),
        path("a > b", 3, 60.0, nulls=9),
        path("b > c > b", 1, 4.0),
        path("c", 0, nulls=5),
    ]
    assert shapley(journeys) == {
        "a": (3.5, 50.0, 3.5),
        "b": (2.0, 32.0, 2.0),
        "c": (0.5, 2.0, 0.5),
    }


def test_conversion_rate_game_by_hand() -> None:
    # journeys and rates: {a} 1 of 4, {b} 1 of 2, {a,b} 2 of 4
    # v(a) = 1/4, v(b) = 2/4 = 1/2, v(ab) = (1 + 1 + 2) / (4 + 2 + 4) = 2/5
    # φ_a = 1/2 (v(a) - 0) + 1/2 (v(ab) - v(b)) = 1/8 - 1/20 = 3/40
    # φ_b = 1/2 (v(b) - 0) + 1/2 (v(ab) - v(a)) = 1/4 + 3/40 = 13/40      (sum 2/5 = v(ab))
    # 4 conversions shared 3 : 13 => a 3/4, b 13/4
    journeys = [path("a", 1, nulls=3), path("b", 1, nulls=1), path("a > b", 2, nulls=2)]
    got = shapley(journeys, shapley_characteristic="conversion_rate")
    assert got["a"] == pytest.approx((3 / 4, 0.0, 3 / 40))
    assert got["b"] == pytest.approx((13 / 4, 0.0, 13 / 40))


def test_a_rate_game_can_give_negative_credit() -> None:
    # {a}: 1 of 1 converts, {a,b}: 1 of 9. v(a) = 1, v(b) = 0, v(ab) = 2/10
    # φ_b = 1/2 (0 - 0) + 1/2 (2/10 - 1) = -2/5; φ_a = 1/2 + 1/2 (2/10 - 0) = 3/5
    result = attribute(
        [path("a", 1), path("a > b", 1, nulls=8)],
        ["shapley"],
        shapley_characteristic="conversion_rate",
    )
    credit = result.credits["shapley"]
    assert credit.shapley_value == pytest.approx([3 / 5, -2 / 5])
    assert credit.conversions == pytest.approx([6.0, -4.0])  # 2 conversions shared 3 : -2
    assert any("negative" in n for n in result.notes)


def test_subset_sums_is_the_zeta_transform() -> None:
    f = np.arange(8, dtype=float)  # f(mask) = mask
    g = subset_sums(f)
    for s in range(8):
        assert g[s] == sum(t for t in range(8) if t & s == t)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_shapley_equals_the_permutation_definition(seed: int) -> None:
    n = 5
    rng = np.random.default_rng(seed)
    game = rng.normal(size=1 << n)
    game[0] = 0.0
    v = {
        frozenset(i for i in range(n) if mask >> i & 1): float(game[mask]) for mask in range(1 << n)
    }
    assert exact_shapley(game) == pytest.approx(by_permutations(n, v), abs=1e-12)


def _random_journeys(seed: int, channels: str, rows: int) -> list[Journey]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rows):
        length = int(rng.integers(1, 5))
        conv, nulls = (int(x) for x in rng.integers(0, 6, size=2))
        if conv + nulls == 0:
            continue
        out.append(
            Journey(
                tuple(str(c) for c in rng.choice(list(channels), size=length)),
                conversions=conv,
                value=round(conv * float(rng.uniform(1, 50)), 2),
                nulls=nulls,
            )
        )
    return out


def test_the_count_game_closed_form_equals_the_coalition_sum() -> None:
    journeys = _random_journeys(11, "abcdefg", 80)
    closed = shapley(journeys)
    channels = sorted(closed)
    n = len(channels)
    # the count game over all 2^n coalitions, from scratch: v(S) = conversions of the
    # journeys whose channel set is inside S
    game = np.zeros(1 << n)
    for mask in range(1 << n):
        inside = {channels[i] for i in range(n) if mask >> i & 1}
        game[mask] = sum(j.conversions for j in journeys if set(j.channels) <= inside)
    phi = exact_shapley(game)
    assert [closed[c][2] for c in channels] == pytest.approx(list(phi), abs=1e-9)


def test_the_rate_game_equals_the_permutation_definition() -> None:
    journeys = _random_journeys(5, "abcde", 60)
    got = shapley(journeys, shapley_characteristic="conversion_rate")
    channels = sorted(got)

    def rate(inside: frozenset[str]) -> float:
        kept = [j for j in journeys if set(j.channels) <= inside]
        people = sum(j.conversions + j.nulls for j in kept)
        return sum(j.conversions for j in kept) / people if people else 0.0

    v = {
        frozenset(i for i in range(len(channels)) if mask >> i & 1): rate(
            frozenset(channels[i] for i in range(len(channels)) if mask >> i & 1)
        )
        for mask in range(1 << len(channels))
    }
    expected = by_permutations(len(channels), v)
    assert [got[c][2] for c in channels] == pytest.approx(expected, abs=1e-12)


def test_sampling_stays_within_its_hoeffding_bound() -> None:
    journeys = _random_journeys(9, "abcdefgh", 150)
    exact = attribute(journeys, ["shapley"], shapley_characteristic="conversion_rate")
    sampled = attribute(
        journeys,
        ["shapley"],
        shapley_characteristic="conversion_rate",
        shapley_exact_max_channels=0,  # force sampling
        shapley_samples=3000,
        seed=4,
    )
    e, s = exact.credits["shapley"], sampled.credits["shapley"]
    assert e.error_bound is None and s.error_bound is not None
    # the bound: ε = width · sqrt(ln(2n / δ) / (2m)) on φ, width = 2 · max rate, n = 8
    # channels, δ = 0.05, m = 3000; as conversions: ε / v(all) · total conversions
    people = sum(j.conversions + j.nulls for j in journeys)
    total = sum(j.conversions for j in journeys)
    max_rate = max(
        sum(j.conversions for j in journeys if set(j.channels) == t)
        / sum(j.conversions + j.nulls for j in journeys if set(j.channels) == t)
        for t in {frozenset(j.channels) for j in journeys}
    )
    eps = 2 * max_rate * math.sqrt(math.log(2 * 8 / 0.05) / (2 * 3000))
    assert s.error_bound == pytest.approx([eps / (total / people) * total] * 8)
    assert np.all(np.abs(s.conversions - e.conversions) <= s.error_bound)
    # sampled credit still adds up exactly: every ordering's marginals telescope to v(all)
    assert s.conversions.sum() == pytest.approx(total)
    # and the row carries the bound
    assert {r["error_bound"] for r in sampled.rows} == {s.error_bound[0]}
    # same seed, same estimate
    again = attribute(
        journeys,
        ["shapley"],
        shapley_characteristic="conversion_rate",
        shapley_exact_max_channels=0,
        shapley_samples=3000,
        seed=4,
    )
    assert np.array_equal(again.credits["shapley"].conversions, s.conversions)


def test_many_channels_count_game_stays_exact() -> None:
    # 30 channels: 2^30 coalitions would not fit, the closed form does not need them
    channels = [f"c{i:02d}" for i in range(30)]
    journeys = [Journey((channels[i], channels[(i + 1) % 30]), conversions=2) for i in range(30)]
    got = shapley(journeys)
    assert all(v == pytest.approx((2.0, 0.0, 2.0)) for v in got.values())


def test_parameters_are_checked() -> None:
    from revlens.attribution import ModelParameterError

    for bad in (
        {"characteristic": "clicks"},
        {"exact_max_channels": 40},
        {"samples": 0},
        {"confidence": 1.0},
    ):
        with pytest.raises(ModelParameterError):
            Shapley(**bad)  # type: ignore[arg-type]
