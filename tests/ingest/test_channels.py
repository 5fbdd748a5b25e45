"""The channel vocabulary: GA4's default channel groups, each tool's words for them, the
project's overrides, and unknown values kept in snake_case."""

from __future__ import annotations

import pytest

from revlens.errors import RevlensError
from revlens.ingest.channels import (
    CANONICAL_CHANNELS,
    builtin_aliases,
    builtin_vocabulary,
    channel_descriptions,
    normalize_channel,
    project_vocabulary,
)


def test_the_vocabulary_is_the_design_list_and_every_alias_names_one_channel() -> None:
    assert tuple(channel_descriptions()) == CANONICAL_CHANNELS
    assert {a.channel for a in builtin_aliases()} == set(CANONICAL_CHANNELS)
    builtin_vocabulary()  # raises when one alias names two channels


@pytest.mark.parametrize(
    ("value", "channel"),
    [
        ("Organic Search", "organic_search"),
        ("Paid Search", "paid_search"),
        ("PAID_SEARCH", "paid_search"),
        ("Paid Social", "paid_social"),
        ("Social Media", "organic_social"),
        ("Email Marketing", "email"),
        ("Direct Traffic", "direct"),
        ("Referrals", "referral"),
        ("Offline Sources", "offline"),
        ("Other Campaigns", "other"),
        ("Web", "direct"),
        ("Partner", "affiliates"),
        ("Partner Referral", "affiliates"),
        ("Advertisement", "display"),
        ("Trade Show", "events"),
        ("Seminar - Internal", "events"),
        ("Webinar", "events"),
        ("Phone Inquiry", "offline"),
        ("Employee Referral", "referral"),
        ("External Referral", "referral"),
        ("cpc", "paid_search"),
        ("ppc", "paid_search"),
        ("paidsearch", "paid_search"),
        ("email", "email"),
        ("e-mail", "email"),
        ("organic", "organic_search"),
        ("referral", "referral"),
        ("social", "organic_social"),
        ("social-network", "organic_social"),
        ("paid_social", "paid_social"),
        ("paidsocial", "paid_social"),
        ("display", "display"),
        ("banner", "display"),
        ("cpm", "display"),
        ("affiliate", "affiliates"),
        ("(none)", "direct"),
        ("(direct)", "direct"),
        ("(not set)", "unknown"),
        ("Unassigned", "unknown"),
        ("Cross-network", "cross_network"),
        ("Performance Max", "cross_network"),
        ("Trade Fair 2026", "trade_fair_2026"),
        ("---", "unknown"),
    ],
)
def test_tool_words_become_one_channel(value: str, channel: str) -> None:
    assert normalize_channel(value) == channel


def test_a_project_overrides_and_extends_the_aliases() -> None:
    vocab = project_vocabulary({"Web": "organic_search", "Partner Portal": "partners"}, "x.yml")
    assert normalize_channel("web", vocab) == "organic_search"
    assert normalize_channel("partner-portal", vocab) == "partners"
    assert normalize_channel("Paid Search", vocab) == "paid_search"
    assert project_vocabulary(None, "x.yml") == builtin_vocabulary()


def test_a_bad_channels_section_lists_every_problem() -> None:
    with pytest.raises(RevlensError) as exc:
        project_vocabulary({"Web": "Organic Search", "!!": "events", "X": 3}, "revlens.yml")
    assert (exc.value.code, exc.value.where) == ("RL205", "revlens.yml: channels")
    assert exc.value.message == (
        "'Web': 'Organic Search' is not a channel name in snake_case (e.g. direct, "
        "organic_search, paid_search, organic_social); '!!': an alias needs a letter or digit; "
        "'X': 3 is not a channel name in snake_case (e.g. direct, organic_search, paid_search, "
        "organic_social)"
    )
    with pytest.raises(RevlensError) as exc:
        project_vocabulary(["Web"], "revlens.yml")
    assert exc.value.code == "RL205"
