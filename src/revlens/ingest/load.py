"""Atomic, validated imports: stage each file in the warehouse engine, reject bad rows with
their reason, upsert the good ones by key, and log it all, in one transaction per command.

Accounting: for every table an import writes, rows read = loaded + updated + rejected +
skipped (rows the mapping's `when`, or an empty `item: each` split, leaves out). A row that
breaks a rule in any table it feeds is rejected from all of them, so one input row never
half-loads. Lines that are not data (title, comment, summary rows) are counted apart.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from revlens.compile.facts import WATCHED, TouchChanges, record_touch_facts, track_touch_changes
from revlens.engines.duckdb import quote_ident as q
from revlens.errors import ImportAborted, InputFileError, did_you_mean
from revlens.ingest.channels import ChannelVocabulary, builtin_vocabulary, snake_case
from revlens.ingest.mapping import (
    ColumnSource,
    Mapping,
    Output,
    identity_mapping,
    resolve_header,
)
from revlens.ingest.readers import (
    LINE_COLUMN,
    SKIP_KINDS,
    Progress,
    RawData,
    ReadOptions,
    read_file,
)
from revlens.ingest.rules import (
    ITEM_COLUMN,
    Params,
    Rule,
    allowed_values,
    column_rules,
    raw_string,
    split_items,
    typed_value,
)
from revlens.model.schema import SQL_TYPES, TABLES_BY_NAME, Column, Table
from revlens.model.schema import table as lookup_table
from revlens.model.warehouse import IMPORTS_TABLE, REJECTS_TABLE, Warehouse, WarehouseSettings

OnError = Literal["reject", "abort"]
KEEP_REJECTS_IN_RESULT = 1000


@dataclass
class TableCounts:
    """What one import did to one table; read = loaded + updated + rejected + skipped
    (skipped: left out by the mapping's rule)."""

    table: str
    read: int = 0
    loaded: int = 0
    updated: int = 0
    rejected: int = 0
    skipped: int = 0


@dataclass
class UnknownReference:
    """Loaded rows naming a key that the referenced table lacks after the import."""

    table: str
    column: str
    references: str  # e.g. contacts.contact_id
    rows: int
    values: int  # distinct unknown values
    examples: list[str]


# (table, column) -> the table and column it refers to; rows naming an unknown key load,
# with a warning
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("opportunities", "contact_id"): ("contacts", "contact_id"),
    ("opportunity_contacts", "contact_id"): ("contacts", "contact_id"),
    ("subscriptions", "contact_id"): ("contacts", "contact_id"),
    ("stage_events", "contact_id"): ("contacts", "contact_id"),
}
REFERENCE_EXAMPLES = 5
CHANNEL_WARNINGS = 10  # unknown channel values warned one by one; the rest in one line


@dataclass
class Reject:
    """One broken rule of one rejected row."""

    file: str
    line: int | None
    table: str
    column: str | None
    value: str | None
    code: str
    reason: str


@dataclass
class FileResult:
    file: str
    rows_read: int
    rows_rejected: int
    tables: list[TableCounts]
    warnings: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    # lines that are not data rows, by kind (title, comment, summary, empty)
    lines_skipped: dict[str, int] = field(default_factory=dict)
    unknown_references: list[UnknownReference] = field(default_factory=list)
    # the mapping the file went through (`table:<name>` for --table)
    mapping: str = ""


