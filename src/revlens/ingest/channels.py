"""One channel vocabulary: GA4's default channel groups in snake_case, and every tool's word
for them ("Paid Search", HubSpot's "Email Marketing", Salesforce's "Web", UTM `cpc`), so
that leads from a CRM and sessions from GA4 meet in the same channel row.

The aliases live in channels.yml next to this module; a project's revlens.yml may override
or extend them (`channels: {"Web": organic_search}`). A value that matches no alias is kept
as its snake_case form, and the importer warns once per such value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from revlens.errors import RevlensError

CANONICAL_CHANNELS: tuple[str, ...] = (
    "direct",
    "organic_search",
    "paid_search",
    "organic_social",
    "paid_social",
    "email",
    "referral",
    "display",
    "affiliates",
    "organic_video",
    "paid_video",
    "organic_shopping",
    "paid_shopping",
    "cross_network",
    "sms",
    "audio",
    "mobile_push",
    "events",
    "offline",
    "other",
    "unknown",
)
_PUNCTUATION = re.compile(r"[\W_]+")
_SNAKE_TARGET = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")


def alias_key(value: str) -> str:
    """The form aliases are compared in: lower case, without spaces or punctuation."""
    return _PUNCTUATION.sub("", value.lower())


def snake_case(value: str) -> str:
    """`Trade Fair 2026` -> `trade_fair_2026`: how an unknown channel is kept."""
    return _PUNCTUATION.sub("_", value.lower()).strip("_")


@dataclass(frozen=True)
class ChannelAlias:
    """One alias of the built-in vocabulary, with the tool that writes it."""

    alias: str
    channel: str
    tool: str


@dataclass(frozen=True)
class ChannelVocabulary:
    """Aliases (by `alias_key`) -> channel; `overrides` are the project's own entries."""

    aliases: Mapping[str, str]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, value: str) -> str | None:
        """The channel `value` names, or None when the vocabulary does not know it."""
        key = alias_key(value)
        return self.overrides.get(key) or self.aliases.get(key)

    def with_overrides(self, entries: Mapping[str, str]) -> ChannelVocabulary:
        return ChannelVocabulary(
            self.aliases, {**self.overrides, **{alias_key(k): v for k, v in entries.items()}}
        )


def normalize_channel(value: str, vocabulary: ChannelVocabulary | None = None) -> str:
    """The canonical channel of `value`; an unknown value as its snake_case form."""
    vocab = vocabulary or builtin_vocabulary()
    known = vocab.lookup(value)
    if known is not None:
        return known
    return snake_case(value) or "unknown"


def _read_builtin() -> dict[str, Any]:
    text = resources.files("revlens.ingest").joinpath("channels.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@cache
def builtin_aliases() -> tuple[ChannelAlias, ...]:
    """Every alias of channels.yml, in file order (the canonical names included)."""
    out: list[ChannelAlias] = []
    for channel, entry in _read_builtin().items():
        out.append(ChannelAlias(channel, channel, "revlens"))
        for tool, words in (entry.get("aliases") or {}).items():
            out.extend(ChannelAlias(str(w), channel, str(tool)) for w in words)
    return tuple(out)


def channel_descriptions() -> dict[str, str]:
    return {c: str(e.get("description", "")) for c, e in _read_builtin().items()}


@cache
def builtin_vocabulary() -> ChannelVocabulary:
    """The shipped vocabulary; an alias naming two channels is a bug caught here (and by
    the tests)."""
    table: dict[str, str] = {}
    for a in builtin_aliases():
        key = alias_key(a.alias)
        if table.get(key, a.channel) != a.channel:
            raise AssertionError(f"alias {a.alias!r} names {table[key]} and {a.channel}")
        table[key] = a.channel
    return ChannelVocabulary(table)


def project_vocabulary(section: object, where: str) -> ChannelVocabulary:
    """The built-in vocabulary with a project file's `channels:` section applied; every
    problem in the section reported at once."""
    base = builtin_vocabulary()
    if section is None:
        return base
    if not isinstance(section, dict):
        raise RevlensError(
            "`channels:` must map a tool's word to a channel",
            where=f"{where}: channels",
            value=section,
            code="RL205",
            fix='e.g. channels: {"Web": organic_search, "Partner Portal": affiliates}',
        )
    problems = []
    entries: dict[str, str] = {}
    for alias, channel in section.items():
        if not isinstance(channel, str) or not _SNAKE_TARGET.fullmatch(channel):
            problems.append(
                f"{alias!r}: {channel!r} is not a channel name in snake_case "
                f"(e.g. {', '.join(CANONICAL_CHANNELS[:4])})"
            )
        elif not alias_key(str(alias)):
            problems.append(f"{alias!r}: an alias needs a letter or digit")
        else:
            entries[str(alias)] = channel
    if problems:
        raise RevlensError(
            "; ".join(problems),
            where=f"{where}: channels",
            code="RL205",
            fix='write each entry as `"Tool word": channel_name` (see docs/channels.md)',
        )
    return base.with_overrides(entries)
