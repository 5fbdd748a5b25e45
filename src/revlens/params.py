"""Parameters as users type them (on the command line or in a URL) turned into typed values,
with one clear error each. The CLI and the HTTP API share these, so both accept the same."""

from __future__ import annotations

import datetime as dt

from revlens.compile.periods import add_months
from revlens.errors import RevlensError


def names(text: str | None) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c'); None or '' -> ()."""
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def parse_window(text: str, option: str) -> int:
    """'90d', '12w', '6m' or '1y' as days."""
    units = {"d": 1, "w": 7, "m": 30, "y": 365}
    body, unit = text[:-1], text[-1:].lower()
    if text.isdigit() and int(text) > 0:
        return int(text)
    if unit not in units or not body.isdigit() or int(body) == 0:
        raise RevlensError(
            f"{option} takes a length such as 90d, 12w, 6m or 1y",
            value=text,
            code="RL511",
            fix=f"e.g. {option} 90d",
        )
    return int(body) * units[unit]


def parse_day(text: str | None, option: str, *, month_end: bool = False) -> dt.date | None:
    """A day (2025-03-31) or a month (2025-03): its first day, or its last with `month_end`
    (so `--to 2025-03` covers March)."""
    if text is None or text == "":
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        first = dt.date.fromisoformat(text + "-01")
        return add_months(first, 1) - dt.timedelta(days=1) if month_end else first
    except ValueError:
        raise RevlensError(
            f"{option} takes a date such as 2025-03-31 (or a month 2025-03)",
            value=text,
            code="RL512",
            fix=f"e.g. {option} 2025-01-01",
        ) from None


def choice(value: str, option: str, allowed: tuple[str, ...], *, code: str = "RL601") -> str:
    """`value` if it is one of `allowed`, else an error listing them."""
    if value not in allowed:
        raise RevlensError(
            f"{option} must be one of {', '.join(allowed)}",
            value=value,
            code=code,
            fix=f"e.g. {option} {allowed[0]}",
        )
    return value


def period_bounds(
    period: str | None, start: str | None, end: str | None
) -> tuple[dt.date, dt.date]:
    """A target's period: a month (2025-03), quarter (2025-Q1) or year (2025), or from/to."""
    if start or end:
        lo, hi = parse_day(start, "--from"), parse_day(end, "--to", month_end=True)
        if lo is None or hi is None:
            raise RevlensError(
                "give both --from and --to",
                code="RL515",
                fix="e.g. --from 2025-01-01 --to 2025-03-31",
            )
        return lo, hi
    text = (period or "").strip().upper()
    try:
        if "-Q" in text:
            year, q = text.split("-Q")
            lo = dt.date(int(year), (int(q) - 1) * 3 + 1, 1)
            return lo, add_months(lo, 3) - dt.timedelta(days=1)
        if len(text) == 4:
            return dt.date(int(text), 1, 1), dt.date(int(text), 12, 31)
        lo = dt.date.fromisoformat(text + "-01")
        return lo, add_months(lo, 1) - dt.timedelta(days=1)
    except ValueError:
        raise RevlensError(
            "--period takes 2025-03, 2025-Q1 or 2025",
            value=period,
            code="RL516",
            fix="or give --from and --to",
        ) from None
