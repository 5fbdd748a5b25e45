"""KPIs by marketing dimension under any attribution model (`revlens kpi --attribution M`):
each conversion's credit is split over the touches inside the lookback before it, with
the weights of the model of the same name in `revlens.attribution`, written here as Ibis
window expressions so the split runs in the engine, per period and dimension.

Rule-based models weigh each touch by its position, age, channel and milestones exactly as
`revlens attribution` does. Data-driven models (Markov, Shapley) are fitted to the journeys
of the measure's own conversions in the range (and the non-converting ones); each
conversion is then split over the channels on its journey in proportion to the channels'
fitted credit per conversion (a channel touched k times gives each touch 1/k of its part).
Summed over a whole range this follows the fitted credit but need not equal it: the
fitted credit is a property of all journeys together, the split is per conversion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ibis

from revlens.attribution.base import AttributionModel, DataDrivenModel
from revlens.attribution.registry import (
    ALIASES,
    MODEL_NAMES,
    ModelOptions,
    build_models,
    canonical_name,
)
from revlens.attribution.rules import (
    CustomPositionWeights,
    LastNonDirectTouch,
    Linear,
    MilestoneModel,
    TimeDecay,
)
from revlens.errors import RevlensError, UnknownName

KPI_MODELS: tuple[str, ...] = tuple(m for m in MODEL_NAMES if m != "custom")
"""Models a KPI can be split by: every model except `custom`, whose weights have no
default (use `revlens attribution --model custom --custom-weights ...`)."""


def kpi_model(name: str) -> str:
    """The canonical id of `name` (aliases resolved), or a "did you mean" error."""
    key = canonical_name(name)
    if key == "custom":
        raise RevlensError(
            "the custom model needs position weights, which a KPI query does not take",
            value=name,
            code="RL519",
            fix="use `revlens attribution --model custom --custom-weights ...`",
        )
    if key not in KPI_MODELS:
        raise UnknownName("attribution model", name, [*KPI_MODELS, *ALIASES])
    return key


def model_of(name: str) -> AttributionModel:
    """The attribution model `name` with its default parameters."""
    return build_models([kpi_model(name)], ModelOptions())[0]


def is_single_touch(name: str) -> bool:
    """First and last touch give the whole conversion to one touch: they take the fast
    path (`Context.touch_dims`), never `shares`."""
    return kpi_model(name) in ("first_touch", "last_touch")


def needs_channel(model: AttributionModel) -> bool:
    """Models whose weights look at the touch's channel."""
    return isinstance(model, LastNonDirectTouch | DataDrivenModel)


def shares(
    pairs: Any,
    model: AttributionModel,
    *,
    milestones: Any = None,
    channel_weights: dict[str, float] | None = None,
) -> Any:
    """`pairs` (contact_id, ts: the conversion; t_ts, t_id, t_channel when the model needs
    it: the touch) with a `share` column: the touch's part of its conversion, summing to 1
    per conversion. `milestones` (m_contact, m_lead, m_opp) for W-shaped and full path;
    `channel_weights` (credit per conversion of each channel) for a data-driven model."""
    group = [pairs.contact_id, pairs.ts]
    ranked = pairs.mutate(
        _r=ibis.row_number().over(group_by=group, order_by=[pairs.t_ts, pairs.t_id]),
        _n=pairs.count().over(group_by=group),
    )
    weighted = _weights(ranked, model, milestones, channel_weights)
    g = [weighted.contact_id, weighted.ts]
    total = weighted._w.sum().over(group_by=g)
    out = weighted.mutate(
        share=ibis.ifelse(total > 0, weighted._w / total, 1.0 / weighted._n.cast("float64"))
    )
    return out.drop(*[c for c in out.columns if c.startswith("_")])


def _weights(
    t: Any,
    model: AttributionModel,
    milestones: Any,
    channel_weights: dict[str, float] | None,
) -> Any:
    """`t` with `_w`: the touch's unnormalised weight under `model`."""
    r, n = t._r, t._n
    if isinstance(model, Linear):
        return t.mutate(_w=ibis.literal(1.0))
    if isinstance(model, LastNonDirectTouch):
        direct = t.t_channel.lower().isin(sorted(model.direct)).fill_null(False)
        pick = ibis.row_number().over(
            group_by=[t.contact_id, t.ts],
            order_by=[direct, ibis.desc(t.t_ts), ibis.desc(t.t_id)],
        )
        return t.mutate(_w=ibis.ifelse(pick == 0, 1.0, 0.0))
    if isinstance(model, TimeDecay):
        days = (t.ts.epoch_seconds() - t.t_ts.epoch_seconds()) / 86400.0
        t = t.mutate(_d=days)
        youngest = t._d.min().over(group_by=[t.contact_id, t.ts])
        return t.mutate(_w=(-(t._d - youngest) * (math.log(2.0) / model.half_life)).exp())
    if isinstance(model, CustomPositionWeights):  # position-based (U-shaped) too
        return t.mutate(_w=_position_weight(r, n, model.head, model.middle, model.tail))
    if isinstance(model, MilestoneModel):
        return _milestone_weights(t, model, milestones)
    if isinstance(model, DataDrivenModel):
        per = [t.contact_id, t.ts, t.t_channel]
        if not channel_weights:  # nothing converted: every touch weighs 0, split evenly
            return t.mutate(_w=ibis.literal(0.0))
        w = t.t_channel.substitute(channel_weights, else_=0.0).cast("float64")
        return t.mutate(_w=w / t.count().over(group_by=per).cast("float64"))
    raise RevlensError(f"no KPI split for the {model.name} model", code="RL519")


