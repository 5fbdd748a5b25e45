"""One exception family for everything a user can get wrong: a stable code, the place, the
bad value and the fix, so the CLI and API can print one clear message and never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RevlensError(Exception):
    """A failure the user can fix. `code` is stable and documented; `where` names the place."""

    code = "RL000"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        value: object = None,
        fix: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.value = value
        self.fix = fix
        if code:
            self.code = code

    def render(self) -> str:
        """The message as the CLI prints it: code, place, problem, value, fix."""
        parts = [f"error {self.code}"]
        if self.where:
            parts.append(f" in {self.where}")
        parts.append(f": {self.message}")
        if self.value is not None:
            parts.append(f" (value: {self.value!r})")
        text = "".join(parts)
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "where": self.where,
            "value": None if self.value is None else str(self.value),
            "fix": self.fix,
        }


def did_you_mean(name: str, choices: Iterable[str]) -> list[str]:
    """Close matches for a misspelt name, best first."""
    return difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)


class UnknownName(RevlensError):
    """A table, KPI, mapping or other named thing that does not exist."""

    code = "RL001"

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        options = sorted(choices)
        close = did_you_mean(name, options)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        fix = hint or f"use one of: {', '.join(options)}"
        super().__init__(f"unknown {kind} {name!r}", value=name, fix=fix)
        self.suggestions = close


class InputFileError(RevlensError):
    """A file that cannot be imported as a whole (unreadable, empty, missing columns...)."""

    code = "RL100"


class MappingError(RevlensError):
    """A mapping file that is not valid."""

    code = "RL200"


class ImportAborted(RevlensError):
    """`--on-error abort` met a bad row: nothing was loaded."""

    code = "RL300"

    result: object = None

    def with_result(self, result: object) -> ImportAborted:
        """Attach the would-be import result, so the caller can list the bad rows."""
        self.result = result
        return self


class WarehouseError(RevlensError):
    """The warehouse is missing, locked, or of a newer schema than this revlens."""

    code = "RL400"
