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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from revlens.errors import RevlensError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Number = TypeVar("Number", np.int32, np.int64, np.float64)
CodeArray = npt.NDArray[np.int32]
"""Per-touch channel numbers: 32 bits, as there are many touches and few channels."""
BoolArray = npt.NDArray[np.bool_]

MergeKey = tuple[tuple[str, ...], tuple[float, ...], bool, int, int, int]

NONE_CHANNEL = "(none)"
"""The level key of conversions whose journey has no touch: reported, never dropped."""


class JourneyError(RevlensError):
    """A journey that cannot be attributed (negative counts, misplaced milestones, ...)."""

    code = "RL710"


def _is_count(value: object) -> bool:
    return bool(isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0)


def tally(index: IntArray | CodeArray, weights: FloatArray, size: int) -> FloatArray:
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
    Rows are sorted by path, so results never depend on the order of the input rows.

    Columnar: path `i` is `channels[touch_channel[start[i] : start[i] + length[i]]]`, so the
    models work on arrays; `paths` spells the paths out as tuples for the code that wants them.
    """

    channels: tuple[str, ...]
    touch_channel: CodeArray
    length: IntArray
    conversions: FloatArray
    nulls: FloatArray
    value: FloatArray

    @property
    def size(self) -> int:
        return len(self.length)

    @cached_property
    def start(self) -> IntArray:
        """Where each path's touches begin in `touch_channel`."""
        out = np.zeros(self.size, dtype=np.int64)
        np.cumsum(self.length[:-1], out=out[1:])
        return out

    @cached_property
    def position(self) -> IntArray:
        """Each touch's place in its path (0 for the first)."""
        return np.arange(len(self.touch_channel), dtype=np.int64) - np.repeat(
            self.start, self.length
        )

    @cached_property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        names = np.array(self.channels, dtype=object)[self.touch_channel].tolist()
        ends = (self.start + self.length).tolist()
        return tuple(tuple(names[a:b]) for a, b in zip(self.start.tolist(), ends, strict=True))

    @classmethod
    def of(
        cls,
        paths: Sequence[tuple[str, ...]],
        conversions: FloatArray,
        nulls: FloatArray,
        value: FloatArray,
    ) -> PathTable:
        """The table of paths given as tuples (already distinct and sorted)."""
        channels = tuple(sorted({c for p in paths for c in p}))
        index = {c: i for i, c in enumerate(channels)}
        table = cls(
            channels=channels,
            touch_channel=np.fromiter((index[c] for p in paths for c in p), np.int32),
            length=np.fromiter((len(p) for p in paths), np.int64, len(paths)),
            conversions=conversions,
            nulls=nulls,
            value=value,
        )
        table.__dict__["paths"] = tuple(paths)  # already spelled out: the cache is free
        return table


@dataclass(frozen=True)
class TouchArrays:
    """The journeys' touches as arrays: each touch's channel index, and per journey its
    touch count, conversions and value."""

    channel: CodeArray
    length: IntArray
    conversions: FloatArray
    value: FloatArray

    @cached_property
    def index(self) -> IntArray:
        """`channel` as the index type `bincount` wants (converted once, not per tally)."""
        return self.channel.astype(np.intp)

    @cached_property
    def touch_conversions(self) -> FloatArray:
        """Each touch's journey's conversions (shared by the rule-based models)."""
        return np.repeat(self.conversions, self.length)

    @cached_property
    def touch_value(self) -> FloatArray:
        """Each touch's journey's value."""
        return np.repeat(self.value, self.length)


