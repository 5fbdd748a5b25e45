"""The Jinja2 environment of the dashboard: templates from the package, autoescaping always
on, undefined names an error (not an empty string), and filters that format numbers the way
the CLI prints them."""

from __future__ import annotations

import json
import math
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates

from revlens.cli.output import format_value

STATUS_TEXT = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "none": "no target",
}


def number(value: Any, unit: str = "count") -> str:
    """A value as people read it: 1,659 / 1,992,176.44 / 34.3% / n/a."""
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return format_value(value, unit)


def compact(value: Any, unit: str = "count") -> str:
    """A headline value: large numbers rounded (1.99M, 112.1k), rates as %, the full value
    is in the card's table row and data-value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "percent":
        return f"{value:.1%}"
    size = abs(float(value))
    if size >= 1e9:
        return f"{value / 1e9:,.2f}B"
    if size >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:,.1f}k"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def percent(value: Any) -> str:
    return number(value, "percent")


def signed_percent(value: Any) -> str:
    """A change: +23.7% / -7.5%; n/a without a previous value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:+.1%}"


def raw(value: Any) -> str:
    """A number for a data-* attribute: exact (repr), empty for None."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return json.dumps(value)


def status_text(status: str) -> str:
    return STATUS_TEXT.get(status, status)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("revlens.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=number,
        compact=compact,
        percent=percent,
        signed_percent=signed_percent,
        raw=raw,
        status_text=status_text,
    )
    return env


templates = Jinja2Templates(env=environment())
