"""Markov-chain attribution by removal effects, solved exactly from the absorbing chain.

Anderl, Becker, von Wangenheim & Schumann (2016), "Mapping the customer journey: Lessons
learned from graph-based online attribution modeling", International Journal of Research in
Marketing 33(3); as implemented (by simulation) in ChannelAttribution (Altomare & Loris).

The journeys become a Markov chain: `(start)` -> states -> `(conversion)` or `(null)`,
transition probabilities estimated from path counts. The removal effect of a channel is
the share of conversions lost when every state containing the channel leads to `(null)`
instead: RE_c = 1 - P(conversion without c) / P(conversion). Conversions are shared in
proportion to the removal effects. Where ChannelAttribution simulates random walks, this
module solves the absorbing chain's linear systems: the expected visits `x` to the
transient states from `(start)` solve (I - Q)ᵀ x = e_start, and P(conversion) = x · p_conv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from revlens.attribution.base import DataDrivenModel, ModelCredit, shares_of
from revlens.attribution.journeys import (
    BoolArray,
    CodeArray,
    FloatArray,
    IntArray,
    PathTable,
    tally,
)
from revlens.attribution.rules import ModelParameterError

State = tuple[str, ...]
START: State = ()
DENSE_MAX_STATES = 400
"""Up to this many transient states the systems are solved densely, beyond it sparsely."""


def markov_states(channels: tuple[str, ...], order: int, collapse: bool) -> list[State]:
    """The chain states a path walks through (without start and end).

    States are windows of `order` consecutive channels, as in ChannelAttribution: a path
    a > b > c of order 2 walks (a, b) -> (b, c); a path shorter than the order is one
    state of its own. With `collapse`, repeated consecutive channels are merged first
    (a > a > b is a > b). Without it a repeat is a self-transition, which does not change
    absorption probabilities: at order 1 collapse on and off give the same removal effects;
    at order >= 2 they differ (ChannelAttribution builds windows over the uncollapsed path).
    """
    seq = list(channels)
    if collapse:
        seq = [c for i, c in enumerate(seq) if i == 0 or c != seq[i - 1]]
    if len(seq) <= order:
        return [tuple(seq)]
    return [tuple(seq[i : i + order]) for i in range(len(seq) - order + 1)]


@dataclass(frozen=True)
class MarkovPrepared:
    """The chain's structure; transition counts follow from path counts by one product."""

    channels: tuple[str, ...]
    states: tuple[State, ...]  # states[0] is (start)
    edge_from: IntArray
    edge_to: IntArray
    edge_paths: Any  # scipy sparse (edges x paths): how often each path takes each edge
    last_state: IntArray  # per path: the state it converts or drops from
    contains: BoolArray  # (channels x states): the state remembers the channel

    @property
    def size(self) -> int:
        return len(self.states)


@dataclass(frozen=True)
class ChainSolution:
    """The fitted chain for one set of counts."""

    q: Any  # scipy CSR: transient -> transient probabilities
    p_conversion: FloatArray
    p_null: FloatArray
    value_gain: FloatArray  # p_conversion x mean value of a conversion from the state


