"""The data-driven models on the demo data: do they rank the channels as the demo's
documented true effects (`truth.true_channel_effects`) do?

On leads they do: the origin channel brings the lead and every other touch before it is
drawn independently of the outcome, which is the world path-based models assume. On
customers the first-order Markov chain cannot (docs/attribution.md, "On the demo data"):
a contact's origin sets its whole funnel, and the chain forgets the origin after the next
touch, so channels whose leads close well (partners, events) lose credit to the generic
return visits that follow them. Shapley, which looks at whole paths, still ranks them
closely.

The journeys are read on each engine (`on_engine`: the demo warehouse on DuckDB, its lake on
Spark); the models then run in Python on what was read.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scipy.stats import spearmanr

from revlens.attribution import attribute
from revlens.demo import truth as T
from revlens.demo.generate import load_demo
from revlens.model.warehouse import Reader, Warehouse
from revlens.service import attribution_journeys
from two_engines import OnEngine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[42, 7])
def demo(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    wh = Warehouse.open(":memory:", create=True)
    load_demo(wh, contacts=20_000, seed=request.param)
    yield wh
    wh.close()


def shares(wh: Reader, conversion: str, models: list[str]) -> dict[str, dict[str, float]]:
    """Each model's share of credit per channel over the demo's 24 months."""
    journeys, _ = attribution_journeys(
        wh,
        model=",".join(models),
        conversion=conversion,
        lookback="365d",
        start="2024-11-01",
        end="2026-10-31",
    )
    result = attribute(journeys, models)
    return {m: {r["channel"]: r["share"] for r in result.rows if r["model"] == m} for m in models}


def rank_agreement(truth: dict[str, float], credit: dict[str, float]) -> float:
    """Spearman's rank correlation of the model's credit with the truth, over channels."""
    names = sorted(truth)
    rho = spearmanr([truth[c] for c in names], [credit.get(c, 0.0) for c in names]).statistic
    return float(rho)


def top(values: dict[str, float], n: int) -> set[str]:
    return set(sorted(values, key=lambda c: -values[c])[:n])


def test_data_driven_models_rank_lead_sources_as_the_truth(
    demo: Warehouse, on_engine: OnEngine
) -> None:
    truth = T.true_channel_effects("lead")
    credit = shares(on_engine(demo), "lead", ["markov", "shapley"])
    for model, by_channel in credit.items():
        assert set(by_channel) <= {*truth, "(none)"}
        assert rank_agreement(truth, by_channel) >= 0.85, (model, by_channel)
        assert top(by_channel, 3) == top(truth, 3), (model, by_channel)


def test_shapley_ranks_customer_sources_close_to_the_truth(
    demo: Warehouse, on_engine: OnEngine
) -> None:
    truth = T.true_channel_effects("customer")
    credit = shares(on_engine(demo), "customer", ["shapley", "markov"])
    assert rank_agreement(truth, credit["shapley"]) >= 0.75, credit["shapley"]
    # the documented blind spot of a first-order chain: the best-closing origin channel
    # gets far less than its true share (docs/attribution.md)
    assert credit["markov"]["partners"] < truth["partners"] / 2
