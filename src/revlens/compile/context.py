"""What every measure needs while a query compiles: the Ibis tables, the settings, the
lookback window, and the shared intermediates (first stage dates per contact, touchpoints
resolved to contacts), built once per query and cached in the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import ibis

from revlens.compile.money import daily_rates, in_reporting_currency
from revlens.engines import is_out_of_memory, local_time, utc_time
from revlens.model.warehouse import Reader, WarehouseSettings

if TYPE_CHECKING:
    from revlens.compile.facts import TouchFacts

T = TypeVar("T")

MARKETING_DIMS = ("channel", "source", "medium", "campaign", "ad", "landing_page")
CONTACT_DIMS = ("segment", "country", "owner", "account")
DEAL_DIMS = ("owner", "product", "account")
DIMENSIONS = (*MARKETING_DIMS, "segment", "country", "owner", "product", "account")
STAGE_ROLES = ("lead", "mql", "sql", "opportunity", "customer")
STORED_TOUCHES = "_revlens_touches"
"""The stitched touches as the last import stored them (`compile.facts`)."""


def union_all(first: Any, *rest: Any) -> Any:
    """UNION ALL of tables with the same columns; NOT NULL differences are cast away."""
    schema = ibis.schema(
        {name: dtype.copy(nullable=True) for name, dtype in first.schema().items()}
    )
    if not rest:
        return first
    return first.cast(schema).union(*[t.cast(schema) for t in rest], distinct=False)


@dataclass
class Context:
    """One query's view of the warehouse."""

    wh: Reader
    lookback_days: int = 90
    window_days: int = 90
    # the marketing dimensions first-touch resolution carries (a KPI query: those it groups by)
    marketing_dims: tuple[str, ...] = MARKETING_DIMS
    # whether a contact dimension is asked for (session measures skip resolving contacts)
    contact_dims: bool = True
    # rank each row's touches by (time, touchpoint id) even where the per-row arg-min would
    # do (`touch_dims(unique_rows=True)`): set for the rest of a query once the engine ran
    # out of memory on the arg-min's aggregate (`ranked_if_out_of_memory`)
    rank_touches: bool = False
    # read timestamps as wall-clock time in the reporting zone (`table`); off only where
    # stored tables are written (the stitched touches stay naive UTC, as the inputs)
    local: bool = True
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
        """A canonical table as analytics read it: with a reporting zone other than UTC,
        every TIMESTAMP column is naive wall-clock time there, so each period boundary,
        --from/--to and window is cut in that zone; DATE columns are calendar days and
        stay. In UTC the table as stored (nothing added to the query)."""
        table = self.con.table(name)
        if not self.converts:
            return table
        stamps = {
            column: self.wall_clock(table[column])
            for column, dtype in table.schema().items()
            if dtype.is_timestamp()
        }
        return table.mutate(**stamps) if stamps else table

    @property
    def converts(self) -> bool:
        """Whether `table` reads timestamps in a zone other than UTC."""
        return self.local and self.settings.timezone != "UTC"

    def instant(self, ts: Any) -> Any:
        """A timestamp expression as `table` reads it, back as naive UTC: for elapsed times
        (SLA hours and minutes) that a DST change must not stretch or shrink."""
        return utc_time(ts, self.settings.timezone, self.con) if self.converts else ts

    def wall_clock(self, ts: Any) -> Any:
        """A naive UTC timestamp expression as `table` reads timestamps."""
        return local_time(ts, self.settings.timezone, self.con) if self.converts else ts

    def has_rows(self, name: str) -> bool:
        """Whether the table holds any row (asked once per query): the measures that read
        an aggregate table beside the events take the events alone while it is empty."""
        key = f"has_rows:{name}"
        if key not in self._cache:
            self._cache[key] = bool(self.table(name).limit(1).count().execute() > 0)
        found: bool = self._cache[key]
        return found

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
        return self.cached("lifecycle_events", lambda: self._lifecycle_union().distinct())

    def _lifecycle_union(self) -> Any:
        events = self.table("stage_events").select("contact_id", "stage", "ts")
        contacts = self.table("contacts")
        lead = self.stage("lead")
        unlogged_leads = contacts.anti_join(events.filter(events.stage == lead), "contact_id")
        opps = self.table("opportunities").filter(lambda t: t.contact_id.notnull())
        return union_all(
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

    def stage_dates(self) -> Any:
        """(contact_id, stage, ts): the first time each contact reached each stage (repeats
        count once): one MIN over the lifecycle events' UNION ALL, materialised once."""
        return self.cached("stage_dates", self._build_stage_dates)

    def stage_reached(self, stage: str) -> Any:
        """(contact_id, ts): the first time each contact reached `stage`. From the shared
        stage dates when this query built them, else from that stage's events alone (a
        fraction of the lifecycle events: the customers of 10M contacts, not all stages)."""
        if "stage_dates" in self._cache:
            sd = self._cache["stage_dates"]
            return sd.filter(sd.stage == stage).select("contact_id", "ts")
        events = self._lifecycle_union()
        events = events.filter(events.stage == stage)
        return events.group_by("contact_id").aggregate(ts=events.ts.min())

    def _build_stage_dates(self) -> Any:
        events = self._lifecycle_union()
        return events.group_by(["contact_id", "stage"]).aggregate(ts=events.ts.min())

    def touches(self, columns: Sequence[str] = MARKETING_DIMS) -> Any:
        """(touchpoint_id, contact_id, ts, *columns): touchpoints with the contact they
        belong to, anonymous ones through identities. Read from the stored stitched touches
        when they are current (`compile.facts`) and hold the columns, else stitched here.
        Not materialised: a query that reads it once streams it, with the columns it needs."""
        if set(columns) <= set(MARKETING_DIMS) and self.stored_touches_current:
            return self.table(STORED_TOUCHES).select("touchpoint_id", "contact_id", "ts", *columns)
        return self.stitch_touches(columns)

    def stitch_touches(
        self, columns: Sequence[str] = MARKETING_DIMS, touchpoints: Any = None
    ) -> Any:
        """`touches()` resolved from the touchpoints (or those of the `touchpoints` table
        given) and the identities as they are now."""
        tp = self.table("touchpoints") if touchpoints is None else touchpoints
        ids = self.table("identities").select(id_anon="anonymous_id", id_contact="contact_id")
        cols = ["touchpoint_id", "contact_id", "ts", *columns]
        direct = tp.filter(tp.contact_id.notnull()).select(*cols)
        anon = tp.filter(tp.contact_id.isnull() & tp.anonymous_id.notnull())
        stitched = anon.join(ids, anon.anonymous_id == ids.id_anon)
        stitched = stitched.select(
            "touchpoint_id", "ts", *columns, contact_id=stitched.id_contact
        ).select(*cols)
        return union_all(direct, stitched)

    @property
    def touch_facts(self) -> TouchFacts:
        """What the warehouse recorded of its touches (`compile.facts`), read once."""
        if "touch_facts" not in self._cache:
            from revlens.compile.facts import touch_facts

            self._cache["touch_facts"] = touch_facts(self.wh)
        facts: TouchFacts = self._cache["touch_facts"]
        return facts

    @property
    def stored_touches_current(self) -> bool:
        """Whether the stored stitched touches match the tables."""
        return self.touch_facts.stored

    def contact_touches(self) -> Any:
        """`touches()` with every marketing dimension, materialised once per query (for the
        readers that scan it several times, such as journeys)."""
        return self.cached("contact_touches", self.touches)

    def _touch_pairs(self, moments: Any, dims: Sequence[str], *, left: bool = False) -> Any:
        """`moments` (contact_id, ts, ...) joined to the contact's touches within the
        lookback window before each (t_ts, t_id, t_<dim>)."""
        t = self.touches(dims)
        t = t.select(
            t_contact="contact_id", t_ts="ts", t_id="touchpoint_id", **{f"t_{d}": d for d in dims}
        )
        lookback = ibis.interval(days=self.lookback_days)
        cond = (
            (moments.contact_id == t.t_contact)
            & (t.t_ts <= moments.ts)
            & (t.t_ts >= moments.ts - lookback)
        )
        return moments.left_join(t, cond) if left else moments.join(t, cond)

    def touch_dims(
        self,
        events: Any,
        which: str = "first",
        *,
        dims: Sequence[str] | None = None,
        unique_rows: bool = False,
    ) -> Any:
        """`events` (with contact_id and ts) plus the marketing dimensions `dims` (default:
        `self.marketing_dims`) of the contact's first (or last) touchpoint within the
        lookback window before each event, by (touch time, touchpoint id) (null when there
        is none; the other marketing dimensions are null).

        Without `unique_rows` the touch is found once per distinct (contact, time) by an
        arg-min (arg-max) over the key (touch time, touchpoint id), which DuckDB and Spark
        both run (FIRST ... ORDER BY, MIN_BY), and joined back on it, so the result does not
        depend on row order. With `unique_rows` (no two rows of `events` alike, as in the
        batched first-touch query, which can be large) each row is numbered, left-joined to
        its touches and the first pair kept by a ROW_NUMBER partitioned by that number: no
        join back, and a sort that DuckDB spills under its memory limit, where the arg-min's
        hash aggregate over hundreds of millions of (event, touch) pairs ran out of memory.
        Partitioning by one integer instead of the row's columns (strings among them) took
        ~15% less CPU at 1M contacts (benchmarks/RESULTS.md). When the warehouse records
        that no contact has two touches at one instant (`touch_times_unique`), both ways
        take each dimension's arg-min (arg-max) over the time alone instead
        (`_argmin_by_time`): the same touch at about half the CPU. DuckDB keeps that
        aggregate in memory: callers of the per-row way run through
        `ranked_if_out_of_memory`, which ranks when it does not fit."""
        dims = list(self.marketing_dims if dims is None else dims)
        keep = [c for c in events.columns if c not in MARKETING_DIMS]
        nulls = {d: ibis.null().cast("string") for d in MARKETING_DIMS if d not in dims}
        if not dims:
            return events.select(*keep, **nulls)
        if unique_rows:
            rows = events.select(*keep).mutate(_row=ibis.row_number())
            pairs = self._touch_pairs(rows, dims, left=True)
            if self.touch_times_unique and not self.rank_touches:
                found = pairs.group_by("_row").aggregate(
                    **{c: pairs[c].arbitrary() for c in keep},
                    **self._argmin_by_time(pairs, dims, which),
                )
                return found.select(*keep, *dims, **nulls)
            order = (
                [pairs.t_ts, pairs.t_id]
                if which == "first"
                else [ibis.desc(pairs.t_ts), ibis.desc(pairs.t_id)]
            )
            ranked = pairs.mutate(_rank=ibis.row_number().over(group_by="_row", order_by=order))
            ranked = ranked.filter(ranked._rank == 0)
            return ranked.select(*keep, **{d: ranked[f"t_{d}"] for d in dims}, **nulls)
        moments = events.select("contact_id", "ts").distinct()
        pairs = self._touch_pairs(moments, dims)
        moment = {"ft_contact": pairs.contact_id, "ft_ts": pairs.ts}
        if self.touch_times_unique:
            found = pairs.group_by(**moment).aggregate(**self._argmin_by_time(pairs, dims, which))
        else:
            found = pairs.group_by(**moment).aggregate(
                _touch=self._argmin_by_time_and_id(pairs, dims, which)
            )
            found = found.select("ft_contact", "ft_ts", **{d: found._touch[d] for d in dims})
        base = events.select(*keep)
        out = base.left_join(
            found, (base.contact_id == found.ft_contact) & (base.ts == found.ft_ts)
        )
        return out.select(*keep, *dims, **nulls)

    def ranked_if_out_of_memory(self, run: Callable[[], T]) -> T:
        """`run()`, which builds and executes a query over `touch_dims(unique_rows=True)`;
        again with the ranking if the engine ran out of memory on the per-row arg-min, whose
        aggregate DuckDB keeps in memory (the whole catalogue's batch at 10M contacts ran out
        of its 6GB) where the ranking is a sort, which spills."""
        try:
            return run()
        except Exception as exc:
            if self.rank_touches or not self.touch_times_unique or not is_out_of_memory(exc):
                raise
            self.rank_touches = True
            return run()

    @property
    def touch_times_unique(self) -> bool:
        """Whether no contact has two touches at one instant, as the warehouse recorded:
        then time alone orders a contact's touches."""
        return self.touch_facts.times_unique

    @staticmethod
    def _argmin_by_time(pairs: Any, dims: Sequence[str], which: str) -> dict[str, Any]:
        """Each of `dims` of the first (or last) touch by time alone, exact when touch times
        are unique per contact: an arg-min (arg-max) per dimension over one fixed-size key,
        about half the ranking's CPU (benchmarks/RESULTS.md). A dimension null at that
        touch stays null: DuckDB's arg_min skips null values, so the time of the first
        (last) null tells."""
        key = pairs.t_ts
        first = which == "first"
        edge = key.min() if first else key.max()
        picked = {}
        for d in dims:
            value = pairs[f"t_{d}"]
            null_at = key.min(where=value.isnull()) if first else key.max(where=value.isnull())
            chosen = value.argmin(key) if first else value.argmax(key)
            picked[d] = ibis.ifelse(null_at == edge, ibis.null().cast(value.type()), chosen)
        return picked

    @staticmethod
    def _argmin_by_time_and_id(pairs: Any, dims: Sequence[str], which: str) -> Any:
        """The struct of `dims` of the first (or last) touch by (touch time, touchpoint id);
        null when the event has no touch (a left join's unmatched row)."""
        value = ibis.struct({d: pairs[f"t_{d}"] for d in dims})
        key = ibis.struct({"ts": pairs.t_ts, "id": pairs.t_id})
        return value.argmin(key) if which == "first" else value.argmax(key)

    def split_touch_dims(
        self, events: Any, model: Any, channel_weights: dict[str, float] | None = None
    ) -> Any:
        """`events` split over the contact's touches within the lookback before each, by
        the weights of the attribution `model` (`compile.credit`): one row per touch,
        `value` times the touch's share. An event with no touch stays whole, with null
        dimensions."""
        from revlens.attribution.rules import MilestoneModel
        from revlens.attribution.warehouse import milestones
        from revlens.compile.credit import needs_channel, shares

        dims = list(self.marketing_dims)
        fetch = dims if "channel" in dims or not needs_channel(model) else [*dims, "channel"]
        moments = events.select("contact_id", "ts").distinct()
        pairs = self._touch_pairs(moments, fetch)
        marks = milestones(self) if isinstance(model, MilestoneModel) else None
        pairs = shares(pairs, model, milestones=marks, channel_weights=channel_weights)
        pairs = pairs.filter(pairs.share > 0)  # a touch without credit adds no row
        split = pairs.select(
            lt_contact="contact_id",
            lt_ts="ts",
            lt_share="share",
            **{f"lt_{d}": f"t_{d}" for d in dims},
        )
        keep = [c for c in events.columns if c not in MARKETING_DIMS and c != "value"]
        base = events.drop(*[d for d in MARKETING_DIMS if d in events.columns])
        out = base.left_join(
            split, (base.contact_id == split.lt_contact) & (base.ts == split.lt_ts)
        )
        return out.select(
            *keep,
            value=out.value * out.lt_share.fill_null(1.0),
            **{d: out[f"lt_{d}"] for d in dims},
            **{d: ibis.null().cast("string") for d in MARKETING_DIMS if d not in dims},
        )

    def data_end(self) -> dt.date:
        """The date the data runs to: the newest stage event, touchpoint, spend row or
        opportunity, a day in the reporting zone (today there when the warehouse is empty)."""
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
        return max(newest) if newest else self.now().date()

    def now(self) -> dt.datetime:
        """The current time as the tables read it: naive wall-clock time in the reporting
        zone (naive UTC when `local` is off)."""
        zone = ZoneInfo(self.settings.timezone if self.local else "UTC")
        return dt.datetime.now(zone).replace(tzinfo=None)

    def stored_time(self, local: dt.datetime) -> dt.datetime:
        """A naive time read as the tables read it (`now`, `table`) as the warehouse stores
        times: naive UTC."""
        if not self.local:
            return local
        zoned = local.replace(tzinfo=ZoneInfo(self.settings.timezone))
        return zoned.astimezone(dt.UTC).replace(tzinfo=None)
