"""The small base every attribution model stands on: a model turns a JourneyTable into
credit per channel (conversions and money), and the credit always adds up to the totals.

Rule-based models only say how one journey's credit is split over its touches
(`TouchModel.weights`); data-driven models (`DataDrivenModel`) split the prepared data
(`prepare`) from the solve for given counts (`solve`), so the bootstrap can re-solve on
resampled counts without rebuilding the chain or the coalitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import numpy as np

from revlens.attribution.journeys import (
    FloatArray,
    IntArray,
    Journey,
    JourneyTable,
    PathTable,
    tally,
)


@dataclass(frozen=True)
class ModelCredit:
    """One model's answer, aligned with `channels` (journeys without touches excluded:
    the caller adds their `(none)` row). Optional arrays are filled by the models that
    define them."""

    channels: tuple[str, ...]
    conversions: FloatArray
    value: FloatArray
    removal_effect: FloatArray | None = None
    removal_effect_value: FloatArray | None = None
    shapley_value: FloatArray | None = None
    error_bound: FloatArray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class AttributionModel(ABC):
    """A way to share conversions and their value between the channels of the journeys."""

    name: ClassVar[str]
    """The stable id (`--model NAME`, the `model` column of the result)."""
    data_driven: ClassVar[bool] = False

    @abstractmethod
    def credit(self, table: JourneyTable) -> ModelCredit:
        """Credit per channel of `table.channels` for the journeys that have touches."""

    def describe(self) -> str:
        """Parameters as people read them, for notes and titles."""
        return self.name


class TouchModel(AttributionModel):
    """A rule-based model: each journey's conversions and value are split over its touches
    by weights that sum to 1; a channel's credit is the sum over its touches."""

    @abstractmethod
    def weights(self, journey: Journey) -> FloatArray:
        """One weight per touch of `journey` (which has at least one touch), summing to 1."""

    def weight_key(self, journey: Journey) -> Hashable | None:
        """What `weights(journey)` depends on besides the touch count, when journeys with
        the same key get the same weights (they are then computed once per key and
        length); None when they must be computed for each journey."""
        return None

    by_length: ClassVar[bool] = False
    """True when a journey without timing and milestones gets weights that depend on its
    touch count alone; untimed tables are then weighted per touch count, all at once."""

    def untimed_weights(self, paths: PathTable) -> FloatArray | None:
        """Every touch's weight for the (untimed) paths at once, in `paths` order; None
        when they must be computed journey by journey."""
        if not self.by_length or not paths.size:
            return None
        counts = np.unique(paths.length)
        per_count = [self.weights(Journey(("?",) * int(n))) for n in counts.tolist()]
        offset = np.zeros(int(counts[-1]) + 1, dtype=np.int64)
        offset[counts] = np.cumsum(counts) - counts
        weights = np.concatenate(per_count)
        return np.asarray(weights[np.repeat(offset[paths.length], paths.length) + paths.position])

    def untimed_choice(self, paths: PathTable) -> IntArray | None:
        """For models that give each untimed path's whole credit to one of its touches:
        that touch per path (an index into `paths.touch_channel`); else None."""
        return None

    def credit(self, table: JourneyTable) -> ModelCredit:
        n = len(table.channels)
        flat = table.touches()
        if not len(flat.length):
            zeros = np.zeros(n, dtype=np.float64)
            return ModelCredit(table.channels, zeros, zeros.copy(), notes=self.notes(table))
        chosen = None if table.timed else self.untimed_choice(table.paths)
        if chosen is not None:  # weight 1 on one touch: the path's counts go to its channel
            channel = table.paths.touch_channel[chosen]
            return ModelCredit(
                channels=table.channels,
                conversions=tally(channel, table.paths.conversions, n),
                value=tally(channel, table.paths.value, n),
                notes=self.notes(table),
            )
        weights = None if table.timed else self.untimed_weights(table.paths)
        if weights is None:
            weights = self._weights_per_journey(table.journeys)
        # per touch: its weight times its journey's conversions (value), the same products
        # as one journey at a time, summed per channel in the same order
        return ModelCredit(
            channels=table.channels,
            conversions=tally(flat.index, weights * flat.touch_conversions, n),
            value=tally(flat.index, weights * flat.touch_value, n),
            notes=self.notes(table),
        )

    def _weights_per_journey(self, journeys: Sequence[Journey]) -> FloatArray:
        """The weights of every touch, journey by journey (once per key and touch count
        where `weight_key` allows)."""
        cache: dict[tuple[int, Hashable], FloatArray] = {}
        parts: list[FloatArray] = []
        for journey in journeys:
            key = self.weight_key(journey)
            if key is None:
                parts.append(self.weights(journey))
                continue
            full = (len(journey.channels), key)
            w = cache.get(full)
            if w is None:
                w = cache[full] = self.weights(journey)
            parts.append(w)
        return np.concatenate(parts)

    def notes(self, table: JourneyTable) -> tuple[str, ...]:
        """What the reader should know about this run (fallbacks taken, ...)."""
        return ()


Prepared = TypeVar("Prepared")


class DataDrivenModel(AttributionModel, Generic[Prepared]):
    """A model fitted to all paths at once. Credit is `total × normalised contribution`, so
    it adds up to the totals whatever the contributions are."""

    data_driven: ClassVar[bool] = True

    @abstractmethod
    def prepare(self, paths: PathTable, channels: tuple[str, ...]) -> Prepared:
        """Everything that depends on the paths but not on their counts."""

    @abstractmethod
    def solve(
        self,
        prepared: Prepared,
        conversions: FloatArray,
        nulls: FloatArray,
        value: FloatArray,
        rng: np.random.Generator,
    ) -> ModelCredit:
        """Credit for the paths of `prepared` with these counts (one entry per path)."""

    def credit(self, table: JourneyTable) -> ModelCredit:
        return self.credit_with(table, np.random.default_rng(0))

    def credit_with(self, table: JourneyTable, rng: np.random.Generator) -> ModelCredit:
        prepared = self.prepare(table.paths, table.channels)
        p = table.paths
        return self.solve(prepared, p.conversions, p.nulls, p.value, rng)


def shares_of(contribution: FloatArray, total: float) -> FloatArray:
    """`total` split in proportion to `contribution`; all zero when nothing contributed."""
    s = float(contribution.sum())
    if s == 0.0 or total == 0.0:
        return np.zeros_like(contribution)
    return contribution / s * total
