"""Generate the seeded demo data set: every canonical table, drawn from the parameters in
`revlens.demo.truth`, vectorised with NumPy and streamed in chunks of contacts so that
millions of contacts fit in bounded memory. docs/demo.md describes the contents.

Each chunk is independent (its own random stream, ids prefixed with the chunk number), so
the data depend on (contacts, seed, months, end, chunk_contacts) and on nothing else.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from revlens.compile.measures import SALES_COST_CHANNEL
from revlens.demo import truth as T
from revlens.errors import RevlensError
from revlens.model.schema import DEFAULT_STAGES, TABLES, ColumnType
from revlens.model.schema import table as schema_table

if TYPE_CHECKING:
    from revlens.model.warehouse import Warehouse

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Rng = np.random.Generator
ProgressFn = Callable[[int, int], None]

DAY = 86_400
HOUR = 3_600
EPOCH = dt.date(1970, 1, 1)

ARROW_TYPES: dict[ColumnType, Any] = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "number": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
}

GLOBAL_TABLES = ("fx_rates", "spend", "audience_snapshots", "social_posts", "targets")
"""Tables not tied to contacts: generated once, in the first chunk only; except spend's
sales-cost rows, which take a share of every chunk's won revenue and so come with the last
chunk (see `_sales_cost`)."""

IMPORT_ORDER = (
    "fx_rates",  # first: the currency check of money tables looks rates up
    "contacts",
    "identities",
    "touchpoints",
    "stage_events",
    "opportunities",
    "opportunity_stage_events",
    "sales_activities",
    "meetings",
    "inbound_requests",
    "email_events",
    "subscriptions",
    "spend",
    "audience_snapshots",
    "social_posts",
    "targets",
    "web_traffic",
    "email_campaigns",
    "opportunity_contacts",
)
NOT_GENERATED = ("web_traffic", "email_campaigns", "opportunity_contacts")
"""Tables the demo leaves empty (its traffic and email are events; each deal has one
contact): the first chunk carries them with no rows, so every chunk set has every table."""

CH = {c.name: i for i, c in enumerate(T.CHANNELS)}
N_CH = len(T.CHANNELS)
TOUCH_TYPES = ("session", "ad_click", "email_click", "event", "form", "offline")
TT = {name: i for i, name in enumerate(TOUCH_TYPES)}
STAGE_SOURCE = {
    "lead": "marketing_automation",
    "mql": "marketing_automation",
    "sql": "crm",
    "opportunity": "crm",
    "customer": "crm",
}
ACTIVITY_TYPES = ("call", "email", "meeting", "status_change")
ACTIVITY_OUTCOMES: tuple[tuple[tuple[str, float], ...], ...] = (
    (("connected", 0.40), ("voicemail", 0.35), ("no_answer", 0.25)),
    (("sent", 0.70), ("replied", 0.30)),
    (("held", 0.80), ("no_show", 0.20)),
)
OPP_STAGES = ("discovery", "proposal", "negotiation", "won", "lost")
TOUCH_SLICE = 1 << 18  # touchpoints converted to Arrow at a time


def _channel_values(attr: str) -> Floats:
    return np.array([float(getattr(c, attr)) for c in T.CHANNELS])


def _lag_values(attr: str) -> Floats:
    return np.array([float(getattr(c.lags, attr)) for c in T.CHANNELS])


# --------------------------------------------------------------------------------------
# small vectorised helpers


def _ids(prefix: str, numbers: Ints) -> Any:
    """String ids `prefix + number`, built in Arrow (no Python loop over rows)."""
    if len(numbers) == 0:
        return pa.array([], pa.string())
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _take(names: Sequence[str], index: Ints) -> Any:
    """names[index] as an Arrow string array; a negative index gives null."""
    valid = index >= 0
    idx = pa.array(np.where(valid, index, 0), pa.int64(), mask=~valid)
    return pc.take(pa.array(list(names), pa.string()), idx)


def _ts(seconds: Ints, valid: Bools | None = None) -> Any:
    """Naive-UTC timestamps (microseconds) from epoch seconds; invalid rows are null."""
    mask = None if valid is None else ~valid
    return pa.array(seconds.astype(np.int64) * 1_000_000, pa.timestamp("us"), mask=mask)


def _dates(epoch_days: Ints) -> Any:
    return pa.array(epoch_days.astype(np.int32), pa.date32())


def _hex(rng: Rng, n: int, nbytes: int = 16) -> Any:
    """n random hex strings (2 * nbytes characters), like hashed e-mail addresses."""
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    chars = np.stack([digits[raw >> 4], digits[raw & 15]], axis=-1).reshape(n, 2 * nbytes)
    fixed = np.ascontiguousarray(chars).view(f"S{2 * nbytes}").reshape(n)
    return pa.array(fixed).cast(pa.string())


def _group_offsets(counts: Ints) -> tuple[Ints, Ints]:
    """For groups of the given sizes: the group of each expanded row and its rank in it."""
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(owner), dtype=np.int64) - np.repeat(starts, counts)
    return owner, rank


def _group_cumsum(values: Floats, counts: Ints) -> Floats:
    """Cumulative sums restarting at each group (rows ordered by group)."""
    total = np.cumsum(values)
    ends = np.cumsum(counts)
    before = np.concatenate([[0.0], total])[ends - counts]
    out: Floats = total - np.repeat(before, counts)
    return out


def _gamma_days(rng: Rng, mean_days: Floats) -> Ints:
    """Stage lags in seconds: gamma(LAG_SHAPE) with the given mean, at least 10 minutes."""
    days = rng.gamma(T.LAG_SHAPE, mean_days / T.LAG_SHAPE)
    return np.maximum((days * DAY).astype(np.int64), 600)


def _exp_seconds(rng: Rng, mean_seconds: float, n: int) -> Ints:
    return rng.exponential(mean_seconds, n).astype(np.int64)


@dataclass(frozen=True)
class _Choice:
    """Weighted choice among per-group options, for many rows at once: group g's options
    occupy (g, g + 1] of one cumulative axis."""

    cdf: Floats
    values: Ints

    @classmethod
    def of(cls, options: Sequence[Sequence[tuple[int, float]]]) -> _Choice:
        cdf: list[float] = []
        values: list[int] = []
        for g, opts in enumerate(options):
            total = sum(w for _, w in opts)
            acc = 0.0
            for i, (value, weight) in enumerate(opts):
                acc += weight
                cdf.append(g + (1.0 if i == len(opts) - 1 else acc / total))
                values.append(value)
        return cls(np.array(cdf), np.array(values, dtype=np.int64))

    def pick(self, rng: Rng, groups: Ints) -> Ints:
        u = np.minimum(rng.random(len(groups)), 1 - 1e-9)
        i = np.searchsorted(self.cdf, groups + u, side="right")
        return self.values[np.minimum(i, len(self.values) - 1)]


def _arrow_table(name: str, columns: dict[str, Any]) -> pa.Table:
    """A table with exactly the schema's columns, in order and types; absent ones are null."""
    spec = schema_table(name)
    n = max((len(v) for v in columns.values()), default=0)
    unknown = set(columns) - set(spec.column_names)
    if unknown:
        raise ValueError(f"{name}: columns not in the schema: {sorted(unknown)}")
    arrays = []
    for col in spec.columns:
        arrow_type = ARROW_TYPES[col.type]
        value = columns.get(col.name)
        if value is None:
            arrays.append(pa.nulls(n, arrow_type))
            continue
        arr = value if isinstance(value, pa.Array | pa.ChunkedArray) else pa.array(value)
        if arr.type != arrow_type:
            arr = arr.cast(arrow_type)
        arrays.append(arr)
    return pa.table(arrays, schema=pa.schema([(c.name, ARROW_TYPES[c.type]) for c in spec.columns]))


