"""`revlens import FILE` without --table or --mapping: which built-in mapping reads this
export? A mapping's `recognise.columns` must all occur in the file's header (read past title
and comment lines with the mapping's own read options); of several, the one naming the most
columns wins. A file no mapping recognises gets the closest mappings and tables instead."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from revlens.errors import InputFileError, RevlensError
from revlens.ingest.channels import alias_key
from revlens.ingest.mapping import Mapping, builtin_mappings, load_mapping, match_header
from revlens.ingest.readers import ReadOptions, read_header
from revlens.model.schema import TABLES

CLOSEST = 3  # mappings and tables named when a file is not recognised


@dataclass(frozen=True)
class Recognition:
    """The mapping a file was recognised as, and any others that matched less closely."""

    mapping: Mapping
    others: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """What the export is, for "recognised as a <title> export"."""
        title = self.mapping.title or self.mapping.name
        return title.removesuffix(" export").removesuffix(" Export")


@dataclass(frozen=True)
class _Candidate:
    kind: str  # "mapping" or "table"
    name: str
    found: int
    of: int
    missing: tuple[str, ...]


def builtin_mapping_objects() -> list[Mapping]:
    """Every built-in mapping, validated."""
    return [load_mapping(name) for name in builtin_mappings()]


def _header(path: Path, options: ReadOptions, cache: dict[str, list[str]]) -> list[str]:
    key = options.model_dump_json()
    if key not in cache:
        try:
            cache[key] = read_header(path, options)
        except InputFileError as exc:
            if exc.code == "RL102":
                raise
            cache[key] = []  # not this layout (no header line with these names, ...)
    return cache[key]


def recognise_file(path: Path, mappings: list[Mapping] | None = None) -> Recognition:
    """The built-in mapping whose `recognise.columns` all occur in the file's header, or an
    InputFileError (RL114) naming the closest mappings and tables and the command to run."""
    candidates = builtin_mapping_objects() if mappings is None else mappings
    cache: dict[str, list[str]] = {}
    matched: list[Mapping] = []
    near: list[_Candidate] = []
    for m in candidates:
        if m.recognise is None:  # never chosen alone, but may come close
            header = _header(path, m.read, cache)
            wanted_cols = sorted(m.input_columns())
            missing = tuple(c for c in wanted_cols if not match_header(c, header))
            found = len(wanted_cols) - len(missing)
            near.append(_Candidate("mapping", m.name, found, len(wanted_cols), missing))
            continue
        header = _header(path, m.read, cache)
        missing = tuple(c for c in m.recognise.columns if not match_header(c, header))
        if not missing:
            matched.append(m)
        else:
            wanted = len(m.recognise.columns)
            near.append(_Candidate("mapping", m.name, wanted - len(missing), wanted, missing))
    if matched:
        matched.sort(key=lambda m: (-len(m.recognise.columns if m.recognise else ()), m.name))
        return Recognition(matched[0], tuple(m.name for m in matched[1:]))
    plain = _header(path, ReadOptions(), cache)
    loose = {alias_key(h) for h in plain}  # "Campaign" comes close to campaign
    for table in TABLES:
        shared = [c for c in table.column_names if alias_key(c) in loose]
        missing = tuple(c for c in table.required if alias_key(c) not in loose)
        near.append(_Candidate("table", table.name, len(shared), len(table.columns), missing))
    raise _not_recognised(path, plain, near, [m.name for m in candidates if m.recognise])


def _not_recognised(
    path: Path, header: list[str], near: list[_Candidate], known: list[str]
) -> RevlensError:
    shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    ranked = sorted(
        (c for c in near if c.found), key=lambda c: (-c.found / c.of, -c.found, c.kind, c.name)
    )
    mappings = [c for c in ranked if c.kind == "mapping"][:CLOSEST]
    tables = [c for c in ranked if c.kind == "table"][:CLOSEST]
    parts = []
    for c in mappings:
        gap = ", ".join(repr(m) for m in c.missing[:3]) + (", ..." if len(c.missing) > 3 else "")
        parts.append(f"mapping {c.name} ({c.found} of its {c.of} columns; lacks {gap})")
    for c in tables:
        parts.append(f"table {c.name} ({c.found} of its {c.of} columns)")
    file = shlex.quote(str(path))
    commands = [f"revlens import --mapping {c.name} {file}" for c in mappings] + [
        f"revlens import --table {c.name} {file}" for c in tables
    ]
    closest = "; closest: " + "; ".join(parts) if parts else ""
    if commands:
        fix = (
            f"if it is one of these, run: {commands[0]}"
            + "".join(f" | {c}" for c in commands[1:])
            + "; else write a mapping (docs/imports.md) and run revlens import --mapping "
            f"my-mapping.yml {file}"
        )
    else:
        fix = (
            f"write a mapping (docs/imports.md) and run revlens import --mapping my-mapping.yml "
            f"{file}, or rename the columns to a table's and run revlens import --table TABLE "
            f"{file}; built-in mappings: {', '.join(known) or 'none'} (revlens mappings)"
        )
    return InputFileError(
        f"not an export revlens recognises: no built-in mapping finds all its columns in the "
        f"header ({shown}){closest}",
        where=str(path),
        code="RL114",
        fix=fix,
    )