def _position_weight(
    r: Any, n: Any, head: Sequence[float], middle: float, tail: Sequence[float]
) -> Any:
    """CustomPositionWeights.weights as an expression of the rank `r` (0-based) among `n`."""
    nh = ibis.least(ibis.literal(len(head)), n)
    nt = ibis.least(ibis.literal(len(tail)), n - nh)
    from_end = n - 1 - r
    head_w = ibis.cases(*[(r == i, w) for i, w in enumerate(head)], else_=0.0) if head else 0.0
    tail_w = (
        ibis.cases(*[(from_end == j, w) for j, w in enumerate(reversed(tail))], else_=0.0)
        if tail
        else 0.0
    )
    between = (n - nh - nt).cast("float64")
    return ibis.cases(
        (r < nh, head_w),
        (from_end < nt, tail_w),
        else_=ibis.literal(middle) / ibis.greatest(between, 1.0),
    ).cast("float64")


def _milestone_weights(t: Any, model: MilestoneModel, milestones: Any) -> Any:
    """MilestoneModel.weights: key weights on the first touch and on the touches that
    created the milestones (the last touch at or before each; the last touch when unknown),
    the rest spread over the other touches."""
    joined = t.left_join(milestones, t.contact_id == milestones.m_contact)
    g = [joined.contact_id, joined.ts]
    n = joined._n

    def index_at(moment: Any) -> Any:
        i = (joined.t_ts <= moment).cast("int64").sum().over(group_by=g) - 1
        return ibis.ifelse((i >= 0) & (i < n), i, n - 1).fill_null(n - 1)

    keys = [ibis.literal(0, type="int64")]
    for name in model.milestones:
        if name == "lead_touch":
            keys.append(index_at(joined.m_lead))
        elif name == "opportunity_touch":
            keys.append(index_at(joined.m_opp))
        else:  # close_touch: the conversion's own last touch
            keys.append(n - 1)
    joined = joined.mutate(**{f"_k{i}": k for i, k in enumerate(keys)})
    k = [joined[f"_k{i}"] for i in range(len(keys))]
    r = joined._r
    distinct = ibis.literal(1, type="int64")
    for i in range(1, len(k)):
        new = ibis.literal(True)
        for j in range(i):
            new = new & (k[i] != k[j])
        distinct = distinct + new.cast("int64")
    others = (joined._n - distinct).cast("float64")
    key_w = sum(
        (ibis.ifelse(r == ki, w, 0.0) for ki, w in zip(k, model.key_weights, strict=True)),
        start=ibis.literal(0.0),
    )
    is_key = ibis.literal(False)
    for ki in k:
        is_key = is_key | (r == ki)
    rest = ibis.ifelse(is_key | (others <= 0), 0.0, model.rest / ibis.greatest(others, 1.0))
    out = joined.mutate(_w=(key_w + rest).cast("float64"))
    return out.drop(*[c for c in out.columns if c.startswith("m_") or c.startswith("_k")])


def fitted_channel_weights(
    ctx: Any, moments: Any, model: DataDrivenModel[Any], lo: Any, hi: Any
) -> dict[str, float]:
    """Credit per conversion of each channel under `model`, fitted to the journeys of
    `moments` (contact_id, ts, value: the measure's conversions) and the non-converting
    journeys of contacts touched in [lo, hi)."""
    from revlens.attribution.warehouse import journeys_of

    conv = moments.select(
        conv_id=moments.contact_id.concat("@", moments.ts.cast("string")),
        contact_id=moments.contact_id,
        conv_ts=moments.ts,
        value=moments.value.cast("float64"),
    )
    table = journeys_of(ctx, conv, lo, hi, level="channel")
    credit = model.credit(table)
    total = float(credit.conversions.sum())
    if total <= 0:
        return {}
    return {c: float(v) / total for c, v in zip(credit.channels, credit.conversions, strict=True)}