# --------------------------------------------------------------------------------------
# the calendar: window, daily intensity, months, events and exchange rates


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Calendar:
    """The demo window and everything dated that every chunk shares."""

    start: dt.date
    end: dt.date
    weights: Floats  # relative traffic/lead/spend intensity per day
    month_days: Ints  # day offset of each month's first day, then the number of days
    fx: Floats  # EUR rate (USD per EUR) per day
    event_days: Ints  # first day (offset) of each event inside the window
    event_names: tuple[str, ...]

    @property
    def n_days(self) -> int:
        return len(self.weights)

    @property
    def n_months(self) -> int:
        return len(self.month_days) - 1

    @property
    def start_day(self) -> int:
        """The start as days since 1970-01-01."""
        return (self.start - EPOCH).days

    @property
    def start_s(self) -> int:
        return self.start_day * DAY

    @property
    def end_s(self) -> int:
        """First second after the window: nothing at or after it is recorded."""
        return (self.start_day + self.n_days) * DAY

    @property
    def month_labels(self) -> tuple[str, ...]:
        first = self.start.replace(day=1)
        return tuple(_add_months(first, m).strftime("%Y-%m") for m in range(self.n_months))

    def day_of(self, seconds: Ints) -> Ints:
        return np.clip((seconds - self.start_s) // DAY, 0, self.n_days - 1)

    def month_of(self, seconds: Ints) -> Ints:
        day = self.day_of(seconds)
        return np.searchsorted(self.month_days, day, side="right").astype(np.int64) - 1

    def rate(self, seconds: Ints) -> Floats:
        return self.fx[self.day_of(seconds)]

    def sample_days(self, rng: Rng, n: int) -> Ints:
        """Days drawn in proportion to the daily intensity."""
        cdf = np.cumsum(self.weights)
        day = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
        out: Ints = np.minimum(day, self.n_days - 1).astype(np.int64)
        return out

    def sample_days_in_months(self, rng: Rng, months: Ints) -> Ints:
        """For each row, a day of its month drawn in proportion to the daily intensity."""
        cdf = np.cumsum(self.weights)
        cdf0 = np.concatenate([[0.0], cdf])
        lo = cdf0[self.month_days[months]]
        hi = cdf0[self.month_days[months + 1]]
        day = np.searchsorted(cdf, lo + rng.random(len(months)) * (hi - lo), side="right")
        out: Ints = np.clip(day, self.month_days[months], self.month_days[months + 1] - 1)
        return out


def make_calendar(end: dt.date, months: int, seed: int) -> Calendar:
    """The window of `months` calendar months ending on `end`, with its seasonality."""
    start = _add_months(end.replace(day=1), -(months - 1))
    n_days = (end - start).days + 1
    days = np.arange(n_days)
    d64 = np.datetime64(start, "D") + days
    day_of_year = (d64 - d64.astype("datetime64[Y]")).astype(np.int64) + 1
    weekday = (start.weekday() + days) % 7
    s = T.SEASONALITY
    weights = (
        (1 + s.annual_growth * days / 365.25)
        * (1 + s.yearly_amplitude * np.cos(2 * np.pi * (day_of_year - s.yearly_peak_day) / 365.25))
        * np.array(s.weekly)[weekday]
    )
    month_days = np.array(
        [(_add_months(start, m) - start).days for m in range(months)] + [n_days], dtype=np.int64
    )
    rng = np.random.default_rng([seed, 2])
    steps = rng.normal(0.0, T.FX_DAILY_VOLATILITY, n_days)
    steps[0] = 0.0
    fx = np.round(T.FX_EUR_START * np.exp(np.cumsum(steps)), 5)
    event_days: list[int] = []
    names: list[str] = []
    for i, offset in enumerate(T.EVENT_MONTHS):
        if offset >= months:
            continue
        day = int(month_days[offset]) + 14
        if day + T.EVENT_DAYS <= n_days:
            event_days.append(day)
            month = _add_months(start, offset).strftime("%Y-%m")
            names.append(f"{T.EVENT_NAMES[i % len(T.EVENT_NAMES)]}-{month}")
    return Calendar(
        start, end, weights, month_days, fx, np.array(event_days, dtype=np.int64), tuple(names)
    )


# --------------------------------------------------------------------------------------
# the vocabulary of touchpoints: sources, campaigns, ads, landing pages


@dataclass(frozen=True)
class _Vocab:
    sources: tuple[str, ...]
    campaigns: tuple[str, ...]
    ads: tuple[str, ...]
    pages: tuple[str, ...]
    source_choice: _Choice  # by channel -> source index
    ad_choice: _Choice  # by channel -> ad index (only channels with ads)
    ad_campaign: Ints  # ad index -> campaign index
    page_choice: _Choice  # by channel -> page index
    has_ads: Bools  # per channel
    newsletter: Ints  # month -> campaign index of that month's newsletter
    event_campaign: Ints  # event -> campaign index
    event_source: Ints  # event -> source index
    leadgen_ads: Ints  # ad indexes of the social-leadgen campaign
    welcome: int
    signup: int


def _vocab(cal: Calendar) -> _Vocab:
    sources: list[str] = []
    campaigns: list[str] = []
    ads: list[str] = []
    pages: list[str] = []

    def index(names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    source_opts = [[(index(sources, s), w) for s, w in c.sources] for c in T.CHANNELS]
    page_opts = [[(index(pages, p), 1.0) for p in c.landing_pages] for c in T.CHANNELS]
    ad_opts: list[list[tuple[int, float]]] = []
    ad_campaign: list[int] = []
    leadgen: list[int] = []
    for c in T.CHANNELS:
        opts = []
        for camp in c.campaigns:
            cid = index(campaigns, camp.name)
            for ad in camp.ads:
                ad_campaign.append(cid)
                ads.append(ad)
                opts.append((len(ads) - 1, camp.spend_share / len(camp.ads)))
                if camp.name == "social-leadgen":
                    leadgen.append(len(ads) - 1)
        ad_opts.append(opts)
    newsletter = [index(campaigns, f"newsletter-{m}") for m in cal.month_labels]
    event_campaign = [index(campaigns, e) for e in cal.event_names]
    event_source = [index(sources, e) for e in cal.event_names]
    welcome = index(campaigns, "welcome")
    signup = index(campaigns, "signup")
    return _Vocab(
        tuple(sources),
        tuple(campaigns),
        tuple(ads),
        tuple(pages),
        _Choice.of(source_opts),
        _Choice.of(ad_opts),
        np.array(ad_campaign, dtype=np.int64),
        _Choice.of(page_opts),
        np.array([bool(o) for o in ad_opts]),
        np.array(newsletter, dtype=np.int64),
        np.array(event_campaign, dtype=np.int64),
        np.array(event_source, dtype=np.int64),
        np.array(leadgen, dtype=np.int64),
        welcome,
        signup,
    )


# --------------------------------------------------------------------------------------
# touchpoints are collected as integer-coded columns and turned into Arrow once


@dataclass
class _Touches:
    """Integer-coded touchpoints; -1 means null. `anon_kind`: 0 none, 1 first device of
    contact `anon_num`, 2 its second device, 3 anonymous visitor `anon_num`."""

    ts: Ints
    contact: Ints
    anon_kind: Ints
    anon_num: Ints
    channel: Ints
    source: Ints
    campaign: Ints
    ad: Ints
    page: Ints
    session: Ints  # fixed session number (lead-creating sessions and their forms), else -1
    touch_type: Ints
    converting: Bools

    @classmethod
    def make(cls, ts: Ints, channel: Ints, touch_type: str, **cols: Any) -> _Touches:
        n = len(ts)
        neg = np.full(n, -1, dtype=np.int64)
        values: dict[str, Any] = {
            "contact": neg,
            "anon_kind": np.zeros(n, dtype=np.int64),
            "anon_num": neg,
            "source": neg,
            "campaign": neg,
            "ad": neg,
            "page": neg,
            "session": neg,
            "converting": np.zeros(n, dtype=bool),
        }
        values.update(cols)
        tt = np.full(n, TT[touch_type], dtype=np.int64)
        return cls(
            ts.astype(np.int64),
            values["contact"],
            values["anon_kind"],
            values["anon_num"],
            channel.astype(np.int64),
            values["source"],
            values["campaign"],
            values["ad"],
            values["page"],
            values["session"],
            tt,
            values["converting"],
        )

    def permute(self, order: Ints) -> None:
        """Reorder the rows in place, one column at a time (to keep memory low)."""
        for k, v in vars(self).items():
            setattr(self, k, v[order])

    def extend(self, other: _Touches) -> None:
        """Append the rows of `other`, one column at a time."""
        for k, v in vars(self).items():
            setattr(self, k, np.concatenate([v, vars(other)[k]]))

    @classmethod
    def concat(cls, parts: Sequence[_Touches]) -> _Touches:
        return cls(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def _utm(rng: Rng, voc: _Vocab, channel: Ints, month: Ints) -> dict[str, Ints]:
    """Source, campaign, ad and landing page of sessions of the given channels and months."""
    n = len(channel)
    source = voc.source_choice.pick(rng, channel)
    page = voc.page_choice.pick(rng, channel)
    campaign = np.full(n, -1, dtype=np.int64)
    ad = np.full(n, -1, dtype=np.int64)
    paid = voc.has_ads[channel]
    if paid.any():
        ad[paid] = voc.ad_choice.pick(rng, channel[paid])
        campaign[paid] = voc.ad_campaign[ad[paid]]
    email = channel == CH["email"]
    campaign[email] = voc.newsletter[month[email]]
    return {"source": source, "campaign": campaign, "ad": ad, "page": page}


# --------------------------------------------------------------------------------------
# one chunk of contacts and everything tied to them


class _Chunk:
    """Generates the contact-linked tables of one chunk of `n` contacts."""

    def __init__(self, cal: Calendar, voc: _Vocab, rng: Rng, k: int, n: int) -> None:
        self.cal, self.voc, self.rng, self.k, self.n = cal, voc, rng, k, n
        self.tag = f"{k}-"

    # -- people and their funnel ---------------------------------------------------------
    def people(self) -> None:
        rng, n, cal = self.rng, self.n, self.cal
        seg_share = np.array([s.contact_share for s in T.SEGMENTS])
        per_account = np.array([s.contacts_per_account for s in T.SEGMENTS])
        acc_p = seg_share / per_account
        acc_p /= acc_p.sum()
        n_acc = int(n / float(acc_p @ per_account) * 1.3) + 16
        while True:
            seg = rng.choice(len(T.SEGMENTS), n_acc, p=acc_p).astype(np.int64)
            size = 1 + rng.poisson(per_account[seg] - 1)
            if size.sum() >= n:
                break
            n_acc *= 2
        n_acc = int(np.searchsorted(np.cumsum(size), n)) + 1
        seg, size = seg[:n_acc], size[:n_acc]
        contact_acc = np.repeat(np.arange(n_acc, dtype=np.int64), size)[:n]
        country_p = np.array([w for _, w in T.COUNTRIES])
        country = rng.choice(len(T.COUNTRIES), n_acc, p=country_p / country_p.sum())
        owners = [(i, s) for i, (_, s) in enumerate(T.OWNERS)]
        owner_choice = _Choice.of(
            [[(i, 1.0) for i, s in owners if s == seg_.name] for seg_ in T.SEGMENTS]
        )
        euro = np.isin(
            country, [i for i, (c, _) in enumerate(T.COUNTRIES) if c in T.EURO_COUNTRIES]
        )
        self.acc_seg = seg
        self.acc_country = country.astype(np.int64)
        self.acc_owner = owner_choice.pick(rng, seg)
        self.acc_eur = euro & (rng.random(n_acc) < T.EUR_SHARE_IN_EURO_COUNTRIES)

        shares = np.array([T.lead_shares()[c.name] for c in T.CHANNELS])
        if len(cal.event_days) == 0:
            shares[CH["events"]] = 0.0
        channel = rng.choice(N_CH, n, p=shares / shares.sum()).astype(np.int64)
        day = cal.sample_days(rng, n)
        event = np.full(n, -1, dtype=np.int64)
        at_event = channel == CH["events"]
        if at_event.any():
            event[at_event] = rng.integers(0, len(cal.event_days), int(at_event.sum()))
            day[at_event] = cal.event_days[event[at_event]] + rng.integers(
                0, T.EVENT_DAYS, int(at_event.sum())
            )
        created = cal.start_s + day * DAY + self.time_of_day(n)
        order = np.argsort(created, kind="stable")
        self.channel = channel[order]
        self.created = created[order]
        self.account = contact_acc[order]
        self.event = event[order]
        self.seg = self.acc_seg[self.account]

    def time_of_day(self, n: int) -> Ints:
        hourly = np.cumsum(T.SEASONALITY.hourly)
        hour = np.searchsorted(hourly, self.rng.random(n) * hourly[-1], side="right")
        out: Ints = (np.minimum(hour, 23) * HOUR + self.rng.integers(0, HOUR, n)).astype(np.int64)
        return out

    def funnel(self) -> None:
        rng, n, ch = self.rng, self.n, self.channel
        u = rng.random((7, n))
        self.mql = u[0] < _channel_values("lead_to_mql")[ch]
        self.sql = self.mql & (u[1] < _channel_values("mql_to_sql")[ch])
        self.opp = self.sql & (u[2] < _channel_values("sql_to_opportunity")[ch])
        self.won = self.opp & (u[3] < _channel_values("win_rate")[ch])
        self.skip = self.sql & (u[4] < T.SKIP_MQL)
        self.repeat = self.mql & ~self.sql & (u[5] < T.REPEAT_MQL)
        self.leadgen = (ch == CH["paid_social"]) & (u[6] < T.LEADGEN_SHARE)
        self.t_mql = self.created + _gamma_days(rng, _lag_values("lead_to_mql")[ch])
        self.t_sql = self.t_mql + _gamma_days(rng, _lag_values("mql_to_sql")[ch])
        self.t_opp = self.t_sql + _gamma_days(rng, _lag_values("sql_to_opportunity")[ch])
        cycle = (
            _lag_values("opportunity_to_close")[ch]
            * np.array([s.cycle_multiplier for s in T.SEGMENTS])[self.seg]
        )
        self.t_close = self.t_opp + _gamma_days(rng, cycle)
        self.t_repeat = self.t_mql + rng.integers(30 * DAY, 120 * DAY, n)

    # -- contacts and stages --------------------------------------------------------------
    def contacts(self) -> pa.Table:
        n = self.n
        return _arrow_table(
            "contacts",
            {
                "contact_id": self.contact_ids(np.arange(n, dtype=np.int64)),
                "created_at": _ts(self.created),
                "account_id": self.account_ids(self.account),
                "email_hash": _hex(self.rng, n),
                "segment": _take([s.name for s in T.SEGMENTS], self.seg),
                "country": _take([c for c, _ in T.COUNTRIES], self.acc_country[self.account]),
                "owner": _take([o for o, _ in T.OWNERS], self.acc_owner[self.account]),
                "lead_source": _take([c.name for c in T.CHANNELS], self.channel),
            },
        )

    def contact_ids(self, idx: Ints) -> Any:
        return _ids("C" + self.tag, idx)

    def account_ids(self, idx: Ints) -> Any:
        return _ids("ACC" + self.tag, idx)

    def owner_of(self, contact: Ints) -> Any:
        return _take([o for o, _ in T.OWNERS], self.acc_owner[self.account[contact]])

    def stage_events(self) -> pa.Table:
        end = self.cal.end_s
        everyone = np.arange(self.n, dtype=np.int64)
        parts = [
            ("lead", everyone, self.created),
            ("mql", np.flatnonzero(self.mql & ~self.skip & (self.t_mql < end)), self.t_mql),
            ("mql", np.flatnonzero(self.repeat & (self.t_repeat < end)), self.t_repeat),
            ("sql", np.flatnonzero(self.sql & (self.t_sql < end)), self.t_sql),
            ("opportunity", np.flatnonzero(self.opp & (self.t_opp < end)), self.t_opp),
            ("customer", np.flatnonzero(self.won & (self.t_close < end)), self.t_close),
        ]
        contact = np.concatenate([idx for _, idx, _ in parts])
        ts = np.concatenate([t[idx] for _, idx, t in parts])
        stage = np.concatenate(
            [np.full(len(idx), DEFAULT_STAGES.index(s), dtype=np.int64) for s, idx, _ in parts]
        )
        order = np.lexsort((stage, ts))
        contact, ts, stage = contact[order], ts[order], stage[order]
        return _arrow_table(
            "stage_events",
            {
                "contact_id": self.contact_ids(contact),
                "stage": _take(DEFAULT_STAGES, stage),
                "ts": _ts(ts),
                "source": _take([STAGE_SOURCE[s] for s in DEFAULT_STAGES], stage),
            },
        )

    # -- opportunities --------------------------------------------------------------------
    def opportunities(self) -> tuple[pa.Table, pa.Table]:
        rng, cal, end = self.rng, self.cal, self.cal.end_s
        who = np.flatnonzero(self.opp & (self.t_opp < end))
        m = len(who)
        seg = self.seg[who]
        median = np.array([s.deal_median for s in T.SEGMENTS])[seg]
        sigma = np.array([s.deal_sigma for s in T.SEGMENTS])[seg]
        mult = _channel_values("deal_size_multiplier")[self.channel[who]]
        usd = np.exp(rng.normal(np.log(median * mult), sigma))
        created, close = self.t_opp[who], self.t_close[who]
        eur = self.acc_eur[self.account[who]]
        amount = np.round(np.where(eur, usd / cal.rate(created), usd), 2)
        won = self.won[who]
        closed = close < end
        cycle = (close - created).astype(np.float64)
        reach_prop = won | (rng.random(m) < T.LOST_REACHES_PROPOSAL)
        reach_neg = won | (reach_prop & (rng.random(m) < T.LOST_REACHES_NEGOTIATION))
        t_prop = created + (rng.uniform(0.25, 0.45, m) * cycle).astype(np.int64)
        t_neg = created + (rng.uniform(0.55, 0.85, m) * cycle).astype(np.int64)
        has_prop = reach_prop & (t_prop < end)
        has_neg = reach_neg & (t_neg < end)
        stage = np.where(
            closed, np.where(won, 3, 4), np.where(has_neg, 2, np.where(has_prop, 1, 0))
        )
        product_choice = _Choice.of(
            [[(T.PRODUCTS.index(p), w) for p, w in s.products] for s in T.SEGMENTS]
        )
        product = product_choice.pick(rng, seg)
        self.opp_who, self.opp_amount, self.opp_eur = who, amount, eur
        self.opp_won_closed = won & closed
        opp_ids = _ids("O" + self.tag, np.arange(m, dtype=np.int64))
        opps = _arrow_table(
            "opportunities",
            {
                "opportunity_id": opp_ids,
                "created_at": _ts(created),
                "contact_id": self.contact_ids(who),
                "account_id": self.account_ids(self.account[who]),
                "amount": amount,
                "currency": _take(["USD", "EUR"], eur.astype(np.int64)),
                "stage": _take(OPP_STAGES, stage.astype(np.int64)),
                "closed_at": _ts(close, closed),
                "is_won": pa.array(won, pa.bool_(), mask=~closed),
                "owner": self.owner_of(who),
                "product": _take(T.PRODUCTS, product),
            },
        )
        rows = np.arange(m, dtype=np.int64)
        parts = [
            (0, rows, created),
            (1, rows[has_prop], t_prop[has_prop]),
            (2, rows[has_neg], t_neg[has_neg]),
            (3, rows[closed & won], close[closed & won]),
            (4, rows[closed & ~won], close[closed & ~won]),
        ]
        opp = np.concatenate([r for _, r, _ in parts])
        ts = np.concatenate([t for _, _, t in parts])
        st = np.concatenate([np.full(len(r), s, dtype=np.int64) for s, r, _ in parts])
        order = np.lexsort((st, opp))
        stages = _arrow_table(
            "opportunity_stage_events",
            {
                "opportunity_id": _ids("O" + self.tag, opp[order]),
                "stage": _take(OPP_STAGES, st[order]),
                "ts": _ts(ts[order]),
            },
        )
        return opps, stages

    # -- sales follow-up, inbound requests and meetings ------------------------------------
    def sales_activities(self) -> pa.Table:
        rng, end, s = self.rng, self.cal.end_s, T.SALES
        as_mql = self.mql & ~self.skip & (self.t_mql < end)
        as_sql = self.skip & (self.t_sql < end)
        trigger = np.where(as_mql, self.t_mql, self.t_sql)
        n = self.n
        fast = rng.random(n) < s.fast_share
        lag_h = np.where(
            fast, rng.exponential(s.fast_mean_hours, n), rng.exponential(s.slow_mean_hours, n)
        )
        first = trigger + np.maximum((lag_h * HOUR).astype(np.int64), 60)
        accepted = (as_mql | as_sql) & (rng.random(n) < s.acceptance)
        who = np.flatnonzero(accepted)
        first_type = np.where(rng.random(len(who)) < 0.55, 0, 1).astype(np.int64)
        follow = rng.poisson(s.follow_ups, len(who)).astype(np.int64)
        owner_f, _ = _group_offsets(follow)
        gaps = rng.exponential(s.follow_up_gap_days * DAY, len(owner_f)) + HOUR
        follow_ts = first[who][owner_f] + _group_cumsum(gaps, follow).astype(np.int64)
        follow_type = rng.choice(3, len(owner_f), p=[0.4, 0.4, 0.2]).astype(np.int64)
        to_sql = who[self.sql[who]]
        not_sql = who[~self.sql[who]]
        status_sql = np.maximum(self.t_sql[to_sql], first[to_sql] + 60)
        status_dq = first[not_sql] + HOUR + _exp_seconds(rng, 10 * DAY, len(not_sql))
        contact = np.concatenate([who, who[owner_f], to_sql, not_sql])
        ts = np.concatenate([first[who], follow_ts, status_sql, status_dq])
        kind = np.concatenate([first_type, follow_type, np.full(len(to_sql) + len(not_sql), 3)])
        flat = [o for opts in ACTIVITY_OUTCOMES for o, _ in opts] + ["accepted", "disqualified"]
        outcome_choice = _Choice.of(
            [[(flat.index(o), w) for o, w in opts] for opts in ACTIVITY_OUTCOMES]
        )
        outcome = np.empty(len(kind), dtype=np.int64)
        worked = kind < 3
        outcome[worked] = outcome_choice.pick(rng, kind[worked])
        outcome[~worked] = np.concatenate(
            [
                np.full(len(to_sql), flat.index("accepted")),
                np.full(len(not_sql), flat.index("disqualified")),
            ]
        )
        keep = ts < end
        contact, ts, kind, outcome = contact[keep], ts[keep], kind[keep], outcome[keep]
        order = np.argsort(ts, kind="stable")
        return _arrow_table(
            "sales_activities",
            {
                "activity_id": _ids("SA" + self.tag, np.arange(len(ts), dtype=np.int64)),
                "contact_id": self.contact_ids(contact[order]),
                "ts": _ts(ts[order]),
                "activity_type": _take(ACTIVITY_TYPES, kind[order]),
                "owner": self.owner_of(contact[order]),
                "outcome": _take(flat, outcome[order].astype(np.int64)),
            },
        )

    def inbound_requests(self) -> tuple[pa.Table, Ints, Ints]:
        """The requests, plus (contact, booked_at) of the meetings their outcomes booked."""
        rng, cal, b = self.rng, self.cal, T.INBOUND
        from_contacts = np.flatnonzero(rng.random(self.n) < b.contact_share)
        n_anon = int(rng.poisson(b.anonymous_per_contact * self.n))
        anon_ts = cal.start_s + cal.sample_days(rng, n_anon) * DAY + self.time_of_day(n_anon)
        contact = np.concatenate([from_contacts, np.full(n_anon, -1, dtype=np.int64)])
        received = np.concatenate([self.created[from_contacts], anon_ts])
        m = len(received)
        channel_p = np.array([w for _, w in b.channels])
        channel = rng.choice(len(b.channels), m, p=channel_p / channel_p.sum()).astype(np.int64)
        minutes = np.exp(rng.normal(math.log(b.median_response_minutes), b.response_sigma, m))
        response = received + np.maximum((minutes * 60).astype(np.int64), 10)
        answered = (rng.random(m) >= b.unanswered) & (response < cal.end_s)
        outcome_p = np.array([w for _, w in b.outcomes])
        has_outcome = answered & (rng.random(m) < b.outcome_rate / (1 - b.unanswered))
        picked = rng.choice(len(b.outcomes), m, p=outcome_p / outcome_p.sum()).astype(np.int64)
        names = [o for o, _ in b.outcomes] + ["none"]
        outcome = np.where(has_outcome, picked, len(names) - 1)
        order = np.argsort(received, kind="stable")
        contact, received, response = contact[order], received[order], response[order]
        answered, channel, outcome = answered[order], channel[order], outcome[order]
        meeting = (outcome == names.index("meeting")) & (contact >= 0)
        table = _arrow_table(
            "inbound_requests",
            {
                "request_id": _ids("R" + self.tag, np.arange(m, dtype=np.int64)),
                "contact_id": pc.if_else(
                    pa.array(contact >= 0),
                    self.contact_ids(np.maximum(contact, 0)),
                    pa.nulls(m, pa.string()),
                ),
                "received_at": _ts(received),
                "first_response_at": _ts(response, answered),
                "channel": _take([c for c, _ in b.channels], channel),
                "outcome": _take(names, outcome),
            },
        )
        return (
            table,
            contact[meeting],
            response[meeting] + rng.integers(60, 1800, int(meeting.sum())),
        )

    def meetings(self, inbound_contact: Ints, inbound_booked: Ints) -> pa.Table:
        rng, end, mt = self.rng, self.cal.end_s, T.MEETINGS
        who = np.flatnonzero(
            self.sql & (self.t_sql < end) & (rng.random(self.n) < mt.booked_by_sql)
        )
        booked_sql = self.t_sql[who] + np.maximum(
            _exp_seconds(rng, mt.booking_lag_days * DAY, len(who)), 300
        )
        contact = np.concatenate([who, inbound_contact])
        booked = np.concatenate([booked_sql, inbound_booked])
        keep = booked < end
        contact, booked = contact[keep], booked[keep]
        m = len(contact)
        scheduled = booked + 2 * HOUR + _exp_seconds(rng, mt.lead_time_days * DAY, m)
        held = scheduled < end
        attended = rng.random(m) < mt.attendance
        order = np.argsort(booked, kind="stable")
        return _arrow_table(
            "meetings",
            {
                "meeting_id": _ids("M" + self.tag, np.arange(m, dtype=np.int64)),
                "contact_id": self.contact_ids(contact[order]),
                "booked_at": _ts(booked[order]),
                "scheduled_for": _ts(scheduled[order]),
                "attended": pa.array(attended[order], pa.bool_(), mask=~held[order]),
                "owner": self.owner_of(contact[order]),
            },
        )

    # -- email -----------------------------------------------------------------------------
    def email(self) -> tuple[pa.Table, _Touches]:
        """Email events, and the email_click touchpoints of their clicks."""
        rng, cal, e, voc = self.rng, self.cal, T.EMAIL, self.voc
        end = cal.end_s
        sub = np.flatnonzero(rng.random(self.n) < e.opt_in)
        sub_ts = self.created[sub] + rng.integers(5, 120, len(sub))
        # sends: a welcome mail, then consecutive monthly newsletters
        m0 = cal.month_of(self.created[sub])
        length = rng.geometric(1 / e.newsletter_months, len(sub)).astype(np.int64)
        length = np.clip(np.minimum(length, cal.n_months - 1 - m0), 0, None)
        owner, rank = _group_offsets(length)
        month = m0[owner] + 1 + rank
        news_ts = (
            cal.start_s
            + (cal.month_days[month] + e.newsletter_day - 1) * DAY
            + 14 * HOUR
            + rng.integers(0, HOUR, len(month))
        )
        contact = np.concatenate([sub, sub[owner]])
        campaign = np.concatenate([np.full(len(sub), voc.welcome), voc.newsletter[month]])
        sent = np.concatenate([self.created[sub] + 600 + rng.integers(0, 300, len(sub)), news_ts])
        order = np.lexsort((sent, contact))
        contact, campaign, sent = contact[order], campaign[order], sent[order]
        keep = sent < end
        contact, campaign, sent = contact[keep], campaign[keep], sent[keep]
        s = len(sent)
        bounce = rng.random(s) < e.bounce_rate
        delivered = ~bounce
        unsub = delivered & (rng.random(s) < e.unsubscribe_rate)
        counts = (
            np.bincount(np.searchsorted(np.unique(contact), contact))
            if s
            else np.zeros(0, np.int64)
        )
        before = _group_cumsum(unsub.astype(np.float64), counts.astype(np.int64)) - unsub
        keep = before < 0.5  # nothing is sent after an unsubscribe
        contact, campaign, sent = contact[keep], campaign[keep], sent[keep]
        bounce, delivered, unsub = bounce[keep], delivered[keep], unsub[keep]
        s = len(sent)
        t_deliv = sent + rng.integers(1, 30, s)
        opened = delivered & (rng.random(s) < e.open_rate)
        t_open = t_deliv + 60 + _exp_seconds(rng, 6 * HOUR, s)
        again = opened & (rng.random(s) < e.second_open)
        t_again = t_open + HOUR + _exp_seconds(rng, DAY, s)
        clicked = opened & (rng.random(s) < e.click_to_open)
        t_click = t_open + 5 + _exp_seconds(rng, 120, s)
        forwarded = opened & (rng.random(s) < e.forward_rate)
        t_fwd = t_open + 30 + _exp_seconds(rng, HOUR, s)
        t_unsub = t_deliv + 120 + _exp_seconds(rng, HOUR, s)
        every = np.ones(s, dtype=bool)
        parts = [
            ("sent", every, sent),
            ("delivered", delivered, t_deliv),
            ("bounce", bounce, t_deliv),
            ("open", opened, t_open),
            ("open", again, t_again),
            ("click", clicked, t_click),
            ("forward", forwarded, t_fwd),
            ("unsubscribe", unsub, t_unsub),
        ]
        events = [
            "subscribe",
            "sent",
            "delivered",
            "open",
            "click",
            "forward",
            "bounce",
            "unsubscribe",
        ]
        c_all = np.concatenate([sub] + [contact[m] for _, m, _ in parts])
        camp_all = np.concatenate(
            [np.full(len(sub), voc.signup)] + [campaign[m] for _, m, _ in parts]
        )
        ts_all = np.concatenate([sub_ts] + [t[m] for _, m, t in parts])
        ev_all = np.concatenate(
            [np.zeros(len(sub), dtype=np.int64)]
            + [np.full(int(m.sum()), events.index(name)) for name, m, _ in parts]
        )
        keep = ts_all < end
        order = np.argsort(ts_all[keep], kind="stable")
        table = _arrow_table(
            "email_events",
            {
                "ts": _ts(ts_all[keep][order]),
                "campaign": _take(voc.campaigns, camp_all[keep][order]),
                "contact_id": self.contact_ids(c_all[keep][order]),
                "event": _take(events, ev_all[keep][order].astype(np.int64)),
            },
        )
        click = clicked & (t_click < end)
        m = int(click.sum())
        touches = _Touches.make(
            t_click[click],
            np.full(m, CH["email"]),
            "email_click",
            contact=contact[click],
            campaign=campaign[click],
            source=np.full(m, voc.sources.index("newsletter"), dtype=np.int64),
        )
        return table, touches

    # -- touchpoints and identities ----------------------------------------------------------
    def touchpoints(self, extra: Sequence[_Touches]) -> tuple[pa.Table, pa.Table]:
        rng, cal, voc, w = self.rng, self.cal, self.voc, T.WEB
        n, end, start = self.n, cal.end_s, cal.start_s
        ch = self.channel
        return_p = _channel_values("return_weight")
        return_p = return_p / return_p.sum()
        idx = np.arange(n, dtype=np.int64)
        web = ~np.isin(ch, [CH["events"], CH["partners"]]) & ~self.leadgen
        web_idx = idx[web]
        k_pre = rng.poisson(w.pre_lead_sessions, len(web_idx)).astype(np.int64)
        # the lead-creating session, then the form at created_at
        conv_ts = np.maximum(self.created[web_idx] - rng.integers(60, 1200, len(web_idx)), start)
        mixed = rng.choice(N_CH, len(web_idx), p=return_p).astype(np.int64)
        by_origin = (k_pre == 0) | (rng.random(len(web_idx)) < w.closer_is_origin)
        conv_ch = np.where(by_origin, ch[web_idx], mixed)
        conv_utm = _utm(rng, voc, conv_ch, cal.month_of(conv_ts))
        session_no = np.arange(len(web_idx), dtype=np.int64)
        parts = [
            _Touches.make(
                conv_ts,
                conv_ch,
                "session",
                contact=np.full(len(web_idx), -1),
                anon_kind=np.ones(len(web_idx), dtype=np.int64),
                anon_num=web_idx,
                session=session_no,
                converting=np.ones(len(web_idx), dtype=bool),
                **conv_utm,
            ),
            _Touches.make(
                self.created[web_idx],
                conv_ch,
                "form",
                contact=web_idx,
                anon_kind=np.ones(len(web_idx), dtype=np.int64),
                anon_num=web_idx,
                session=session_no,
                **conv_utm,
            ),
        ]
        # anonymous sessions before the lead; the earliest is from the origin channel
        owner, rank = _group_offsets(k_pre)
        gaps = rng.exponential(w.pre_lead_gap_days * DAY, len(owner)) + 60
        pre_ts = conv_ts[owner] - _group_cumsum(gaps, k_pre).astype(np.int64)
        earliest = rank == k_pre[owner] - 1
        pre_ch = np.where(
            earliest, ch[web_idx][owner], rng.choice(N_CH, len(owner), p=return_p).astype(np.int64)
        )
        two = rng.random(n) < w.second_device
        device = np.where(two[web_idx][owner] & (rng.random(len(owner)) < 0.5), 2, 1)
        kept = pre_ts >= start
        pre_ts, pre_ch, device, pre_who = (
            pre_ts[kept],
            pre_ch[kept],
            device[kept],
            web_idx[owner][kept],
        )
        parts.append(
            _Touches.make(
                pre_ts,
                pre_ch,
                "session",
                anon_kind=device.astype(np.int64),
                anon_num=pre_who,
                **_utm(rng, voc, pre_ch, cal.month_of(pre_ts)),
            )
        )
        # first touches that are not web sessions
        ev = idx[ch == CH["events"]]
        if len(ev):
            e = self.event[ev]
            parts.append(
                _Touches.make(
                    self.created[ev],
                    ch[ev],
                    "event",
                    contact=ev,
                    source=voc.event_source[e],
                    campaign=voc.event_campaign[e],
                )
            )
        pa_idx = idx[ch == CH["partners"]]
        parts.append(
            _Touches.make(
                self.created[pa_idx],
                ch[pa_idx],
                "offline",
                contact=pa_idx,
                source=voc.source_choice.pick(rng, ch[pa_idx]),
            )
        )
        lg = idx[self.leadgen]
        lg_ad = voc.leadgen_ads[rng.integers(0, len(voc.leadgen_ads), len(lg))]
        parts.append(
            _Touches.make(
                self.created[lg],
                ch[lg],
                "ad_click",
                contact=lg,
                ad=lg_ad,
                campaign=voc.ad_campaign[lg_ad],
                source=voc.source_choice.pick(rng, ch[lg]),
            )
        )
        # sessions of known contacts after the lead
        k_post = rng.poisson(w.post_lead_sessions, n).astype(np.int64)
        owner, _ = _group_offsets(k_post)
        gaps = rng.exponential(w.post_lead_gap_days * DAY, len(owner)) + 600
        post_ts = self.created[owner] + _group_cumsum(gaps, k_post).astype(np.int64)
        keep = post_ts < end
        post_ts, post_who = post_ts[keep], owner[keep]
        post_ch = rng.choice(N_CH, len(post_ts), p=return_p).astype(np.int64)
        parts.append(
            _Touches.make(
                post_ts,
                post_ch,
                "session",
                contact=post_who,
                **_utm(rng, voc, post_ch, cal.month_of(post_ts)),
            )
        )
        # later events attended
        if len(cal.event_days):
            event_s = cal.start_s + cal.event_days * DAY
            nxt = np.searchsorted(event_s, self.created, side="right")
            left = len(event_s) - nxt
            go = (left > 0) & (rng.random(n) < T.LATER_EVENT_ATTENDANCE)
            who = idx[go]
            e = nxt[go] + (rng.random(len(who)) * left[go]).astype(np.int64)
            e_ts = (
                event_s[e]
                + rng.integers(0, T.EVENT_DAYS, len(who)) * DAY
                + self.time_of_day(len(who))
            )
            keep = e_ts < end
            parts.append(
                _Touches.make(
                    e_ts[keep],
                    np.full(int(keep.sum()), CH["events"]),
                    "event",
                    contact=who[keep],
                    source=voc.event_source[e[keep]],
                    campaign=voc.event_campaign[e[keep]],
                )
            )
        parts.extend(extra)
        known = _Touches.concat(parts)
        del parts
        identities = self.identities(known)
        known.extend(self.anonymous_sessions(known))
        return self.touch_table(known), identities

    def anonymous_sessions(self, known: _Touches) -> _Touches:
        """Never-converting traffic, added until leads / sessions equals the channel's
        visit_to_lead over the window (months where known visitors alone exceed the monthly
        target are made up by the other months of the channel)."""
        rng, cal = self.rng, self.cal
        M = cal.n_months
        leads = np.bincount(self.channel * M + cal.month_of(self.created), minlength=N_CH * M)
        is_session = known.touch_type == TT["session"]
        have = np.bincount(
            known.channel[is_session] * M + cal.month_of(known.ts[is_session]), minlength=N_CH * M
        )
        deficit = (leads / np.repeat(_channel_values("visit_to_lead"), M) - have).reshape(N_CH, M)
        positive = np.maximum(deficit, 0.0)
        need = np.maximum(deficit.sum(axis=1), 0.0)
        room = positive.sum(axis=1)
        share = np.divide(need, room, out=np.zeros(N_CH), where=room > 0)
        wanted = (positive * share[:, None]).ravel()
        pad = np.floor(wanted + rng.random(len(wanted))).astype(np.int64)
        cell, _ = _group_offsets(pad)
        channel, month = cell // M, cell % M
        ts = cal.start_s + cal.sample_days_in_months(rng, month) * DAY + self.time_of_day(len(cell))
        visitors = max(1, round(len(cell) / T.WEB.anonymous_sessions_per_visitor))
        visitor = rng.integers(0, visitors, len(cell))
        return _Touches.make(
            ts,
            channel,
            "session",
            anon_kind=np.full(len(cell), 3),
            anon_num=visitor,
            **_utm(rng, self.voc, channel, month),
        )

    def identities(self, known: _Touches) -> pa.Table:
        """One row per (device, contact) seen before the lead, first_seen_at = its first touch."""
        rows = []
        for kind in (1, 2):
            mine = known.anon_kind == kind
            first = np.full(self.n, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(first, known.anon_num[mine], known.ts[mine])
            who = np.flatnonzero(first < np.iinfo(np.int64).max)
            rows.append((kind, who, first[who]))
        kinds = np.concatenate([np.full(len(w), k) for k, w, _ in rows])
        who = np.concatenate([w for _, w, _ in rows])
        first = np.concatenate([f for _, _, f in rows])
        order = np.argsort(first, kind="stable")
        return _arrow_table(
            "identities",
            {
                "anonymous_id": self.anon_ids(kinds[order], who[order]),
                "contact_id": self.contact_ids(who[order]),
                "first_seen_at": _ts(first[order]),
            },
        )

    def anon_ids(self, kind: Ints, num: Ints) -> Any:
        prefix = _take(["", f"A{self.tag}", f"A{self.tag}", f"V{self.tag}"], kind)
        prefix = pc.if_else(pa.array(kind > 0), prefix, pa.nulls(len(kind), pa.string()))
        suffix = _take(["", "", "-2", ""], kind)
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(num), pa.string()), suffix, "")

    def touch_table(self, t: _Touches) -> pa.Table:
        """The touchpoints in time order; `t` is consumed (sorted in place). Built in slices
        so that the temporaries of the Arrow conversion stay small."""
        t.permute(np.argsort(t.ts, kind="stable"))
        is_session = t.touch_type == TT["session"]
        fresh = is_session & (t.session < 0)
        t.session[fresh] = int(t.session.max(initial=-1)) + 1 + np.arange(int(fresh.sum()))
        slices = [
            self.touch_slice(t, start, min(start + TOUCH_SLICE, len(t.ts)))
            for start in range(0, max(len(t.ts), 1), TOUCH_SLICE)
        ]
        return pa.concat_tables(slices)

    def touch_slice(self, t: _Touches, start: int, stop: int) -> pa.Table:
        rng = self.rng
        part = slice(start, stop)
        m = stop - start
        channel, session = t.channel[part], t.session[part]
        is_session = t.touch_type[part] == TT["session"]
        bounce_p = _channel_values("bounce_rate")[channel]
        bounce = is_session & ~t.converting[part] & (rng.random(m) < bounce_p)
        pages = _channel_values("pages_per_session")[channel]
        pageviews = np.where(bounce, 1, 2 + rng.poisson(np.maximum(pages - 2, 0.1)))
        engaged = np.where(
            bounce, rng.uniform(0, 10, m), np.exp(rng.normal(np.log(45.0 * pageviews), 0.5))
        )
        contact = t.contact[part]
        return _arrow_table(
            "touchpoints",
            {
                "touchpoint_id": _ids("T" + self.tag, np.arange(start, stop, dtype=np.int64)),
                "ts": _ts(t.ts[part]),
                "contact_id": pc.if_else(
                    pa.array(contact >= 0),
                    self.contact_ids(np.maximum(contact, 0)),
                    pa.nulls(m, pa.string()),
                ),
                "anonymous_id": self.anon_ids(t.anon_kind[part], t.anon_num[part]),
                "channel": _take([c.name for c in T.CHANNELS], channel),
                "source": _take(self.voc.sources, t.source[part]),
                "medium": _take([c.medium for c in T.CHANNELS], channel),
                "campaign": _take(self.voc.campaigns, t.campaign[part]),
                "ad": _take(self.voc.ads, t.ad[part]),
                "landing_page": _take(self.voc.pages, t.page[part]),
                "session_id": pc.if_else(
                    pa.array(session >= 0),
                    _ids("S" + self.tag, np.maximum(session, 0)),
                    pa.nulls(m, pa.string()),
                ),
                "touch_type": _take(TOUCH_TYPES, t.touch_type[part]),
                "is_bounce": pa.array(bounce, pa.bool_(), mask=~is_session),
                "pageviews": pa.array(pageviews.astype(np.int64), pa.int64(), mask=~is_session),
                "engaged_seconds": pa.array(np.round(engaged, 1), pa.float64(), mask=~is_session),
            },
        )

    # -- recurring revenue --------------------------------------------------------------------
    def subscriptions(self) -> pa.Table:
        """MRR per account and month from won deals: amount / 12 from the close month, then
        churn, expansion, contraction and reactivation month by month."""
        rng, cal, sub = self.rng, self.cal, T.SUBSCRIPTIONS
        lines = np.flatnonzero(self.opp_won_closed)
        who = self.opp_who[lines]
        account = self.account[who]
        start_month = cal.month_of(self.t_close[who])
        mrr = np.asarray(self.opp_amount[lines] / 12.0, dtype=np.float64)
        churn = np.array([s.monthly_churn for s in T.SEGMENTS])[self.seg[who]]
        L = len(lines)
        status = np.zeros(L, dtype=np.int64)  # 0 not yet, 1 active, 2 churned (may return), 3 gone
        back_at = np.full(L, -1, dtype=np.int64)
        out_line: list[Ints] = []
        out_month: list[Ints] = []
        out_mrr: list[Floats] = []
        for m in range(cal.n_months):
            status[(status == 0) & (start_month == m)] = 1
            status[(status == 2) & (back_at == m)] = 1
            active = np.flatnonzero(status == 1)
            out_line.append(active)
            out_month.append(np.full(len(active), m, dtype=np.int64))
            out_mrr.append(mrr[active].copy())
            u = rng.random((4, L))
            churned = (status == 1) & (u[0] < churn)
            returns = churned & (u[1] < sub.reactivation)
            status[churned] = 3
            status[returns] = 2
            back_at[returns] = (
                m + 1 + rng.geometric(1 / sub.reactivation_gap_months, int(returns.sum()))
            )
            stay = status == 1
            grow = stay & (u[2] < sub.expansion)
            shrink = stay & ~grow & (u[3] < sub.contraction)
            mrr[grow] *= rng.uniform(1.1, 1.3, int(grow.sum()))
            mrr[shrink] *= rng.uniform(0.75, 0.9, int(shrink.sum()))
        line = np.concatenate(out_line) if out_line else np.zeros(0, np.int64)
        month = np.concatenate(out_month) if out_month else np.zeros(0, np.int64)
        value = np.concatenate(out_mrr) if out_mrr else np.zeros(0)
        key = account[line] * cal.n_months + month
        uniq, inverse = np.unique(key, return_inverse=True)
        total = np.bincount(inverse, weights=value, minlength=len(uniq))
        acc, mon = uniq // cal.n_months, uniq % cal.n_months
        return _arrow_table(
            "subscriptions",
            {
                "customer_id": self.account_ids(acc),
                "month": _dates(cal.start_day + cal.month_days[mon]),
                "mrr": np.round(total, 2),
                "currency": _take(["USD", "EUR"], self.acc_eur[acc].astype(np.int64)),
            },
        )

    def won_revenue(self) -> Floats:
        """USD closed won per month of the window (EUR deals at the close date's rate, as
        the `revenue` KPI converts them): what the sales commissions are a share of."""
        cal = self.cal
        lines = np.flatnonzero(self.opp_won_closed)
        close = self.t_close[self.opp_who[lines]]
        amount = self.opp_amount[lines]
        usd = np.where(self.opp_eur[lines], amount * cal.rate(close), amount)
        won = np.bincount(cal.month_of(close), weights=usd, minlength=cal.n_months)
        return won.astype(np.float64)

    def build(self) -> dict[str, pa.Table]:
        self.people()
        self.funnel()
        out: dict[str, pa.Table] = {"contacts": self.contacts()}
        out["stage_events"] = self.stage_events()
        out["opportunities"], out["opportunity_stage_events"] = self.opportunities()
        out["sales_activities"] = self.sales_activities()
        out["inbound_requests"], in_contact, in_booked = self.inbound_requests()
        out["meetings"] = self.meetings(in_contact, in_booked)
        out["email_events"], clicks = self.email()
        out["touchpoints"], out["identities"] = self.touchpoints([clicks])
        out["subscriptions"] = self.subscriptions()
        return out


# --------------------------------------------------------------------------------------
# tables not tied to contacts (first chunk only)


def _scale(cal: Calendar, contacts: int) -> float:
    """Spend and audiences scale with leads per day (truth.REFERENCE_CONTACTS)."""
    return (contacts / cal.n_days) / (T.REFERENCE_CONTACTS / T.REFERENCE_DAYS)


SPEND_ORDER = [("date", "ascending"), ("channel", "ascending")]


def _spend(cal: Calendar, contacts: int, rng: Rng) -> tuple[pa.Table, Floats]:
    """Marketing spend rows, and the expected (noise-free) spend per month in USD for the
    targets. The sales-cost rows are `_sales_cost`."""
    scale = _scale(cal, contacts)
    intensity = cal.weights / cal.weights.mean()
    month_of_day = np.searchsorted(cal.month_days, np.arange(cal.n_days), side="right") - 1
    expected = np.zeros(cal.n_months)
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "day",
            "channel",
            "campaign",
            "ad",
            "cost",
            "eur",
            "source",
            "impressions",
            "clicks",
            "counted",
        )
    }

    def add(
        day: Ints,
        channel: str,
        campaign: str,
        ad: str | None,
        usd: Floats,
        eur: bool,
        source: str | None,
        clicks: tuple[Ints, Ints] | None,
    ) -> None:
        n = len(day)
        cost = usd / cal.fx[day] if eur else usd
        cols["day"].append(day)
        cols["channel"].append(np.full(n, channel, dtype=object))
        cols["campaign"].append(np.full(n, campaign, dtype=object))
        cols["ad"].append(np.full(n, ad, dtype=object))
        cols["cost"].append(np.round(cost, 2))
        cols["eur"].append(np.full(n, eur))
        cols["source"].append(np.full(n, source, dtype=object))
        cols["counted"].append(np.full(n, clicks is not None))
        imp, clk = clicks if clicks is not None else (np.zeros(n, np.int64), np.zeros(n, np.int64))
        cols["impressions"].append(imp)
        cols["clicks"].append(clk)

    days = np.arange(cal.n_days, dtype=np.int64)
    for c in T.CHANNELS:
        level = c.daily_spend * scale
        if c.spend_cadence == "daily":
            for camp in c.campaigns:
                for ad in camp.ads:
                    mean = level * camp.spend_share / len(camp.ads) * intensity
                    np.add.at(expected, month_of_day, mean)
                    s = T.SPEND_NOISE_SIGMA
                    usd = mean * np.exp(rng.normal(-s * s / 2, s, cal.n_days))
                    impressions = np.rint(
                        usd / c.cpc / c.ctr * np.exp(rng.normal(0, 0.1, cal.n_days))
                    ).astype(np.int64)
                    clicks = rng.binomial(impressions, c.ctr).astype(np.int64)
                    add(
                        days,
                        c.name,
                        camp.name,
                        ad,
                        usd,
                        camp.currency == "EUR",
                        c.sources[0][0],
                        (impressions, clicks),
                    )
        elif c.spend_cadence == "monthly":
            size = np.diff(cal.month_days)
            usd = level * size.astype(np.float64)
            expected += usd
            add(
                cal.month_days[:-1],
                c.name,
                c.campaigns[0].name,
                None,
                usd,
                False,
                None,
                None,
            )
        elif c.spend_cadence == "event" and len(cal.event_days):
            usd = np.full(len(cal.event_days), level * cal.n_days / len(cal.event_days))
            np.add.at(expected, month_of_day[cal.event_days], usd)
            for i, name in enumerate(cal.event_names):
                add(
                    cal.event_days[i : i + 1], c.name, name, None, usd[i : i + 1], False, name, None
                )
    counted = np.concatenate(cols["counted"])
    eur = np.concatenate(cols["eur"])
    table = _arrow_table(
        "spend",
        {
            "date": _dates(cal.start_day + np.concatenate(cols["day"])),
            "channel": pa.array(np.concatenate(cols["channel"]), pa.string()),
            "campaign": pa.array(np.concatenate(cols["campaign"]), pa.string()),
            "ad": pa.array(np.concatenate(cols["ad"]), pa.string()),
            "cost": np.concatenate(cols["cost"]),
            "currency": _take(["USD", "EUR"], eur.astype(np.int64)),
            "source": pa.array(np.concatenate(cols["source"]), pa.string()),
            "impressions": pa.array(np.concatenate(cols["impressions"]), pa.int64(), mask=~counted),
            "clicks": pa.array(np.concatenate(cols["clicks"]), pa.int64(), mask=~counted),
        },
    )
    return table.sort_by(SPEND_ORDER), expected


