"""Typed keyword arguments of the write API: the "not given" marker, and a clear refusal of unknown names."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from core.errors import InvoiceDeskError


class Unset(enum.Enum):
    """A keyword the caller did not pass (None is a value: a party with no group)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def given(**values: object) -> dict[str, object]:
    """The keywords the caller passed, in the order given."""
    return {name: value for name, value in values.items() if value is not UNSET}


def refuse_unknown(what: str, unknown: Mapping[str, object]) -> None:
    """A keyword core does not know is refused in a manager's words, not with Python's TypeError.

    Typed `**unknown: Never`, so a type checker flags a misspelt keyword before it runs.
    """
    if unknown:
        raise InvoiceDeskError(f"Unknown {what}: {', '.join(sorted(unknown))}.")
