"""What a report covers: the date range, the trend grain and at most one value each of
channel, campaign and segment. The CLI and the server build it from the text users type
(`report_filters`), so both accept and refuse the same input."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, model_validator

from revlens.compile.periods import Grain, shifted
from revlens.errors import RevlensError
from revlens.params import parse_day
from revlens.service import grain_of

FILTER_DIMENSIONS = ("channel", "campaign", "segment")


class ReportFilters(BaseModel):
    """The report's range (None: the year to the newest data, as `revlens kpi`), the grain of
    the trend sheet and the dimension values the numbers are restricted to."""

    model_config = ConfigDict(frozen=True)

    start: dt.date | None = None
    end: dt.date | None = None
    grain: Grain = Grain.month
    channel: str | None = None
    campaign: str | None = None
    segment: str | None = None

    @model_validator(mode="after")
    def _order(self) -> ReportFilters:
        if self.start and self.end and self.start > self.end:
            raise RevlensError(
                "--from is after --to",
                value=f"{self.start} > {self.end}",
                code="RL903",
                fix="swap the dates",
            )
        return self

    def dimensions(self) -> dict[str, str]:
        """The filters as KpiQuery/FunnelQuery take them: dimension -> value."""
        values = {"channel": self.channel, "campaign": self.campaign, "segment": self.segment}
        return {k: v for k, v in values.items() if v}

    def range(self, data_end: dt.date) -> tuple[dt.date, dt.date]:
        """The inclusive range; without dates, the twelve months to `data_end` (run_kpis's)."""
        end = self.end or data_end
        start = self.start or shifted(end, 12) + dt.timedelta(days=1)
        if start > end:
            raise RevlensError(
                "--from is after the newest data",
                value=f"{start} > {end}",
                code="RL903",
                fix="give an earlier --from or a --to",
            )
        return start, end

    def describe(self) -> str:
        """The filters as one line for the report's header ('none' without any)."""
        dims = self.dimensions()
        return ", ".join(f"{k} = {v}" for k, v in dims.items()) if dims else "none"


def report_filters(
    *,
    start: str | None = None,
    end: str | None = None,
    grain: str | None = None,
    channel: str | None = None,
    campaign: str | None = None,
    segment: str | None = None,
) -> ReportFilters:
    """ReportFilters from text as typed on the command line or in a URL (`--to 2025-03`
    covers March); empty strings count as not given."""
    return ReportFilters(
        start=parse_day(start, "--from"),
        end=parse_day(end, "--to", month_end=True),
        grain=grain_of(grain) or Grain.month,
        channel=(channel or "").strip() or None,
        campaign=(campaign or "").strip() or None,
        segment=(segment or "").strip() or None,
    )
