"""Lead scoring: points per behaviour in a lead's first days, the MQL threshold, and the
separation report (ROC AUC and lift by decile), on hand-built journeys.

The evaluation reads, so it runs on each engine (`on_engine`); writing the scores
(`score_contacts`) writes the DuckDB warehouse, which only DuckDB does (Spark reads a lake)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from journeys import Event, email, journeys_for, meeting, stage, touch
from revlens.errors import RevlensError
from revlens.funnel.scoring import (
    Rule,
    ScoringRules,
    evaluate,
    load_rules,
    roc_auc,
    score_contacts,
)
from revlens.model.warehouse import Warehouse
from two_engines import OnEngine, duckdb_only

RULES = ScoringRules(
    window_days=14,
    threshold=20,
    target="sql",
    rules=(
        Rule(name="form", source="touchpoints", touch_type="form", points=10),
        Rule(name="open", source="email_events", event="open", points=2),
        Rule(name="meeting", source="meetings", attended=True, points=20),
    ),
)


def form(at: str) -> Event:
    return touch("web", at, touch_type="form")


PEOPLE = {
    # 10 (form) + 2 (open) + 20 (meeting) = 32; converts after the window
    "ann": [
        stage("lead", "2024-01-01"),
        form("2024-01-02"),
        email("open", "c1", "2024-01-03"),
        meeting("2024-01-04", "2024-01-05", attended=True),
        stage("sql", "2024-02-01"),
    ],
    # 10; the open on day 20 is outside the 14-day window; converts after the window
    "bob": [
        stage("lead", "2024-01-01"),
        form("2024-01-01"),
        email("open", "c1", "2024-01-21"),
        stage("sql", "2024-03-01"),
    ],
    # 2; never converts
    "cat": [stage("lead", "2024-01-01"), email("open", "c1", "2024-01-02")],
    # 0; never converts
    "dan": [stage("lead", "2024-01-01"), touch("web", "2024-01-02", touch_type="session")],
    # converts inside the window: left out of the evaluation
    "eve": [stage("lead", "2024-01-01"), form("2024-01-02"), stage("sql", "2024-01-05")],
    # behaviour before the lead date does not count: 0; data ends 2024-06-01
    "fay": [form("2023-12-01"), stage("lead", "2023-12-20"), stage("lead", "2024-06-01")],
}


WRITES = (
    "score_contacts writes lead_scores into the DuckDB warehouse; a lake is read-only "
    "(`revlens score` on Spark is refused with RL046)"
)


@pytest.fixture
def wh() -> Warehouse:
    warehouse = Warehouse.open(":memory:", create=True)
    journeys_for(warehouse, PEOPLE)
    return warehouse


def test_roc_auc_is_the_mann_whitney_probability() -> None:
    # pairs (pos, neg): (3>1) (3>2) (2=2 half) (2>1) -> 3.5 of 4
    assert roc_auc(np.array([3.0, 2.0, 2.0, 1.0]), np.array([1, 1, 0, 0])) == 3.5 / 4
    assert roc_auc(np.array([1.0, 2.0]), np.array([1, 1])) is None


@duckdb_only(WRITES)
def test_scores_are_written_with_the_mql_flag(wh: Warehouse) -> None:
    assert score_contacts(wh, RULES, as_of=dt.date(2024, 6, 1)) == 6
    rows = dict(wh.con.execute("SELECT contact_id, score FROM lead_scores").fetchall())
    assert rows == {"ann": 32.0, "bob": 10.0, "cat": 2.0, "dan": 0.0, "eve": 10.0, "fay": 0.0}
    mqls = {
        r[0] for r in wh.con.execute("SELECT contact_id FROM lead_scores WHERE is_mql").fetchall()
    }
    assert mqls == {"ann"}


@duckdb_only(WRITES)
def test_decay_halves_points_per_half_life(wh: Warehouse) -> None:
    rules = RULES.model_copy(update={"half_life_days": 10.0})
    score_contacts(wh, rules, as_of=dt.date(2024, 1, 11))  # scored at 2024-01-12 00:00
    score = wh.con.execute("SELECT score FROM lead_scores WHERE contact_id = 'cat'").fetchone()
    assert score is not None
    assert score[0] == pytest.approx(2 * 0.5 ** (10 / 10))  # open on 01-02, 10 days before


def test_evaluation_leaves_out_in_window_conversions(wh: Warehouse, on_engine: OnEngine) -> None:
    report = evaluate(on_engine(wh), RULES)
    # ann 32 (hit), bob 10 (hit), cat 2, dan 0, fay 0 -> eve converted inside the window
    assert (report.leads, report.converted) == (5, 2)
    assert report.auc == 1.0
    assert (report.above_threshold, report.precision_at_threshold) == (1, 1.0)
    assert report.recall_at_threshold == 0.5
    assert [d["decile"] for d in report.deciles] == [1, 3, 5, 7]  # 5 leads: ranks 1,2,3,4,4
    assert report.deciles[0]["lift"] == pytest.approx(1 / 0.4)


def test_rules_file_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "revlens.yml"
    path.write_text(
        "scoring:\n  rules:\n    - {name: x, source: tweets, points: 1}\n", encoding="utf-8"
    )
    with pytest.raises(RevlensError, match=r"rules\.0\.source"):
        load_rules(path)
    path.write_text(
        "scoring:\n  threshold: 30\n  rules:\n"
        "    - {name: x, source: email_events, event: click, points: 4}\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert (rules.threshold, rules.rules[0].points) == (30, 4)


def test_docs_example_is_the_default_rules_plus_decay(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "funnels.md"
    example = docs.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "revlens.yml"
    path.write_text(example, encoding="utf-8")
    from revlens.funnel.scoring import DEFAULT_RULES

    assert load_rules(path) == DEFAULT_RULES.model_copy(update={"half_life_days": 30.0})
