"""What every measure needs while a query compiles: the Ibis tables, the settings, the
lookback window, and the shared intermediates (first stage dates per contact, touchpoints
resolved to contacts), built once per query and cached in the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis

from revlens.compile.money import daily_rates, in_reporting_currency
from revlens.model.warehouse import Reader, WarehouseSettings

MARKETING_DIMS = ("channel", "source", "medium", "campaign", "ad")
CONTACT_DIMS = ("segment", "country", "owner", "account")
DEAL_DIMS = ("owner", "product", "account")
DIMENSIONS = (*MARKETING_DIMS, "segment", "country", "owner", "product", "account")
STAGE_ROLES = ("lead", "mql", "sql", "opportunity", "customer")


def union_all(first: Any, *rest: Any) -> Any:
    """UNION ALL of tables with the same columns; NOT NULL differences are cast away."""
    schema = ibis.schema(
        {name: dtype.copy(nullable=True) for name, dtype in first.schema().items()}
    )
    return first.cast(schema).union(*[t.cast(schema) for t in rest], distinct=False)


@dataclass
class Context:
    """One query's view of the warehouse."""

    wh: Reader
    lookback_days: int = 90
    window_days: int = 90
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def con(self) -> Any:
        return self.wh.ibis

    @property
    def settings(self) -> WarehouseSettings:
        if "settings" not in self._cache:
            self._cache["settings"] = self.wh.settings()
        settings: WarehouseSettings = self._cache["settings"]
        return settings

    def table(self, name: str) -> Any:
        return self.con.table(name)

    def stage(self, role: str) -> str:
        """The configured name of a lifecycle role (lead, mql, ...), by funnel position."""
        stages = self.settings.stages
        index = STAGE_ROLES.index(role)
        return stages[index] if index < len(stages) else role

    def cached(self, key: str, build: Any) -> Any:
        """Build an intermediate once per query and keep it in the engine."""
        if key not in self._cache:
            self._cache[key] = build().cache()
        return self._cache[key]

    def release(self) -> None:
        for key, value in list(self._cache.items()):
            if key != "settings" and hasattr(value, "release"):
                value.release()
            del self._cache[key]

    def money(self, rows: Any, *, amount: str, date: str) -> Any:
        if "fx_rates" not in self._cache:
            self._cache["fx_rates"] = daily_rates(self.table("fx_rates"))
        return in_reporting_currency(
            rows,
            self._cache["fx_rates"],
            amount=amount,
            date=date,
            reporting_currency=self.settings.reporting_currency,
        )

    # -- shared intermediates --------------------------------------------------------------
    def lifecycle_events(self) -> Any:
        """(contact_id, stage, ts): every lifecycle stage event, plus the dates CRMs often do
        not log as events: created_at as the lead date of contacts with no lead event, each
        opportunity's creation as the opportunity stage, each won close as customer."""
        return self.cached("lifecycle_events", self._build_lifecycle_events)

    def _build_lifecycle_events(self) -> Any:
        events = self.table("stage_events").select("contact_id", "stage", "ts")
        contacts = self.table("contacts")
        lead = self.stage("lead")
        unlogged_leads = contacts.anti_join(events.filter(events.stage == lead), "contact_id")
        opps = self.table("opportunities").filter(lambda t: t.contact_id.notnull())
        union = union_all(
            events,
            unlogged_leads.select(
                "contact_id", stage=ibis.literal(lead), ts=unlogged_leads.created_at
            ),
            opps.select(
                "contact_id", stage=ibis.literal(self.stage("opportunity")), ts=opps.created_at
            ),
            opps.filter(opps.is_won).select(
                "contact_id", stage=ibis.literal(self.stage("customer")), ts=opps.closed_at
            ),
        )
        return union.distinct()

    def stage_dates(self) -> Any:
        """(contact_id, stage, ts): the first time each contact reached each stage (repeats
        count once), from `lifecycle_events`."""
        return self.cached("stage_dates", self._build_stage_dates)

    def _build_stage_dates(self) -> Any:
        events = self.lifecycle_events()
        return events.group_by(["contact_id", "stage"]).aggregate(ts=events.ts.min())

    def contact_touches(self) -> Any:
        """Touchpoints with the contact they belong to, anonymous ones through identities."""
        return self.cached("contact_touches", self._build_contact_touches)

    def _build_contact_touches(self) -> Any:
        tp = self.table("touchpoints")
        ids = self.table("identities").select(id_anon="anonymous_id", id_contact="contact_id")
        direct = tp.filter(tp.contact_id.notnull())
        stitched = (
            tp.filter(tp.contact_id.isnull() & tp.anonymous_id.notnull())
            .join(ids, tp.anonymous_id == ids.id_anon)
            .mutate(contact_id=lambda t: t.id_contact)
            .drop("id_anon", "id_contact")
        )
        cols = ["touchpoint_id", "contact_id", "ts", *MARKETING_DIMS]
        return union_all(direct.select(*cols), stitched.select(*cols))

    def touch_dims(self, events: Any, which: str = "first") -> Any:
        """`events` (with contact_id and ts) plus the marketing dimensions of the contact's
        first (or last) touchpoint within the lookback window before each event (null when
        there is none). Touches are found once per distinct (contact, time) and joined back
        on it, so the result does not depend on row order."""
        moments = events.select("contact_id", "ts").distinct()
        touches = self.contact_touches().select(
            t_contact="contact_id",
            t_ts="ts",
            t_id="touchpoint_id",
            **{f"t_{d}": d for d in MARKETING_DIMS},
        )
        lookback = ibis.interval(days=self.lookback_days)
        pairs = moments.join(
            touches,
            (moments.contact_id == touches.t_contact)
            & (touches.t_ts <= moments.ts)
            & (touches.t_ts >= moments.ts - lookback),
        )
        order = (
            [pairs.t_ts, pairs.t_id]
            if which == "first"
            else [ibis.desc(pairs.t_ts), ibis.desc(pairs.t_id)]
        )
        ranked = pairs.mutate(
            ft_rank=ibis.row_number().over(group_by=[pairs.contact_id, pairs.ts], order_by=order)
        )
        chosen = ranked.filter(ranked.ft_rank == 0).select(
            ft_contact="contact_id", ft_ts="ts", **{f"ft_{d}": f"t_{d}" for d in MARKETING_DIMS}
        )
        base = events.drop(*[d for d in MARKETING_DIMS if d in events.columns])
        out = base.left_join(
            chosen, (base.contact_id == chosen.ft_contact) & (base.ts == chosen.ft_ts)
        )
        return out.mutate(**{d: out[f"ft_{d}"] for d in MARKETING_DIMS}).drop(
            "ft_contact", "ft_ts", *[f"ft_{d}" for d in MARKETING_DIMS]
        )

    def linear_touch_dims(self, events: Any) -> Any:
        """`events` split evenly over the contact's touches within the lookback before each
        (linear attribution): one row per touch, `value` times 1/touches. An event with no
        touch stays whole, with null dimensions."""
        moments = events.select("contact_id", "ts").distinct()
        touches = self.contact_touches().select(
            t_contact="contact_id", t_ts="ts", **{f"t_{d}": d for d in MARKETING_DIMS}
        )
        lookback = ibis.interval(days=self.lookback_days)
        pairs = moments.join(
            touches,
            (moments.contact_id == touches.t_contact)
            & (touches.t_ts <= moments.ts)
            & (touches.t_ts >= moments.ts - lookback),
        )
        pairs = pairs.mutate(share=1.0 / pairs.count().over(group_by=[pairs.contact_id, pairs.ts]))
        split = pairs.select(
            lt_contact="contact_id",
            lt_ts="ts",
            lt_share="share",
            **{f"lt_{d}": f"t_{d}" for d in MARKETING_DIMS},
        )
        base = events.drop(*[d for d in MARKETING_DIMS if d in events.columns])
        out = base.left_join(
            split, (base.contact_id == split.lt_contact) & (base.ts == split.lt_ts)
        )
        return out.mutate(
            value=out.value * out.lt_share.fill_null(1.0),
            **{d: out[f"lt_{d}"] for d in MARKETING_DIMS},
        ).drop("lt_contact", "lt_ts", "lt_share", *[f"lt_{d}" for d in MARKETING_DIMS])

    def data_end(self) -> dt.date:
        """The date the data runs to: the newest stage event, touchpoint, spend row or
        opportunity (today when the warehouse is empty)."""
        newest = []
        for table, col in (
            ("stage_events", "ts"),
            ("touchpoints", "ts"),
            ("spend", "date"),
            ("opportunities", "created_at"),
            ("opportunities", "closed_at"),
            ("opportunity_stage_events", "ts"),
        ):
            value = self.table(table)[col].max().execute()
            if value is not None and value == value:
                newest.append(value.date() if isinstance(value, dt.datetime) else value)
        return max(newest) if newest else dt.date.today()
