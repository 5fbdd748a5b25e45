"""KPI queries: a catalogue spec and a query (range, grain, dimensions, mode, comparison)
become Ibis expressions over the measures; the engine aggregates, and only one small table
per measure comes back to Python, where ratios, derived KPIs, targets and comparisons are
put together into tidy rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import ibis
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from revlens.attribution.base import AttributionModel, DataDrivenModel
from revlens.catalog.dimensions import Grouping
from revlens.catalog.spec import Catalog, Direction, Kind, KpiSpec, evaluate
from revlens.compile.context import (
    CONTACT_DIMS,
    DIMENSIONS,
    MARKETING_DIMS,
    Context,
    union_all,
)
from revlens.compile.credit import fitted_channel_weights, is_single_touch, kpi_model, model_of
from revlens.compile.filters import check_filters, keep_filtered, widened
from revlens.compile.measures import MEASURES, Measure, family_events
from revlens.compile.periods import (
    Calendar,
    Grain,
    bucket_expr,
    periods,
    shift_back,
    shifted,
)
from revlens.errors import RevlensError, UnknownName
from revlens.model.warehouse import Reader

Mode = Literal["period", "cohort"]
Key = tuple[dt.date, tuple[str | None, ...]]


class KpiQuery(BaseModel):
    """What to compute. Dates are inclusive; without a grain one row covers the range."""

    model_config = ConfigDict(frozen=True)

    kpis: tuple[str, ...]
    start: dt.date | None = None
    end: dt.date | None = None
    grain: Grain | None = None
    by: tuple[str, ...] = ()
    mode: Mode = "period"
    window_days: int = 90
    lookback_days: int = 90
    compare: Literal["previous", "year"] | None = None
    # how a conversion is split over marketing dimensions: any model of compile.credit
    attribution: str = "first_touch"
    # Dimensions defined as a grouping of another one, e.g. manager = map of owner
    groupings: dict[str, Grouping] = {}
    # Only the rows of one value per dimension, e.g. {"channel": "paid_search"}
    filters: dict[str, str] = {}

    @field_validator("attribution")
    @classmethod
    def _model(cls, value: str) -> str:
        return kpi_model(value)

    @model_validator(mode="after")
    def _dims(self) -> KpiQuery:
        known = [*DIMENSIONS, *self.groupings]
        for dim in self.by:
            if dim not in known:
                raise UnknownName("dimension", dim, known)
        check_filters(self.filters, known)
        return self

    def base_dims(self) -> list[str]:
        """The dimensions to fetch: a grouping's base instead of the grouping."""
        out: list[str] = []
        for dim in self.by:
            base = self.groupings[dim].base if dim in self.groupings else dim
            if base not in out:
                out.append(base)
        return out


@dataclass
class KpiResult:
    """Tidy rows, one per KPI × period × dimension values, plus what was asked."""

    query: KpiQuery
    start: dt.date
    end: dt.date
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.rows)


# what `prefetch` passes to `_with_dims` after the touch: every marketing dimension is there
_TOUCHED = replace(MEASURES["leads"], direct=frozenset(MARKETING_DIMS))


@dataclass
class _Agg:
    """A measure aggregated per key: value (sum, distinct count, snapshot or median), mean."""

    values: dict[Key, float | None]
    means: dict[Key, float | None]
    # per key, the tables that fed it (measures with `sources` only)
    sources: dict[Key, tuple[str, ...]] = field(default_factory=dict)


def run_kpis(wh: Reader, query: KpiQuery, catalog: Catalog) -> KpiResult:
    """Compute the KPIs of `query`, with targets and the comparison when asked."""
    if query.filters:
        inner = query.model_copy(update={"by": widened(query.by, query.filters), "filters": {}})
        result = run_kpis(wh, inner, catalog)
        rows = keep_filtered(result.rows, query.by, query.filters)
        return KpiResult(
            query.model_copy(update={"kpis": inner.kpis}), result.start, result.end, rows
        )
    specs = [catalog.get(k) for k in query.kpis]
    query = query.model_copy(update={"kpis": tuple(s.id for s in specs)})
    ctx = query_context(wh, query)
    try:
        start, end = _range(ctx, query)
        if start > end:
            raise RevlensError(
                "--from is after --to", value=f"{start} > {end}", code="RL510", fix="swap the dates"
            )
        current = _Evaluator(ctx, catalog, query, start, end).rows(specs)
        if query.compare:
            by = shift_back(start, end, query.grain, query.compare)
            prev = _Evaluator(ctx, catalog, query, shifted(start, by), shifted(end, by))
            _attach_previous(current, prev.rows(specs), by, query)
        _attach_targets(wh, current, specs, query)
    finally:
        ctx.release()
    for row in current:
        row.pop("_bucket", None)
    return KpiResult(query, start, end, current)


