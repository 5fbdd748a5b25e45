"""The `revlens` command: a thin Typer layer over the library. Errors print one clear message
(code, place, value, fix) and exit non-zero; a traceback only with --debug."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer depends on click itself
    from click.exceptions import ClickException  # type: ignore[no-redef, import-not-found, assignment, unused-ignore]

from revlens import __version__
from revlens.cli.output import OutputFormat, console, err_console, print_rows, to_json

__all__ = [
    "FormatOption",
    "FromOption",
    "OutputFormat",
    "ToOption",
    "app",
    "console",
    "open_reader",
    "open_warehouse",
    "print_rows",
    "state",
    "to_json",
]
from revlens.errors import ImportAborted, RevlensError
from revlens.model.warehouse import Warehouse, resolve_path
from revlens.params import choice

app = typer.Typer(
    name="revlens",
    help="Revenue analytics for marketing and sales teams: import exports, get trusted KPIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class State:
    """Global options, set by the callback and read by commands."""

    warehouse: Path | None = None
    debug: bool = False
    engine: str = "duckdb"
    lake: Path | None = None
    spark_master: str | None = None


state = State()


def _version(value: bool) -> None:
    if value:
        print(f"revlens {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    warehouse: Annotated[
        Path | None,
        typer.Option(
            "--warehouse",
            "-w",
            help="Warehouse file (default: $REVLENS_WAREHOUSE or ./revlens.duckdb).",
            envvar="REVLENS_WAREHOUSE",
            show_envvar=True,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="duckdb: the warehouse file; spark: the Parquet lake of --lake (queries only).",
            envvar="REVLENS_ENGINE",
            show_envvar=True,
        ),
    ] = "duckdb",
    lake: Annotated[
        Path | None,
        typer.Option(
            help="With --engine spark: the lake folder written by `revlens export`.",
            envvar="REVLENS_LAKE",
            show_envvar=True,
        ),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="Spark master URL (default local[*]), e.g. spark://host:7077.",
            envvar="REVLENS_SPARK_MASTER",
            show_envvar=True,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """revlens: one trusted set of sales & marketing KPIs from your exports."""
    state.warehouse = warehouse
    state.debug = debug
    state.engine = choice(engine, "--engine", ("duckdb", "spark"), code="RL044")
    state.lake = lake
    state.spark_master = spark_master


def open_warehouse(create: bool = False, read_only: bool = False) -> Warehouse:
    """The DuckDB warehouse of --warehouse, for commands that write or read its own tables
    (imports, targets, tokens); queries open it read-only, so several can run at once."""
    if state.engine == "spark":
        raise RevlensError(
            "this command works on the DuckDB warehouse; Spark only reads a lake",
            code="RL046",
            fix="run it without --engine spark (then `revlens export` to refresh the lake)",
        )
    return Warehouse.open(state.warehouse, create=create, read_only=read_only)


def open_reader() -> Any:
    """What queries read: the DuckDB warehouse (read-only) or, with --engine spark, the lake
    of --lake on Spark. Both answer model.warehouse.Reader; the KPIs are the same code."""
    if state.engine == "spark":
        from revlens.engines.spark import LakeReader

        if state.lake is None:
            raise RevlensError(
                "--engine spark needs --lake PATH",
                code="RL047",
                fix="write a lake with `revlens export --format parquet --out PATH`",
            )
        return LakeReader(state.lake, state.spark_master)
    return Warehouse.open(state.warehouse, read_only=True)


FromOption = Annotated[
    str | None, typer.Option("--from", help="First day (default: one year before --to).")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Last day, included (default: the newest data).")
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]


@app.command()
def init(
    currency: Annotated[str | None, typer.Option(help="Reporting currency (ISO 4217).")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of input timestamps that carry none (IANA name).")
    ] = None,
    stages: Annotated[
        str | None, typer.Option(help="Lifecycle stages in funnel order, comma-separated.")
    ] = None,
    week_start: Annotated[
        int | None, typer.Option(help="First day of the week, ISO number (1 = Monday).")
    ] = None,
    fiscal_year_start: Annotated[
        int | None, typer.Option(help="Month (1-12) in which the fiscal year starts.")
    ] = None,
    refresh_touches: Annotated[
        bool,
        typer.Option(
            help="Store the stitched touches again even if they look current: after "
            "touchpoints or identities were changed by other means than an import."
        ),
    ] = False,
) -> None:
    """Create the warehouse (every canonical table) or migrate it forward; set its settings."""
    from revlens.compile.facts import ensure_touch_facts, record_touch_facts

    path = resolve_path(state.warehouse)
    with Warehouse.open(path, create=True) as wh:
        settings = wh.update_settings(
            reporting_currency=currency,
            timezone=timezone,
            stages=tuple(s.strip() for s in stages.split(",")) if stages else None,
            week_start=week_start,
            fiscal_year_start_month=fiscal_year_start,
        )
        if refresh_touches:  # repairs what writes by other means left stale
            record_touch_facts(wh)
        else:  # stored when missing or out of date (a warehouse from an older revlens)
            ensure_touch_facts(wh)
        console.print(f"warehouse {path} ready (schema version {wh.schema_version()})")
        console.print(to_json(settings.model_dump(mode="json")), highlight=False)


@app.command()
def tables(format: FormatOption = OutputFormat.table) -> None:
    """Row counts of every canonical table (JSON: an object table -> count)."""
    with open_warehouse(read_only=True) as wh:
        counts = wh.row_counts()
    if format is OutputFormat.json:
        print(to_json(counts))
    else:
        print_rows([{"table": k, "rows": v} for k, v in counts.items()], format, title="tables")


def main() -> None:
    """Entry point: run the app, turning RevlensError into one clear message."""
    if len(sys.argv) == 1:
        sys.argv.append("--help")  # bare `revlens`: the help, not "missing command"
    try:
        code = app(standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130), returned when not standalone
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except RevlensError as exc:
        if state.debug:
            raise
        err_console.print(exc.render(), highlight=False, markup=False)
        if isinstance(exc, ImportAborted) and exc.result is not None:
            _print_abort_rejects(exc.result)
        sys.exit(2 if isinstance(exc, ImportAborted) else 1)
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing was changed by the unfinished command")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # the click usage errors and anything unexpected
        if isinstance(exc, ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if state.debug:
            raise
        err_console.print(
            f"error RL999: unexpected {type(exc).__name__}: {exc}\n"
            "  fix: run again with --debug and report the traceback",
            highlight=False,
            markup=False,
        )
        sys.exit(1)


def _print_abort_rejects(result: Any) -> None:
    for f in result.files:
        for r in f.rejects[:20]:
            err_console.print(
                f"  {r.file}:{r.line} [{r.table}.{r.column}] {r.reason} (value: {r.value!r})",
                highlight=False,
                markup=False,
            )


# The command modules register themselves on `app`; imported last, as they import from here.
from revlens.cli import (  # noqa: E402, F401
    commands_attribution,
    commands_funnel,
    commands_import,
    commands_kpi,
    commands_ops,
    commands_plan,
    commands_report,
    commands_server,
    commands_summary,
)