def _sales_cost(cal: Calendar, contacts: int, won_revenue: Floats) -> pa.Table:
    """Spend rows of the sales-cost channel: per month (on the 1st, in USD) the salaries,
    tools and commissions of truth.SALES_COST, for `won_revenue` USD won per month."""
    scale = _scale(cal, contacts)
    months = [T.SALES_COST.monthly(float(won), scale) for won in won_revenue]
    campaigns = list(months[0]) if months else []
    n = len(months) * len(campaigns)
    return _arrow_table(
        "spend",
        {
            "date": _dates(np.repeat(cal.start_day + cal.month_days[:-1], len(campaigns))),
            "channel": pa.array(np.full(n, SALES_COST_CHANNEL, dtype=object), pa.string()),
            "campaign": pa.array(campaigns * len(months), pa.string()),
            "cost": np.array([m[c] for m in months for c in campaigns], dtype=np.float64),
            "currency": pa.array(np.full(n, T.REPORTING_CURRENCY, dtype=object), pa.string()),
        },
    )


def _audiences(cal: Calendar, contacts: int) -> pa.Table:
    a, scale = T.AUDIENCES, _scale(cal, contacts) * cal.n_days / T.REFERENCE_DAYS
    steps = np.arange(cal.n_months + 1)
    day = np.concatenate([[-1], cal.month_days[1:] - 1])  # the day before, then month ends
    rows = [
        ("email_list", "email", a.email_list_start, a.email_list_growth),
        ("social_followers", "social", a.social_followers_start, a.social_followers_growth),
        ("blog_subscribers", "organic_search", a.blog_subscribers_start, a.blog_subscribers_growth),
    ]
    n = len(steps)
    return _arrow_table(
        "audience_snapshots",
        {
            "date": _dates(np.tile(cal.start_day + day, len(rows))),
            "audience": pa.array([r[0] for r in rows for _ in range(n)], pa.string()),
            "size": np.concatenate(
                [np.rint(r[2] * scale * (1 + r[3]) ** steps) for r in rows]
            ).astype(np.int64),
            "channel": pa.array([r[1] for r in rows for _ in range(n)], pa.string()),
        },
    )


