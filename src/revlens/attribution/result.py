"""The result of an attribution run: tidy rows, one per model and channel, that the CLI,
the API and later the dashboard all print the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revlens.attribution.base import ModelCredit
from revlens.attribution.bootstrap import Interval
from revlens.attribution.journeys import NONE_CHANNEL

if TYPE_CHECKING:
    import pandas as pd

ROW_FIELDS = (
    "model",
    "conversions",
    "value",
    "share",
    "removal_effect",
    "shapley_value",
    "ci_low",
    "ci_high",
    "error_bound",
)


@dataclass(frozen=True)
class AttributionResult:
    """Credit per model and channel. `rows` holds, per model in the order asked and per
    channel by name (then `(none)` for journeys without touches, when there are any):
    `model`, the level key (`channel`), `conversions` and `value` (credit), `share` (of all
    conversions), `removal_effect` (Markov), `shapley_value` (Shapley), `ci_low`/`ci_high`
    (bootstrap bounds of the conversions, data-driven models) and `error_bound` (sampled
    Shapley). Every model's conversions and value add up to the totals."""

    level: str
    credits: dict[str, ModelCredit]
    descriptions: dict[str, str]
    total_conversions: float
    total_value: float
    total_nulls: float
    none_conversions: float
    none_value: float
    has_none: bool
    ci: float | None = None
    bootstrap: int = 0
    intervals: dict[str, Interval] = field(default_factory=dict)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.credits)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(note for credit in self.credits.values() for note in credit.notes)

    @property
    def rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        total = self.total_conversions
        for model, credit in self.credits.items():
            interval = self.intervals.get(model)
            for i, channel in enumerate(credit.channels):
                conv = float(credit.conversions[i])
                out.append(
                    {
                        "model": model,
                        self.level: channel,
                        "conversions": conv,
                        "value": float(credit.value[i]),
                        "share": conv / total if total else None,
                        "removal_effect": _at(credit.removal_effect, i),
                        "shapley_value": _at(credit.shapley_value, i),
                        "ci_low": float(interval.low[i]) if interval else None,
                        "ci_high": float(interval.high[i]) if interval else None,
                        "error_bound": _at(credit.error_bound, i),
                    }
                )
            if self.has_none:
                out.append(
                    {
                        "model": model,
                        self.level: NONE_CHANNEL,
                        "conversions": float(self.none_conversions),
                        "value": float(self.none_value),
                        "share": self.none_conversions / total if total else None,
                        "removal_effect": None,
                        "shapley_value": None,
                        "ci_low": interval.none_low if interval else None,
                        "ci_high": interval.none_high if interval else None,
                        "error_bound": None,
                    }
                )
        return out

    @property
    def columns(self) -> list[str]:
        return [ROW_FIELDS[0], self.level, *ROW_FIELDS[1:]]

    def to_records(self) -> list[dict[str, Any]]:
        return self.rows

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def _at(values: Any, i: int) -> float | None:
    return None if values is None else float(values[i])
