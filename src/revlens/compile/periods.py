"""Reporting periods: grains (with a configurable week start and fiscal-year start), the
buckets of a date range, and the shifts used for previous-period and year-ago comparisons."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import ibis


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


@dataclass(frozen=True)
class Calendar:
    """How weeks and fiscal years start (ISO weekday 1 = Monday; month 1 = January)."""

    week_start: int = 1
    fiscal_year_start_month: int = 1


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (clipped to the month's last day)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def bucket_start(day: dt.date, grain: Grain, cal: Calendar) -> dt.date:
    """The first day of the bucket of `grain` that holds `day`."""
    if grain is Grain.day:
        return day
    if grain is Grain.week:
        return day - dt.timedelta(days=(day.isoweekday() - cal.week_start) % 7)
    if grain is Grain.month:
        return day.replace(day=1)
    shift = cal.fiscal_year_start_month - 1
    shifted = add_months(day.replace(day=1), -shift)
    if grain is Grain.quarter:
        shifted = shifted.replace(month=((shifted.month - 1) // 3) * 3 + 1)
    else:
        shifted = shifted.replace(month=1)
    return add_months(shifted, shift)


def next_bucket(start: dt.date, grain: Grain) -> dt.date:
    if grain is Grain.day:
        return start + dt.timedelta(days=1)
    if grain is Grain.week:
        return start + dt.timedelta(days=7)
    return add_months(start, {Grain.month: 1, Grain.quarter: 3, Grain.year: 12}[grain])


@dataclass(frozen=True)
class Period:
    """One reporting row's dates, both included; `bucket` is the unclipped bucket start."""

    start: dt.date
    end: dt.date
    bucket: dt.date


def periods(start: dt.date, end: dt.date, grain: Grain | None, cal: Calendar) -> list[Period]:
    """The buckets covering [start, end], clipped to it; one period without a grain."""
    if grain is None:
        return [Period(start, end, start)]
    out = []
    bucket = bucket_start(start, grain, cal)
    while bucket <= end:
        nxt = next_bucket(bucket, grain)
        out.append(Period(max(bucket, start), min(nxt - dt.timedelta(days=1), end), bucket))
        bucket = nxt
    return out


def bucket_expr(ts: Any, grain: Grain | None, cal: Calendar, start: dt.date) -> Any:
    """An Ibis date expression: the bucket start of timestamp `ts` (the range start without
    a grain). Runs in the engine; mirrors `bucket_start`."""
    if grain is None:
        return ibis.literal(start, type="date")
    day = ts.cast("date")
    if grain is Grain.day:
        return day
    if grain is Grain.week:
        offset = cal.week_start - 1
        shifted = day - ibis.interval(days=offset) if offset else day
        week = shifted.truncate("W")
        return (week + ibis.interval(days=offset) if offset else week).cast("date")
    shift = cal.fiscal_year_start_month - 1
    unit = "Q" if grain is Grain.quarter else ("Y" if grain is Grain.year else "M")
    if grain is Grain.month or shift == 0:
        return day.truncate(unit).cast("date")
    moved = (day - ibis.interval(months=shift)).truncate(unit)
    return (moved + ibis.interval(months=shift)).cast("date")


def shift_back(
    start: dt.date, end: dt.date, grain: Grain | None, compare: str
) -> int | dt.timedelta:
    """How far back the comparison range lies: months (an int) or a timedelta."""
    if compare == "year":
        # days and weeks compare with the same weekday a year before (52 weeks), as GA4 does
        return dt.timedelta(days=364) if grain in (Grain.day, Grain.week) else 12
    if grain is None:
        return (end - start) + dt.timedelta(days=1)
    if grain is Grain.day:
        return dt.timedelta(days=1)
    if grain is Grain.week:
        return dt.timedelta(days=7)
    return {Grain.month: 1, Grain.quarter: 3, Grain.year: 12}[grain]


def shifted(day: dt.date, by: int | dt.timedelta, sign: int = -1) -> dt.date:
    if isinstance(by, int):
        return add_months(day, sign * by)
    return day + sign * by
