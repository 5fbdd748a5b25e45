"""`revlens import`, `rejects` and `mappings`: getting exports into the warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from revlens.cli.app import FormatOption, app, console, open_warehouse, print_rows, to_json
from revlens.cli.output import OutputFormat, err_console
from revlens.errors import RevlensError
from revlens.ingest.channels import ChannelVocabulary, builtin_vocabulary, project_vocabulary
from revlens.ingest.load import ImportResult, OnError, import_files
from revlens.ingest.mapping import Mapping, builtin_mappings, load_mapping
from revlens.ingest.readers import FileFormat, ReadOptions
from revlens.ingest.recognise import recognise_file
from revlens.model.schema import table as lookup_table
from revlens.model.warehouse import REJECTS_TABLE
from revlens.plan.sla import read_section
from revlens.service import PROJECT_FILE

PROGRESS_BYTES = 8_000_000  # files above this size (~100k rows) get a progress bar


@app.command("import")
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="Files to import (CSV, Parquet, JSONL, XLSX).")
    ],
    table: Annotated[
        str | None,
        typer.Option("--table", "-t", help="Canonical table the files map onto column for column."),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", "-m", help="Built-in mapping name or a mapping YAML file."),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="reject: keep bad rows in the rejects store and "
            "load the rest; abort: load nothing if any row is bad.",
        ),
    ] = "reject",
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: sniffed).")] = None,
    quotechar: Annotated[str | None, typer.Option(help="CSV quote character.")] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding (default: UTF-8 with or without BOM, else Latin-1)."),
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: the first).")] = None,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--file-format", help="csv, parquet, jsonl or xlsx (default: from the extension)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A project file whose `channels:` section extends the channel vocabulary "
            "(default: ./revlens.yml when present).",
        ),
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Import files into the warehouse: validated, upserted by key, all or nothing. Without
    --table or --mapping, a known export (HubSpot, Google Ads, GA4, ...) is recognised by its
    header."""
    if table is not None and mapping is not None:
        raise RevlensError(
            "give --table or --mapping, not both",
            code="RL010",
            fix="e.g. revlens import --table contacts contacts.csv",
        )
    if on_error not in ("reject", "abort"):
        raise RevlensError(
            "--on-error must be reject or abort",
            value=on_error,
            code="RL011",
            fix="use --on-error reject (default) or --on-error abort",
        )
    mapping_obj = load_mapping(mapping) if mapping else None
    recognised = _recognise(files, format) if table is None and mapping_obj is None else None
    channels = _channels(config)
    options = ReadOptions(
        format=_file_format(file_format),
        delimiter=delimiter,
        quotechar=quotechar,
        encoding=encoding,
        sheet=sheet,
    )
    policy: OnError = "abort" if on_error == "abort" else "reject"
    big = any(f.exists() and f.stat().st_size > PROGRESS_BYTES for f in files)
    with open_warehouse() as wh, _read_progress(big and format is OutputFormat.table) as report:
        result = import_files(
            wh,
            files,
            table=table,
            mapping=mapping_obj,
            on_error=policy,
            read_options=options,
            progress=report,
            channels=channels,
            file_mappings=recognised,
        )
    _print_result(result, format)