class MarkovChain(DataDrivenModel[MarkovPrepared]):
    """Markov chain of order k >= 1 with removal effects solved exactly.

    States are the last k channels (ChannelAttribution's windows, see `markov_states`);
    repeated consecutive channels are collapsed by default, as in ChannelAttribution.
    Conversions are attributed as RE_c / Σ RE × total conversions.

    Value follows ChannelAttribution's convention: a conversion carries the mean value of
    the conversions that left the chain from the same last state, and the value removal
    effect is the share of that expected value lost when the channel is removed; value is
    attributed as REV_c / Σ REV × total value. ChannelAttribution estimates both by
    simulating walks cut at the longest observed path; the exact solution here has no cut
    and no noise, so it lies within ChannelAttribution's simulation error.
    """

    name: ClassVar[str] = "markov"

    def __init__(self, order: int = 1, collapse: bool = True) -> None:
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ModelParameterError(
                "the Markov order must be a whole number >= 1", value=order, fix="e.g. --order 1"
            )
        self.order = order
        self.collapse = collapse

    def describe(self) -> str:
        return f"{self.name} (order {self.order}, collapse {'on' if self.collapse else 'off'})"

    def prepare(self, paths: PathTable, channels: tuple[str, ...]) -> MarkovPrepared:
        if self.order == 1 and paths.size and (paths.length > 0).all():
            return _prepare_order1(paths, channels, self.collapse)
        return _prepare_walks(paths, channels, self.order, self.collapse)

    def chain(
        self,
        prepared: MarkovPrepared,
        conversions: FloatArray,
        nulls: FloatArray,
        value: FloatArray,
    ) -> ChainSolution:
        """Transition probabilities from the path counts (maximum likelihood: counts over
        the state's total outflow)."""
        size = prepared.size
        through = np.asarray(prepared.edge_paths @ (conversions + nulls), dtype=np.float64)
        converted = tally(prepared.last_state, conversions, size)
        dropped = tally(prepared.last_state, nulls, size)
        money = tally(prepared.last_state, value, size)
        out = tally(prepared.edge_from, through, size) + converted + dropped
        inv = np.divide(1.0, out, out=np.zeros(size), where=out > 0)
        q = sp.csr_matrix(
            (through * inv[prepared.edge_from], (prepared.edge_from, prepared.edge_to)),
            shape=(size, size),
        )
        mean_value = np.divide(money, converted, out=np.zeros(size), where=converted > 0)
        return ChainSolution(q, converted * inv, dropped * inv, converted * inv * mean_value)

    def solve(
        self,
        prepared: MarkovPrepared,
        conversions: FloatArray,
        nulls: FloatArray,
        value: FloatArray,
        rng: np.random.Generator,
    ) -> ModelCredit:
        n = len(prepared.channels)
        sol = self.chain(prepared, conversions, nulls, value)
        dense = sol.q.toarray() if prepared.size <= DENSE_MAX_STATES else None
        everything = np.ones(prepared.size, dtype=np.bool_)
        visits = _visits(sol.q, dense, everything)
        p_all = float(visits @ sol.p_conversion)
        v_all = float(visits @ sol.value_gain)
        removal = np.zeros(n)
        removal_value = np.zeros(n)
        for c in range(n):
            keep = ~prepared.contains[c]
            x = _visits(sol.q, dense, keep)
            if p_all > 0:
                removal[c] = 1.0 - float(x @ sol.p_conversion[keep]) / p_all
            if v_all > 0:
                removal_value[c] = 1.0 - float(x @ sol.value_gain[keep]) / v_all
        removal = np.clip(removal, 0.0, 1.0)
        removal_value = np.clip(removal_value, 0.0, 1.0)
        return ModelCredit(
            channels=prepared.channels,
            conversions=shares_of(removal, float(conversions.sum())),
            value=shares_of(removal_value, float(value.sum())),
            removal_effect=removal,
            removal_effect_value=removal_value,
            notes=(
                f"{self.describe()}: {prepared.size - 1} states; removal effects solved "
                f"exactly from the absorbing chain, P(conversion) = {p_all:.6g}",
            ),
        )

    def conversion_probability(
        self, prepared: MarkovPrepared, conversions: FloatArray, nulls: FloatArray
    ) -> float:
        """P((start) ends in (conversion)); for the maximum-likelihood chain this equals
        conversions / journeys of the data (the flow into each state is conserved)."""
        sol = self.chain(prepared, conversions, nulls, np.zeros_like(conversions))
        dense = sol.q.toarray() if prepared.size <= DENSE_MAX_STATES else None
        visits = _visits(sol.q, dense, np.ones(prepared.size, dtype=np.bool_))
        return float(visits @ sol.p_conversion)

    def transitions(
        self, prepared: MarkovPrepared, conversions: FloatArray, nulls: FloatArray
    ) -> list[tuple[str, str, float]]:
        """The estimated transition probabilities (from, to, p), states written as
        'a,b' for order >= 2, for inspection and cross-checks."""
        sol = self.chain(prepared, conversions, nulls, np.zeros_like(conversions))
        names = ["(start)"] + [",".join(s) for s in prepared.states[1:]]
        coo = sol.q.tocoo()
        rows = [
            (names[i], names[j], float(p))
            for i, j, p in zip(coo.row, coo.col, coo.data, strict=True)
        ]
        rows += [(names[i], "(conversion)", float(p)) for i, p in enumerate(sol.p_conversion) if p]
        rows += [(names[i], "(null)", float(p)) for i, p in enumerate(sol.p_null) if p]
        return rows


def _prepare_walks(
    paths: PathTable, channels: tuple[str, ...], order: int, collapse: bool
) -> MarkovPrepared:
    """`MarkovChain.prepare` by walking each path through its states (any order): states
    and edges numbered by first appearance, path by path."""
    index: dict[State, int] = {START: 0}
    edges: dict[tuple[int, int], int] = {}
    rows: list[int] = []
    cols: list[int] = []
    last = np.zeros(paths.size, dtype=np.int64)
    for p, path in enumerate(paths.paths):
        prev = 0
        for state in markov_states(path, order, collapse):
            here = index.setdefault(state, len(index))
            rows.append(edges.setdefault((prev, here), len(edges)))
            cols.append(p)
            prev = here
        last[p] = prev
    states = tuple(sorted(index, key=index.__getitem__))
    pairs = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
    edge_paths = sp.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols))),
        shape=(len(edges), paths.size),
    )
    position = {c: i for i, c in enumerate(channels)}
    contains = np.zeros((len(channels), len(states)), dtype=np.bool_)
    for s, state in enumerate(states):
        for c in set(state):
            contains[position[c], s] = True
    return MarkovPrepared(
        channels=channels,
        states=states,
        edge_from=pairs[:, 0].copy(),
        edge_to=pairs[:, 1].copy(),
        edge_paths=edge_paths,
        last_state=last,
        contains=contains,
    )


