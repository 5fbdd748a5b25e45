"""The JSON endpoints: one per question the CLI answers, with its parameters (`from`, `to`,
`grain`, `by`, ...) and its row shapes, through the same service functions."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)

from revlens import __version__, service
from revlens.api import models
from revlens.api.credentials import Principal
from revlens.api.security import (
    Admin,
    Viewer,
    authenticate,
    csrf_token,
    session_principal,
    start_session,
)
from revlens.attribution.registry import DEFAULT_MODELS
from revlens.cli.output import plain
from revlens.compile.query import run_kpis
from revlens.errors import RevlensError
from revlens.funnel.engine import run_funnel
from revlens.ingest.load import import_files
from revlens.ingest.mapping import Mapping, load_mapping
from revlens.ingest.recognise import recognise_file
from revlens.model.warehouse import IMPORTS_TABLE
from revlens.params import choice, parse_day
from revlens.plan.pacing import pacing_rows

router = APIRouter(prefix="/api")

From = Annotated[
    str | None, Query(alias="from", description="First day, e.g. 2025-01-01 or 2025-01.")
]
To = Annotated[str | None, Query(alias="to", description="Last day, included, or a month.")]
Grain = Annotated[str | None, Query(description="day, week, month, quarter or year.")]
By = Annotated[str | None, Query(description="Dimensions, comma-separated, e.g. channel.")]
Channel = Annotated[str | None, Query(description="Only this channel.")]
Campaign = Annotated[str | None, Query(description="Only this campaign.")]
Segment = Annotated[str | None, Query(description="Only this segment.")]


def _filters(channel: str | None, campaign: str | None, segment: str | None) -> dict[str, str]:
    return {
        k: v for k, v in (("channel", channel), ("campaign", campaign), ("segment", segment)) if v
    }


def _state(request: Request) -> Any:
    return request.app.state


@router.get("/health", response_model=models.Health, tags=["meta"])
def health(request: Request) -> models.Health:
    """Liveness, no token needed: ok when the warehouse opens."""
    with _state(request).access.read():
        pass
    return models.Health(status="ok", version=__version__)


@router.get("/catalog", response_model=list[models.CatalogEntry], tags=["kpis"])
def catalog(request: Request, _: Viewer) -> list[dict[str, Any]]:
    """Every KPI with its definition (`revlens kpis --format json`)."""
    return service.catalog_rows(_state(request).catalog)


@router.get(
    "/kpis", response_model=list[models.KpiRow], response_model_exclude_unset=True, tags=["kpis"]
)
def kpis(
    request: Request,
    _: Viewer,
    kpi: Annotated[str, Query(description="KPI ids, comma-separated (see /api/catalog).")],
    start: From = None,
    end: To = None,
    grain: Grain = None,
    by: By = None,
    mode: Annotated[str, Query(description="period or cohort.")] = "period",
    window: Annotated[str, Query(description="Cohort conversion window, e.g. 90d.")] = "90d",
    lookback: Annotated[str, Query(description="First-touch lookback, e.g. 90d.")] = "90d",
    attribution: Annotated[
        str,
        Query(description="Split over marketing dimensions: any attribution model but custom."),
    ] = "first_touch",
    compare: Annotated[str | None, Query(description="previous or year.")] = None,
    channel: Channel = None,
    campaign: Campaign = None,
    segment: Segment = None,
) -> list[dict[str, Any]]:
    """KPIs by period and dimension, with targets and comparisons (`revlens kpi`)."""
    state = _state(request)
    query = service.kpi_query(
        kpi,
        start=start,
        end=end,
        grain=grain,
        by=by,
        mode=mode,
        window=window,
        lookback=lookback,
        attribution=attribution,
        compare=compare,
        filters=_filters(channel, campaign, segment),
        project=state.config.catalog,
    )
    with state.access.read() as wh:
        return plain(run_kpis(wh, query, state.catalog).to_records())  # type: ignore[no-any-return]


@router.get(
    "/funnel",
    response_model=list[models.FunnelRow],
    response_model_exclude_unset=True,
    tags=["funnels"],
)
def funnel(
    request: Request,
    _: Viewer,
    stages: Annotated[str, Query(description="Stages in order, e.g. lead,mql,sql,customer.")] = (
        "lead,mql,sql,opportunity,customer"
    ),
    start: From = None,
    end: To = None,
    mode: Annotated[str, Query(description="cohort or period.")] = "cohort",
    window: Annotated[str, Query(description="Cohort conversion window, e.g. 90d.")] = "90d",
    grain: Grain = None,
    by: By = None,
    touch: Annotated[str, Query(description="first or last touch for marketing dims.")] = "first",
    lookback: Annotated[str, Query(description="Touch lookback, e.g. 90d.")] = "90d",
    order: Annotated[str, Query(description="ordered or strict.")] = "ordered",
    skips: Annotated[str | None, Query(description="pass or drop.")] = None,
    exclude: Annotated[str | None, Query(description="Stages that remove an entity.")] = None,
    entity: Annotated[str, Query(description="auto, contact or opportunity.")] = "auto",
    channel: Channel = None,
    campaign: Campaign = None,
    segment: Segment = None,
) -> list[dict[str, Any]]:
    """A stage funnel by cohort or period (`revlens funnel`)."""
    state = _state(request)
    query = service.funnel_query(
        stages,
        start=start,
        end=end,
        mode=mode,
        window=window,
        grain=grain,
        by=by,
        touch=touch,
        lookback=lookback,
        order=order,
        skips=skips,
        exclude=exclude,
        entity=entity,
        filters=_filters(channel, campaign, segment),
        project=state.config.catalog,
    )
    with state.access.read() as wh:
        return plain(run_funnel(wh, query).rows)  # type: ignore[no-any-return]


@router.get(
    "/attribution",
    response_model=list[models.AttributionRow],
    response_model_exclude_unset=True,
    tags=["attribution"],
)
def attribution(
    request: Request,
    _: Viewer,
    model: Annotated[str, Query(description="Models, comma-separated.")] = ",".join(DEFAULT_MODELS),
    conversion: Annotated[
        str, Query(description="lead, mql, sql, opportunity, customer, pipeline or revenue.")
    ] = "customer",
    level: Annotated[str, Query(description="channel, source, medium, campaign or ad.")] = (
        "channel"
    ),
    lookback: Annotated[str, Query(description="Touch lookback, e.g. 90d.")] = "90d",
    start: From = None,
    end: To = None,
    seed: Annotated[int, Query(ge=0, description="Seed of random draws.")] = 0,
) -> list[dict[str, Any]]:
    """Credit per channel under each model (`revlens attribution` over the warehouse)."""
    with _state(request).access.read() as wh:
        result, _source = service.warehouse_attribution(
            wh,
            model=model,
            conversion=conversion,
            level=level,
            lookback=lookback,
            start=start,
            end=end,
            seed=seed,
        )
    return plain(result.rows)  # type: ignore[no-any-return]


def plan_params(
    revenue_goal: Annotated[
        float | None, Query(description="Annual revenue goal (reverse plan).")
    ] = None,
    average_deal_size: Annotated[
        float | None, Query(description="Revenue per new customer.")
    ] = None,
    visits: Annotated[float | None, Query(description="Visits per period (forward plan).")] = None,
    rates: Annotated[str | None, Query(description="e.g. visit_to_lead=0.015,win_rate=0.5")] = None,
    from_history: Annotated[bool, Query(description="Measure rates, deal size and lags.")] = False,
    window: str = "12m",
    conversion_window: str = "180d",
    per: str = "month",
    scenario: str | None = None,
    start: Annotated[str | None, Query(description="First month of the plan.")] = None,
) -> dict[str, Any]:
    """The parameters of `revlens plan`, shared by reading and saving a plan."""
    return {
        "revenue_goal": revenue_goal,
        "average_deal_size": average_deal_size,
        "visits": visits,
        "rates": rates,
        "from_history": from_history,
        "window": window,
        "conversion_window": conversion_window,
        "per": choice(per, "--per", ("month", "quarter", "year"), code="RL764"),
        "scenario": scenario,
        "start": start,
    }


PlanParams = Annotated[dict[str, Any], Depends(plan_params)]


@router.get("/plan", response_model=models.PlanBody, tags=["planning"])
def plan(request: Request, _: Viewer, params: PlanParams) -> dict[str, Any]:
    """A reverse or forward funnel plan (`revlens plan --format json`)."""
    with _state(request).access.read() as wh:
        result, note = service.make_plan(wh, **params)
    return plain({**result.to_dict(), "targets_saved": None, "note": note})  # type: ignore[no-any-return]


@router.post("/plan", response_model=models.PlanBody, tags=["planning"])
def plan_save(request: Request, _: Admin, params: PlanParams) -> dict[str, Any]:
    """The same plan, saved as monthly targets (`revlens plan --save-targets`); admin."""
    with _state(request).access.write() as wh:
        result, note = service.make_plan(wh, **params)
        saved = service.save_plan_targets(wh, result)
    return plain({**result.to_dict(), "targets_saved": saved, "note": note})  # type: ignore[no-any-return]


@router.get(
    "/pacing",
    response_model=list[models.PacingRow],
    response_model_exclude_unset=True,
    tags=["planning"],
)
def pacing(
    request: Request,
    _: Viewer,
    period: Annotated[str | None, Query(description="The month, e.g. 2025-03.")] = None,
    as_of: Annotated[str | None, Query(description="Pace as of this day.")] = None,
    seed: Annotated[int, Query(ge=0, description="Seed of the simulation.")] = 7,
) -> list[dict[str, Any]]:
    """Progress to this month's targets with projection and status (`revlens pacing`)."""
    state = _state(request)
    with state.access.read() as wh:
        rows = pacing_rows(
            wh, period, as_of=parse_day(as_of, "--as-of"), seed=seed, catalog=state.catalog
        )
    return plain(rows)  # type: ignore[no-any-return]


