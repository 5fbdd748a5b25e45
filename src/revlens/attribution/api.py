"""Run attribution models over journeys: `attribute` for Journey objects (e.g. the
warehouse's touches before each conversion), `attribute_paths` for aggregated path rows."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from revlens.attribution.base import AttributionModel, DataDrivenModel, ModelCredit
from revlens.attribution.bootstrap import Interval, bootstrap_interval, model_rng
from revlens.attribution.journeys import Journey, JourneyTable
from revlens.attribution.pathfile import (
    PathColumns,
    journeys_from_records,
    read_path_file,
    table_from_arrow,
)
from revlens.attribution.registry import DEFAULT_MODELS, ModelOptions, build_models
from revlens.attribution.result import AttributionResult
from revlens.attribution.rules import ModelParameterError

Models = str | Sequence[str | AttributionModel]


def attribute(
    journeys: Iterable[Journey] | JourneyTable,
    models: Models = DEFAULT_MODELS,
    *,
    level: str = "channel",
    ci: float | None = None,
    bootstrap: int | None = None,
    seed: int = 0,
    **options: Any,
) -> AttributionResult:
    """Credit per channel under each model. `models` are ids (see MODEL_NAMES) or model
    objects; `options` are ModelOptions fields for the ids (order=2, half_life=3, ...).
    Passing `ci` or `bootstrap` adds bootstrap bounds (default 0.9 and 200 replicates) to
    the data-driven models; `seed` fixes every random draw."""
    built = build_models(models, ModelOptions.of(options))
    level_ci, replicates = _bootstrap_settings(ci, bootstrap)
    table = journeys if isinstance(journeys, JourneyTable) else JourneyTable.build(journeys)
    credits: dict[str, ModelCredit] = {}
    intervals: dict[str, Interval] = {}
    for model in built:
        if isinstance(model, DataDrivenModel):
            credits[model.name] = model.credit_with(table, model_rng(seed, model.name))
            if replicates:
                intervals[model.name] = bootstrap_interval(
                    model, table, replicates=replicates, ci=level_ci, seed=seed
                )
        else:
            credits[model.name] = model.credit(table)
    return AttributionResult(
        level=level,
        credits=credits,
        descriptions={m.name: m.describe() for m in built},
        total_conversions=table.total_conversions,
        total_value=table.total_value,
        total_nulls=table.total_nulls,
        none_conversions=float(table.none_conversions),
        none_value=table.none_value,
        has_none=table.has_empty,
        ci=level_ci if replicates else None,
        bootstrap=replicates,
        intervals=intervals,
    )


def attribute_paths(
    data: Any,
    models: Models = DEFAULT_MODELS,
    *,
    path_column: str = "path",
    separator: str = ">",
    conversions_column: str = "conversions",
    value_column: str | None = None,
    nulls_column: str | None = None,
    level: str = "channel",
    ci: float | None = None,
    bootstrap: int | None = None,
    seed: int = 0,
    **options: Any,
) -> AttributionResult:
    """`attribute` over aggregated paths: `data` is a file path (CSV, Parquet, JSON Lines,
    XLSX), a pandas DataFrame, a pyarrow Table or an iterable of row dicts, with one row
    per path ('a > b > c'), its conversions and optionally value and nulls columns.

    >>> r = attribute_paths([{"path": "a > b", "conversions": 2}], ["linear"])
    >>> [(row["channel"], row["conversions"]) for row in r.rows]
    [('a', 1.0), ('b', 1.0)]
    """
    columns = PathColumns(
        path=path_column,
        conversions=conversions_column,
        value=value_column,
        nulls=nulls_column,
        separator=separator,
    )
    return attribute(
        _table_of(data, columns),
        models,
        level=level,
        ci=ci,
        bootstrap=bootstrap,
        seed=seed,
        **options,
    )


def _table_of(data: Any, columns: PathColumns) -> JourneyTable:
    if isinstance(data, str | os.PathLike):
        return read_path_file(Path(data), columns)
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        try:
            arrow = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            arrow = None
        fast = table_from_arrow(arrow, columns) if arrow is not None else None
        return fast or JourneyTable.build(
            journeys_from_records(
                data.to_dict("records"),
                columns,
                source="the DataFrame",
                found=[str(c) for c in data.columns],
            )
        )
    if isinstance(data, pa.Table):
        fast = table_from_arrow(data, columns)
        return fast or JourneyTable.build(
            journeys_from_records(data.to_pylist(), columns, source="the table")
        )
    if isinstance(data, Mapping):
        raise ModelParameterError(
            "attribute_paths takes rows, not one mapping",
            fix="pass a list of row dicts, a DataFrame or a file path",
        )
    return JourneyTable.build(journeys_from_records(data, columns))


def _bootstrap_settings(ci: float | None, bootstrap: int | None) -> tuple[float, int]:
    if ci is None and not bootstrap:
        return 0.9, 0
    level = 0.9 if ci is None else float(ci)
    replicates = 200 if bootstrap is None else int(bootstrap)
    if not 0 < level < 1:
        raise ModelParameterError(
            "the confidence level must be between 0 and 1", value=ci, fix="e.g. --ci 0.9"
        )
    if replicates < 2:
        raise ModelParameterError(
            "the bootstrap needs at least 2 replicates", value=bootstrap, fix="e.g. --bootstrap 200"
        )
    return level, replicates