@dataclass(frozen=True)
class JourneyTable:
    """Journeys ready for the models: identical journeys merged, sorted, the ones with no
    touch set apart (their conversions go to `(none)` under every model).

    `timed` says whether journeys carry timing or milestones. When they do not (path
    files, untimed warehouse journeys) the journeys are the paths one to one and rule-based
    models can work on `paths` alone; `journeys` then spells them out only when asked.
    """

    channels: tuple[str, ...]
    paths: PathTable
    none_conversions: int
    none_value: float
    none_nulls: int
    has_empty: bool
    timed: bool = False
    _journeys: list[tuple[Journey, ...]] = field(default_factory=list, compare=False, repr=False)
    _touches: list[TouchArrays] = field(default_factory=list, compare=False, repr=False)

    @property
    def journeys(self) -> tuple[Journey, ...]:
        """The merged journeys with touches, in the order of `touches()`."""
        if not self._journeys:
            p = self.paths
            self._journeys.append(
                tuple(
                    Journey(path, conversions=round(c), value=v, nulls=round(n))
                    for path, c, v, n in zip(
                        p.paths,
                        p.conversions.tolist(),
                        p.value.tolist(),
                        p.nulls.tolist(),
                        strict=True,
                    )
                )
            )
        return self._journeys[0]

    def touches(self) -> TouchArrays:
        """Every touch of `journeys` in order, flattened once for all rule-based models."""
        if not self._touches:
            if not self.timed:
                p = self.paths
                arrays = TouchArrays(p.touch_channel, p.length, p.conversions, p.value)
            else:
                index = {c: i for i, c in enumerate(self.channels)}
                js = self.journeys
                arrays = TouchArrays(
                    channel=np.fromiter((index[c] for j in js for c in j.channels), np.int32),
                    length=np.fromiter((len(j.channels) for j in js), np.int64, len(js)),
                    conversions=np.array([float(j.conversions) for j in js], dtype=np.float64),
                    value=np.array([j.value for j in js], dtype=np.float64),
                )
            self._touches.append(arrays)
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
        timed = not all(key[1:] == _UNTIMED for key in groups)
        if not timed:
            # no timing, no milestones (path files, untimed warehouse journeys): the merge
            # key is the path, so merged journeys and paths are one to one
            keys = sorted(key[0] for key in groups)
            merged = [_merge(groups[(k, *_UNTIMED)]) for k in keys]
            paths = PathTable.of(
                keys,
                conversions=np.array([j.conversions for j in merged], dtype=np.float64),
                nulls=np.array([j.nulls for j in merged], dtype=np.float64),
                value=np.array([j.value for j in merged], dtype=np.float64),
            )
        else:
            merged = [_merge(groups[key]) for key in sorted(groups)]
            paths = _path_table(merged)
        return cls(
            channels=paths.channels,
            paths=paths,
            none_conversions=sum(j.conversions for j in empty),
            none_value=math.fsum(j.value for j in empty),
            none_nulls=sum(j.nulls for j in empty),
            has_empty=bool(empty),
            timed=timed,
            _journeys=[tuple(merged)],
        )

    @classmethod
    def from_arrays(
        cls,
        names: Sequence[str],
        touch_channel: IntArray | CodeArray,
        length: IntArray,
        conversions: FloatArray,
        nulls: FloatArray,
        value: FloatArray,
    ) -> JourneyTable:
        """Aggregated untimed paths as arrays (path `i`: the `length[i]` next entries of
        `touch_channel`, indices into `names`), as `build` would make of the same journeys:
        identical paths summed, sorted by path, empty paths set apart."""
        length = np.asarray(length, dtype=np.int64)
        conversions, nulls, value = (
            np.asarray(a, dtype=np.float64) for a in (conversions, nulls, value)
        )
        _check_counts(conversions, nulls, value)
        used = _used(touch_channel, len(names))
        channels = tuple(sorted(n for n, u in zip(names, used.tolist(), strict=True) if u))
        position = {c: i for i, c in enumerate(channels)}
        rank = np.array([position.get(n, -1) for n in names], dtype=np.int32)
        # the names may already be sorted and all used: no need to renumber
        ranked = (
            touch_channel.astype(np.int32, copy=False)
            if channels == tuple(names)
            else rank[touch_channel]
        )
        empty = length == 0
        rows = np.flatnonzero(~empty)  # the touches are the non-empty rows' touches
        touches, kept_length, order, group = _sort_paths(ranked, length[rows], len(channels))
        sums = _group_sums(group, order, rows, conversions, nulls, value)
        paths = PathTable(channels, touches, kept_length, *sums)
        if (paths.value > 0).any() and (paths.value[paths.conversions == 0] > 0).any():
            raise JourneyError(
                "a journey without conversions cannot carry conversion value",
                value=float(paths.value[paths.conversions == 0].max()),
                fix="set the value to 0 or count the conversions it belongs to",
            )
        none_value = math.fsum(value[empty].tolist())
        none_conversions = round(float(conversions[empty].sum()))
        if none_value > 0 and none_conversions == 0:
            raise JourneyError(
                "a journey without conversions cannot carry conversion value",
                where=f"journey {NONE_CHANNEL}",
                value=none_value,
                fix="set the value to 0 or count the conversions it belongs to",
            )
        return cls(
            channels=channels,
            paths=paths,
            none_conversions=none_conversions,
            none_value=none_value,
            none_nulls=round(float(nulls[empty].sum())),
            has_empty=bool(empty.any()),
        )