@dataclass
class ImportResult:
    """The outcome of one import command (one or more files, one transaction)."""

    import_id: str
    files: list[FileResult]
    committed: bool = True

    def totals(self) -> dict[str, TableCounts]:
        out: dict[str, TableCounts] = {}
        for f in self.files:
            for c in f.tables:
                t = out.setdefault(c.table, TableCounts(c.table))
                t.read += c.read
                t.loaded += c.loaded
                t.updated += c.updated
                t.rejected += c.rejected
                t.skipped += c.skipped
        return out

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def import_files(
    wh: Warehouse,
    paths: Sequence[Path],
    *,
    table: str | None = None,
    mapping: Mapping | None = None,
    on_error: OnError = "reject",
    read_options: ReadOptions | None = None,
    progress: Progress | None = None,
    channels: ChannelVocabulary | None = None,
    file_mappings: Sequence[Mapping] | None = None,
) -> ImportResult:
    """Import files into canonical tables, either `table` (columns already canonical),
    through `mapping`, or each file through its own mapping (`file_mappings`, one per path:
    exports of several tools recognised in one command). All files load in one transaction.
    `channels` is the vocabulary of `normalize: channel` (default: the built-in one)."""
    per_file = list(file_mappings) if file_mappings is not None else None
    if sum(x is not None for x in (table, mapping, per_file)) != 1:
        raise ValueError("give exactly one of table, mapping or file_mappings")
    if per_file is not None and len(per_file) != len(paths):
        raise ValueError("file_mappings needs one mapping per path")
    target = lookup_table(table) if table else None
    chosen: list[Mapping | None] = (
        list(per_file) if per_file is not None else [mapping] * len(paths)
    )
    raws = [
        read_file(Path(p), merge_options(m.read if m else ReadOptions(), read_options), progress)
        for p, m in zip(paths, chosen, strict=True)
    ]
    return import_raw(
        wh,
        raws,
        table=target,
        mapping=mapping,
        on_error=on_error,
        channels=channels,
        file_mappings=per_file,
    )


def merge_options(base: ReadOptions, override: ReadOptions | None) -> ReadOptions:
    """`base` (a mapping's read options) with the options given in `override` (CLI flags)."""
    if override is None:
        return base
    given = {k: getattr(override, k) for k in override.model_dump(exclude_defaults=True)}
    return base.model_copy(update=given)


def import_raw(
    wh: Warehouse,
    raws: Sequence[RawData],
    *,
    table: Table | None = None,
    mapping: Mapping | None = None,
    on_error: OnError = "reject",
    record_facts: bool = True,
    channels: ChannelVocabulary | None = None,
    file_mappings: Sequence[Mapping] | None = None,
) -> ImportResult:
    """Import already-read data (files or generated demo tables) in one transaction. With
    `record_facts` (the default) the facts queries rely on are taken again when the import
    changed their tables; a caller importing many chunks records them once at the end."""
    settings = wh.settings()
    import_id = uuid.uuid4().hex[:12]
    result = ImportResult(import_id, [])
    vocabulary = channels or builtin_vocabulary()
    with wh.transaction():
        changes = track_touch_changes(wh) if record_facts else None
        wh.con.execute(
            "CREATE OR REPLACE TEMP TABLE __refs (file INTEGER, tbl VARCHAR, col VARCHAR, "
            "value VARCHAR)"
        )
        for index, raw in enumerate(raws):
            given = file_mappings[index] if file_mappings is not None else mapping
            if given is None:
                file_mapping = identity_mapping(_require_table(table), raw.columns)
                _check_header(_require_table(table), raw)
            else:
                file_mapping = resolve_header(given, raw.columns, raw.path)
                _check_mapping_columns(file_mapping, raw)
            file_result = _import_one(
                wh, raw, file_mapping, settings, import_id, changes, vocabulary, len(result.files)
            )
            result.files.append(file_result)
            if on_error == "abort" and file_result.rows_rejected:
                result.committed = False
                raise ImportAborted(
                    f"{file_result.rows_rejected} of {file_result.rows_read} rows break a rule; "
                    "nothing was loaded",
                    where=raw.path,
                    fix="correct the rows listed (or import with --on-error reject to load the "
                    "good rows and keep the bad ones in the rejects store)",
                ).with_result(result)
        _reference_warnings(wh, result)
        changed = result.totals()
        watched = [changed[t] for t in WATCHED if t in changed]
        if record_facts and any(t.loaded or t.updated for t in watched):
            # part of the import: what queries rely on stays true
            record_touch_facts(wh, changes)
        if changes is not None:
            changes.close(wh)
    return result


def _require_table(table: Table | None) -> Table:
    assert table is not None
    return table


