"""Request and response bodies of the API. Rows carry one key per dimension asked for
(e.g. `channel`), so row models admit extra keys; the documented fields are always there."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    status: str = Field(description="ok when the warehouse opens")
    version: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    where: str | None = None
    value: str | None = None
    fix: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class KpiRow(Row):
    """One KPI for one period and dimension values; see docs/kpis.md."""

    kpi: str
    period_start: dt.date
    period_end: dt.date
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    unit: str
    mode: str
    target: float | None = None
    attainment: float | None = None
    previous_value: float | None = None
    change: float | None = None
    # the tables a web or email KPI's value came from (aggregates or events), e.g.
    # ["web_traffic", "touchpoints"]; absent for KPIs that read one kind of table only
    sources: list[str] | None = None


class CatalogEntry(BaseModel):
    id: str
    name: str
    kind: str
    unit: str
    direction: str
    formula: str
    description: str
    cohort: str | None
    tables: list[str]
    source: str | None


class FunnelRow(Row):
    """One stage of one cohort (or period) and dimension values."""

    stage: str
    count: float
    conversion_from_first: float | None = None
    conversion_from_previous: float | None = None


class AttributionRow(Row):
    """The credit one model gives one channel (or source, campaign, ad)."""

    model: str
    conversions: float | None = None
    value: float | None = None
    share: float | None = None


class PlanBody(BaseModel):
    direction: str
    per: str
    average_deal_size: float | None
    revenue: float | None
    rates: dict[str, Any]
    stages: list[dict[str, Any]]
    monthly: list[dict[str, Any]]
    scenario: dict[str, Any] | None
    targets_saved: int | None = None
    note: str | None = None


class PacingRow(Row):
    kpi: str
    period_start: dt.date
    period_end: dt.date
    as_of: dt.date
    actual: float | None
    target: float
    projected: float | None
    probability: float | None
    status: str
    method: str


class Target(BaseModel):
    kpi: str
    period_start: dt.date
    period_end: dt.date
    dimension: str | None = None
    dimension_value: str | None = None
    target: float


class TargetIn(BaseModel):
    """A target to set: a period (2025-03, 2025-Q1, 2025) or from/to, optionally for one
    value of one dimension."""

    model_config = ConfigDict(populate_by_name=True)

    kpi: str
    target: float
    period: str | None = None
    start: str | None = Field(default=None, alias="from")
    end: str | None = Field(default=None, alias="to")
    dimension: str | None = None
    value: str | None = None


class TargetKey(BaseModel):
    kpi: str
    period_start: dt.date
    period_end: dt.date
    dimension: str | None = None
    dimension_value: str | None = None


class Deleted(BaseModel):
    deleted: int


class ImportBody(BaseModel):
    """What an import did: per file and table, rows read = loaded + updated + rejected +
    skipped; lines that are not data (title, comment, summary) per file."""

    import_id: str
    committed: bool
    files: list[dict[str, Any]]


class LoginIn(BaseModel):
    token: str | None = None
    user: str | None = None
    password: str | None = None


class SessionBody(BaseModel):
    name: str
    role: str
    kind: str
    csrf_token: str | None