@router.get("/targets", response_model=list[models.Target], tags=["targets"])
def targets(
    request: Request,
    _: Viewer,
    kpi: Annotated[str | None, Query(description="Only this KPI.")] = None,
) -> list[dict[str, Any]]:
    """Targets by KPI and period (`revlens targets list`)."""
    with _state(request).access.read() as wh:
        return plain(service.list_targets(wh, kpi))  # type: ignore[no-any-return]


def _set_target(request: Request, body: models.TargetIn) -> dict[str, Any]:
    state = _state(request)
    with state.access.write() as wh:
        row = service.set_target(
            wh,
            state.catalog,
            body.kpi,
            body.target,
            period=body.period,
            start=body.start,
            end=body.end,
            dimension=body.dimension,
            value=body.value,
            project=state.config.catalog,
        )
    return plain(row)  # type: ignore[no-any-return]


@router.post("/targets", response_model=models.Target, status_code=201, tags=["targets"])
def create_target(request: Request, _: Admin, body: models.TargetIn) -> dict[str, Any]:
    """Set a target (replacing one for the same KPI, period and dimension value); admin."""
    return _set_target(request, body)


@router.put("/targets", response_model=models.Target, tags=["targets"])
def replace_target(request: Request, _: Admin, body: models.TargetIn) -> dict[str, Any]:
    """Set or replace a target; admin."""
    return _set_target(request, body)