def query_context(wh: Reader, query: KpiQuery) -> Context:
    """The context of one query: first touches resolve only the marketing dimensions it
    groups by, and sessions skip resolving contacts when it asks for no contact dimension."""
    base = query.base_dims()
    return Context(
        wh,
        lookback_days=query.lookback_days,
        window_days=query.window_days,
        marketing_dims=tuple(d for d in MARKETING_DIMS if d in base),
        contact_dims=any(d in CONTACT_DIMS for d in base),
    )


def _range(ctx: Context, query: KpiQuery) -> tuple[dt.date, dt.date]:
    end = query.end or ctx.data_end()
    if query.start:
        return query.start, end
    year_ago = shifted(end, 12) + dt.timedelta(days=1)
    return year_ago, end


class _Evaluator:
    """Evaluates measures and KPIs for one range; measures are computed once each."""

    def __init__(
        self, ctx: Context, catalog: Catalog, query: KpiQuery, start: dt.date, end: dt.date
    ) -> None:
        self.ctx, self.catalog, self.query = ctx, catalog, query
        self.start, self.end = start, end
        settings = ctx.settings
        self.cal = Calendar(settings.week_start, settings.fiscal_year_start_month)
        self.periods = periods(start, end, query.grain, self.cal)
        self.by_bucket = {p.bucket: p for p in self.periods}
        self.measures: dict[tuple[str, tuple[tuple[str, float], ...]], _Agg] = {}
        self.kpi_values: dict[str, dict[Key, dict[str, Any]]] = {}
        self._data_end: dt.date | None = None

    # -- measures -----------------------------------------------------------------------
    def measure(self, name: str, params: dict[str, float]) -> _Agg:
        m = MEASURES[name]
        merged = {**m.defaults, **params}
        key = (name, tuple(sorted(merged.items())))
        if key not in self.measures:
            self.measures[key] = self._aggregate(m, merged)
        return self.measures[key]

    def _with_dims(self, events: Any, m: Measure) -> Any:
        """Add the requested dimensions the measure does not carry itself, then the
        groupings of them (e.g. manager from owner)."""
        need = [d for d in self.query.base_dims() if d not in m.direct]
        if any(d in MARKETING_DIMS for d in need):
            name = self.query.attribution
            if is_single_touch(name):
                events = self.ctx.touch_dims(events, "first" if name == "first_touch" else "last")
            else:
                events = self._split(events, model_of(name))
        contact_need = [d for d in need if d in CONTACT_DIMS or d == "product"]
        if contact_need:
            c = self.ctx.table("contacts").select(
                c_id="contact_id",
                c_segment="segment",
                c_country="country",
                c_owner="owner",
                c_account="account_id",
            )
            joined = events.left_join(c, events.contact_id == c.c_id)
            events = joined.mutate(
                **{
                    d: joined[f"c_{d}"] if d in CONTACT_DIMS else ibis.null().cast("string")
                    for d in contact_need
                }
            ).drop("c_id", "c_segment", "c_country", "c_owner", "c_account")
        for name, grouping in self.query.groupings.items():
            if name in self.query.by:
                events = events.mutate(
                    **{name: events[grouping.base].substitute(grouping.mapping, else_=None)}
                )
        return events

    def _split(self, events: Any, model: AttributionModel) -> Any:
        """`events` split over their touches by `model`; a data-driven model is first
        fitted to the journeys of these events in the range."""
        weights = None
        if isinstance(model, DataDrivenModel):
            lo, hi = self._bounds()
            moments = events.group_by(["contact_id", "ts"]).aggregate(value=events.value.sum())
            weights = fitted_channel_weights(self.ctx, moments, model, lo, hi)
        return self.ctx.split_touch_dims(events, model, weights)

    def _bounds(self) -> tuple[Any, Any]:
        """The range as timestamps [lo, hi)."""
        lo = ibis.timestamp(dt.datetime.combine(self.start, dt.time()))
        hi = ibis.timestamp(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()))
        return lo, hi

    def _needed(
        self, name: str, params: dict[str, float], out: dict[tuple[Any, ...], Measure]
    ) -> None:
        """The measures (keyed as `measure` keys them) that a KPI or measure name needs."""
        measure_name, spec = self.resolve(name)
        if measure_name:
            m = MEASURES[measure_name]
            merged = {**m.defaults, **(spec.params if spec else {}), **params}
            out[(measure_name, tuple(sorted(merged.items())))] = m
            return
        assert spec is not None
        names, own = _formula_parts(spec)
        if own:  # a snapshot or distribution KPI: its own measure
            m = MEASURES[own]
            merged = {**m.defaults, **spec.params, **params}
            out[(own, tuple(sorted(merged.items())))] = m
            return
        for n in names:
            self._needed(n, spec.params, out)

    def prefetch(self, specs: list[KpiSpec]) -> None:
        """Aggregate, in ONE query, every summed event measure of `specs` that needs the
        first (or last) touch's marketing dimensions: their events tagged with the measure's
        name (UNION ALL), summed per (measure, contact, time), one range join against the
        touchpoints, the touch per row, then summed per (measure, period, dimensions). The
        results go where `measure` finds them; other measures take their own path."""
        base = self.query.base_dims()
        wanted = [d for d in MARKETING_DIMS if d in base]
        if not wanted or self.query.mode != "period" or not is_single_touch(self.query.attribution):
            return
        needed: dict[tuple[Any, ...], Measure] = {}
        for spec in specs:
            self._needed(spec.id, {}, needed)
        lo, hi = self._bounds()
        parts: list[Any] = []
        tags: dict[str, tuple[Any, ...]] = {}
        for key, m in needed.items():
            if (
                key in self.measures
                or m.style != "event"
                or m.distinct
                or m.per_entity
                or any(d in m.direct for d in base)  # the batch takes every dimension
                or m.sources  # the batch does not carry which table a row came from
                or all(d in m.direct for d in wanted)  # needs no touch
            ):
                continue
            tag = f"{len(tags)}"
            e = m.build(self.ctx, dict(key[1]))
            e = e.filter((e.ts >= lo) & (e.ts < hi))
            parts.append(e.select("contact_id", "ts", "value", _m=ibis.literal(tag)))
            tags[tag] = key
        if not parts:
            return
        events = union_all(*parts)
        events = events.group_by(["_m", "contact_id", "ts"]).aggregate(value=events.value.sum())
        which = "first" if self.query.attribution == "first_touch" else "last"
        by = list(self.query.by)

        def summed() -> Any:
            touched = self.ctx.touch_dims(events, which, unique_rows=True)
            touched = self._with_dims(touched, _TOUCHED)  # contact dimensions and groupings
            touched = touched.mutate(
                bucket=bucket_expr(touched.ts, self.query.grain, self.cal, self.start)
            )
            sums = touched.group_by(["_m", "bucket", *by]).aggregate(value=touched.value.sum())
            return sums.execute()

        df = self.ctx.ranked_if_out_of_memory(summed)
        values: dict[str, dict[Key, float | None]] = {tag: {} for tag in tags}
        for r in df.to_dict("records"):
            period = self.by_bucket.get(_date(r["bucket"]))
            if period is not None:
                values[r["_m"]][(period.start, tuple(_dim(r[d]) for d in by))] = _num(r["value"])
        for tag, key in tags.items():
            self.measures[key] = _Agg(values[tag], {})

    def prefetch_families(self, specs: list[KpiSpec]) -> None:
        """Sum the measures of `specs` that are variants of one family's rows (sessions,
        bounced sessions, pageviews, ...) in one scan of those rows per family, where each
        would take its own query; only when no variant needs a touch's dimensions (a split
        would not carry the variants' columns). The results go where `measure` finds them."""
        needed: dict[tuple[Any, ...], Measure] = {}
        for spec in specs:
            self._needed(spec.id, {}, needed)
        touched = [d for d in self.query.base_dims() if d in MARKETING_DIMS]
        families: dict[str, list[tuple[tuple[Any, ...], Measure]]] = {}
        for key, m in needed.items():
            if key in self.measures or m.variant is None or any(d not in m.direct for d in touched):
                continue
            families.setdefault(m.variant.family, []).append((key, m))
        for family, members in families.items():
            if len(members) > 1:
                self._family(family, members)

    def _family(self, family: str, members: list[tuple[tuple[Any, ...], Measure]]) -> None:
        variants = [m.variant for _, m in members if m.variant is not None]
        events = family_events(self.ctx, family, variants)
        lo, hi = self._bounds()
        events = events.filter((events.ts >= lo) & (events.ts < hi))
        events = self._with_dims(events, members[0][1])
        events = events.mutate(
            bucket=bucket_expr(events.ts, self.query.grain, self.cal, self.start)
        )
        sums: dict[str, Any] = {}
        for i, (_, m) in enumerate(members):
            keep = events[f"_keep{i}"]
            sums[f"v{i}"] = events[f"_value{i}"].sum(where=keep)
            sums[f"n{i}"] = events.count(where=keep)
            sums.update(_source_counts(events, m, f"s{i}_", keep))
        by = list(self.query.by)
        df = events.group_by(["bucket", *by]).aggregate(**sums).execute()
        values: list[dict[Key, float | None]] = [{} for _ in members]
        fed: list[dict[Key, tuple[str, ...]]] = [{} for _ in members]
        for r in df.to_dict("records"):
            period = self.by_bucket.get(_date(r["bucket"]))
            if period is None:
                continue
            cell = (period.start, tuple(_dim(r[d]) for d in by))
            for i, found in enumerate(values):
                if r[f"n{i}"] > 0:  # as a query of its own: a key only where it kept a row
                    found[cell] = _num(r[f"v{i}"])
                    fed[i][cell] = _sources_fed(r, members[i][1], f"s{i}_")
        for (key, _), found, src in zip(members, values, fed, strict=True):
            self.measures[key] = _Agg(found, {}, src)

    def _aggregate(self, m: Measure, params: dict[str, float]) -> _Agg:
        by = list(self.query.by)
        if m.style == "snapshot":
            table = ibis.memtable(
                {
                    "p_start": [p.start for p in self.periods],
                    "p_end": [p.end for p in self.periods],
                },
                schema={"p_start": "date", "p_end": "date"},
            )
            rows = m.build(self.ctx, params, table)
            for d in self.query.base_dims():
                if d not in rows.columns:
                    rows = rows.mutate(**{d: ibis.null().cast("string")})
            rows = self._with_dims(rows.mutate(ts=rows.p_start.cast("timestamp")), m)
            grouped = rows.group_by(["p_start", *by]).aggregate(value=rows.value.sum())
            df = grouped.execute()
            snapshot: dict[Key, float | None] = {
                (_date(r["p_start"]), tuple(_dim(r[d]) for d in by)): float(r["value"])
                for r in df.to_dict("records")
            }
            return _Agg(snapshot, {})
        events = m.build(self.ctx, params)
        lo, hi = self._bounds()
        events = events.filter((events.ts >= lo) & (events.ts < hi))
        events = self._with_dims(events, m)
        events = events.mutate(
            bucket=bucket_expr(events.ts, self.query.grain, self.cal, self.start)
        )
        if m.per_entity:  # one value per entity and bucket: its largest
            events = events.group_by(["bucket", *by, "entity"]).aggregate(value=events.value.max())
        group = events.group_by(["bucket", *by])
        fed_by = _source_counts(events, m, "s_")
        if m.style == "distribution":
            agg = group.aggregate(value=events.value.median(), mean=events.value.mean(), **fed_by)
        elif m.distinct:
            agg = group.aggregate(value=events.entity.nunique().cast("float64"), **fed_by)
        else:
            agg = group.aggregate(value=events.value.sum(), **fed_by)
        df = agg.execute()
        values: dict[Key, float | None] = {}
        means: dict[Key, float | None] = {}
        fed: dict[Key, tuple[str, ...]] = {}
        for r in df.to_dict("records"):
            bucket = _date(r["bucket"])
            period = self.by_bucket.get(bucket)
            if period is None:
                continue
            key = (period.start, tuple(_dim(r[d]) for d in by))
            values[key] = _num(r["value"])
            if m.style == "distribution":
                means[key] = _num(r["mean"])
            if m.sources:
                fed[key] = _sources_fed(r, m, "s_")
        return _Agg(values, means, fed)

    def cohort(self, spec: KpiSpec) -> tuple[_Agg, _Agg]:
        """Of the contacts entering `from_stage` in each period, those reaching `to_stage`
        within the window (even after the range ends), keyed by entry period."""
        assert spec.cohort is not None
        ctx = self.ctx
        sd = ctx.stage_dates()
        entered = sd.filter(sd.stage == ctx.stage(spec.cohort.from_stage))
        reached = sd.filter(sd.stage == ctx.stage(spec.cohort.to_stage)).select(
            r_contact="contact_id", r_ts="ts"
        )
        joined = entered.left_join(reached, entered.contact_id == reached.r_contact)
        window = ibis.interval(days=self.query.window_days)
        converted = (
            joined.r_ts.notnull() & (joined.r_ts >= joined.ts) & (joined.r_ts <= joined.ts + window)
        )
        from revlens.compile.measures import events as to_events

        rows = to_events(
            joined, joined.ts, ibis.cases((converted, 1.0), else_=0.0), contact=joined.contact_id
        )
        lo, hi = self._bounds()
        rows = rows.filter((rows.ts >= lo) & (rows.ts < hi))
        rows = self._with_dims(rows, MEASURES["leads"])
        rows = rows.mutate(bucket=bucket_expr(rows.ts, self.query.grain, self.cal, self.start))
        by = list(self.query.by)
        df = (
            rows.group_by(["bucket", *by])
            .aggregate(num=rows.value.sum(), den=rows.count())
            .execute()
        )
        num: dict[Key, float | None] = {}
        den: dict[Key, float | None] = {}
        for r in df.to_dict("records"):
            period = self.by_bucket.get(_date(r["bucket"]))
            if period is None:
                continue
            key = (period.start, tuple(_dim(r[d]) for d in by))
            num[key], den[key] = float(r["num"]), float(r["den"])
        return _Agg(num, {}), _Agg(den, {})

    @property
    def data_end(self) -> dt.date:
        if self._data_end is None:
            self._data_end = self.ctx.data_end()
        return self._data_end

    # -- KPIs ---------------------------------------------------------------------------
    def resolve(self, name: str) -> tuple[str, KpiSpec | None]:
        """A formula name as ('measure', None) or ('kpi', spec)."""
        if name in self.catalog.kpis:
            spec = self.catalog.kpis[name]
            if spec.formula.measure and spec.kind in (Kind.count, Kind.sum):
                return spec.formula.measure, spec
            return "", spec
        return name, None

    def operand(self, name: str, params: dict[str, float]) -> dict[Key, float | None]:
        measure_name, spec = self.resolve(name)
        if measure_name:
            merged = {**(spec.params if spec else {}), **params}
            return dict(self.measure(measure_name, merged).values)
        assert spec is not None
        return {k: v["value"] for k, v in self.kpi(spec).items()}

    def kpi(self, spec: KpiSpec) -> dict[Key, dict[str, Any]]:
        if spec.id in self.kpi_values:
            return self.kpi_values[spec.id]
        out: dict[Key, dict[str, Any]] = {}
        row: dict[str, Any]
        f = spec.formula
        cohort = self.query.mode == "cohort" and spec.cohort is not None
        if cohort:
            num_agg, den_agg = self.cohort(spec)
            out = self._ratio(num_agg.values, den_agg.values)
            for key, ratio_row in out.items():
                ratio_row["mode"] = "cohort"
                # younger than the window: later conversions may still come
                window_end = self._period_end(key[0]) + dt.timedelta(days=self.query.window_days)
                ratio_row["immature"] = window_end > self.data_end
        elif spec.kind is Kind.ratio:
            assert f.numerator and f.denominator
            out = self._ratio(
                self.operand(f.numerator, spec.params), self.operand(f.denominator, spec.params)
            )
        elif spec.kind is Kind.derived:
            assert f.expression
            names = _names(f.expression)
            parts = {n: self.operand(n, spec.params) for n in names}
            keys = self._keys(*parts.values())
            for key in keys:
                values = {n: parts[n].get(key, self._missing(n)) for n in names}
                out[key] = {
                    "value": evaluate(f.expression, values),
                    "numerator": None,
                    "denominator": None,
                }
        else:
            assert f.measure
            agg = self.measure(f.measure, spec.params)
            default = 0.0 if spec.kind in (Kind.count, Kind.sum) else None
            if spec.kind is Kind.snapshot and MEASURES[f.measure].name in (
                "pipeline_value",
                "weighted_pipeline",
                "mrr",
            ):
                default = 0.0
            for key in self._keys(agg.values):
                row = {
                    "value": agg.values.get(key, default),
                    "numerator": None,
                    "denominator": None,
                }
                if spec.kind is Kind.distribution:
                    row["mean"] = agg.means.get(key)
                out[key] = row
        for row in out.values():
            row.setdefault("mode", "period")
        self.kpi_values[spec.id] = out
        return out

    def sources(self, name: str, params: dict[str, float]) -> dict[Key, tuple[str, ...]] | None:
        """Per key, the tables that fed the measures of KPI or measure `name` (in the order
        the measures declare them), or None when none of its measures reads an aggregate
        table beside the events (`Measure.sources`). Measures are already computed."""
        measure_name, spec = self.resolve(name)
        if measure_name:
            m = MEASURES[measure_name]
            if not m.sources:
                return None
            merged = {**(spec.params if spec else {}), **params}
            return dict(self.measure(measure_name, merged).sources)
        assert spec is not None
        if self.query.mode == "cohort" and spec.cohort is not None:
            return None
        names, own = _formula_parts(spec)
        if own:  # a snapshot or distribution KPI: its own measure
            if not MEASURES[own].sources:
                return None
            return dict(self.measure(own, {**spec.params, **params}).sources)
        parts = [p for p in (self.sources(n, spec.params) for n in names) if p is not None]
        if not parts:
            return None
        order = list(dict.fromkeys(t for n in names for t in _declared_sources(self, n)))
        out: dict[Key, tuple[str, ...]] = {}
        for key in {k for part in parts for k in part}:
            fed = {t for part in parts for t in part.get(key, ())}
            out[key] = tuple(t for t in order if t in fed)
        return out

    def _missing(self, name: str) -> float | None:
        _, spec = self.resolve(name)
        if spec is None or spec.kind in (Kind.count, Kind.sum):
            return 0.0
        return None

    def _ratio(
        self, num: dict[Key, float | None], den: dict[Key, float | None]
    ) -> dict[Key, dict[str, Any]]:
        out = {}
        for key in self._keys(num, den):
            n, d = num.get(key, 0.0), den.get(key, 0.0)
            value = None if n is None or d is None or d == 0 else n / d
            out[key] = {"value": value, "numerator": n, "denominator": d}
        return out

    def _keys(self, *parts: dict[Key, Any]) -> list[Key]:
        """Every period × every dimension combination seen in any part: a complete grid."""
        combos = {k[1] for part in parts for k in part}
        if not self.query.by:
            combos = {()}
        return sorted(
            ((p.start, c) for p in self.periods for c in combos),
            key=lambda k: (k[0], tuple("" if v is None else v for v in k[1])),
        )

    def _period_end(self, start: dt.date) -> dt.date:
        for p in self.periods:
            if p.start == start:
                return p.end
        return start

    def rows(self, specs: list[KpiSpec]) -> list[dict[str, Any]]:
        self.prefetch(specs)
        self.prefetch_families(specs)
        out = []
        for spec in specs:
            computed = self.kpi(spec)
            fed = self.sources(spec.id, {})
            for key, values in computed.items():
                period = next(p for p in self.periods if p.start == key[0])
                row: dict[str, Any] = {
                    "kpi": spec.id,
                    "period_start": period.start,
                    "period_end": period.end,
                }
                row.update(dict(zip(self.query.by, key[1], strict=True)))
                row["value"] = values["value"]
                row["numerator"] = values["numerator"]
                row["denominator"] = values["denominator"]
                row["unit"] = spec.unit.value
                row["mode"] = values["mode"]
                if "mean" in values:
                    row["mean"] = values["mean"]
                if "immature" in values:
                    row["immature"] = bool(values["immature"])
                if fed is not None:  # which tables fed the value (aggregates or events)
                    row["sources"] = list(fed.get(key, ()))
                row["_bucket"] = period.bucket
                out.append(row)
        return out


