"""Generated sections of the docs (the canonical tables, the KPI catalogue), so pages can
never drift from the code: tests compare them; `python -m revlens.gendocs` rewrites them."""

from __future__ import annotations

from pathlib import Path

from revlens.catalog.spec import load_catalog
from revlens.compile.measures import MEASURES
from revlens.model.schema import LIFECYCLE_STAGES, TABLES, Column

END = "<!-- end of generated section -->"


def begin_marker(name: str) -> str:
    return f"<!-- generated: {name} (python -m revlens.gendocs) -->"


def _describe(col: Column) -> str:
    notes = []
    if col.allowed == LIFECYCLE_STAGES:
        notes.append("one of the configured lifecycle stages")
    elif col.allowed:
        notes.append("one of " + ", ".join(col.allowed))
    if col.non_negative:
        notes.append("≥ 0")
    return "; ".join(notes)


def render_tables() -> str:
    parts = []
    for table in TABLES:
        key = ", ".join(table.key)
        hashed = " (a stable hash of the row when the file has none)" if table.hashed_key else ""
        parts.append(f"### {table.name}\n\n{table.description}\n\nKey: `{key}`{hashed}.\n")
        parts.append("| column | type | required | rule |\n|---|---|---|---|")
        for col in table.columns:
            parts.append(
                f"| {col.name} | {col.type} | {'yes' if col.required else ''} | {_describe(col)} |"
            )
        for rule in table.order_rules:
            parts.append(f"\n`{rule.later}`, when present, must not be before `{rule.earlier}`.")
        parts.append("")
    return "\n".join(parts).strip() + "\n"


def render_kpis() -> str:
    catalog = load_catalog(measures=set(MEASURES))
    parts = [
        "| id | name | kind | unit | direction | formula | definition |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in catalog:
        f = spec.formula
        formula = f.measure or f.expression or f"{f.numerator} / {f.denominator}"
        cohort = (
            f" Cohort mode: {spec.cohort.from_stage} → {spec.cohort.to_stage} within the window."
            if spec.cohort
            else ""
        )
        parts.append(
            f"| `{spec.id}` | {spec.name} | {spec.kind.value} | {spec.unit.value} | "
            f"{spec.direction.value} | `{formula}` | {spec.description}{cohort} |"
        )
    parts += ["", "Measures the formulas use:", "", "| measure | what it counts |", "|---|---|"]
    for m in MEASURES.values():
        parts.append(f"| `{m.name}` | {m.description} ({m.style}) |")
    return "\n".join(parts) + "\n"


def render_channels() -> str:
    """The channel vocabulary: each canonical channel and the words tools use for it."""
    from revlens.ingest.channels import builtin_aliases, channel_descriptions

    parts = ["| channel | meaning | aliases (by tool) |", "|---|---|---|"]
    for channel, meaning in channel_descriptions().items():
        by_tool: dict[str, list[str]] = {}
        for a in builtin_aliases():
            if a.channel == channel and a.tool != "revlens":
                by_tool.setdefault(a.tool, []).append(f"`{a.alias}`")
        aliases = "; ".join(f"{tool}: {', '.join(words)}" for tool, words in by_tool.items())
        parts.append(f"| `{channel}` | {meaning} | {aliases} |")
    return "\n".join(parts) + "\n"


SECTIONS = {"tables": render_tables, "kpis": render_kpis, "channels": render_channels}
PAGES = {"tables": "docs/data-model.md", "kpis": "docs/kpis.md", "channels": "docs/channels.md"}


def section(text: str, name: str) -> str:
    """The generated section `name` of a page's text."""
    return text.split(begin_marker(name), 1)[1].split(END, 1)[0].strip() + "\n"


def rewrite(path: Path, name: str) -> bool:
    """Replace the generated section `name` of `path`; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(begin_marker(name))
    _, _, tail = rest.partition(END)
    new = f"{head}{begin_marker(name)}\n{SECTIONS[name]()}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    for name, page in PAGES.items():
        rewrite(root / page, name)