def _check_header(table: Table, raw: RawData) -> None:
    optional_key = table.key if table.hashed_key else ()
    missing = [c for c in table.required if c not in raw.columns and c not in optional_key]
    if missing:
        if len(raw.columns) == 1:
            likely = [d for d in ",;\t|" if d in raw.columns[0]]
            if likely:
                raise InputFileError(
                    f"the header is one column {raw.columns[0]!r}; the file looks "
                    f"{likely[0]!r}-separated, so required columns seem missing",
                    where=raw.path,
                    value=raw.columns[0],
                    code="RL110",
                    fix=f"pass --delimiter {likely[0]!r} (or set read.delimiter in the mapping)",
                )
        hints = []
        for name in missing:
            close = did_you_mean(name, raw.columns)
            if close:
                hints.append(f"{close[0]!r} looks like {name!r}")
        raise InputFileError(
            f"required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing for "
            f"table {table.name}; the file has columns {raw.columns}",
            where=raw.path,
            value=", ".join(missing),
            code="RL110",
            fix=("; ".join(hints) + ": rename the column, or use a mapping file")
            if hints
            else "add the column, check the delimiter, or use a mapping file",
        )
    extra = [c for c in raw.columns if c not in table.column_names]
    if extra:
        raw.warnings.append(f"ignored columns not in table {table.name}: {', '.join(extra)}")


def _check_mapping_columns(mapping: Mapping, raw: RawData) -> None:
    missing = sorted(mapping.input_columns() - set(raw.columns))
    if missing:
        raise InputFileError(
            f"the mapping {mapping.name!r} reads column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}, which the file lacks; the file has columns {raw.columns}",
            where=raw.path,
            value=", ".join(missing),
            code="RL111",
            fix="use the mapping that fits this export, or check the delimiter",
        )


@dataclass
class _Staged:
    index: int
    output: Output
    table: Table
    provided: list[str]
    name: str
    each: bool = False  # one row per split item: count input rows by distinct line


def _provided_columns(
    table: Table, output: Output, mapping: Mapping, settings: WarehouseSettings
) -> dict[str, ColumnSource]:
    """The canonical columns this output writes, with currency defaulted where money is."""
    cols = dict(output.columns)
    if table.money_date and "currency" not in cols and output.mode == "upsert":
        cols["currency"] = ColumnSource(value=mapping.currency or settings.reporting_currency)
    elif table.money_date and "currency" in cols and cols["currency"].default is None:
        # an empty currency cell means the mapping's currency, else the reporting currency
        default = mapping.currency or settings.reporting_currency
        cols["currency"] = cols["currency"].model_copy(update={"default": default})
    return {name: cols[name] for name in table.column_names if name in cols}


class ChannelLookup:
    """`normalize: channel` in SQL. The distinct values of the column (few, even in millions
    of rows) are looked up in Python once, and the query gets a CASE over just those: one
    extra scan of the input instead of a per-row UDF call or a join with every alias."""

    def __init__(
        self, wh: Warehouse, vocabulary: ChannelVocabulary, source: str, where: str
    ) -> None:
        self.wh, self.vocabulary, self.source, self.where = wh, vocabulary, source, where
        self.unknown: dict[str, str] = {}  # value -> the snake_case form it was kept as

    def __call__(self, expr: str, params: Params) -> str:
        sql = f"SELECT DISTINCT {expr} FROM {self.source} {self.where}"
        used = set(re.findall(r"\$(p[0-9]+)\b", sql))
        bound = {k: v for k, v in params.values.items() if k in used}
        pairs: list[tuple[str, str]] = []
        for (value,) in self.wh.con.execute(sql, bound).fetchall():
            if value is None:
                continue
            channel = self.vocabulary.lookup(value)
            if channel is None:
                channel = snake_case(value) or "unknown"
                self.unknown[value] = channel
            if channel != value:
                pairs.append((value, channel))
        if not pairs:
            return expr
        whens = " ".join(f"WHEN {params.add(v)} THEN {params.add(c)}" for v, c in sorted(pairs))
        return f"(CASE {expr} {whens} ELSE {expr} END)"

    def warnings(self) -> list[str]:
        items = sorted(self.unknown.items())
        out = [
            f"channel {value!r} is not in the vocabulary; kept as {kept!r} (map it under "
            "`channels:` in revlens.yml to choose another)"
            for value, kept in items[:CHANNEL_WARNINGS]
        ]
        if len(items) > CHANNEL_WARNINGS:
            rest = items[CHANNEL_WARNINGS:]
            out.append(
                f"{len(rest)} more channel values are not in the vocabulary and were kept as "
                f"their snake_case form: {', '.join(repr(v) for v, _ in rest[:20])}"
            )
        return out


