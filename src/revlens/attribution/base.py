"""The small base every attribution model stands on: a model turns a JourneyTable into
credit per channel (conversions and money), and the credit always adds up to the totals.

Rule-based models only say how one journey's credit is split over its touches
(`TouchModel.weights`); data-driven models (`DataDrivenModel`) split the prepared data
(`prepare`) from the solve for given counts (`solve`), so the bootstrap can re-solve on
resampled counts without rebuilding the chain or the coalitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import numpy as np

from revlens.attribution.journeys import FloatArray, Journey, JourneyTable, PathTable, tally


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

    def credit(self, table: JourneyTable) -> ModelCredit:
        index = {c: i for i, c in enumerate(table.channels)}
        touched: list[int] = []
        conv_parts: list[FloatArray] = []
        value_parts: list[FloatArray] = []
        for journey in table.journeys:
            w = self.weights(journey)
            touched.extend(index[c] for c in journey.channels)
            conv_parts.append(w * float(journey.conversions))
            value_parts.append(w * journey.value)
        n = len(table.channels)
        if not touched:
            zeros = np.zeros(n, dtype=np.float64)
            return ModelCredit(table.channels, zeros, zeros.copy(), notes=self.notes(table))
        where = np.asarray(touched, dtype=np.int64)
        return ModelCredit(
            channels=table.channels,
            conversions=tally(where, np.concatenate(conv_parts), n),
            value=tally(where, np.concatenate(value_parts), n),
            notes=self.notes(table),
        )

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
