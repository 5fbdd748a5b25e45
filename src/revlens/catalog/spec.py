"""KPI specs: YAML validated into frozen, typed models. The built-in catalogue implements
KPIS.md with exactly its ids; a project file (revlens.yml or --catalog FILE) adds or
overrides KPIs. Validation collects every problem before failing, each with a code, the file,
the KPI id and the fix."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from revlens.errors import RevlensError, UnknownName, did_you_mean


class Kind(StrEnum):
    """How a KPI's value is formed (a closed set)."""

    count = "count"  # type: ignore[assignment]  # shadows str.count, by design
    sum = "sum"
    ratio = "ratio"
    derived = "derived"
    snapshot = "snapshot"
    distribution = "distribution"


class Unit(StrEnum):
    count = "count"  # type: ignore[assignment]
    money = "money"
    percent = "percent"
    minutes = "minutes"
    days = "days"
    ratio = "ratio"


class Direction(StrEnum):
    up = "up"
    down = "down"
    none = "none"


class Formula(BaseModel):
    """Exactly one shape: `measure` (count, sum, snapshot, distribution), `numerator` and
    `denominator` (ratio; each a measure or a KPI id), or `expression` over other KPI ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measure: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    expression: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Formula:
        shapes = [
            self.measure is not None,
            self.numerator is not None or self.denominator is not None,
            self.expression is not None,
        ]
        if sum(shapes) != 1:
            raise ValueError("give exactly one of measure, numerator+denominator or expression")
        if shapes[1] and (self.numerator is None or self.denominator is None):
            raise ValueError("a ratio needs both numerator and denominator")
        return self

    def names(self) -> list[str]:
        """The measures or KPI ids this formula refers to."""
        if self.measure:
            return [self.measure]
        if self.expression:
            return expression_names(self.expression)
        return [n for n in (self.numerator, self.denominator) if n]


class Cohort(BaseModel):
    """The lifecycle stages a conversion KPI measures in cohort mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_stage: str
    to_stage: str