def _social_posts(cal: Calendar, rng: Rng) -> pa.Table:
    ids: list[Any] = []
    ts: list[Ints] = []
    likes: list[Ints] = []
    growth = T.SEASONALITY.annual_growth
    for network, per_week, mean_likes in T.SOCIAL_NETWORKS:
        n = round(per_week * cal.n_days / 7)
        day = np.sort(rng.integers(0, cal.n_days, n))
        hourly = np.cumsum(T.SEASONALITY.hourly)
        hour = np.minimum(np.searchsorted(hourly, rng.random(n) * hourly[-1], side="right"), 23)
        ts.append(cal.start_s + day * DAY + hour * HOUR + rng.integers(0, HOUR, n))
        mean = mean_likes * (1 + growth * day / 365.25) * np.exp(rng.normal(-0.125, 0.5, n))
        likes.append(rng.poisson(mean).astype(np.int64))
        ids.append(_ids(f"{network}-", np.arange(n, dtype=np.int64)))
    all_likes = np.concatenate(likes)
    m = len(all_likes)
    return _arrow_table(
        "social_posts",
        {
            "post_id": pa.concat_arrays(ids),
            "published_at": _ts(np.concatenate(ts)),
            "channel": pa.array(np.full(m, "social", dtype=object), pa.string()),
            "likes": all_likes,
            "comments": rng.binomial(all_likes, 0.08).astype(np.int64),
            "shares": rng.binomial(all_likes, 0.05).astype(np.int64),
            "clicks": rng.poisson(0.6 * all_likes).astype(np.int64),
        },
    ).sort_by("published_at")


