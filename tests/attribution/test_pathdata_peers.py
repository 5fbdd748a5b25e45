"""ChannelAttribution's PathData (10,000 rows, 5,408 distinct paths, 12 channels) against
the peers' numbers in fixtures/pathdata_peers.json (how they were made: the `produced`
block there and fixtures/make_peer_fixtures.py). The peers are not needed to run this.

Tolerances:
- ChannelAttribution 2.2.5 heuristic_models (deterministic sums): 1e-6 absolute.
- ChannelAttribution's transition matrix (count ratios): 1e-12.
- marketing-attribution-models 2.1.1 removal effects (exact, fundamental matrix): 1e-12.
- ChannelAttribution markov_model simulates; its output is noisy. The fixture holds 20
  independent runs at order 1 (10 at order 2), 10^6 simulated paths each; the exact
  solution must lie within 5 standard errors of their mean (SE = sd / sqrt(runs)). By
  chance alone a quantity is outside 5 SE with probability < 1e-6; a real difference of
  convention is far outside (order 2 with collapse on is up to ~20 SE away, below).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from revlens.attribution import JourneyTable, MarkovChain, attribute
from revlens.attribution.base import ModelCredit

pytestmark = pytest.mark.realdata

CA_KEYS = {
    "total_conversions": "conversions",
    "total_conversion_value": "value",
    "removal_effects_conversion": "removal_effect",
    "removal_effects_conversion_value": "removal_effect_value",
}


def test_the_fixture_was_made_from_this_file(pathdata_file: Path, peers: dict[str, Any]) -> None:
    assert hashlib.sha256(pathdata_file.read_bytes()).hexdigest() == peers["data"]["sha256"]
    assert peers["produced"]["packages"]["ChannelAttribution"] == "2.2.5"
    assert peers["produced"]["packages"]["marketing_attribution_models"] == "2.1.1"


def test_totals(pathdata: JourneyTable) -> None:
    assert len(pathdata.paths.paths) == 5408  # duplicate path rows summed
    assert len(pathdata.channels) == 12
    assert pathdata.total_conversions == 19785
    assert pathdata.total_nulls == 68602
    assert pathdata.total_value == pytest.approx(74802.9716, abs=1e-4)


def test_first_last_linear_equal_channelattribution(
    pathdata: JourneyTable, peers: dict[str, Any]
) -> None:
    expected = peers["channelattribution_heuristic_models"]["channels"]
    result = attribute(pathdata.journeys, ["first_touch", "last_touch", "linear"])
    ca_name = {"first_touch": "first_touch", "last_touch": "last_touch", "linear": "linear_touch"}
    for row in result.rows:
        ca = expected[row["channel"]]
        prefix = ca_name[row["model"]]
        assert row["conversions"] == pytest.approx(ca[f"{prefix}_conversions"], abs=1e-6), row
        assert row["value"] == pytest.approx(ca[f"{prefix}_value"], abs=1e-6), row
    assert len(result.rows) == 3 * 12


def test_markov_removal_effects_equal_mam_exact(
    pathdata: JourneyTable, peers: dict[str, Any]
) -> None:
    credit = MarkovChain().credit(pathdata)
    mam = peers["mam_markov_order1"]["removal_effect"]
    assert credit.removal_effect is not None
    for i, c in enumerate(credit.channels):
        assert credit.removal_effect[i] == pytest.approx(mam[c], abs=1e-12), c


def test_markov_transitions_equal_channelattribution(
    pathdata: JourneyTable, peers: dict[str, Any]
) -> None:
    m = MarkovChain()
    paths = pathdata.paths
    ours = {
        (a, b): p
        for a, b, p in m.transitions(
            m.prepare(paths, pathdata.channels), paths.conversions, paths.nulls
        )
    }
    theirs = {
        (a, b): p for a, b, p in peers["channelattribution_markov_order1"]["transition_matrix"]
    }
    assert set(ours) == set(theirs)
    for key, p in theirs.items():
        assert ours[key] == pytest.approx(p, abs=1e-12), key


def _z_scores(credit: ModelCredit, runs: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(ours - mean of the runs) / (sd / sqrt(runs)) per channel and quantity."""
    z = {}
    for ca_key, attr in CA_KEYS.items():
        ours = getattr(credit, attr)
        for i, c in enumerate(credit.channels):
            xs = np.array([r["channels"][c][ca_key] for r in runs])
            se = xs.std(ddof=1) / math.sqrt(len(xs))
            z[(c, ca_key)] = (float(ours[i]) - xs.mean()) / se
    return z


def test_markov_order1_lies_within_channelattribution_simulation_noise(
    pathdata: JourneyTable, peers: dict[str, Any]
) -> None:
    runs = peers["channelattribution_markov_order1"]["runs"]
    assert len(runs) == 20
    z = _z_scores(MarkovChain(order=1).credit(pathdata), runs)
    assert len(z) == 12 * 4
    outside = {k: round(v, 2) for k, v in z.items() if abs(v) > 5}
    assert not outside


def test_markov_order2_matches_channelattribution_without_collapse(
    pathdata: JourneyTable, peers: dict[str, Any]
) -> None:
    runs = peers["channelattribution_markov_order2"]["runs"]
    z = _z_scores(MarkovChain(order=2, collapse=False).credit(pathdata), runs)
    assert max(abs(v) for v in z.values()) < 5
    # ChannelAttribution builds order-2 windows over the uncollapsed path: collapsing the
    # channels first is a different model, far outside the noise
    collapsed = _z_scores(MarkovChain(order=2, collapse=True).credit(pathdata), runs)
    assert max(abs(v) for v in collapsed.values()) > 10


def test_shapley_equals_zhaos_closed_form_computed_independently(
    pathdata_file: Path, pathdata: JourneyTable
) -> None:
    df = pd.read_csv(pathdata_file)
    df["set"] = df["path"].map(lambda p: frozenset(c.strip() for c in p.split(">")))
    by_set = df.groupby("set")[["total_conversions", "total_conversion_value"]].sum()
    expected: dict[str, list[float]] = {}
    for channels, (conv, value) in by_set.iterrows():
        for c in channels:
            e = expected.setdefault(c, [0.0, 0.0])
            e[0] += conv / len(channels)
            e[1] += value / len(channels)
    result = attribute(pathdata.journeys, ["shapley"])
    for row in result.rows:
        assert row["conversions"] == pytest.approx(expected[row["channel"]][0], abs=1e-9)
        assert row["value"] == pytest.approx(expected[row["channel"]][1], abs=1e-9)


def test_the_rate_game_values_rates_not_volume(pathdata: JourneyTable) -> None:
    # as the shapley module doc says: 8 journeys of mi alone outweigh alpha's 48,285
    result = attribute(pathdata.journeys, ["shapley"], shapley_characteristic="conversion_rate")
    credit = {r["channel"]: r["conversions"] for r in result.rows}
    assert credit["mi"] > credit["alpha"]
    assert sum(credit.values()) == pytest.approx(19785)


def test_every_model_runs_on_pathdata_and_adds_up(pathdata: JourneyTable) -> None:
    result = attribute(
        pathdata.journeys,
        "first_touch,last_touch,last_non_direct,linear,time_decay,position_based,"
        "w_shaped,full_path,markov,shapley",
        ci=0.9,
        bootstrap=20,
        seed=1,
    )
    for model in result.models:
        rows = [r for r in result.rows if r["model"] == model]
        assert math.fsum(r["conversions"] for r in rows) == pytest.approx(19785), model
        assert math.fsum(r["value"] for r in rows) == pytest.approx(74802.9716, abs=1e-3), model