def _stage(
    wh: Warehouse,
    staged: _Staged,
    mapping: Mapping,
    settings: WarehouseSettings,
    rule_params: Params,
    vocabulary: ChannelVocabulary,
    channel_warnings: dict[str, str],
) -> list[Rule]:
    """Create the staging table of one output: raw strings, typed values; return its rules
    (their parameters go to `rule_params`)."""
    table, output = staged.table, staged.output
    params = Params()
    sources = _provided_columns(table, output, mapping, settings)
    zone = mapping.timezone or settings.timezone
    source = "raw"
    each = output.each_column
    where = _condition(output, params)
    month_rules: list[Rule] = []
    if each is not None:
        # one row per distinct non-empty item; a row without items gives none (skipped)
        items = split_items(sources[each], params)
        source = f"(SELECT *, unnest(list_distinct({items})) AS {q(ITEM_COLUMN)} FROM raw) AS raw"
    elif output.each_month is not None:
        # one row per month; a row without months gives none (skipped)
        source, month_rules = _each_month(output, zone, settings.timezone, params, where)
        where = ""
    lookup = ChannelLookup(wh, vocabulary, source, where)
    strings = [
        f"{raw_string(src, params, lookup, each=name == each)} AS {q(name + '__s')}"
        for name, src in sources.items()
    ]
    channel_warnings.update(lookup.unknown)
    strings += [
        f"raw.{q(src.from_)} AS {q(name + '__in')}"
        for name, src in sources.items()
        if src.from_ and src.map is not None and src.unmapped == "reject"
    ]
    strings += [
        f"{raw_string(src.divide_by, params)} AS {q(name + '__div')}"
        for name, src in sources.items()
        if src.divide_by is not None
    ]
    typed = [
        typed_value(
            col,
            q(name + "__s"),
            src,
            zone,
            params,
            allowed_values(col, settings),
            q(name + "__div") if src.divide_by is not None else None,
        )
        + f" AS {q(name)}"
        for name, src in sources.items()
        for col in [table.column(name)]
    ]
    if output.each_month is not None:
        month = output.each_month.into
        carried = ["__em_f__s", "__em_t__s", "__em_f", "__em_t"]
        strings += [f"CAST(raw.__em_month AS VARCHAR) AS {q(month + '__s')}"]
        strings += [f"raw.{q(c)} AS {q(c)}" for c in carried]
        typed.append(f"CAST({q(month + '__s')} AS DATE) AS {q(month)}")
    provided = list(sources)
    # Optional key parts the file does not carry are NULL (e.g. spend without campaign).
    into = output.each_month.into if output.each_month else None
    for key in table.key:
        if key not in sources and key != into and not table.hashed_key:
            sql_type = SQL_TYPES[table.column(key).type]
            strings.append(f"CAST(NULL AS VARCHAR) AS {q(key + '__s')}")
            typed.append(f"CAST(NULL AS {sql_type}) AS {q(key)}")
            provided.append(key)
    hashed = ""
    if table.hashed_key and table.key[0] not in sources:
        key = table.key[0]
        parts = ", ".join(f"coalesce(CAST({q(c)} AS VARCHAR), '')" for c in provided)
        digest = f"md5(concat_ws('|', {parts}))"
        hashed = f", {digest} AS {q(key)}, {digest} AS {q(key + '__s')}"
        provided.insert(0, key)
    wh.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {q(staged.name)} AS
        WITH s AS (SELECT raw.{q(LINE_COLUMN)} AS {q(LINE_COLUMN)}, {", ".join(strings)}
                   FROM {source} {where}),
             t AS (SELECT *, {", ".join(typed)} FROM s)
        SELECT *{hashed} FROM t""",
        params.values,
    )
    checked = provided
    if output.each_month is not None:
        # the month's own rules (below) say which timestamp is missing or bad
        checked = [c for c in provided if c != output.each_month.into]
        provided.append(output.each_month.into)
    staged.provided = provided
    staged.each = each is not None or output.each_month is not None
    rules = column_rules(table, output, checked, settings, rule_params) + month_rules
    if output.mode == "update":
        rules.append(
            Rule(
                None,
                "unknown_key",
                f"NOT ({_exists(table)})",
                f"concat_ws(' | ', {', '.join(q(k) for k in table.key)})",
                f"no {table.name} row has this key yet; import the {table.name} "
                "first (this mapping only enriches existing rows)",
            )
        )
    return rules


def _each_month(
    output: Output, zone: str, local_zone: str, params: Params, where: str
) -> tuple[str, list[Rule]]:
    """The input rows of an `each_month` output, one per month (`__em_month`), as a relation
    named raw; and the rules of its two timestamps. A row whose timestamps do not parse keeps
    one row with no month, so it is rejected with its reason; a row that ends in the month it
    starts has no month and no row."""
    em = output.each_month
    assert em is not None
    stamp = Column("each_month", "timestamp")
    f_s, t_s = raw_string(em.from_, params), raw_string(em.to, params)
    f = typed_value(stamp, q("__em_f__s"), em.from_, zone, params)
    t = typed_value(stamp, q("__em_t__s"), em.to, zone, params)
    lz = params.add(local_zone)
    last_month = "" if em.through else " - INTERVAL 1 MONTH"

    def month(v: str) -> str:
        return f"date_trunc('month', timezone({lz}, timezone('UTC', {v})))"

    source = f"""(SELECT *, unnest(CASE WHEN __em_f IS NULL OR __em_t IS NULL
                                    THEN [CAST(NULL AS DATE)]
                                    ELSE CAST(generate_series({month("__em_f")},
                                              {month("__em_t")}{last_month},
                                              INTERVAL 1 MONTH) AS DATE[]) END) AS __em_month
        FROM (SELECT *, {f} AS __em_f, {t} AS __em_t
              FROM (SELECT raw.*, {f_s} AS __em_f__s, {t_s} AS __em_t__s FROM raw {where})))
        AS raw"""
    rules = []
    for alias, src, role in (("__em_f", em.from_, "first"), ("__em_t", em.to, "end")):
        name = src.from_ or "the constant"
        rules.append(
            Rule(
                em.into,
                "missing",
                f"{q(alias + '__s')} IS NULL",
                q(alias + "__s"),
                f"{name} is empty: the {role} month of the row is unknown",
            )
        )
        rules.append(
            Rule(
                em.into,
                "bad_timestamp",
                f"{q(alias + '__s')} IS NOT NULL AND {q(alias)} IS NULL",
                q(alias + "__s"),
                f"{name} is not a valid timestamp"
                + (f": expected {src.format}" if src.format else ""),
            )
        )
    return source, rules


def _condition(output: Output, params: Params) -> str:
    cond = output.when
    if cond is None:
        return ""
    col = f"raw.{q(cond.column)}"
    parts = []  # values compared ignoring case, as `map` keys are
    if cond.in_ is not None:
        parts.append(f"list_contains({params.add([v.lower() for v in cond.in_])}, lower({col}))")
    if cond.not_in is not None:
        lowered = params.add([v.lower() for v in cond.not_in])
        parts.append(f"NOT list_contains({lowered}, lower(coalesce({col}, '')))")
    if cond.not_empty:
        parts.append(f"{col} IS NOT NULL")
    return "WHERE " + " AND ".join(parts) if parts else ""


def _key_match(table: Table, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{q(k)} IS NOT DISTINCT FROM {right}.{q(k)}" for k in table.key)


def _exists(table: Table, alias: str = "s") -> str:
    return f"EXISTS (SELECT 1 FROM main.{q(table.name)} AS w WHERE {_key_match(table, 'w', alias)})"


def _import_one(
    wh: Warehouse,
    raw: RawData,
    mapping: Mapping,
    settings: WarehouseSettings,
    import_id: str,
    changes: TouchChanges | None,
    vocabulary: ChannelVocabulary,
    file_index: int,
) -> FileResult:
    con = wh.con
    con.register("raw", raw.table)
    staged_outputs: list[_Staged] = []
    rule_sets: list[tuple[list[Rule], Params]] = []
    unknown_channels: dict[str, str] = {}
    for i, output in enumerate(mapping.outputs):
        staged = _Staged(i, output, TABLES_BY_NAME[output.table], [], f"__stg_{i}")
        rule_params = Params()
        rules = _stage(wh, staged, mapping, settings, rule_params, vocabulary, unknown_channels)
        rule_sets.append((rules, rule_params))
        staged_outputs.append(staged)
    channel_lookup = ChannelLookup(wh, vocabulary, "raw", "")
    channel_lookup.unknown = unknown_channels
    raw.warnings.extend(channel_lookup.warnings())

    con.execute("""CREATE OR REPLACE TEMP TABLE __fail (
        out INTEGER, tbl VARCHAR, line BIGINT, col VARCHAR, value VARCHAR, code VARCHAR,
        reason VARCHAR)""")
    for staged, (rules, params) in zip(staged_outputs, rule_sets, strict=True):
        if not rules:
            continue
        selects = [
            f"SELECT {staged.index}, {params.add(staged.table.name)}, {q(LINE_COLUMN)}, "
            f"{params.add(r.column)}, CAST({r.value} AS VARCHAR), {params.add(r.code)}, "
            f"{params.add(r.reason)} FROM {q(staged.name)} AS s WHERE {r.condition}"
            for r in rules
        ]
        con.execute("INSERT INTO __fail " + " UNION ALL ".join(selects), params.values)
    if raw.pre_rejects:
        con.executemany(
            "INSERT INTO __fail VALUES (-1, ?, ?, NULL, ?, ?, ?)",
            [[_all_tables(mapping), p.line, p.value, p.code, p.reason] for p in raw.pre_rejects],
        )
    for staged in staged_outputs:
        _reject_duplicates(wh, staged)

    failed_lines = _scalar(wh, "SELECT count(DISTINCT line) FROM __fail")
    counts: list[TableCounts] = []
    rows_in = int(raw.table.num_rows)
    for staged in staged_outputs:
        counts.append(_upsert(wh, staged, rows_in, len(raw.pre_rejects), changes))
    for staged in staged_outputs:
        raw.warnings.extend(_consistency_warnings(wh, staged))
        _note_references(wh, staged, file_index)
    raw.warnings.extend(
        _unknown_amounts(wh, [s for s in staged_outputs if s.table.name == "opportunities"])
    )
    rejects = _store_rejects(wh, raw, mapping, import_id)
    _log_import(wh, raw, mapping, import_id, counts, failed_lines)
    con.unregister("raw")
    for staged in staged_outputs:
        con.execute(f"DROP TABLE IF EXISTS {q(staged.name)}")
    return FileResult(
        raw.path,
        raw.rows_read,
        failed_lines,
        counts,
        list(raw.warnings),
        rejects,
        {k: raw.skipped[k] for k in SKIP_KINDS if raw.skipped.get(k)},
        mapping=mapping.name,
    )


def _note_references(wh: Warehouse, staged: _Staged, file_index: int) -> None:
    """Keep the keys this output loaded that must exist elsewhere; checked once the whole
    import is in (a later file of the same import may bring them)."""
    for column in staged.provided:
        if (staged.table.name, column) not in REFERENCES:
            continue
        wh.con.execute(
            f"""INSERT INTO __refs SELECT ?, ?, ?, CAST({q(column)} AS VARCHAR)
            FROM {q(staged.name)}
            WHERE {q(column)} IS NOT NULL
              AND {q(LINE_COLUMN)} NOT IN (SELECT line FROM __fail WHERE line IS NOT NULL)""",
            [file_index, staged.table.name, column],
        )


def _reference_warnings(wh: Warehouse, result: ImportResult) -> None:
    """Rows that name a contact (or other key) that is not there after the import: they
    load as they are (the data may arrive later), and each file lists them as a warning."""
    groups = wh.con.execute("SELECT DISTINCT tbl, col FROM __refs ORDER BY tbl, col").fetchall()
    for tbl, col in groups:
        ref_table, ref_column = REFERENCES[(tbl, col)]
        rows = wh.con.execute(
            f"""SELECT file, count(*), count(DISTINCT value),
                       list(DISTINCT value ORDER BY value)[1:{REFERENCE_EXAMPLES}]
            FROM __refs AS r
            WHERE tbl = ? AND col = ? AND NOT EXISTS (
                SELECT 1 FROM main.{q(ref_table)} AS k WHERE k.{q(ref_column)} = r.value)
            GROUP BY file ORDER BY file""",
            [tbl, col],
        ).fetchall()
        for file_index, count, distinct, examples in rows:
            ref = UnknownReference(
                tbl, col, f"{ref_table}.{ref_column}", int(count), int(distinct), list(examples)
            )
            more = f", and {distinct - len(examples)} more" if distinct > len(examples) else ""
            noun = "contacts" if ref_table == "contacts" else f"{ref_table} keys"
            shown = ", ".join(str(e) for e in examples)
            file = result.files[file_index]
            file.unknown_references.append(ref)
            file.warnings.append(
                f"{count} {tbl} rows name {distinct} {noun} that are not in {ref_table} "
                f"({col}: {shown}{more}); they are kept as they are: import those "
                f"{noun} too"
            )
    wh.con.execute("DROP TABLE __refs")


def _all_tables(mapping: Mapping) -> str:
    """The rejects-store table name of a row the reader refused (it feeds every output)."""
    return ", ".join(dict.fromkeys(o.table for o in mapping.outputs))


def _reject_duplicates(wh: Warehouse, staged: _Staged) -> None:
    """Rows of one file with the same key: the last one wins, the earlier ones are rejected."""
    keys = ", ".join(q(k) for k in staged.table.key)
    wh.con.execute(
        f"""INSERT INTO __fail
        SELECT ?, ?, line, ?, key_text, 'duplicate_key',
               'the same key appears again on line ' || winner || ', which is kept (the last '
               || 'occurrence wins); remove the duplicate from the export'
        FROM (SELECT {q(LINE_COLUMN)} AS line, concat_ws(' | ', {keys}) AS key_text,
                     max({q(LINE_COLUMN)}) OVER (PARTITION BY {keys}) AS winner
              FROM {q(staged.name)}
              WHERE {q(LINE_COLUMN)} NOT IN (SELECT line FROM __fail WHERE line IS NOT NULL))
        WHERE line < winner""",
        [staged.index, staged.table.name, ", ".join(staged.table.key)],
    )


def _upsert(
    wh: Warehouse,
    staged: _Staged,
    rows_in: int,
    pre_rejected: int,
    changes: TouchChanges | None,
) -> TableCounts:
    """Update rows whose key exists (only the columns this output provides), insert the
    rest; note them in `changes`."""
    con, table = wh.con, staged.table
    stg, ok = q(staged.name), q(staged.name + "_ok")
    cols = staged.provided
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {ok} AS
        SELECT {", ".join(q(c) for c in cols)}, {_exists(table)} AS __exists
        FROM {stg} AS s
        WHERE {q(LINE_COLUMN)} NOT IN (SELECT line FROM __fail WHERE line IS NOT NULL)"""
    )
    staged_rows = _scalar(wh, f"SELECT count(*) FROM {stg}")
    # input rows the output took; the others were left out by its rule (skipped)
    taken = (
        _scalar(wh, f"SELECT count(DISTINCT {q(LINE_COLUMN)}) FROM {stg}")
        if staged.each
        else staged_rows
    )
    skipped = rows_in - taken
    updated = _scalar(wh, f"SELECT count(*) FROM {ok} WHERE __exists")
    good = _scalar(wh, f"SELECT count(*) FROM {ok}")
    non_key = [c for c in cols if c not in table.key]
    if updated and non_key:
        assignments = ", ".join(f"{q(c)} = s.{q(c)}" for c in non_key)
        con.execute(
            f"""UPDATE main.{q(table.name)} AS w SET {assignments}
            FROM (SELECT * FROM {ok} WHERE __exists) AS s WHERE {_key_match(table, "w", "s")}"""
        )
    if good - updated:
        names = ", ".join(q(c) for c in cols)
        con.execute(
            f"INSERT INTO main.{q(table.name)} ({names}) "
            f"SELECT {names} FROM {ok} WHERE NOT __exists"
        )
    if changes is not None:
        changes.note(wh, table.name, ok)
    con.execute(f"DROP TABLE {ok}")
    rejected = staged_rows - good + pre_rejected
    return TableCounts(
        table.name, staged_rows + skipped + pre_rejected, good - updated, updated, rejected, skipped
    )