def _fx_rates(cal: Calendar) -> pa.Table:
    n = cal.n_days
    return _arrow_table(
        "fx_rates",
        {
            "date": _dates(cal.start_day + np.arange(n, dtype=np.int64)),
            "currency": pa.array(np.full(n, "EUR", dtype=object), pa.string()),
            "rate": cal.fx,
        },
    )


def _targets(cal: Calendar, contacts: int, spend_by_month: Floats) -> pa.Table:
    """Monthly targets: TARGET_UPLIFT times the expected value of each KPI."""
    month_w = np.add.reduceat(cal.weights, cal.month_days[:-1]) / cal.weights.sum()
    leads = contacts * month_w
    shares = T.lead_shares()
    mql_rate = sum(shares[c.name] * c.lead_to_mql for c in T.CHANNELS)
    cust_rate = sum(shares[c.name] * c.lead_to_customer for c in T.CHANNELS)
    deal = sum(s.contact_share * s.deal_mean for s in T.SEGMENTS)
    value_rate = (
        sum(shares[c.name] * c.lead_to_customer * c.deal_size_multiplier for c in T.CHANNELS) * deal
    )
    up = T.TARGET_UPLIFT  # applied before rounding: whole leads, money in hundreds
    totals = {
        "leads": np.rint(leads * up),
        "mqls": np.rint(leads * mql_rate * up),
        "customers": np.rint(leads * cust_rate * up),
        "revenue": np.round(leads * value_rate * up, -2),
        "spend": np.round(spend_by_month * up, -2),
    }
    starts = cal.start_day + cal.month_days[:-1]
    ends = cal.start_day + cal.month_days[1:] - 1
    kpi: list[str] = []
    dim: list[str | None] = []
    value: list[str | None] = []
    s_list: list[Ints] = []
    e_list: list[Ints] = []
    t_list: list[Floats] = []
    M = cal.n_months
    for name in T.TARGET_KPIS:
        kpi += [name] * M
        dim += [None] * M
        value += [None] * M
        s_list.append(starts)
        e_list.append(ends)
        t_list.append(totals[name])
    for c in T.CHANNELS:
        kpi += ["leads"] * M
        dim += ["channel"] * M
        value += [c.name] * M
        s_list.append(starts)
        e_list.append(ends)
        t_list.append(np.rint(leads * shares[c.name] * up))
    return _arrow_table(
        "targets",
        {
            "kpi": pa.array(kpi, pa.string()),
            "period_start": _dates(np.concatenate(s_list)),
            "period_end": _dates(np.concatenate(e_list)),
            "dimension": pa.array(dim, pa.string()),
            "dimension_value": pa.array(value, pa.string()),
            "target": np.round(np.concatenate(t_list), 2),
        },
    )