def _declared_sources(evaluator: _Evaluator, name: str) -> tuple[str, ...]:
    """The tables the measures of KPI or measure `name` may read, in declaration order."""
    measure_name, spec = evaluator.resolve(name)
    if measure_name:
        return MEASURES[measure_name].sources
    assert spec is not None
    if spec.kind not in (Kind.ratio, Kind.derived):
        assert spec.formula.measure
        return MEASURES[spec.formula.measure].sources
    return tuple(t for n in spec.formula.names() for t in _declared_sources(evaluator, n))


def _source_counts(events: Any, m: Measure, prefix: str, keep: Any = None) -> dict[str, Any]:
    """Per table a measure may read (`Measure.sources`), the count of its rows (kept by
    `keep`) in a group: `<prefix><i>` for the i-th table."""
    out: dict[str, Any] = {}
    for i, name in enumerate(m.sources):
        hit = events._source == name
        out[f"{prefix}{i}"] = events.count(where=hit if keep is None else hit & keep)
    return out


def _sources_fed(record: dict[str, Any], m: Measure, prefix: str) -> tuple[str, ...]:
    """The tables of `m.sources` with rows in this result record (`_source_counts`)."""
    return tuple(name for i, name in enumerate(m.sources) if (record[f"{prefix}{i}"] or 0) > 0)


