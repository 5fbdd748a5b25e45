"""Rule-based (position, timing and milestone) attribution models.

Each class says how one journey's credit is split over its touches; the weights of a
journey sum to 1, so credit adds up to the conversions and value of every journey. The
vendor definitions followed are named in each docstring: Google Analytics' rule-based
models (first, last, last non-direct, linear, time decay, position-based) and the B2B
multi-touch models popularised by Bizible / Adobe Marketo Measure (W-shaped, full path).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import ClassVar

import numpy as np

from revlens.attribution.base import TouchModel
from revlens.attribution.journeys import FloatArray, IntArray, Journey, JourneyTable, PathTable
from revlens.errors import RevlensError


class ModelParameterError(RevlensError):
    """A model parameter out of its range (weights, half-life, order, ...)."""

    code = "RL711"


def _one_hot(length: int, index: int) -> FloatArray:
    w = np.zeros(length, dtype=np.float64)
    w[index] = 1.0
    return w


def _weights_of(values: Sequence[float], what: str) -> tuple[float, ...]:
    """Non-negative weights with a positive sum, normalised to sum to 1."""
    ws = tuple(float(v) for v in values)
    if any(not np.isfinite(v) or v < 0 for v in ws) or sum(ws) <= 0:
        raise ModelParameterError(
            f"{what} must be numbers >= 0 with a positive sum",
            value=values,
            fix="e.g. 40,20,40 (percent or fractions; they are normalised)",
        )
    total = sum(ws)
    return tuple(v / total for v in ws)


def _pct(weights: Sequence[float]) -> str:
    return ",".join(f"{100 * w:g}" for w in weights)


class FirstTouch(TouchModel):
    """First touch (first interaction): all credit to the first touch of the journey
    (Google Analytics' "First Interaction"; ChannelAttribution's `first_touch`)."""

    name: ClassVar[str] = "first_touch"

    def weight_key(self, journey: Journey) -> Hashable | None:
        return ()  # the touch count alone

    def weights(self, journey: Journey) -> FloatArray:
        return _one_hot(len(journey.channels), 0)

    def untimed_choice(self, paths: PathTable) -> IntArray | None:
        return paths.start


class LastTouch(TouchModel):
    """Last touch (last interaction): all credit to the last touch before the conversion
    (Google Analytics' "Last Interaction"; ChannelAttribution's `last_touch`)."""

    name: ClassVar[str] = "last_touch"

    def weight_key(self, journey: Journey) -> Hashable | None:
        return ()  # the touch count alone

    def weights(self, journey: Journey) -> FloatArray:
        return _one_hot(len(journey.channels), len(journey.channels) - 1)

    def untimed_choice(self, paths: PathTable) -> IntArray | None:
        return paths.start + paths.length - 1


class LastNonDirectTouch(TouchModel):
    """Last non-direct touch: all credit to the last touch whose channel is not "direct"
    (Google Analytics' "Last Non-Direct Click": direct visits are ignored because the
    person already knew the brand). The direct channel names are configurable and matched
    case-insensitively; a journey of direct touches only gives the credit to its last touch."""

    name: ClassVar[str] = "last_non_direct"

    def __init__(self, direct: Iterable[str] = ("direct",)) -> None:
        self.direct = frozenset(d.strip().casefold() for d in direct if d.strip())

    def weights(self, journey: Journey) -> FloatArray:
        n = len(journey.channels)
        for i in range(n - 1, -1, -1):
            if journey.channels[i].casefold() not in self.direct:
                return _one_hot(n, i)
        return _one_hot(n, n - 1)

    def untimed_choice(self, paths: PathTable) -> IntArray | None:
        direct = np.array([c.casefold() in self.direct for c in paths.channels], dtype=np.bool_)
        touch = np.arange(len(paths.touch_channel), dtype=np.int64)
        candidate = np.where(direct[paths.touch_channel], -1, touch)
        last_non_direct = np.maximum.reduceat(candidate, paths.start) if paths.size else touch
        return np.where(last_non_direct >= 0, last_non_direct, paths.start + paths.length - 1)

    def describe(self) -> str:
        return f"{self.name} (direct = {', '.join(sorted(self.direct))})"


class Linear(TouchModel):
    """Linear: every touch gets 1/len(path), repeats included, so a channel touched twice
    gets twice the credit (ChannelAttribution's `linear_touch` in `heuristic_models`)."""

    name: ClassVar[str] = "linear"

    def weight_key(self, journey: Journey) -> Hashable | None:
        return ()  # the touch count alone

    def weights(self, journey: Journey) -> FloatArray:
        n = len(journey.channels)
        return np.full(n, 1.0 / n, dtype=np.float64)

    def untimed_weights(self, paths: PathTable) -> FloatArray | None:
        return np.repeat(1.0 / paths.length, paths.length) if paths.size else None


class TimeDecay(TouchModel):
    """Time decay: a touch `d` days before the conversion weighs `2 ** (-d / half_life)`,
    normalised over the journey (Google Analytics' "Time Decay", half-life 7 days).

    A journey without timestamps (a path file) has positions only: the last touch is 0
    steps before the conversion, the one before it 1 step, and so on, and `half_life` is
    then counted in steps (touches), not days.
    """

    by_length: ClassVar[bool] = True
    name: ClassVar[str] = "time_decay"

    def __init__(self, half_life: float = 7.0) -> None:
        if not np.isfinite(half_life) or half_life <= 0:
            raise ModelParameterError(
                "the time-decay half-life must be a positive number of days",
                value=half_life,
                fix="e.g. --half-life 7",
            )
        self.half_life = float(half_life)

    def weight_key(self, journey: Journey) -> Hashable | None:
        return () if journey.days_before is None else None  # by position without timestamps

    def weights(self, journey: Journey) -> FloatArray:
        n = len(journey.channels)
        if journey.days_before is not None:
            age = np.asarray(journey.days_before, dtype=np.float64)
        else:
            age = np.arange(n - 1, -1, -1, dtype=np.float64)
        # relative to the youngest touch, so long-ago touches cannot underflow all to 0
        w = np.exp2(-(age - age.min()) / self.half_life)
        return np.asarray(w / w.sum(), dtype=np.float64)

    def notes(self, table: JourneyTable) -> tuple[str, ...]:
        untimed = (
            sum(1 for j in table.journeys if j.days_before is None)
            if table.timed
            else table.paths.size
        )
        if untimed:
            return (
                f"time_decay: {untimed} path(s) have no timestamps; their touches decay "
                f"by position (half-life {self.half_life:g} steps)",
            )
        return ()

    def describe(self) -> str:
        return f"{self.name} (half-life {self.half_life:g})"


class CustomPositionWeights(TouchModel):
    """Custom position weights: `head` weights for the first touches (in path order),
    `tail` weights for the last touches (in path order, the last one last), and `middle`
    spread evenly over the touches in between.

    A path too short for all positions uses the head first, then the tail, then the
    middle, and the weights that apply are normalised to sum to 1 (if they sum to 0, the
    path is split evenly). Position-based (U-shaped) is head (0.4), middle 0.2, tail (0.4).
    """

    by_length: ClassVar[bool] = True
    name: ClassVar[str] = "custom"

    def __init__(
        self, head: Sequence[float] = (0.4,), middle: float = 0.2, tail: Sequence[float] = (0.4,)
    ) -> None:
        ws = _weights_of([*head, middle, *tail], "custom position weights")
        self.head = ws[: len(head)]
        self.middle = ws[len(head)]
        self.tail = ws[len(head) + 1 :]

    def weight_key(self, journey: Journey) -> Hashable | None:
        return ()  # the touch count alone

    def weights(self, journey: Journey) -> FloatArray:
        n = len(journey.channels)
        w = np.zeros(n, dtype=np.float64)
        nh = min(len(self.head), n)
        w[:nh] = self.head[:nh]
        nt = min(len(self.tail), n - nh)
        if nt:
            w[n - nt :] = self.tail[len(self.tail) - nt :]
        between = n - nh - nt
        if between > 0:
            w[nh : n - nt] = self.middle / between
        s = w.sum()
        return w / s if s > 0 else np.full(n, 1.0 / n, dtype=np.float64)

    def describe(self) -> str:
        return f"{self.name} ({_pct(self.head)}:{100 * self.middle:g}:{_pct(self.tail)})"


class PositionBased(CustomPositionWeights):
    """Position-based (U-shaped): 40 % to the first touch, 40 % to the last, 20 % spread
    evenly over the touches in between (Google Analytics' "Position Based"). One touch
    gets 100 %; two touches split first:last (50/50 at the default)."""

    name: ClassVar[str] = "position_based"

    def __init__(self, first: float = 0.4, middle: float = 0.2, last: float = 0.4) -> None:
        super().__init__(head=(first,), middle=middle, tail=(last,))


class MilestoneModel(TouchModel):
    """Credit for key touches (the first touch and the touches that created milestones),
    the rest spread evenly over the other touches; base of W-shaped and full path.

    Key weights of milestones on the same touch add up. With no other touch, the rest is
    spread over the key touches in proportion to their weights (a one-touch journey gets
    100 %). A milestone index that is unknown (every path from a path file) falls back to
    the last touch: the path file's conversion is its last event, so its last touch is
    the best stand-in for the touch that created it.
    """

    by_length: ClassVar[bool] = True
    milestones: ClassVar[tuple[str, ...]]

    def __init__(self, key_weights: Sequence[float], rest: float) -> None:
        ws = _weights_of([*key_weights, rest], f"{self.name} weights")
        self.key_weights = ws[:-1]
        self.rest = ws[-1]

    def weight_key(self, journey: Journey) -> Hashable | None:
        return tuple(getattr(journey, m) for m in self.milestones)

    def weights(self, journey: Journey) -> FloatArray:
        n = len(journey.channels)
        keys = [0] + [
            n - 1 if getattr(journey, m) is None else int(getattr(journey, m))
            for m in self.milestones
        ]
        w = np.zeros(n, dtype=np.float64)
        for index, weight in zip(keys, self.key_weights, strict=True):
            w[index] += weight
        key_set = set(keys)
        others = [i for i in range(n) if i not in key_set]
        if others:
            w[others] += self.rest / len(others)
        s = w.sum()
        return w / s if s > 0 else np.full(n, 1.0 / n, dtype=np.float64)

    def notes(self, table: JourneyTable) -> tuple[str, ...]:
        missing = (
            sum(1 for j in table.journeys if any(getattr(j, m) is None for m in self.milestones))
            if table.timed
            else table.paths.size
        )
        if missing:
            names = ", ".join(m.removesuffix("_touch") for m in self.milestones)
            return (
                f"{self.name}: {missing} path(s) lack milestone touches ({names}); "
                "the last touch stands in for each missing one",
            )
        return ()

    def describe(self) -> str:
        ws = "/".join(f"{100 * x:g}" for x in (*self.key_weights, self.rest))
        return f"{self.name} ({ws})"


class WShaped(MilestoneModel):
    """W-shaped: 30 % each to the first touch, the lead-creation touch and the
    opportunity-creation touch, 10 % spread over the other touches (Bizible / Adobe
    Marketo Measure "W-Shaped")."""

    name: ClassVar[str] = "w_shaped"
    milestones: ClassVar[tuple[str, ...]] = ("lead_touch", "opportunity_touch")

    def __init__(
        self,
        first: float = 0.3,
        lead: float = 0.3,
        opportunity: float = 0.3,
        rest: float = 0.1,
    ) -> None:
        super().__init__((first, lead, opportunity), rest)


class FullPath(MilestoneModel):
    """Full path (Z-shaped): 22.5 % each to the first touch, lead creation, opportunity
    creation and customer close, 10 % spread over the other touches (Bizible / Adobe
    Marketo Measure "Full Path")."""

    name: ClassVar[str] = "full_path"
    milestones: ClassVar[tuple[str, ...]] = ("lead_touch", "opportunity_touch", "close_touch")

    def __init__(
        self,
        first: float = 0.225,
        lead: float = 0.225,
        opportunity: float = 0.225,
        close: float = 0.225,
        rest: float = 0.1,
    ) -> None:
        super().__init__((first, lead, opportunity, close), rest)