@router.delete("/targets", response_model=models.Deleted, tags=["targets"])
def delete_target(request: Request, _: Admin, body: models.TargetKey) -> models.Deleted:
    """Remove one target; 404 when there is none; admin."""
    with _state(request).access.write() as wh:
        n = service.delete_target(
            wh, body.kpi, body.period_start, body.period_end, body.dimension, body.dimension_value
        )
    if not n:
        raise HTTPException(404, detail="no such target")
    return models.Deleted(deleted=n)


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.post("/imports", response_model=models.ImportBody, tags=["imports"])
def upload(
    request: Request,
    _: Admin,
    file: Annotated[UploadFile, File(description="CSV, Parquet, JSONL or XLSX.")],
    table: Annotated[str | None, Form(description="Canonical table, column for column.")] = None,
    mapping: Annotated[
        str | None,
        Form(
            description="A built-in mapping name; without table or mapping, a known export "
            "(HubSpot, Google Ads, GA4, ...) is recognised by its header."
        ),
    ] = None,
    on_error: Annotated[str, Form(description="reject or abort.")] = "reject",
) -> dict[str, Any]:
    """Import one file (`revlens import`): the counts per table and the rejected rows, and
    the mapping used (`files[].mapping`); admin."""
    if table is not None and mapping is not None:
        raise RevlensError(
            "give table or mapping, not both",
            code="RL010",
            fix="send the form field table=contacts or mapping=hubspot-contacts, or neither "
            "to have a known export recognised",
        )
    mode = choice(on_error, "on_error", ("reject", "abort"), code="RL011")
    if mapping is not None and (
        "/" in mapping or "\\" in mapping or mapping.endswith((".yml", ".yaml"))
    ):
        raise RevlensError(
            "the API takes built-in mapping names only",
            value=mapping,
            code="RL013",
            fix="see `revlens mappings`; import custom mappings with the CLI",
        )
    mapping_obj = load_mapping(mapping) if mapping else None
    name = SAFE_NAME.sub("_", Path(file.filename or "upload").name) or "upload"
    with tempfile.TemporaryDirectory(prefix="revlens-upload-") as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
        if table is None and mapping_obj is None:
            mapping_obj = _recognised(path)
        with _state(request).access.write() as wh:
            result = import_files(wh, [path], table=table, mapping=mapping_obj, on_error=mode)  # type: ignore[arg-type]
    return plain(result.to_dict())  # type: ignore[no-any-return]