def _consistency_warnings(wh: Warehouse, staged: _Staged) -> list[str]:
    """Loaded rows that are valid alone but odd beside the rest of the warehouse: stage events
    dated before their contact was created, and opportunities without an amount. They load
    (the data may be true); the warning says so, and funnels decide how such events count.
    (Stage events of unknown contacts are reference warnings, checked once the whole import
    is in.)"""
    if staged.table.name != "stage_events":
        return []
    row = wh.con.execute(
        f"""SELECT count(*) FILTER (WHERE s.ts < c.created_at),
                   min(s.contact_id) FILTER (WHERE s.ts < c.created_at)
        FROM {q(staged.name)} AS s JOIN main.contacts AS c USING (contact_id)
        WHERE s.{q(LINE_COLUMN)} NOT IN (SELECT line FROM __fail WHERE line IS NOT NULL)"""
    ).fetchone()
    assert row is not None
    early, example = int(row[0]), row[1]
    if early:
        return [
            f"{early} stage events are dated before their contact was created "
            f"(e.g. contact {example}); they are kept as they are"
        ]
    return []


def _unknown_amounts(wh: Warehouse, outputs: list[_Staged]) -> list[str]:
    """Deals loaded without an amount (a CRM deal nobody priced) are an unknown amount, not
    0: they count in win rate and deal counts, not in revenue. Say how many there are, once
    for all of a file's opportunities outputs (open and closed deals, say)."""
    total, examples = 0, []
    for staged in outputs:
        amount = "amount" if "amount" in staged.provided else "NULL"
        row = wh.con.execute(
            f"""SELECT count(*), min(opportunity_id) FROM {q(staged.name)}
            WHERE {amount} IS NULL
              AND {q(LINE_COLUMN)} NOT IN (SELECT line FROM __fail WHERE line IS NOT NULL)"""
        ).fetchone()
        assert row is not None
        if row[0]:
            total += int(row[0])
            examples.append(str(row[1]))
    if not total:
        return []
    return [
        f"{total} opportunities have no amount (e.g. {min(examples)}): an unknown amount "
        "counts in win rate and deal counts, not in revenue or pipeline value"
    ]


