"""Bootstrap confidence intervals for the data-driven models' conversions credit.

Efron & Tibshirani (1993), "An Introduction to the Bootstrap", percentile intervals. A
replicate redraws all journeys with replacement: the counts of (path, converted) and
(path, did not convert) cells are one multinomial draw of the total number of journeys
with probabilities proportional to the observed counts; a redrawn conversion keeps its
path's mean value. The model is re-solved on every replicate (the chain or coalition
structure is prepared once). A seed fixes every draw: same seed, same bounds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from revlens.attribution.base import DataDrivenModel
from revlens.attribution.journeys import FloatArray, JourneyTable


@dataclass(frozen=True)
class Interval:
    """Percentile bounds per channel (aligned with the table's channels) and for `(none)`."""

    low: FloatArray
    high: FloatArray
    none_low: float
    none_high: float


def model_rng(seed: int, model: str) -> np.random.Generator:
    """A generator per (seed, model), so a model's draws do not depend on which other
    models run in the same call or in which order."""
    return np.random.default_rng([seed, zlib.crc32(model.encode("utf-8"))])


def bootstrap_interval(
    model: DataDrivenModel[Any], table: JourneyTable, *, replicates: int, ci: float, seed: int
) -> Interval:
    paths = table.paths
    size = paths.size
    counts = np.concatenate(
        [paths.conversions, paths.nulls, [table.none_conversions, table.none_nulls]]
    )
    total = round(float(counts.sum()))
    n = len(table.channels)
    if total == 0:
        zeros = np.zeros(n)
        return Interval(zeros, zeros.copy(), 0.0, 0.0)
    probs = counts / counts.sum()
    unit_value = np.divide(
        paths.value, paths.conversions, out=np.zeros(size), where=paths.conversions > 0
    )
    prepared = model.prepare(paths, table.channels)
    rng = model_rng(seed, f"bootstrap:{model.name}")
    draws = np.empty((replicates, n))
    none = np.empty(replicates)
    for b in range(replicates):
        cells = rng.multinomial(total, probs).astype(np.float64)
        conv, nulls = cells[:size], cells[size : 2 * size]
        credit = model.solve(prepared, conv, nulls, conv * unit_value, rng)
        draws[b] = credit.conversions
        none[b] = cells[2 * size]
    q = [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0]
    low, high = np.quantile(draws, q, axis=0)
    none_low, none_high = np.quantile(none, q)
    return Interval(low, high, float(none_low), float(none_high))
