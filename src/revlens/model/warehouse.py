"""The warehouse: one DuckDB file holding the canonical tables, the import log, the rejects
store and the settings that give the data its meaning (reporting currency, zone, stages)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from revlens.engines.duckdb import ibis_backend, open_duckdb, quote_ident
from revlens.errors import RevlensError, WarehouseError
from revlens.model.schema import DEFAULT_STAGES, SQL_TYPES, TABLES, Table

DEFAULT_PATH = Path("revlens.duckdb")
ENV_VAR = "REVLENS_WAREHOUSE"

META_TABLE = "_revlens_meta"
FACT_PREFIX = "fact:"
IMPORTS_TABLE = "_imports"
REJECTS_TABLE = "_rejects"


class WarehouseSettings(BaseModel):
    """What the data means: the currency money is reported in, the zone of zone-less input,
    the lifecycle stages in order, and how weeks and fiscal years start."""

    model_config = ConfigDict(frozen=True)

    reporting_currency: str = "USD"
    timezone: str = "UTC"
    stages: tuple[str, ...] = DEFAULT_STAGES
    week_start: int = 1  # ISO weekday: 1 = Monday ... 7 = Sunday
    fiscal_year_start_month: int = 1

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"{value!r} is not an ISO 4217 code such as USD or EUR")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
        return value

    @field_validator("week_start")
    @classmethod
    def _weekday(cls, value: int) -> int:
        if not 1 <= value <= 7:
            raise ValueError(
                f"week start {value} is not an ISO weekday (1 = Monday ... 7 = Sunday)"
            )
        return value

    @field_validator("fiscal_year_start_month")
    @classmethod
    def _month(cls, value: int) -> int:
        if not 1 <= value <= 12:
            raise ValueError(f"fiscal year start {value} is not a month number (1-12)")
        return value

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2 or len(set(value)) != len(value):
            raise ValueError("stages must list at least two distinct names, in funnel order")
        return value


def column_ddl(table: Table) -> str:
    """CREATE TABLE for a canonical table: typed columns, NOT NULL on required ones and a
    primary key when every key column is required (the importer enforces the others)."""
    cols = [
        f"{quote_ident(c.name)} {SQL_TYPES[c.type]}{' NOT NULL' if c.required else ''}"
        for c in table.columns
    ]
    if all(table.column(k).required for k in table.key):
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in table.key)})")
    return f"CREATE TABLE {quote_ident(table.name)} (\n  " + ",\n  ".join(cols) + "\n)"


def _migrate_to_1(con: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        con.execute(column_ddl(table))
    con.execute(
        f"""CREATE TABLE {IMPORTS_TABLE} (
            import_id VARCHAR PRIMARY KEY, started_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,
            target VARCHAR NOT NULL, sha256 VARCHAR, rows_read BIGINT NOT NULL,
            rows_loaded BIGINT NOT NULL, rows_updated BIGINT NOT NULL,
            rows_rejected BIGINT NOT NULL, details VARCHAR)"""
    )
    con.execute(
        f"""CREATE TABLE {REJECTS_TABLE} (
            import_id VARCHAR NOT NULL, "table" VARCHAR NOT NULL, file VARCHAR NOT NULL,
            line BIGINT, "column" VARCHAR, value VARCHAR, code VARCHAR NOT NULL,
            reason VARCHAR NOT NULL, "row" VARCHAR)"""
    )


def _migrate_to_2(con: duckdb.DuckDBPyConnection) -> None:
    """Lead scores written by `revlens score` (derived, not imported)."""
    con.execute(
        """CREATE TABLE lead_scores (contact_id VARCHAR PRIMARY KEY, score DOUBLE NOT NULL,
            is_mql BOOLEAN NOT NULL, scored_at TIMESTAMP NOT NULL)"""
    )


def _migrate_to_3(con: duckdb.DuckDBPyConnection) -> None:
    """Who may use the server: API tokens and dashboard users, stored only as hashes."""
    con.execute(
        """CREATE TABLE api_tokens (token_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
            role VARCHAR NOT NULL, token_sha256 VARCHAR NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)"""
    )
    con.execute(
        """CREATE TABLE api_users (name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL,
            password_hash VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)"""
    )


# Issue 16: aggregated sources. The columns existing tables gain (name, SQL type), and the
# tables that are new. Their DDL is written out here, not derived from TABLES, so that this
# step stays as released when the schema grows again.
_V4_COLUMNS = {
    "spend": (("ad_group", "VARCHAR"), ("conversions", "DOUBLE"), ("platform", "VARCHAR")),
    "subscriptions": (("contact_id", "VARCHAR"), ("email_hash", "VARCHAR")),
}
_V4_TABLES = (
    """CREATE TABLE web_traffic (
        "date" DATE NOT NULL, channel VARCHAR NOT NULL, "source" VARCHAR, medium VARCHAR,
        campaign VARCHAR, landing_page VARCHAR, sessions BIGINT NOT NULL,
        engaged_sessions BIGINT, bounces BIGINT, pageviews BIGINT, new_users BIGINT,
        conversions DOUBLE, platform VARCHAR)""",
    """CREATE TABLE email_campaigns (
        campaign VARCHAR NOT NULL, sent_at TIMESTAMP NOT NULL, recipients BIGINT NOT NULL,
        delivered BIGINT, soft_bounces BIGINT, hard_bounces BIGINT, unique_opens BIGINT,
        total_opens BIGINT, unique_clicks BIGINT, total_clicks BIGINT, forwards BIGINT,
        unsubscribes BIGINT, complaints BIGINT, list VARCHAR, platform VARCHAR,
        PRIMARY KEY (campaign))""",
    """CREATE TABLE opportunity_contacts (
        opportunity_id VARCHAR NOT NULL, contact_id VARCHAR NOT NULL, is_primary BOOLEAN,
        PRIMARY KEY (opportunity_id, contact_id))""",
)


def _migrate_to_4(con: duckdb.DuckDBPyConnection) -> None:
    """Aggregated sources (issue 16): spend gains ad_group, conversions and platform (its key
    takes source and ad_group; no constraint holds it, the importer matches on it);
    subscriptions gain contact_id and email_hash; web_traffic, email_campaigns and
    opportunity_contacts are new. Existing rows keep their values, new columns are null. A new
    warehouse has them already (`_migrate_to_1` creates the tables as TABLES has them now):
    each change is made only where it is missing."""
    for table, columns in _V4_COLUMNS.items():
        for name, sql_type in columns:
            con.execute(
                f"ALTER TABLE {quote_ident(table)} ADD COLUMN IF NOT EXISTS "
                f"{quote_ident(name)} {sql_type}"
            )
    for ddl in _V4_TABLES:
        con.execute(ddl.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))


# Each entry moves the schema from version i to i + 1. Never edit a released step: add one.
MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (
    _migrate_to_1,
    _migrate_to_2,
    _migrate_to_3,
    _migrate_to_4,
)
SCHEMA_VERSION = len(MIGRATIONS)


def resolve_path(path: Path | str | None) -> Path:
    """The warehouse file: the explicit path, else $REVLENS_WAREHOUSE, else ./revlens.duckdb."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