def _store_rejects(wh: Warehouse, raw: RawData, mapping: Mapping, import_id: str) -> list[Reject]:
    """Keep every broken rule with the raw row; a re-import of the file replaces its old ones."""
    con = wh.con
    tables = sorted({o.table for o in mapping.outputs} | {_all_tables(mapping)})
    con.execute(
        f'DELETE FROM {REJECTS_TABLE} WHERE file = ? AND list_contains(?, "table")',
        [raw.path, tables],
    )
    con.execute(
        f"""INSERT INTO {REJECTS_TABLE}
        SELECT ?, f.tbl, ?, f.line, f.col, f.value, f.code, f.reason,
               CAST(to_json(r) AS VARCHAR)
        FROM __fail AS f LEFT JOIN raw AS r ON r.{q(LINE_COLUMN)} = f.line
        ORDER BY f.line, f.out""",
        [import_id, raw.path],
    )
    rows = con.execute(
        f"""SELECT f.line, f.tbl, f.col, f.value, f.code, f.reason FROM __fail AS f
        ORDER BY f.line, f.out LIMIT {KEEP_REJECTS_IN_RESULT}"""
    ).fetchall()
    return [Reject(raw.path, r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def _log_import(
    wh: Warehouse,
    raw: RawData,
    mapping: Mapping,
    import_id: str,
    counts: list[TableCounts],
    failed_lines: int,
) -> None:
    digest = _sha256(raw.path)
    details = json.dumps(
        {
            "tables": [asdict(c) for c in counts],
            "warnings": raw.warnings,
            "lines_skipped": raw.skipped,
        }
    )
    wh.con.execute(
        f"""INSERT INTO {IMPORTS_TABLE} VALUES
        (?, now()::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            f"{import_id}-{_scalar(wh, f'SELECT count(*) FROM {IMPORTS_TABLE}')}",
            raw.path,
            mapping.name,
            digest,
            raw.rows_read,
            sum(c.loaded for c in counts),
            sum(c.updated for c in counts),
            failed_lines,
            details,
        ],
    )


def _sha256(path: str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _scalar(wh: Warehouse, sql: str) -> int:
    row = wh.con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