def _prepare_order1(paths: PathTable, channels: tuple[str, ...], collapse: bool) -> MarkovPrepared:
    """`MarkovChain.prepare` at order 1 on the path arrays: the same states and edges,
    numbered in the same order (first appearance, path by path), in linear time and with
    few arrays as long as the touches (allocating them is much of the cost)."""
    flat = paths.touch_channel
    if paths.channels != channels:
        position = {c: i for i, c in enumerate(channels)}
        flat = np.array([position[c] for c in paths.channels], dtype=np.int32)[flat]
    # a step's code: (previous channel + 1, 0 at the start) x width + channel + 1
    width = len(channels) + 1
    code: Any = np.empty(len(flat), dtype=np.int64 if width * width >= 1 << 31 else np.int32)
    code[1:] = flat[:-1]
    code[1:] += 1
    code[paths.start] = 0
    code *= width
    code += flat
    code += 1
    if collapse:  # a repeated channel is the same state: drop the step to itself
        keep = np.ones(len(flat), dtype=np.bool_)
        np.not_equal(flat[1:], flat[:-1], out=keep[1:])
        keep[paths.start] = True
        code = code[keep]
    # the edges in order of first appearance (first taken, path by path)
    if width * width <= max(len(code), 1 << 16):  # edges numbered by a table of all codes
        code_at = _first_index(code, width * width)
        present = np.flatnonzero(code_at < len(code))
        edge_codes = present[np.argsort(code_at[present], kind="stable")]
        rank = np.zeros(width * width, dtype=np.int32)
        rank[edge_codes] = np.arange(len(edge_codes))
        edge = rank[code]
    else:
        codes, at = np.unique(code, return_index=True)
        order = np.argsort(at, kind="stable")
        ranks = np.empty(len(codes), dtype=np.int64)
        ranks[order] = np.arange(len(codes))
        edge = ranks[np.searchsorted(codes, code)]
        edge_codes = codes[order].astype(np.int64)
    # states: (start), then each channel in order of first appearance, which is the order
    # of the first edges into them (every touch is the end of a step)
    into = edge_codes % width - 1
    by_appearance = into[np.sort(np.unique(into, return_index=True)[1])]
    state_of = np.zeros(width, dtype=np.int64)  # by channel + 1; (start) is 0
    state_of[by_appearance + 1] = np.arange(1, len(by_appearance) + 1)
    # a path's last state is its last touch's channel (a repeat is the same channel)
    last = state_of[flat[paths.start + paths.length - 1] + 1]
    # edges x paths by column: each path's steps in order, no sorting needed; a path's
    # first step is the only one from (start), whose codes are below `width`
    indptr = np.empty(paths.size + 1, dtype=edge.dtype)
    indptr[:-1] = np.flatnonzero(code < width) if collapse else paths.start
    indptr[-1] = len(code)
    edge_paths = sp.csc_matrix(
        (np.ones(len(edge)), edge, indptr), shape=(len(edge_codes), paths.size)
    )
    contains = np.zeros((len(channels), len(by_appearance) + 1), dtype=np.bool_)
    contains[by_appearance, np.arange(1, len(by_appearance) + 1)] = True
    return MarkovPrepared(
        channels=channels,
        states=(START, *((channels[c],) for c in by_appearance.tolist())),
        edge_from=state_of[edge_codes // width],
        edge_to=state_of[edge_codes % width],
        edge_paths=edge_paths,
        last_state=last,
        contains=contains,
    )


def _first_index(values: IntArray | CodeArray, size: int) -> IntArray:
    """Where each of 0 .. size - 1 first occurs in `values` (len(values) when it does not);
    in slices, so the positions never make an array as long as `values`."""
    first = np.full(size, len(values), dtype=np.int64)
    step = 1 << 20
    at = np.arange(step, dtype=np.int64)
    for lo in range(0, len(values), step):
        part = values[lo : lo + step]
        np.minimum.at(first, part, at[: len(part)] + lo)
    return first


def _visits(q: Any, dense: FloatArray | None, keep: BoolArray) -> FloatArray:
    """Expected visits to the kept transient states from (start) (index 0, always kept)
    when the other states are removed: x solves (I - Q_kk)ᵀ x = e_start."""
    idx = np.flatnonzero(keep)
    k = len(idx)
    e_start = np.zeros(k)
    e_start[0] = 1.0
    if dense is not None:
        a = np.eye(k) - dense[np.ix_(idx, idx)]
        return np.asarray(np.linalg.solve(a.T, e_start), dtype=np.float64)
    sub = q[idx][:, idx]
    a = (sp.identity(k, format="csr") - sub).T.tocsc()
    return np.asarray(spsolve(a, e_start), dtype=np.float64)