class Reader(Protocol):
    """What analytics read through, whichever engine holds the tables: an Ibis backend over
    the canonical tables, and the settings that give them meaning (stages, currency, ...)."""

    path: Path

    @property
    def ibis(self) -> Any: ...

    def settings(self) -> WarehouseSettings: ...

    def fact(self, key: str) -> Any:
        """A recorded fact about the data (`compile.facts`), or None when there is none."""
        ...


class Warehouse:
    """An open warehouse. Use `Warehouse.open(path)`; `ibis` is the read interface."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path
        self._ibis: Any = None

    @classmethod
    def open(
        cls, path: Path | str | None = None, *, create: bool = False, read_only: bool = False
    ) -> Warehouse:
        """Open the warehouse; with `create`, initialise or migrate it first. Read-only
        openers (queries) can share the file with each other."""
        target = resolve_path(path)
        if not create and str(target) != ":memory:" and not target.exists():
            raise WarehouseError(
                "no warehouse here yet",
                where=str(target),
                fix="run `revlens init` (or `revlens demo`) first, or pass --warehouse PATH",
            )
        if str(target) != ":memory:":
            target.parent.mkdir(parents=True, exist_ok=True)
        memory = str(target) == ":memory:"
        wh = cls(open_duckdb(target, read_only=read_only and not create and not memory), target)
        if create:
            wh.migrate()
        else:
            wh.check_version()
        return wh

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ibis(self) -> Any:
        """The Ibis backend for reads (KPIs, funnels, attribution)."""
        if self._ibis is None:
            self._ibis = ibis_backend(self.con)
        return self._ibis

    # -- schema version and migrations -------------------------------------------------
    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [META_TABLE]
        ).fetchone()
        if not exists or exists[0] == 0:
            return 0
        row = self.con.execute(
            f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0

    def check_version(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise WarehouseError(
                f"the warehouse has schema version {version}, newer than this revlens "
                f"understands ({SCHEMA_VERSION})",
                where=str(self.path),
                fix="upgrade revlens",
            )
        if version < SCHEMA_VERSION:
            raise WarehouseError(
                f"the warehouse has schema version {version}; this revlens needs {SCHEMA_VERSION}",
                where=str(self.path),
                fix="run `revlens init` to migrate it forward (data is kept)",
            )

    def migrate(self) -> list[int]:
        """Apply the missing migrations in one transaction; returns the versions applied."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            self.check_version()
        applied: list[int] = []
        with self.transaction():
            if current == 0:
                self.con.execute(
                    f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)"
                )
                self._write_settings(WarehouseSettings())
            for version in range(current, SCHEMA_VERSION):
                MIGRATIONS[version](self.con)
                applied.append(version + 1)
            self.con.execute(
                f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )
        return applied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One all-or-nothing unit of work: any exception (or Ctrl-C) rolls it back."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- settings ------------------------------------------------------------------------
    def settings(self) -> WarehouseSettings:
        rows = self.con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'settings'").fetchone()
        return WarehouseSettings.model_validate_json(rows[0]) if rows else WarehouseSettings()

    def update_settings(self, **changes: Any) -> WarehouseSettings:
        merged = {
            **self.settings().model_dump(),
            **{k: v for k, v in changes.items() if v is not None},
        }
        try:
            new = WarehouseSettings.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            raise RevlensError(
                problems,
                code="RL401",
                where=str(self.path),
                fix="correct the setting and run `revlens init` again",
            ) from None
        self._check_currency_change(new.reporting_currency)
        with self.transaction():
            self._write_settings(new)
        return new

    def _check_currency_change(self, currency: str) -> None:
        """The reporting currency is fixed once money or rates are loaded: every rate in
        fx_rates is expressed in it, and stored money was checked against it."""
        current = self.settings().reporting_currency
        if currency == current:
            return
        row = self.con.execute(
            "SELECT (SELECT count(*) FROM fx_rates) + (SELECT count(*) FROM opportunities)"
            " + (SELECT count(*) FROM spend) + (SELECT count(*) FROM subscriptions)"
        ).fetchone()
        if row and row[0]:
            raise RevlensError(
                f"the warehouse already holds money or rates in {current}",
                where=str(self.path),
                value=currency,
                code="RL402",
                fix=f"keep {current}, or create a new warehouse with --currency {currency} "
                "and import the files again (fx_rates expressed in the new currency)",
            )

    def _write_settings(self, settings: WarehouseSettings) -> None:
        self.con.execute(
            f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('settings', ?)",
            [json.dumps(settings.model_dump(mode="json"))],
        )

    # -- facts about the data (compile.facts) ---------------------------------------------
    def fact(self, key: str) -> Any:
        row = self.con.execute(
            f"SELECT value FROM {META_TABLE} WHERE key = ?", [FACT_PREFIX + key]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def record_fact(self, key: str, value: Any) -> None:
        self.con.execute(
            f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?)",
            [FACT_PREFIX + key, json.dumps(value)],
        )

    # -- contents ------------------------------------------------------------------------
    def row_counts(self) -> dict[str, int]:
        """Rows per canonical table, in data-model order."""
        counts: dict[str, int] = {}
        for table in TABLES:
            row = self.con.execute(f"SELECT count(*) FROM {quote_ident(table.name)}").fetchone()
            counts[table.name] = int(row[0]) if row else 0
        return counts