class KpiSpec(BaseModel):
    """One KPI: what it means, how it is computed, and how to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    description: str
    kind: Kind
    formula: Formula
    unit: Unit
    direction: Direction
    tables: tuple[str, ...] = ()
    source: str = ""
    cohort: Cohort | None = None
    params: dict[str, float] = {}


ALLOWED_EXPR_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.USub,
    ast.Name,
    ast.Load,
    ast.Constant,
)


def expression_names(expression: str) -> list[str]:
    """The KPI ids an arithmetic expression uses; raises ValueError on anything else."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_EXPR_NODES):
            raise ValueError(
                f"only + - * / numbers and KPI ids are allowed, not {type(node).__name__}"
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError("only numbers may appear as constants")
        if isinstance(node, ast.Name):
            names.append(node.id)
    return names


def evaluate(expression: str, values: dict[str, float | None]) -> float | None:
    """Evaluate an arithmetic expression over KPI values; None if any input is None or a
    division is by zero (undefined, never an error)."""

    def ev(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)
            return float(node.value)
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.UnaryOp):
            inner = ev(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return None if right == 0 else left / right
        raise ValueError(type(node).__name__)

    return ev(ast.parse(expression, mode="eval"))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a catalogue file."""

    code: str
    file: str
    kpi: str
    message: str
    fix: str

    def render(self) -> str:
        return f"{self.code} {self.file} [{self.kpi}]: {self.message}\n    fix: {self.fix}"


class CatalogError(RevlensError):
    """A catalogue file with problems; all of them are listed."""

    code = "RL500"

    def __init__(self, problems: list[Problem]) -> None:
        text = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the KPI catalogue:\n"
        text += "\n".join(p.render() for p in problems)
        super().__init__(text, fix="correct the KPI specs listed")
        self.problems = problems


@dataclass(frozen=True)
class Catalog:
    """The KPIs by id, in catalogue order."""

    kpis: dict[str, KpiSpec]

    def get(self, kpi_id: str) -> KpiSpec:
        """The KPI called `kpi_id` (ids are matched ignoring case)."""
        spec = self.kpis.get(kpi_id) or self.kpis.get(kpi_id.lower())
        if spec is None:
            raise UnknownName("KPI", kpi_id, self.kpis)
        return spec

    def __iter__(self) -> Any:
        return iter(self.kpis.values())

    def __len__(self) -> int:
        return len(self.kpis)


BUILTIN = "revlens.catalog"


def _parse(text: str, where: str, problems: list[Problem]) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problems.append(
            Problem("K001", where, "-", f"not valid YAML: {exc}", "fix the YAML syntax")
        )
        return []
    if isinstance(data, dict) and "kpis" not in data:
        return []  # a project file may hold only other sections (dimensions)
    items = data.get("kpis") if isinstance(data, dict) else data
    if not isinstance(items, list):
        problems.append(
            Problem(
                "K002",
                where,
                "-",
                "expected a list of KPIs under `kpis:`",
                "write `kpis:` followed by a list of KPI specs",
            )
        )
        return []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(
                Problem(
                    "K002",
                    where,
                    f"#{i}",
                    "a KPI spec must be a mapping",
                    "write id, name, formula, ... as keys",
                )
            )
            continue
        out.append((str(item.get("id", f"#{i}")), item))
    return out


def load_catalog(extra: Path | None = None, *, measures: set[str] | None = None) -> Catalog:
    """The built-in catalogue, with the KPIs of `extra` (a project file) added or replacing
    built-in ones. Every problem is collected and reported at once."""
    problems: list[Problem] = []
    sources = [
        (
            resources.files(BUILTIN).joinpath("kpis.yml").read_text(encoding="utf-8"),
            "built-in catalogue",
        )
    ]
    if extra is not None:
        if not extra.exists():
            raise RevlensError(
                "catalogue file not found",
                where=str(extra),
                code="RL501",
                fix="check the path given to --catalog",
            )
        sources.append((extra.read_text(encoding="utf-8"), str(extra)))
    specs: dict[str, KpiSpec] = {}
    origin: dict[str, str] = {}
    for text, where in sources:
        seen: set[str] = set()
        for kpi_id, raw in _parse(text, where, problems):
            if kpi_id in seen:
                problems.append(
                    Problem(
                        "K003",
                        where,
                        kpi_id,
                        "the id is defined twice",
                        "remove or rename one of them",
                    )
                )
                continue
            seen.add(kpi_id)
            try:
                spec = KpiSpec.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"]) or "-"
                    problems.append(
                        Problem("K004", where, kpi_id, f"{loc}: {err['msg']}", _fix_for(err))
                    )
                continue
            specs[spec.id] = spec
            origin[spec.id] = where
    _check_references(specs, origin, measures, problems)
    if problems:
        raise CatalogError(problems)
    return Catalog(specs)


def _fix_for(err: Any) -> str:
    if err["type"] == "missing":
        return f"add `{err['loc'][-1]}`"
    if err["type"] == "enum":
        return f"use one of: {err['ctx'].get('expected', '')}"
    if err["type"] == "extra_forbidden":
        return (
            "remove the key (id, name, description, kind, formula, unit, direction, "
            "tables, source, cohort, params are allowed)"
        )
    return "see docs/kpis.md for the spec format"


def _check_references(
    specs: dict[str, KpiSpec],
    origin: dict[str, str],
    measures: set[str] | None,
    problems: list[Problem],
) -> None:
    known_measures = measures or set()
    for spec in specs.values():
        where = origin[spec.id]
        f = spec.formula
        if spec.kind is Kind.ratio and f.numerator is None:
            problems.append(
                Problem(
                    "K010",
                    where,
                    spec.id,
                    "kind ratio needs numerator and denominator",
                    "write formula: {numerator: X, denominator: Y}",
                )
            )
        if spec.kind is Kind.derived and f.expression is None:
            problems.append(
                Problem(
                    "K011",
                    where,
                    spec.id,
                    "kind derived needs an expression",
                    'write formula: {expression: "a - b"}',
                )
            )
        if spec.kind in (Kind.count, Kind.sum, Kind.snapshot, Kind.distribution) and not f.measure:
            problems.append(
                Problem(
                    "K012",
                    where,
                    spec.id,
                    f"kind {spec.kind} needs a measure",
                    "write formula: {measure: NAME}",
                )
            )
        try:
            names = f.names()
        except ValueError as exc:
            problems.append(
                Problem("K013", where, spec.id, str(exc), "use + - * / over KPI ids and numbers")
            )
            continue
        for name in names:
            if f.measure and measures is not None and name not in known_measures:
                close = did_you_mean(name, known_measures)
                problems.append(
                    Problem(
                        "K014",
                        where,
                        spec.id,
                        f"unknown measure {name!r}",
                        f"did you mean {close[0]!r}?"
                        if close
                        else "see `revlens kpis` for the measures",
                    )
                )
            elif not f.measure and name not in specs and name not in known_measures:
                close = did_you_mean(name, list(specs) + sorted(known_measures))
                problems.append(
                    Problem(
                        "K015",
                        where,
                        spec.id,
                        f"unknown KPI or measure {name!r}",
                        f"did you mean {close[0]!r}?" if close else "define it first",
                    )
                )
    _check_cycles(specs, origin, problems)


def _check_cycles(
    specs: dict[str, KpiSpec], origin: dict[str, str], problems: list[Problem]
) -> None:
    def deps(kpi_id: str) -> list[str]:
        spec = specs.get(kpi_id)
        if spec is None or spec.formula.measure:
            return []
        try:
            return [n for n in spec.formula.names() if n in specs and n != kpi_id]
        except ValueError:
            return []

    for start in specs:
        stack, seen = list(deps(start)), set()
        while stack:
            node = stack.pop()
            if node == start:
                problems.append(
                    Problem(
                        "K016",
                        origin[start],
                        start,
                        "the formula refers to itself through other KPIs",
                        "break the cycle",
                    )
                )
                break
            if node not in seen:
                seen.add(node)
                stack.extend(deps(node))
