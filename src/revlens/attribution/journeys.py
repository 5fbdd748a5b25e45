"""Journeys, the input of every attribution model: the ordered channels touched before a
conversion (or before giving up), with counts, money and, when known, timing and milestones.

One `Journey` is either an aggregated path from a path file (`conversions`/`nulls` count how
many people took exactly this path) or one person's touches from the warehouse (then it also
carries days before the conversion and which touch created the lead, the opportunity and the
customer). Models read what they need: rule-based ones look at positions, timing and
milestones; the data-driven ones (Markov, Shapley) only at channel order and counts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from revlens.errors import RevlensError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MergeKey = tuple[tuple[str, ...], tuple[float, ...], bool, int, int, int]

NONE_CHANNEL = "(none)"
"""The level key of conversions whose journey has no touch: reported, never dropped."""


class JourneyError(RevlensError):
    """A journey that cannot be attributed (negative counts, misplaced milestones, ...)."""

    code = "RL710"


def _is_count(value: object) -> bool:
    return bool(isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0)


def tally(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """Sum of `weights` per `index` value 0 .. size - 1 (a weighted bincount, as floats)."""
    return np.asarray(np.bincount(index, weights, minlength=size), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Journey:
    """The touches of one path, in time order, and what came of it.

    `conversions` and `nulls` count the people who took this exact path and converted or
    did not (ChannelAttribution's `total_conversions` / `total_null`); `value` is the money
    of those conversions. `days_before[i]` is how many days before the conversion touch `i`
    happened (time decay uses it; without it, positions count as steps). `lead_touch`,
    `opportunity_touch` and `close_touch` are indices into `channels` of the touches that
    created the lead, the opportunity and the customer (W-shaped and full-path use them).
    """

    channels: tuple[str, ...]
    conversions: int = 1
    value: float = 0.0
    nulls: int = 0
    days_before: tuple[float, ...] | None = None
    lead_touch: int | None = None
    opportunity_touch: int | None = None
    close_touch: int | None = None

    def __post_init__(self) -> None:
        where = " > ".join(self.channels) or NONE_CHANNEL
        if not _is_count(self.conversions) or not _is_count(self.nulls):
            raise JourneyError(
                "conversions and nulls must be whole numbers >= 0",
                where=f"journey {where}",
                value=(self.conversions, self.nulls),
                fix="count people: 0, 1, 2, ...",
            )
        if not math.isfinite(self.value) or self.value < 0:
            raise JourneyError(
                "the conversion value must be a finite number >= 0",
                where=f"journey {where}",
                value=self.value,
                fix="give the money of the conversions, or 0",
            )
        if self.value > 0 and self.conversions == 0:
            raise JourneyError(
                "a journey without conversions cannot carry conversion value",
                where=f"journey {where}",
                value=self.value,
                fix="set the value to 0 or count the conversions it belongs to",
            )
        if any(not isinstance(c, str) or not c for c in self.channels):
            raise JourneyError(
                "every touch needs a channel name",
                where=f"journey {where}",
                value=self.channels,
                fix="drop empty touches or name their channel",
            )
        if self.days_before is not None:
            if len(self.days_before) != len(self.channels):
                raise JourneyError(
                    "days_before needs one number per touch",
                    where=f"journey {where}",
                    value=self.days_before,
                    fix=f"give {len(self.channels)} numbers",
                )
            if any(not math.isfinite(d) or d < 0 for d in self.days_before):
                raise JourneyError(
                    "days before the conversion must be finite and >= 0",
                    where=f"journey {where}",
                    value=self.days_before,
                    fix="count touches after the conversion out of the journey",
                )
        for name in ("lead_touch", "opportunity_touch", "close_touch"):
            index = getattr(self, name)
            if index is not None and not (
                isinstance(index, int | np.integer)
                and not isinstance(index, bool)
                and 0 <= index < len(self.channels)
            ):
                raise JourneyError(
                    f"{name} must index one of the journey's {len(self.channels)} touches",
                    where=f"journey {where}",
                    value=index,
                    fix=f"use 0..{len(self.channels) - 1}, or None when unknown",
                )

    @classmethod
    def from_timestamps(
        cls,
        channels: Sequence[str],
        touched_at: Sequence[dt.datetime],
        converted_at: dt.datetime,
        *,
        conversions: int = 1,
        value: float = 0.0,
        nulls: int = 0,
        lead_touch: int | None = None,
        opportunity_touch: int | None = None,
        close_touch: int | None = None,
    ) -> Journey:
        """A journey from touch timestamps: touches are put in time order (milestone
        indices refer to the order given) and `days_before` is measured to the conversion."""
        if len(channels) != len(touched_at):
            raise JourneyError(
                "one timestamp per touch is needed",
                value=(len(channels), len(touched_at)),
                fix="pass as many timestamps as channels",
            )
        order = sorted(range(len(channels)), key=lambda i: touched_at[i])
        moved = {old: new for new, old in enumerate(order)}

        def remap(index: int | None) -> int | None:
            return None if index is None else moved.get(index, index)

        return cls(
            channels=tuple(channels[i] for i in order),
            conversions=conversions,
            value=value,
            nulls=nulls,
            days_before=tuple(
                (converted_at - touched_at[i]).total_seconds() / 86400.0 for i in order
            ),
            lead_touch=remap(lead_touch),
            opportunity_touch=remap(opportunity_touch),
            close_touch=remap(close_touch),
        )

    @property
    def has_timing(self) -> bool:
        return self.days_before is not None

    def merge_key(self) -> MergeKey:
        """Journeys equal in everything but their counts and value are one path."""
        return (
            self.channels,
            self.days_before or (),
            self.days_before is None,
            -1 if self.lead_touch is None else self.lead_touch,
            -1 if self.opportunity_touch is None else self.opportunity_touch,
            -1 if self.close_touch is None else self.close_touch,
        )


@dataclass(frozen=True)
class PathTable:
    """Distinct channel paths (no timing) with summed counts: the data-driven models' input.
    Rows are sorted by path, so results never depend on the order of the input rows."""

    paths: tuple[tuple[str, ...], ...]
    conversions: FloatArray
    nulls: FloatArray
    value: FloatArray

    @property
    def size(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class TouchArrays:
    """The journeys' touches as arrays: each touch's channel index, and per journey its
    touch count, conversions and value."""

    channel: IntArray
    length: IntArray
    conversions: FloatArray
    value: FloatArray


@dataclass(frozen=True)
class JourneyTable:
    """Journeys ready for the models: identical journeys merged, sorted, the ones with no
    touch set apart (their conversions go to `(none)` under every model)."""

    journeys: tuple[Journey, ...]
    channels: tuple[str, ...]
    paths: PathTable
    none_conversions: int
    none_value: float
    none_nulls: int
    has_empty: bool
    _touches: list[TouchArrays] = field(default_factory=list, compare=False, repr=False)

    def touches(self) -> TouchArrays:
        """Every touch of `journeys` in order, flattened once for all rule-based models."""
        if not self._touches:
            index = {c: i for i, c in enumerate(self.channels)}
            js = self.journeys
            self._touches.append(
                TouchArrays(
                    channel=np.fromiter((index[c] for j in js for c in j.channels), np.int64),
                    length=np.fromiter((len(j.channels) for j in js), np.int64, len(js)),
                    conversions=np.array([float(j.conversions) for j in js], dtype=np.float64),
                    value=np.array([j.value for j in js], dtype=np.float64),
                )
            )
        return self._touches[0]

    @property
    def total_conversions(self) -> float:
        return float(self.paths.conversions.sum()) + self.none_conversions

    @property
    def total_value(self) -> float:
        return math.fsum([*self.paths.value.tolist(), self.none_value])

    @property
    def total_nulls(self) -> float:
        return float(self.paths.nulls.sum()) + self.none_nulls

    @classmethod
    def build(cls, journeys: Iterable[Journey]) -> JourneyTable:
        groups: dict[MergeKey, list[Journey]] = {}
        empty: list[Journey] = []
        for j in journeys:
            if not isinstance(j, Journey):
                raise JourneyError(
                    "attribute() takes Journey objects",
                    value=type(j).__name__,
                    fix="use attribute_paths() for rows of a path file or a DataFrame",
                )
            if not j.channels:
                empty.append(j)
            else:
                groups.setdefault(j.merge_key(), []).append(j)
        if all(key[1:] == _UNTIMED for key in groups):
            # no timing, no milestones (path files, untimed warehouse journeys): the merge
            # key is the path, so merged journeys and paths are one to one
            keys = sorted(key[0] for key in groups)
            merged = [_merge(groups[(k, *_UNTIMED)]) for k in keys]
            paths = PathTable(
                paths=tuple(keys),
                conversions=np.array([j.conversions for j in merged], dtype=np.float64),
                nulls=np.array([j.nulls for j in merged], dtype=np.float64),
                value=np.array([j.value for j in merged], dtype=np.float64),
            )
        else:
            merged = [_merge(groups[key]) for key in sorted(groups)]
            paths = _path_table(merged)
        channels = tuple(sorted({c for k in paths.paths for c in k}))
        return cls(
            journeys=tuple(merged),
            channels=channels,
            paths=paths,
            none_conversions=sum(j.conversions for j in empty),
            none_value=math.fsum(j.value for j in empty),
            none_nulls=sum(j.nulls for j in empty),
            has_empty=bool(empty),
        )


_UNTIMED = ((), True, -1, -1, -1)  # the merge key after the path, without timing or milestones


def _path_table(merged: list[Journey]) -> PathTable:
    """Merged journeys summed per path (timing and milestones set aside), sorted by path."""
    by_path: dict[tuple[str, ...], list[Journey]] = {}
    for j in merged:
        by_path.setdefault(j.channels, []).append(j)
    keys = sorted(by_path)
    return PathTable(
        paths=tuple(keys),
        conversions=np.array(
            [sum(j.conversions for j in by_path[k]) for k in keys], dtype=np.float64
        ),
        nulls=np.array([sum(j.nulls for j in by_path[k]) for k in keys], dtype=np.float64),
        value=np.array([math.fsum(j.value for j in by_path[k]) for k in keys], dtype=np.float64),
    )


def _merge(group: list[Journey]) -> Journey:
    first = group[0]
    if len(group) == 1:
        return first
    return Journey(
        channels=first.channels,
        conversions=sum(j.conversions for j in group),
        value=math.fsum(j.value for j in group),
        nulls=sum(j.nulls for j in group),
        days_before=first.days_before,
        lead_touch=first.lead_touch,
        opportunity_touch=first.opportunity_touch,
        close_touch=first.close_touch,
    )


def split_path(text: str, separator: str) -> tuple[str, ...]:
    """'a > b >  c' -> ('a', 'b', 'c'): names stripped of surrounding spaces, empty parts
    dropped (as ChannelAttribution reads paths)."""
    return tuple(part.strip() for part in text.split(separator) if part.strip())
