"""The catalogue: exactly the spec's KPI ids, typed specs, and every problem of a bad
project file reported at once with code, file, KPI id and fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from revlens.catalog.spec import CatalogError, Kind, evaluate, expression_names, load_catalog
from revlens.compile.measures import MEASURES
from revlens.errors import UnknownName

KPIS_MD = Path(__file__).resolve().parents[3] / "shared" / "spec" / "KPIS.md"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def spec_ids() -> list[str]:
    """The ids of KPIS.md sections A-G, read from its tables."""
    text = KPIS_MD.read_text(encoding="utf-8")
    body = text.split("## A.", 1)[1].split("## H.", 1)[0]
    ids = re.findall(r"^\| ([a-z_]+) \|", body, flags=re.MULTILINE)
    return [i for i in ids if i != "id"]


@pytest.mark.skipif(not KPIS_MD.exists(), reason="../shared/spec/KPIS.md is not beside the repo")
def test_catalogue_has_every_kpi_of_the_spec_with_its_id() -> None:
    catalog = load_catalog(measures=set(MEASURES))
    ids = spec_ids()
    assert len(ids) == 55 and ids[0] == "reach" and ids[-1] == "sla_mql_followup"
    assert [i for i in ids if i not in catalog.kpis] == []


def test_every_measure_reference_resolves() -> None:
    catalog = load_catalog(measures=set(MEASURES))
    for spec in catalog:
        for name in spec.formula.names():
            assert name in MEASURES or name in catalog.kpis, (spec.id, name)
        if spec.kind in (Kind.count, Kind.sum, Kind.snapshot, Kind.distribution):
            assert spec.formula.measure in MEASURES


def test_project_file_adds_and_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "revlens.yml"
    extra.write_text(
        "kpis:\n"
        "  - {id: cpl, name: CPL (ours), description: d, kind: ratio, unit: money,\n"
        "     direction: down, formula: {numerator: spend, denominator: mqls}}\n"
        "  - {id: coverage, name: Coverage, description: d, kind: derived, unit: ratio,\n"
        "     direction: up, formula: {expression: 'pipeline_value / revenue'}}\n",
        encoding="utf-8",
    )
    catalog = load_catalog(extra, measures=set(MEASURES))
    assert catalog.get("cpl").formula.denominator == "mqls"
    assert catalog.get("coverage").kind is Kind.derived
    assert "leads" in catalog.kpis


def test_docs_example_project_file_is_valid(tmp_path: Path) -> None:
    text = (DOCS / "kpis.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "revlens.yml"
    path.write_text(example, encoding="utf-8")
    catalog = load_catalog(path, measures=set(MEASURES))
    assert {"paid_cpl", "pipeline_coverage"} <= set(catalog.kpis)


def test_a_bad_file_reports_every_problem_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "revlens.yml"
    bad.write_text(
        "kpis:\n"
        "  - {id: a, name: A, description: d, kind: count, unit: count, direction: up,\n"
        "     formula: {measure: leadz}}\n"
        "  - {id: b, name: B, description: d, kind: ratio, unit: pct, direction: up,\n"
        "     formula: {numerator: leads, denominator: sessions}}\n"
        "  - {id: c, name: C, description: d, kind: derived, unit: count, direction: up,\n"
        "     formula: {expression: '__import__(1)'}}\n"
        "  - {id: d, name: D, description: d, kind: derived, unit: count, direction: up,\n"
        "     formula: {expression: 'e + 1'}}\n"
        "  - {id: e, name: E, description: d, kind: derived, unit: count, direction: up,\n"
        "     formula: {expression: 'd * 2'}}\n"
        "  - {id: a, name: A2, description: d, kind: count, unit: count, direction: up,\n"
        "     formula: {measure: leads}}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError) as err:
        load_catalog(bad, measures=set(MEASURES))
    found = {(p.code, p.kpi) for p in err.value.problems}
    assert found == {
        ("K014", "a"),
        ("K004", "b"),
        ("K013", "c"),
        ("K016", "d"),
        ("K016", "e"),
        ("K003", "a"),
    }
    by_code = {p.code: p for p in err.value.problems}
    assert by_code["K014"].fix == "did you mean 'leads'?"
    assert all(p.file == str(bad) for p in err.value.problems)
    assert "6 problems" in err.value.render()


def test_unknown_kpi_suggests_the_close_one() -> None:
    with pytest.raises(UnknownName) as err:
        load_catalog(measures=set(MEASURES)).get("win_rat")
    assert err.value.suggestions == ["win_rate"]


def test_expressions_are_arithmetic_only_and_null_safe() -> None:
    assert sorted(expression_names("(revenue - spend) / spend")) == ["revenue", "spend", "spend"]
    assert evaluate("(revenue - spend) / spend", {"revenue": 300.0, "spend": 100.0}) == 2.0
    assert evaluate("a / b", {"a": 1.0, "b": 0.0}) is None
    assert evaluate("1 - a", {"a": None}) is None
    assert evaluate("-a * 2", {"a": 1.5}) == -3.0
    with pytest.raises(ValueError, match="only"):
        expression_names("a.b")