_UNTIMED = ((), True, -1, -1, -1)  # the merge key after the path, without timing or milestones


def _check_counts(conversions: FloatArray, nulls: FloatArray, value: FloatArray) -> None:
    for what, counts in (("conversions", conversions), ("nulls", nulls)):
        bad = ~(np.isfinite(counts) & (counts >= 0) & (counts == np.round(counts)))
        if bad.any():
            raise JourneyError(
                f"{what} must be whole numbers >= 0",
                value=float(counts[bad][0]),
                fix="count people: 0, 1, 2, ...",
            )
    bad = ~(np.isfinite(value) & (value >= 0))
    if bad.any():
        raise JourneyError(
            "the conversion value must be a finite number >= 0",
            value=float(value[bad][0]),
            fix="give the money of the conversions, or 0",
        )


def _sort_paths(
    codes: CodeArray, length: IntArray, n_channels: int
) -> tuple[CodeArray, IntArray, IntArray, IntArray]:
    """Non-empty paths (`length[i]` consecutive `codes`, channel ranks) sorted as tuples of
    their channel names and deduplicated: the distinct paths' codes and lengths, the order
    of the input paths, and each one's group (distinct path) number in that order."""
    if not len(length):
        none = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.int32), none, none, none
    start = np.zeros(len(length), dtype=np.int64)
    np.cumsum(length[:-1], out=start[1:])
    longest = int(length.max())
    dense = len(length) * longest <= 4 * len(codes) + len(length)  # few padded places
    bits = n_channels.bit_length()
    if longest * bits < 64:  # each path as one integer (digits rank + 1, 0 past the end)
        order, keys = _sort_keys(_path_keys(codes, start, length, longest, n_channels))
        new = _firsts(keys)
        kept = order[new]
        touches = (
            _key_digits(keys[new], longest, bits)
            if dense
            else _touches_of(codes, start, length, kept)
        )
    elif dense:  # a matrix of the digits, sorted column by column
        small = np.int16 if n_channels < np.iinfo(np.int16).max else np.int64
        digits = np.zeros((len(length), longest), dtype=small)
        for k in range(longest):
            has = np.flatnonzero(length > k)
            digits[has, k] = codes[start[has] + k] + 1
        order = np.lexsort(digits.T[::-1])
        ordered = digits[order]
        new = np.concatenate(([True], (ordered[1:] != ordered[:-1]).any(axis=1)))
        kept = order[new]
        distinct = digits[kept].ravel()
        touches = distinct[distinct > 0].astype(np.int32)
        touches -= 1
    else:  # a few long paths: compare them as byte strings of big-endian digits
        width = np.dtype(">u2") if n_channels < 0xFFFF else np.dtype(">u4")
        offsets = np.zeros(len(length) + 1, dtype=np.int64)
        np.cumsum(length * width.itemsize, out=offsets[1:])
        strings = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(),
            len(length),
            [None, pa.py_buffer(offsets), pa.py_buffer((codes + 1).astype(width).tobytes())],
        )
        order = np.asarray(pc.sort_indices(strings), dtype=np.int64)
        ordered = strings.take(pa.array(order))
        same = np.asarray(pc.equal(ordered[1:], ordered[:-1]), dtype=np.bool_)
        new = np.concatenate(([True], ~same))
        kept = order[new]
        touches = _touches_of(codes, start, length, kept)
    return touches, length[kept], order, np.cumsum(new) - 1