@contextmanager
def _read_progress(show: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of the reading while the block runs (big files, table output), as the
    callback the readers call; None when not shown."""
    if not show:
        yield None
        return
    with Progress(
        TextColumn("reading"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("read", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield report


def _recognise(files: list[Path], fmt: OutputFormat) -> list[Mapping]:
    """The built-in mapping each file is recognised as (one per file, in order); say which."""
    out = console if fmt is OutputFormat.table else err_console
    chosen = []
    for path in files:
        recognition = recognise_file(path)
        also = f" (also fits: {', '.join(recognition.others)})" if recognition.others else ""
        where = f"{path}: " if len(files) > 1 else ""
        out.print(
            f"{where}recognised as a {recognition.title} export: using mapping "
            f"{recognition.mapping.name}{also}",
            highlight=False,
            markup=False,
        )
        chosen.append(recognition.mapping)
    return chosen


def _channels(config: Path | None) -> ChannelVocabulary:
    """The channel vocabulary with the project's `channels:` section (--config FILE, else
    ./revlens.yml when present)."""
    path = config if config is not None else (PROJECT_FILE if PROJECT_FILE.exists() else None)
    if path is None:
        return builtin_vocabulary()
    return project_vocabulary(read_section(path, "channels"), str(path))


def _file_format(value: str | None) -> FileFormat | None:
    allowed: dict[str, FileFormat] = {
        "csv": "csv",
        "parquet": "parquet",
        "jsonl": "jsonl",
        "xlsx": "xlsx",
    }
    if value is None:
        return None
    if value not in allowed:
        raise RevlensError(
            "unknown file format", value=value, code="RL012", fix="use csv, parquet, jsonl or xlsx"
        )
    return allowed[value]


def _print_result(result: ImportResult, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print(to_json(result.to_dict()))
        return
    rows = [
        {
            "file": f.file,
            "table": c.table,
            "read": c.read,
            "loaded": c.loaded,
            "updated": c.updated,
            "rejected": c.rejected,
            "skipped": c.skipped,
        }
        for f in result.files
        for c in f.tables
    ]
    print_rows(rows, fmt, title=f"import {result.import_id}")
    if fmt is not OutputFormat.table:
        return
    for f in result.files:
        if f.lines_skipped:
            console.print(
                f"{f.file}: {skipped_lines_text(f.lines_skipped)} skipped (not data rows)",
                highlight=False,
                markup=False,
            )
        skipped_rows = [c for c in f.tables if c.skipped]
        if skipped_rows:
            console.print(
                f"{f.file}: "
                + ", ".join(f"{c.skipped} rows for {c.table}" for c in skipped_rows)
                + " skipped by the mapping's rule",
                highlight=False,
                markup=False,
            )
        for w in f.warnings:
            console.print(f"[yellow]warning[/yellow] {f.file}: {w}", highlight=False)
        for r in f.rejects[:10]:
            console.print(
                f"rejected {r.file}:{r.line} {r.table}.{r.column or '-'} = {r.value!r}: {r.reason}",
                highlight=False,
                markup=False,
            )
        if f.rows_rejected:
            console.print(
                f"{f.rows_rejected} rows of {f.file} rejected: see `revlens rejects`",
                highlight=False,
            )


@app.command()
def rejects(
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only this table.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Only this imported file.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 1000,
    format: FormatOption = OutputFormat.table,
) -> None:
    """List rejected rows: file, line, column, value and the reason."""
    if table is not None:
        lookup_table(table)  # an unknown table name gets "did you mean", not 0 rejects
    with open_warehouse(read_only=True) as wh:
        rows = wh.con.execute(
            f"""SELECT file, line, "table", "column", value, code, reason, "row", import_id
            FROM {REJECTS_TABLE}
            WHERE (? IS NULL OR "table" = ? OR list_contains(string_split("table", ', '), ?))
              AND (? IS NULL OR file = ?)
            ORDER BY file, line LIMIT ?""",
            [table, table, table, file, file, limit],
        ).fetchall()
    names = ["file", "line", "table", "column", "value", "code", "reason", "row", "import_id"]
    records = [dict(zip(names, r, strict=True)) for r in rows]
    for rec in records:
        rec["row"] = json.loads(str(rec["row"])) if rec["row"] else None
        if rec["row"]:
            rec["row"].pop("__line", None)
    if format is OutputFormat.table:
        print_rows(
            records,
            format,
            columns=["file", "line", "table", "column", "value", "reason"],
            title=f"{len(records)} rejects",
        )
    else:
        print_rows(records, format, columns=names)


@app.command()
def mappings(format: FormatOption = OutputFormat.table) -> None:
    """List the built-in mappings and the tables each one writes."""
    rows = []
    for name in builtin_mappings():
        m = load_mapping(name)
        rows.append(
            {
                "name": name,
                "title": m.title,
                "tables": ", ".join(dict.fromkeys(o.table for o in m.outputs)),
                "recognised_by": ", ".join(m.recognise.columns) if m.recognise else "",
                "description": m.description.strip(),
            }
        )
    print_rows(rows, format, title="built-in mappings")


SKIP_WORDS = {
    "title": ("title line", "title lines"),
    "comment": ("comment line", "comment lines"),
    "summary": ("summary row", "summary rows"),
    "empty": ("empty row", "empty rows"),
}


def skipped_lines_text(skipped: dict[str, int]) -> str:
    """{"title": 3, "summary": 1} -> "3 title lines, 1 summary row"."""
    return ", ".join(
        f"{n} {SKIP_WORDS[k][0] if n == 1 else SKIP_WORDS[k][1]}"
        for k, n in skipped.items()
        if n and k in SKIP_WORDS
    )