def _formula_parts(spec: KpiSpec) -> tuple[list[str], str | None]:
    """What a KPI's formula combines: a ratio's or a derived KPI's names (KPIs or measures),
    else (snapshots, distributions) its own measure."""
    f = spec.formula
    if spec.kind is Kind.ratio:
        assert f.numerator and f.denominator
        return [f.numerator, f.denominator], None
    if spec.kind is Kind.derived:
        assert f.expression
        return _names(f.expression), None
    assert f.measure
    return [], f.measure


def _names(expression: str) -> list[str]:
    from revlens.catalog.spec import expression_names

    return list(dict.fromkeys(expression_names(expression)))


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _dim(value: Any) -> str | None:
    if value is None or value != value:
        return None
    return str(value)


def _num(value: Any) -> float | None:
    if value is None or value != value:
        return None
    return float(value)


def _attach_previous(
    current: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    by: int | dt.timedelta,
    query: KpiQuery,
) -> None:
    index = {
        (r["kpi"], shifted(r["_bucket"], by, sign=1), tuple(r[d] for d in query.by)): r["value"]
        for r in previous
    }
    for row in current:
        prev = index.get((row["kpi"], row["_bucket"], tuple(row[d] for d in query.by)))
        row["previous_value"] = prev
        value = row["value"]
        row["change"] = None if prev in (None, 0) or value is None else (value - prev) / abs(prev)