def _path_keys(
    codes: CodeArray, start: IntArray, length: IntArray, longest: int, n_channels: int
) -> IntArray:
    """Each path as one integer whose digits, in base 2**bits (bits enough for
    n_channels), are its channels' ranks + 1, padded with 0 to `longest` digits: integer
    order is path order. Summed touch by touch, each touch looking up its digit's value
    by its place in the path (no padded matrix of digits), in slices of about 2**20
    touches (whole paths): arrays as long as all the touches would each be fresh memory."""
    bits = n_channels.bit_length()
    shifts = bits * np.arange(longest - 1, -1, -1, dtype=np.int64)
    digit = np.arange(1, n_channels + 1, dtype=np.int64)
    value = (digit[None, :] << shifts[:, None]).ravel()  # [k * n_channels + c]: c at place k
    keys = np.empty(len(length), dtype=np.int64)
    bounds = np.searchsorted(start, np.arange(0, len(codes), _SLICE))  # first paths after
    bounds = np.unique(bounds[bounds < len(length)]).tolist()
    for lo, hi in zip(bounds, [*bounds[1:], len(length)], strict=True):
        first = int(start[lo])
        at = start[lo:hi] - first  # the paths' starts in the slice
        place = np.ones(int(start[hi - 1] + length[hi - 1]) - first, dtype=np.int8)
        place[at[1:]] = 1 - length[lo : hi - 1]  # back to 0 at each path's start
        place[0] = 0
        np.cumsum(place, dtype=np.int8, out=place)  # paths have < 64 touches here
        index = place.astype(np.int32)
        index *= n_channels
        index += codes[first : first + len(place)]
        keys[lo:hi] = np.add.reduceat(value[index], at)
    return keys


_SLICE = 1 << 20
"""Touches handled at once where arrays as long as all of them are not needed."""


def _sort_keys(keys: IntArray) -> tuple[IntArray, IntArray]:
    """The stable order of `keys` and the keys in that order. When the row numbers fit
    below the keys' bits, each key gets its row number as the low bits: all distinct, so
    a plain sort of the values (several times faster than a stable argsort) gives it."""
    shift = (len(keys) - 1).bit_length()
    if int(keys.max()).bit_length() + shift > 63:
        order = np.argsort(keys, kind="stable")
        return order, keys[order]
    packed = keys << shift
    packed |= np.arange(len(keys), dtype=np.int64)
    packed.sort()
    order = packed & ((1 << shift) - 1)
    packed >>= shift
    return order, packed


def _firsts(ordered: IntArray) -> BoolArray:
    """Where a run of equal values begins in `ordered`."""
    new = np.empty(len(ordered), dtype=np.bool_)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    return new


def _key_digits(keys: IntArray, longest: int, bits: int) -> CodeArray:
    """The channel ranks of the paths coded by `_path_keys`, path after path."""
    mask = (1 << bits) - 1
    digits = np.empty((len(keys), longest), dtype=np.min_scalar_type(mask))
    for k in range(longest):
        shifted = keys >> (bits * (longest - 1 - k))
        np.bitwise_and(shifted, mask, out=digits[:, k], casting="unsafe")
    flat = digits.ravel()
    touches = flat[flat > 0].astype(np.int32)
    touches -= 1
    return touches


def _touches_of(codes: CodeArray, start: IntArray, length: IntArray, kept: IntArray) -> CodeArray:
    """The codes of the paths `kept`, path after path."""
    out_start = np.zeros(len(kept), dtype=np.int64)
    np.cumsum(length[kept][:-1], out=out_start[1:])
    gather = np.repeat(start[kept] - out_start, length[kept])
    gather += np.arange(len(gather), dtype=np.int64)
    return codes[gather].astype(np.int32, copy=False)


def _used(codes: IntArray | CodeArray, size: int) -> BoolArray:
    """Which of 0 .. size - 1 occur in `codes`, counted in slices (bincount would first
    copy all of them to 64 bits), growing, until all have been seen."""
    seen = np.zeros(size, dtype=np.bool_)
    lo, step = 0, 1 << 16
    while lo < len(codes) and not seen.all():
        seen |= np.bincount(codes[lo : lo + step], minlength=size) > 0
        lo, step = lo + step, min(2 * step, _SLICE)
    return seen


