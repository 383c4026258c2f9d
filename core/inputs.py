"""Typed keyword arguments of the write API: the "not given" marker, and a clear refusal of unknown names."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping

from core.errors import InvoiceDeskError


class Unset(enum.Enum):
    """A keyword the caller did not pass (None is a value: a party with no group)."""

    UNSET = "unset"


UNSET = Unset.UNSET


# The largest id or number a database column holds (BIGINT); anything longer is not one of ours.
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")


def parse_id(value: object) -> int | None:
    """An id or a number from a URL, a search box or a caller: ASCII digits within BIGINT, else None.

    "²".isdigit() is true and int("٣") is 3; neither is an id here, nor True, nor 99999999999999999999.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        number = int(value.strip())
        return number if 0 < number <= MAX_ID else None
    return None


# A search is a few words or part of a number; longer text is a paste gone wrong (SQLite's LIKE gives up at 50,000).
MAX_SEARCH = 200


def search_text(value: object, label: str = "The search") -> str:
    """What a search box or filter searches for: text without NUL characters, at most MAX_SEARCH characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvoiceDeskError(f"{label} must be text, not {type(value).__name__}.")
    text = value.replace("\x00", "").strip()
    if len(text) > MAX_SEARCH:
        raise InvoiceDeskError(f"{label} is {len(text):,} characters; search with at most {MAX_SEARCH}.")
    return text


# One rule for an e-mail address, for the party form, the import and (later) the mailer: no spaces, one @, a dot after.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_email(text: str) -> bool:
    return bool(_EMAIL.fullmatch(text))


def email_addresses(text: str) -> list[str]:
    """The addresses in a list as typed: separated by commas, semicolons or spaces; each once, in order."""
    return list(dict.fromkeys(part for part in re.split(r"[,;\s]+", text) if part))


def given(**values: object) -> dict[str, object]:
    """The keywords the caller passed, in the order given."""
    return {name: value for name, value in values.items() if value is not UNSET}


def refuse_unknown(what: str, unknown: Mapping[str, object]) -> None:
    """A keyword core does not know is refused in a manager's words, not with Python's TypeError.

    Typed `**unknown: Never`, so a type checker flags a misspelt keyword before it runs.
    """
    if unknown:
        raise InvoiceDeskError(f"Unknown {what}: {', '.join(sorted(unknown))}.")
