"""Turn one mapping output into SQL: the raw strings each canonical column gets, their typed
values, and the rules a row must pass (DATA_MODEL.md). Values from users (constants, formats,
zones, value maps) are always bound parameters; names are always quoted identifiers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from revlens.engines.duckdb import quote_ident as q
from revlens.ingest.mapping import ColumnSource, Output
from revlens.model.schema import LIFECYCLE_STAGES, Column, Table
from revlens.model.warehouse import WarehouseSettings

OFFSET_PATTERN = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
TRUE_WORDS = ["true", "t", "1", "yes", "y"]
FALSE_WORDS = ["false", "f", "0", "no", "n"]


@dataclass
class Params:
    """Collects bound parameters and hands out their placeholders."""

    values: dict[str, object] = field(default_factory=dict)

    def add(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


@dataclass(frozen=True)
class Rule:
    """A row fails `column` with `code` where `condition` holds; `reason` says why and the fix."""

    column: str | None
    code: str
    condition: str
    value: str
    reason: str


ITEM_COLUMN = "__item"  # the input column of one split item, for an `item: each` output
# SQL of a string expression through the channel vocabulary (see load.ChannelLookup)
ChannelSql = Callable[[str, Params], str]


def _cell(src: ColumnSource, params: Params) -> str:
    """The input cell (or constant), with `null_values` made empty."""
    if src.value is not None:
        expr = f"CAST({params.add(src.value)} AS VARCHAR)"
    else:
        expr = f"raw.{q(src.from_ or '')}"
    return _nulls(expr, src, params)


def _nulls(expr: str, src: ColumnSource, params: Params) -> str:
    if not src.null_values:
        return expr
    nulls = sorted({v.strip() for v in src.null_values})
    return f"(CASE WHEN list_contains({params.add(nulls)}, {expr}) THEN NULL ELSE {expr} END)"


def split_items(src: ColumnSource, params: Params) -> str:
    """SQL list of the trimmed, non-empty items of a `split` cell."""
    parts = f"string_split({_cell(src, params)}, {params.add(src.split)})"
    return f"list_filter(list_transform({parts}, lambda x: trim(x)), lambda x: x <> '')"


def _one_char_class(char: str) -> str:
    """A regex character class matching exactly `char` (RE2 syntax)."""
    return "[" + ("\\" + char if char in "]\\^-[" else char) + "]"


def _separators(expr: str, src: ColumnSource, params: Params) -> str:
    """The number with its thousands separators dropped where they group digits by three
    ("1,234,567.5"), then the decimal separator as a point. A thousands separator anywhere
    else ("1.234,50" read with `thousands: ","`) marks the value so the number rule rejects
    it, showing why: never 1.2345."""

    def point(e: str) -> str:
        return f"replace({e}, {params.add(src.decimal)}, '.')" if src.decimal != "." else e

    if not src.thousands:
        return point(expr)
    if len(src.thousands) > 1:
        return point(f"replace({expr}, {params.add(src.thousands)}, '')")
    sep = params.add(src.thousands)
    group, dec = _one_char_class(src.thousands), _one_char_class(src.decimal)
    grouped = params.add(f"^[+-]?[0-9]{{1,3}}({group}[0-9]{{3}})+({dec}[0-9]*)?%?$")
    misplaced = params.add(f" (a {src.thousands!r} that does not group digits by three)")
    ungrouped = point(f"replace({expr}, {sep}, '')")
    return (
        f"(CASE WHEN strpos({expr}, {sep}) = 0 THEN {point(expr)} "
        f"WHEN regexp_full_match({expr}, {grouped}) THEN {ungrouped} "
        f"ELSE {expr} || {misplaced} END)"
    )


def _number(expr: str) -> str:
    """A number, where "45.3%" is 0.453."""
    return (
        f"(CASE WHEN ends_with({expr}, '%') THEN TRY_CAST(trim(rtrim({expr}, '%')) AS DOUBLE) "
        f"/ 100 ELSE TRY_CAST({expr} AS DOUBLE) END)"
    )


def raw_string(
    src: ColumnSource,
    params: Params,
    channels: ChannelSql | None = None,
    *,
    each: bool = False,
) -> str:
    """The input string a column gets after rename, null values, split, value map,
    normalisation, hash, separators, arithmetic, fallback and default (in this order).
    With `each`, the cell is the current item of the split (the staging query unnests)."""
    if each:
        expr = f"raw.{q(ITEM_COLUMN)}"
    elif src.split is not None:
        expr = f"{split_items(src, params)}[{-1 if src.item == 'last' else 1}]"
    else:
        expr = _cell(src, params)
    if src.map is not None:
        # matched ignoring case ("Closed won" is HubSpot's "Closed Won"); the first listed wins
        whens = " ".join(
            f"WHEN {params.add(k.lower())} THEN "
            + ("CAST(NULL AS VARCHAR)" if v is None else params.add(v))
            for k, v in src.map.items()
        )
        otherwise = "CAST(NULL AS VARCHAR)" if src.unmapped == "null" else expr
        expr = f"(CASE lower({expr}) {whens} ELSE {otherwise} END)"
    if src.normalize == "channel":
        if channels is None:
            raise ValueError("normalize: channel needs the channel vocabulary")
        expr = channels(expr, params)
    if src.hash == "sha256":
        expr = f"sha256(lower(trim({expr})))"
    expr = _separators(expr, src, params)
    if src.times is not None:
        other = _separators(_nulls(f"raw.{q(src.times)}", src, params), src, params)
        product = f"{_number(expr)} * {_number(other)}"
        if src.round:
            product = f"round({product})"
        # an operand that is no number keeps both in view, so the row fails its type rule
        expr = (
            f"(CASE WHEN {expr} IS NULL OR {other} IS NULL THEN NULL "
            f"WHEN {_number(expr)} IS NULL OR {_number(other)} IS NULL "
            f"THEN {expr} || ' × ' || {other} ELSE CAST({product} AS VARCHAR) END)"
        )
    elif src.round:
        number = f"TRY_CAST({expr} AS DOUBLE)"
        expr = f"(CASE WHEN {number} IS NULL THEN {expr} ELSE CAST(round({number}) AS VARCHAR) END)"
    if src.fallback is not None:
        expr = f"COALESCE({expr}, {raw_string(src.fallback, params, channels)})"
    if src.default is not None:
        expr = f"COALESCE({expr}, {params.add(src.default)})"
    return expr


def typed_value(
    col: Column,
    s: str,
    src: ColumnSource | None,
    zone: str,
    params: Params,
    allowed: tuple[str, ...] | None = None,
    divisor_s: str | None = None,
) -> str:
    """SQL turning the string `s` into the column's type; NULL where it does not parse.
    A closed vocabulary matches case-insensitively and stores the configured spelling.
    A number is divided by `divisor_s` (the string of its `divide_by`) when given."""
    fmt = (src.format if isinstance(src.format, str) else src.formats) if src else None
    if col.type == "string":
        if allowed is not None:
            whens = " ".join(f"WHEN {params.add(a.lower())} THEN {params.add(a)}" for a in allowed)
            return f"(CASE lower({s}) {whens} END)"
        return f"upper({s})" if col.name == "currency" else s
    if col.type == "number":
        value = f"TRY_CAST({s} AS DOUBLE)"
        if divisor_s is not None:
            divisor = f"TRY_CAST({divisor_s} AS DOUBLE)"
            return (
                f"(CASE WHEN isfinite({value}) AND isfinite({divisor}) AND {divisor} <> 0 "
                f"THEN {value} / {divisor} END)"
            )
        return f"(CASE WHEN isfinite({value}) THEN {value} END)"
    if col.type == "integer":
        # exact: digits only (a trailing .0 allowed); out of BIGINT range is NULL, not an error
        return (
            f"(CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+(\\.0*)?') THEN "
            f"TRY_CAST(regexp_replace({s}, '\\.0*$', '') AS BIGINT) END)"
        )
    if col.type == "boolean":
        return (
            f"(CASE WHEN lower({s}) IN ({', '.join(params.add(w) for w in TRUE_WORDS)}) "
            f"THEN TRUE WHEN lower({s}) IN ({', '.join(params.add(w) for w in FALSE_WORDS)}) "
            "THEN FALSE END)"
        )
    if col.type == "date":
        if fmt:
            return f"CAST(try_strptime({s}, {params.add(fmt)}) AS DATE)"
        return f"COALESCE(TRY_CAST({s} AS DATE), CAST(TRY_CAST({s} AS TIMESTAMP) AS DATE))"
    # timestamp: stored as naive UTC
    column_zone = (src.timezone if src and src.timezone else None) or zone
    if fmt:
        parsed = f"try_strptime({s}, {params.add(fmt)})"
        if any("%z" in f or "%Z" in f for f in ([fmt] if isinstance(fmt, str) else fmt)):
            return f"timezone('UTC', {parsed})"
        return _naive_to_utc(parsed, column_zone, params)
    naive = _naive_to_utc(f"TRY_CAST({s} AS TIMESTAMP)", column_zone, params)
    # an offset may follow a space ("10:00:00 +02:00"): TIMESTAMPTZ wants it attached
    attached = f"regexp_replace({s}, ' ([+-][0-9]{{2}}(:?[0-9]{{2}})?|Z)$', '\\1')"
    return (
        f"(CASE WHEN regexp_matches({s}, {params.add(OFFSET_PATTERN)}) "
        f"THEN timezone('UTC', TRY_CAST({attached} AS TIMESTAMPTZ)) ELSE {naive} END)"
    )


def _naive_to_utc(expr: str, zone: str, params: Params) -> str:
    if zone == "UTC":
        return expr
    return f"timezone('UTC', timezone({params.add(zone)}, {expr}))"


def allowed_values(col: Column, settings: WarehouseSettings) -> tuple[str, ...] | None:
    if col.allowed == LIFECYCLE_STAGES:
        return settings.stages
    return col.allowed


def column_rules(
    table: Table,
    output: Output,
    provided: list[str],
    settings: WarehouseSettings,
    params: Params,
) -> list[Rule]:
    """Every row rule of the data model that applies to this output."""
    rules: list[Rule] = []
    for name in provided:
        col = table.column(name)
        s, v = q(f"{name}__s"), q(name)
        src = output.columns.get(name)
        if col.required:
            rules.append(
                Rule(
                    name,
                    "missing",
                    f"{s} IS NULL",
                    s,
                    f"{name} is required and empty; fill it in the file or map a "
                    "default in the mapping",
                )
            )
        if col.type != "string":
            expected = _expected(col, src)
            rules.append(
                Rule(
                    name,
                    f"bad_{col.type}",
                    f"{s} IS NOT NULL AND {v} IS NULL",
                    s,
                    f"{name} is not a valid {col.type}: expected {expected}",
                )
            )
        if col.non_negative:
            rules.append(Rule(name, "negative", f"{v} < 0", s, f"{name} must not be negative"))
        allowed = allowed_values(col, settings)
        if allowed is not None:
            rules.append(
                Rule(
                    name,
                    "unknown_value",
                    f"{s} IS NOT NULL AND {v} IS NULL",
                    s,
                    f"{name} must be one of {', '.join(allowed)}; map other "
                    "values in a mapping file",
                )
            )
        if src is not None and src.map is not None and src.unmapped == "reject" and src.from_:
            rules.append(
                Rule(
                    name,
                    "unmapped_value",
                    f"{q(name + '__in')} IS NOT NULL AND NOT list_contains("
                    f"{params.add([k.lower() for k in src.map])}, lower({q(name + '__in')}))",
                    q(name + "__in"),
                    f"{src.from_} has a value the mapping does not list; add it "
                    f"to the map of {name}",
                )
            )
    for rule in table.order_rules:
        if rule.earlier in provided and rule.later in provided:
            rules.append(
                Rule(
                    rule.later,
                    "order",
                    f"{q(rule.later)} < {q(rule.earlier)}",
                    f"CAST({q(rule.later)} AS VARCHAR)",
                    f"{rule.later} is before {rule.earlier}; correct one of the two",
                )
            )
    if "currency" in provided:
        cur = q("currency")
        rules.append(
            Rule(
                "currency",
                "bad_currency",
                f"{cur} IS NOT NULL AND NOT regexp_full_match({cur}, '[A-Z]{{3}}')",
                q("currency__s"),
                "currency must be an ISO 4217 code such as EUR",
            )
        )
    if table.money_date and "currency" in provided:
        cur = q("currency")
        rules.append(
            Rule(
                "currency",
                "no_fx_rate",
                f"regexp_full_match({cur}, '[A-Z]{{3}}') AND {cur} <> "
                f"{params.add(settings.reporting_currency)} AND {cur} NOT IN "
                "(SELECT DISTINCT currency FROM fx_rates)",
                cur,
                f"no rate in fx_rates converts this currency to "
                f"{settings.reporting_currency}; import fx_rates for it first",
            )
        )
    return rules


def _expected(col: Column, src: ColumnSource | None) -> str:
    if src and src.formats:
        if len(src.formats) > 1:
            return "one of the formats " + ", ".join(repr(f) for f in src.formats)
        return f"the format {src.formats[0]!r}"
    if src and src.times and col.type == "integer" and not src.round:
        return f"a whole number ({src.from_} × {src.times} gives a fraction: add `round: true`)"
    if src and src.divide_by is not None and col.type == "number":
        divisor = src.divide_by.from_ or "the divisor"
        return f"a number, and {divisor} a non-zero number (or a value its map lists)"
    return {
        "number": "a number such as 1234.5 (set decimal/thousands in a mapping for 1.234,5)",
        "integer": "a whole number",
        "boolean": "true/false, yes/no or 1/0",
        "date": "a real date such as 2024-03-31 (or set format in a mapping)",
        "timestamp": "a real date-time such as 2024-03-31 14:05:00 or 2024-03-31T14:05:00+02:00",
    }[col.type]