def _recognised(path: Path) -> Mapping:
    """The built-in mapping an uploaded file is recognised as; else the CLI's RL114 error
    (which names the closest mappings and tables) with the fix in the form's words."""
    try:
        return recognise_file(path).mapping
    except RevlensError as exc:
        raise RevlensError(
            exc.message,
            value=exc.value,
            code=exc.code,
            fix="send the form field mapping=NAME (a built-in mapping: the closest are named "
            "above, `revlens mappings` lists all) or table=NAME for a file already in "
            "canonical columns",
        ) from None


@router.get("/imports", tags=["imports"])
def imports_log(request: Request, _: Viewer) -> list[dict[str, Any]]:
    """The import log, newest first: file, table, rows read, loaded, updated, rejected."""
    names = (
        "import_id",
        "started_at",
        "source",
        "target",
        "rows_read",
        "rows_loaded",
        "rows_updated",
        "rows_rejected",
    )
    with _state(request).access.read() as wh:
        rows = wh.con.execute(
            f"SELECT {', '.join(names)} FROM {IMPORTS_TABLE} ORDER BY started_at DESC LIMIT 200"
        ).fetchall()
    return plain([dict(zip(names, r, strict=True)) for r in rows])  # type: ignore[no-any-return]


@router.post("/session", response_model=models.SessionBody, tags=["session"])
def login(request: Request, body: models.LoginIn) -> models.SessionBody:
    """Log in with a token or a user and password: sets the session cookie. Failed
    attempts are rate-limited per client (429 with Retry-After)."""
    principal = authenticate(request, body.token, body.user, body.password)
    csrf = start_session(request, principal)
    return _session_body(principal, csrf)


@router.get("/session", response_model=models.SessionBody, tags=["session"])
def whoami(request: Request) -> models.SessionBody:
    """The logged-in principal and the CSRF token to send with writes; 401 without one."""
    principal = session_principal(request)
    if principal is None:
        raise HTTPException(401, detail="not logged in")
    return _session_body(principal, csrf_token(request))


@router.delete("/session", status_code=204, tags=["session"])
def logout(request: Request) -> Response:
    """End the session (the cookie is cleared)."""
    request.session.clear()
    return Response(status_code=204)


def _session_body(principal: Principal, csrf: str | None) -> models.SessionBody:
    return models.SessionBody(
        name=principal.name, role=principal.role.value, kind=principal.kind, csrf_token=csrf
    )