def _group_sums(
    group: IntArray,
    order: IntArray,
    rows: IntArray,
    conversions: FloatArray,
    nulls: FloatArray,
    value: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Counts and value summed per group, adding the rows in path order."""
    n = int(group[-1]) + 1 if len(group) else 0
    picked = rows[order]
    return (
        tally(group, conversions[picked], n),
        tally(group, nulls[picked], n),
        tally(group, value[picked], n),
    )


def _path_table(merged: list[Journey]) -> PathTable:
    """Merged journeys summed per path (timing and milestones set aside), sorted by path."""
    by_path: dict[tuple[str, ...], list[Journey]] = {}
    for j in merged:
        by_path.setdefault(j.channels, []).append(j)
    keys = sorted(by_path)
    return PathTable.of(
        keys,
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


def encode_paths(
    column: pa.Array | pa.ChunkedArray, separator: str | None = None
) -> tuple[list[str], CodeArray, IntArray] | None:
    """A column of paths (text split at `separator`, or lists of names) as arrays: the
    channel names (sorted, stripped of surrounding spaces), every kept touch's index into
    them and each row's touch count; empty names are dropped. None for another type.

    Chunk by chunk, on Arrow's count of CPUs (its kernels release the GIL): a chunk's
    split text is dropped once encoded, so it is never all in memory (nor joined, a copy)."""
    kind = column.type
    if separator and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        split_at: str | None = separator
    elif (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    ):
        split_at = None
    else:
        return None
    chunks = list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]
    with ThreadPoolExecutor(pa.cpu_count()) as pool:
        encoded = list(pool.map(lambda chunk: _encode_chunk(chunk, split_at), chunks))
    names = sorted({n for parts, _, _ in encoded for n in parts if n})
    position = {n: i for i, n in enumerate(names)}
    named = np.empty(sum(len(indices) for _, indices, _ in encoded), dtype=np.int32)
    length = np.empty(len(column), dtype=np.int64)
    at, row = 0, 0
    for parts, indices, lengths in encoded:
        table = np.array([position.get(n, -1) for n in parts], dtype=np.int32)
        np.take(table, indices, out=named[at : at + len(indices)])
        length[row : row + len(lengths)] = lengths
        at, row = at + len(indices), row + len(lengths)
    return names, named, length


def _encode_chunk(chunk: pa.Array, split_at: str | None) -> tuple[list[str], CodeArray, IntArray]:
    """One chunk of `encode_paths`' column: its distinct parts (stripped as Python strips;
    empty for a missing one), each kept part's index into them, each row's kept count.
    No Python value becomes an Arrow scalar (that would import pandas, ~0.2 s)."""
    parts = pc.split_pattern(chunk, pattern=split_at) if split_at else chunk
    encoded = pc.dictionary_encode(pc.list_flatten(parts), null_encoding="encode")
    distinct = [str(n or "").strip() for n in encoded.dictionary.to_pylist()]
    indices = numpy_view(encoded.indices.cast(pa.int32()), np.int32)
    if not parts.null_count and all(distinct):  # every part kept
        lengths = pc.list_value_length(parts).cast(pa.int64())
        return distinct, indices, numpy_view(lengths, np.int64)
    keep = np.array([bool(n) for n in distinct], dtype=np.bool_)[indices]
    parent = numpy_view(pc.list_parent_indices(parts).cast(pa.int64()), np.int64)
    return distinct, indices[keep], np.bincount(parent[keep], minlength=len(chunk))


def numpy_view(array: pa.Array, dtype: type[Number]) -> npt.NDArray[Number]:
    """A read-only NumPy view of a numeric Arrow array without nulls (`to_numpy` would
    import pandas, a quarter of a second, the first time)."""
    values = array.buffers()[1]
    width = np.dtype(dtype).itemsize
    return np.frombuffer(values, dtype=dtype, count=len(array), offset=array.offset * width)


def split_path(text: str, separator: str) -> tuple[str, ...]:
    """'a > b >  c' -> ('a', 'b', 'c'): names stripped of surrounding spaces, empty parts
    dropped (as ChannelAttribution reads paths)."""
    return tuple(part.strip() for part in text.split(separator) if part.strip())