def _attach_targets(
    wh: Reader, rows: list[dict[str, Any]], specs: list[KpiSpec], query: KpiQuery
) -> None:
    """Join targets: an exact period match, else (for counts and sums) the sum of the
    targets that lie inside the row's period. Attainment = value / target, inverted for
    KPIs where lower is better."""
    ids = [s.id for s in specs]
    t = wh.ibis.table("targets")
    df = t.filter(t.kpi.isin(ids)).execute()
    if df.empty:
        return
    targets = df.to_dict("records")
    kinds = {s.id: s for s in specs}
    dim = query.by[0] if len(query.by) == 1 else None
    for row in rows:
        spec = kinds[row["kpi"]]
        matches = [
            tg
            for tg in targets
            if tg["kpi"] == row["kpi"]
            and (
                (dim is None and not query.by and _dim(tg["dimension"]) is None)
                or (
                    dim is not None
                    and tg["dimension"] == dim
                    and tg["dimension_value"] == row.get(dim)
                )
            )
        ]
        exact = [
            tg
            for tg in matches
            if _date(tg["period_start"]) == row["period_start"]
            and _date(tg["period_end"]) == row["period_end"]
        ]
        target: float | None = None
        if exact:
            target = float(exact[0]["target"])
        elif spec.kind in (Kind.count, Kind.sum):
            inside = [
                tg
                for tg in matches
                if _date(tg["period_start"]) >= row["period_start"]
                and _date(tg["period_end"]) <= row["period_end"]
            ]
            if inside:
                target = float(sum(tg["target"] for tg in inside))
        if target is None:
            continue
        row["target"] = target
        value = row["value"]
        if value is None or target == 0:
            row["attainment"] = None
        elif spec.direction is Direction.down:
            row["attainment"] = None if value == 0 else target / value
        else:
            row["attainment"] = value / target