def _global_tables(cal: Calendar, contacts: int, rng: Rng) -> dict[str, pa.Table]:
    spend, by_month = _spend(cal, contacts, rng)
    return {
        "fx_rates": _fx_rates(cal),
        "spend": spend,
        "audience_snapshots": _audiences(cal, contacts),
        "social_posts": _social_posts(cal, rng),
        "targets": _targets(cal, contacts, by_month),
        **{name: _arrow_table(name, {}) for name in NOT_GENERATED},
    }


# --------------------------------------------------------------------------------------
# public API


def generate(
    contacts: int = 20_000,
    seed: int = 42,
    months: int = T.DEFAULT_MONTHS,
    end: dt.date | None = None,
    chunk_contacts: int = 100_000,
) -> Iterator[dict[str, pa.Table]]:
    """Yield the demo data set chunk by chunk: each chunk maps table names to Arrow tables
    with exactly the canonical columns. Tables not tied to contacts (GLOBAL_TABLES) are in
    the first chunk only, but for the sales-cost rows of spend, which need every chunk's
    won deals and come with the last. The same arguments always give the same data."""
    if contacts < 0 or months < 1 or chunk_contacts < 1 or seed < 0:
        raise ValueError("contacts and seed must be >= 0, months and chunk_contacts >= 1")
    cal = make_calendar(end or T.DEFAULT_END, months, seed)
    voc = _vocab(cal)
    n_chunks = max(1, math.ceil(contacts / chunk_contacts))
    won_revenue = np.zeros(cal.n_months)
    for k in range(n_chunks):
        n = min(chunk_contacts, contacts - k * chunk_contacts)
        out: dict[str, pa.Table] = {}
        if k == 0:
            out.update(_global_tables(cal, contacts, np.random.default_rng([seed, 0])))
        if n > 0:
            chunk = _Chunk(cal, voc, np.random.default_rng([seed, 1, k]), k, n)
            out.update(chunk.build())
            won_revenue += chunk.won_revenue()
        else:
            out.update(
                {
                    name: _arrow_table(name, {})
                    for name in IMPORT_ORDER
                    if name not in GLOBAL_TABLES and name not in NOT_GENERATED
                }
            )
        if k == n_chunks - 1:
            sales = _sales_cost(cal, contacts, won_revenue)
            out["spend"] = (
                pa.concat_tables([out["spend"], sales]).sort_by(SPEND_ORDER)
                if "spend" in out
                else sales
            )
        yield {name: out[name] for name in IMPORT_ORDER if name in out}


