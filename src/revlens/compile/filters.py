"""Restricting a query to one value of a dimension (channel = paid_search), the way a
dashboard filter does: group by that dimension too, keep its rows, drop the column.

Grouping partitions the data, so the row of one value is exactly the KPI computed on that
value's slice: ratios, medians and snapshots included, with no re-aggregation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from revlens.errors import UnknownName


def check_filters(filters: Mapping[str, str], known: Iterable[str]) -> None:
    """Every filtered dimension must be one the query could group by."""
    names = list(known)
    for dim in filters:
        if dim not in names:
            raise UnknownName("dimension", dim, names)


def widened(by: tuple[str, ...], filters: Mapping[str, str]) -> tuple[str, ...]:
    """The dimensions to group by so that each filter value has rows of its own."""
    return by + tuple(d for d in filters if d not in by)


def keep_filtered(
    rows: list[dict[str, Any]], by: tuple[str, ...], filters: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The rows of the filter values, without the dimensions only the filter asked for."""
    extra = [d for d in filters if d not in by]
    return [
        {k: v for k, v in r.items() if k not in extra}
        for r in rows
        if all(r.get(d) == v for d, v in filters.items())
    ]
