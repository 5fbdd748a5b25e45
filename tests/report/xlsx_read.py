"""Reading an .xlsx back: openpyxl for cells, the zip's parts for the charts (openpyxl
does not keep the charts of a workbook it loads)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any


def header_row(ws: Any, first: str) -> int:
    """The 1-based row whose column A reads `first` (a table's header)."""
    for row in ws.iter_rows(min_col=1, max_col=1):
        if row[0].value == first:
            return int(row[0].row)
    raise AssertionError(f"no row starting with {first!r} in {ws.title}")


def table(ws: Any, first: str) -> list[dict[str, Any]]:
    """The rows under the header that starts with `first`, as dicts, up to a blank row."""
    top = header_row(ws, first)
    names = [c.value for c in ws[top]]
    out = []
    for row in ws.iter_rows(min_row=top + 1):
        if row[0].value is None:
            break
        out.append({n: c.value for n, c in zip(names, row, strict=False) if n is not None})
    return out


def charts_by_sheet(path: Path) -> dict[str, list[str]]:
    """The chart XML parts of each sheet, found through the workbook's relationships:
    workbook -> sheet -> drawing -> chart."""
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())

        def rels(part: str) -> dict[str, str]:
            folder, name = part.rsplit("/", 1)
            rel = f"{folder}/_rels/{name}.rels"
            if rel not in names:
                return {}
            text = z.read(rel).decode()
            out = {}
            for rid, target in re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', text):
                out[rid] = _resolve(folder, target)
            for target, rid in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', text):
                out[rid] = _resolve(folder, target)
            return out

        workbook = z.read("xl/workbook.xml").decode()
        wb_rels = rels("xl/workbook.xml")
        result: dict[str, list[str]] = {}
        sheets = re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="([^"]+)"', workbook)
        for name, rid in sheets:
            sheet = wb_rels[rid]
            charts: list[str] = []
            for drawing in rels(sheet).values():
                if "/drawings/" not in drawing:
                    continue
                for chart in rels(drawing).values():
                    if "/charts/" in chart:
                        charts.append(z.read(chart).decode())
            result[name] = charts
        return result


def _resolve(folder: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    parts = folder.split("/")
    for piece in target.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)