def write_parquet(
    out_dir: Path,
    contacts: int = 20_000,
    seed: int = 42,
    *,
    months: int = T.DEFAULT_MONTHS,
    end: dt.date | None = None,
    chunk_contacts: int = 100_000,
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Stream the data set to `out_dir/<table>/part-<n>.parquet`, one chunk in memory at a
    time; earlier part files in those folders are replaced. Returns rows per table."""
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    counts = {t.name: 0 for t in TABLES}
    for t in TABLES:
        folder = out_dir / t.name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.parquet"):
            old.unlink()
    total = max(1, math.ceil(contacts / chunk_contacts))
    for k, chunk in enumerate(generate(contacts, seed, months, end, chunk_contacts)):
        for name, tbl in chunk.items():
            if tbl.num_rows or name in NOT_GENERATED:  # an empty file: readers learn the columns
                pq.write_table(tbl, out_dir / name / f"part-{k:05d}.parquet")
                counts[name] += tbl.num_rows
        del chunk
        if progress:
            progress(k + 1, total)
    return counts


def load_demo(
    wh: Warehouse,
    contacts: int = 20_000,
    seed: int = 42,
    progress: ProgressFn | None = None,
    *,
    months: int = T.DEFAULT_MONTHS,
    end: dt.date | None = None,
    chunk_contacts: int = 100_000,
) -> dict[str, int]:
    """Generate the data set and load every chunk through the normal import path
    (`from_arrow` + `import_raw`); returns rows imported per table. Raises RevlensError if
    any row is rejected (that would be a bug in the generator or in the import rules)."""
    from revlens.compile.facts import record_touch_facts
    from revlens.ingest.load import import_raw
    from revlens.ingest.readers import from_arrow

    settings = wh.settings()
    if settings.reporting_currency != T.REPORTING_CURRENCY:
        raise RevlensError(
            f"the demo data is in {T.REPORTING_CURRENCY} but this warehouse reports in "
            f"{settings.reporting_currency}",
            where=str(wh.path),
            code="RL501",
            fix="load the demo into a new warehouse (its default currency is USD)",
        )
    missing = [s for s in DEFAULT_STAGES if s not in settings.stages]
    if missing:
        raise RevlensError(
            f"the demo data uses the stages {', '.join(DEFAULT_STAGES)}; this warehouse lacks "
            f"{', '.join(missing)}",
            where=str(wh.path),
            code="RL501",
            fix="load the demo into a new warehouse",
        )
    counts = {t.name: 0 for t in TABLES}
    n_chunks = max(1, math.ceil(contacts / chunk_contacts))
    steps = n_chunks * len(IMPORT_ORDER)
    for k, chunk in enumerate(generate(contacts, seed, months, end, chunk_contacts)):
        for i, name in enumerate(IMPORT_ORDER):
            tbl = chunk.get(name)
            if tbl is not None and tbl.num_rows:
                raw = from_arrow(f"demo:{name}", tbl)
                # the facts are recorded once, after the last chunk (each check scans all)
                result = import_raw(wh, [raw], table=schema_table(name), record_facts=False)
                if result.rows_rejected:
                    first = result.files[0].rejects[0]
                    raise RevlensError(
                        f"{result.rows_rejected} generated {name} rows were rejected "
                        f"(first: line {first.line}, {first.column}={first.value!r}: "
                        f"{first.reason})",
                        where=f"demo:{name} (chunk {k})",
                        code="RL502",
                        fix="this is a bug in revlens: please report it",
                    )
                totals = result.totals()[name]
                counts[name] += totals.loaded + totals.updated
            if progress:
                progress(k * len(IMPORT_ORDER) + i + 1, steps)
    record_touch_facts(wh)
    return counts
