"""Shapley-value attribution over channel coalitions.

Shapley (1953), "A value for n-person games"; for attribution: Zhao, Mahboobi & Bagheri
(2018), "Shapley Value Methods for Attribution Modeling in Online Advertising",
arXiv:1804.05327.

The default game (`characteristic="conversions"`) is Zhao et al.'s: the worth of a
coalition S of channels is the number of conversions of the journeys that touched only
channels in S, v(S) = Σ_{T ⊆ S} R(T), where R(T) counts the conversions of journeys whose
exact channel set is T. v is the subset sum (zeta transform) of R, so R is its Möbius
transform (Harsanyi dividends) and the Shapley value has Zhao et al.'s closed form
φ_c = Σ_{T ∋ c} R(T) / |T|: exact for any number of channels, and the same as the 2^n
coalition sum (the tests check both, and both against the permutation definition).

The conversion-rate game (`characteristic="conversion_rate"`, after Dalessandro, Perlich,
Stitelman & Provost (2012), "Causally motivated attribution for online advertising",
ADKDD, who value a channel set by its conversion probability) applies the same subset sums
to numerator and denominator: v(S) = Σ_{T ⊆ S} R(T) / Σ_{T ⊆ S} N(T), N = conversions +
nulls, v(∅) = 0, the conversion rate of the world in which only S existed. It uses the
journeys that did not convert, but it values rates, not volume: on ChannelAttribution's
PathData the 8 journeys that touched only "mi" (2 conversions) make v({mi}) = 0.25 and
give mi more credit than alpha, which 48,285 journeys touched. Its Shapley value has no
closed form: it is computed over all 2^n coalitions for up to `exact_max_channels`
channels and by Monte-Carlo permutation sampling beyond, with a Hoeffding error bound.
A channel whose journeys convert worse than the rest can get negative credit there,
reported as it is.

Credit: φ_c / Σφ × total conversions (Σφ = v(all channels) by efficiency). Value uses the
same game with money in place of conversions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from revlens.attribution.base import DataDrivenModel, ModelCredit, shares_of
from revlens.attribution.journeys import FloatArray, IntArray, PathTable, tally
from revlens.attribution.rules import ModelParameterError

Characteristic = Literal["conversion_rate", "conversions"]
EXACT_MAX_CHANNELS = 20
BATCH_ELEMENTS = 4_000_000


def subset_sums(f: FloatArray) -> FloatArray:
    """The zeta transform g(S) = Σ_{T ⊆ S} f(T) over bitmask-indexed arrays of length 2^n,
    one pass per bit (n·2^n additions)."""
    g = np.array(f, dtype=np.float64, copy=True)
    n = int(g.size).bit_length() - 1
    for bit in range(n):
        view = g.reshape(-1, 2, 1 << bit)
        view[:, 1, :] += view[:, 0, :]
    return g


def popcounts(n: int) -> IntArray:
    """The number of set bits of every mask 0 .. 2^n - 1."""
    masks = np.arange(1 << n, dtype=np.int64)
    sizes = np.zeros(1 << n, dtype=np.int64)
    for bit in range(n):
        sizes += (masks >> bit) & 1
    return sizes


def exact_shapley(game: FloatArray) -> FloatArray:
    """Shapley values of the game given on all 2^n bitmask coalitions:
    φ_j = Σ_{S ∌ j} |S|! (n-|S|-1)! / n! · (v(S ∪ {j}) - v(S))."""
    n = int(game.size).bit_length() - 1
    sizes = popcounts(n)
    weight = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)])
    phi = np.zeros(n)
    for j in range(n):
        v = game.reshape(-1, 2, 1 << j)
        s = sizes.reshape(-1, 2, 1 << j)[:, 0, :]
        phi[j] = float(np.sum(weight[s] * (v[:, 1, :] - v[:, 0, :])))
    return phi


@dataclass(frozen=True)
class ShapleyPrepared:
    """Paths grouped by their exact channel set (the only thing the game looks at)."""

    channels: tuple[str, ...]
    set_of_path: IntArray  # per path: the index of its channel set
    members: IntArray  # the channel indices of every set, concatenated
    offsets: IntArray  # set g has members[offsets[g]:offsets[g + 1]]
    masks: IntArray | None  # the sets as bitmasks, when solved exactly

    @property
    def n_sets(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class Sampled:
    """Permutation-sampling estimates of the two games and the range of a marginal."""

    phi: FloatArray
    phi_value: FloatArray
    width: float


class Shapley(DataDrivenModel[ShapleyPrepared]):
    """Shapley value of each channel (Zhao et al. 2018; see the module doc for the games).

    The conversions game is solved exactly by its closed form. The conversion-rate game is
    exact for up to `exact_max_channels` channels; beyond, `samples` random orderings of
    the channels estimate it, and `error_bound` holds a Hoeffding bound (with a union bound
    over channels) on each channel's conversions credit at `confidence`.
    """

    name: ClassVar[str] = "shapley"

    def __init__(
        self,
        characteristic: Characteristic = "conversions",
        exact_max_channels: int = EXACT_MAX_CHANNELS,
        samples: int = 2000,
        confidence: float = 0.95,
    ) -> None:
        if characteristic not in ("conversion_rate", "conversions"):
            raise ModelParameterError(
                "the Shapley characteristic must be conversion_rate or conversions",
                value=characteristic,
                fix="use conversions (default) or conversion_rate",
            )
        if exact_max_channels < 0 or exact_max_channels > 26:
            raise ModelParameterError(
                "exact Shapley is limited to 26 channels (2^26 coalitions)",
                value=exact_max_channels,
                fix="use at most 26; more channels are sampled",
            )
        if samples < 1:
            raise ModelParameterError(
                "Shapley sampling needs at least one permutation", value=samples, fix="e.g. 2000"
            )
        if not 0 < confidence < 1:
            raise ModelParameterError(
                "the confidence of the error bound must be between 0 and 1",
                value=confidence,
                fix="e.g. 0.95",
            )
        self.characteristic: Characteristic = characteristic
        self.exact_max_channels = exact_max_channels
        self.samples = samples
        self.confidence = confidence

    def describe(self) -> str:
        return f"{self.name} ({self.characteristic})"

    def prepare(self, paths: PathTable, channels: tuple[str, ...]) -> ShapleyPrepared:
        set_of_path, sets = _channel_sets(paths, channels)
        flat = [m for s in sets for m in s]
        offsets = np.cumsum([0] + [len(s) for s in sets]).astype(np.int64)
        exact = (
            self.characteristic == "conversion_rate" and len(channels) <= self.exact_max_channels
        )
        masks = np.array([sum(1 << m for m in s) for s in sets], dtype=np.int64) if exact else None
        return ShapleyPrepared(
            channels=channels,
            set_of_path=set_of_path,
            members=np.asarray(flat, dtype=np.int64),
            offsets=offsets,
            masks=masks,
        )

    def solve(
        self,
        prepared: ShapleyPrepared,
        conversions: FloatArray,
        nulls: FloatArray,
        value: FloatArray,
        rng: np.random.Generator,
    ) -> ModelCredit:
        n = len(prepared.channels)
        g = prepared.n_sets
        conv = tally(prepared.set_of_path, conversions, g)
        people = tally(prepared.set_of_path, conversions + nulls, g)
        money = tally(prepared.set_of_path, value, g)
        total_conv = float(conversions.sum())
        total_value = float(value.sum())
        bound: FloatArray | None = None
        if self.characteristic == "conversions":
            phi = _zhao_closed_form(prepared, conv, n)
            phi_value = _zhao_closed_form(prepared, money, n)
            how = "exact, Zhao et al. (2018) closed form Σ R(T)/|T|"
        elif prepared.masks is not None:
            size = 1 << n
            c_sub = subset_sums(tally(prepared.masks, conv, size))
            p_sub = subset_sums(tally(prepared.masks, people, size))
            m_sub = subset_sums(tally(prepared.masks, money, size))
            rate = np.divide(c_sub, p_sub, out=np.zeros(size), where=p_sub > 0)
            value_rate = np.divide(m_sub, p_sub, out=np.zeros(size), where=p_sub > 0)
            phi = exact_shapley(rate)
            phi_value = exact_shapley(value_rate)
            how = f"exact over 2^{n} = {size:,} coalitions"
        else:
            est = _sample(prepared, conv, people, money, n, self.samples, rng)
            phi, phi_value = est.phi, est.phi_value
            # Hoeffding: each sampled marginal lies in an interval of length `width`
            eps = est.width * math.sqrt(
                math.log(2 * n / (1 - self.confidence)) / (2 * self.samples)
            )
            whole = float(conv.sum() / people.sum()) if people.sum() > 0 else 0.0
            half = eps / whole * total_conv if whole > 0 else 0.0
            bound = np.full(n, half)
            how = (
                f"sampled: {self.samples:,} permutations of {n} channels; every channel's "
                f"conversions are within ±{half:.4g} of the exact Shapley credit with "
                f"probability >= {self.confidence:g} (Hoeffding, union bound over channels)"
            )
        notes = [f"{self.describe()}: {how}"]
        if self.characteristic == "conversion_rate" and float(nulls.sum()) == 0 and total_conv:
            notes.append(
                "shapley: no non-converting journeys (nulls) were given, so every "
                "coalition's conversion rate is 0 or 1; pass the nulls for a meaningful game"
            )
        if (phi < 0).any():
            notes.append(
                "shapley: some channels have negative Shapley values (their journeys convert "
                "worse than the rest); their credit is negative, not clipped"
            )
        return ModelCredit(
            channels=prepared.channels,
            conversions=shares_of(phi, total_conv),
            value=shares_of(phi_value, total_value),
            shapley_value=phi,
            error_bound=bound,
            notes=tuple(notes),
        )


def _zhao_closed_form(prepared: ShapleyPrepared, weight: FloatArray, n: int) -> FloatArray:
    """Σ over channel sets T containing c of weight(T) / |T| (Zhao et al. 2018, eq. for the
    simplified Shapley value of the count game)."""
    sizes = np.diff(prepared.offsets)
    share = np.repeat(weight / sizes, sizes)
    return tally(prepared.members, share, n)


def _sample(
    prepared: ShapleyPrepared,
    conv: FloatArray,
    people: FloatArray,
    money: FloatArray,
    n: int,
    samples: int,
    rng: np.random.Generator,
) -> Sampled:
    """Average marginal contributions over random orderings of the channels.

    In an ordering, a channel set T joins the coalition at the position of its last
    member, so the coalition's subset sums are running totals over those positions."""
    g = prepared.n_sets
    starts = prepared.offsets[:-1]
    batch = max(1, min(samples, BATCH_ELEMENTS // max(1, prepared.members.size)))
    phi = np.zeros(n)
    phi_value = np.zeros(n)
    done = 0
    while done < samples:
        b = min(batch, samples - done)
        order = np.argsort(rng.random((b, n)), axis=1)  # order[i, k]: channel at position k
        position = np.argsort(order, axis=1)
        joins = np.maximum.reduceat(position[:, prepared.members], starts, axis=1)
        flat = (joins + (np.arange(b) * n)[:, None]).ravel()

        def running(weight: FloatArray, flat: IntArray = flat, b: int = b) -> FloatArray:
            tiled = np.tile(weight, b)
            return np.cumsum(tally(flat, tiled, b * n).reshape(b, n), axis=1)

        c_run, p_run, m_run = running(conv), running(people), running(money)
        rate = np.divide(c_run, p_run, out=np.zeros_like(c_run), where=p_run > 0)
        value_rate = np.divide(m_run, p_run, out=np.zeros_like(m_run), where=p_run > 0)
        gain = np.diff(rate, axis=1, prepend=0.0)
        value_gain = np.diff(value_rate, axis=1, prepend=0.0)
        phi += tally(order.ravel(), gain.ravel(), n)
        phi_value += tally(order.ravel(), value_gain.ravel(), n)
        done += b
    rates = np.divide(conv, people, out=np.zeros(g), where=people > 0)
    # v(S) is a weighted mean of the sets' rates, so it lies in [0, max rate]
    return Sampled(phi / samples, phi_value / samples, 2.0 * float(rates.max(initial=0.0)))


def _channel_sets(
    paths: PathTable, channels: tuple[str, ...]
) -> tuple[IntArray, list[tuple[int, ...]]]:
    """Each path's set of channels (indices into `channels`, ascending), numbered in order
    of first appearance: per path the number of its set, and the sets."""
    position = {c: i for i, c in enumerate(channels)}
    if len(channels) > 62 or not paths.size:  # beyond an int64 bitmask: path by path
        index: dict[tuple[int, ...], int] = {}
        set_of_path = np.zeros(paths.size, dtype=np.int64)
        for p, path in enumerate(paths.paths):
            members = tuple(sorted({position[c] for c in path}))
            set_of_path[p] = index.setdefault(members, len(index))
        return set_of_path, sorted(index, key=index.__getitem__)
    bit = np.left_shift(1, np.array([position[c] for c in paths.channels], dtype=np.int64))
    mask = np.bitwise_or.reduceat(bit[paths.touch_channel], paths.start)
    distinct, first_at, inverse = np.unique(mask, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first_at, kind="stable")
    number = np.empty(len(distinct), dtype=np.int64)
    number[by_appearance] = np.arange(len(distinct))
    sets = [
        tuple(m for m in range(len(channels)) if (value >> m) & 1)
        for value in distinct[by_appearance].tolist()
    ]
    return number[inverse.ravel()], sets
